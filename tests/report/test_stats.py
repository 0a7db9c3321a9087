"""Seeds and repeats with honest statistics (issue 28.2): median, IQM, a reproducible 95 % bootstrap interval
per type, and whether two types differ by more than their spread, in every report format."""

from __future__ import annotations

import csv
import io
import json
import statistics
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdabench.ledger import Ledger, MetricKey
from lambdabench.report import build_report, render
from lambdabench.report.stats import bootstrap_ci, iqm, separated, summarize
from tests.report import ledgers as L

NOW = L.T0 + 30 * 86_400

# made-up per-seed rates (guess, by design: inputs with known answers); A is fast and tight, B slow,
# C overlaps B
RATES = {
    L.A10.name: [[40_000.0, 41_000.0, 39_500.0], [40_500.0, 39_800.0, 40_200.0]],
    L.H100.name: [[150_000.0, 151_000.0, 149_000.0], [150_500.0, 148_900.0, 150_200.0]],
    L.A100.name: [[39_000.0, 42_000.0, 40_100.0], [38_000.0, 43_000.0, 40_400.0]],
}
STEPS_PER_SEED = 2_000_000.0


def _seeded_sweep(led: Ledger) -> dict[str, list[int]]:
    """Three types × two repeats × three seeds, written the way the run wing's seed passes write them."""
    sweep = led.create_sweep("seeded", simulated=True, plan={"type_order": list(RATES)})
    runs: dict[str, list[int]] = {}
    start = L.T0
    for gpu in (L.A10, L.H100, L.A100):
        for repeat, rates in enumerate(RATES[gpu.name], 1):
            run, _ = L.add_run(led, sweep, gpu, start=start, bench_s=600, repeat=repeat, name=f"lb-{gpu.name}-{repeat}")
            start += 5
            led.record_series(
                run, "seed:env_steps_per_s", [(None, float(s), r) for s, r in enumerate(rates)], source="seeds"
            )
            led.record_series(
                run, "seed:env_steps", [(None, float(s), STEPS_PER_SEED) for s in range(3)], source="seeds"
            )
            led.record_metric(run, MetricKey.ENV_STEPS_PER_S, statistics.fmean(rates), source="seeds")
            led.record_metric(run, MetricKey.ENV_STEPS, 3 * STEPS_PER_SEED, source="seeds")
            runs.setdefault(gpu.name, []).append(run)
    return runs


