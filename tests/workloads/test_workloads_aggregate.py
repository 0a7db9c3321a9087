"""Cross-rank aggregation: pure Python, on synthetic ranks and on the real 2x H100 run's files."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from lambdabench.metrics.record import validate_record
from lambdabench.metrics.telemetry import load_telemetry, parse_nvidia_smi_csv, summarize
from lambdabench.workloads import aggregate
from lambdabench.workloads.aggregate import AggregationError

DATA = Path(__file__).parent / "data"


def _rank_result(rank: int, world: int, rates: list[float], *, n: int = 64, start: float = 1000.0):
    reps = [{"env_steps": 1000, "seconds": 1000 / r, "env_steps_per_s": r} for r in rates]
    return {
        "status": "ok",
        "dist": {"rank": rank, "world_size": world, "device_id": f"GPU-{rank}"},
        "runs": [
            {
                "num_envs": n,
                "reps": reps,
                "compile_s": 1.0 + rank,
                "env_steps_per_s": aggregate.rep_stats(rates),
                "window_start_unix": start + rank * 0.01,
                "window_end_unix": start + sum(1000 / r for r in rates),
            }
        ],
    }


def test_rep_stats_mean_population_std_and_peak() -> None:
    stats = aggregate.rep_stats([2.0, 4.0, 6.0])
    assert stats == {"mean": 4.0, "std": pytest.approx((8 / 3) ** 0.5), "peak": 6.0, "samples": 3}
    assert aggregate.rep_stats([float("nan")])["samples"] == 0


def test_total_is_the_sum_of_each_ranks_own_rate_not_rank0_times_world() -> None:
    total = aggregate.sum_rank_rates({0: 100.0, 1: 300.0}, 2)
    assert total == 400.0
    assert total != 100.0 * 2


def test_a_missing_rank_is_named() -> None:
    with pytest.raises(AggregationError, match=r"rank\(s\) \[2\]"):
        aggregate.sum_rank_rates({0: 1.0, 1: 1.0, 3: 1.0}, 4)


def test_two_ranks_on_one_gpu_are_refused() -> None:
    with pytest.raises(AggregationError, match="ranks 0 and 2 ran on the same device GPU-a"):
        aggregate.check_distinct_devices({0: "GPU-a", 1: "GPU-b", 2: "GPU-a", 3: None})
    aggregate.check_distinct_devices({0: None, 1: None})  # CPU ranks have no device to share


def test_aggregate_sums_rep_by_rep_and_checks_against_the_window() -> None:
    results = [_rank_result(0, 2, [100.0, 200.0]), _rank_result(1, 2, [300.0, 400.0])]
    agg = aggregate.aggregate_ranks(list(reversed(results)))  # order of arrival does not matter
    (run,) = agg["runs"]
    assert run["total_per_rep"] == [400.0, 600.0]
    assert run["env_steps_per_s"]["mean"] == 500.0
    assert run["env_steps_per_s"]["peak"] == 600.0
    assert run["num_envs_total"] == 128
    assert [p["env_steps_per_s"]["mean"] for p in run["per_rank"]] == [150.0, 350.0]
    # 4000 steps over the union of both windows (rank 0's is the longer: 15 s)
    assert run["window_env_steps_per_s"] == pytest.approx(4000 / 15.0)
    assert run["compile_s_max"] == 2.0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rs: rs.pop(), r"no result from rank\(s\) \[1\]"),
        (lambda rs: rs[1]["runs"][0].update(num_envs=32), "rank 1 ran N=.32."),
        (lambda rs: rs[1]["runs"][0]["reps"].pop(), "different numbers of repetitions"),
        (lambda rs: rs[1].update(status="failed"), "rank 1 finished with status 'failed'"),
        (lambda rs: rs[1]["dist"].update(rank=0), "two results claim rank 0"),
        (lambda rs: rs[1]["dist"].update(device_id="GPU-0"), "same device GPU-0"),
    ],
)
def test_aggregate_refuses_results_that_do_not_fit(mutate: Any, message: str) -> None:
    results = [_rank_result(0, 2, [100.0, 200.0]), _rank_result(1, 2, [300.0, 400.0])]
    mutate(results)
    with pytest.raises(AggregationError, match=message):
        aggregate.aggregate_ranks(results)


def test_local_stamps_share_the_telemetry_modules_clock() -> None:
    now = time.time()
    stamp = aggregate.local_stamp(now)
    row = f"{stamp}, 0, NVIDIA H100 80GB HBM3, 97 %, 1000 MiB, 81559 MiB, 400.00 W, 1980 MHz, 50"
    (sample,) = parse_nvidia_smi_csv(row).samples
    assert sample.time_s == pytest.approx(aggregate.telemetry_seconds(stamp), abs=1e-6)
    window = aggregate.telemetry_window(
        {"window_start_local": stamp, "window_end_local": aggregate.local_stamp(now + 2)}
    )
    assert window is not None
    assert window[1] - window[0] == pytest.approx(2.0, abs=1e-5)
    assert aggregate.telemetry_window({}) is None


# ------------------------------------------------ the real run on 2x H100 (bench/device/RESULTS.md)


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def test_real_two_gpu_total_is_the_sum_of_the_ranks_and_matches_the_window() -> None:
    multi = _load("h100x2-mjx-multi.json")
    assert multi["dist"]["world_size"] == 2
    ranks = multi["ranks"]
    assert {r["pinned_gpu"] for r in ranks} == {"0", "1"}
    for r in ranks:  # nvidia-smi saw each process on the GPU it pinned
        assert r["device_seen_by_nvidia_smi"] == r["device_id"]
    assert ranks[0]["device_id"] != ranks[1]["device_id"]
    for run in multi["aggregate"]["runs"]:
        per_rank = [p["env_steps_per_s"]["mean"] for p in run["per_rank"]]
        assert run["env_steps_per_s"]["mean"] == pytest.approx(sum(per_rank), rel=1e-9)
        # the independent check (all steps over the union of the windows) agrees within 2%
        assert run["window_env_steps_per_s"] == pytest.approx(sum(per_rank), rel=0.02)
        assert max(per_rank) < 1.05 * min(per_rank)  # two identical GPUs: similar rates


def test_real_results_map_onto_a_valid_run_record() -> None:
    single, multi = _load("h100-mjx-single.json"), _load("h100x2-mjx-multi.json")
    one = aggregate.to_run_record(single, num_envs=16384)
    validate_record(one)
    assert one["run"]["num_envs"] == 16384
    assert one["hardware"]["gpu_model"] == "NVIDIA H100 80GB HBM3"
    assert one["versions"]["driver"] and one["versions"]["cuda"]
    assert "mujoco_mjx 3.17.0" in one["versions"]["library"]
    assert one["startup_s"]["compile"] > 1.0
    two = aggregate.to_run_record(multi)
    validate_record(two)
    largest = max(multi["aggregate"]["runs"], key=lambda r: r["num_envs"])
    assert two["run"]["num_envs"] == 2 * largest["num_envs"]
    assert two["throughput"]["mean"] == largest["env_steps_per_s"]["mean"]
    assert two["simulated"] is False
    with pytest.raises(AggregationError, match="no run with N=3"):
        aggregate.to_run_record(single, num_envs=3)


def test_real_telemetry_shows_one_busy_gpu_then_two() -> None:
    telemetry = load_telemetry(DATA / "h100x2-telemetry.csv")
    single, multi = _load("h100-mjx-single.json"), _load("h100x2-mjx-multi.json")
    for run in single["runs"]:
        window = aggregate.telemetry_window(run)
        assert window is not None
        gpus = {g.index: g for g in summarize(telemetry, start_s=window[0], end_s=window[1]).per_gpu}
        assert (gpus[0].mean_utilization_pct or 0) > 80
        assert (gpus[1].mean_utilization_pct or 0) == 0  # the single run stayed on GPU 0
    for run in multi["aggregate"]["runs"]:
        window = aggregate.telemetry_window(run)
        assert window is not None
        summary = summarize(telemetry, start_s=window[0], end_s=window[1])
        assert summary.gpu_count == 2
        assert all((g.mean_utilization_pct or 0) > 80 for g in summary.per_gpu)
        assert summary.energy_wh > 0
