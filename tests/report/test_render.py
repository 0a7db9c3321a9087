"""Every format carries the curves: the terminal summary, JSON, CSV, markdown and the HTML's SVG."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger
from lambdabench.report import build_report, render, report_charts
from lambdabench.report.model import Report
from lambdabench.report.summary import sparkline
from tests.report import ledgers as L

NOW = L.T0 + 30 * 86_400


@pytest.fixture
def reports(hermetic_env: Path) -> dict[str, Report]:
    with Ledger(hermetic_env, clock=lambda: L.T0) as led:
        train = L.training_sweep(led, iterations=300)
        scaling = L.scaling_sweep(led)
        day2 = L.training_sweep(
            led,
            "day2",
            repeats=2,
            iterations=300,
            t0=L.T0 + 2 * 86_400,
            seed=5,
            weak=None,
            telemetry=False,
        )
        return {
            "train": build_report(led, [train.sweep_id], now=NOW),
            "scaling": build_report(led, [scaling.sweep_id], now=NOW),
            "compare": build_report(led, [train.sweep_id, day2.sweep_id], now=NOW),
        }


class Svg(HTMLParser):
    """Collects each <svg> with its elements, and the page's other tags."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs: list[dict[str, list[dict[str, str | None]]]] = []
        self.tags: list[str] = []
        self.depth = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "svg":
            self.svgs.append({"svg": [dict(attrs)]})
            self.depth += 1
        elif self.depth:
            self.svgs[-1].setdefault(tag, []).append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> Svg:
    p = Svg()
    p.feed(page)
    return p


def test_table_summary_names_target_and_misses(reports: dict[str, Report]) -> None:
    text = render(reports["train"], "table")
    assert reports["train"].reward_target is not None
    assert reports["train"].reward_target.rule in text
    rows = {line.split("  ")[0].strip(): line for line in text.splitlines() if "  " in line}
    assert rows["reached reward target"].split()[-3:] == ["3", "of", "3"]
    assert "2 of 3" in rows["reached reward target"]
    curve_lines = [line for line in text.splitlines() if re.match(r"^  gpu_\S+\s+run \d+", line)]
    assert len(curve_lines) == 9  # one per run with a reward curve
    assert sum("never reached the target" in line for line in curve_lines) == 1
    assert sum("target at" in line for line in curve_lines) == 8
    assert "± std" in text and "min–max" in text


def test_table_spread_cells_match_the_groups(reports: dict[str, Report]) -> None:
    rep = reports["train"]
    lines = render(rep, "table").splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("env-steps/s "))
    std_row, range_row = lines[i + 1], lines[i + 2]
    assert std_row.lstrip().startswith("± std") and range_row.lstrip().startswith("min–max")
    for g in rep.groups:
        s = g.spreads["env_steps_per_s"]
        assert f"±{s.std:,.0f}" in std_row
        assert f"{s.lo:,.0f}–{s.hi:,.0f}" in range_row


def test_table_scaling_lines(reports: dict[str, Report]) -> None:
    text = render(reports["scaling"], "table")
    a10, h100 = reports["scaling"].num_envs_scaling
    assert f"90% of peak from envs {a10.saturates_at:,.0f}" in text
    assert f"90% of peak from envs {h100.saturates_at:,.0f}" in text
    assert "h100_sxm5  1 GPU 11M · 8 GPUs 81.8M (93%) · 16 GPUs 150M (85%)" in text


def test_compare_table_has_type_and_sweep_headings(reports: dict[str, Report]) -> None:
    lines = render(reports["compare"], "table").splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("-----"))
    types, sweeps = lines[i - 2].split(), lines[i - 1].split()
    assert types == [
        "gpu_1x_a10",
        "gpu_1x_a10",
        "gpu_1x_h100_pcie",
        "gpu_1x_h100_pcie",
        "gpu_1x_a100_sxm4",
        "gpu_1x_a100_sxm4",
    ]
    assert sweeps == ["anymal-flat", "day2"] * 3


def test_sparkline() -> None:
    assert sparkline([0, 5, 10, None], 0, 10) == "▁▅█ "
    assert sparkline([3, 3], 3, 3) == "▁▁"


