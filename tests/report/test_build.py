"""build_report() over ledgers written the way the run wing writes them: every expected figure is
worked out here from what was recorded, independently of the report's own code."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from lambdabench.errors import UsageError
from lambdabench.ledger import Ledger, MetricKey
from lambdabench.report import build_report, render
from lambdabench.report.model import Report
from tests.report import ledgers as L

NOW = L.T0 + 30 * 86_400


def _expected_reach(led: Ledger, run_id: int, target: float) -> tuple[float, Decimal] | None:
    """When a run's recorded reward first reached target, and the per-minute bill at that moment."""
    (row,) = led.series(run_id=run_id, name="reward")
    inst = led.instances(run_id=run_id)[0]
    assert inst.first_active is not None
    for t, _x, v in sorted(row.points, key=lambda p: p[0] or 0.0):
        if v >= target:
            assert t is not None
            minutes = max(1, math.ceil(round(t - inst.first_active, 3) / 60))
            return t - inst.first_active, Decimal(minutes * inst.price_cents_per_hour) / 6000
    return None


@pytest.fixture
def trained(hermetic_env: Path) -> tuple[Ledger, L.Made]:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    return led, L.training_sweep(led)


def test_time_and_cost_to_reward_per_run(trained: tuple[Ledger, L.Made]) -> None:
    led, made = trained
    rep = build_report(led, [made.sweep_id], now=NOW)
    finals = {r: v["final_reward"] for r, v in made.runs.items()}
    assert rep.reward_target is not None and not rep.reward_target.given
    assert rep.reward_target.value == pytest.approx(0.9 * max(finals.values()))
    for line in rep.runs:
        assert line.reward == pytest.approx(finals[line.run_id])
        expected = _expected_reach(led, line.run_id, rep.reward_target.value)
        if expected is None:
            assert line.reward_reached is False and line.time_to_reward_s is None
            assert line.cost_to_reward_usd is None
        else:
            assert line.reward_reached is True
            assert line.time_to_reward_s == pytest.approx(expected[0])
            assert line.cost_to_reward_usd == expected[1]
            assert line.steps_to_reward is not None and line.steps_to_reward > 0
    # the weak A10 repeat never gets there; the group says 2 of 3 and averages the two
    weak = next(r for r in rep.runs if r.instance_type == "gpu_1x_a10" and r.repeat == 3)
    assert weak.reward_reached is False
    a10 = next(g for g in rep.groups if g.instance_type == "gpu_1x_a10")
    assert (a10.reward_runs, a10.reward_reached, a10.reached_target) == (3, 2, "2 of 3")
    reached = [r for r in rep.runs if r.instance_type == "gpu_1x_a10" and r.reward_reached]
    assert a10.time_to_reward_s == pytest.approx(statistics.fmean(r.time_to_reward_s or 0.0 for r in reached))
    assert a10.cost_to_reward_usd == sum((r.cost_to_reward_usd or 0 for r in reached), Decimal(0)) / 2
    spread = a10.spreads["time_to_reward_s"]
    assert spread.n == 2


def test_learning_curve_axes_are_billing_time_and_billed_dollars(
    trained: tuple[Ledger, L.Made],
) -> None:
    led, made = trained
    rep = build_report(led, [made.sweep_id], now=NOW)
    run_id = rep.runs[0].run_id
    curve = next(c for c in rep.curves if c.run_id == run_id)
    (row,) = led.series(run_id=run_id, name="reward")
    start = made.runs[run_id]["first_active"]
    price = made.runs[run_id]["price"]
    assert len(curve.reward) == len(row.points)
    for point, (t, x, v) in zip(curve.reward, row.points, strict=True):
        assert t is not None
        assert point.elapsed_s == pytest.approx(t - start)
        assert point.usd == Decimal(max(1, math.ceil(round(t - start, 3) / 60)) * int(price)) / 6000
        assert (point.env_steps, point.reward) == (x, v)
    # the curve's last dollar figure never passes what the whole run was billed
    assert curve.reward[-1].usd is not None and curve.reward[-1].usd <= rep.runs[0].cost_usd


