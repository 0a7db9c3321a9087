"""`sweep --gpus 8xh100 --nodes 2 --playbook isaaclab-train` on simulated hosts: per-node rate, efficiency, cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdabench.report import build_report
from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import HOST_SCALE, needs_sshd, start

pytestmark = [needs_sshd, pytest.mark.slow, pytest.mark.timeout(600)]
SETS = {"library": "rl_games", "num_envs": "16", "max_iterations": "3", "install_library": "true"}


def test_isaaclab_train_on_two_8xh100_nodes_reports_scaling(tmp_path: Path) -> None:
    sim = start(
        {"capacity": {"gpu_8x_h100_sxm5": {"us-west-3": 2}}},
        hosts=True,
        scale=HOST_SCALE,
        state_dir=tmp_path / "sim",
        ngc_api_key="nvapi-multinode-test-key-0123456789",
    )
    try:
        lab = sim.lab()
        one = lab.sweep(SweepRequest("8xh100", "isaaclab-train", SETS, max_run_minutes=600), name="one")
        assert one.succeeded, one.failed
        two = lab.sweep(SweepRequest("8xh100", "isaaclab-train", SETS, nodes=2, max_run_minutes=600), name="two")
        assert two.succeeded, two.failed
        run = lab.ledger.runs(two.sweep_id)[0]
        m = {x.key: x.value for x in lab.ledger.metrics(run_id=run.id)}
        assert m["nodes"] == 2 and m["env_steps_per_s_per_node"] == pytest.approx(m["env_steps_per_s"] / 2)
        assert m["scaling_efficiency"] > 0 and m["scaling_reference_run"] == lab.ledger.runs(one.sweep_id)[0].id
        report = build_report(lab.ledger, [two.sweep_id])
        assert report.runs[0].instances == 2 and report.runs[0].cost_usd > 0
        assert sim.live() == []
        lab.close()
    finally:
        sim.close()