def test_json_learning_curves_carry_the_accrued_dollars_the_html_chart_plots(reports: dict[str, Report]) -> None:
    """Issue 24 item 8: each JSON reward point has `usd_accrued` (the chart's dollars axis) beside the billed `usd`."""
    rep = reports["train"]
    doc = json.loads(render(rep, "json"))
    for curve, drawn in zip(doc["curves"], rep.curves, strict=True):
        points = curve["reward"]
        assert points and [p["usd_accrued"] for p in points] == [
            pytest.approx(p.usd_accrued, abs=1e-6) for p in drawn.reward
        ]
        accrued = [p["usd_accrued"] for p in points]
        assert accrued == sorted(accrued) and all(0 <= p["usd_accrued"] <= p["usd"] for p in points)
        # the bill steps per started minute; the accrued money rises with every point
        assert len(set(accrued)) == len(points) > len({p["usd"] for p in points})


def test_json_and_csv_carry_the_new_figures(reports: dict[str, Report]) -> None:
    rep = reports["train"]
    doc = json.loads(render(rep, "json"))
    assert doc["reward_target"]["value"] == pytest.approx(rep.reward_target.value)  # type: ignore[union-attr]
    a10 = doc["groups"][0]
    assert a10["reached_target"] == "2 of 3" and a10["spread"]["env_steps_per_s"]["n"] == 3
    assert len(doc["curves"]) == 9 and doc["curves"][0]["reward"][0]["elapsed_s"] > 0
    weak = next(r for r in doc["runs"] if r["reward_reached"] is False)
    assert weak["time_to_reward_s"] is None and weak["repeat"] == 3
    scaling = json.loads(render(reports["scaling"], "json"))["scaling"]
    assert [c["label"] for c in scaling["by_num_envs"]] == ["gpu_1x_a10", "gpu_1x_h100_pcie"]
    assert scaling["by_gpu_count"][0]["points"][2]["x"] == 16
    rows = list(csv.DictReader(io.StringIO(render(rep, "csv"))))
    assert rows[0]["reached_target"] == "2 of 3" and float(rows[1]["time_to_reward_s"]) > 0
    runs = list(csv.DictReader(io.StringIO(render(rep, "csv", level="runs"))))
    assert {r["reward_reached"] for r in runs} == {"true", "false"}


def test_markdown_has_the_curves_block(reports: dict[str, Report]) -> None:
    text = render(reports["train"], "md")
    assert "## Curves" in text and "```text" in text and "never reached the target" in text


def test_html_charts_are_inline_svg_with_every_section(reports: dict[str, Report]) -> None:
    rep = reports["train"]
    page = render(rep, "html")
    assert not re.search(r"https?://", page)
    p = _parse(page)
    assert "script" not in p.tags and "link" not in p.tags and "img" not in p.tags
    for h in ("Cost and throughput", "Learning curves", "GPU timelines"):
        assert f"<h2>{h}</h2>" in page
    assert "<h2>Scaling</h2>" not in page  # one number of envs per run: no scaling curve
    bars = report_charts(rep)
    assert len(bars) == 6  # 4 + time and cost to reward
    # bars + 3 learning plots + a timeline per run
    assert len(p.svgs) == len(bars) + 3 + len(rep.runs)
    for svg in p.svgs:
        attrs = svg["svg"][0]
        assert attrs["role"] == "img" and attrs.get("aria-label")
        assert 300 <= int(attrs["width"] or 0) <= 600 and 80 <= int(attrs["height"] or 0) <= 700
        assert attrs["viewbox"] == f"0 0 {attrs['width']} {attrs['height']}"
    time_plot = next(s for s in p.svgs if s["svg"][0]["aria-label"] == "Mean reward against time since billing start")
    # a line per run, plus a mean line per type with repeats; a band per type; a ring per hit
    assert len(time_plot["polyline"]) == 9 + 3
    assert len(time_plot["polygon"]) == 3
    assert sum(1 for g in time_plot.get("g", []) if g.get("class") == "marker") == 8
    assert len(time_plot["line"]) >= 1 + 5  # the target rule and grid lines
    # clip paths have unique ids across the page
    ids = [c["id"] for s in p.svgs for c in s.get("clippath", [])]
    assert len(ids) == len(set(ids))
    text = " ".join(p.text)
    assert "not reached" in text and "2 of 3 reached" in text
    # on every axis a ring sits where the run crossed the target: at or above the target line
    for label in (
        "Mean reward against time since billing start",
        "Mean reward against dollars spent",
        "Mean reward against env-steps (same learning, any GPU?)",
    ):
        plot = next(s for s in p.svgs if s["svg"][0]["aria-label"] == label)
        rule = next(ln for ln in plot["line"] if ln.get("stroke-dasharray") == "5 4")
        rings = [c for c in plot["circle"] if c.get("r") == "5.5"]  # not the legend's
        assert len(rings) == 8, label
        assert all(float(c["cy"] or 0) <= float(rule["y1"] or 0) + 0.1 for c in rings), label


