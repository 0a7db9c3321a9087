"""Curves for the charts, from ledger rows (pure): learning curves on time and dollars, reward
targets, throughput scaling, GPU telemetry with the run's phases.

Time is measured from a run's billing start — the first of its instances to pass health checks
(``first_active``), where cost.py's policy estimate starts billing — and money is what the run
had been billed had it stopped at that moment, by cost.py's own per-minute rule; the dollars axis of
the charts uses the same money accrued by the second (accrued_until), so short runs do not collapse
onto the first minute's step.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import statistics
from collections.abc import Iterable, Sequence
from decimal import Decimal

from lambdabench.cost import dollars, instance_cost
from lambdabench.ledger import InstanceRow, SeriesRow
from lambdabench.report.model import (
    Phase,
    RewardPoint,
    RewardTarget,
    RunCurves,
    ScalingCurve,
    ScalingPoint,
    Spread,
    Track,
)

# series names the run wing records (lambdabench/ingest.py); see docs/report.md
REWARD = "reward"
BY_NUM_ENVS = "env_steps_per_s_by_num_envs"
TELEMETRY = (("gpu_util_pct", "%"), ("gpu_mem_mib", "MiB"), ("gpu_power_w", "W"))

# (label, start event, end event) of the billed stretches a timeline marks, in run order
PHASES = (
    ("SSH wait", "first_active", "ssh_ready"),
    ("set-up", "setup_start", "setup_end"),
    ("benchmark", "bench_start", "bench_end"),
    ("pull", "bench_end", "pull_end"),
    ("teardown", "pull_end", "terminate_called"),
)


def spread(values: Iterable[float | Decimal | None]) -> Spread | None:
    """Mean, sample standard deviation (n-1), min and max of the values present; None if none."""
    present = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not present:
        return None
    std = statistics.stdev(present) if len(present) > 1 else None
    return Spread(len(present), statistics.fmean(present), std, min(present), max(present))


# --------------------------------------------------------------------------------------------------
# billing clock


def billed(instances: Sequence[InstanceRow]) -> list[InstanceRow]:
    """The instances that started billing (passed health checks)."""
    return [i for i in instances if i.first_active is not None]


def billing_start(instances: Sequence[InstanceRow]) -> float | None:
    """When the run's first instance started billing."""
    starts = [i.first_active for i in billed(instances) if i.first_active is not None]
    return min(starts) if starts else None


def billing_end(instances: Sequence[InstanceRow]) -> float | None:
    """When the run's last instance stopped billing; None while any is still up."""
    ends = []
    for inst in billed(instances):
        end = inst.terminate_called if inst.terminate_called is not None else inst.gone
        if end is None:
            return None
        ends.append(end)
    return max(ends) if ends else None


def cost_until(instances: Sequence[InstanceRow], t: float) -> Decimal:
    """What the run had been billed had every instance been terminated at t (cost.py's rules)."""
    cent_minutes = 0
    for inst in billed(instances):
        if inst.first_active is None or inst.first_active > t:
            continue  # not billing yet
        end = inst.terminate_called if inst.terminate_called is not None else inst.gone
        cut = dataclasses.replace(inst, terminate_called=t if end is None else min(end, t))
        cent_minutes += instance_cost(cut, now=t).policy_cent_minutes
    return dollars(cent_minutes)


def accrued_until(instances: Sequence[InstanceRow], t: float) -> float:
    """Dollars the run had accrued by t at its price, by the second (seconds × $/h ÷ 3600, summed over
    instances from each one's billing start to t or its end): cost_until without the per-minute rounding,
    so that a run of a few minutes still spreads along a dollars axis. For charts; bills are cost_until's."""
    total = 0.0
    for inst in billed(instances):
        if inst.first_active is None or inst.first_active > t:
            continue  # not billing yet
        end = inst.terminate_called if inst.terminate_called is not None else inst.gone
        stop = t if end is None else min(end, t)
        total += max(0.0, stop - inst.first_active) * inst.price_cents_per_hour / 100 / 3600
    return total


