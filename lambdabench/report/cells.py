"""Columns of the report and how their cells read, for people and for machines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lambdabench.cost import format_dollars
from lambdabench.ledger import iso_utc
from lambdabench.report.model import Kind, Report


@dataclass(frozen=True)
class Column:
    """One field of a row: its key (attribute), label for people, and how to format it."""

    key: str
    label: str
    kind: Kind


GROUP_COLUMNS: tuple[Column, ...] = (
    Column("instance_type", "GPU type", "text"),
    Column("runs", "runs", "int"),
    Column("succeeded", "succeeded", "int"),
    Column("failures", "failures", "int"),
    Column("failed_launches", "failed launches", "int"),
    Column("billed_minutes", "billed minutes", "int"),
    Column("cost_usd", "cost (policy)", "money"),
    Column("upper_cost_usd", "cost (upper bound)", "money"),
    Column("usd_per_run", "$/run", "money"),
    Column("usd_per_hour", "$/h", "money"),
    Column("env_steps_per_s", "env-steps/s", "rate"),
    Column("isaaclab_env_steps_per_s", "  Isaac Lab's own (total_fps)", "rate"),
    Column("env_steps_per_s_per_node", "  per node", "rate"),
    Column("scaling_efficiency", "  scaling efficiency", "pct_ratio"),
    Column("usd_per_million_steps", "$/M env-steps", "small_money"),
    Column("peak_env_steps_per_s", "peak env-steps/s over envs", "rate"),
    Column("saturation_num_envs", "  saturates at envs", "rate"),
    Column("reward", "final reward", "float"),
    Column("reached_target", "reached reward target", "text"),
    Column("time_to_reward_s", "time to reward", "seconds"),
    Column("cost_to_reward_usd", "cost to reward", "money"),
    Column("steps_to_reward", "env-steps to reward", "rate"),
    Column("wall_s", "wall time", "seconds"),
    Column("boot_s", "boot", "seconds"),
    Column("ssh_wait_s", "SSH wait", "seconds"),
    Column("setup_s", "set-up", "seconds"),
    Column("image_pull_s", "  image pull", "seconds"),
    Column("container_start_s", "  container start", "seconds"),
    Column("bench_s", "benchmark", "seconds"),
    Column("pull_s", "artifact pull", "seconds"),
    Column("tool_added_s", "tool-added billed time", "seconds"),
    Column("cache", "cache", "text"),
    Column("setup_cold_s", "  set-up cold", "seconds"),
    Column("setup_warm_s", "  set-up warm", "seconds"),
    Column("reuse", "reuse", "text"),
    Column("saved_usd", "saved (est.)", "money"),
    Column("gpu_util_pct", "GPU util", "pct"),
    Column("gpu_util_timed_pct", "  timed windows", "pct"),
    Column("energy_wh", "GPU energy", "wh"),
    Column("wh_per_million_steps", "  Wh/M env-steps (timed)", "float"),
    Column("simulated", "simulated", "bool"),
    Column("label", "column", "text"),
    Column("sweep_id", "sweep", "int"),
)

RUN_COLUMNS: tuple[Column, ...] = (
    Column("run_id", "run", "int"),
    Column("instance_type", "GPU type", "text"),
    Column("region", "region", "text"),
    Column("workload", "workload", "text"),
    Column("status", "status", "text"),
    Column("instances", "instances", "int"),
    Column("failed_launches", "failed launches", "int"),
    Column("billed_minutes", "billed min", "int"),
    Column("upper_minutes", "upper min", "int"),
    Column("cost_usd", "cost (policy)", "money"),
    Column("upper_cost_usd", "cost (upper)", "money"),
    Column("failed_launch_upper_usd", "failed-launch cost (upper)", "money"),
    Column("price_usd_per_hour", "$/h", "money"),
    Column("still_billing", "still billing", "bool"),
    Column("env_steps", "env-steps", "rate"),
    Column("env_steps_per_s", "env-steps/s", "rate"),
    Column("isaaclab_env_steps_per_s", "Isaac Lab env-steps/s", "rate"),
    Column("nodes", "nodes", "int"),
    Column("env_steps_per_s_per_node", "env-steps/s per node", "rate"),
    Column("scaling_efficiency", "scaling efficiency", "pct_ratio"),
    Column("usd_per_million_steps", "$/M env-steps", "small_money"),
    Column("reward", "final reward", "float"),
    Column("reward_reached", "reached target", "bool"),
    Column("time_to_reward_s", "time to reward", "seconds"),
    Column("cost_to_reward_usd", "cost to reward", "money"),
    Column("steps_to_reward", "env-steps to reward", "rate"),
    Column("repeat", "repeat", "int"),
    Column("seeds", "seeds", "int"),
    Column("provenance", "provenance", "text"),
    Column("env_lock", "environment lock", "text"),
    Column("gpu_settings", "GPU settings", "text"),
    Column("gpu_count", "GPUs", "int"),
    Column("num_envs", "envs", "rate"),
    Column("sweep_name", "sweep", "text"),
    Column("wall_s", "wall", "seconds"),
    Column("boot_s", "boot", "seconds"),
    Column("ssh_wait_s", "SSH wait", "seconds"),
    Column("setup_s", "set-up", "seconds"),
    Column("image_pull_s", "image pull", "seconds"),
    Column("container_start_s", "container start", "seconds"),
    Column("bench_s", "benchmark", "seconds"),
    Column("pull_s", "artifact pull", "seconds"),
    Column("tool_added_s", "tool-added", "seconds"),
    Column("cache", "cache", "text"),
    Column("reused_from", "on run's instance", "int"),
    Column("gpu_util_pct", "GPU util", "pct"),
    Column("energy_wh", "GPU energy", "wh"),
    Column("wh_per_million_steps", "Wh/M env-steps", "float"),
    Column("errors", "errors", "int"),
    Column("simulated", "simulated", "bool"),
)

# summary rows that only add noise when no run recorded them
_OPTIONAL = {
    "isaaclab_env_steps_per_s",
    "reward",
    "reached_target",
    "time_to_reward_s",
    "cost_to_reward_usd",
    "steps_to_reward",
    "peak_env_steps_per_s",
    "saturation_num_envs",
    "env_steps_per_s_per_node",
    "scaling_efficiency",
    "nodes",
    "image_pull_s",
    "container_start_s",
    "gpu_util_pct",
    "energy_wh",
    "gpu_util_timed_pct",
    "wh_per_million_steps",
    "ssh_wait_s",
    "pull_s",
    "tool_added_s",
    "cache",
    "setup_cold_s",
    "setup_warm_s",
    "reuse",
    "saved_usd",
}


def format_mib(mib: float, digits: int = 2) -> str:
    """GPU memory: MiB below a GiB (14 MiB, not 0.01 GiB), else GiB to `digits` decimals."""
    return f"{mib:,.0f} MiB" if mib < 1024 else f"{mib / 1024:,.{digits}f} GiB"


def format_seconds(value: float) -> str:
    """42.0s, 3m05s, 1h02m."""
    if value < 60:
        return f"{value:.1f}s"
    total = int(round(value))
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{(total % 3600) // 60:02d}m"


def format_small_dollars(amount: Decimal) -> str:
    """Amounts like $ per million steps can be far below a cent: keep 3 significant digits there."""
    if amount == 0 or abs(amount) >= Decimal("0.01"):
        return format_dollars(amount)
    places = min(10, 2 - amount.adjusted())  # adjusted(): exponent of the leading digit
    return format_dollars(amount, places)


def format_cell(value: Any, kind: Kind) -> str:
    """A value as people read it; '—' for missing."""
    if value is None:
        return "—"
    if kind == "money":
        return format_dollars(value)
    if kind == "small_money":
        return format_small_dollars(value)
    if kind == "int":
        return f"{value:,}"
    if kind == "rate":
        return f"{value:,.0f}"
    if kind == "seconds":
        return format_seconds(value)
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "pct_ratio":
        return f"{value * 100:.1f}%"
    if kind == "float":
        return f"{value:,.3g}"
    if kind == "wh":
        return f"{value:,.1f} Wh"
    if kind == "bool":
        return "yes" if value else "no"
    return str(value)


def _machine(value: Any) -> Any:
    """A value for JSON: money rounded to 6 decimals (exact sums, rounded once here)."""
    if isinstance(value, Decimal):
        return float(value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))
    return value


def _machine_text(value: Any) -> str:
    """A value for CSV: Decimal as plain text (no exponent), None as empty."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# columns for machines (JSON, CSV): the side-by-side table has them as its heading
