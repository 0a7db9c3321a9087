"""--reuse (issue 29 item 3): a type's repeats back to back on one instance, each its own run; torn down as always."""

from __future__ import annotations

import threading
import time

import pytest

from lambdabench.errors import RemoteError, UsageError
from lambdabench.run.context import RunContext
from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import Sim


def accepted(simenv: Sim) -> list[dict[str, object]]:
    """Launches the cloud accepted (a capacity refusal in one region is followed by a launch in the next)."""
    return [r for r in simenv.launches() if r["status"] == 200]


class OnInstance:
    """A remote phase that notes which instance each run landed on; optionally fails one run or stops the sweep."""

    def __init__(self, fail: str | None = None, seconds: float = 0.05) -> None:
        self.fail = fail
        self.seconds = seconds
        self.on: dict[str, str] = {}
        self.reused: dict[str, str | None] = {}
        self.started = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, rc: RunContext) -> None:
        with self.lock:
            self.on[rc.label] = rc.rank0.name
            self.reused[rc.label] = rc.reused_from.label if rc.reused_from else None
        if rc.reused_from is not None:
            self.started.set()
        time.sleep(self.seconds)
        if rc.label == self.fail:
            raise RemoteError("benchmark exited 1", command="train.py", exit_status=1)
        rc.ledger.record_metric(rc.run_id, "env_steps_per_s", 1000.0, unit="steps/s", source="test")


def test_reuse_repeat_3_launches_one_instance_per_type(simenv: Sim) -> None:
    lab = simenv.lab()
    plan = lab.plan(SweepRequest("a10,h100", "gpu-probe", {}, repeat=3, reuse=True))
    assert {r["run"]: r["on"] for r in plan.describe()}["a10#3"] == "a10#1"
    phase = OnInstance()
    result = lab.sweep(plan, phase=phase, install_signal_handlers=False)
    assert sorted(result.succeeded) == sorted(r.label for r in plan.runs) and not result.failed, result
    assert len(accepted(simenv)) == 2  # one per type, not one per run
    assert phase.on["a10#1"] == phase.on["a10#2"] == phase.on["a10#3"] != phase.on["h100-sxm5#1"]
    assert phase.reused == {
        "a10#1": None,
        "a10#2": "a10#1",
        "a10#3": "a10#1",
        "h100-sxm5#1": None,
        "h100-sxm5#2": "h100-sxm5#1",
        "h100-sxm5#3": "h100-sxm5#1",
    }
    assert simenv.live() == []
    runs = lab.ledger.runs(result.sweep_id)
    assert len(runs) == 6 and all(r.status == "succeeded" and r.started and r.ended for r in runs)
    # each run timed on its own: the repeats on one instance follow one another
    a10 = sorted((r for r in runs if r.instance_type == "gpu_1x_a10"), key=lambda r: r.started or 0)
    assert all((a.ended or 0) <= (b.started or 0) for a, b in zip(a10, a10[1:], strict=False))
    assert len({m.run_id for m in lab.ledger.metrics(sweep_id=result.sweep_id) if m.key == "env_steps_per_s"}) == 6
    assert len(lab.ledger.instances(sweep_id=result.sweep_id)) == 2
    assert lab.ledger.integrity_check() == []
    lab.close()


def test_a_failed_repeat_does_not_stop_the_next_and_the_instance_is_torn_down(simenv: Sim) -> None:
    lab = simenv.lab()
    plan = lab.plan(SweepRequest("a10", "gpu-probe", {}, repeat=3, reuse=True))
    result = lab.sweep(plan, phase=OnInstance(fail="a10#2"), install_signal_handlers=False)
    assert list(result.failed) == ["a10#2"] and sorted(result.succeeded) == ["a10#1", "a10#3"], result
    assert len(accepted(simenv)) == 1 and simenv.live() == []
    lab.close()


def test_reuse_interrupted_mid_repeats_leaves_nothing_running(simenv: Sim) -> None:
    lab = simenv.lab()
    plan = lab.plan(SweepRequest("a10", "gpu-probe", {}, repeat=3, reuse=True))
    phase = OnInstance(seconds=2)
    runner = lab.runner(plan, phase=phase, install_signal_handlers=False)
    threading.Thread(target=lambda: phase.started.wait(30) and runner.stop.set(), daemon=True).start()
    result = runner.run()
    assert result.succeeded == ["a10#1"] and sorted(result.cancelled) == ["a10#2", "a10#3"], result
    assert simenv.live() == []
    assert all(i.gone is not None for i in lab.ledger.instances(sweep_id=result.sweep_id))
    lab.close()


def test_reuse_budget_counts_the_runs_that_follow(simenv: Sim) -> None:
    lab = simenv.lab()
    # 5 cents per run at this cap (see test_max_cost_is_never_exceeded): 3 runs on one instance need 15
    # (a budget that admits none of them is refused at planning: nothing in the ledger, nothing launched)
    with pytest.raises(UsageError, match=r"--max-cost 0.10 admits none of the 3 run\(s\)"):
        lab.plan(SweepRequest("a10", "gpu-probe", {}, repeat=3, reuse=True, max_run_minutes=20, max_cost="0.10"))
    assert simenv.launches() == [] and lab.ledger.sweeps() == []
    lab.close()


class SetUpThenFail(OnInstance):
    """The lead's set-up finishes (its facts kept for the followers) or not, then its benchmark fails."""

    def __init__(self, setup_ok: bool) -> None:
        super().__init__(fail="a10#1")
        self.setup_ok = setup_ok

    def __call__(self, rc: RunContext) -> None:
        if rc.reused_from is None and self.setup_ok:
            rc.setup_facts = {0: {"gpu_count": 1}}
        super().__call__(rc)


def test_a_failed_set_up_skips_the_repeats_a_failed_benchmark_does_not(simenv: Sim) -> None:
    lab = simenv.lab()
    plan = lab.plan(SweepRequest("a10", "gpu-probe", {}, repeat=3, reuse=True))
    result = lab.sweep(plan, phase=SetUpThenFail(setup_ok=False), install_signal_handlers=False)
    assert list(result.failed) == ["a10#1"] and sorted(result.skipped) == ["a10#2", "a10#3"], result
    assert "never finished its set-up" in result.skipped["a10#2"]
    result = lab.sweep(
        lab.plan(SweepRequest("a10", "gpu-probe", {}, repeat=3, reuse=True)),
        phase=SetUpThenFail(setup_ok=True),
        install_signal_handlers=False,
    )
    assert list(result.failed) == ["a10#1"] and sorted(result.succeeded) == ["a10#2", "a10#3"], result
    assert simenv.live() == []
    lab.close()


def test_an_interrupted_reuse_sweep_resumes_its_repeats_on_one_new_instance(simenv: Sim) -> None:
    lab = simenv.lab()
    plan = lab.plan(SweepRequest("a10", "gpu-probe", {}, repeat=3, reuse=True))
    phase = OnInstance(seconds=2)
    runner = lab.runner(plan, phase=phase, install_signal_handlers=False)
    threading.Thread(target=lambda: phase.started.wait(30) and runner.stop.set(), daemon=True).start()
    first = runner.run()
    assert first.succeeded == ["a10#1"] and simenv.live() == []
    again = OnInstance()
    result = lab.resume(first.sweep_id, phase=again, install_signal_handlers=False)
    assert sorted(result.succeeded) == ["a10#2", "a10#3"], result
    assert again.reused == {"a10#2": None, "a10#3": "a10#2"}  # the first left becomes the lead
    assert len(accepted(simenv)) == 2 and simenv.live() == []
    lab.close()
