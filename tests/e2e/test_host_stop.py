"""Issue 23 item 11: however a run on a machine you bring ends, its benchmark and its GPU sampler stop there.

The machine is this one (`sweep --local`) looking like the simulator's A10 image (its nvidia-smi, whose
`--loop-ms` keeps sampling until stopped). The benchmark is a detached job that ignores SIGTERM and runs
for five minutes; the playbook starts the telemetry sampler itself, as the MJX benchmark does. The test
reads the two processes' pids from the files they write and checks, by pid, that both are gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger
from lambdabench.run.phases import SAMPLER as SAMPLER_SCRIPT
from lambdabench.simulate import needs_sshd
from tests.e2e.test_byo_hosts import _local_env
from tests.reliability.conftest import simulator

pytestmark = [needs_sshd, pytest.mark.timeout(240)]
LB = [sys.executable, "-m", "lambdabench.cli"]

HOLD = """
name: hold
description: a benchmark that holds the machine until it is stopped
steps:
  - name: put sampler
    put: {{src: {sampler}, dest: hold/telemetry_sampler.sh}}
  - name: start sampler
    run: sh hold/telemetry_sampler.sh start hold/telemetry.csv hold/sampler.pid 200
  - name: bench
    detach: true
    timeout: {limit}
    run: >-
      if [ -f hold/ran-once ]; then exit 0; fi; touch hold/ran-once;
      trap '' TERM; echo $$ > hold/job.pid; exec sleep 300
  - name: stop sampler
    run: sh hold/telemetry_sampler.sh stop hold/sampler.pid
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _pids(work: Path, proc: subprocess.Popen[str], timeout: float = 90.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return int((work / "job.pid").read_text()), int((work / "sampler.pid").read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the benchmark never started: {proc.communicate()[1][-3000:]}")


def _start(tmp_path: Path, env: dict[str, str], *extra: str, limit: int = 7200) -> subprocess.Popen[str]:
    book = tmp_path / "hold.yaml"
    book.write_text(HOLD.format(sampler=SAMPLER_SCRIPT, limit=limit))
    return subprocess.Popen(
        [*LB, "sweep", "--local", "--playbook", str(book), "--format", "json", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check_stopped(pids: tuple[int, int], home: Path) -> None:
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert not _alive(pids[0]), "the benchmark job still runs on the machine"
        assert not _alive(pids[1]), "nvidia-smi --loop-ms still samples on the machine"
    finally:
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
    with Ledger(home) as ledger:
        rows = ledger.instances()
        assert rows and all(r.kind == "local" and r.gone is not None for r in rows)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_run_on_this_machine(tmp_path: Path, sig: signal.Signals) -> None:
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        env = _local_env(sim, home, "e" * 32)
        proc = _start(tmp_path, env)
        try:
            pids = _pids(home / "local" / "home" / "hold", proc)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode != 0
        _check_stopped(pids, home)


@pytest.mark.parametrize("how", ["max-run-minutes", "step-timeout"])
def test_the_runs_own_limits_stop_the_run_on_this_machine(tmp_path: Path, how: str) -> None:
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        env = _local_env(sim, home, "f" * 32)
        # 40 cloud minutes at 300x: 8 real seconds; the step's own limit: 3 seconds (not scaled)
        extra = ("--max-run-minutes", "40") if how == "max-run-minutes" else ()
        proc = _start(tmp_path, env, *extra, limit=3 if how == "step-timeout" else 7200)
        try:
            pids = _pids(home / "local" / "home" / "hold", proc)
            _, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode != 0 and ("maximum duration" in err or "timed out" in err), err[-2000:]
        _check_stopped(pids, home)


def test_kill_9_then_resume_stops_what_the_dead_run_left(tmp_path: Path) -> None:
    """kill -9 skips every handler: `resume` stops the dead run's job and sampler before running it again, and
    the report never shows this machine as still billing in between."""
    import json

    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        env = _local_env(sim, home, "9" * 32)
        proc = _start(tmp_path, env)
        try:
            pids = _pids(home / "local" / "home" / "hold", proc)
            proc.kill()
            proc.wait(timeout=30)
            report = subprocess.run(
                [*LB, "report", "--format", "json"], env=env, capture_output=True, text=True, timeout=60
            )
            assert report.returncode == 0, report.stderr
            doc = json.loads(report.stdout)
            assert doc["totals"]["still_billing"] == 0 and not any(r["still_billing"] for r in doc["runs"])
            with Ledger(home) as ledger:
                sweep = ledger.latest_sweep()
                assert sweep is not None
            out = subprocess.run(
                [*LB, "resume", str(sweep.id), "--format", "json"], env=env, capture_output=True, text=True, timeout=120
            )
            assert out.returncode == 0, out.stderr[-3000:]
            assert json.loads(out.stdout)
        finally:
            proc.kill()
        _check_stopped(pids, home)