_HEADING_ONLY = {"instance_type", "label", "sweep_id"}
# to-reward rows: a type whose runs had reward curves but never reached the target says so
_TO_REWARD = {"time_to_reward_s", "cost_to_reward_usd", "steps_to_reward"}


def _visible_group_columns(report: Report) -> list[Column]:
    cols = []
    for col in GROUP_COLUMNS:
        if col.key in _HEADING_ONLY:
            continue
        if col.key in _OPTIONAL and all(getattr(g, col.key) is None for g in report.groups):
            continue
        cols.append(col)
    return cols


def _summary_lines(report: Report) -> list[str]:
    lines = [
        f"policy estimate {format_dollars(report.cost_usd)},"
        f" upper bound {format_dollars(report.upper_cost_usd)}"
        f" over {len(report.runs)} runs",
    ]
    failed = sum(r.failed_launches for r in report.runs)
    if failed:
        old_policy = report.failed_launch_upper_usd
        lines.append(
            f"failed launches: {failed}, not billed under the current policy"
            + (f" (up to {format_dollars(old_policy)} under the old one)" if old_policy else "")
        )
    if report.still_billing:
        lines.append(f"{report.still_billing} run(s) still have instances up: costed to {iso_utc(report.generated_at)}")
    return lines


def _money_places(values: Sequence[Any]) -> int:
    """One number of decimals for a row of amounts: 4 if any is below $1, so the row lines up."""
    present = [v for v in values if v is not None and v != 0]
    return 4 if any(abs(v) < 1 for v in present) else 2


