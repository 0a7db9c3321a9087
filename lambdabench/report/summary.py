"""The curves in a terminal: sparklines and one line of figures per run or type (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from lambdabench.cost import format_dollars
from lambdabench.report.cells import format_seconds
from lambdabench.report.model import Report, ScalingCurve

BLOCKS = "▁▂▃▄▅▆▇█"
WIDTH = 28  # characters of a sparkline


def sparkline(values: Sequence[float | None], lo: float, hi: float) -> str:
    """One block character per value between lo and hi; a space where there is no value."""
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(" ")
            continue
        frac = 0.0 if hi <= lo else (v - lo) / (hi - lo)
        out.append(BLOCKS[min(len(BLOCKS) - 1, max(0, round(frac * (len(BLOCKS) - 1))))])
    return "".join(out)


def _resample(points: Sequence[tuple[float, float]], x_end: float, width: int) -> list[float | None]:
    """The last value at or before each of `width` evenly spaced times from 0 to x_end."""
    out: list[float | None] = []
    i = 0
    last: float | None = None
    for k in range(width):
        x = x_end * (k + 1) / width
        while i < len(points) and points[i][0] <= x:
            last = points[i][1]
            i += 1
        # past the run's last point the run had ended: leave the cell empty
        out.append(last if points and x - x_end / width < points[-1][0] else None)
    return out


def _short(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def learning_lines(report: Report, labels: dict[int, str]) -> list[str]:
    """Per run with a reward curve: its shape on a shared time axis, and when it reached the target."""
    timed = [c for c in report.curves if c.reward and c.reward[-1].elapsed_s is not None]
    if not timed:
        return []
    x_end = max(c.reward[-1].elapsed_s or 0.0 for c in timed) or 1.0
    rewards = [p.reward for c in timed for p in c.reward]
    lo, hi = min(rewards), max(rewards)
    lines = [
        f"Learning curves: mean reward over time since billing start (0 to {format_seconds(x_end)},"
        f" one scale for all, {lo:,.3g} to {hi:,.3g})"
    ]
    if report.reward_target is not None:
        lines.append(report.reward_target.rule)
    by_run = {r.run_id: r for r in report.runs}
    name_w = max(len(labels.get(c.run_id, "")) for c in timed)
    for c in timed:
        pts = [(p.elapsed_s or 0.0, p.reward) for p in c.reward]
        line = by_run.get(c.run_id)
        tail = f"{c.reward[0].reward:,.3g} → {c.reward[-1].reward:,.3g}"
        if line is not None and line.reward_reached:
            tail += f"; target at {format_seconds(line.time_to_reward_s or 0.0)}"
            tail += f", {format_dollars(line.cost_to_reward_usd)}"
        elif line is not None and line.reward_reached is False:
            tail += "; never reached the target"
        lines.append(
            f"  {labels.get(c.run_id, '').ljust(name_w)}  run {c.run_id:<4} "
            f"{sparkline(_resample(pts, x_end, WIDTH), lo, hi)}  {tail}"
        )
    return lines


def scaling_lines(title: str, curves: Sequence[ScalingCurve], *, x_name: str, fraction: float) -> list[str]:
    """Per curve: throughput over its x values, the peak and where it saturates."""
    if not curves:
        return []
    lines = [title]
    name_w = max(len(c.label) for c in curves)
    for c in curves:
        means = [p.rate.mean for p in c.points]
        xs = [p.x for p in c.points]
        peak_x = xs[means.index(c.peak)]
        text = f"peak {_short(c.peak)} env-steps/s at {x_name} {peak_x:,.0f}"
        if c.saturates_at is not None:
            text += f"; {fraction:.0%} of peak from {x_name} {c.saturates_at:,.0f}"
        lines.append(
            f"  {c.label.ljust(name_w)}  {sparkline(means, 0.0, c.peak)}"
            f"  ({x_name} {xs[0]:,.0f} … {xs[-1]:,.0f})  {text}"
        )
    return lines


def efficiency(curve: ScalingCurve) -> list[float]:
    """Per point: its rate over linear scaling from the fewest GPUs measured (1.0 = perfect)."""
    first = curve.points[0]
    return [p.rate.mean / (first.rate.mean * p.x / first.x) if first.rate.mean > 0 else math.nan for p in curve.points]


def gpu_lines(curves: Sequence[ScalingCurve]) -> list[str]:
    """Per GPU model: throughput at each GPU count and its efficiency against linear scaling."""
    if not curves:
        return []
    lines = ["Throughput by GPU count (env-steps/s; % of linear scaling from the fewest GPUs)"]
    name_w = max(len(c.label) for c in curves)
    for c in curves:
        cells = [
            f"{p.x:,.0f} GPU{'s' if p.x != 1 else ''} {_short(p.rate.mean)}" + ("" if k == 0 else f" ({eff:.0%})")
            for k, (p, eff) in enumerate(zip(c.points, efficiency(c), strict=True))
        ]
        lines.append(f"  {c.label.ljust(name_w)}  " + " · ".join(cells))
    return lines


def curve_lines(report: Report) -> list[str]:
    """Everything the curves say, for the table format."""
    labels = {r.run_id: r.group or r.instance_type for r in report.runs}
    out: list[str] = []
    for block in (
        learning_lines(report, labels),
        scaling_lines(
            "Throughput by number of envs (env-steps/s, one sparkline per type)",
            report.num_envs_scaling,
            x_name="envs",
            fraction=report.saturation_fraction,
        ),
        gpu_lines(report.gpu_scaling),
    ):
        if block:
            out += ["", *block]
    return out