def test_html_timelines_mark_phases(reports: dict[str, Report]) -> None:
    p = _parse(render(reports["train"], "html"))
    timelines = [s for s in p.svgs if "timeline" in (s["svg"][0].get("class") or "")]
    assert len(timelines) == 9
    for svg in timelines:
        phases = [r for r in svg["rect"] if r.get("class") == "phase"]
        assert len(phases) == 5  # SSH wait, set-up, benchmark, pull, teardown
        assert len(svg["polyline"]) == 3  # utilisation, memory, power


def test_html_scaling_section(reports: dict[str, Report]) -> None:
    page = render(reports["scaling"], "html")
    assert "<h2>Scaling</h2>" in page and "<h2>Learning curves</h2>" not in page
    p = _parse(page)
    envs = next(s for s in p.svgs if s["svg"][0]["aria-label"] == "Throughput against number of environments")
    assert len(envs["polyline"]) == 2 and len(envs["circle"]) >= 10  # 5 points per type
    diamonds = [g for g in envs["g"] if g.get("class") == "marker"]
    assert len(diamonds) == 2  # one saturation point per type
    gpus = next(s for s in p.svgs if s["svg"][0]["aria-label"] == "Throughput against GPU count")
    assert len(gpus["polyline"]) == 2  # measured and linear


def test_html_compare_shares_colours_by_type(reports: dict[str, Report]) -> None:
    page = render(reports["compare"], "html")
    assert "gpu_1x_a10<br>anymal-flat" in page and "gpu_1x_a10<br>day2" in page
    p = _parse(page)
    plot = next(s for s in p.svgs if s["svg"][0]["aria-label"] == "Mean reward against time since billing start")
    dashed = {pl.get("stroke") for pl in plot["polyline"] if pl.get("stroke-dasharray")}
    solid = {pl.get("stroke") for pl in plot["polyline"] if not pl.get("stroke-dasharray")}
    assert dashed == solid and len(solid) == 3  # day 2 dashed in its type's colour


def test_a_report_renders_itself(reports: dict[str, Report]) -> None:
    """The README's `print(lab.report(...))` prints the table, not a dataclass repr (issue 27 item 5)."""
    report = reports["train"]
    assert str(report) == render(report, "table") == report.render()
    assert str(report).startswith("lambdabench: ") and "Report(" not in str(report)
    assert json.loads(report.render("json")) == json.loads(render(report, "json"))
    assert report.render("md") == render(report, "md")


def test_the_answer_comes_first_then_charts_then_tables(reports: dict[str, Report]) -> None:
    """Issue 24 item 8: cheapest and fastest with their ratios and spread, before any table or chart."""
    from lambdabench.report.headline import headline_lines

    rep = reports["train"]
    answer = headline_lines(rep)
    assert answer[0].startswith("Cheapest per million env-steps: ") and " the cost" in answer[0]
    assert any(line.startswith("Fastest: ") and " slower" in line for line in answer)
    assert any("% over 3 runs" in line for line in answer)  # three repeats a type: the spread is given
    text = render(rep, "table").splitlines()
    assert text.index(answer[0]) < min(i for i, line in enumerate(text) if line.startswith("runs "))
    page = render(rep, "html")
    assert (
        page.index("<h2>Answer</h2>")
        < page.index("<h2>Cost and throughput</h2>")
        < page.index("<h2>By GPU type</h2>")
        < page.index("<h2>Runs</h2>")
    )
    md = render(rep, "md")
    assert md.index("## Answer") < md.index("| ")


def test_no_figure_from_a_type_that_never_launched(reports: dict[str, Report]) -> None:
    import dataclasses

    from lambdabench.report.headline import headline_lines

    rep = reports["train"]
    gone = dataclasses.replace(rep.groups[0], succeeded=0, billed_minutes=0, failed_launches=0)
    answer = headline_lines(dataclasses.replace(rep, groups=(gone, *rep.groups[1:])))
    name = gone.label or gone.instance_type
    assert answer[-1] == f"No figures from {name} (never launched)"
    assert not any(name in re.split(r"[\s,:]+", line) for line in answer[:-1])
