"""The report's warm-start rows (issue 29 items 4, 5): tool-added billed time, cache cold vs warm set-up,
reuse, and the dollars saved, each worked out here from what the ledger holds."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from lambdabench.ledger import Ledger
from lambdabench.report import build_report, render
from tests.report import ledgers as L

NOW = L.T0 + 30 * 86_400


def test_cold_then_warm_cache_and_tool_added_time(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("cache", simulated=True)
    cold, _ = L.add_run(led, sweep, L.A10, start=L.T0, bench_s=600, name="c", timing=L.Timing(setup=900.0))
    warm, _ = L.add_run(
        led, sweep, L.A10, start=L.T0 + 3600, bench_s=600, name="w", repeat=2, timing=L.Timing(setup=60.0)
    )
    led.record_metric(cold, "cache_warm", 0.0, source="cache")
    led.record_metric(warm, "cache_warm", 1.0, source="cache")
    for run in (cold, warm):
        led.record_metric(run, "ingest_s", 2.0, unit="s", source="overhead")
    rep = build_report(led, [sweep], now=NOW)
    (g,) = rep.groups
    assert g.cache == "1 of 2 warm" and g.setup_cold_s == 900.0 and g.setup_warm_s == 60.0
    # SSH wait 25 s + preflight 0 s (set-up starts at ssh ready) + pull end to the terminate call 15 s
    assert g.tool_added_s == 40.0
    assert g.saved_usd == Decimal("840") * Decimal("0.75") / 3600
    text = render(rep, "table")
    assert "tool-added billed time" in text and "1 of 2 warm" in text and "saved (est.)" in text


def test_reuse_shows_runs_per_instance_and_what_it_saved(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("reuse", simulated=True)
    lead, _ = L.add_run(led, sweep, L.A100, start=L.T0, bench_s=300, name="lead")
    led.record_metric(lead, "reuse_runs", 2.0, source="reuse")
    led.record_metric(lead, "ingest_s", 3.0, unit="s", source="overhead")
    follower = led.add_run(
        sweep, instance_type=L.A100.name, region="us-east-1", workload="isaaclab-train", params={"repeat": 2}
    )
    led.set_run_status(follower, "running", ts=L.T0 + 800)
    led.record_metric(follower, "reused_instance_of_run", float(lead), source="reuse")
    led.record_metric(follower, "ingest_s", 3.0, unit="s", source="overhead")
    led.set_run_status(follower, "succeeded", ts=L.T0 + 1100)
    rep = build_report(led, [sweep], now=NOW)
    (g,) = rep.groups
    assert g.reuse == "2 runs on 1 instance"
    # the follower skipped the lead's boot 150 s, SSH wait 25 s and set-up 240 s, at the lead's $1.29/h
    assert g.saved_usd == Decimal("415") * Decimal("1.29") / 3600
    # the lead: SSH wait 25 + preflight 0 + its own ingest 3 (its pull-to-terminate stretch ran the follower)
    lines = {r.run_id: r for r in rep.runs}
    assert lines[lead].tool_added_s == 28.0 and lines[follower].tool_added_s == 3.0
    assert lines[follower].reused_from == lead
