"""The report's methods sections, one source for every format: differences against spread, provenance.

Each function returns plain lines (table, markdown), an HTML fragment, or JSON-ready data; a section
with nothing to say returns nothing, so reports of sweeps without seeds or bundles read as before.
"""

from __future__ import annotations

import html
from typing import Any

from lambdabench.report.cells import _machine, comparison_lines
from lambdabench.report.model import Report
from lambdabench.report.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED

STATS_RULE = (
    "Statistics per type over every seed of every repeat (time- and cost-to-reward: one per run): median, "
    f"IQM (interquartile mean) and a 95% percentile bootstrap interval of the mean ({BOOTSTRAP_RESAMPLES} "
    f"resamples, RNG seed {BOOTSTRAP_SEED}). Two types differ by more than their spread when their 95% "
    "intervals do not overlap."
)


def _sections(report: Report) -> list[tuple[str, list[str]]]:
    out = []
    if report.comparisons:
        out.append(("Differences between types", [STATS_RULE, *comparison_lines(report)]))
    origins = sorted({r.provenance for r in report.runs if r.provenance and r.provenance != "this ledger"})
    if origins:
        counts = {o: sum(1 for r in report.runs if r.provenance == o) for o in origins}
        local = sum(1 for r in report.runs if not r.provenance or r.provenance == "this ledger")
        lines = [f"{o}: {counts[o]} run(s)" for o in origins]
        if local:
            lines.insert(0, f"this ledger: {local} run(s)")
        out.append(("Provenance", lines))
    return out


def text_lines(report: Report) -> list[str]:
    """The sections as plain text (the table format)."""
    lines: list[str] = []
    for title, body in _sections(report):
        lines += ["", title, *(f"  {b}" for b in body)]
    return lines


def markdown_lines(report: Report) -> list[str]:
    lines: list[str] = []
    for title, body in _sections(report):
        lines += [f"## {title}", "", f"_{body[0]}_" if title.startswith("Differences") else f"- {body[0]}"]
        lines += ["- " + b.replace("|", "\\|") for b in body[1:]]
        lines.append("")
    return lines


def html_fragment(report: Report) -> str:
    parts = []
    for title, body in _sections(report):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if title.startswith("Differences"):
            parts.append(f'<p class="muted">{html.escape(body[0])}</p>')
            body = body[1:]
        parts.append("<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in body) + "</ul>")
    return "\n".join(parts)


def group_stats_json(stats: Any) -> dict[str, Any]:
    """A group's statistics for JSON: per figure, iqm and ci95 beside its mean."""
    return {
        key: {"n": s.n, "mean": _machine(s.mean), "median": s.median, "iqm": s.iqm,
              "ci95": None if s.ci95 is None else [s.ci95[0], s.ci95[1]]}
        for key, s in stats.items()
    }


def comparisons_json(report: Report) -> list[dict[str, Any]]:
    return [
        {"measure": c.measure, "a": c.a, "b": c.b, "a_mean": c.a_mean, "b_mean": c.b_mean,
         "larger_than_spread": c.separated, "verdict": c.verdict}
        for c in report.comparisons
    ]


def csv_stat_columns(report: Report) -> list[str]:
    """Extra CSV columns per group: each figure's samples, median, IQM and interval."""
    from lambdabench.report.build import STAT_KEYS

    return [f"{k}_{part}" for k in STAT_KEYS.values() for part in ("samples", "median", "iqm", "ci95_low", "ci95_high")]


def csv_stat_values(group: Any) -> list[str]:
    from lambdabench.report.build import STAT_KEYS

    out = []
    for key in STAT_KEYS.values():
        s = group.stats.get(key)
        if s is None:
            out += ["", "", "", "", ""]
            continue
        lo, hi = s.ci95 if s.ci95 is not None else ("", "")
        out += [str(s.n), repr(s.median), repr(s.iqm), repr(lo) if lo != "" else "", repr(hi) if hi != "" else ""]
    return out
