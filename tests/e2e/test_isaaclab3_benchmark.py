"""Issue 25: Isaac Lab's own benchmark as a switch of isaaclab3-train (`--set benchmark=isaaclab`), end to end on
the simulator: `isaaclab benchmark training` runs, its TrainingBundle is pulled and read, and the report shows
Isaac Lab's own figure beside lambdabench's wall-clock env-steps/s, each with its provenance."""

from __future__ import annotations

import json

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = needs_sshd


def test_benchmark_isaaclab_reports_both_figures_with_provenance(simproc: SimProcess) -> None:
    out = simproc.cli(
        "sweep",
        "--gpus",
        "h100",
        "--playbook",
        "isaaclab3-train",
        "--set",
        "benchmark=isaaclab",
        "--set",
        "num_envs=16",
        "--set",
        "max_iterations=4",
        "--max-run-minutes",
        "1500",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    ledger = Ledger(simproc.home)
    (run,) = ledger.runs()
    assert run.status == "succeeded"
    metrics = {m.key: m for m in ledger.metrics(run_id=run.id)}
    # lambdabench's figure stays its own wall clock from the events; Isaac Lab's sits beside it
    assert metrics["env_steps_per_s"].source == "tensorboard" and metrics["env_steps"].value == 4 * 16 * 16
    assert metrics["isaaclab_env_steps_per_s"].source == "isaaclab-bundle-1.4"
    assert metrics["isaaclab_env_steps_per_s"].value > 0 and metrics["isaaclab_startup_env_creation_s"].value > 0
    arts = [a.path for a in ledger.artifacts(run.id) if a.verified]
    assert any("/benchmark/benchmark_training_Isaac-Cartpole-Direct_" in p for p in arts), arts
    run_dir = next((simproc.home / "runs").glob(f"sweep-{run.sweep_id}/run-{run.id}-*"))
    record = json.loads((run_dir / "result.json").read_text())
    assert "error" not in record and record["throughput"]["source"] == "tensorboard"
    bench = record["isaaclab_benchmark"]
    assert bench["provenance"] == "Isaac Lab benchmark total_fps, schema 1.4" and bench["iterations"] == 4
    assert bench["env_steps_per_s"] == metrics["isaaclab_env_steps_per_s"].value
    assert bench["lambdabench_env_steps_per_s"] == record["throughput"]["mean"]
    assert bench["versions"]["isaaclab"] == "3.0.0" and set(bench["startup_s"]) >= {"env_creation_s", "first_step_s"}
    logs = "".join(p.read_text() for p in (run_dir / "logs" / "isaaclab3-train").glob("*train*"))
    assert "bundle written to logs/benchmark/benchmark_training_Isaac-Cartpole-Direct_" in logs
    table = simproc.cli("report")
    assert table.returncode == 0, table.stderr
    rows = table.stdout.splitlines()
    ours = next(i for i, line in enumerate(rows) if line.startswith("env-steps/s"))
    assert rows[ours + 1].strip().startswith("Isaac Lab's own (total_fps)"), table.stdout
    assert "Isaac Lab benchmark total_fps, schema 1.4:" in table.stdout
    assert "lambdabench wall clock:" in table.stdout and "env creation" in table.stdout
    assert simproc.live() == []


def test_benchmark_isaaclab_on_several_gpus_is_refused_before_launch(simproc: SimProcess) -> None:
    out = simproc.cli("sweep", "--gpus", "8xh100", "--playbook", "isaaclab3-train", "--set", "benchmark=isaaclab")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "set multi_gpu=off" in out.stderr and "benchmark=isaaclab" in out.stderr
    assert [r for r in simproc.api("/_sim/requests") if r["path"].endswith("/launch")] == []
