"""The pure curve arithmetic: billing clock, reward targets, bands, saturation, thinning."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from lambdabench.cost import run_cost
from lambdabench.ledger import InstanceRow, Ledger
from lambdabench.report import curves as cv
from lambdabench.report.model import RewardPoint, RunCurves

T = 1_750_000_000.0


def _instances(home: Path, *, nodes: int = 1, price: int = 120) -> list[InstanceRow]:
    with Ledger(home, clock=lambda: T) as led:
        sweep = led.create_sweep("s")
        run = led.add_run(sweep, instance_type="gpu_1x_a10")
        for n in range(nodes):
            name = f"lb-{n}"
            led.reserve_instance(run, name, "gpu_1x_a10", None, price, ts=T)
            led.record_launch_accepted(name, f"id-{n}", T + 1)
            led.mark(name, "first_active", T + 100 + 30 * n)  # node n starts billing 30 s later
            led.mark(name, "ssh_ready", T + 130 + 30 * n)
            led.mark(name, "setup_start", T + 130 + 30 * n)
            led.mark(name, "setup_end", T + 400)
            led.mark(name, "bench_start", T + 400 + n)
            led.mark(name, "bench_end", T + 1000 + 5 * n)
            led.mark(name, "pull_end", T + 1030)
            led.mark(name, "terminate_called", T + 1040 + n)
            led.mark(name, "gone", T + 1080)
        return led.instances(run_id=run)


def test_cost_until_follows_per_minute_billing(hermetic_env: Path) -> None:
    insts = _instances(hermetic_env)
    assert cv.billing_start(insts) == T + 100 and cv.billing_end(insts) == T + 1040
    assert cv.cost_until(insts, T + 99) == 0  # not billing yet
    assert cv.cost_until(insts, T + 100) == Decimal(120) / 6000  # billed at all: one minute
    assert cv.cost_until(insts, T + 160) == Decimal(120) / 6000  # exactly 60 s: still one
    assert cv.cost_until(insts, T + 161) == Decimal(240) / 6000  # 61 s: two minutes
    # past terminate, the run costs what cost.py says the whole run cost
    whole = run_cost(1, "gpu_1x_a10", insts, now=T + 9999).policy_dollars
    assert cv.cost_until(insts, T + 9999) == whole == Decimal(16 * 120) / 6000


def test_cost_until_sums_nodes_from_their_own_start(hermetic_env: Path) -> None:
    insts = _instances(hermetic_env, nodes=2)
    # at T+161: node 0 billed 61 s (2 min), node 1 billed 31 s (1 min)
    assert cv.cost_until(insts, T + 161) == Decimal(3 * 120) / 6000
    phases = {p.name: (p.start_s, p.end_s) for p in cv.phases(insts, T + 100)}
    assert phases["SSH wait"] == (0.0, 60.0)  # earliest first_active to the slowest ssh_ready
    assert phases["benchmark"] == (300.0, 905.0)  # earliest start, slowest node's end
    assert phases["teardown"] == (930.0, 941.0)
    assert list(phases) == ["SSH wait", "set-up", "benchmark", "pull", "teardown"]


def _curve(run_id: int, rewards: list[float], dt: float = 10.0) -> RunCurves:
    pts = tuple(RewardPoint(i * dt, None, i * 1000.0, r) for i, r in enumerate(rewards))
    return RunCurves(run_id, "g", None, reward=pts)


def test_target_is_a_fraction_of_the_best_final_reward() -> None:
    curves = [_curve(1, [0, 5, 10]), _curve(2, [0, 8, 20]), _curve(3, [])]
    t = cv.choose_target(curves, {1: "a10", 2: "h100"}, fraction=0.9)
    assert t is not None and t.value == pytest.approx(18.0) and not t.given
    assert "90% of the best final reward (20, h100 run 2)" in t.rule
    given = cv.choose_target(curves, {}, target=7.5)
    assert given is not None and given.value == 7.5 and given.given and "given" in given.rule
    assert cv.choose_target([_curve(1, [])], {}) is None


def test_target_with_negative_rewards_uses_the_range() -> None:
    curves = [_curve(1, [-200, -120, -100]), _curve(2, [-180, -150])]
    t = cv.choose_target(curves, {}, fraction=0.9)
    # 90 % of the way from the lowest first reward (-200) to the best final (-100)
    assert t is not None and t.value == pytest.approx(-110.0)
    assert "not positive" in t.rule
    assert cv.first_reach(curves[0], t.value) is curves[0].reward[2]
    assert cv.first_reach(curves[1], t.value) is None


def test_first_reach_is_the_first_point_at_or_above() -> None:
    c = _curve(1, [1, 3, 2, 5, 4])
    hit = cv.first_reach(c, 3)
    assert hit is not None and hit.elapsed_s == 10.0
    assert cv.first_reach(c, 5.01) is None


def test_band_interpolates_over_the_overlap() -> None:
    a = [(0.0, 0.0), (10.0, 10.0)]
    b = [(5.0, 5.0), (15.0, 25.0)]  # y = 2x - 5
    out = cv.band([a, b], samples=5)
    assert out[0][0] == 5.0 and out[-1][0] == 10.0
    for x, mean, lo, hi in out:
        ya, yb = x, 2 * x - 5
        assert (lo, hi) == (pytest.approx(min(ya, yb)), pytest.approx(max(ya, yb)))
        assert mean == pytest.approx((ya + yb) / 2)
    assert cv.band([a]) == []
    assert cv.band([a, [(20.0, 1.0), (30.0, 2.0)]]) == []  # no overlap


def test_scaling_curve_finds_where_throughput_saturates() -> None:
    points = [(256, 1.0), (256, 1.2), (1024, 3.0), (4096, 9.0), (16384, 9.5), (65536, 10.0)]
    c = cv.scaling_curve("a10", points, fraction=0.9)
    assert c is not None
    assert [p.x for p in c.points] == [256, 1024, 4096, 16384, 65536]
    first = c.points[0].rate
    assert (first.n, first.mean, first.lo, first.hi) == (2, pytest.approx(1.1), 1.0, 1.2)
    assert first.std == pytest.approx(statistics.stdev([1.0, 1.2]))
    assert c.peak == 10.0 and c.saturates_at == 4096  # 9.0 >= 0.9 * 10
    assert cv.scaling_curve("x", [], fraction=0.9) is None
    strict = cv.scaling_curve("a10", points, fraction=0.99)
    assert strict is not None and strict.saturates_at == 65536


def test_spread_is_sample_statistics() -> None:
    s = cv.spread([1.0, None, 2.0, 4.0, math.nan])
    assert s is not None and (s.n, s.lo, s.hi) == (3, 1.0, 4.0)
    assert s.mean == pytest.approx(7 / 3) and s.std == pytest.approx(statistics.stdev([1, 2, 4]))
    one = cv.spread([Decimal("0.5")])
    assert one is not None and one.std is None and one.mean == 0.5
    assert cv.spread([None]) is None


def test_thin_keeps_spikes() -> None:
    pts = [(float(i), 1.0) for i in range(5000)]
    pts[2345] = (2345.0, 99.0)
    pts[4000] = (4000.0, -5.0)
    out = cv.thin(pts, limit=200)
    assert len(out) <= 200
    assert (2345.0, 99.0) in out and (4000.0, -5.0) in out
    assert out == sorted(out)
    assert cv.thin(pts[:10]) == pts[:10]


def test_short_run_spreads_along_the_dollars_axis(hermetic_env: Path) -> None:
    """Issue 24 item 8: a 90-second run's points on the dollars axis are the money accrued by the second
    (distinct, rising), not its per-minute bill (two steps); the ring and the bill stay consistent."""
    from lambdabench.report import build_report
    from lambdabench.report.html import learning_plots

    with Ledger(hermetic_env, clock=lambda: T) as led:
        sweep = led.create_sweep("short")
        run = led.add_run(sweep, instance_type="gpu_1x_a10")
        led.reserve_instance(run, "lb-0", "gpu_1x_a10", None, 120, ts=T)
        led.record_launch_accepted("lb-0", "id-0", T + 1)
        led.mark("lb-0", "first_active", T + 100)
        led.mark("lb-0", "terminate_called", T + 190)  # billed 90 s: two minutes
        led.mark("lb-0", "gone", T + 200)
        points = [(T + 100 + 10 * k, 1000.0 * k, float(k)) for k in range(1, 10)]  # a reward every 10 s
        led.record_series(run, "reward", points, unit="", source="tensorboard")
        report = build_report(led, [sweep], now=T + 300, reward_target=5.0)
    plot = next(p for p in learning_plots(report) if p.x.kind == "dollars")
    xs = [x for x, _y in plot.lines[0].points]
    assert len(xs) == 9 and len(set(xs)) == 9 and xs == sorted(xs)
    assert xs[0] == pytest.approx(10 * 1.20 / 3600) and xs[-1] == pytest.approx(90 * 1.20 / 3600)
    assert "accrued" in plot.x.label
    # the ring sits on the line where the run reached 5 (50 s in); the table keeps the bill: one minute
    assert [m.x for m in plot.markers] == [pytest.approx(50 * 1.20 / 3600)]
    assert report.runs[0].cost_to_reward_usd == Decimal(120) / 6000
    assert "$0.0167 accrued, $0.0200 billed" in plot.markers[0].title
