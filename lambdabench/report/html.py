"""The HTML report: one self-contained file, inline CSS and SVG charts, no scripts, no links out.

Sections, each only when the ledger has its data: the side-by-side table; bars (cost per run,
throughput, $/M env-steps, where the time went); learning curves on time and on dollars with the
reward target, time- and cost-to-reward; throughput scaling over number of envs and GPU count;
GPU timelines with the run's phases; the runs; videos. docs/report.md explains each chart.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from lambdabench.cost import format_dollars
from lambdabench.ledger import iso_utc
from lambdabench.report import curves as cv
from lambdabench.report import methods
from lambdabench.report.cells import (
    RUN_COLUMNS,
    _summary_lines,
    _transposed,
    format_cell,
    format_mib,
    format_seconds,
    format_small_dollars,
)
from lambdabench.report.headline import headline_lines
from lambdabench.report.model import (
    COST_NOTE,
    SIMULATED_NOTE,
    Report,
    RewardPoint,
    RewardTarget,
    RunCurves,
    RunReport,
    Spread,
)
from lambdabench.report.summary import efficiency
from lambdabench.report.svg import (
    DASHES,
    PALETTE,
    PHASE_BAR,
    TRACK_COLOURS,
    Axis,
    Band,
    Chart,
    LegendItem,
    Line,
    Marker,
    Plot,
    Rule,
    TimelineTrack,
    Whisker,
    si,
    svg_bar_chart,
    svg_plot,
    svg_timeline,
)

_PALETTE = PALETTE  # the name the Chromium test reads the bar colours by
MAX_TIMELINES = 24  # GPU timelines drawn; the rest are named in a note

esc = html.escape


@dataclass(frozen=True)
class Style:
    """How one group is drawn in every chart."""

    color: str
    dash: str = ""


def _tint(color: str, amount: float) -> str:
    """The colour mixed with white (0: itself, 1: white)."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    mix = [round(c + (255 - c) * amount) for c in (r, g, b)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def group_styles(report: Report) -> dict[str, Style]:
    """A colour per group; compared sweeps share a type's colour and differ by dash and tint."""
    styles: dict[str, Style] = {}
    if not report.compare:
        for i, g in enumerate(report.groups):
            styles[g.label or g.instance_type] = Style(PALETTE[i % len(PALETTE)])
        return styles
    by_type: dict[str, str] = {}
    for g in report.groups:
        color = by_type.setdefault(g.instance_type, PALETTE[len(by_type) % len(PALETTE)])
        k = report.sweep_ids.index(g.sweep_id) if g.sweep_id in report.sweep_ids else 0
        styles[g.label] = Style(color, DASHES[k % len(DASHES)])
    return styles


def _bar_colours(report: Report, styles: dict[str, Style]) -> tuple[str, ...]:
    out = []
    for g in report.groups:
        style = styles[g.label or g.instance_type]
        k = report.sweep_ids.index(g.sweep_id) if report.compare and g.sweep_id in report.sweep_ids else 0
        out.append(_tint(style.color, min(0.6, 0.3 * k)))
    return tuple(out)


def _money(v: float) -> str:
    return format_dollars(Decimal(repr(v)))


def _labels(report: Report) -> tuple[str, ...]:
    return tuple(g.label or g.instance_type for g in report.groups)


# --------------------------------------------------------------------------------------------------
# bars


def report_charts(report: Report) -> list[Chart]:
    """The bar charts of the HTML report, one per comparison; spread whiskers where types repeat."""
    labels = _labels(report)
    colours = _bar_colours(report, group_styles(report))

    def series(key: str) -> tuple[float | None, ...]:
        return tuple(None if getattr(g, key) is None else float(getattr(g, key)) for g in report.groups)

    def spreads(key: str) -> tuple[Spread | None, ...]:
        return tuple(g.spreads.get(key) for g in report.groups)

    charts = [
        Chart(
            "Cost per run (policy estimate)",
            labels,
            (("$/run", series("usd_per_run")),),
            _money,
            spreads=spreads("usd_per_run"),
            colours=colours,
        ),
        Chart(
            "Throughput (env-steps/s)",
            labels,
            (("env-steps/s", series("env_steps_per_s")),),
            lambda v: f"{v:,.0f}",
            spreads=spreads("env_steps_per_s"),
            colours=colours,
        ),
        Chart(
            "Cost per million env-steps",
            labels,
            (("$/M steps", series("usd_per_million_steps")),),
            lambda v: format_small_dollars(Decimal(repr(v))),
            spreads=spreads("usd_per_million_steps"),
            colours=colours,
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
            series_colours=tuple(PHASE_BAR.values()),
        ),
    ]
    if report.reward_target is not None:
        notes = tuple(
            None
            if not g.reward_runs
            else "not reached"
            if not g.reward_reached
            else None
            if g.reward_reached == g.reward_runs
            else f"{g.reward_reached} of {g.reward_runs} reached"
            for g in report.groups
        )
        charts += [
            Chart(
                "Time to reward target (from billing start)",
                labels,
                (("time", series("time_to_reward_s")),),
                format_seconds,
                spreads=spreads("time_to_reward_s"),
                notes=notes,
                colours=colours,
            ),
            Chart(
                "Cost to reward target (billed per minute)",
                labels,
                (("cost", series("cost_to_reward_usd")),),
                _money,
                spreads=spreads("cost_to_reward_usd"),
                notes=notes,
                colours=colours,
            ),
        ]
    return charts


