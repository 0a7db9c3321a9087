"""Text renderers: aligned table, JSON, CSV, markdown, and the dry run's projection (all pure)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any, Literal

from lambdabench.ledger import iso_utc
from lambdabench.render import printable
from lambdabench.report import gpus, methods
from lambdabench.report.cells import (
    GROUP_COLUMNS,
    RUN_COLUMNS,
    Column,
    _machine,
    _machine_text,
    _summary_lines,
    _transposed,
    format_cell,
    heading_lines,
)
from lambdabench.report.headline import headline_lines
from lambdabench.report.model import (
    COST_NOTE,
    SIMULATED_NOTE,
    Report,
    RunCurves,
    ScalingCurve,
    Spread,
)
from lambdabench.report.summary import curve_lines


def _align(header: Sequence[str], rows: Sequence[Sequence[str]], extra: Sequence[Sequence[str]] = ()) -> list[str]:
    """Left-aligned first column, right-aligned others; extra heading lines go under the header."""
    heads = [header, *extra]
    widths = [max(len(r[i]) for r in [*heads, *rows]) for i in range(len(header))]
    out = []
    for n, row in enumerate([*heads, *rows]):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        out.append("  ".join(cells).rstrip())
        if n == len(heads) - 1:
            out.append("  ".join("-" * w for w in widths))
    return out


def render_table(report: Report, *, runs: bool = False) -> str:
    """Plain aligned text: GPU types side by side; runs=True adds one line per run."""
    lines = [printable(report.title)]  # the user's --name: escape sequences shown, never interpreted
    if report.simulated:
        lines.append(SIMULATED_NOTE)
    lines.append(f"generated {iso_utc(report.generated_at)}")
    lines.append("")
    if not report.groups:
        lines.append("no runs recorded")
        return "\n".join(lines) + "\n"
    answer = headline_lines(report)
    if answer:
        lines.extend([*answer, ""])
    _header, rows = _transposed(report)
    heads = heading_lines(report)
    lines.extend(_align(heads[0], rows, heads[1:]))
    lines.append("")
    lines.extend(_summary_lines(report))
    lines.append(COST_NOTE)
    lines.extend(curve_lines(report))
    lines.extend(methods.text_lines(report))
    if runs:
        cols = [c for c in RUN_COLUMNS if c.key in _RUN_TABLE_KEYS]
        lines.append("")
        run_rows = [[format_cell(getattr(r, c.key), c.kind) for c in cols] for r in report.runs]
        widths = [max(len(x) for x in [c.label, *(row[i] for row in run_rows)]) for i, c in enumerate(cols)]
        labels = [c.label.ljust(w) if c.kind == "text" else c.label.rjust(w) for c, w in zip(cols, widths, strict=True)]
        lines.append("  ".join(labels).rstrip())
        for row in run_rows:
            cells = [x.ljust(w) if c.kind == "text" else x.rjust(w) for x, w, c in zip(row, widths, cols, strict=True)]
            lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


_RUN_TABLE_KEYS = {
    "run_id",
    "instance_type",
    "workload",
    "status",
    "billed_minutes",
    "cost_usd",
    "env_steps_per_s",
    "wall_s",
    "setup_s",
    "bench_s",
}


def _spread(s: Spread) -> dict[str, Any]:
    return {"n": s.n, "mean": s.mean, "std": s.std, "min": s.lo, "max": s.hi}


def _curves(c: RunCurves) -> dict[str, Any]:
    """A run's learning curve and number-of-envs sweep (telemetry stays in the ledger's series)."""
    return {
        "run_id": c.run_id,
        "group": c.group,
        "reward": [
            {
                "elapsed_s": p.elapsed_s,
                "usd": None if p.usd is None else _machine(p.usd),
                # the HTML chart's dollars axis: accrued by the second, not the per-minute bill
                "usd_accrued": None if p.usd_accrued is None else round(p.usd_accrued, 6),
                "env_steps": p.env_steps,
                "reward": p.reward,
            }
            for p in c.reward
        ],
        "env_steps_per_s_by_num_envs": [[n, rate] for n, rate in c.by_num_envs],
    }


def _scaling(c: ScalingCurve) -> dict[str, Any]:
    return {
        "label": c.label,
        "peak": c.peak,
        "saturates_at": c.saturates_at,
        "points": [{"x": p.x, **_spread(p.rate)} for p in c.points],
    }


def render_json(report: Report) -> str:
    """JSON: title, flags, totals, groups and runs with every field (money in dollars, 6 decimals)."""

    def obj(row: Any, cols: Sequence[Column]) -> dict[str, Any]:
        return {c.key: _machine(getattr(row, c.key)) for c in cols}

    doc = {
        "title": report.title,
        "generated_at": iso_utc(report.generated_at),
        "simulated": report.simulated,
        "sweep_ids": list(report.sweep_ids),
        "totals": {
            "cost_usd": _machine(report.cost_usd),
            "upper_cost_usd": _machine(report.upper_cost_usd),
            "failed_launch_upper_usd": _machine(report.failed_launch_upper_usd),
            "runs": len(report.runs),
            "still_billing": report.still_billing,
        },
        "groups": [
            {
                **obj(g, GROUP_COLUMNS),
                "spread": {k: _spread(s) for k, s in g.spreads.items()},
                "stats": methods.group_stats_json(g.stats),
            }
            for g in report.groups
        ],
        "runs": [obj(r, RUN_COLUMNS) for r in report.runs],
        "reward_target": None
        if report.reward_target is None
        else {
            "value": report.reward_target.value,
            "given": report.reward_target.given,
            "rule": report.reward_target.rule,
        },
        "curves": [_curves(c) for c in report.curves if c.reward or c.by_num_envs],
        "comparisons": methods.comparisons_json(report),
        "tails": methods.tails_json(report),
        "max_num_envs": methods.max_envs_json(report),
        "compatibility": methods.compat_json(report),
        "startup": methods.startup_json(report),
        "references": methods.references_json(report),
        "isaaclab_benchmark": methods.isaaclab_json(report),
        "environment_locks": {
            "by_lock": methods.lock_groups(report),
            "mixed": [list(p) for p in methods.mixed_pairs(report)],
            **gpus.json_parts(report),
        },
        "mixed_benchmarks": [{"group": g, "differences": d} for g, d in methods.mixed_benchmarks(report)],
        "scaling": {
            "saturation_fraction": report.saturation_fraction,
            "by_num_envs": [_scaling(c) for c in report.num_envs_scaling],
            "by_gpu_count": [_scaling(c) for c in report.gpu_scaling],
        },
        "notes": [COST_NOTE, *report.notes] + ([SIMULATED_NOTE] if report.simulated else []),
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def render_csv(report: Report, *, level: Literal["types", "runs"] = "types") -> str:
    """CSV with a header row: one row per GPU type (default) or per run; machine values, no units."""
    cols = GROUP_COLUMNS if level == "types" else RUN_COLUMNS
    rows: Sequence[Any] = report.groups if level == "types" else report.runs
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    types = level == "types"
    extra = (
        methods.csv_stat_columns(report)
        + methods.csv_max_envs_columns(report)
        + methods.csv_shader_columns(report)
        + gpus.csv_columns(report)
        if types
        else []
    )
    writer.writerow([c.key for c in cols] + extra)
    for row in rows:
        values = (
            methods.csv_stat_values(report, row)
            + methods.csv_max_envs_values(report, row)
            + methods.csv_shader_values(report, row)
            + gpus.csv_values(report, row)
            if types
            else []
        )
        writer.writerow([_machine_text(getattr(row, c.key)) for c in cols] + values)
    return buf.getvalue()


def _md_cell(text: str) -> str:
    """A cell or heading: control characters escaped (a --name with escape codes), pipes kept in the cell."""
    return printable(text.replace("\n", " ")).replace("|", "\\|")


def render_markdown(report: Report, *, runs: bool = True) -> str:
    """GitHub-flavoured markdown: GPU types side by side, then the runs."""
    out = [f"# {_md_cell(report.title)}", ""]
    if report.simulated:
        out += [f"> **{SIMULATED_NOTE}**", ""]
    out += [f"Generated {iso_utc(report.generated_at)}.", ""]
    if not report.groups:
        return "\n".join([*out, "No runs recorded.", ""])
    answer = headline_lines(report)
    if answer:
        out += ["## Answer", "", *[f"- {_md_cell(line)}" for line in answer], ""]
    header, rows = _transposed(report)
    out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
    out.append("|" + "---|" + "---:|" * (len(header) - 1))
    out += ["| " + " | ".join(_md_cell(c.strip()) for c in row) + " |" for row in rows]
    out.append("")
    out += [f"- {line}" for line in _summary_lines(report)]
    out += ["", f"_{COST_NOTE}_", ""]
    curves = curve_lines(report)
    if curves:
        out += ["## Curves", "", "```text", *curves[1:], "```", ""]
    out += methods.markdown_lines(report)
    if runs and report.runs:
        cols = [c for c in RUN_COLUMNS if c.key in _RUN_TABLE_KEYS]
        out += ["## Runs", ""]
        out.append("| " + " | ".join(c.label for c in cols) + " |")
        out.append("|" + "---|" * len(cols))
        for r in report.runs:
            out.append("| " + " | ".join(_md_cell(format_cell(getattr(r, c.key), c.kind)) for c in cols) + " |")
        out.append("")
    return "\n".join(out)


# -- dry-run projection ----------------------------------------------------------------------------
