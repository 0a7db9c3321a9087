"""Reports from a real ledger: exact per-type numbers, and every format parses back or is self-contained."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lambdabench.errors import UsageError
from lambdabench.ledger import Ledger, MetricKey
from lambdabench.report import (
    FORMATS,
    SIMULATED_NOTE,
    Report,
    Video,
    build_report,
    render,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    render_table,
    report_charts,
    video_from_file,
)

T0 = 1_700_000_000.0


def _run(
    led: Ledger,
    sweep: int,
    itype: str,
    price: int,
    *,
    name: str,
    active_s: float,
    steps: float | None = None,
    sps: float | None = None,
    status: str = "succeeded",
    failed_launch_first: bool = False,
) -> int:
    run = led.add_run(sweep, instance_type=itype, region="us-east-1", workload="Isaac-Cartpole-Direct-v0")
    led.set_run_status(run, "running", ts=T0)
    if failed_launch_first:
        led.reserve_instance(run, name + "-x", itype, "us-east-1", price, ts=T0)
        led.record_launch_failed(name + "-x", T0 + 1)
    led.reserve_instance(run, name, itype, "us-east-1", price, ts=T0)
    led.record_launch_accepted(name, "id-" + name, T0 + 2)
    events = {
        "first_active": T0 + 182,  # 180 s boot
        "ssh_ready": T0 + 212,  # 30 s ssh wait
        "setup_start": T0 + 212,
        "setup_end": T0 + 332,  # 120 s setup
        "bench_start": T0 + 332,
        "bench_end": T0 + 182 + active_s - 60,
        "pull_end": T0 + 182 + active_s - 30,
        "terminate_called": T0 + 182 + active_s,
        "gone": T0 + 182 + active_s + 40,
    }
    for event, ts in events.items():
        led.mark(name, event, ts)
    if steps is not None:
        led.record_metric(run, MetricKey.ENV_STEPS, steps, source="tensorboard")
    if sps is not None:
        led.record_metric(run, MetricKey.ENV_STEPS_PER_S, sps, unit="steps/s", source="tensorboard")
    led.set_run_status(run, status, ts=T0 + 182 + active_s + 40)
    return run


@pytest.fixture
def report(hermetic_env: Path) -> Report:
    with Ledger(hermetic_env, clock=lambda: T0) as led:
        old = led.create_sweep("older")
        _run(led, old, "gpu_1x_a10", 75, name="lambdabench-old", active_s=600)
        sweep = led.create_sweep("a10-vs-h100", simulated=True)
        # A10: two runs of 10 min (600 s) and 20 min active at 75 ¢/h
        _run(
            led,
            sweep,
            "gpu_1x_a10",
            75,
            name="lambdabench-a1",
            active_s=600,
            steps=3e8,
            sps=500_000,
        )
        a2 = _run(
            led,
            sweep,
            "gpu_1x_a10",
            75,
            name="lambdabench-a2",
            active_s=1200,
            steps=6e8,
            sps=700_000,
            failed_launch_first=True,
        )
        led.record_metric(a2, MetricKey.GPU_UTIL_PCT, 91.5, unit="%", source="nvidia-smi")
        led.record_metric(a2, MetricKey.ENERGY_WH, 40.0, unit="Wh", source="nvidia-smi")
        led.record_error("bench", "exit", "boom", run_id=a2)
        # H100: one run, 601 s active -> 11 min at 249 ¢/h, failed, no metrics
        _run(
            led,
            sweep,
            "gpu_1x_h100_pcie",
            249,
            name="lambdabench-h1",
            active_s=601,
            status="failed",
        )
        return build_report(led, now=T0 + 10_000)  # default: latest sweep only


def test_build_report_numbers(report: Report) -> None:
    assert report.simulated is True
    assert report.title == "lambdabench: a10-vs-h100"
    assert [g.instance_type for g in report.groups] == ["gpu_1x_a10", "gpu_1x_h100_pcie"]
    a10, h100 = report.groups
    assert (a10.runs, a10.succeeded, a10.failures, a10.failed_launches) == (2, 2, 0, 1)
    assert a10.billed_minutes == 30
    assert a10.cost_usd == Decimal("0.375")  # 30 min × 75 ¢/h
    assert a10.usd_per_run == Decimal("0.1875")
    assert a10.usd_per_hour == Decimal("0.75")
    assert a10.env_steps_per_s == 600_000
    assert a10.usd_per_million_steps == Decimal("0.375") / 900
    # upper bound: accepted (T0+2) -> gone: 180 + active + 40 s
    assert a10.upper_minutes == 14 + 24  # ceil(820/60) + ceil(1420/60)
    assert (a10.boot_s, a10.ssh_wait_s, a10.setup_s) == (180, 30, 120)
    assert a10.bench_s == pytest.approx(((600 - 60 - 150) + (1200 - 60 - 150)) / 2)
    assert a10.gpu_util_pct == 91.5 and a10.energy_wh == 40.0
    assert (h100.runs, h100.failures, h100.billed_minutes) == (1, 1, 11)
    assert h100.cost_usd == Decimal(11 * 249) / 6000
    assert h100.env_steps_per_s is None and h100.usd_per_million_steps is None
    assert report.cost_usd == Decimal("0.375") + Decimal(11 * 249) / 6000
    run_a2 = next(r for r in report.runs if r.instances == 2)
    assert (run_a2.failed_launches, run_a2.errors, run_a2.still_billing) == (1, 1, False)


def test_table(report: Report) -> None:
    text = render_table(report, runs=True)
    assert SIMULATED_NOTE in text
    header = next(line for line in text.splitlines() if line.startswith(" ") and "gpu_1x_a10" in line)
    assert header.index("gpu_1x_a10") < header.index("gpu_1x_h100_pcie")  # side by side
    cost_line = next(line for line in text.splitlines() if line.startswith("cost (policy)"))
    assert cost_line.split()[-2:] == ["$0.3750", "$0.4565"]
    assert "failed launches: 1" in text
    lines = [line for line in text.splitlines() if line.startswith(("$/run", "billed minutes"))]
    assert len({len(line) for line in lines}) == 1  # columns aligned (right-justified to one width)


def test_json_loads(report: Report) -> None:
    doc = json.loads(render_json(report))
    assert doc["simulated"] is True
    assert doc["totals"]["cost_usd"] == pytest.approx(0.375 + 11 * 249 / 6000, abs=1e-6)
    a10 = doc["groups"][0]
    assert a10["instance_type"] == "gpu_1x_a10" and a10["cost_usd"] == 0.375
    assert a10["usd_per_hour"] == 0.75 and a10["env_steps_per_s"] == 600_000
    assert len(doc["runs"]) == 3 and doc["groups"][1]["env_steps_per_s"] is None


def test_csv_parses_back(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert [r["instance_type"] for r in rows] == ["gpu_1x_a10", "gpu_1x_h100_pcie"]
    assert Decimal(rows[0]["cost_usd"]) == Decimal("0.375")
    assert rows[0]["simulated"] == "true"
    assert rows[1]["env_steps_per_s"] == ""
    runs = list(csv.DictReader(io.StringIO(render_csv(report, level="runs"))))
    assert len(runs) == 3 and {r["status"] for r in runs} == {"succeeded", "failed"}


def test_markdown(report: Report) -> None:
    text = render_markdown(report)
    assert text.startswith("# lambdabench: a10-vs-h100")
    assert SIMULATED_NOTE in text
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    table = lines[start:end]
    assert table[0] == "|  | gpu_1x_a10 | gpu_1x_h100_pcie |"
    assert all(line.count("|") == 4 for line in table)
    assert "| $/M env-steps | $0.000417 | — |" in table
    assert "## Runs" in text


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.open: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_html_self_contained_with_svg_per_chart(tmp_path: Path, report: Report) -> None:
    clip = tmp_path / "run1.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42fake")
    videos = (
        video_from_file(clip, embed=True, label="a10 run 1"),
        video_from_file(clip, relative_to=tmp_path, label="linked"),
    )
    page = render_html(dataclasses.replace(report, videos=videos))
    assert not re.search(r"https?://", page)
    parser = _Collector()
    parser.feed(page)
    assert parser.tags.count("svg") == len(report_charts(report)) == 4
    assert "script" not in parser.tags and "link" not in parser.tags and "style" in parser.tags
    assert parser.tags.count("video") == 2
    srcs = [v for k, v in parser.attrs if k == "src"]
    assert srcs[0].startswith("data:video/mp4;base64,") and srcs[1] == "run1.mp4"
    assert SIMULATED_NOTE in page
    assert "gpu_1x_h100_pcie" in page and "$0.3750" in page


def test_remote_video_refused() -> None:
    for src in ("https://example.com/a.mp4", "//cdn/a.mp4"):
        with pytest.raises(UsageError):
            Video("x", src)


def test_render_dispatch_and_empty(hermetic_env: Path) -> None:
    with Ledger(hermetic_env) as led:
        empty = build_report(led)
    for fmt in FORMATS:
        assert render(empty, fmt)
    assert "no runs recorded" in render(empty, "table")
    assert json.loads(render(empty, "json"))["groups"] == []
    with pytest.raises(UsageError):
        render(empty, "pdf")


def test_not_simulated_has_no_label(hermetic_env: Path) -> None:
    with Ledger(hermetic_env, clock=lambda: T0) as led:
        sweep = led.create_sweep("real")
        _run(led, sweep, "gpu_1x_a10", 75, name="lambdabench-r", active_s=60)
        rep = build_report(led, [sweep], now=T0 + 5000)
    for fmt in ("table", "md", "html"):
        assert "SIMULATED" not in render(rep, fmt)
    assert json.loads(render_json(rep))["simulated"] is False


def test_still_billing_costed_to_now(hermetic_env: Path) -> None:
    with Ledger(hermetic_env, clock=lambda: T0) as led:
        sweep = led.create_sweep("live")
        run = led.add_run(sweep, instance_type="gpu_1x_a10")
        led.reserve_instance(run, "lambdabench-live", "gpu_1x_a10", None, 60, ts=T0)
        led.record_launch_accepted("lambdabench-live", "i-live", T0)
        led.mark("lambdabench-live", "first_active", T0 + 60)
        rep = build_report(led, [sweep], now=T0 + 60 + 300)
    assert rep.still_billing == 1 and rep.cost_usd == Decimal("0.05")  # 5 min at 60 ¢/h
    assert "still have instances up" in render_table(rep)