# --------------------------------------------------------------------------------------------------
# learning curves


def _curve_runs(report: Report) -> list[tuple[RunReport, RunCurves]]:
    by_id = {c.run_id: c for c in report.curves}
    return [(r, by_id[r.run_id]) for r in report.runs if r.run_id in by_id]


def _run_name(r: RunReport) -> str:
    rep = f", repeat {r.repeat}" if r.repeat is not None else ""
    return f"{r.group or r.instance_type} (run {r.run_id}{rep})"


def _group_reward_runs(
    pairs: list[tuple[RunReport, RunCurves]], label: str, which: str
) -> list[tuple[RunReport, RunCurves, list[tuple[float, float]]]]:
    """The runs of one group with their reward points on the x axis `which` (points without an x dropped)."""
    runs = []
    for r, c in pairs:
        if (r.group or r.instance_type) != label:
            continue
        pts = [(_x(p, which), p.reward) for p in c.reward]
        pts2 = [(x, y) for x, y in pts if x is not None]
        if pts2:
            runs.append((r, c, pts2))
    return runs


def _reach_marker(r: RunReport, c: RunCurves, target: RewardTarget | None, which: str, color: str) -> Marker | None:
    """The marker where run r first reached the reward target, or None (no target, never reached, no x)."""
    if target is None:
        return None
    hit = cv.first_reach(c, target.value)
    hit_x = None if hit is None else _x(hit, which)
    if hit is None or hit_x is None:
        return None
    # on the dollars axis the ring sits at the money accrued by the second; the bill (per minute) is the table's
    accrued = "" if hit.usd_accrued is None else f"{format_small_dollars(Decimal(repr(hit.usd_accrued)))} accrued, "
    return Marker(
        color,
        hit_x,
        hit.reward,
        f"{_run_name(r)} reached {target.value:,.4g} after"
        f" {format_seconds(r.time_to_reward_s or 0.0)},"
        f" {accrued}{format_dollars(r.cost_to_reward_usd)} billed",
    )


def learning_plots(report: Report) -> list[Plot]:
    """Mean reward against time since billing start, dollars accrued (by the second), and env-steps."""
    styles = group_styles(report)
    pairs = [(r, c) for r, c in _curve_runs(report) if c.reward]
    if not pairs:
        return []
    target = report.reward_target
    plots = []
    axes: list[tuple[str, Axis, str]] = [
        (
            "Mean reward against time since billing start",
            Axis("time since billing start", "seconds", lo=0.0),
            "time",
        ),
        (
            "Mean reward against dollars spent",
            Axis("dollars accrued at the run's price (by the second)", "dollars", lo=0.0),
            "usd",
        ),
        (
            "Mean reward against env-steps (same learning, any GPU?)",
            Axis("env-steps", "number", lo=0.0),
            "steps",
        ),
    ]
    for title, x_axis, which in axes:
        lines: list[Line] = []
        bands: list[Band] = []
        markers: list[Marker] = []
        legend: list[LegendItem] = []
        for g in report.groups:
            label = g.label or g.instance_type
            style = styles[label]
            runs = _group_reward_runs(pairs, label, which)
            if not runs:
                continue
            many = len(runs) > 1
            for r, c, pts2 in runs:
                lines.append(
                    Line(
                        _run_name(r),
                        style.color,
                        tuple(cv.thin(pts2)),
                        dash=style.dash,
                        width=1.3 if many else 2.2,
                        opacity=0.55 if many else 1.0,
                    )
                )
                marker = _reach_marker(r, c, target, which, style.color)
                if marker is not None:
                    markers.append(marker)
            if many:
                b = cv.band([pts2 for _r, _c, pts2 in runs])
                if b:
                    bands.append(Band(style.color, tuple((x, lo, hi) for x, _m, lo, hi in b)))
                    lines.append(
                        Line(
                            f"{label}: mean of {len(runs)} runs",
                            style.color,
                            tuple((x, m) for x, m, _lo, _hi in b),
                            dash=style.dash,
                            width=2.6,
                        )
                    )
            legend.append(
                LegendItem(
                    label + (f" ({len(runs)} runs: mean, min–max band)" if many else ""),
                    style.color,
                    style.dash,
                )
            )
        if not lines:
            continue
        rules: tuple[Rule, ...] = ()
        if target is not None:
            rules = (Rule(target.value, f"target {target.value:,.4g}"),)
            legend.append(LegendItem("reached the target", "#444", kind="marker"))
        plots.append(
            Plot(
                title,
                x_axis,
                Axis("mean episode reward"),
                lines=tuple(lines),
                bands=tuple(bands),
                markers=tuple(markers),
                rules=rules,
                legend=tuple(legend),
            )
        )
    return plots


