"""The HTML report: one self-contained file, inline CSS and SVG charts, no scripts."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from lambdabench.cost import format_dollars
from lambdabench.ledger import iso_utc
from lambdabench.report.cells import (
    RUN_COLUMNS,
    _summary_lines,
    _transposed,
    format_cell,
    format_seconds,
    format_small_dollars,
)
from lambdabench.report.model import COST_NOTE, SIMULATED_NOTE, Report


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart: one bar per label; stacked segments when several series are given."""

    title: str
    labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]  # (series name, one value per label)
    format_value: Callable[[float], str] = field(default=lambda v: f"{v:,.2f}")


_PALETTE = ("#3b6fb6", "#e39b3a", "#5aa469", "#b6463b", "#7a5ab6")


def svg_bar_chart(chart: Chart, *, width: int = 560) -> str:
    """An inline <svg> bar chart (no scripts, no external references)."""
    esc = html.escape
    label_w, value_w, bar_h, gap, top = 170, 90, 22, 8, 30
    legend = len(chart.series) > 1
    rows = len(chart.labels)
    height = top + rows * (bar_h + gap) + (24 if legend else 4)
    totals = [sum(s[1][i] or 0.0 for s in chart.series) for i in range(rows)]
    peak = max(totals, default=0.0)
    plot_w = width - label_w - value_w
    parts = [
        f'<svg class="chart" role="img" aria-label="{esc(chart.title)}" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}">',
        f'<text x="0" y="18" class="chart-title">{esc(chart.title)}</text>',
    ]
    if peak <= 0:
        parts.append(f'<text x="{label_w}" y="{top + 14}" class="muted">no data</text>')
    for i, label in enumerate(chart.labels):
        y = top + i * (bar_h + gap)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{esc(label)}</text>'
        )
        x = float(label_w)
        for s_idx, (name, values) in enumerate(chart.series):
            v = values[i]
            if not v or peak <= 0:
                continue
            w = max(1.0, plot_w * v / peak)
            color = _PALETTE[s_idx % len(_PALETTE)]
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}">'
                f"<title>{esc(name)}: {esc(chart.format_value(v))}</title></rect>"
            )
            x += w
        shown = "—" if all(s[1][i] is None for s in chart.series) else chart.format_value(totals[i])
        parts.append(f'<text x="{x + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{esc(shown)}</text>')
    if legend:
        y = height - 8
        x = float(label_w)
        for s_idx, (name, _values) in enumerate(chart.series):
            color = _PALETTE[s_idx % len(_PALETTE)]
            parts.append(f'<rect x="{x:.1f}" y="{y - 10}" width="10" height="10" fill="{color}"/>')
            parts.append(f'<text x="{x + 14:.1f}" y="{y}">{esc(name)}</text>')
            x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def report_charts(report: Report) -> list[Chart]:
    """The charts of the HTML report, one per comparison."""
    labels = tuple(g.instance_type for g in report.groups)

    def money(v: float) -> str:
        return format_dollars(Decimal(repr(v)))

    def series(key: str) -> tuple[float | None, ...]:
        return tuple(
            None if getattr(g, key) is None else float(getattr(g, key)) for g in report.groups
        )

    return [
        Chart("Cost per run (policy estimate)", labels, (("$/run", series("usd_per_run")),), money),
        Chart(
            "Throughput (env-steps/s)",
            labels,
            (("env-steps/s", series("env_steps_per_s")),),
            lambda v: f"{v:,.0f}",
        ),
        Chart(
            "Cost per million env-steps",
            labels,
            (("$/M steps", series("usd_per_million_steps")),),
            lambda v: format_small_dollars(Decimal(repr(v))),
        ),
        Chart(
            "Where the time went (mean per run)",
            labels,
            (
                ("boot", series("boot_s")),
                ("SSH wait", series("ssh_wait_s")),
                ("set-up", series("setup_s")),
                ("benchmark", series("bench_s")),
                ("pull", series("pull_s")),
            ),
            format_seconds,
        ),
    ]


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}
.banner{background:#fff3cd;border:1px solid #e0b84a;padding:.6rem .9rem;border-radius:6px;font-weight:600;margin:1rem 0}
.muted{color:#777;fill:#777}
table{border-collapse:collapse;margin:1rem 0;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:right;white-space:nowrap}
th.t,td.t{text-align:left}
thead th{background:#f4f6f8}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}
svg.chart{font-size:12px;fill:#222}
svg .chart-title{font-weight:600;font-size:13px}
video{max-width:100%;border-radius:6px}
figure{margin:0 0 1.5rem 0}
.scroll{overflow-x:auto}
"""


def _html_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: Sequence[int] = (0,)
) -> str:
    esc = html.escape

    def cls(i: int) -> str:
        return ' class="t"' if i in text_columns else ""

    head = "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{esc(c.strip())}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def render_html(report: Report) -> str:
    """One self-contained HTML file: inline CSS, inline SVG charts, videos as data: URIs or relative links."""
    esc = html.escape
    title = esc(report.title)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f'<p class="muted">Generated {esc(iso_utc(report.generated_at) or "")}</p>',
    ]
    if report.simulated:
        parts.append(f'<div class="banner">{esc(SIMULATED_NOTE)}</div>')
    if not report.groups:
        parts.append("<p>No runs recorded.</p></body></html>")
        return "\n".join(parts) + "\n"
    header, rows = _transposed(report)
    parts.append("<h2>By GPU type</h2>")
    parts.append(_html_table(header, rows))
    parts.append(
        "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in _summary_lines(report)) + "</ul>"
    )
    parts.append(f'<p class="muted">{esc(COST_NOTE)}</p>')
    parts.append('<h2>Charts</h2><div class="charts">')
    parts.extend(svg_bar_chart(chart) for chart in report_charts(report))
    parts.append("</div>")
    parts.append("<h2>Runs</h2>")
    cols = [c for c in RUN_COLUMNS if c.key != "simulated"]
    parts.append(
        _html_table(
            [c.label for c in cols],
            [[format_cell(getattr(r, c.key), c.kind) for c in cols] for r in report.runs],
            [i for i, c in enumerate(cols) if c.kind == "text"],
        )
    )
    if report.videos:
        parts.append("<h2>Videos</h2>")
        for video in report.videos:
            parts.append(
                f'<figure><video controls preload="metadata"><source src="{esc(video.src, quote=True)}"'
                f' type="{esc(video.mime, quote=True)}"></video>'
                f"<figcaption>{esc(video.label)}</figcaption></figure>"
            )
    for note in report.notes:
        parts.append(f'<p class="muted">{esc(note)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