def test_explicit_target_and_one_nobody_reaches(trained: tuple[Ledger, L.Made]) -> None:
    led, made = trained
    low = build_report(led, [made.sweep_id], now=NOW, reward_target=5.0)
    assert low.reward_target is not None and low.reward_target.given
    assert all(r.reward_reached for r in low.runs)
    high = build_report(led, [made.sweep_id], now=NOW, reward_target=1e6)
    assert all(r.reward_reached is False for r in high.runs)
    assert all(g.time_to_reward_s is None and g.reached_target.startswith("0 of") for g in high.groups)  # type: ignore[union-attr]
    half = build_report(led, [made.sweep_id], now=NOW, reward_fraction=0.5)
    assert half.reward_target is not None
    finals = [v["final_reward"] for v in made.runs.values()]
    assert half.reward_target.value == pytest.approx(0.5 * max(finals))
    with pytest.raises(UsageError):
        build_report(led, [made.sweep_id], reward_fraction=1.5)


def test_spread_over_repeats(trained: tuple[Ledger, L.Made]) -> None:
    led, made = trained
    rep = build_report(led, [made.sweep_id], now=NOW)
    for g in rep.groups:
        rates = [v["rate"] for r, v in made.runs.items() if _type(led, r) == g.instance_type]
        s = g.spreads["env_steps_per_s"]
        assert s.n == 3
        assert s.mean == pytest.approx(statistics.fmean(rates))
        assert s.std == pytest.approx(statistics.stdev(rates))
        assert (s.lo, s.hi) == (pytest.approx(min(rates)), pytest.approx(max(rates)))
        costs = [r.cost_usd for r in rep.runs if r.instance_type == g.instance_type]
        assert g.spreads["usd_per_run"].hi == pytest.approx(float(max(costs)))


def _type(led: Ledger, run_id: int) -> str:
    return led.instances(run_id=run_id)[0].instance_type


def test_types_in_the_order_the_user_gave(hermetic_env: Path) -> None:
    with Ledger(hermetic_env, clock=lambda: L.T0) as led:
        made = L.training_sweep(led, gpus=(L.A10, L.H100, L.A100), repeats=1, iterations=60)
        # the user typed h100 first, then a100, then a10; the runs were created in another order
        given_order = ["gpu_1x_h100_pcie", "gpu_1x_a100_sxm4", "gpu_1x_a10"]
        led2 = L.training_sweep(
            led,
            "reordered",
            gpus=(L.A10, L.H100, L.A100),
            repeats=1,
            iterations=60,
            t0=L.T0 + 9000,
            type_order=given_order,
        )
        # an older plan without type_order: its run order stands
        led3 = L.training_sweep(
            led,
            "old-plan",
            gpus=(L.A100, L.A10),
            repeats=1,
            iterations=60,
            t0=L.T0 + 19000,
            type_order=[],
        )
        first = build_report(led, [made.sweep_id], now=NOW)
        assert [g.instance_type for g in first.groups] == [
            "gpu_1x_a10",
            "gpu_1x_h100_pcie",
            "gpu_1x_a100_sxm4",
        ]
        given = build_report(led, [led2.sweep_id], now=NOW)
        assert [g.instance_type for g in given.groups] == [
            "gpu_1x_h100_pcie",
            "gpu_1x_a100_sxm4",
            "gpu_1x_a10",
        ]
        assert [r.instance_type for r in given.runs] == given_order
        old = build_report(led, [led3.sweep_id], now=NOW)
        assert [g.instance_type for g in old.groups] == ["gpu_1x_a100_sxm4", "gpu_1x_a10"]
        # the page says which order it shows
        assert given.order_given and not old.order_given
        assert "in the order the types were given" in render(given, "html")
        assert "in the order they ran" in render(old, "html")
        fastest = build_report(led, [made.sweep_id], now=NOW, sort_by="-env_steps_per_s")
        rates = [g.env_steps_per_s or 0 for g in fastest.groups]
        assert rates == sorted(rates, reverse=True)
        cheapest = build_report(led, [made.sweep_id], now=NOW, sort_by="usd_per_million_steps")
        per_m = [g.usd_per_million_steps or 0 for g in cheapest.groups]
        assert per_m == sorted(per_m)
        with pytest.raises(UsageError, match="cannot sort"):
            build_report(led, [made.sweep_id], sort_by="colour")