def _x(p: RewardPoint, which: str) -> float | None:
    if which == "time":
        return p.elapsed_s
    if which == "usd":
        return p.usd_accrued  # continuous: per-minute billed dollars would stack a short run on one x
    return p.env_steps


def _to_reward_table(report: Report) -> str:
    rows = []
    for r in report.runs:
        if r.reward_reached is None:
            continue
        if r.reward_reached:
            cells = [
                format_seconds(r.time_to_reward_s) if r.time_to_reward_s is not None else "—",
                format_dollars(r.cost_to_reward_usd),
                format_cell(r.steps_to_reward, "rate"),
            ]
        else:
            cells = ["not reached", "—", "—"]
        rows.append(
            [
                r.group or r.instance_type,
                str(r.run_id),
                "—" if r.repeat is None else str(r.repeat),
                format_cell(r.reward, "float"),
                *cells,
                format_cell(r.cost_usd, "money"),
            ]
        )
    if not rows:
        return ""
    header = [
        "GPU type",
        "run",
        "repeat",
        "final reward",
        "time to reward",
        "cost to reward",
        "env-steps to reward",
        "whole run cost",
    ]
    return _html_table(header, rows, (0,))


# --------------------------------------------------------------------------------------------------
# scaling


def _memory_markers(report: Report, label: str, color: str, pts: tuple[tuple[float, float], ...]) -> list[Marker]:
    """The scaling curve's points annotated with the type's steady-state GPU memory there."""
    memory = {t.num_envs: t.gpu_mem_mib for t in report.tails if t.group == label and t.gpu_mem_mib is not None}
    return [
        Marker(
            color,
            x,
            y,
            f"{label}, {x:,.0f} envs: {format_mib(mib)} GPU memory after warm-up",
            shape="dot",
            label=format_mib(mib, 1),
        )
        for x, y in pts
        if (mib := memory.get(x)) is not None
    ]


def scaling_plots(report: Report) -> list[tuple[Plot, str]]:
    """env-steps/s against number of envs (per type) and against GPU count (per GPU model)."""
    out = []
    if report.num_envs_scaling:
        out.append(_num_envs_plot(report))
    if report.gpu_scaling:
        out.append(_gpu_count_plot(report))
    return out