def phases(instances: Sequence[InstanceRow], origin: float) -> tuple[Phase, ...]:
    """The billed stretches of a run: SSH wait, set-up, benchmark, pull, teardown; a multi-node
    run's stretch spans its earliest start to its slowest node's end."""
    nodes = billed(instances)
    out = []
    for name, start_event, end_event in PHASES:
        starts = [getattr(i, start_event) for i in nodes if getattr(i, start_event) is not None]
        ends = [getattr(i, end_event) for i in nodes if getattr(i, end_event) is not None]
        if starts and ends and max(ends) >= min(starts):
            out.append(Phase(name, min(starts) - origin, max(ends) - origin))
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# one run


def _points_in_order(row: SeriesRow) -> list[tuple[float | None, float | None, float]]:
    """Points by wall time when every point has one, else by x (steps), else as recorded."""
    pts = [p for p in row.points if p[2] is not None and math.isfinite(p[2])]
    if pts and all(p[0] is not None for p in pts):
        return sorted(pts, key=lambda p: p[0] or 0.0)
    if pts and all(p[1] is not None for p in pts):
        return sorted(pts, key=lambda p: p[1] or 0.0)
    return pts


def _pick(series: Sequence[SeriesRow], name: str) -> SeriesRow | None:
    """The run's curve of that name; with several sources, the one with the most points."""
    found = [s for s in series if s.name == name and s.points]
    return max(found, key=lambda s: len(s.points)) if found else None


def run_curves(
    run_id: int,
    group: str,
    repeat: int | None,
    instances: Sequence[InstanceRow],
    series: Sequence[SeriesRow],
) -> RunCurves:
    """A run's curves on its billing clock; empty parts where nothing was recorded."""
    origin = billing_start(instances)
    end = billing_end(instances)
    reward: list[RewardPoint] = []
    row = _pick(series, REWARD)
    if row is not None:
        for t, x, v in _points_in_order(row):
            if t is None or origin is None:
                reward.append(RewardPoint(None, None, x, v))
            else:
                usd, accrued = cost_until(instances, t), accrued_until(instances, t)
                reward.append(RewardPoint(t - origin, usd, x, v, usd_accrued=accrued))
    by_n: dict[float, list[float]] = {}
    row = _pick(series, BY_NUM_ENVS)
    if row is not None:
        for _t, x, v in row.points:
            if x is not None and x > 0 and v is not None and math.isfinite(v):
                by_n.setdefault(float(x), []).append(v)
    tracks = []
    if origin is not None:
        for name, unit in TELEMETRY:
            row = _pick(series, name)
            if row is None:
                continue
            pts = sorted((t - origin, v) for t, _x, v in row.points if t is not None)
            if pts:
                tracks.append(Track(name, row.unit or unit, tuple(pts)))
    return RunCurves(
        run_id=run_id,
        group=group,
        repeat=repeat,
        reward=tuple(reward),
        # one point per N: a run that measured an N twice counts it once, at its mean
        by_num_envs=tuple((n, statistics.fmean(v)) for n, v in sorted(by_n.items())),
        telemetry=tuple(tracks),
        phases=() if origin is None else phases(instances, origin),
        billed_s=None if origin is None or end is None else end - origin,
    )


# --------------------------------------------------------------------------------------------------
# reward target, time- and cost-to-reward


def final_reward(curves: RunCurves) -> float | None:
    """The last recorded mean reward of a run."""
    return curves.reward[-1].reward if curves.reward else None


