"""`sweep --gpus h100 --nodes 2 --playbook isaaclab3-train`: Isaac Lab 3's train_multigpu across two simulated
nodes (torchrun's static rendezvous on the port lambdabench leaves free), rank 0's run folder pulled."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import HOST_SCALE, needs_sshd, start

pytestmark = [needs_sshd, pytest.mark.timeout(600)]
SETS = {"num_envs": "16", "max_iterations": "3"}


def test_isaaclab3_train_on_two_h100_nodes(tmp_path: Path) -> None:
    sim = start(
        {"capacity": {"gpu_1x_h100_sxm5": {"us-east-3": 2}}}, hosts=True, scale=HOST_SCALE, state_dir=tmp_path / "sim"
    )
    try:
        ctx = sim.lab()
        result = ctx.sweep(SweepRequest("h100", "isaaclab3-train", SETS, nodes=2, max_run_minutes=600), name="two")
        assert result.succeeded, result.failed
        run = ctx.ledger.runs(result.sweep_id)[0]
        steps = {s.name for s in ctx.ledger.steps(run.id)}
        assert {"node 0 isaaclab3-train: train (multi-node)", "node 1 isaaclab3-train: train (multi-node)"} <= steps
        metrics = {m.key: m.value for m in ctx.ledger.metrics(run_id=run.id)}
        assert metrics["nodes"] == 2 and metrics["env_steps_per_s"] > 0
        # rsl-rl-lib 5.5.1 (Isaac Lab 3's, the default library) counts every rank (rsl_rl/utils/logger.py:176):
        # the world size is applied once, by metrics.training, never again on top (old multinode.cluster_rate)
        assert metrics["env_steps"] == 3 * 16 * 16 * 2  # iterations × steps per env × envs × world size
        arts = [a.path for a in ctx.ledger.artifacts(run.id) if a.verified]
        assert any(p.endswith("/run.json") for p in arts) and any("events.out.tfevents" in p for p in arts)
        assert sim.live() == []
        ctx.close()
    finally:
        sim.close()
