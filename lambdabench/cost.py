"""What runs cost: per-minute billing from ledger timestamps and the price captured at launch.

Lambda has no billing API, so we estimate from our own timestamps, two ways:

* policy estimate — current docs: billing starts when the instance passes health checks
  (``first_active``) and ends at terminate (``terminate_called``); 0 if it never became active.
* upper bound — older docs billed from launch: ``launch_accepted`` → ``gone`` (or
  ``terminate_called`` when gone was never seen).

Both round each instance up to whole minutes: ``ceil(seconds / 60)``, and an instance that
billed at all bills at least one minute. An instance still running (no end yet) is costed up to
``now`` and flagged ``open``.

Money is exact: an instance costs ``minutes × price_cents_per_hour`` *cent-minutes* (an int);
sums stay ints and turn into Decimal dollars (÷ 6000) only at the end, so totals never drift.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from lambdabench.errors import UsageError

if TYPE_CHECKING:
    from lambdabench.ledger import InstanceRow, Ledger

BILLING_POLICY = "per minute, rounded up, from first active to terminate (upper bound: accepted to gone)"
CENT_MINUTES_PER_DOLLAR = 6000  # 100 cents × 60 minutes
Outcome = Literal["billed", "never_active", "never_accepted"]


# --------------------------------------------------------------------------------------------------
# arithmetic


def billed_minutes(start: float | None, end: float | None) -> int:
    """Whole minutes billed from start to end: ceil(seconds/60), at least 1 once started, 0 if never."""
    if start is None or end is None:
        return 0
    # round to the millisecond first: float epoch subtraction turns an exact 60 s into 60.000000001
    seconds = max(0.0, round(end - start, 3))
    return max(1, math.ceil(seconds / 60))


def dollars(cent_minutes: int) -> Decimal:
    """Exact dollars for an amount in cent-minutes (minutes × cents per hour)."""
    return Decimal(cent_minutes) / CENT_MINUTES_PER_DOLLAR


def cents_to_dollars(cents: int) -> Decimal:
    """Whole cents as Decimal dollars."""
    return Decimal(cents) / 100


MAX_DOLLARS = Decimal(10_000_000)


def parse_dollars(text: str | int | Decimal) -> Decimal:
    """Parse a user's dollar amount ("25", "$7.50"); UsageError if it is not a plain, sane number.

    A comma is refused, not dropped: "0,50" is half a dollar in much of the world and "1,5" is not
    fifteen; guessing either way spends someone's money.
    """
    raw = str(text).strip().removeprefix("$")
    if "," in raw:
        raise UsageError(
            f"ambiguous dollar amount {text!r} (a comma)",
            "write it with a decimal point and no thousands separator, e.g. 0.50 or 1500",
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise UsageError(f"not a dollar amount: {text!r}", "give a number of dollars, e.g. --max-cost 25")
    if value > MAX_DOLLARS:
        raise UsageError(
            f"dollar amount {text!r} is beyond any real budget",
            f"give at most {MAX_DOLLARS:,} dollars",
        )
    return value


def format_dollars(amount: Decimal | None, places: int | None = None) -> str:
    """$ with 2 decimals from $1 up, 4 below (so cents-per-minute amounts stay visible); '—' for None."""
    if amount is None:
        return "—"
    if places is None:
        places = 2 if amount == 0 or abs(amount) >= 1 else 4
    quantum = Decimal(1).scaleb(-places)
    value = amount.quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{places}f}"


def per_million_steps(cost: Decimal, env_steps: float | None) -> Decimal | None:
    """Dollars per million environment steps; None when steps are unknown or zero."""
    if env_steps is None or env_steps <= 0 or not math.isfinite(env_steps):
        return None
    return cost * 1_000_000 / Decimal(repr(float(env_steps)))


# --------------------------------------------------------------------------------------------------
# instances and runs


@dataclass(frozen=True)
class InstanceCost:
    """The cost of one instance, policy estimate and upper bound, in whole minutes and cent-minutes."""

    name: str
    run_id: int
    instance_type: str
    region: str | None
    price_cents_per_hour: int
    simulated: bool
    outcome: Outcome
    policy_minutes: int
    upper_minutes: int
    open: bool  # no end timestamp yet: costed up to `now`, still billing

    @property
    def policy_cent_minutes(self) -> int:
        return self.policy_minutes * self.price_cents_per_hour

    @property
    def upper_cent_minutes(self) -> int:
        return self.upper_minutes * self.price_cents_per_hour

    @property
    def policy_dollars(self) -> Decimal:
        return dollars(self.policy_cent_minutes)

    @property
    def upper_dollars(self) -> Decimal:
        return dollars(self.upper_cent_minutes)

    @property
    def failed_launch(self) -> bool:
        # an accepted instance not yet proven ended (a revoked key mid-boot) may bill: never a failed launch
        return self.outcome != "billed" and not self.open


def instance_cost(inst: InstanceRow, now: float | None = None) -> InstanceCost:
    """Cost one ledger instance; `now` closes intervals of instances still running."""
    now = time.time() if now is None else now
    if inst.launch_accepted is None:
        outcome: Outcome = "never_accepted"
    elif inst.first_active is None:
        outcome = "never_active"
    else:
        outcome = "billed"
    # a preempted instance may be gone without our terminate call: billing stopped when it went
    policy_end = inst.terminate_called if inst.terminate_called is not None else inst.gone
    upper_end = inst.gone if inst.gone is not None else inst.terminate_called
    if not inst.launched_here and upper_end is None:
        # a machine you brought is never "still billing": a run killed before releasing it (kill -9) is
        # costed to the last moment the ledger saw it working
        seen = [
            t
            for t in (
                inst.first_active,
                inst.ssh_ready,
                inst.setup_start,
                inst.setup_end,
                inst.bench_start,
                inst.bench_end,
                inst.pull_end,
            )
            if t is not None
        ]
        policy_end = upper_end = max(seen) if seen else inst.launch_accepted
    is_open = inst.launch_accepted is not None and upper_end is None
    policy_minutes = billed_minutes(inst.first_active, now if policy_end is None else policy_end)
    upper_minutes = billed_minutes(inst.launch_accepted, now if upper_end is None else upper_end)
    return InstanceCost(
        name=inst.name,
        run_id=inst.run_id,
        instance_type=inst.instance_type,
        region=inst.region,
        price_cents_per_hour=inst.price_cents_per_hour,
        simulated=inst.simulated,
        outcome=outcome,
        policy_minutes=policy_minutes,
        upper_minutes=max(upper_minutes, policy_minutes),
        open=is_open,
    )


@dataclass(frozen=True)
class CostTotals:
    """Sums over a set of instances, with failed launches (never accepted/active) kept apart."""

    instances: int
    failed_launches: int
    policy_minutes: int
    upper_minutes: int
    policy_cent_minutes: int
    upper_cent_minutes: int
    failed_upper_cent_minutes: (
        int  # what failed launches may have cost under the older documented policy (billed from launch)
    )
    open: int  # instances still billing

    @property
    def policy_dollars(self) -> Decimal:
        return dollars(self.policy_cent_minutes)

    @property
    def upper_dollars(self) -> Decimal:
        return dollars(self.upper_cent_minutes)

    @property
    def failed_upper_dollars(self) -> Decimal:
        return dollars(self.failed_upper_cent_minutes)


def totals(costs: Iterable[InstanceCost]) -> CostTotals:
    """Add instance costs exactly."""
    items = list(costs)
    failed = [c for c in items if c.failed_launch]
    return CostTotals(
        instances=len(items),
        failed_launches=len(failed),
        policy_minutes=sum(c.policy_minutes for c in items),
        upper_minutes=sum(c.upper_minutes for c in items),
        policy_cent_minutes=sum(c.policy_cent_minutes for c in items),
        upper_cent_minutes=sum(c.upper_cent_minutes for c in items),
        failed_upper_cent_minutes=sum(c.upper_cent_minutes for c in failed),
        open=sum(1 for c in items if c.open),
    )


@dataclass(frozen=True)
class RunCost:
    """The cost of one run: all its instances (retries after failed launches included)."""

    run_id: int
    instance_type: str
    instances: tuple[InstanceCost, ...]
    totals: CostTotals
    price_cents_per_hour: int | None  # of the instance that ran (last billed), else the last tried
    env_steps: float | None

    @property
    def policy_dollars(self) -> Decimal:
        return self.totals.policy_dollars

    @property
    def upper_dollars(self) -> Decimal:
        return self.totals.upper_dollars

    @property
    def dollars_per_hour(self) -> Decimal | None:
        if self.price_cents_per_hour is None:
            return None
        return cents_to_dollars(self.price_cents_per_hour)

    @property
    def dollars_per_million_steps(self) -> Decimal | None:
        return per_million_steps(self.policy_dollars, self.env_steps)

    def record_section(self) -> dict[str, Any]:
        """The `cost` section of a run record (lambdabench.metrics.record), from the exact sums."""
        per_m = self.dollars_per_million_steps
        return {
            "price_cents_per_hour": self.price_cents_per_hour,
            "billing_policy": BILLING_POLICY,
            "billed_minutes_policy": self.totals.policy_minutes,
            "billed_minutes_upper": self.totals.upper_minutes,
            "usd_policy": _json_dollars(self.policy_dollars),
            "usd_upper_bound": _json_dollars(self.upper_dollars),
            "usd_per_million_steps": None if per_m is None else _json_dollars(per_m, 9),
        }


def _json_dollars(amount: Decimal, places: int = 6) -> float:
    """Dollars rounded once, for JSON consumers (the sums behind it are exact)."""
    return float(amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def run_cost(
    run_id: int,
    instance_type: str,
    instances: Sequence[InstanceRow],
    *,
    env_steps: float | None = None,
    now: float | None = None,
) -> RunCost:
    """Cost one run from its instance rows (pure: no ledger access)."""
    now = time.time() if now is None else now
    costs = tuple(instance_cost(i, now) for i in instances)
    billed = [c for c in costs if not c.failed_launch]
    chosen = billed[-1] if billed else (costs[-1] if costs else None)
    return RunCost(
        run_id=run_id,
        instance_type=instance_type,
        instances=costs,
        totals=totals(costs),
        price_cents_per_hour=None if chosen is None else chosen.price_cents_per_hour,
        env_steps=env_steps,
    )


def sweep_costs(ledger: Ledger, sweep_id: int, *, now: float | None = None) -> list[RunCost]:
    """Cost every run of a sweep, with env_steps from its metrics when recorded."""
    from lambdabench.ledger import MetricKey

    now = time.time() if now is None else now
    steps: dict[int, float] = {}
    for m in ledger.metrics(sweep_id=sweep_id):
        if m.key == MetricKey.ENV_STEPS:
            steps[m.run_id] = max(steps.get(m.run_id, 0.0), m.value)
    by_run: dict[int, list[InstanceRow]] = {}
    for inst in ledger.instances(sweep_id=sweep_id):
        by_run.setdefault(inst.run_id, []).append(inst)
    return [
        run_cost(r.id, r.instance_type, by_run.get(r.id, []), env_steps=steps.get(r.id), now=now)
        for r in ledger.runs(sweep_id)
    ]