def choose_target(
    curves: Sequence[RunCurves],
    labels: dict[int, str],
    *,
    target: float | None = None,
    fraction: float = 0.9,
) -> RewardTarget | None:
    """The given target, else `fraction` of the best final reward in the report (None: no curves).

    A best final reward at or below zero has no meaningful fraction; then the target lies that
    fraction of the way from the lowest first reward to the best final one, and says so.
    """
    if target is not None:
        return RewardTarget(float(target), f"reward target {target:,.4g} (given)", given=True)
    finals = [(c, final_reward(c)) for c in curves if c.reward]
    if not finals:
        return None
    best_curve, best = max(finals, key=lambda cf: cf[1] if cf[1] is not None else -math.inf)
    assert best is not None
    where = f"{labels.get(best_curve.run_id, '')} run {best_curve.run_id}".strip()
    if best > 0:
        value = fraction * best
        rule = f"reward target {value:,.4g} = {fraction:.0%} of the best final reward ({best:,.4g}, {where})"
    else:
        lowest = min(c.reward[0].reward for c, _ in finals)
        value = lowest + fraction * (best - lowest)
        rule = (
            f"reward target {value:,.4g}: {fraction:.0%} of the way from the lowest first reward"
            f" ({lowest:,.4g}) to the best final reward ({best:,.4g}, {where}),"
            " as the best final reward is not positive"
        )
    return RewardTarget(value, rule, given=False)


def first_reach(curves: RunCurves, target: float) -> RewardPoint | None:
    """The first recorded point at or above the target (mean rewards: higher is better)."""
    return next((p for p in curves.reward if p.reward >= target), None)


# --------------------------------------------------------------------------------------------------
# repeats: a band over several curves


def _interp(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    i = bisect.bisect_left(xs, x)
    if i <= 0:
        return ys[0]
    if i >= len(xs):
        return ys[-1]
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def band(curves: Sequence[Sequence[tuple[float, float]]], samples: int = 80) -> list[tuple[float, float, float, float]]:
    """(x, mean, min, max) over curves interpolated on a common grid where all of them have data;
    empty unless two or more curves overlap."""
    usable = [sorted(c) for c in curves if len(c) >= 2]
    if len(usable) < 2:
        return []
    lo = max(c[0][0] for c in usable)
    hi = min(c[-1][0] for c in usable)
    if hi <= lo:
        return []
    out = []
    for k in range(samples + 1):
        x = lo + (hi - lo) * k / samples
        ys = [_interp([p[0] for p in c], [p[1] for p in c], x) for c in usable]
        out.append((x, statistics.fmean(ys), min(ys), max(ys)))
    return out


# --------------------------------------------------------------------------------------------------
# throughput scaling


def scaling_curve(label: str, points: Iterable[tuple[float, float]], *, fraction: float = 0.9) -> ScalingCurve | None:
    """Mean and spread of rate at each x, the peak mean, and the fewest x reaching fraction·peak."""
    by_x: dict[float, list[float]] = {}
    for x, rate in points:
        by_x.setdefault(float(x), []).append(rate)
    scaled = []
    for x in sorted(by_x):
        s = spread(by_x[x])
        if s is not None:
            scaled.append(ScalingPoint(x, s))
    if not scaled:
        return None
    peak = max(p.rate.mean for p in scaled)
    saturates = next((p.x for p in scaled if p.rate.mean >= fraction * peak), None)
    return ScalingCurve(label, tuple(scaled), peak, saturates)


def thin(points: Sequence[tuple[float, float]], limit: int = 400) -> list[tuple[float, float]]:
    """At most about `limit` points for drawing, keeping each bucket's lowest and highest value
    so that short dips and spikes survive."""
    if len(points) <= limit:
        return list(points)
    buckets = max(1, limit // 2)
    size = len(points) / buckets
    out: list[tuple[float, float]] = []
    for b in range(buckets):
        chunk = points[int(b * size) : max(int((b + 1) * size), int(b * size) + 1)]
        if not chunk:
            continue
        low = min(chunk, key=lambda p: p[1])
        high = max(chunk, key=lambda p: p[1])
        out.extend(sorted({low, high}))
    return out
