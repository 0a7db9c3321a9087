"""The shader-compile stage of start-up (issue 28.4) from Isaac Sim's own Kit log, on the simulator: a 2.x training
with --seeds 2 runs twice in one container; the first start compiles (Kit's RtPso wait lines, at info level through
--kit_args), the second finds the shader cache in the isaac-cache-kit volume; collect pulls only each pass's log."""

from __future__ import annotations

import json

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = needs_sshd

FORK = (
    "sweep",
    "--gpus",
    "a10",
    "--playbook",
    "isaaclab-train",
    "--set",
    "max_iterations=2",
    "--set",
    "num_envs=16",
    "--max-run-minutes",
    "1500",
)
TRAIN = (*FORK, "--set", "isaaclab_version=2")


def test_a_cold_start_compiles_shaders_and_the_warm_rerun_does_not(simproc: SimProcess) -> None:
    out = simproc.cli(*TRAIN, "--seeds", "2", timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    with Ledger(simproc.home) as ledger:
        [run] = ledger.runs()
        seeds = {s.name: [p[2] for p in s.points] for s in ledger.series(run_id=run.id)}
    assert seeds["seed:shader_compile_s"] == [120.0, 0.0]  # the stand-in's cold wait; then none (cache warm)
    run_dir = next((simproc.home / "runs").glob(f"sweep-*/run-{run.id}-*"))
    passes = sorted((run_dir / "seeds").iterdir())
    assert len(passes) == 2, passes
    for folder in passes:
        [kit] = folder.glob("artifacts/**/kit")
        newest = sorted(kit.iterdir())[-1]
        assert len(list(newest.glob("kit_*.log"))) == 1, newest  # this pass's collect gathered only its own log
    rep = simproc.cli("report", "--format", "json")
    assert rep.returncode == 0, rep.stderr
    shader = [r for r in json.loads(rep.stdout)["startup"] if r["stage"] == "shader_compile_s"]
    assert [(r["cold_s"], r["warm_s"]) for r in shader] == [(120.0, 0.0)], shader
    table = simproc.cli("report")
    assert "shader compile: cold 2m00s" in table.stdout, table.stdout
    assert simproc.live() == []


def test_the_fork_cannot_raise_kits_log_level_so_the_stage_is_unknown(simproc: SimProcess) -> None:
    out = simproc.cli(*FORK, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    table = simproc.cli("report")
    assert "shader compile: unknown: the Kit log has no info lines" in table.stdout, table.stdout
