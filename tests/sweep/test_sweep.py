"""The sweep on the simulator (API over real HTTP), with remote phases injected through the seam."""

from __future__ import annotations

import threading
import time

import pytest

from lambdabench.cost import instance_cost
from lambdabench.errors import RemoteError
from lambdabench.sweep import RunContext, SweepRunner, make_plan
from lambdabench.sweep_ops import SweepRequest, plan_sweep
from tests.sweep.conftest import SimEnv


class Work:
    """A remote phase that 'benchmarks' for a moment and records a metric; optionally fails or hangs."""

    def __init__(self, seconds: float = 0.05, fail_on: str | None = None, hang_on: str | None = None) -> None:
        self.seconds = seconds
        self.fail_on = fail_on
        self.hang_on = hang_on
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, rc: RunContext) -> None:
        with self.lock:
            self.seen.append(rc.launched.instance_type.name)
        rc.ledger.mark(rc.launched.name, "bench_start")
        if self.hang_on and self.hang_on in rc.launched.instance_type.name:
            time.sleep(30)
        time.sleep(self.seconds)
        if self.fail_on and self.fail_on in rc.launched.instance_type.name:
            raise RemoteError("benchmark exited 1", command="train.py", exit_status=1)
        rc.ledger.record_metric(rc.run_id, "env_steps_per_s", 1000.0, unit="steps/s", source="test")
        rc.ledger.mark(rc.launched.name, "bench_end")


def plan_for(simenv: SimEnv, ctx, gpus: str, **kw):  # type: ignore[no-untyped-def]
    return plan_sweep(ctx, SweepRequest(gpus, "gpu-probe", {}, **kw))


def test_three_type_sweep_matches_billing_truth(simenv: SimEnv) -> None:
    ctx = simenv.context()
    plan = plan_for(simenv, ctx, "a10,a100,8xh100")
    assert [r.itype.name for r in plan.runs][0] == "gpu_8x_h100_sxm5"  # slowest boot first
    result = SweepRunner(ctx, plan, Work(), install_signal_handlers=False).run()
    assert sorted(result.succeeded) == sorted(r.label for r in plan.runs) and not result.failed
    assert simenv.live() == []
    # launches went out slow-booting first
    first = simenv.launches()[0]
    assert "8x_h100" in str(first)
    truth = {b["id"]: b for b in simenv.core.billing()}
    rows = ctx.ledger.instances(sweep_id=result.sweep_id)
    assert len(rows) == 3
    for row in rows:
        assert row.gone is not None and row.id in truth
        mine = instance_cost(row)
        assert mine.policy_minutes == truth[row.id]["billed_minutes"], (row.name, mine, truth[row.id])
        assert mine.upper_minutes >= truth[row.id]["billed_minutes"]
    assert ctx.ledger.integrity_check() == []
    # one shared poller: list calls are far fewer than one per instance per tick
    lists = [r for r in simenv.core.requests() if r["path"].endswith("/instances") and r["method"] == "GET"]
    assert len(lists) < 200
    ctx.close()


def test_failed_run_is_torn_down_others_succeed(simenv: SimEnv) -> None:
    ctx = simenv.context()
    plan = plan_for(simenv, ctx, "a10,h100")
    result = SweepRunner(ctx, plan, Work(fail_on="a10"), install_signal_handlers=False).run()
    assert list(result.failed) == ["a10#1"] and "exited 1" in result.failed["a10#1"]
    assert result.succeeded == ["h100-sxm5#1"]
    assert simenv.live() == []
    errors = ctx.ledger.errors(sweep_id=result.sweep_id)
    assert any("exited 1" in e.message for e in errors)
    ctx.close()


