"""Inline SVG charts for the HTML report: bars, line plots, GPU timelines (no scripts, no links).

Every function is pure: data in, one ``<svg>`` string out. Hovering a bar, point or line shows
its exact figures (SVG ``<title>``), which browsers display without any script.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lambdabench.report.model import Phase, Spread

# distinguishable on white and for the common colour-vision deficiencies (Tableau 10's order)
PALETTE = (
    "#3b6fb6",
    "#e39b3a",
    "#5aa469",
    "#b6463b",
    "#7a5ab6",
    "#2a9d8f",
    "#c9a227",
    "#8c564b",
    "#d46a9f",
    "#6b7280",
)
DASHES = ("", "7 4", "2 3", "10 3 2 3")  # per sweep, when sweeps are compared
# the stacked "where the time went" bars, in the phases' own colours (darker than PHASE_FILL)
PHASE_BAR = {
    "boot": "#9a9a9a",
    "SSH wait": "#c4c4c4",
    "set-up": "#eaa54f",
    "benchmark": "#6fb86f",
    "pull": "#7fa3d9",
}
PHASE_FILL = {
    "SSH wait": "#ececec",
    "set-up": "#fbe3c2",
    "benchmark": "#d9eed9",
    "pull": "#d8e4f5",
    "teardown": "#ececec",
}
TRACK_COLOURS = {"gpu_util_pct": "#3b6fb6", "gpu_mem_mib": "#7a5ab6", "gpu_power_w": "#e39b3a"}
CHAR_W = 7.0  # a generous average width of a 12 px system-ui character, for layout

AxisKind = Literal["number", "seconds", "dollars", "log2", "percent"]
esc = html.escape


def _f(v: float) -> str:
    return f"{v:.1f}"


def text_width(text: str, size: float = 12) -> float:
    return len(text) * CHAR_W * size / 12


def fit(text: str, width: float, size: float = 12) -> str:
    """Text shortened with an ellipsis to fit width."""
    room = int(width / (CHAR_W * size / 12))
    return text if len(text) <= room else text[: max(1, room - 1)] + "…"


# --------------------------------------------------------------------------------------------------
# ticks


def nice_step(span: float, target: int = 5) -> float:
    """A round step (1, 2, 2.5 or 5 × 10^k) giving about `target` intervals over span."""
    raw = span / max(1, target)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * mag * (1 + 1e-9):
            return m * mag
    return 10 * mag


def linear_ticks(lo: float, hi: float, target: int = 5) -> tuple[float, float, list[float]]:
    """A domain widened to round ends, and the ticks on it."""
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, target)
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    count = int(round((end - start) / step))
    return start, end, [start + k * step for k in range(count + 1)]


def log2_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    """Powers of two covering [lo, hi], at most 9 ticks."""
    a = math.floor(math.log2(max(lo, 1e-9)))
    b = math.ceil(math.log2(max(hi, lo * 2, 1e-9)))
    if b <= a:
        b = a + 1
    exps = list(range(a, b + 1))
    stride = max(1, math.ceil(len(exps) / 9))
    return 2.0**a, 2.0**b, [2.0**e for e in exps[::stride]]


def si(v: float) -> str:
    """1.5M, 250k, 12, 0.5."""
    a = abs(v)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def _places(step: float) -> int:
    """Decimals that show every multiple of step exactly (2.5 → 1, 0.25 → 2, 50 → 0)."""
    for places in range(7):
        if abs(round(step, places) - step) <= 1e-9 * max(1.0, abs(step)):
            return places
    return 6


@dataclass(frozen=True)
class Axis:
    """One axis: its label, how its numbers read, and optional fixed ends."""

    label: str
    kind: AxisKind = "number"
    lo: float | None = None
    hi: float | None = None
    zero: bool = False  # always include 0
    tight: bool = False  # end at the data (ticks inside) rather than at round numbers


@dataclass(frozen=True)
class Scale:
    """A fitted axis: the domain in data units, where the ticks go, and how they read."""

    lo: float
    hi: float
    ticks: tuple[float, ...]
    labels: tuple[str, ...]
    title: str
    log: bool = False

    def frac(self, v: float) -> float:
        if self.log:
            lo, hi, v = math.log2(self.lo), math.log2(self.hi), math.log2(max(v, 1e-12))
        else:
            lo, hi = self.lo, self.hi
        return 0.0 if hi == lo else (v - lo) / (hi - lo)


def fit_scale(axis: Axis, values: Sequence[float], target: int = 5) -> Scale:
    """Fit an axis to the values it must show."""
    vals = [v for v in values if math.isfinite(v)]
    if axis.kind == "log2":
        vals = [v for v in vals if v > 0] or [1.0, 2.0]
        lo, hi, ticks = log2_ticks(min(vals), max(vals))
        return Scale(lo, hi, tuple(ticks), tuple(f"{t:,.0f}" for t in ticks), axis.label, True)
    lo = axis.lo if axis.lo is not None else (min(vals) if vals else 0.0)
    hi = axis.hi if axis.hi is not None else (max(vals) if vals else 1.0)
    if axis.zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    unit, div = "", 1.0
    if axis.kind == "seconds":
        span = max(abs(hi), abs(lo))
        unit, div = ("s", 1.0) if span <= 150 else ("min", 60.0) if span <= 3 * 3600 else ("h", 3600.0)
    start, end, ticks = linear_ticks(lo / div, hi / div, target)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    if axis.tight and hi > lo:
        start, end = lo / div, hi / div
        ticks = [x for x in ticks if start - 1e-9 <= x <= end + 1e-9]
    if axis.kind == "dollars":
        labels = [f"${t:,.{max(2, _places(step))}f}" for t in ticks]
    elif axis.kind == "percent":
        labels = [f"{t:.0f}%" for t in ticks]
    elif axis.kind == "seconds":
        labels = [f"{t:,.{_places(step)}f}" for t in ticks]
    else:
        labels = [si(t) if abs(t) >= 1000 else f"{t:,.{min(3, _places(step))}f}" for t in ticks]
    title = f"{axis.label} ({unit})" if unit else axis.label
    return Scale(start * div, end * div, tuple(t * div for t in ticks), tuple(labels), title)


def _tick_label(x: float, y: float, label: str, width: float) -> str:
    """A tick label centred under its tick, pulled inside the chart at either edge."""
    half = text_width(label, 11) / 2
    if x + half > width - 1:
        return f'<text x="{_f(width - 1)}" y="{_f(y)}" text-anchor="end" class="tick">{esc(label)}</text>'
    if x - half < 1:
        return f'<text x="1" y="{_f(y)}" class="tick">{esc(label)}</text>'
    return f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="middle" class="tick">{esc(label)}</text>'


# --------------------------------------------------------------------------------------------------
# line plots


@dataclass(frozen=True)
class Line:
    """A polyline; optional dots at each point."""

    label: str
    color: str
    points: tuple[tuple[float, float], ...]
    dash: str = ""
    width: float = 2.0
    opacity: float = 1.0
    dots: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded region between lo and hi along x (the spread of repeats)."""

    color: str
    points: tuple[tuple[float, float, float], ...]  # (x, lo, hi)
    opacity: float = 0.16


