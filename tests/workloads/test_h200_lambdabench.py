"""The real H200 run through lambdabench's own CLI, kept as data: what those files say, and what ingest reads.

Source: bench/device/run_lambdabench_h200.sh on the device machine (one NVIDIA H200, driver 580.159.04,
CUDA 13.0, 16 vCPU), 2026-12-02 01:16-01:20 UTC: `sweep --local` (h200-lambdabench-local/) and `sweep
--host root@127.0.0.1:2222,label=h200-ssh` through Debian 12's OpenSSH sshd (h200-lambdabench-ssh/),
playbook mjx-locomotion, envs 1,024…65,536, 5 reps of 1.5 s. Each folder holds the benchmark's own
mjx-result.json, the nvidia-smi telemetry.csv lambdabench sampled, and the result.json lambdabench wrote
(commit ab5fd68, the first with the timed-window figures). The report beside them is `lambdabench report
1 2 --format md` of that run. An earlier run the same day (before ab5fd68) had left the record's
wh_per_million_steps, vCPUs and RAM empty, and read the GPU as 44% busy over the whole run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdabench.metrics.record import validate_record
from lambdabench.metrics.telemetry import TimedWindow, in_windows, load_telemetry, summarize
from lambdabench.workloads.aggregate import telemetry_window

DATA = Path(__file__).parent / "data"
RUNS = ("h200-lambdabench-local", "h200-lambdabench-ssh")


def _load(run: str, name: str) -> Any:
    return json.loads((DATA / run / name).read_text())


def _windows(result: dict[str, Any]) -> list[TimedWindow]:
    out = []
    for run in result["runs"]:
        span = telemetry_window(run)
        assert span is not None
        out.append(TimedWindow(span[0], span[1], float(run["total_env_steps"]), float(run["num_envs"])))
    return out


@pytest.mark.parametrize("run", RUNS)
def test_the_real_records_are_records_not_error_stubs(run: str) -> None:
    record = _load(run, "result.json")
    assert "error" not in record
    validate_record(record)
    assert record["simulated"] is False
    assert record["hardware"]["gpu_model"] == "NVIDIA H200" and record["versions"]["driver"] == "580.159.04"
    assert record["run"]["status"] == "succeeded" and record["throughput"]["source"] == "mjx"
    assert record["throughput"]["mean"] > 5_000_000  # the largest N: 65,536 envs
    assert record["hardware"]["vcpus"] == 16 and record["hardware"]["ram_gib"] > 100
    # what lambdabench recorded on the machine is what the files it pulled say
    result, telemetry = _load(run, "mjx-result.json"), load_telemetry(DATA / run / "telemetry.csv")
    figures = in_windows(telemetry.samples, _windows(result))
    assert record["resources"]["wh_per_million_steps"] == pytest.approx(figures.wh_per_million_steps)
    assert record["resources"]["timed_utilization_pct"] == pytest.approx(figures.utilization_pct)


def test_local_transport_and_ssh_measure_the_same_machine_alike() -> None:
    local, ssh = (_load(r, "mjx-result.json") for r in RUNS)
    by_n = {r["num_envs"]: r["env_steps_per_s"]["mean"] for r in local["runs"]}
    for r in ssh["runs"]:
        assert r["env_steps_per_s"]["mean"] == pytest.approx(by_n[r["num_envs"]], rel=0.02)
    assert sorted(by_n) == [1024, 4096, 16384, 65536]
    rates = [by_n[n] for n in sorted(by_n)]
    assert rates == sorted(rates)  # more envs, more throughput, up to 65,536 on an H200


@pytest.mark.parametrize("run", RUNS)
def test_timed_windows_leave_compile_and_warm_up_out(run: str) -> None:
    """The whole run's telemetry holds JAX's compile (~9 s per N) and warm-up: half-idle GPU. Inside the
    timed windows the GPU is busy and energy per env-step is well below the whole-run quotient."""
    result = _load(run, "mjx-result.json")
    telemetry = load_telemetry(DATA / run / "telemetry.csv")
    whole = summarize(telemetry)
    figures = in_windows(telemetry.samples, _windows(result))
    steps = sum(r["total_env_steps"] for r in result["runs"])
    assert whole.mean_utilization_pct is not None and whole.mean_utilization_pct < 60
    assert figures.utilization_pct is not None and figures.utilization_pct > 90
    assert figures.wh_per_million_steps is not None
    whole_per_m = whole.energy_wh / steps * 1e6
    assert 0.4 * whole_per_m < figures.wh_per_million_steps < 0.75 * whole_per_m
    by_n = dict(figures.by_window)
    assert sorted(by_n) == [1024, 4096, 16384, 65536]
    assert by_n[1024] > 2 * by_n[65536]  # a small batch leaves the GPU's power floor spread over few steps


def test_a_window_without_power_readings_is_left_out_of_the_energy() -> None:
    run = RUNS[0]
    telemetry = load_telemetry(DATA / run / "telemetry.csv")
    windows = _windows(_load(run, "mjx-result.json"))
    first = windows[0]
    blind = [
        s if not (first.start_s <= s.time_s <= first.end_s) else type(s)(**{**s.__dict__, "power_w": None})
        for s in telemetry.samples
    ]
    figures = in_windows(blind, windows)
    assert [n for n, _ in figures.by_window] == [4096, 16384, 65536]
    assert figures.utilization_pct is not None  # utilisation was still read there
    assert in_windows(telemetry.samples, []).wh_per_million_steps is None


def test_a_window_shorter_than_the_sampling_interval_reads_its_neighbours() -> None:
    """A CPU run's timed window can be 0.2 s between two samples 0.5 s apart (seen in the e2e test)."""
    telemetry = load_telemetry(DATA / RUNS[0] / "telemetry.csv")
    a, b = telemetry.samples[100], telemetry.samples[101]
    middle = (a.time_s + b.time_s) / 2
    figures = in_windows(telemetry.samples, [TimedWindow(middle - 0.05, middle + 0.05, 1e5, 1.0)])
    assert figures.wh_per_million_steps == pytest.approx(
        ((a.power_w or 0) + (b.power_w or 0)) / 2 * 0.1 / 3600 / 1e5 * 1e6
    )
    assert figures.utilization_pct == pytest.approx(((a.utilization_pct or 0) + (b.utilization_pct or 0)) / 2)