def _num_envs_plot(report: Report) -> tuple[Plot, str]:
    """env-steps/s against number of envs, one line per type, with saturation and memory markers."""
    styles = group_styles(report)
    lines, whiskers, markers, legend = [], [], [], []
    for curve in report.num_envs_scaling:
        style = styles.get(curve.label, Style(PALETTE[0]))
        pts = tuple((p.x, p.rate.mean) for p in curve.points)
        lines.append(Line(curve.label, style.color, pts, dash=style.dash, dots=True))
        for p in curve.points:
            if p.rate.n > 1:
                whiskers.append(
                    Whisker(
                        style.color,
                        p.x,
                        p.rate.lo,
                        p.rate.hi,
                        f"{curve.label}, {p.x:,.0f} envs: {si(p.rate.lo)}–{si(p.rate.hi)}"
                        f" env-steps/s over {p.rate.n} runs",
                    )
                )
        if curve.saturates_at is not None:
            y = next(p.rate.mean for p in curve.points if p.x == curve.saturates_at)
            markers.append(
                Marker(
                    style.color,
                    curve.saturates_at,
                    y,
                    f"{curve.label}: {report.saturation_fraction:.0%} of its peak"
                    f" ({si(curve.peak)} env-steps/s) from {curve.saturates_at:,.0f} envs",
                    shape="diamond",
                    label=f"{curve.saturates_at:,.0f}",
                )
            )
        legend.append(LegendItem(curve.label, style.color, style.dash))
        markers.extend(_memory_markers(report, curve.label, style.color, pts))
    legend.append(LegendItem(f"saturates ({report.saturation_fraction:.0%} of peak)", "#444", kind="diamond"))
    return (
        Plot(
            "Throughput against number of environments",
            Axis("number of environments (log scale)", "log2"),
            Axis("env-steps/s", zero=True),
            lines=tuple(lines),
            whiskers=tuple(whiskers),
            markers=tuple(markers),
            legend=tuple(legend),
        ),
        "Each point is the mean over the runs that measured that many environments"
        " (bars: min–max). The diamond marks the fewest environments reaching"
        f" {report.saturation_fraction:.0%} of the type's peak: past it, more environments"
        " add little throughput."
        + (
            " Dots are labelled with the steady-state GPU memory at that many environments."
            if any(t.gpu_mem_mib is not None for t in report.tails)
            else ""
        ),
    )


def _gpu_count_plot(report: Report) -> tuple[Plot, str]:
    """env-steps/s against GPU count, one line per GPU model, each beside its linear scaling."""
    lines, whiskers, legend = [], [], []
    for k, curve in enumerate(report.gpu_scaling):
        color = PALETTE[k % len(PALETTE)]
        pts = tuple((p.x, p.rate.mean) for p in curve.points)
        effs = efficiency(curve)
        lines.append(Line(curve.label, color, pts, dots=True))
        first = curve.points[0]
        ideal = tuple((p.x, first.rate.mean * p.x / first.x) for p in curve.points)
        lines.append(
            Line(
                f"{curve.label}: linear scaling from {first.x:,.0f} GPU(s)",
                color,
                ideal,
                dash="4 4",
                width=1.2,
                opacity=0.7,
            )
        )
        for p, eff in zip(curve.points, effs, strict=True):
            if p.rate.n < 2:
                continue
            whiskers.append(
                Whisker(
                    color,
                    p.x,
                    p.rate.lo,
                    p.rate.hi,
                    f"{curve.label}, {p.x:,.0f} GPUs: {si(p.rate.mean)} env-steps/s, {eff:.0%} of linear",
                )
            )
        legend += [LegendItem(curve.label, color), LegendItem("linear", color, "4 4")]
    return (
        Plot(
            "Throughput against GPU count",
            Axis("GPUs in the run, all nodes (log scale)", "log2"),
            Axis("env-steps/s", zero=True),
            lines=tuple(lines),
            whiskers=tuple(whiskers),
            legend=tuple(legend),
        ),
        "Solid: measured env-steps/s of all GPUs together; dashed: perfect linear scaling"
        " from the fewest GPUs measured. The gap is what communication and set-up cost.",
    )


# --------------------------------------------------------------------------------------------------
# GPU timelines


def timelines(report: Report) -> list[tuple[str, str]]:
    """(svg, caption) per run that recorded GPU telemetry."""
    out = []
    for k, (r, c) in enumerate(_curve_runs(report)):
        if not c.telemetry:
            continue
        tracks = []
        for t in c.telemetry:
            pts = tuple(cv.thin(t.points))
            color = TRACK_COLOURS.get(t.name, PALETTE[0])
            if t.name == "gpu_util_pct":
                tracks.append(TimelineTrack("GPU util (%)", color, pts, 100.0, lambda v: f"{v:.0f}%"))
            elif t.name == "gpu_mem_mib":
                gib = tuple((x, v / 1024) for x, v in pts)
                tracks.append(TimelineTrack("memory (GiB)", color, gib, None, lambda v: f"{v:,.1f} GiB"))
            elif t.name == "gpu_power_w":
                tracks.append(TimelineTrack("power (W)", color, pts, None, lambda v: f"{v:,.0f} W"))
        title = f"{_run_name(r)} — billed {r.billed_minutes} min, {format_dollars(r.cost_usd)}"
        svg = svg_timeline(title, tracks, c.phases, x_end=c.billed_s, uid=f"tl{k}")
        phases = " · ".join(f"{p.name} {format_seconds(p.end_s - p.start_s)}" for p in c.phases)
        out.append((svg, phases))
    return out


