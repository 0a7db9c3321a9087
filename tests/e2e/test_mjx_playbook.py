"""The headline command, `sweep --gpus a100,h100` with no playbook: the portable MJX benchmark on each type
(simulated: JAX on the CPU, small N), throughput and $/M env-steps per type, through a whole sweep."""

from __future__ import annotations

import importlib.util
import json

import pytest

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = [
    needs_sshd,
    pytest.mark.skipif(
        importlib.util.find_spec("jax") is None or importlib.util.find_spec("mujoco") is None,
        reason="jax and mujoco-mjx are not installed (bash .ci/setup installs the [mjx] extra)",
    ),
]


def test_the_headline_command_benchmarks_by_default(simproc: SimProcess) -> None:
    dry = simproc.cli("sweep", "--gpus", "a100,h100", "--dry-run")
    assert dry.returncode == 0 and "benchmark: playbook mjx-locomotion" in dry.stdout, dry.stdout + dry.stderr
    out = simproc.cli(
        "sweep",
        "--gpus",
        "a100,h100",
        "--max-run-minutes",
        "1500",
        "--set",
        "cpu_envs=16",
        "--format",
        "json",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert "simulated" in json.dumps(report).lower()
    types = {g["instance_type"]: g for g in report["groups"]}
    assert set(types) == {"gpu_1x_a100", "gpu_1x_h100_sxm5"}
    for g in types.values():
        assert g["env_steps_per_s"] and g["env_steps_per_s"] > 0, g
        assert g["usd_per_million_steps"] and g["usd_per_million_steps"] > 0, g
    ledger = Ledger(simproc.home)
    run = ledger.runs()[-1]
    metrics = {m.key: m.value for m in ledger.metrics(run_id=run.id)}
    assert metrics["env_steps_per_s"] > 0 and metrics["env_steps"] > 0
    arts = ledger.artifacts(run.id)
    assert any(a.path.endswith("mjx-result.json") and a.verified for a in arts)
    run_dirs = list((simproc.home / "runs").glob(f"sweep-{run.sweep_id}/run-{run.id}-*"))
    record = json.loads((run_dirs[0] / "result.json").read_text())
    assert record["simulated"] is True and record["schema_version"] == 1 and "error" not in record
    assert record["throughput"]["source"] == "mjx" and record["throughput"]["mean"] > 0
    assert record["cost"]["billed_minutes_policy"] >= 1 and record["run"]["status"] == "succeeded"
    from lambdabench.metrics.record import validate_record

    validate_record(record)
    assert simproc.live() == []