@dataclass(frozen=True)
class Whisker:
    """A vertical error bar at x from lo to hi."""

    color: str
    x: float
    lo: float
    hi: float
    title: str = ""


@dataclass(frozen=True)
class Marker:
    """A point to call out (a target reached, a saturation point), with its figures on hover."""

    color: str
    x: float
    y: float
    title: str
    shape: Literal["dot", "ring", "diamond"] = "ring"
    label: str = ""


@dataclass(frozen=True)
class Rule:
    """A horizontal reference line across the plot (a reward target)."""

    y: float
    label: str
    color: str = "#444"


@dataclass(frozen=True)
class LegendItem:
    label: str
    color: str
    dash: str = ""
    kind: Literal["line", "band", "marker", "diamond"] = "line"


@dataclass(frozen=True)
class Plot:
    """A line plot: lines over bands, with error bars, markers and reference rules."""

    title: str
    x: Axis
    y: Axis
    lines: tuple[Line, ...] = ()
    bands: tuple[Band, ...] = ()
    whiskers: tuple[Whisker, ...] = ()
    markers: tuple[Marker, ...] = ()
    rules: tuple[Rule, ...] = ()
    legend: tuple[LegendItem, ...] = ()
    empty_note: str = "no data"


def _legend_rows(items: Sequence[LegendItem], width: float) -> list[list[tuple[float, LegendItem]]]:
    rows: list[list[tuple[float, LegendItem]]] = [[]]
    x = 0.0
    for item in items:
        w = 30 + text_width(item.label) + 14
        if x + w > width and rows[-1]:
            rows.append([])
            x = 0.0
        rows[-1].append((x, item))
        x += w
    return rows if rows[0] else []


