"""On simulated hosts (real sshd): a real PyTorch DDP job across two "nodes" through the generated torchrun lines."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import Sim, needs_sshd
from tests.multinode.conftest import needs_torch, processes_mentioning

pytestmark = [needs_sshd, needs_torch, pytest.mark.timeout(240)]
DDP = Path(__file__).resolve().parents[2] / "lambdabench" / "workloads" / "ddp_tiny.py"


def _sweep(sim: Sim, args: str, timeouts: dict[str, float] | None = None, **kw):  # type: ignore[no-untyped-def]
    lab = sim.lab(timeouts=timeouts)
    plan = lab.plan(
        SweepRequest("a10", "torchrun", {"local_script": str(DDP), "args": args}, nodes=2, max_run_minutes=300, **kw)
    )
    return lab, plan


def _run_dir(lab, sweep_id: int) -> Path:  # type: ignore[no-untyped-def]
    return next(lab.sweep_dir(sweep_id).glob("run-*"))


def test_two_nodes_train_one_ddp_job_and_agree(host_sim: Sim, tmp_path: Path) -> None:
    lab, plan = _sweep(host_sim, "--steps 5")
    result = lab.sweep(plan, name="ddp")
    assert result.succeeded == ["a10#1"], result.failed
    run_dir = _run_dir(lab, result.sweep_id)
    doc = json.loads(next(run_dir.glob("artifacts/**/ddp_result.json")).read_text())
    assert doc["world_size"] == 2 and doc["agree"] is True
    assert {r["rank"] for r in doc["ranks"]} == {0, 1}
    assert len({r["params_sha256"] for r in doc["ranks"]}) == 1
    # both nodes ran through SSH; each node's own log names its rank; rank 1's log is not in the artifacts
    cluster = json.loads((run_dir / "cluster.json").read_text())
    assert [n["rank"] for n in cluster["nodes"]] == [0, 1] and len({n["addr"] for n in cluster["nodes"]}) == 2
    logs = {
        r: "".join(p.read_text() for p in (run_dir / "nodes" / f"node-{r}" / "logs").rglob("*torchrun*.log"))
        for r in (0, 1)
    }
    assert "rank 0/2" in logs[0] and "rank 1/2" in logs[1], logs
    assert "AGREE" in logs[0]
    metrics = {m.key: m.value for m in lab.ledger.metrics(run_id=lab.ledger.runs(result.sweep_id)[0].id)}
    assert metrics["nodes"] == 2 and metrics["env_steps_per_s"] > 0 and metrics["world_size"] == 2
    assert metrics["env_steps_per_s_per_node"] == pytest.approx(metrics["env_steps_per_s"] / 2)
    assert host_sim.live() == [] and processes_mentioning(str(tmp_path / "sim")) == []
    lab.close()


@pytest.mark.slow  # default-suite time (issue rule: ~15 min on 2 cores); a sibling covers the core path
def test_one_rank_exiting_fails_the_step_names_the_node_and_stops_the_other(host_sim: Sim, tmp_path: Path) -> None:
    # node 1's rank fails at step 3; node 0 would otherwise train far longer (50 × 0.2 s)
    lab, plan = _sweep(host_sim, "--steps 50 --step-sleep 0.2 --fail-rank 1 --fail-step 3")
    started = time.monotonic()
    result = lab.sweep(plan, name="ddp-fail")
    why = result.failed["a10#1"]
    assert "multi-node step failed on node 1" in why, why
    assert time.monotonic() - started < 120
    assert host_sim.live() == [] and processes_mentioning(str(tmp_path / "sim")) == []
    errors = lab.ledger.errors(sweep_id=result.sweep_id)
    assert any("node 1" in e.message for e in errors)
    lab.close()


def test_a_node_lost_mid_run_fails_the_step_cleanly(host_sim: Sim, tmp_path: Path) -> None:
    # a short reattach window (the default floor is a minute): the lost node is given up on sooner
    lab, plan = _sweep(host_sim, "--steps 400 --step-sleep 0.1", timeouts={"reattach": 8.0})
    killed: list[str] = []

    def kill_node_1_when_training() -> None:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not killed:
            for path in lab.env.runs_root.rglob("node-1/logs/torchrun/*torchrun*.log"):
                if "rank 1/2" in path.read_text():
                    cluster = json.loads((path.parents[4] / "cluster.json").read_text())
                    victim = cluster["nodes"][1]["id"]
                    host_sim.hosts.stop(victim)  # the node dies: sshd and every process of it
                    killed.append(victim)
                    return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_node_1_when_training, daemon=True)
    killer.start()
    result = lab.sweep(plan, name="ddp-lost")
    killer.join(timeout=5)
    assert killed, "training never started on node 1"
    why = result.failed["a10#1"]
    assert "failed on node 1" in why, why
    assert host_sim.live() == [] and processes_mentioning(str(tmp_path / "sim")) == []
    lab.close()
