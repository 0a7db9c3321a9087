"""Issue 27 item 3: a run's outputs are read after its teardown (no billed second goes to the ingest), and a
run whose outputs were pulled before a crash is read by `resume`, never run again."""

from __future__ import annotations

import json
from pathlib import Path

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd
from tests.e2e.conftest import wait_for_line

pytestmark = [needs_sshd]

# what only the ingest records for gpu-probe: the GPU count and telemetry (nvidia-smi), its own duration
INGESTED = ("nvidia-smi", "overhead")


def test_the_ingest_happens_after_the_accepted_terminate_also_under_reuse(simproc: SimProcess) -> None:
    out = simproc.cli("sweep", "--gpus", "a10", "--playbook", "gpu-probe", "--repeat", "2", "--reuse", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    with Ledger(simproc.home) as ledger:
        (inst,) = ledger.instances()
        assert inst.terminate_called is not None and inst.pull_end is not None
        runs = sorted(ledger.runs(), key=lambda r: r.params["repeat"])
        assert [r.status for r in runs] == ["succeeded", "succeeded"]
        for run in runs:
            read = [m for m in ledger.metrics(run_id=run.id) if m.source in INGESTED]
            # billing ends at the accepted terminate (FIELD-NOTES "Money"): every figure is read after it
            assert read and all(m.recorded >= inst.terminate_called for m in read), (inst.terminate_called, read)
            assert {m.key for m in read} >= {"gpu_count", "ingest_after_teardown_s"}, read
            assert "ingest_s" not in {m.key for m in read}  # the report's billed ingest: none any more
            run_dir = next((simproc.home / "runs").glob(f"sweep-{run.sweep_id}/run-{run.id}-*"))
            record = json.loads((run_dir / "result.json").read_text())
            assert record["run"]["status"] == "succeeded" and record["cost"], record
            assert not (run_dir / ".ingest-pending.json").exists()
        # each run's own time on the shared instance: the first ended before the second started
        assert (runs[0].ended or 0) <= (runs[1].started or 0)
    assert simproc.live() == []


def test_a_crash_between_terminate_and_ingest_is_read_by_resume_not_run_again(tmp_path: Path) -> None:
    scenario = tmp_path / "slow-terminate.yaml"
    scenario.write_text("terminate_seconds: 1500\n")  # 5 s in `terminating` at x300: the crash lands there
    sim = SimProcess(tmp_path, time_scale=300, scenario=scenario)
    try:
        proc = sim.popen("sweep", "--gpus", "a10", "--playbook", "gpu-probe")
        wait_for_line(proc, "terminate accepted for", timeout=120)
        proc.kill()  # SIGKILL: the teardown's proof and the ingest never happen in this process
        proc.wait()
        with Ledger(sim.home) as ledger:
            (run,) = ledger.runs()
            assert run.status == "running" and not [m for m in ledger.metrics() if m.source in INGESTED]
        run_dir = next((sim.home / "runs").glob(f"sweep-{run.sweep_id}/run-{run.id}-*"))
        assert (run_dir / ".ingest-pending.json").exists()
        out = sim.cli("resume", str(run.sweep_id), "--yes", timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        assert "pulled before the crash; reading them now" in out.stderr
        with Ledger(sim.home) as ledger:
            (again,) = ledger.runs()
            assert again.status == "succeeded" and ledger.live_instances() == []
            assert {m.key for m in ledger.metrics(run_id=run.id)} >= {"gpu_count", "ingest_after_teardown_s"}
            assert ledger.integrity_check() == []
        assert len(sim.requests("/instance-operations/launch")) == 1  # read, not run again
        record = json.loads((run_dir / "result.json").read_text())
        assert record["run"]["status"] == "succeeded" and record["hardware"]["gpu_count"] == 1
        assert not (run_dir / ".ingest-pending.json").exists()
        assert sim.live() == []
    finally:
        sim.stop()
    assert sim.proc.returncode == 0
