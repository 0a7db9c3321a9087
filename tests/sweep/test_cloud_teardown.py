"""Money never leaks when the service misbehaves (issue #23, the cloud side): each service behaviour on the simulator."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from lambdabench.cloud.models import InstanceType
from lambdabench.config import Settings
from lambdabench.errors import LambdabenchError
from lambdabench.lab import Lab
from lambdabench.ledger import Ledger, ProcessIdentity
from lambdabench.run.env import RunEnv
from lambdabench.run.nodes import (
    Launched,
    Poller,
    TerminateTarget,
    launch_nodes,
    terminate_and_verify,
    wait_active,
)
from lambdabench.simulate import Sim, start

# a dead lambdabench: this host, this pid, another start time (gc's and down's ownership rule)
DEAD = ProcessIdentity(os.getpid(), socket.gethostname(), "dead-process:1")


@pytest.fixture
def sim() -> Iterator[Any]:
    made: list[Any] = []

    def make(scenario: dict[str, Any] | None = None) -> Sim:
        made.append(start(scenario))
        return made[-1]

    yield make
    for one in made:
        one.close()


def lab_of(simenv: Sim, *, owner: ProcessIdentity | None = None, home: str | None = None, **timeouts: float) -> Lab:
    env_vars = {**os.environ, **simenv.env, **({"LAMBDABENCH_HOME": home} if home else {})}
    settings = Settings.load(env=env_vars)
    env = RunEnv.from_settings(settings)
    if timeouts:
        env = replace(env, timeouts=replace(env.timeouts, **timeouts))
    return Lab(settings, env=env, ledger=Ledger(settings.home, owner=owner) if owner else None)


def status_of(simenv: Sim, iid: str) -> str:
    return next(b["status"] for b in simenv.core.billing() if b["id"] == iid)


def terminates(simenv: Sim) -> list[dict[str, Any]]:
    return [r for r in simenv.core.requests() if r["path"].endswith("/instance-operations/terminate")]


def wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ---- 1. terminate refused while booting ---------------------------------------------------------


def test_terminate_refused_while_booting_is_waited_out_by_reading_actions(sim: Any) -> None:
    # an 8×H100-like boot, longer than the teardown's give-up window for an id the API does not show
    simenv = sim({"terminate_while_booting": "refuse", "boot_seconds": {"gpu_1x_a10": 1200}})
    lab = lab_of(simenv, terminate=0.5)
    res = lab.launch("a10")
    assert status_of(simenv, res.id) == "booting"
    t0 = time.monotonic()
    out = lab.down([res.name])
    assert out.gone == [res.name] and not out.failed, out
    assert time.monotonic() - t0 > 1.0  # it waited for the boot, past the 0.5 s window
    assert status_of(simenv, res.id) == "terminated"
    # `actions.terminate` said "not yet": waited on, not hammered (one terminate per poll would be dozens)
    assert len(terminates(simenv)) <= 3, terminates(simenv)
    row = lab.ledger.instance(res.name)
    assert row.gone is not None and not row.kept
    lab.close()


def test_down_stopped_by_two_ctrl_c_names_what_bills_and_gc_finishes_it(sim: Any) -> None:
    # issue #31 item 5: terminating slowly; two Ctrl-Cs stop the proof; the row stays not-gone and not
    # "kept", the error names id, type and region with the command that finishes; gc then proves it gone
    simenv = sim({"terminate_seconds": 1800, "boot_seconds": {"gpu_1x_a10": 60}})
    lab = lab_of(simenv, owner=DEAD)
    res = lab.launch("a10", wait=True)
    assert lab.ledger.instance(res.name).kept
    for at in (0.3, 0.5):
        threading.Timer(at, os.kill, (os.getpid(), signal.SIGINT)).start()
    out = lab.down([res.name])
    assert out.interrupted and out.failed == [res.name] and not out.gone
    row = lab.ledger.instance(res.name)
    assert row.gone is None and not row.kept and row.terminate_called is not None
    err = lab.not_proven(out.failed, "down interrupted")
    assert res.id in err.message and "gpu_1x_a10" in err.message and f"lambdabench down {res.name}" in err.hint
    gc = lab.gc()
    assert gc.terminated == [res.name] and not gc.kept, gc
    assert status_of(simenv, res.id) == "terminated"
    lab.close()


# ---- 2. one launch, two instances ---------------------------------------------------------------


@pytest.mark.parametrize("answer", ["both", "one"])
def test_every_instance_under_the_runs_name_is_ended(sim: Any, answer: str) -> None:
    simenv = sim(
        {
            "instance_faults": [{"kind": "twin", "answer": answer, "match": {"nth": 1}}],
            "boot_seconds": {"gpu_1x_a10": 60},
        }
    )
    lab = lab_of(simenv)
    avail = next(a for a in lab.cloud.list_instance_types() if a.instance_type.name == "gpu_1x_a10")
    itype, led = avail.instance_type, lab.ledger
    run = led.add_run(led.create_sweep("twins", simulated=True), instance_type=itype.name)
    group = launch_nodes(
        lab.cloud,
        led,
        run,
        itype,
        1,
        ssh_key_name=lab.ssh_key_name(),
        label="a10",
        regions=[avail.regions[0].name],
        timeouts=lab.env.timeouts,
    )
    both = [b for b in simenv.core.billing() if b["name"] == group.nodes[0].name]
    assert len(both) == 2
    assert len(group.twins) == (1 if answer == "both" else 0)
    wait_for(lambda: len(lab.cloud.find_by_name(group.nodes[0].name)) == 2)
    out = terminate_and_verify(
        lab.cloud, led, [TerminateTarget(group.nodes[0].name, group.nodes[0].id)], timeouts=lab.env.timeouts
    )
    assert not out.failed and len(out.gone) == 2, out
    assert {status_of(simenv, b["id"]) for b in both} == {"terminated"}
    assert len(led.instances(run_id=run)) == 2 and all(r.gone for r in led.instances(run_id=run))
    lab.close()


def test_gc_ends_a_second_instance_under_one_name(sim: Any) -> None:
    simenv = sim(
        {
            "instance_faults": [{"kind": "twin", "answer": "one", "match": {"nth": 1}}],
            "boot_seconds": {"gpu_1x_a10": 60},
        }
    )
    lab = lab_of(simenv, owner=DEAD)
    res = lab.launch("a10", wait=True, keep=False)
    wait_for(lambda: len(lab.cloud.find_by_name(res.name)) == 2)
    gc = lab.gc()
    assert not gc.failed and len(gc.terminated) == 2, gc
    assert simenv.live() == []
    lab.close()


# ---- 3. no shortcut to "gone" -------------------------------------------------------------------


def test_gc_never_calls_an_instance_gone_that_a_failover_hid(sim: Any) -> None:
    # hidden from everything (list, GET, terminate all 404) 0.2 s after launch for 1.5 s, then back
    simenv = sim(
        {"boot_seconds": {"gpu_1x_a10": 60}, "instance_faults": [{"kind": "failover", "start": 120, "seconds": 900}]}
    )
    lab = lab_of(simenv, owner=DEAD)
    res = lab.launch("a10", keep=False)
    wait_for(lambda: not lab.cloud.list_instances())  # the failover began
    time.sleep(0.5)
    gc = lab.gc()
    # whatever gc says, the cloud's own truth decides: said gone means terminated there
    assert status_of(simenv, res.id) in ("terminated", "terminating"), (gc, status_of(simenv, res.id))
    assert gc.terminated == [res.name], gc
    lab.close()


def test_an_id_never_shown_again_is_not_proven_gone(sim: Any) -> None:
    simenv = sim(
        {
            "boot_seconds": {"gpu_1x_a10": 60},
            "instance_faults": [{"kind": "failover", "start": 120, "seconds": "forever"}],
        }
    )
    lab = lab_of(simenv, terminate=0.5)
    res = lab.launch("a10", keep=False)
    wait_for(lambda: not lab.cloud.list_instances())
    time.sleep(0.5)
    out = lab.down([res.id])
    assert out.failed == [res.name] and not out.gone
    assert lab.ledger.instance(res.name).needs_attention
    lab.close()


# ---- 4. Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize("asked", [3600, 99999999999])
def test_a_long_retry_after_is_capped_and_said(sim: Any, asked: int) -> None:
    simenv = sim({"faults": [{"endpoint": "list", "kind": "http_429", "seconds": asked, "count": 1}]})
    lab = lab_of(simenv, retry_after_cap=0.3)
    said: list[str] = []
    lab.cloud.on_wait = said.append
    t0 = time.monotonic()
    assert lab.cloud.list_instances() == []  # no OverflowError, no hour-long hold
    assert time.monotonic() - t0 < 3
    assert any(f"asks to wait {asked}s" in m for m in said), said
    lab.close()


def test_a_long_wait_counts_down_aloud() -> None:
    from lambdabench.cloud.pacing import Pacer

    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    pacer = Pacer(0, 0, clock=lambda: now[0], sleep=sleep)
    pacer.hold(float("inf"))  # an absurd hold is no hold, never an OverflowError
    pacer.hold(45)
    said: list[str] = []
    pacer.acquire(notify=said.append)
    assert sum(slept) == pytest.approx(45) and len(said) == 5 and "45s" in said[0]
    # a repeated Ctrl-C in a teardown (`abort`) stops a long wait between its slices
    from lambdabench.errors import Cancelled

    pacer.hold(60)
    with pytest.raises(Cancelled):
        pacer.acquire(notify=said.append, abort=lambda: len(slept) >= 7)
    assert len(slept) == 7


# ---- 5. a revoked key mid-run --------------------------------------------------------------------


@pytest.mark.parametrize("when", ["booting", "benchmark"])
def test_a_revoked_key_stops_at_once_names_what_bills_and_gc_finishes(sim: Any, when: str) -> None:
    from lambdabench.cost import instance_cost
    from lambdabench.run.plan import SweepRequest

    # the key is refused for 1800 cloud seconds (3 s) once armed: mid-boot, or mid-benchmark
    simenv = sim(
        {
            "boot_seconds": {"gpu_1x_a10": 300},
            "faults": [{"endpoint": "any", "kind": "invalid_api_key", "count": 0, "seconds": 1800}],
        }
    )
    lab = lab_of(simenv, owner=DEAD)
    fault = simenv.core._faults[0].spec

    def arm() -> None:
        fault.count = 1

    if when == "booting":
        wait = threading.Thread(target=lambda: (wait_for(lambda: bool(simenv.live())), arm()), daemon=True)
        wait.start()
    plan = lab.plan(SweepRequest("a10", "gpu-probe", {}))
    t0 = time.monotonic()
    result = lab.sweep(plan, phase=lambda rc: arm(), install_signal_handlers=False)
    assert time.monotonic() - t0 < 2.9  # stopped at once, not retried for minutes
    [row] = lab.ledger.instances(sweep_id=result.sweep_id)
    assert result.not_terminated == [row.name], result
    assert row.gone is None and row.needs_attention and "key" in (row.attention_reason or "")
    cost = instance_cost(row)
    assert cost.open and not cost.failed_launch  # billing/unknown, never "failed launch, $0"
    assert simenv.live()  # it really is still up
    state = simenv.core._faults[0]
    wait_for(lambda: state.window_end is not None and simenv.core.clock() > state.window_end, 5)  # a valid key
    gc = lab.gc()
    assert gc.terminated == [row.name], gc
    assert simenv.live() == []
    lab.close()


# ---- 6. an outage longer than one teardown pass ---------------------------------------------------


def test_an_outage_longer_than_the_terminate_window_is_waited_out(sim: Any) -> None:
    # an HTML 503 maintenance page for 12 cloud minutes (1.2 s), from the first terminate on
    simenv = sim(
        {
            "boot_seconds": {"gpu_1x_a10": 60},
            "faults": [{"endpoint": "any", "kind": "http_5xx", "status": 503, "seconds": 720, "count": 0}],
        }
    )
    lab = lab_of(simenv, terminate=0.3)
    res = lab.launch("a10", wait=True, keep=False)
    simenv.core._faults[0].spec.count = 1
    out = lab.down([res.name])
    assert out.gone == [res.name] and not out.failed, out
    assert any(r["status"] == 503 for r in simenv.core.requests())
    lab.close()


# ---- 10a. statuses outside the spec ---------------------------------------------------------------


def test_an_unknown_status_is_billing_ended_at_once(sim: Any) -> None:
    simenv = sim({"boot_seconds": {"gpu_1x_a10": 900}, "instance_faults": [{"kind": "alert", "start": 60}]})
    lab = lab_of(simenv)
    t0 = time.monotonic()
    with pytest.raises(LambdabenchError, match="spec does not list"):
        lab.launch("a10", wait=True, keep=False)
    assert time.monotonic() - t0 < 1.4  # not polled until the boot timeout
    assert simenv.live() == []
    lab.close()


# ---- 8. down --all-mine ---------------------------------------------------------------------------


def test_down_all_mine_leaves_other_lambdabenches_alone(sim: Any, tmp_path: Any) -> None:
    simenv = sim({"boot_seconds": {"gpu_1x_a10": 60}})
    colleague = lab_of(simenv, home=str(tmp_path / "colleague"))
    theirs = colleague.launch("a10")
    child = __import__("subprocess").Popen(["sleep", "30"])
    try:
        from lambdabench.ledger import process_start_token

        running = ProcessIdentity(child.pid, socket.gethostname(), process_start_token(child.pid))
        sweeping = lab_of(simenv, owner=running).launch("a10", keep=False)  # a live sweep here owns it
        mine = lab_of(simenv, owner=DEAD).launch("a10")
        out = lab_of(simenv).down([], all_mine=True)
        assert out.gone == [mine.name], out
        assert status_of(simenv, theirs.id) != "terminated" and status_of(simenv, sweeping.id) != "terminated"
        assert len(out.left_alone) == 2
    finally:
        child.kill()
    colleague.close()


# ---- 10c. the price the instance carries ------------------------------------------------------------


def test_the_instance_price_wins_over_the_catalog_seen_at_plan_time(sim: Any) -> None:
    simenv = sim({"boot_seconds": {"gpu_1x_a10": 60}})
    lab = lab_of(simenv)
    real = next(a for a in lab.cloud.list_instance_types() if a.instance_type.name == "gpu_1x_a10")
    stale = replace(real.instance_type, price_cents_per_hour=1)  # the catalog changed since the plan
    assert isinstance(stale, InstanceType)
    led = lab.ledger
    run = led.add_run(led.create_sweep("price", simulated=True), instance_type=stale.name)
    group = launch_nodes(
        lab.cloud,
        led,
        run,
        stale,
        1,
        ssh_key_name=lab.ssh_key_name(),
        label="a10",
        regions=[real.regions[0].name],
        timeouts=lab.env.timeouts,
    )
    node: Launched = group.nodes[0]
    wait_active(Poller(lab.cloud, 0.02), led, node, timeouts=lab.env.timeouts, deadline=time.monotonic() + 30)
    assert led.instance(node.name).price_cents_per_hour == real.instance_type.price_cents_per_hour
    terminate_and_verify(lab.cloud, led, [TerminateTarget(node.name, node.id)], timeouts=lab.env.timeouts)
    lab.close()


# ---- 9. quota ---------------------------------------------------------------------------------------


def test_quota_fails_the_remaining_runs_at_once_with_that_reason(sim: Any) -> None:
    from lambdabench.run.plan import SweepRequest

    simenv = sim({"quota": 1})
    lab = lab_of(simenv)
    plan = lab.plan(SweepRequest("a10,a100,h100", "gpu-probe", {}))
    result = lab.sweep(plan, phase=lambda rc: None, install_signal_handlers=False)
    assert len(result.succeeded) == 1 and len(result.failed) == 2 and not result.skipped, result
    assert all("quota" in why.lower() for why in result.failed.values()), result.failed
    # never retried as capacity: one refused launch (a 429'd one, not processed, may be resent)
    assert [r["status"] for r in simenv.launches() if r["status"] != 429] == [200, 400], simenv.launches()
    assert simenv.live() == []
    lab.close()


# ---- 6. the banner names only what a later pass did not prove gone ----------------------------------


def test_a_later_pass_that_proves_gone_clears_the_may_still_bill_banner(sim: Any) -> None:
    from lambdabench.run.plan import SweepRequest

    simenv = sim({"boot_seconds": {"gpu_1x_a10": 60}})
    lab = lab_of(simenv)
    res = lab.launch("a10", wait=True, keep=False)
    events: list[Any] = []
    runner = lab.runner(
        lab.plan(SweepRequest("a10", "gpu-probe", {})), events=events.append, install_signal_handlers=False
    )
    runner.result.not_terminated.append(res.name)  # a first pass that could not prove it
    runner._terminate([TerminateTarget(res.name, res.id)], lambda m: None)
    assert runner.result.not_terminated == []
    runner._report_leftovers()
    assert not [e for e in events if "NOT PROVEN" in e.message]
    lab.close()


# ---- 10b. multi-node firewall rules name public addresses ------------------------------------------


def test_the_simulator_refuses_private_source_networks_as_the_spec_reads(sim: Any) -> None:
    from lambdabench.cloud.errors import InvalidParametersError
    from lambdabench.cloud.models import FirewallRule

    simenv = sim()
    lab = lab_of(simenv)
    region = lab.cloud.list_regions()[0].name
    with pytest.raises(InvalidParametersError, match="public"):
        lab.cloud.create_firewall_ruleset("rdzv", region, [FirewallRule("tcp", "10.19.0.2/32", "peer", (29400, 29401))])
    rs = lab.cloud.create_firewall_ruleset(
        "rdzv", region, [FirewallRule("tcp", "203.0.113.5/32", "peer", (29400, 29401))]
    )
    assert rs.id
    lab.close()
