"""Start-up under `--seeds` (issue 28.4) for Isaac Lab, on the simulator: the run's start-up split is its first
(cold) pass's, what the user paid, not the last (warm) pass's; the later passes' stages are the warm figures, each
from its own pass's files; every report format names the pass a figure is from."""

from __future__ import annotations

import csv
import io
import json

from lambdabench.metrics.kpi import read_benchmark_artifacts, read_isaaclab_bundle
from lambdabench.simulate import SimProcess, needs_sshd
from tests.e2e.ledger_figures import run_figures

pytestmark = needs_sshd

SMALL = ("--set", "num_envs=16", "--seeds", "2", "--max-run-minutes", "1500", "--format", "json")


def test_isaac_sim_container_start_up_is_the_first_pass(simproc: SimProcess) -> None:
    out = simproc.cli(
        "sweep", "--gpus", "a10", "--playbook", "isaaclab-train", "--set", "isaaclab_version=2",
        "--set", "max_iterations=2", *SMALL, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    metrics, seeds, _, record = run_figures(simproc)
    # the stand-in's Kit log: a cold shader cache waits 120 s, the second start in the same container none
    assert seeds["shader_compile_s"] == [(42.0, 120.0), (43.0, 0.0)]
    assert metrics["shader_compile_s"] == 120.0 and record["startup_s"]["shader_compile"] == 120.0
    assert metrics["install_s"] == seeds["install_s"][0][1] == record["startup_s"]["install"]
    assert record["startup_s"]["to_first_iteration"] == seeds["startup_s"][0][1] == metrics["startup_s"]
    assert any(n.startswith("start-up: the first pass's (seed 42, cold)") for n in record["notes"])
    rep = json.loads(out.stdout)
    shader = next(r for r in rep["startup"] if r["stage"] == "shader_compile_s")
    assert (shader["cold_s"], shader["warm_s"]) == (120.0, 0.0)
    assert (shader["cold_from"], shader["warm_from"]) == ("pass 1, seed 42", "pass 2, seed 43")
    container = next(r for r in rep["startup"] if r["stage"] == "container_start_s")
    assert container["cold_from"] == "pass 1, seed 42" and container["warm_s"] is None
    for fmt in ("table", "md", "html"):
        text = simproc.cli("report", "--format", fmt).stdout
        assert "shader compile: cold 2m00s ($0.0430; pass 1, seed 42), warm 0.0s ($0.00; pass 2, seed 43)" in text
    rows = list(csv.DictReader(io.StringIO(simproc.cli("report", "--format", "csv").stdout)))
    assert [(r["shader_compile_cold_from"], r["shader_compile_warm_from"]) for r in rows] == [
        ("pass 1, seed 42", "pass 2, seed 43")
    ]
    assert simproc.live() == []


def test_kitless_isaaclab3_start_up_is_the_first_pass(simproc: SimProcess) -> None:
    out = simproc.cli(
        "sweep", "--gpus", "h100", "--playbook", "isaaclab3-train", "--set", "max_iterations=3",
        "--set", "benchmark=isaaclab", *SMALL, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    metrics, seeds, run_dir, record = run_figures(simproc)
    # Warp's kernel cache: empty before pass 1, filled by it (the stand-in leaves a wp_* module folder)
    assert metrics["warp_cache_cold"] == 1.0 and seeds["warp_cache_cold"] == [(42.0, 1.0), (43.0, 0.0)]
    assert any("cold at the start" in n for n in record["notes"]) and not any(
        "warm at the start" in n for n in record["notes"]
    )
    # the cold install is isaaclab3-setup's "install isaaclab", before pass 1; pass 2 installs nothing
    assert seeds["install_s"] == [(42.0, metrics["install_s"])] and record["startup_s"]["install"] > 0
    assert record["startup_s"]["to_first_iteration"] == seeds["startup_s"][0][1] == metrics["startup_s"]
    # Isaac Lab's own StartupTime phases: pass 1's bundle (its pulled files), not pass 2's
    first = read_isaaclab_bundle(run_dir / "seeds" / "seed-42" / "artifacts")
    assert first is not None
    phases = {k: v for k, v, _ in first.metrics() if k.startswith("isaaclab_startup_")}
    assert phases and all(metrics[k] == v for k, v in phases.items()), (phases, metrics)
    assert record["isaaclab_benchmark"]["startup_s"] == first.record_section()["startup_s"]
    # the record's Isaac Lab section is that one bundle's throughout, beside pass 1's own wall-clock figure
    assert record["isaaclab_benchmark"]["file"] == first.file
    assert record["isaaclab_benchmark"]["env_steps_per_s"] == seeds["isaaclab_env_steps_per_s"][0][1]
    assert record["isaaclab_benchmark"]["lambdabench_env_steps_per_s"] == seeds["env_steps_per_s"][0][1]
    assert [n for n in record["notes"] if first.file in n], record["notes"]
    rep = json.loads(out.stdout)
    (figure,) = rep["isaaclab_benchmark"]
    assert figure["isaaclab_startup_from"] == "pass 1, seed 42"
    assert figure["isaaclab_startup_s"]["env creation"] == phases["isaaclab_startup_env_creation_s"]
    install = next(r for r in rep["startup"] if r["stage"] == "install_s")
    assert install["cold_s"] == metrics["install_s"] and install["cold_from"] == "pass 1, seed 42"
    compile_note = next(r for r in rep["startup"] if r["stage"] == "compile_s")["note"]
    assert "the kernel cache was cold at the start of pass 1, seed 42)" in compile_note, compile_note
    assert "in pass 2, seed 43, the kernel cache warm" in compile_note, compile_note
    for fmt in ("table", "md", "html"):
        text = simproc.cli("report", "--format", fmt).stdout
        assert (
            "Isaac Lab start-up (pass 1, seed 42, cold): " in text
            and "kernel cache was cold at the start of pass 1" in text
        ), fmt
    assert simproc.live() == []


def test_isaac_labs_benchmark_scripts_start_up_is_the_first_pass(simproc: SimProcess) -> None:
    """isaaclab-benchmark (2.x container): each pass overwrites its KPI file; the run's start-up phases are pass 1's."""
    out = simproc.cli(
        "sweep", "--gpus", "a10", "--playbook", "isaaclab-benchmark", "--set", "num_frames=20", *SMALL, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    metrics, _, run_dir, _ = run_figures(simproc)
    first = read_benchmark_artifacts(run_dir / "seeds" / "seed-42" / "artifacts", bundles=False)
    assert first is not None and first.startup_s
    assert {k: metrics[f"startup_{k}"] for k in first.startup_s} == first.startup_s
    assert metrics["shader_compile_s"] == 120.0
    assert simproc.live() == []
