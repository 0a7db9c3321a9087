"""Issue 16's promises about data flow: fetched and parsed once, resume keeps the plan, one record per run."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from lambdabench.run.context import RunContext
from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import Sim


def test_one_instance_types_fetch_per_plan_and_each_playbook_parsed_once(simenv: Sim, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import lambdabench.remote.playbook as pb

    parsed: list[str] = []
    real = pb._load_playbook

    def counting(path: Path) -> pb.Playbook:
        parsed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(pb, "_load_playbook", counting)
    lab = simenv.lab(NGC_API_KEY="nvapi-simulated-test-key")  # plans isaaclab-train: setup logs in to nvcr.io
    before = len(simenv.core.requests())
    plan = lab.plan(SweepRequest("a10,a100,h100", "isaaclab-train", {}, repeat=2))
    result = lab.sweep(plan, phase=lambda rc: None, install_signal_handlers=False)
    assert len(result.succeeded) == 6
    types = [r for r in simenv.core.requests()[before:] if r["path"].endswith("/instance-types")]
    assert len(types) == 1, len(types)  # the plan's snapshot; launching found capacity, so no refresh
    # the benchmark, the playbooks around it and the preflight: each once for the whole sweep of 6 runs
    assert sorted(parsed) == sorted({"isaaclab-train.yaml", "setup.yaml", "collect.yaml", "gpu-preflight.yaml"})
    lab.close()


def test_resume_keeps_the_region_and_the_parallelism(simenv: Sim) -> None:
    lab = simenv.lab()
    plan = lab.plan(SweepRequest("a10", "gpu-probe", {}, repeat=3, region="us-east-1", max_parallel=1))
    runner = lab.runner(plan, phase=lambda rc: time.sleep(0.3), install_signal_handlers=False)
    threading.Timer(0.5, runner.stop.set).start()
    first = runner.run()
    assert first.interrupted is False or first.cancelled
    assert lab.ledger.sweep(first.sweep_id).plan["region"] == "us-east-1"
    seen: list[tuple[str | None, int]] = []
    lock = threading.Lock()
    running = [0]

    def phase(rc: RunContext) -> None:
        with lock:
            running[0] += 1
            seen.append((rc.region, running[0]))
        time.sleep(0.2)
        with lock:
            running[0] -= 1

    result = lab.resume(first.sweep_id, install_signal_handlers=False, phase=phase)
    assert result.succeeded, result
    assert {region for region, _ in seen} == {"us-east-1"}
    assert max(n for _, n in seen) == 1  # --max-parallel 1 still holds
    assert all(r.status == "succeeded" for r in lab.ledger.runs(first.sweep_id))
    lab.close()


def test_every_run_record_is_written_once_after_teardown_with_its_cost(simenv: Sim) -> None:
    lab = simenv.lab()
    result = lab.sweep(
        SweepRequest("a10", "torchrun", {"script": "t.py"}, nodes=2),
        phase=lambda rc: None,
        install_signal_handlers=False,
    )
    assert result.succeeded, result.failed
    record = json.loads(next(lab.sweep_dir(result.sweep_id).glob("run-*/result.json")).read_text())
    assert record["run"]["status"] == "succeeded"
    assert record["cost"]["billed_minutes_policy"] >= 2  # both nodes, after they were proven gone
    lab.close()


def test_the_public_face_drives_a_sweep(simenv: Sim) -> None:
    """The README's Python example, through `lambdabench`'s own names only."""
    import os

    import lambdabench
    from lambdabench import Lab, Settings, SweepRequest

    assert {"Lab", "SweepRequest", "SweepPlan", "SweepResult", "Report", "LambdabenchError"} <= set(lambdabench.__all__)
    with Lab(Settings.load(env={**os.environ, **simenv.env})) as lab:
        plan = lab.plan(SweepRequest(gpus="a10", playbook="gpu-probe", max_cost="5"))
        assert isinstance(plan, lambdabench.SweepPlan) and plan.total_worst_case_cents > 0
        result = lab.sweep(plan, phase=lambda rc: None, install_signal_handlers=False)
        assert isinstance(result, lambdabench.SweepResult) and result.succeeded == ["a10#1"] and result.all_gone
        assert isinstance(lab.report([result.sweep_id]), lambdabench.Report)