def _legend(items: Sequence[LegendItem], left: float, top: float, width: float) -> list[str]:
    parts = []
    for r, row in enumerate(_legend_rows(items, width)):
        y = top + r * 17
        for x, item in row:
            x0 = left + x
            if item.kind == "band":
                parts.append(
                    f'<rect x="{_f(x0)}" y="{_f(y - 5)}" width="24" height="10" fill="{item.color}"'
                    ' fill-opacity="0.25"/>'
                )
            elif item.kind == "diamond":
                cx, cy = x0 + 12, y
                parts.append(
                    f'<polygon points="{_f(cx)},{_f(cy - 5)} {_f(cx + 5)},{_f(cy)} {_f(cx)},{_f(cy + 5)}'
                    f' {_f(cx - 5)},{_f(cy)}" fill="{item.color}"/>'
                )
            elif item.kind == "marker":
                parts.append(
                    f'<circle cx="{_f(x0 + 12)}" cy="{_f(y)}" r="4" fill="#fff" stroke="{item.color}"'
                    ' stroke-width="2"/>'
                )
            else:
                dash = f' stroke-dasharray="{item.dash}"' if item.dash else ""
                parts.append(
                    f'<line x1="{_f(x0)}" y1="{_f(y)}" x2="{_f(x0 + 24)}" y2="{_f(y)}"'
                    f' stroke="{item.color}" stroke-width="2.5"{dash}/>'
                )
            parts.append(f'<text x="{_f(x0 + 30)}" y="{_f(y + 4)}" class="legend">{esc(item.label)}</text>')
    return parts


def _extent(plot: Plot) -> tuple[list[float], list[float]]:
    """Every x and y the plot draws (lines, bands, whiskers, markers, rules), to fit its scales to."""
    xs: list[float] = []
    ys: list[float] = []
    for line in plot.lines:
        xs += [p[0] for p in line.points]
        ys += [p[1] for p in line.points]
    for b in plot.bands:
        xs += [p[0] for p in b.points]
        ys += [v for p in b.points for v in p[1:]]
    for w in plot.whiskers:
        xs.append(w.x)
        ys += [w.lo, w.hi]
    for m in plot.markers:
        xs.append(m.x)
        ys.append(m.y)
    ys += [r.y for r in plot.rules]
    return xs, ys


def _marker(m: Marker, x: float, y: float, width: int) -> list[str]:
    """One marker at (x, y) in chart pixels, with its label beside it when it has one."""
    if m.shape == "diamond":
        shape = (
            f'<polygon points="{_f(x)},{_f(y - 6)} {_f(x + 6)},{_f(y)} {_f(x)},{_f(y + 6)}'
            f' {_f(x - 6)},{_f(y)}" fill="{m.color}" stroke="#fff" stroke-width="1.2"/>'
        )
    elif m.shape == "dot":
        shape = f'<circle cx="{_f(x)}" cy="{_f(y)}" r="4" fill="{m.color}"/>'
    else:
        shape = (
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="5.5" fill="#fff" fill-opacity="0.6"'
            f' stroke="{m.color}" stroke-width="2.2"/>'
        )
    parts = [f'<g class="marker"><title>{esc(m.title)}</title>{shape}</g>']
    if m.label:
        # beside the marker, on its left where the right would run off the chart
        right = x + 7 + text_width(m.label, 11) <= width - 2
        anchor = "" if right else ' text-anchor="end"'
        parts.append(
            f'<text x="{_f(x + 7 if right else x - 7)}" y="{_f(y - 7)}"{anchor}'
            f' class="marker-label">{esc(m.label)}</text>'
        )
    return parts


