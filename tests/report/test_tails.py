"""Tails and memory (issue 28.3): step-time p50/p95/p99 after warm-up and steady-state GPU memory at each
num_envs, from the MJX result's own keys when present, else from its timed reps and the telemetry; in the
report (every format) and on the scaling chart."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger, MetricKey
from lambdabench.metrics.telemetry import load_telemetry
from lambdabench.report import build_report, render
from lambdabench.run.ingest import record_tails
from lambdabench.workloads.aggregate import telemetry_seconds
from tests.report import ledgers as L

H200 = Path(__file__).parent.parent / "workloads" / "data" / "h200-lambdabench-local"


def _h200_run(led: Ledger, doc: dict, notes: list[str]) -> int:
    sweep = led.create_sweep("h200", plan={"type_order": ["local"]})
    run, _ = L.add_run(led, sweep, L.Gpu("local", 0, 1.0, 1.0), start=L.T0, bench_s=60, name="lb-h200")
    led.record_metric(run, MetricKey.ENV_STEPS_PER_S, 1.0, source="mjx")
    samples = load_telemetry(H200 / "telemetry.csv").samples
    record_tails(led, run, doc["runs"], samples, notes)
    return run


def test_derived_from_the_real_h200_reps_and_telemetry(hermetic_env: Path) -> None:
    doc = json.loads((H200 / "mjx-result.json").read_text())
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    notes: list[str] = []
    run = _h200_run(led, doc, notes)
    series = {r.name: {p[1]: p[2] for p in r.points} for r in led.series(run_id=run)}
    samples = load_telemetry(H200 / "telemetry.csv").samples
    for r in doc["runs"]:
        n = float(r["num_envs"])
        per_step = sorted(rep["seconds"] / (r["calls_per_rep"] * r["steps_per_call"]) for rep in r["reps"])
        assert series["step_time_p50_s_by_num_envs"][n] == pytest.approx(per_step[2])  # 5 reps: the middle one
        assert per_step[3] <= series["step_time_p95_s_by_num_envs"][n] <= per_step[4]
        lo, hi = telemetry_seconds(r["window_start_local"]), telemetry_seconds(r["window_end_local"])
        inside = sorted(s.memory_used_mib for s in samples if lo <= s.time_s <= hi)
        assert series["gpu_mem_steady_mib_by_num_envs"][n] == pytest.approx(
            inside[(len(inside) - 1) // 2]
            if len(inside) % 2
            else (inside[len(inside) // 2 - 1] + inside[len(inside) // 2]) / 2
        )
    mem = series["gpu_mem_steady_mib_by_num_envs"]
    assert mem[65536.0] > mem[1024.0] > 0  # more envs hold more memory on the real H200
    assert any("timed repetitions" in n for n in notes) and any("memory.used" in n for n in notes)
    rep = build_report(led, now=L.T0 + 86_400)
    assert [t.num_envs for t in rep.tails] == [1024.0, 4096.0, 16384.0, 65536.0]
    for fmt in ("table", "md", "html"):
        assert "Tails and memory" in render(rep, fmt) and "step p50" in render(rep, fmt), fmt
    tails = json.loads(render(rep, "json"))["tails"]
    assert tails[-1]["gpu_mem_steady_mib"] == pytest.approx(mem[65536.0]) and tails[-1]["step_time_p99_s"] > 0


def test_the_benchmarks_own_keys_win(hermetic_env: Path) -> None:
    doc = copy.deepcopy(json.loads((H200 / "mjx-result.json").read_text()))
    for k, r in enumerate(doc["runs"]):
        r.update(
            step_time_p50_s=0.001 * (k + 1),
            step_time_p95_s=0.002 * (k + 1),
            step_time_p99_s=0.003 * (k + 1),
            gpu_mem_steady_mib=1000.0 * (k + 1),
        )
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    notes: list[str] = []
    run = _h200_run(led, doc, notes)
    series = {r.name: [p[2] for p in r.points] for r in led.series(run_id=run)}
    assert series["step_time_p95_s_by_num_envs"] == [0.002, 0.004, 0.006, 0.008]
    assert series["gpu_mem_steady_mib_by_num_envs"] == [1000.0, 2000.0, 3000.0, 4000.0]
    assert notes == []  # nothing derived


def test_the_scaling_chart_is_annotated_with_memory(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("scaling", plan={"type_order": [L.A10.name]})
    run, _ = L.add_run(led, sweep, L.A10, start=L.T0, bench_s=60, name="lb-a10")
    rates = [(None, 256.0, 3e4), (None, 1024.0, 1e5), (None, 4096.0, 3e5)]
    led.record_series(run, "env_steps_per_s_by_num_envs", rates, source="mjx")
    mib = [(None, 256.0, 14.0), (None, 1024.0, 2048.0), (None, 4096.0, 6144.0)]
    led.record_series(run, "gpu_mem_steady_mib_by_num_envs", mib, source="mjx")
    html = render(build_report(led, now=L.T0 + 86_400), "html")
    assert "2.0 GiB" in html and "6.0 GiB" in html and "GPU memory after warm-up" in html
    assert ">14 MiB<" in html and "0.0 GiB" not in html  # a small N's memory labelled in MiB, not as zero


def test_the_real_h100s_small_memory_reads_in_mib_not_as_zero(hermetic_env: Path) -> None:
    """The real H100's steady memory (tests/workloads/data/h100-mjx-cache) is 14 MiB at 1,024 envs: in GiB to
    two decimals it read 0.01, and on the chart (one decimal) 0.0, as if nothing were held."""
    doc = json.loads(
        (Path(__file__).parents[1] / "workloads" / "data" / "h100-mjx-cache" / "cold-mjx-result.json").read_text()
    )
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    run = _h200_run(led, doc, [])
    mem = {p[1]: p[2] for s in led.series(run_id=run, name="gpu_mem_steady_mib_by_num_envs") for p in s.points}
    assert round(mem[1024.0]) == 14 and round(mem[65536.0]) == 1016
    rep = build_report(led, now=L.T0 + 86_400)
    for fmt in ("table", "md", "html"):
        text = render(rep, fmt)
        assert "GPU memory 14 MiB" in text and "GPU memory 1,016 MiB" in text, fmt
        assert "0.0 GiB" not in text and "0.01 GiB" not in text, fmt