def test_iqm_and_bootstrap_by_hand() -> None:
    assert iqm([8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == pytest.approx(4.5)  # 2 cut each end: mean of 3..6
    assert iqm([1.0, 2.0, 100.0]) == pytest.approx(103 / 3)  # int(0.75) = 0: nothing cut below four
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    lo, hi = bootstrap_ci(values) or (0.0, 0.0)
    assert bootstrap_ci(values) == (lo, hi)  # fixed RNG seed: the same interval every time
    assert 1.0 <= lo < statistics.fmean(values) < hi <= 10.0
    assert bootstrap_ci([5.0, 5.0, 5.0]) == (5.0, 5.0)
    assert bootstrap_ci([5.0]) is None
    one = summarize([3.0, None, float("nan")])
    assert one is not None and one.n == 1 and one.ci95 is None
    a, b = summarize([1.0, 1.1, 0.9, 1.0]), summarize([2.0, 2.1, 1.9, 2.0])
    assert a is not None and b is not None and one is not None
    assert separated(a, b) is True and separated(a, a) is False and separated(a, one) is None


def test_seeds_and_repeats_pool_into_one_statistic_per_type(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    runs = _seeded_sweep(led)
    rep = build_report(led, now=NOW)
    by = {g.instance_type: g for g in rep.groups}
    for name, per_run in RATES.items():
        samples = [r for rates in per_run for r in rates]
        s = by[name].stats["env_steps_per_s"]
        assert s.n == 6
        assert s.median == pytest.approx(statistics.median(samples))
        assert s.iqm == pytest.approx(statistics.fmean(sorted(samples)[1:5]))  # int(1.5) = 1 cut each end
        assert s.ci95 is not None and min(samples) <= s.ci95[0] < s.mean < s.ci95[1] <= max(samples)
    # $/M env-steps per seed: the run's $/M (its cost over all its env-steps) at that seed's speed
    line = next(r for r in rep.runs if r.run_id == runs[L.A10.name][0])
    run_usd_per_m = float(line.cost_usd) / (3 * STEPS_PER_SEED) * 1e6
    rates = RATES[L.A10.name][0]
    expected = tuple(run_usd_per_m * statistics.fmean(rates) / r for r in rates)
    assert line.seeds == 3 and line.seed_samples["usd_per_million_steps"] == pytest.approx(expected)
    assert by[L.A10.name].stats["usd_per_million_steps"].n == 6
    verdicts = {(c.a, c.b): c.separated for c in rep.comparisons if c.measure == "env_steps_per_s"}
    assert verdicts[(L.A10.name, L.H100.name)] is True
    assert verdicts[(L.A10.name, L.A100.name)] is False  # 2 % apart, intervals overlap


def test_every_format_carries_the_statistics(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    _seeded_sweep(led)
    rep = build_report(led, now=NOW)
    doc = json.loads(render(rep, "json"))
    g = doc["groups"][0]["stats"]["env_steps_per_s"]
    assert set(g) >= {"mean", "median", "iqm", "ci95"} and len(g["ci95"]) == 2 and g["n"] == 6
    assert g["ci95"][0] < g["mean"] < g["ci95"][1]
    verdicts = [c for c in doc["comparisons"] if c["measure"] == "env_steps_per_s"]
    assert {c["larger_than_spread"] for c in verdicts} == {True, False}
    rows = list(csv.DictReader(io.StringIO(render(rep, "csv"))))
    assert float(rows[0]["env_steps_per_s_iqm"]) == pytest.approx(g["iqm"])
    assert float(rows[0]["env_steps_per_s_ci95_low"]) == pytest.approx(g["ci95"][0])
    for fmt in ("table", "md", "html"):
        text = render(rep, fmt)
        assert "95% CI (bootstrap)" in text and "median · IQM" in text, fmt
        assert "Differences between types" in text and "larger than their spread" in text, fmt
        assert "within their spread" in text, fmt


def test_a_report_without_seeds_or_repeats_reads_as_before(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("single", simulated=True)
    run, _ = L.add_run(led, sweep, L.A10, start=L.T0, bench_s=60, name="lb-one")
    led.record_metric(run, MetricKey.ENV_STEPS_PER_S, 1000.0, source="mjx")
    rep = build_report(led, now=NOW)
    assert rep.comparisons == () and rep.groups[0].stats["env_steps_per_s"].ci95 is None
    for fmt in ("table", "md", "html"):
        assert "95% CI" not in render(rep, fmt) and "Differences between types" not in render(rep, fmt)
    assert Decimal(0) <= rep.cost_usd


@given(st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=2, max_size=40))
@settings(max_examples=60, deadline=None)
def test_statistics_stay_inside_the_samples(values: list[float]) -> None:
    s = summarize(values)
    assert s is not None and s.ci95 is not None and s.n == len(values)
    lo, hi = min(values), max(values)
    slack = 1e-6 * max(1.0, abs(lo), abs(hi))
    assert lo - slack <= s.ci95[0] <= s.ci95[1] <= hi + slack
    assert lo - slack <= s.iqm <= hi + slack and lo - slack <= s.median <= hi + slack
    assert summarize(values) == s  # reproducible: the bootstrap's RNG seed is fixed


def test_csv_gives_each_figures_mean_and_which_types_differ_beyond_their_spread(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    _seeded_sweep(led)
    rep = build_report(led, now=NOW)
    doc = json.loads(render(rep, "json"))
    rows = {r["instance_type"]: r for r in csv.DictReader(io.StringIO(render(rep, "csv")))}
    for g in doc["groups"]:
        for figure, s in g["stats"].items():  # the mean the interval is of, beside it (not the pooled $/M)
            assert float(rows[g["instance_type"]][f"{figure}_mean"]) == pytest.approx(s["mean"]), figure
    a10 = rows[L.A10.name]
    assert a10["env_steps_per_s_larger_than_spread_vs"] == L.H100.name  # 40k against 150k: intervals apart
    assert a10["env_steps_per_s_within_spread_vs"] == L.A100.name  # 2 % apart: they overlap
    assert rows[L.H100.name]["env_steps_per_s_larger_than_spread_vs"] == f"{L.A10.name};{L.A100.name}"
    assert {r["provenance"] for r in rows.values()} == {"this ledger"}


def test_isaaclab_own_figure_is_shown_over_the_same_passes_as_ours(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    run = _seeded_sweep(led)[L.A10.name][0]  # ours: 40,000, 41,000, 39,500 (mean 40,166.67)
    own = [(None, float(s), r) for s, r in enumerate((50_000.0, 52_000.0, 54_000.0))]  # made up, each pass's bundle
    led.record_series(run, "seed:isaaclab_env_steps_per_s", own, source="seeds")
    led.record_metric(run, "isaaclab_env_steps_per_s", 52_000.0, source="isaaclab-bundle-1.4")
    rep = build_report(led, [s.id for s in led.sweeps()], now=NOW)
    text = render(rep, "table")
    assert "52,000 env-steps/s (mean of 3 passes: 50,000, 52,000, 54,000)" in text, text
    assert "lambdabench wall clock: 40,167 env-steps/s (mean of 3 passes: 40,000, 41,000, 39,500)" in text
    (figure,) = json.loads(render(rep, "json"))["isaaclab_benchmark"]
    assert figure["isaaclab"]["passes"] == [50_000.0, 52_000.0, 54_000.0]
    assert figure["lambdabench"]["passes"] == [40_000.0, 41_000.0, 39_500.0]