def svg_plot(plot: Plot, *, uid: str, width: int = 560, height: int = 300) -> str:
    """A line plot as inline SVG; uid keeps its clip path's id unique in the page."""
    xs, ys = _extent(plot)
    left, right, top = 62.0, 18.0, 34.0
    legend_rows = len(_legend_rows(plot.legend, width - left - right))
    bottom = 46.0 + 17 * legend_rows
    total_h = height + 17 * legend_rows
    pw, ph = width - left - right, total_h - top - bottom
    parts = [
        f'<svg class="chart plot" role="img" aria-label="{esc(plot.title)}" width="{width}"'
        f' height="{total_h}" viewBox="0 0 {width} {total_h}">',
        f"<title>{esc(plot.title)}</title>",
        f'<text x="0" y="18" class="chart-title">{esc(plot.title)}</text>',
    ]
    if not xs:
        parts.append(f'<text x="{left}" y="{top + 20}" class="muted">{esc(plot.empty_note)}</text>')
        parts.append("</svg>")
        return "".join(parts)
    sx = fit_scale(plot.x, xs, target=6)
    sy = fit_scale(plot.y, ys, target=5)

    def X(v: float) -> float:
        return left + pw * sx.frac(v)

    def Y(v: float) -> float:
        return top + ph * (1 - sy.frac(v))

    clip = f"clip-{uid}"
    parts.append(
        f'<defs><clipPath id="{clip}"><rect x="{left}" y="{top - 2}" width="{pw}" height="{ph + 4}"/></clipPath></defs>'
    )
    # grid and tick labels
    for t, label in zip(sy.ticks, sy.labels, strict=True):
        y = Y(t)
        parts.append(f'<line x1="{left}" y1="{_f(y)}" x2="{left + pw}" y2="{_f(y)}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{_f(y + 4)}" text-anchor="end" class="tick">{esc(label)}</text>')
    for t, label in zip(sx.ticks, sx.labels, strict=True):
        x = X(t)
        parts.append(f'<line x1="{_f(x)}" y1="{top}" x2="{_f(x)}" y2="{top + ph}" class="grid"/>')
        parts.append(_tick_label(x, top + ph + 15, label, width))
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame" fill="none"/>')
    parts.append(
        f'<text x="{_f(left + pw / 2)}" y="{_f(top + ph + 32)}" text-anchor="middle"'
        f' class="axis-label">{esc(sx.title)}</text>'
    )
    parts.append(
        f'<text transform="translate(12 {_f(top + ph / 2)}) rotate(-90)" text-anchor="middle"'
        f' class="axis-label">{esc(sy.title)}</text>'
    )
    parts.append(f'<g clip-path="url(#{clip})">')
    for b in plot.bands:
        if len(b.points) < 2:
            continue
        upper = " ".join(f"{_f(X(x))},{_f(Y(hi))}" for x, _lo, hi in b.points)
        lower = " ".join(f"{_f(X(x))},{_f(Y(lo))}" for x, lo, _hi in reversed(b.points))
        parts.append(f'<polygon points="{upper} {lower}" fill="{b.color}" fill-opacity="{b.opacity}" stroke="none"/>')
    for r in plot.rules:
        y = Y(r.y)
        parts.append(
            f'<line x1="{left}" y1="{_f(y)}" x2="{left + pw}" y2="{_f(y)}" stroke="{r.color}"'
            f' stroke-width="1.2" stroke-dasharray="5 4"><title>{esc(r.label)}</title></line>'
        )
    for line in plot.lines:
        if not line.points:
            continue
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        pts = " ".join(f"{_f(X(x))},{_f(Y(y))}" for x, y in line.points)
        parts.append(
            f'<polyline points="{pts}" fill="none" stroke="{line.color}"'
            f' stroke-width="{line.width}" stroke-opacity="{line.opacity}" stroke-linejoin="round"'
            f"{dash}><title>{esc(line.label)}</title></polyline>"
        )
        if line.dots or len(line.points) == 1:
            for x, y in line.points:
                parts.append(
                    f'<circle cx="{_f(X(x))}" cy="{_f(Y(y))}" r="3.2" fill="{line.color}"'
                    f' fill-opacity="{line.opacity}"><title>{esc(line.label)}: {si(x)}, {si(y)}'
                    "</title></circle>"
                )
    for w in plot.whiskers:
        x, y0, y1 = X(w.x), Y(w.lo), Y(w.hi)
        parts.append(
            f'<g stroke="{w.color}" stroke-width="1.4"><title>{esc(w.title)}</title>'
            f'<line x1="{_f(x)}" y1="{_f(y0)}" x2="{_f(x)}" y2="{_f(y1)}"/>'
            f'<line x1="{_f(x - 4)}" y1="{_f(y0)}" x2="{_f(x + 4)}" y2="{_f(y0)}"/>'
            f'<line x1="{_f(x - 4)}" y1="{_f(y1)}" x2="{_f(x + 4)}" y2="{_f(y1)}"/></g>'
        )
    parts.append("</g>")
    for r in plot.rules:
        label = fit(r.label, pw - 8, 11)
        parts.append(f'<text x="{_f(left + 5)}" y="{_f(Y(r.y) - 5)}" class="rule-label">{esc(label)}</text>')
    for m in plot.markers:
        parts += _marker(m, X(m.x), Y(m.y), width)
    parts += _legend(plot.legend, left, top + ph + 50, pw)
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------------
# bar charts


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart: one bar per label; stacked segments when several series are given.

    spreads, when given, add a min–max whisker and '± std' per bar; notes replace the value text
    (e.g. 'not reached'); colours give each bar its own colour (one series only).
    """

    title: str
    labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]  # (series name, one value per label)
    format_value: Callable[[float], str] = field(default=lambda v: f"{v:,.2f}")
    spreads: tuple[Spread | None, ...] = ()
    notes: tuple[str | None, ...] = ()
    colours: tuple[str, ...] = ()
    series_colours: tuple[str, ...] = ()  # one per series, for stacked bars


def _std_text(chart: Chart, s: Spread) -> str:
    return "± 0" if not s.std else f"± {chart.format_value(s.std)}"


def _value_text(chart: Chart, i: int) -> str:
    """What a bar says at its end: total, ± std over repeats, and any note."""
    shown = (
        "—"
        if all(ser[1][i] is None for ser in chart.series)
        else chart.format_value(sum(ser[1][i] or 0.0 for ser in chart.series))
    )
    s = chart.spreads[i] if i < len(chart.spreads) else None
    if s is not None and s.n > 1 and s.std is not None and shown != "—":
        shown += f" {_std_text(chart, s)}"
    note = chart.notes[i] if i < len(chart.notes) else None
    if note:
        shown = note if shown == "—" else f"{shown} ({note})"
    return shown


def svg_bar_chart(chart: Chart, *, width: int = 560) -> str:
    """An inline <svg> bar chart (no scripts, no external references)."""
    longest = max((len(label) for label in chart.labels), default=8)
    label_w = min(270.0, max(110.0, longest * CHAR_W + 16))
    texts = [_value_text(chart, i) for i in range(len(chart.labels))]
    value_w = max([60.0, *(text_width(x) + 16 for x in texts)])
    bar_h, gap, top = 22, 8, 30
    legend = len(chart.series) > 1
    rows = len(chart.labels)
    height = top + rows * (bar_h + gap) + (24 if legend else 4)
    totals = [sum(s[1][i] or 0.0 for s in chart.series) for i in range(rows)]
    spreads = chart.spreads or (None,) * rows
    peak = max([*totals, *(s.hi for s in spreads if s is not None)], default=0.0)
    plot_w = width - label_w - value_w
    parts = [
        f'<svg class="chart bars" role="img" aria-label="{esc(chart.title)}" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>{esc(chart.title)}</title>",
        f'<text x="0" y="18" class="chart-title">{esc(chart.title)}</text>',
    ]
    if peak <= 0 and not any(chart.notes):
        parts.append(f'<text x="{_f(label_w)}" y="{top + 14}" class="muted">no data</text>')
    for i, label in enumerate(chart.labels):
        y = top + i * (bar_h + gap)
        parts.append(
            f'<text x="{_f(label_w - 8)}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">'
            f"<title>{esc(label)}</title>{esc(fit(label, label_w - 10))}</text>"
        )
        x = label_w
        for s_idx, (name, values) in enumerate(chart.series):
            v = values[i]
            if not v or peak <= 0:
                continue
            w = max(1.0, plot_w * v / peak)
            if chart.colours and len(chart.series) == 1:
                color = chart.colours[i % len(chart.colours)]
            elif chart.series_colours:
                color = chart.series_colours[s_idx % len(chart.series_colours)]
            else:
                color = PALETTE[s_idx % len(PALETTE)]
            parts.append(
                f'<rect x="{_f(x)}" y="{y}" width="{_f(w)}" height="{bar_h}" fill="{color}">'
                f"<title>{esc(label)} — {esc(name)}: {esc(chart.format_value(v))}</title></rect>"
            )
            x += w
        s = spreads[i] if i < len(spreads) else None
        if s is not None and s.n > 1 and s.std is not None and peak > 0:
            x0, x1 = label_w + plot_w * s.lo / peak, label_w + plot_w * s.hi / peak
            cy = y + bar_h / 2
            parts.append(
                f'<g stroke="#222" stroke-width="1.4"><title>{esc(label)}: min {esc(chart.format_value(s.lo))},'
                f" max {esc(chart.format_value(s.hi))} over {s.n} runs</title>"
                f'<line x1="{_f(x0)}" y1="{_f(cy)}" x2="{_f(x1)}" y2="{_f(cy)}"/>'
                f'<line x1="{_f(x0)}" y1="{_f(cy - 6)}" x2="{_f(x0)}" y2="{_f(cy + 6)}"/>'
                f'<line x1="{_f(x1)}" y1="{_f(cy - 6)}" x2="{_f(x1)}" y2="{_f(cy + 6)}"/></g>'
            )
            x = max(x, x1)
        parts.append(f'<text x="{_f(x + 6)}" y="{y + bar_h * 0.7:.1f}">{esc(texts[i])}</text>')
    if legend:
        y = height - 8
        x = label_w
        for s_idx, (name, _values) in enumerate(chart.series):
            colours = chart.series_colours or PALETTE
            color = colours[s_idx % len(colours)]
            parts.append(f'<rect x="{_f(x)}" y="{y - 10}" width="10" height="10" fill="{color}"/>')
            parts.append(f'<text x="{_f(x + 14)}" y="{y}">{esc(name)}</text>')
            x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------------
# GPU timelines


@dataclass(frozen=True)
class TimelineTrack:
    """One strip of a timeline: a telemetry curve with its own y scale."""

    label: str  # "GPU util (%)"
    color: str
    points: tuple[tuple[float, float], ...]
    y_max: float | None = None  # fixed top (100 for a percentage)
    format_value: Callable[[float], str] = field(default=si)


def svg_timeline(
    title: str,
    tracks: Sequence[TimelineTrack],
    phases: Sequence[Phase],
    *,
    x_end: float | None = None,
    uid: str,
    width: int = 560,
) -> str:
    """Stacked telemetry strips over one time axis (since billing start), phases shaded behind."""
    left, right, top, strip, gap = 100.0, 14.0, 40.0, 62.0, 10.0
    pw = width - left - right
    n = max(1, len(tracks))
    plot_h = n * strip + (n - 1) * gap
    height = int(top + plot_h + 42)
    ends = [p.end_s for p in phases] + [pt[0] for t in tracks for pt in t.points]
    end = x_end if x_end is not None else (max(ends) if ends else 1.0)
    sx = fit_scale(
        Axis("time since billing start", "seconds", lo=0.0, hi=max(end, 1.0), tight=True),
        [0.0, end],
        6,
    )

    def X(v: float) -> float:
        return left + pw * sx.frac(v)

    parts = [
        f'<svg class="chart timeline" role="img" aria-label="{esc(title)}" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>{esc(title)}</title>",
        f'<text x="0" y="16" class="chart-title">{esc(fit(title, width - 10, 13))}</text>',
        f'<defs><clipPath id="clip-{uid}"><rect x="{left}" y="{top}" width="{pw}"'
        f' height="{plot_h}"/></clipPath></defs>',
    ]
    # phases: shaded behind every strip, named above the first where there is room
    for ph in phases:
        x0, x1 = X(max(0.0, ph.start_s)), X(max(0.0, ph.end_s))
        if x1 - x0 < 0.5:
            continue
        fill = PHASE_FILL.get(ph.name, "#eeeeee")
        parts.append(
            f'<rect x="{_f(x0)}" y="{top}" width="{_f(x1 - x0)}" height="{plot_h}" fill="{fill}"'
            f' class="phase"><title>{esc(ph.name)}: {_dur(ph.end_s - ph.start_s)}'
            f" ({_dur(ph.start_s)} → {_dur(ph.end_s)})</title></rect>"
        )
        if x1 - x0 >= text_width(ph.name, 11) + 4:
            parts.append(
                f'<text x="{_f((x0 + x1) / 2)}" y="{top - 5}" text-anchor="middle"'
                f' class="phase-label">{esc(ph.name)}</text>'
            )
    for t, label in zip(sx.ticks, sx.labels, strict=True):
        x = X(t)
        parts.append(f'<line x1="{_f(x)}" y1="{top}" x2="{_f(x)}" y2="{top + plot_h}" class="grid"/>')
        parts.append(_tick_label(x, top + plot_h + 15, label, width))
    parts.append(
        f'<text x="{_f(left + pw / 2)}" y="{_f(top + plot_h + 32)}" text-anchor="middle"'
        f' class="axis-label">{esc(sx.title)}</text>'
    )
    if not tracks:
        parts.append(
            f'<text x="{_f(left + 8)}" y="{_f(top + strip / 2)}" class="muted">no GPU telemetry recorded</text>'
        )
    for k, track in enumerate(tracks):
        y0 = top + k * (strip + gap)
        values = [v for _x, v in track.points]
        peak = track.y_max if track.y_max is not None else max(values, default=0.0)
        ymax = linear_ticks(0.0, peak or 1.0, 2)[1]

        def Y(v: float, y0: float = y0, ymax: float = ymax) -> float:
            return y0 + strip * (1 - min(1.0, max(0.0, v / ymax)))

        parts.append(f'<rect x="{left}" y="{_f(y0)}" width="{pw}" height="{strip}" fill="none" class="frame"/>')
        parts.append(
            f'<text x="{left - 8}" y="{_f(y0 + 14)}" text-anchor="end" class="track-label">{esc(track.label)}</text>'
        )
        parts.append(
            f'<text x="{left - 8}" y="{_f(y0 + 28)}" text-anchor="end" class="tick">'
            f"0–{esc(track.format_value(ymax))}</text>"
        )
        if values:
            mean = sum(values) / len(values)
            parts.append(
                f'<text x="{left - 8}" y="{_f(y0 + 42)}" text-anchor="end" class="tick">'
                f"peak {esc(track.format_value(max(values)))}</text>"
            )
            pts = " ".join(f"{_f(X(x))},{_f(Y(v))}" for x, v in track.points)
            area = f"{_f(X(track.points[0][0]))},{_f(y0 + strip)} {pts} {_f(X(track.points[-1][0]))},{_f(y0 + strip)}"
            parts.append(
                f'<g clip-path="url(#clip-{uid})"><polygon points="{area}" fill="{track.color}"'
                ' fill-opacity="0.14" stroke="none"/>'
                f'<polyline points="{pts}" fill="none" stroke="{track.color}" stroke-width="1.6">'
                f"<title>{esc(track.label)}: mean {esc(track.format_value(mean))},"
                f" peak {esc(track.format_value(max(values)))}</title></polyline></g>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _dur(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
