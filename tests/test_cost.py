"""Cost arithmetic: minute rounding, policy vs upper bound, exact totals, projections and budgets."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from lambdabench.cost import (
    billed_minutes,
    dollars,
    format_dollars,
    instance_cost,
    parse_dollars,
    per_million_steps,
    run_cost,
    sweep_costs,
    totals,
)
from lambdabench.errors import UsageError
from lambdabench.ledger import Ledger, MetricKey

T0 = 1_700_000_000.25  # a fractional epoch, to catch float subtraction drift


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [
        (0.001, 1),
        (59, 1),
        (59.999, 1),
        (60, 1),
        (60.0004, 1),
        (61, 2),
        (120, 2),
        (3600, 60),
        (3601, 61),
    ],
)
def test_minute_boundaries(seconds: float, minutes: int) -> None:
    assert billed_minutes(T0, T0 + seconds) == minutes


def test_never_started_bills_nothing() -> None:
    assert billed_minutes(None, T0) == 0
    assert billed_minutes(T0, None) == 0


def _ledger_instance(led: Ledger, run: int, name: str, price: int, **events: float | None):
    led.reserve_instance(run, name, "gpu_1x_a10", "us-east-1", price, ts=T0)
    if events.get("launch_accepted") is not None:
        led.record_launch_accepted(name, f"id-{name}", events.pop("launch_accepted"))
    for event, ts in events.items():
        if ts is not None:
            led.mark(name, event, ts)
    return led.instance(name)


@pytest.fixture
def led(hermetic_env: Path) -> Ledger:
    ledger = Ledger(hermetic_env, clock=lambda: T0)
    yield ledger
    ledger.close()


def test_policy_and_upper_bound(led: Ledger) -> None:
    sweep = led.create_sweep()
    run = led.add_run(sweep, instance_type="gpu_1x_a10")
    inst = _ledger_instance(
        led,
        run,
        "lambdabench-a",
        75,
        launch_accepted=T0 + 1,
        first_active=T0 + 181,  # 3 min boot
        terminate_called=T0 + 181 + 61,  # active 61 s -> 2 min
        gone=T0 + 181 + 61 + 30,  # accepted -> gone: 271 s -> 5 min
    )
    cost = instance_cost(inst, now=T0 + 10_000)
    assert (cost.outcome, cost.policy_minutes, cost.upper_minutes, cost.open) == (
        "billed",
        2,
        5,
        False,
    )
    assert cost.policy_cent_minutes == 150 and cost.policy_dollars == Decimal("0.025")
    assert cost.upper_dollars == Decimal("0.0625")


def test_upper_bound_falls_back_to_terminate_called_and_open_uses_now(led: Ledger) -> None:
    run = led.add_run(led.create_sweep(), instance_type="gpu_1x_a10")
    no_gone = _ledger_instance(
        led,
        run,
        "lambdabench-b",
        60,
        launch_accepted=T0,
        first_active=T0 + 60,
        terminate_called=T0 + 120,
    )
    c = instance_cost(no_gone, now=T0 + 99_999)
    assert (c.policy_minutes, c.upper_minutes, c.open) == (1, 2, False)

    running = _ledger_instance(led, run, "lambdabench-c", 60, launch_accepted=T0, first_active=T0 + 30)
    c = instance_cost(running, now=T0 + 30 + 600)
    assert (c.policy_minutes, c.upper_minutes, c.open) == (10, 11, True)

    preempted = _ledger_instance(led, run, "lambdabench-p", 60, launch_accepted=T0, first_active=T0, gone=T0 + 90)
    c = instance_cost(preempted, now=T0 + 99_999)
    assert (c.policy_minutes, c.upper_minutes, c.open) == (2, 2, False)


def test_failed_launches_are_apart(led: Ledger) -> None:
    run = led.add_run(led.create_sweep(), instance_type="gpu_1x_h100_pcie")
    refused = _ledger_instance(led, run, "lambdabench-r", 249)
    led.record_launch_failed("lambdabench-r", T0 + 1)
    unhealthy = _ledger_instance(
        led, run, "lambdabench-u", 249, launch_accepted=T0, terminate_called=T0 + 900, gone=T0 + 960
    )
    ok = _ledger_instance(
        led,
        run,
        "lambdabench-ok",
        249,
        launch_accepted=T0,
        first_active=T0 + 200,
        terminate_called=T0 + 200 + 3600,
        gone=T0 + 3900,
    )
    costs = [instance_cost(led.instance(n.name), now=T0) for n in (refused, unhealthy, ok)]
    assert [c.outcome for c in costs] == ["never_accepted", "never_active", "billed"]
    assert [c.policy_minutes for c in costs] == [0, 0, 60]
    assert [c.upper_minutes for c in costs] == [0, 16, 65]
    t = totals(costs)
    assert (t.instances, t.failed_launches, t.policy_minutes, t.upper_minutes) == (3, 2, 60, 81)
    assert t.policy_dollars == Decimal("2.49")
    assert t.failed_upper_dollars == Decimal(16 * 249) / 6000  # 0.664
    assert t.failed_upper_dollars == Decimal("0.664")

    rc = run_cost(run, "gpu_1x_h100_pcie", led.instances(run_id=run), env_steps=4_980_000, now=T0)
    assert rc.dollars_per_hour == Decimal("2.49")
    assert rc.dollars_per_million_steps == Decimal("0.5")
    assert rc.totals == t


def test_totals_are_exact_over_many_small_amounts() -> None:
    # 1 minute at 1 ¢/h, 6000 times, is exactly $1; float arithmetic would drift
    assert dollars(sum(1 * 1 for _ in range(6000))) == Decimal(1)
    assert sum(0.01 / 60 for _ in range(6000)) != 1.0  # the drift we avoid


def test_sweep_costs_reads_steps_from_metrics(led: Ledger) -> None:
    sweep = led.create_sweep()
    a = led.add_run(sweep, instance_type="gpu_1x_a10")
    b = led.add_run(sweep, instance_type="gpu_1x_a100")
    _ledger_instance(led, a, "lambdabench-sa", 75, launch_accepted=T0, first_active=T0, terminate_called=T0 + 600)
    led.record_metric(a, MetricKey.ENV_STEPS, 2_000_000, source="tensorboard")
    costs = {c.run_id: c for c in sweep_costs(led, sweep, now=T0)}
    assert costs[a].policy_dollars == Decimal("0.125")
    assert costs[a].dollars_per_million_steps == Decimal("0.0625")
    assert costs[b].instances == () and costs[b].policy_dollars == 0
    assert costs[b].dollars_per_hour is None and costs[b].dollars_per_million_steps is None


def test_per_million_steps_edge_cases() -> None:
    assert per_million_steps(Decimal("1"), None) is None
    assert per_million_steps(Decimal("1"), 0) is None
    assert per_million_steps(Decimal("3"), 1_500_000) == Decimal(2)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("0"), "$0.00"),
        (Decimal("0.0125"), "$0.0125"),
        (Decimal("0.00004"), "$0.0000"),
        (Decimal("0.00005"), "$0.0001"),
        (Decimal("1.005"), "$1.01"),
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("-0.5"), "-$0.5000"),
        (None, "—"),
    ],
)
def test_format_dollars(amount: Decimal | None, text: str) -> None:
    assert format_dollars(amount) == text


def test_format_dollars_fixed_places() -> None:
    assert format_dollars(Decimal(1) / 3, 4) == "$0.3333"


def test_parse_dollars() -> None:
    assert parse_dollars("$7.50") == Decimal("7.50")
    assert parse_dollars("1000") == Decimal(1000)
    for bad in ("abc", "-1", "nan", "inf", "", "1e309", "1e8"):
        with pytest.raises(UsageError):
            parse_dollars(bad)
    # a comma is never dropped: "0,50" was read as $50 and "1,5" as $15
    for ambiguous in ("0,50", "1,5", "1,000"):
        with pytest.raises(UsageError, match="ambiguous"):
            parse_dollars(ambiguous)


def test_record_section_fits_the_run_record_schema(led: Ledger) -> None:
    import jsonschema

    from lambdabench.metrics.record import RECORD_SCHEMA

    run = led.add_run(led.create_sweep(), instance_type="gpu_1x_a10")
    _ledger_instance(
        led,
        run,
        "lambdabench-rec",
        75,
        launch_accepted=T0,
        first_active=T0,
        terminate_called=T0 + 61,
    )
    section = run_cost(run, "gpu_1x_a10", led.instances(run_id=run), env_steps=1e6, now=T0).record_section()
    assert section["billed_minutes_policy"] == 2 and section["usd_policy"] == 0.025
    assert section["usd_per_million_steps"] == 0.025
    assert set(section) == set(RECORD_SCHEMA["properties"]["cost"]["properties"])
    jsonschema.Draft202012Validator(RECORD_SCHEMA["properties"]["cost"]).validate(section)
