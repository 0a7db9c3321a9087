"""Cold vs warm (issue 28.4): start-up split into stages for every run, warm reruns on the same instance
(--seeds passes 2…N), both priced at the run's $/h; in every report format."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger, MetricKey
from lambdabench.report import build_report, render
from tests.report import ledgers as L


def test_cold_and_warm_stages_priced(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("startup", plan={"type_order": [L.A10.name, L.H100.name]})
    a10, _ = L.add_run(led, sweep, L.A10, start=L.T0, bench_s=600, name="lb-a10")
    # made-up figures (by design): a first pass that installs and compiles, two warm passes after it
    led.record_series(a10, "seed:install_s", [(None, 0.0, 90.0), (None, 1.0, 2.0), (None, 2.0, 4.0)], source="seeds")
    led.record_series(a10, "seed:compile_s", [(None, 0.0, 50.0), (None, 1.0, 10.0), (None, 2.0, 12.0)], source="seeds")
    led.record_metric(a10, "compile_s", 12.0, source="mjx")  # the last pass's, as ingest leaves it
    led.record_metric(a10, MetricKey.CONTAINER_START_S, 300.0, source="steps")
    h100, _ = L.add_run(led, sweep, L.H100, start=L.T0 + 5, bench_s=600, name="lb-h100")
    led.record_metric(h100, "compile_s", 40.0, source="mjx")
    led.record_metric(h100, "first_step_s", 0.5, source="mjx")
    rep = build_report(led, now=L.T0 + 86_400)
    rows = {(r.group, r.stage): r for r in rep.startup}
    a10_price = L.A10.cents_per_hour / 100 / 3600
    compile_a10 = rows[(L.A10.name, "compile_s")]
    assert compile_a10.cold_s == 50.0 and compile_a10.warm_s == pytest.approx(11.0)
    assert compile_a10.cold_usd == pytest.approx(50.0 * a10_price) and compile_a10.warm_usd == pytest.approx(
        11 * a10_price
    )
    assert rows[(L.A10.name, "install_s")].cold_s == 90.0 and rows[(L.A10.name, "install_s")].warm_s == 3.0
    assert rows[(L.A10.name, "container_start_s")].warm_s is None  # no warm figure without passes
    # which passes: the seeds are the series' x; a stage without a series is the run's, i.e. its first pass's
    assert (compile_a10.cold_from, compile_a10.warm_from) == ("pass 1, seed 0", "passes 2-3, seeds 1, 2")
    assert rows[(L.A10.name, "container_start_s")].cold_from == "pass 1, seed 0"
    h = rows[(L.H100.name, "compile_s")]
    assert h.cold_s == 40.0 and h.warm_s is None and h.cold_usd == pytest.approx(40 * L.H100.cents_per_hour / 360000)
    assert (h.cold_from, h.warm_from) == ("the run's only pass", "")
    assert [r.stage for r in rep.startup if r.group == L.A10.name] == ["container_start_s", "install_s", "compile_s"]
    for fmt in ("table", "md", "html"):
        text = render(rep, fmt)
        assert "Start-up: cold and warm" in text and "JIT / compile: cold 50.0s" in text and "warm 11.0s" in text, fmt
        assert "; pass 1, seed 0), warm 11.0s (" in text and "; passes 2-3, seeds 1, 2)" in text, fmt
    doc = json.loads(render(rep, "json"))
    assert {r["stage"] for r in doc["startup"]} >= {"compile_s", "first_step_s", "install_s"}


def test_shader_compile_cold_warm_unknown_and_not_applicable_in_every_format(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("shaders", plan={"type_order": [L.A10.name, L.H100.name, L.A100.name]})
    a10, _ = L.add_run(led, sweep, L.A10, start=L.T0, bench_s=600, name="lb-a10")
    # made-up figures (by design): Kit's RtPso wait on the first pass, none on the warm rerun
    led.record_series(a10, "seed:shader_compile_s", [(None, 0.0, 120.0), (None, 1.0, 0.0)], source="seeds")
    led.record_metric(a10, "shader_compile_s", 0.0, source="kit-log")
    h100, _ = L.add_run(led, sweep, L.H100, start=L.T0 + 5, bench_s=600, name="lb-h100")
    led.record_metric(h100, "shader_compile_unknown", 2.0, source="kit-log")
    a100, _ = L.add_run(led, sweep, L.A100, start=L.T0 + 9, bench_s=600, name="lb-a100", workload="isaaclab3-train")
    led.record_metric(a100, "shader_compile_not_applicable", 1.0, source="kitless")
    led.record_metric(a100, "warp_cache_cold", 1.0, source="facts")
    led.record_metric(a100, "startup_s", 107.0, source="steps+tensorboard")
    rep = build_report(led, now=L.T0 + 86_400)
    rows = {(r.group, r.stage): r for r in rep.startup}
    a10_row = rows[(L.A10.name, "shader_compile_s")]
    assert (a10_row.cold_s, a10_row.warm_s, a10_row.note) == (120.0, 0.0, "")
    assert rows[(L.H100.name, "shader_compile_s")].note.startswith("unknown: the Kit log has no info lines")
    assert rows[(L.H100.name, "shader_compile_s")].cold_s is None
    assert rows[(L.A100.name, "shader_compile_s")].note.startswith("does not apply: kitless")
    assert "inside the start-up to the first iteration (107s; the kernel cache was cold" in (
        rows[(L.A100.name, "compile_s")].note
    )
    for fmt in ("table", "md", "html"):
        text = render(rep, fmt)
        assert "shader compile: cold 2m00s" in text and "warm 0.0s" in text, fmt
        assert "shader compile: unknown: the Kit log has no info lines" in text, fmt
        assert "shader compile: does not apply: kitless" in text, fmt
    doc = json.loads(render(rep, "json"))
    shader = {r["group"]: r for r in doc["startup"] if r["stage"] == "shader_compile_s"}
    assert shader[L.A10.name]["cold_s"] == 120.0 and shader[L.A10.name]["warm_s"] == 0.0
    assert shader[L.H100.name]["cold_s"] is None and "unknown" in shader[L.H100.name]["note"]
    csv_rows = {r["instance_type"]: r for r in csv.DictReader(io.StringIO(render(rep, "csv")))}
    assert csv_rows[L.A10.name]["shader_compile_cold_s"] == "120.0"
    assert csv_rows[L.A10.name]["shader_compile_warm_s"] == "0.0"
    assert csv_rows[L.H100.name]["shader_compile_cold_s"] == ""
    assert csv_rows[L.H100.name]["shader_compile_note"].startswith("unknown")


def test_isaaclab_console_stages_and_an_unknown_first_step_in_every_format(hermetic_env: Path) -> None:
    """Isaac Lab's scene creation and simulation start, and a training's first iteration, cold and warm (issue 28.4);
    a library whose console gives no iteration time reads unknown with the reason, never 0."""
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("console", plan={"type_order": [L.H100.name, L.A10.name]})
    h100, _ = L.add_run(led, sweep, L.H100, start=L.T0, bench_s=600, name="lb-h100")
    # the real H100 figures at 1,048,576 envs as pass 1 (tests/workloads/data/h100-il3-max-envs), a made-up warm pass
    for key, cold, warm in (
        ("scene_creation_s", 131.8, 130.0),
        ("simulation_start_s", 64.8, 31.8),
        ("first_step_s", 5.81, 0.9),
    ):
        led.record_series(h100, f"seed:{key}", [(None, 42.0, cold), (None, 43.0, warm)], source="seeds")
        led.record_metric(h100, key, cold, unit="s", source="console")
    a10, _ = L.add_run(led, sweep, L.A10, start=L.T0 + 5, bench_s=600, name="lb-a10")
    led.record_metric(a10, "scene_creation_s", 3.0, unit="s", source="console")
    led.record_metric(a10, "first_step_unknown", 3.0, source="console")
    rep = build_report(led, now=L.T0 + 86_400)
    rows = {(r.group, r.stage): r for r in rep.startup}
    first = rows[(L.H100.name, "first_step_s")]
    assert (first.cold_s, first.warm_s, first.cold_from, first.warm_from) == (
        5.81,
        0.9,
        "pass 1, seed 42",
        "pass 2, seed 43",
    )
    assert [r.stage for r in rep.startup if r.group == L.H100.name] == [
        "scene_creation_s",
        "simulation_start_s",
        "first_step_s",
    ]
    unknown = rows[(L.A10.name, "first_step_s")]
    assert unknown.cold_s is None and unknown.note.startswith("unknown: the RL library logs no time of one iteration")
    for fmt in ("table", "md", "html"):
        text = html.unescape(render(rep, fmt))
        assert (
            "simulation start (Isaac Lab's timer: the physics started; kitless, Warp's kernel compile when its " in text
        )
        assert "first step (MJX: the first compiled call; a training: its first iteration): cold 5.8s" in text, fmt
        assert "first iteration): unknown: the RL library logs no time of one iteration" in text, fmt
    doc = json.loads(render(rep, "json"))
    assert {(r["group"], r["stage"]): r["cold_s"] for r in doc["startup"]}[(L.H100.name, "simulation_start_s")] == 64.8
    out = {r["instance_type"]: r for r in csv.DictReader(io.StringIO(render(rep, "csv")))}
    assert (out[L.H100.name]["first_step_cold_s"], out[L.H100.name]["first_step_warm_from"]) == (
        "5.81",
        "pass 2, seed 43",
    )
    assert out[L.A10.name]["first_step_cold_s"] == "" and out[L.A10.name]["first_step_note"].startswith("unknown: ")
    assert out[L.A10.name]["scene_creation_cold_s"] == "3.0" and out[L.H100.name]["simulation_start_warm_s"] == "31.8"
