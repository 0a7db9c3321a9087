"""Issue 18: `sweep --gpus a100,h100 --playbook isaaclab3-train` plans without an RT-core refusal and runs
end to end on the simulator (real sshd hosts), Isaac Lab 3's outputs read into the report."""

from __future__ import annotations

import json

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = needs_sshd


def test_isaaclab3_sweep_on_a100_and_h100(simproc: SimProcess) -> None:
    out = simproc.cli(
        "sweep",
        "--gpus",
        "a100,h100",
        "--playbook",
        "isaaclab3-train",
        "--set",
        "num_envs=16",
        "--set",
        "max_iterations=4",
        "--max-run-minutes",
        "1500",
        "--format",
        "json",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "RT cores" not in out.stderr
    report = json.loads(out.stdout)
    assert "simulated" in json.dumps(report).lower()
    ledger = Ledger(simproc.home)
    runs = ledger.runs()
    assert len(runs) == 2 and all(r.status == "succeeded" for r in runs)
    for run in runs:
        metrics = {m.key: m for m in ledger.metrics(run_id=run.id)}
        # rsl-rl-lib 5.5.1's Perf/total_fps from the pulled event file: env-steps/s is a number, not "—"
        assert metrics["env_steps_per_s"].value > 0 and metrics["env_steps_per_s"].source == "tensorboard"
        assert metrics["env_steps"].value == 4 * 16 * 16  # iterations × num_steps_per_env × num_envs
        arts = [a.path for a in ledger.artifacts(run.id) if a.verified]
        assert any(p.endswith("/run.json") and "rsl_rl/cartpole_direct/" in p for p in arts), arts
        assert any(p.endswith("/model_3.pt") for p in arts) and any("events.out.tfevents" in p for p in arts)
        steps = [s.name for s in ledger.steps(run.id)]
        assert "isaaclab3-setup: install isaaclab" in steps and "isaaclab3-train: train" in steps
        run_dir = next((simproc.home / "runs").glob(f"sweep-{run.sweep_id}/run-{run.id}-*"))
        record = json.loads((run_dir / "result.json").read_text())
        assert record["simulated"] is True and "error" not in record
        assert record["throughput"]["mean"] > 0 and record["throughput"]["source"] == "tensorboard"
        # the environment lock isaaclab3-collect took with the venv's python (issue 28.1)
        assert record["environment_lock"]["software"]["packages"] and metrics["env_lock_id"].source == "env-lock"
    table = simproc.cli("report")
    assert table.returncode == 0, table.stderr
    rate = next(line for line in table.stdout.splitlines() if line.startswith("env-steps/s")).split()[1:]
    assert len(rate) == 2 and all(cell.replace(",", "").isdigit() for cell in rate), table.stdout
    assert any(
        line.startswith("simulated") and line.split()[1:] == ["yes", "yes"] for line in table.stdout.splitlines()
    )
    # kitless: no Isaac Sim, so no shader compile; Warp's kernel compile is inside the start-up, said so
    assert "shader compile: does not apply: kitless Isaac Lab 3" in table.stdout, table.stdout
    assert "JIT / compile: not separated: Warp compiles its kernels inside the start-up" in table.stdout
    assert simproc.live() == []


def test_video_with_isaaclab3_is_refused_before_anything_runs(simproc: SimProcess) -> None:
    out = simproc.cli("sweep", "--gpus", "h100", "--playbook", "isaaclab3-train", "--set", "video=true")
    assert out.returncode == 2
    assert "RT cores" in out.stderr and out.stderr.count("\n") == 1
    assert [r for r in simproc.api("/_sim/requests") if r["path"].endswith("/launch")] == []


def test_isaaclab3_on_8xh100_trains_through_train_multigpu(simproc: SimProcess) -> None:
    out = simproc.cli(
        "sweep",
        "--gpus",
        "8xh100",
        "--playbook",
        "isaaclab3-train",
        "--set",
        "num_envs=16",
        "--set",
        "max_iterations=3",
        "--max-run-minutes",
        "1500",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    ledger = Ledger(simproc.home)
    run = ledger.runs()[-1]
    steps = {s.name for s in ledger.steps(run.id)}
    assert "isaaclab3-train: train (multi-GPU)" in steps and "isaaclab3-train: train" not in steps
    metrics = {m.key: m.value for m in ledger.metrics(run_id=run.id)}
    # rsl-rl-lib 5.5.1 counts every rank's envs (logger.py:176): 3 iterations × 16 steps × 16 envs × 8 GPUs
    assert metrics["env_steps"] == 3 * 16 * 16 * 8 and metrics["env_steps_per_s"] > 0
    arts = [a.path for a in ledger.artifacts(run.id) if a.verified]
    assert any("/rank_7/params/env.yaml" in p for p in arts) and not any("/rank_" in p and "events" in p for p in arts)
    run_dir = next((simproc.home / "runs").glob(f"sweep-{run.sweep_id}/run-{run.id}-*"))
    log = (run_dir / "logs" / "isaaclab3-train").glob("*train*multi*")
    text = "".join(p.read_text() for p in log)
    assert "[INFO] Launching distributed workers with:" in text and "--nproc_per_node 8 --local_ranks_filter 0" in text
    assert simproc.live() == []
