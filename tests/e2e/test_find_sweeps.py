"""Finding things (issue 24 item 5): `sweeps`, `status [SWEEP] [--watch]`, the end-of-sweep summary and
report path, --notify, and `resume` refusing what is not an unfinished sweep."""

from __future__ import annotations

import json

import pytest

from lambdabench.simulate import SimProcess
from tests.e2e.conftest import wait_for_line


def test_a_sweep_ends_with_its_summary_and_is_found_afterwards(simproc: SimProcess) -> None:
    done = simproc.home / "notified.txt"
    out = simproc.cli(
        "sweep",
        "--gpus",
        "a10,a100",
        "--playbook",
        "gpu-probe",
        "--name",
        "first look",
        "--notify",
        f'printf "%s|%s|%s" "$LAMBDABENCH_SWEEP" "$LAMBDABENCH_OUTCOME" "${{LAMBDA_API_KEY:-none}}" > {done}',
        timeout=240,
    )
    assert out.returncode == 0, out.stderr
    tail = out.stderr.strip().splitlines()[-3:]
    assert tail[0].startswith("gpu_1x_a10: 1/1 succeeded, $") and tail[1].startswith("gpu_1x_a100: 1/1 succeeded")
    report = simproc.home / "runs" / "sweep-1" / "report.html"
    assert tail[2] == f"report: {report}" and report.exists()
    assert done.read_text() == "1|sweep 1: 2 of 2 run(s) succeeded|none"  # the API key never reaches it

    listed = json.loads(simproc.cli("sweeps", "--json").stdout)
    assert [(s["id"], s["name"], s["status"], s["types"], s["report"]) for s in listed] == [
        (1, "first look", "finished", ["gpu_1x_a10", "gpu_1x_a100"], str(report))
    ]
    assert listed[0]["cost_usd"] > 0 and listed[0]["started"]
    table = simproc.cli("sweeps").stdout
    assert "first look" in table and "finished (simulated)" in table

    board = simproc.cli("status")
    assert board.returncode == 0 and "sweep 1 (first look): finished" in board.stdout
    assert board.stdout.count("succeeded  gone") == 2

    # a launch record is not a sweep: resume refuses it, and a finished sweep, naming the list
    launched = simproc.cli("launch", "--gpu", "a10")
    assert launched.returncode == 0, launched.stderr
    refused = simproc.cli("resume", "2")
    assert refused.returncode != 0
    assert refused.stderr.strip() == (
        "error: 2 is not a sweep: it records `launch gpu_1x_a10` — No sweep is unfinished (see `lambdabench sweeps`)."
    )
    assert "nothing left to run" in simproc.cli("resume", "1").stderr
    assert "list sweeps with `lambdabench sweeps`" in simproc.cli("resume", "9").stderr
    assert [s["id"] for s in json.loads(simproc.cli("sweeps", "--json").stdout)] == [1]
    assert simproc.cli("down", launched.stdout.split()[0]).returncode == 0


@pytest.mark.slow  # default-suite time (issue rule: ~15 min on 2 cores); a sibling covers the core path
def test_status_watches_a_live_sweep_from_another_terminal(tmp_path) -> None:
    simproc = SimProcess(tmp_path, time_scale=30)  # a 10-second boot: the sweep is still running when looked at
    proc = simproc.popen("sweep", "--gpus", "a10", "--playbook", "gpu-probe")
    try:
        wait_for_line(proc, "booting")
        live = simproc.cli("status", "1", "--json")
        board = json.loads(live.stdout)
        assert board["sweep"]["status"] == "running"
        assert board["runs"][0]["phase"] in (
            "launching",
            "booting",
            "active, waiting for SSH",
            "preflight",
            "benchmark",
            "benchmark next",
            "set-up",
            "pulling results",
            "pulled",
            "terminating",
        )
        watched = simproc.cli("status", "--watch", timeout=180)  # returns once the sweep has ended
        heads = [line for line in watched.stdout.splitlines() if line.startswith("sweep 1")]
        assert watched.returncode == 0 and heads[-1].startswith("sweep 1: finished"), watched.stdout
        proc.communicate(timeout=180)
        assert proc.returncode == 0
        assert "no sweep 7 in the ledger" in simproc.cli("status", "7").stderr
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=120)
        simproc.stop()