def test_sort_puts_missing_values_last(hermetic_env: Path) -> None:
    with Ledger(hermetic_env, clock=lambda: L.T0) as led:
        made = L.training_sweep(led, repeats=1, iterations=60)
        bare = led.add_run(made.sweep_id, instance_type="gpu_1x_gh200")
        led.set_run_status(bare, "failed", ts=L.T0)
        rep = build_report(led, [made.sweep_id], now=NOW, sort_by="time_to_reward_s")
    assert rep.groups[-1].instance_type == "gpu_1x_gh200"
    times = [g.time_to_reward_s for g in rep.groups[:-1]]
    assert None not in times and times == sorted(times)  # type: ignore[type-var]


def test_compare_sweeps_side_by_side(hermetic_env: Path) -> None:
    with Ledger(hermetic_env, clock=lambda: L.T0) as led:
        day1 = L.training_sweep(led, "day1", repeats=2, iterations=90)
        day2 = L.training_sweep(led, "day2", repeats=2, iterations=90, t0=L.T0 + 86_400, seed=3)
        rep = build_report(led, [day1.sweep_id, day2.sweep_id], now=NOW)
        merged = build_report(led, [day1.sweep_id, day2.sweep_id], now=NOW, compare=False)
    assert rep.compare and not merged.compare
    assert [g.label for g in rep.groups] == [
        "gpu_1x_a10 · day1",
        "gpu_1x_a10 · day2",
        "gpu_1x_h100_pcie · day1",
        "gpu_1x_h100_pcie · day2",
        "gpu_1x_a100_sxm4 · day1",
        "gpu_1x_a100_sxm4 · day2",
    ]
    assert [g.sweep_id for g in rep.groups] == [day1.sweep_id, day2.sweep_id] * 3
    assert all(g.runs == 2 for g in rep.groups)
    assert [g.runs for g in merged.groups] == [4, 4, 4]
    # one target across both days: the best final reward of all runs in the report
    finals = [v["final_reward"] for v in (day1.runs | day2.runs).values()]
    assert rep.reward_target is not None and rep.reward_target.value == pytest.approx(0.9 * max(finals))


def test_scaling_over_envs_and_gpus(hermetic_env: Path) -> None:
    with Ledger(hermetic_env, clock=lambda: L.T0) as led:
        made = L.scaling_sweep(led)
        rep = build_report(led, [made.sweep_id], now=NOW)
        by_type: dict[str, dict[float, list[float]]] = {}
        for row in led.series(sweep_id=made.sweep_id, name="env_steps_per_s_by_num_envs"):
            itype = _type(led, row.run_id)
            for _t, n, v in row.points:
                assert n is not None
                by_type.setdefault(itype, {}).setdefault(n, []).append(v)
    assert [c.label for c in rep.num_envs_scaling] == ["gpu_1x_a10", "gpu_1x_h100_pcie"]
    for curve in rep.num_envs_scaling:
        means = {n: statistics.fmean(v) for n, v in by_type[curve.label].items()}
        peak = max(means.values())
        assert curve.peak == pytest.approx(peak)
        assert curve.saturates_at == min(n for n, m in means.items() if m >= 0.9 * peak)
        group = next(g for g in rep.groups if g.label == curve.label)
        assert group.saturation_num_envs == curve.saturates_at
    # the faster GPU needs more environments to fill it
    a10, h100 = rep.num_envs_scaling
    assert a10.saturates_at is not None and h100.saturates_at is not None
    assert a10.saturates_at < h100.saturates_at
    (gpus,) = rep.gpu_scaling
    assert gpus.label == "h100_sxm5"
    assert [(p.x, p.rate.mean) for p in gpus.points] == [
        (1.0, pytest.approx(11.0e6)),
        (8.0, pytest.approx(11.0e6 * 8 * 0.93)),
        (16.0, pytest.approx(11.0e6 * 16 * 0.85)),
    ]
    two_nodes = next(r for r in rep.runs if r.nodes == 2)
    assert two_nodes.gpu_count == 16 and two_nodes.instances == 2


def test_gpu_count_from_the_type_name_when_not_recorded(hermetic_env: Path) -> None:
    with Ledger(hermetic_env, clock=lambda: L.T0) as led:
        sweep = led.create_sweep("n")
        for itype, rate in (("gpu_1x_a100_sxm4", 1.0e6), ("gpu_8x_a100_sxm4", 7.2e6)):
            run, _ = L.add_run(led, sweep, L.Gpu(itype, 100, 0, 0), start=L.T0, bench_s=60, name=f"lb-{itype}")
            led.record_metric(run, MetricKey.ENV_STEPS_PER_S, rate)
        rep = build_report(led, [sweep], now=NOW)
    assert [r.gpu_count for r in rep.runs] == [1, 8]
    (curve,) = rep.gpu_scaling
    assert curve.label == "a100_sxm4" and [p.x for p in curve.points] == [1.0, 8.0]


