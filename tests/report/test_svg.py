"""SVG building blocks: axes, ticks, labels kept inside, bars with spread, timelines."""

from __future__ import annotations

import re

import pytest

from lambdabench.report.model import Phase, Spread
from lambdabench.report.svg import (
    Axis,
    Chart,
    Line,
    Marker,
    Plot,
    TimelineTrack,
    fit_scale,
    linear_ticks,
    log2_ticks,
    nice_step,
    svg_bar_chart,
    svg_plot,
    svg_timeline,
)


def test_nice_steps_and_ticks() -> None:
    assert [nice_step(s) for s in (10, 7, 1.3, 0.04, 2400)] == [2, 2, 0.5, 0.01, 500]
    lo, hi, ticks = linear_ticks(0.3, 9.2)
    assert (lo, hi) == (0, 10) and ticks == [0, 2, 4, 6, 8, 10]
    lo, hi, ticks = linear_ticks(5.0, 5.0)  # a flat line still gets an axis
    assert lo < 5 < hi and len(ticks) >= 2
    lo, hi, ticks = log2_ticks(256, 65536)
    assert (lo, hi) == (256, 65536) and ticks == [2.0**e for e in range(8, 17)]


def test_time_axis_picks_its_unit_and_tight_ends_at_the_data() -> None:
    s = fit_scale(Axis("t", "seconds"), [0, 90])
    assert s.title == "t (s)"
    m = fit_scale(Axis("t", "seconds", lo=0.0), [0, 1830])
    assert m.title == "t (min)" and m.hi == 2400 and m.labels[-1] == "40"
    tight = fit_scale(Axis("t", "seconds", lo=0.0, hi=1830.0, tight=True), [0, 1830])
    assert (tight.lo, tight.hi) == (0, 1830) and tight.labels == ("0", "10", "20", "30")
    quarter = fit_scale(Axis("t", "seconds", lo=0.0), [0, 12.6], 6)  # a 2.5 s step keeps its .5
    assert quarter.labels == ("0.0", "2.5", "5.0", "7.5", "10.0", "12.5", "15.0")
    money = fit_scale(Axis("$", "dollars", lo=0.0), [0, 0.43])
    assert money.labels[0] == "$0.00" and money.labels[-1] == "$0.50"


def test_plot_keeps_labels_inside() -> None:
    plot = Plot(
        "envs",
        Axis("envs", "log2"),
        Axis("rate", zero=True),
        lines=(Line("a", "#000", ((256, 1.0), (65536, 2.0))),),
        markers=(Marker("#000", 65536, 2.0, "saturates", shape="diamond", label="65,536"),),
    )
    svg = svg_plot(plot, uid="t", width=560)
    last_tick = re.findall(r'<text x="([\d.]+)"[^>]*class="tick">65,536</text>', svg)
    assert last_tick and 'text-anchor="end" class="tick">65,536' in svg  # pulled in at the edge
    label = re.search(r'<text x="([\d.]+)"[^>]*class="marker-label">65,536', svg)
    assert label and 'text-anchor="end" class="marker-label"' in svg  # left of its marker
    assert "http" not in svg and "<script" not in svg


def test_empty_plot_says_so() -> None:
    svg = svg_plot(Plot("nothing", Axis("x"), Axis("y"), empty_note="no curves"), uid="e")
    assert "no curves" in svg and "<polyline" not in svg


def test_bars_show_spread_and_notes() -> None:
    chart = Chart(
        "t",
        ("a", "b", "c"),
        (("v", (10.0, None, 4.0)),),
        lambda v: f"{v:.1f}",
        spreads=(Spread(3, 10.0, 1.5, 8.0, 12.0), None, Spread(1, 4.0, None, 4.0, 4.0)),
        notes=(None, "not reached", "1 of 2 reached"),
    )
    svg = svg_bar_chart(chart)
    assert ">10.0 ± 1.5<" in svg and ">not reached<" in svg and ">4.0 (1 of 2 reached)<" in svg
    assert svg.count("min 8.0, max 12.0 over 3 runs") == 1  # one whisker: only a has repeats
    width = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert width == 560


def test_timeline_marks_phases_and_scales_each_strip() -> None:
    tracks = [
        TimelineTrack("GPU util (%)", "#00f", ((0.0, 2.0), (100.0, 95.0), (200.0, 3.0)), 100.0),
        TimelineTrack("power (W)", "#f00", ((0.0, 50.0), (100.0, 280.0), (200.0, 55.0))),
    ]
    phases = [
        Phase("set-up", 0.0, 60.0),
        Phase("benchmark", 60.0, 180.0),
        Phase("pull", 180.0, 200.0),
    ]
    svg = svg_timeline("run 1", tracks, phases, x_end=210.0, uid="x")
    assert svg.count('class="phase"') == 3
    assert "set-up: 1m00s (0s → 1m00s)" in svg and "benchmark: 2m00s" in svg
    assert "peak 280" in svg and svg.count("<polyline") == 2
    # x axis ends at the billed end, not at a rounder number past it
    ticks = [float(t) for t in re.findall(r'class="tick">([\d.]+)</text>', svg)]
    assert "time since billing start (min)" in svg and max(ticks) <= 3.5  # 210 s = 3.5 min
    assert svg_timeline("none", [], [], x_end=60.0, uid="n").count("no GPU telemetry") == 1


@pytest.mark.parametrize("n", [1, 12])
def test_bar_chart_height_grows_with_rows(n: int) -> None:
    labels = tuple(f"gpu_{i}" for i in range(n))
    svg = svg_bar_chart(Chart("t", labels, (("v", tuple(float(i + 1) for i in range(n))),)))
    height = int(re.search(r'height="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert height == 30 + n * 30 + 4