# --------------------------------------------------------------------------------------------------
# the page


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1180px;color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}
h2{margin-top:2.2rem;border-bottom:1px solid #e3e3e3;padding-bottom:.2rem}
.banner{background:#fff3cd;border:1px solid #e0b84a;padding:.6rem .9rem;border-radius:6px;font-weight:600;margin:1rem 0}
.muted{color:#777;fill:#777}
.lead{max-width:75ch}
table{border-collapse:collapse;margin:1rem 0;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:right;white-space:nowrap}
th.t,td.t{text-align:left}
thead th{background:#f4f6f8}
tr.sub td{color:#666;font-size:12px;border-bottom-color:#f0f0f0}
.charts{display:flex;flex-wrap:wrap;gap:1.2rem 1.5rem}
.charts figure{margin:0;width:560px}
figcaption{font-size:12.5px;color:#555;margin-top:.2rem;max-width:560px}
svg.chart{font-size:12px;fill:#222;overflow:visible}
svg .chart-title{font-weight:600;font-size:13px}
svg .grid{stroke:#e6e6e6;stroke-width:1}
svg .frame{stroke:#bbb;stroke-width:1}
svg .tick{font-size:11px;fill:#555}
svg .axis-label{font-size:11.5px;fill:#333}
svg .legend{font-size:11.5px}
svg .rule-label{font-size:11px;fill:#333}
svg .marker-label{font-size:11px;font-weight:600}
svg .phase-label{font-size:11px;fill:#555}
svg .track-label{font-size:11.5px;font-weight:600}
video{max-width:100%;border-radius:6px}
.videos figure{margin:0 0 1.5rem 0}
.scroll{overflow-x:auto}
"""


def _html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    text_columns: Sequence[int] = (0,),
    sub_rows: Sequence[int] = (),
) -> str:
    def cls(i: int) -> str:
        return ' class="t"' if i in text_columns else ""

    # a compared sweep's name goes on a second line under its type
    head = "".join(
        f"<th{cls(i)}>" + "<br>".join(esc(part) for part in h.split(" · ", 1)) + "</th>" for i, h in enumerate(header)
    )
    body = "".join(
        ('<tr class="sub">' if n in sub_rows else "<tr>")
        + "".join(f"<td{cls(i)}>{esc(c.strip())}</td>" for i, c in enumerate(row))
        + "</tr>"
        for n, row in enumerate(rows)
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _figure(svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f"<figure>{svg}{cap}</figure>"


_BAR_CAPTIONS = {
    "Cost per run (policy estimate)": "Mean billed cost of one run; whisker: cheapest to dearest"
    " repeat, ± sample standard deviation.",
    "Throughput (env-steps/s)": "Environment steps per second, all environments together;"
    " whisker: min–max over repeats.",
    "Cost per million env-steps": "Billed dollars over env-steps run: what a million steps of"
    " this workload costs on the type.",
    "Where the time went (mean per run)": "Boot is before billing starts (policy estimate); the rest is billed.",
    "Time to reward target (from billing start)": "When each run first logged a mean reward at"
    " or above the target, counted from billing start; mean over the runs that reached it.",
    "Cost to reward target (billed per minute)": "What those runs had been billed at that moment:"
    " per-minute, rounded up, at the run's price. The figure that weighs a cheap slow GPU against"
    " an expensive fast one.",
}


def _learning_section(report: Report, charts: Sequence[Chart]) -> list[str]:
    """The learning curves, their to-reward bars and table; nothing when no run logged a reward."""
    learning = learning_plots(report)
    if not learning:
        return []
    parts: list[str] = []
    parts.append("<h2>Learning curves</h2>")
    if report.reward_target is not None:
        parts.append(f'<p class="lead">{esc(report.reward_target.rule)}.</p>')
    parts.append('<div class="charts">')
    captions = [
        "Mean episode reward (as the RL library logs it) against wall-clock time since the"
        " run's billing start. Thin lines: repeats; band: their min–max; bold: their mean;"
        " rings: where each run first reached the target.",
        "The same curves against the dollars the run had accrued at each moment: seconds since"
        " billing start × its price per hour ÷ 3,600, without the per-minute rounding of the bill, so"
        " a run of a few minutes still spreads out. The cheapest way to a reward is the leftmost curve;"
        " the bills (per minute, rounded up) are in the tables.",
        "The same curves against env-steps: lines that coincide learn the same per step,"
        " so the GPUs differ only in speed.",
    ]
    figures = [_figure(svg_plot(plot, uid=f"lc{k}"), captions[min(k, 2)]) for k, plot in enumerate(learning)]
    bars = [
        _figure(svg_bar_chart(chart), _BAR_CAPTIONS.get(chart.title, ""))
        for chart in charts
        if chart.title.startswith(("Time to reward", "Cost to reward"))
    ]
    # two to a row: the curves on time and on dollars, then their to-reward bars beneath
    parts.extend(figures[:2] + bars + figures[2:])
    parts.append("</div>")
    parts.append(_to_reward_table(report))
    return parts


def _timelines_section(report: Report) -> list[str]:
    """The GPU timelines (at most MAX_TIMELINES); nothing when no run recorded telemetry."""
    lines = timelines(report)
    if not lines:
        return []
    parts: list[str] = []
    parts.append("<h2>GPU timelines</h2>")
    parts.append(
        '<p class="lead">Utilisation (mean over the run\'s GPUs), memory and power (summed)'
        " over the billed time, from billing start to terminate, with the phases shaded:"
        " where the billed minutes went.</p>"
    )
    parts.append('<div class="charts">')
    parts.extend(_figure(svg, caption) for svg, caption in lines[:MAX_TIMELINES])
    parts.append("</div>")
    if len(lines) > MAX_TIMELINES:
        parts.append(
            f'<p class="muted">{len(lines) - MAX_TIMELINES} more runs recorded telemetry;'
            " their series are in the ledger.</p>"
        )
    return parts


def render_html(report: Report) -> str:
    """One self-contained HTML file: inline CSS, inline SVG charts, videos as data: URIs or relative links."""
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
    answer = headline_lines(report)
    if answer:  # the answer first, then the charts, then the tables
        parts.append(
            '<h2>Answer</h2><ul class="answer">' + "".join(f"<li>{esc(line)}</li>" for line in answer) + "</ul>"
        )
    charts = report_charts(report)
    parts.append('<h2>Cost and throughput</h2><div class="charts">')
    parts.extend(
        _figure(svg_bar_chart(chart), _BAR_CAPTIONS.get(chart.title, ""))
        for chart in charts
        if not chart.title.startswith(("Time to reward", "Cost to reward"))
    )
    parts.append("</div>")
    parts.extend(_learning_section(report, charts))
    scaling = scaling_plots(report)
    if scaling:
        parts.append('<h2>Scaling</h2><div class="charts">')
        for k, (plot, caption) in enumerate(scaling):
            parts.append(_figure(svg_plot(plot, uid=f"sc{k}"), caption))
        parts.append("</div>")
    parts.extend(_timelines_section(report))
    header, rows = _transposed(report)
    if report.sort_by:
        order = f"sorted by {report.sort_by}"
    elif report.order_given:
        order = "in the order the types were given"
    else:
        order = "in the order they ran"
    parts.append("<h2>By GPU type</h2>")
    parts.append(
        f'<p class="muted">One column per {"GPU type and sweep" if report.compare else "GPU type"},'
        f" {esc(order)}. Where a type ran more than once, ± is the sample standard deviation"
        " over its runs and min–max their range.</p>"
    )
    subs = [i for i, row in enumerate(rows) if row[0].startswith(("  ±", "  min", "  median", "  95%"))]
    parts.append(_html_table(header, rows, sub_rows=subs))
    parts.append("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in _summary_lines(report)) + "</ul>")
    parts.append(f'<p class="muted">{esc(COST_NOTE)}</p>')
    parts.append(methods.html_fragment(report))
    parts.append("<h2>Runs</h2>")
    cols = [
        c
        for c in RUN_COLUMNS
        if c.key != "simulated"
        and (c.key in ("run_id", "instance_type") or any(getattr(r, c.key) is not None for r in report.runs))
    ]
    parts.append(
        _html_table(
            [c.label for c in cols],
            [[format_cell(getattr(r, c.key), c.kind) for c in cols] for r in report.runs],
            [i for i, c in enumerate(cols) if c.kind == "text"],
        )
    )
    if report.videos:
        parts.append('<h2>Videos</h2><div class="videos">')
        for video in report.videos:
            parts.append(
                f'<figure><video controls preload="metadata"><source src="{esc(video.src, quote=True)}"'
                f' type="{esc(video.mime, quote=True)}"></video>'
                f"<figcaption>{esc(video.label)}</figcaption></figure>"
            )
        parts.append("</div>")
    for note in report.notes:
        parts.append(f'<p class="muted">{esc(note)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
