"""Without torch: group launch all-or-none with rollback, the run's ruleset, cost of N nodes, scaling metrics."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from lambdabench.cost import run_cost
from lambdabench.ledger import InstanceRow, Ledger, MetricKey
from lambdabench.run.cluster import Cluster
from lambdabench.run.context import RunContext
from lambdabench.run.ingest import record_scaling
from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import Sim, needs_sshd, start


class FakeCluster:
    """A remote phase that records what it was given and opens the rendezvous as the real one does (no SSH)."""

    def __init__(self, fail: bool = False) -> None:
        self.seen: list[RunContext] = []
        self.fail = fail

    def __call__(self, rc: RunContext) -> None:
        from lambdabench.errors import RemoteError

        self.seen.append(rc)
        rc.cluster = Cluster("rid", tuple(n.peer_addr for n in rc.nodes), 1, port=41000)
        if rc.on_rendezvous is not None:
            rc.on_rendezvous(rc.cluster)
        if self.fail:
            raise RemoteError(f"multi-node step failed on {rc.nodes[1].label}: exited 1")
        rc.ledger.record_metric(rc.run_id, MetricKey.ENV_STEPS_PER_S, 1800.0, source="test")


SHORT_REGION = {"capacity": {"gpu_8x_h100_sxm5": {"us-east-1": 1, "us-west-3": 2}}}


@pytest.fixture(params=["paced", "429"])
def short_sim(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    # us-east-1 can give only one 8xH100, us-west-3 two: the group must end up in us-west-3; "429": the
    # second launch is rate-limited, as one is whenever scheduling delay eats the pacer's margin under load
    faults = [{"endpoint": "launch", "kind": "http_429", "after": 1, "count": 1}] if request.param == "429" else []
    sim = start({**SHORT_REGION, "faults": faults})
    yield sim
    sim.close()


def test_short_region_is_rolled_back_and_the_group_launches_in_one_region(short_sim: Sim) -> None:
    lab = short_sim.lab(NGC_API_KEY="nvapi-simulated-test-key")  # isaaclab-train: setup logs in to nvcr.io
    plan = lab.plan(SweepRequest("8xh100", "isaaclab-train", {}, nodes=2, region=None))
    phase = FakeCluster()
    result = lab.sweep(plan, phase=phase, install_signal_handlers=False)
    assert result.succeeded == ["8xh100-sxm5#1"], result.failed
    assert short_sim.live() == []
    rows = lab.ledger.instances(sweep_id=result.sweep_id)
    accepted = [r for r in rows if r.id]
    by_region: dict[str, list] = {}
    for r in accepted:
        by_region.setdefault(r.region, []).append(r)
    # one instance got up in us-east-1 before its stock ran out, and was terminated (rollback)
    assert len(by_region.get("us-east-1", [])) == 1 and len(by_region["us-west-3"]) == 2
    assert all(r.gone for r in rows)
    rc = phase.seen[0]
    assert rc.region == "us-west-3" and len(rc.nodes) == 2
    assert {r.region for r in rows if r.name in {n.name for n in rc.nodes}} == {"us-west-3"}
    addrs = [n.peer_addr for n in rc.nodes]
    assert [n.rank for n in rc.nodes] == [0, 1] and addrs == sorted(addrs)
    # a ruleset per region tried, attached at launch, opened for both nodes, deleted after teardown
    launches = short_sim.requests("/instance-operations/launch", "POST")
    _assert_each_launch_processed_once(launches, rows)
    assert any(r["status"] == 429 for r in launches) or not short_sim.core.scenario.faults
    assert all(len((r.get("body") or {}).get("firewall_rulesets") or []) == 1 for r in launches), launches[0]
    created = short_sim.requests("/firewall-rulesets", "POST")
    patched = [r for r in short_sim.core.requests() if r["method"] == "PATCH" and "firewall-rulesets/" in r["path"]]
    deleted = [r for r in short_sim.core.requests() if r["method"] == "DELETE" and "firewall-rulesets/" in r["path"]]
    assert len(created) == 2 and len(patched) == 1 and len(deleted) >= 2
    # the rules name the nodes' public addresses, which the service accepts (spec: FirewallRule.source_network)
    assert patched[0]["status"] == 200, patched[0]
    sources = {r["source_network"] for r in (patched[0].get("body") or {}).get("rules", [])}
    assert sources == {f"{n.address}/32" for n in rc.nodes}
    assert lab.cloud.list_firewall_rulesets() == []
    # cost: both nodes' rows count; metrics name the node count
    run = lab.ledger.runs(result.sweep_id)[0]
    cost = run_cost(run.id, run.instance_type, rows)
    per_node = [run_cost(run.id, run.instance_type, [r]).policy_dollars for r in rows]
    assert cost.policy_dollars == sum(per_node) and cost.totals.policy_minutes > 0
    metrics = {m.key: m.value for m in lab.ledger.metrics(run_id=run.id)}
    assert metrics["nodes"] == 2.0
    assert (run.params or {}).get("nodes") == 2
    lab.close()


def _assert_each_launch_processed_once(launches: list[dict[str, Any]], rows: list[InstanceRow]) -> None:
    """Four launches processed (us-east-1: one up, one out of capacity; us-west-3: two up), each name once.

    A 429 was not processed (FIELD-NOTES "Rate limits"; the simulator answers it at its edge, before
    routing), so the client sends it again under the same reserved name: how many requests that takes
    depends on timing, what was processed does not.
    """
    processed = [r for r in launches if r["status"] != 429]
    names = [r["body"]["name"] for r in processed]
    seen = [(r["body"]["region_name"], r["status"]) for r in processed]
    assert seen == [("us-east-1", 200), ("us-east-1", 400), ("us-west-3", 200), ("us-west-3", 200)], seen
    assert len(set(names)) == len(names), names
    reserved = {r.name: r.launch_requested for r in rows}
    for r in launches:
        name = r["body"]["name"]
        # in the ledger before its launch call; a 429'd name goes again, never a new reservation
        assert (reserved.get(name) or float("inf")) <= r["t"], (name, reserved.get(name), r["t"])
        assert r["status"] != 429 or name in names, name


def test_no_region_with_capacity_for_all_fails_and_leaves_nothing(tmp_path: Path) -> None:
    sim = start({"capacity": {"gpu_8x_h100_sxm5": {"us-east-1": 1, "us-west-3": 1}}})
    try:
        lab = sim.lab(NGC_API_KEY="nvapi-simulated-test-key")
        plan = lab.plan(SweepRequest("8xh100", "isaaclab-train", {}, nodes=2))
        runner = lab.runner(plan, phase=FakeCluster(), install_signal_handlers=False)
        runner.timeouts = dataclasses.replace(runner.timeouts, capacity_wait=0.5, poll=0.05, terminate=30)
        result = runner.run()
        assert "8xh100-sxm5#1" in result.failed and "capacity" in result.failed["8xh100-sxm5#1"]
        assert sim.live() == []
        assert all(r.gone for r in lab.ledger.instances(sweep_id=result.sweep_id))
        assert lab.cloud.list_firewall_rulesets() == []
        lab.close()
    finally:
        sim.close()


def test_failed_cluster_step_tears_every_node_down(api_sim: Sim) -> None:
    lab = api_sim.lab()
    plan = lab.plan(SweepRequest("a10", "torchrun", {"script": "t.py"}, nodes=3))
    result = lab.sweep(plan, phase=FakeCluster(fail=True), install_signal_handlers=False)
    assert "node 1" in result.failed["a10#1"]
    assert api_sim.live() == []
    rows = lab.ledger.instances(sweep_id=result.sweep_id)
    assert len([r for r in rows if r.id]) == 3 and all(r.gone for r in rows)
    lab.close()


def _run(
    ledger: Ledger, sweep: int, *, nodes: int, rate: float, library: str = "rl_games", source: str = "tensorboard"
) -> int:
    run_id = ledger.add_run(
        sweep,
        instance_type="gpu_8x_h100_sxm5",
        region="r",
        workload="isaaclab-train",
        params={"vars": {"library": library}, "repeat": 1},
    )
    ledger.record_metric(run_id, MetricKey.ENV_STEPS_PER_S, rate, source=source)
    if nodes > 1:
        ledger.record_metric(run_id, "nodes", float(nodes), source="multinode")
    ledger.set_run_status(run_id, "running")
    ledger.set_run_status(run_id, "succeeded")
    return run_id


def test_scaling_efficiency_against_the_newest_one_node_run(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "home")
    sweep = ledger.create_sweep("s", simulated=True, plan={}, max_cost_cents=None)
    assert record_scaling(ledger, _run(ledger, sweep, nodes=2, rate=1000.0)) == {
        "nodes": 2.0,
        "env_steps_per_s": 1000.0,
        "env_steps_per_s_per_node": 500.0,
    }  # no reference yet
    _run(ledger, sweep, nodes=1, rate=900.0)
    ref = _run(ledger, sweep, nodes=1, rate=1000.0)
    two = _run(ledger, sweep, nodes=2, rate=1800.0)
    got = record_scaling(ledger, two)
    assert got["scaling_efficiency"] == pytest.approx(0.9) and got["scaling_reference_run"] == ref
    assert got["env_steps_per_s_per_node"] == pytest.approx(900.0)
    stored = {m.key: m.value for m in ledger.metrics(run_id=two)}
    assert stored["scaling_efficiency"] == pytest.approx(0.9)
    # the recorded rate is already the whole job's (metrics.training applies each library's world-size
    # rule when it reads the events): scaling compares it as it is, never multiplied again
    _run(ledger, sweep, nodes=1, rate=100.0, library="skrl")
    skrl = _run(ledger, sweep, nodes=2, rate=190.0, library="skrl")
    got = record_scaling(ledger, skrl)
    assert got["env_steps_per_s"] == pytest.approx(190.0)
    assert got["scaling_efficiency"] == pytest.approx(190.0 / (2 * 100.0))
    ledger.close()


@needs_sshd
def test_a_livestream_keeps_its_webrtc_ports_beside_the_rendezvous_rules(tmp_path: Path) -> None:
    """Issue 25 item 7: on a multi-node run the rendezvous rules are added to the livestream's, not over them."""
    book = tmp_path / "stream-probe.yaml"
    book.write_text(
        "name: stream-probe\nexpected_minutes: 1  # a probe (a guess)\n"
        'vars:\n  livestream: {type: choice, choices: ["0", "1", "2"], default: "2"}\n'
        "steps:\n  - name: stream\n    run: python3 -m torch.distributed.run --nproc_per_node=1 train.py\n"
    )
    sim = start({}, hosts=True, state_dir=tmp_path / "sim")
    try:
        lab = sim.lab()
        seen: list[tuple[str, tuple[int, int] | None]] = []

        class Phase(FakeCluster):
            def __call__(self, rc: RunContext) -> None:
                super().__call__(rc)
                seen.extend((r.protocol, r.port_range) for rs in lab.cloud.list_firewall_rulesets() for r in rs.rules)

        plan = lab.plan(SweepRequest("a10", str(book), {}, nodes=2, region=None))
        result = lab.sweep(plan, phase=Phase(), install_signal_handlers=False)
        assert result.succeeded, result.failed
        assert {("udp", (47998, 47998)), ("tcp", (49100, 49100)), ("tcp", (41000, 41001))} <= set(seen), seen
        assert lab.cloud.list_firewall_rulesets() == [] and sim.live() == []
    finally:
        sim.close()