def test_timelines_on_the_billing_clock(trained: tuple[Ledger, L.Made]) -> None:
    led, made = trained
    rep = build_report(led, [made.sweep_id], now=NOW)
    curve = rep.curves[0]
    times = made.runs[curve.run_id]
    start = times["first_active"]
    phases = {p.name: (p.start_s, p.end_s) for p in curve.phases}
    assert phases["set-up"] == (
        pytest.approx(times["setup_start"] - start),
        pytest.approx(times["setup_end"] - start),
    )
    assert phases["benchmark"] == (
        pytest.approx(times["bench_start"] - start),
        pytest.approx(times["bench_end"] - start),
    )
    assert curve.billed_s == pytest.approx(times["terminate_called"] - start)
    names = [t.name for t in curve.telemetry]
    assert names == ["gpu_util_pct", "gpu_mem_mib", "gpu_power_w"]
    (row,) = led.series(run_id=curve.run_id, name="gpu_util_pct")
    assert curve.telemetry[0].points[0] == (
        pytest.approx((row.points[0][0] or 0) - start),
        row.points[0][2],
    )


def test_no_series_no_curves(hermetic_env: Path) -> None:
    with Ledger(hermetic_env, clock=lambda: L.T0) as led:
        sweep = led.create_sweep("probe")
        run, _ = L.add_run(led, sweep, L.A10, start=L.T0, bench_s=30, name="lb-probe")
        led.record_metric(run, "reward", 3.0)
        rep: Report = build_report(led, [sweep], now=NOW)
    assert rep.reward_target is None and rep.num_envs_scaling == () and rep.gpu_scaling == ()
    assert rep.runs[0].reward == 3.0 and rep.runs[0].reward_reached is None
    assert rep.groups[0].reached_target is None


def test_reward_without_wall_times_still_reaches_on_steps(hermetic_env: Path) -> None:
    with Ledger(hermetic_env, clock=lambda: L.T0) as led:
        sweep = led.create_sweep("steps-only")
        run, _ = L.add_run(led, sweep, L.A10, start=L.T0, bench_s=300, name="lb-s")
        led.record_series(run, "reward", [(None, 1e6, 1.0), (None, 3e6, 9.0), (None, 2e6, 5.0)])
        rep = build_report(led, [sweep], now=NOW, reward_target=4.0)
    line = rep.runs[0]
    assert line.reward == 9.0  # ordered by step: the last step's reward is final
    assert line.reward_reached is True and line.steps_to_reward == 2e6
    assert line.time_to_reward_s is None and line.cost_to_reward_usd is None


def test_per_run_figures_divide_by_runs_that_ran(hermetic_env: Path) -> None:
    """Issue 23 item 16: a run left out by --max-cost never launched: it is no run to divide by, and a type
    left out entirely shows no $/run (not $0.0000, sorted cheapest); `report A A` counts A once."""
    with Ledger(hermetic_env, clock=lambda: L.T0) as led:
        made = L.training_sweep(led, gpus=(L.A10,), repeats=1, iterations=60)
        for itype in ("gpu_1x_a10", "gpu_8x_h100_sxm5"):  # a second A10 run and the 8×H100 were left out
            skipped = led.add_run(made.sweep_id, instance_type=itype)
            led.set_run_status(skipped, "cancelled", ts=L.T0)
        rep = build_report(led, [made.sweep_id], now=NOW, sort_by="usd_per_run")
        twice = build_report(led, [made.sweep_id, made.sweep_id], now=NOW)
    a10 = next(g for g in rep.groups if g.instance_type == "gpu_1x_a10")
    h100 = next(g for g in rep.groups if g.instance_type == "gpu_8x_h100_sxm5")
    assert a10.usd_per_run == a10.cost_usd and a10.cost_usd > 0
    assert h100.usd_per_run is None and rep.groups[-1] is h100
    assert "$0.0000" not in render(rep, "table").split("gpu_8x_h100_sxm5", 1)[1].splitlines()[0]
    assert twice.cost_usd == rep.cost_usd and len(twice.runs) == len(rep.runs) and not twice.compare