def _format_value(value: float, kind: Kind) -> str:
    """A float from a Spread, formatted as its column's kind."""
    if kind in ("money", "small_money"):
        return format_cell(Decimal(repr(value)), kind)
    return format_cell(value, kind)


# measures the side-by-side table shows the spread of (JSON has every one in SPREAD_KEYS)
TABLE_SPREADS = {
    "usd_per_run",
    "env_steps_per_s",
    "usd_per_million_steps",
    "reward",
    "time_to_reward_s",
    "cost_to_reward_usd",
}


def spread_rows(report: Report, col: Column) -> list[list[str]]:
    """'± std' and 'min–max' rows under a measure, when some group has repeats of it."""
    if col.key not in TABLE_SPREADS:
        return []
    spreads = [g.spreads.get(col.key) for g in report.groups]
    if not any(s is not None and s.n > 1 for s in spreads):
        return []
    std = ["  ± std"]
    rng = ["  min–max"]
    for s in spreads:
        if s is None or s.n < 2 or s.std is None:
            std.append("—")
            rng.append("—")
            continue
        std.append("±0" if s.std == 0 else "±" + _format_value(s.std, col.kind))
        rng.append(f"{_format_value(s.lo, col.kind)}–{_format_value(s.hi, col.kind)}")
    return [std, rng]


def stat_rows(report: Report, col: Column) -> list[list[str]]:
    """'median · IQM' and '95% CI' rows under a measure, when some group has two or more samples of it."""
    stats = [g.stats.get(col.key) for g in report.groups]
    if not any(s is not None and s.ci95 is not None for s in stats):
        return []
    centre = ["  median · IQM"]
    interval = ["  95% CI (bootstrap)"]
    for s in stats:
        if s is None or s.ci95 is None:
            centre.append("—")
            interval.append("—")
            continue
        centre.append(f"{_format_value(s.median, col.kind)} · {_format_value(s.iqm, col.kind)}")
        interval.append(f"{_format_value(s.ci95[0], col.kind)}–{_format_value(s.ci95[1], col.kind)} (n={s.n})")
    return [centre, interval]


def comparison_lines(report: Report) -> list[str]:
    """One line per pair of types and figure: the ratio of means, and whether it beats their spread."""
    labels = {c.key: c.label.strip() for c in GROUP_COLUMNS}
    kinds = {c.key: c.kind for c in GROUP_COLUMNS}
    out = []
    for c in report.comparisons:
        kind = kinds.get(c.measure, "float")
        change = f" ({(c.a_mean / c.b_mean - 1) * 100:+.0f}%)" if c.b_mean else ""
        out.append(
            f"{labels.get(c.measure, c.measure)}: {c.a} {_format_value(c.a_mean, kind)} vs "
            f"{c.b} {_format_value(c.b_mean, kind)}{change} — {c.verdict}"
        )
    return out


def group_heading(report: Report) -> list[str]:
    """The side-by-side table's heading: one column per group."""
    return ["", *(g.label or g.instance_type for g in report.groups)]


def heading_lines(report: Report) -> list[list[str]]:
    """The heading on one line, or two when sweeps are compared (type above, sweep below)."""
    if not report.compare:
        return [group_heading(report)]
    types = [""] + [g.instance_type for g in report.groups]
    sweeps = [""] + [(g.label or "").removeprefix(g.instance_type).removeprefix(" · ") for g in report.groups]
    return [types, sweeps]


def _transposed(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header and rows with one column per GPU type (side by side), one row per measure; rows of
    spread (± std, min–max) follow a measure when a type ran more than once."""
    header = group_heading(report)
    rows = []
    for col in _visible_group_columns(report):
        values = [getattr(g, col.key) for g in report.groups]
        if col.kind == "money":
            places = _money_places(values)
            cells = ["—" if v is None else format_dollars(v, places) for v in values]
        else:
            cells = [format_cell(v, col.kind) for v in values]
        if col.key in _TO_REWARD:
            cells = [
                "not reached" if v is None and g.reward_runs else c
                for v, c, g in zip(values, cells, report.groups, strict=True)
            ]
        rows.append([col.label, *cells])
        rows.extend(spread_rows(report, col))
        rows.extend(stat_rows(report, col))
    return header, rows