def test_interrupt_mid_sweep_leaves_nothing_running(simenv: SimEnv) -> None:
    ctx = simenv.context()
    plan = plan_for(simenv, ctx, "a10,a100,8xh100", repeat=2)
    runner = SweepRunner(ctx, plan, Work(seconds=5), install_signal_handlers=False)
    threading.Timer(1.0, runner.stop.set).start()
    t0 = time.monotonic()
    result = runner.run()
    assert time.monotonic() - t0 < 20
    assert simenv.live() == []
    assert all(i.gone is not None for i in ctx.ledger.instances(sweep_id=result.sweep_id))
    ctx.close()


def test_run_past_its_maximum_duration_is_stopped(simenv: SimEnv) -> None:
    ctx = simenv.context()
    plan = plan_for(simenv, ctx, "a10", max_run_minutes=20)  # 20 cloud minutes = 2 s at x600
    result = SweepRunner(ctx, plan, Work(hang_on="a10"), install_signal_handlers=False).run()
    assert "maximum duration" in result.failed["a10#1"]
    assert simenv.live() == []
    ctx.close()


def test_max_cost_is_never_exceeded(simenv: SimEnv) -> None:
    ctx = simenv.context()
    # billing is in real minutes: at x600 a 20-cloud-minute cap is 2 s, one billed minute, 3 cents
    # at $1.29/h; a cap of 7 cents fits two of three runs
    plan = plan_for(simenv, ctx, "a10", repeat=3, max_run_minutes=20, max_cost="0.07")
    assert [plan.worst_case_cents(r) for r in plan.runs] == [3, 3, 3]
    result = SweepRunner(ctx, plan, Work(), install_signal_handlers=False).run()
    assert len(result.succeeded) == 2 and len(result.skipped) == 1
    spent_cents = sum(b["cost_cents"] for b in simenv.core.billing())
    assert spent_cents <= 7
    assert len(simenv.launches()) == 2
    ctx.close()


def test_capacity_failover_to_another_region(simenv: SimEnv) -> None:
    ctx = simenv.context()
    avail = {a.instance_type.name: a for a in ctx.cloud.list_instance_types()}
    regions = [r.name for r in avail["gpu_1x_a10"].regions]
    assert len(regions) >= 2
    # the first region lists capacity but refuses every launch (stale availability)
    simenv.core.set_capacity("gpu_1x_a10", regions[0], 0)
    plan = plan_for(simenv, ctx, "a10")
    result = SweepRunner(ctx, plan, Work(), install_signal_handlers=False).run()
    assert result.succeeded == ["a10#1"]
    row = ctx.ledger.instances(sweep_id=result.sweep_id)[-1]
    assert row.region != regions[0]
    ctx.close()


def test_make_plan_orders_slow_boots_first() -> None:
    from lambdabench.cloud.models import InstanceType

    types = [InstanceType("gpu_1x_a10", gpus=1, price_cents_per_hour=129),
             InstanceType("gpu_8x_a100_80gb_sxm4", gpus=8, price_cents_per_hour=1432),
             InstanceType("gpu_8x_h100_sxm5", gpus=8, price_cents_per_hour=3192)]
    plan = make_plan(types, playbook="p", variables={}, repeat=2, max_run_seconds=600)
    names = [r.itype.name for r in plan.runs]
    assert names == ["gpu_8x_h100_sxm5"] * 2 + ["gpu_8x_a100_80gb_sxm4"] * 2 + ["gpu_1x_a10"] * 2
    assert plan.total_worst_case_cents == 2 * (532 + 239 + 22)  # 10 minutes each, rounded up per run
    assert plan.worst_case_cents(plan.runs[0]) == 532


@pytest.mark.parametrize("bad", [{"repeat": 0}, {"max_cost": "lots"}, {"region": "mars-1"}])
def test_bad_plans_launch_nothing(simenv: SimEnv, bad: dict) -> None:  # type: ignore[type-arg]
    from lambdabench.errors import UsageError

    ctx = simenv.context()
    with pytest.raises(UsageError):
        plan_for(simenv, ctx, "a10", **bad)
    assert simenv.launches() == []
    ctx.close()
