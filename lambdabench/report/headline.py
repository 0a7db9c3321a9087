"""The report's answer first: the cheapest type per million env-steps and to the reward, the fastest,
and how far the others are from it (ratios, with each figure's spread over its runs).

Only types with a run that finished and measured the figure count; a type that never launched (left
out for budget, no capacity) or only failed is named as such, never given a $0.00 or a rate.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from lambdabench.report.model import GroupReport, Report


def _spread(g: GroupReport, key: str) -> str:
    """' ±4.1% over 3 runs' where the type ran more than once; '' otherwise."""
    s = g.spreads.get(key)
    if s is None or s.std is None or s.n < 2 or not s.mean:
        return ""
    return f" ±{100 * s.std / abs(s.mean):.1f}% over {s.n} runs"


def _ranked(
    groups: list[GroupReport], value: Callable[[GroupReport], float | Decimal | None], best_low: bool
) -> list[tuple[GroupReport, float]]:
    have = [(g, float(v)) for g in groups if (v := value(g)) is not None and float(v) > 0]
    return sorted(have, key=lambda gv: gv[1] if best_low else -gv[1])


def _line(
    what: str,
    ranked: list[tuple[GroupReport, float]],
    key: str,
    fmt: Callable[[float], str],
    best_low: bool,
    ratio_word: str,
) -> str | None:
    if not ranked:
        return None
    best, top = ranked[0]
    others = [f"{_name(g)} {(v / top if best_low else top / v):.2f}×" for g, v in ranked[1:]]
    tail = f" — {', '.join(others)} {ratio_word}" if others else ""
    return f"{what}: {_name(best)} at {fmt(top)}{_spread(best, key)}{tail}"


def _name(g: GroupReport) -> str:
    return g.label or g.instance_type


def headline_lines(report: Report) -> list[str]:
    """A few lines that answer the question before any table: cheapest, fastest, by how much."""
    measured = [g for g in report.groups if g.succeeded > 0]
    lines = [
        _line(
            "Cheapest per million env-steps",
            _ranked(measured, lambda g: g.usd_per_million_steps, True),
            "usd_per_million_steps",
            lambda v: f"${v:.4f}/M",
            True,
            "the cost",
        ),
        _line(
            "Cheapest to the reward target",
            _ranked(measured, lambda g: g.cost_to_reward_usd, True),
            "cost_to_reward_usd",
            lambda v: f"${v:.4f}",
            True,
            "the cost",
        ),
        _line(
            "Fastest",
            _ranked(measured, lambda g: g.env_steps_per_s, False),
            "env_steps_per_s",
            lambda v: f"{v:,.0f} env-steps/s",
            False,
            "slower",
        ),
        _line(
            "Soonest to the reward target",
            _ranked(measured, lambda g: g.time_to_reward_s, True),
            "time_to_reward_s",
            lambda v: f"{v:,.1f}s",
            True,
            "the time",
        ),
    ]
    out = [line for line in lines if line is not None]
    caution = caution_line(report)
    if caution:
        out.append(caution)
    missing = [g for g in report.groups if g.succeeded == 0]
    if missing:
        out.append(
            "No figures from "
            + ", ".join(
                f"{_name(g)} ({'never launched' if g.billed_minutes == 0 and g.failed_launches == 0 else 'no run finished'})"
                for g in missing
            )
        )
    return out


def caution_line(report: Report) -> str | None:
    """One line when the figures above may differ for reasons other than the GPU type: the sections' warnings
    (different software locks, GPUs of one model set differently, pooled benchmarks) named where a reader starts."""
    from lambdabench.report import gpus
    from lambdabench.report.methods import mixed_benchmarks, mixed_pairs

    parts = []
    software = mixed_pairs(report) if any(r.env_lock for r in report.runs) else []
    if software:
        parts.append(
            ", ".join(f"{a} vs {b}" for a, b in software[:3])
            + (", …" if len(software) > 3 else "")
            + " ran different or unknown software"
        )
    settings = sorted({row.group for row, _ in gpus.pooled(report)} | {a for a, *_ in gpus.mixed(report)})
    if settings:
        parts.append(", ".join(settings) + " had GPUs of one model set differently (power limit or clocks)")
    pooled = [group for group, _ in mixed_benchmarks(report)]
    if pooled:
        parts.append(", ".join(pooled) + " pool different benchmarks")
    if not parts:
        return None
    return (
        "Caution: " + "; ".join(parts) + ": part of a difference may not be the GPU type (the warnings below say which)"
    )
