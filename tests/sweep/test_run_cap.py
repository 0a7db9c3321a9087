"""The headline command does what it says (issue 24 item 2): the default run cap comes from the playbooks'
expected minutes, a run left out for budget is named with the flags that admit it, nothing-fits is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambdabench.config import Settings
from lambdabench.errors import UsageError
from lambdabench.lab import Lab
from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import Sim, simulator


@pytest.fixture
def realtime() -> Iterator[Sim]:
    """The simulator at time scale 1: plans priced as on the real cloud (planning waits for nothing)."""
    with simulator(scale=1.0) as sim:
        yield sim


def test_the_headline_command_fits_both_types_in_five_dollars(realtime: Sim) -> None:
    with realtime.lab() as lab:
        plan = lab.plan(SweepRequest(gpus="a100,h100", max_cost="5"))
        assert plan.playbook == "mjx-locomotion"
        # boot 5 min + (gpu-preflight 1 + mjx-locomotion 8) × 1.25, rounded up
        assert plan.max_minutes == 17 and "expected 9 min" in plan.cap_reason
        assert plan.total_worst_case_cents <= 500
        assert plan.left_out_for_budget() == []
        assert sorted(r.target.name for r in plan.runs) == ["gpu_1x_a100", "gpu_1x_h100_sxm5"]


def test_a_slow_boot_lengthens_the_cap_and_seeds_add_benchmark_passes(realtime: Sim) -> None:
    with realtime.lab() as lab:
        assert lab.plan(SweepRequest(gpus="8xh100")).max_minutes == 25 + 12
        assert lab.plan(SweepRequest(gpus="a100", seeds=3)).max_minutes == 5 + 32  # (1 + 3 × 8) × 1.25
        assert lab.plan(SweepRequest(gpus="a100", max_run_minutes=45)).max_minutes == 45


def test_a_playbook_that_declares_no_duration_keeps_the_three_hour_cap(realtime: Sim) -> None:
    home = realtime.lab().settings.home
    (home / "playbooks").mkdir(parents=True, exist_ok=True)
    (home / "playbooks" / "mine.yaml").write_text("name: mine\nsteps:\n  - run: nvidia-smi -L\n")
    with realtime.lab() as lab:
        plan = lab.plan(SweepRequest(gpus="a100", playbook="mine"))
        assert plan.max_minutes == 180 and "mine declare(s) no expected_minutes" in plan.cap_reason


def test_a_run_left_out_for_budget_is_named_with_the_flags_that_admit_it(realtime: Sim) -> None:
    with realtime.lab() as lab:
        plan = lab.plan(SweepRequest(gpus="a100,8xh100", max_cost="5"))
        left = plan.left_out_for_budget()
        assert [r.target.name for r in left] == ["gpu_8x_h100_sxm5"]
        hint = plan.budget_hint()
        need = plan.total_worst_case_cents / 100
        assert f"--max-cost {need:.2f}" in hint
        # each flag the hint names really admits every run
        assert lab.plan(SweepRequest(gpus="a100,8xh100", max_cost=f"{need:.2f}")).left_out_for_budget() == []
        if "--max-run-minutes" in hint:
            minutes = float(hint.split("--max-run-minutes ")[1].split()[0])
            fitted = lab.plan(SweepRequest(gpus="a100,8xh100", max_cost="5", max_run_minutes=minutes))
            assert fitted.left_out_for_budget() == []
            assert minutes >= (fitted.expected_cloud_minutes() or 0)


def test_a_budget_that_admits_nothing_is_refused_before_the_ledger(realtime: Sim) -> None:
    with realtime.lab() as lab:
        with pytest.raises(UsageError) as caught:
            lab.plan(SweepRequest(gpus="a100,h100", max_cost="0.50"))
        assert "--max-cost 0.50 admits none of the 2 run(s): the cheapest worst case is $" in caught.value.message
        assert "--max-cost " in (caught.value.hint or "")
        assert lab.ledger.sweeps() == [] and realtime.launches() == []


def test_the_cli_exits_non_zero_naming_a_run_left_out(tmp_path) -> None:
    """A sweep that runs what fits still says what it left out, and fails."""
    from lambdabench.simulate import SimProcess

    sim = SimProcess(tmp_path)
    try:
        with Lab(Settings.load(env=sim.client_env())) as lab:
            plan = lab.plan(SweepRequest(gpus="a10,a100", playbook="gpu-probe"))
            first = plan.runs[0]
            budget = plan.worst_case_cents(first) / 100
        out = sim.cli(
            "sweep", "--gpus", "a10,a100", "--playbook", "gpu-probe", "--max-cost", f"{budget:.2f}", timeout=240
        )
        assert out.returncode != 0, out.stderr
        other = next(r for r in plan.runs if r is not first)
        assert f"left out: {other.label}" in out.stderr
        assert "1 of 2 runs not run: " in out.stderr.splitlines()[-1]
        assert "--max-cost" in out.stderr.splitlines()[-1]
    finally:
        sim.stop()


def test_the_readme_states_the_headline_commands_figures(realtime: Sim) -> None:
    """The README's first-sweep figures are the plan's own, and its first commands stay the set-up two."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == [
        "bash .ci/setup && .venv/bin/lambdabench demo",
        "bash .ci/setup && .venv/bin/python -m pytest -q",
    ]
    assert readme.index("## Install it as a tool") < readme.index("## Your first real sweep")
    with realtime.lab() as lab:
        plan = lab.plan(SweepRequest(gpus="a100,h100", max_cost="5"))
    assert f"{plan.max_minutes} minutes for\n`a100,h100`" in readme
    assert f"${plan.total_worst_case_cents / 100:.2f} for both" in readme


def test_the_plan_says_how_the_applied_cap_came_from_the_cloud_minutes(realtime: Sim) -> None:
    with realtime.lab() as lab:  # the real cloud's arithmetic: nothing scaled, the sum is the cap
        plan = lab.plan(SweepRequest(gpus="a100"))
        assert plan.max_minutes == 17 and "× 1.25 = 17 min; --max-run-minutes" in plan.cap_reason
        assert "scale" not in plan.cap_reason and "floor" not in plan.cap_reason
        assert lab.plan(SweepRequest(gpus="a100", max_run_minutes=45)).cap_reason == "--max-run-minutes 45"
    with simulator(scale=60.0) as sim, sim.lab() as lab:  # 17 cloud min are 17 s here: the floor applies
        plan = lab.plan(SweepRequest(gpus="a100"))
        assert plan.max_minutes == 10, plan.cap_reason
        assert (
            "× 1.25 = 17 min; 17 cloud min ÷ the simulator's time scale 60 = 0.3 min, raised to its 10-min floor"
            in (plan.cap_reason)
        )
        forced = lab.plan(SweepRequest(gpus="a100", max_run_minutes=120))  # no floor under an explicit cap
        assert forced.max_minutes == 2
        assert forced.cap_reason == "--max-run-minutes 120; 120 cloud min ÷ the simulator's time scale 60 = 2.0 min"
