"""Every ending is told (issue 31 item 4): a signal after the teardown, while the report prints, ends the
CLI with the one-line truth of what was proven, never silently; each case failed on the code before."""

from __future__ import annotations

import array
import fcntl
import os
import signal
import subprocess
import termios
import time
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger
from tests.reliability.conftest import LB, Sim, needs_sshd, record, simulator

pytestmark = needs_sshd

F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux); named here for Pythons without the constant


def _queued(fd: int) -> int:
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


def _sweep_blocked_in_the_report(sim: Sim, home: Path, *args: str) -> subprocess.Popen[str]:
    """A CLI sweep whose stdout is a 4 KiB pipe nobody reads: the HTML report (over 10 KiB) blocks in its write."""
    proc = subprocess.Popen([*LB, "sweep", "--gpus", "a10", "--playbook", "gpu-probe", "--format", "html", *args],
                            env=sim.client_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    fcntl.fcntl(proc.stdout.fileno(), F_SETPIPE_SZ, 4096)
    return proc


def _wait_until_blocked(proc: subprocess.Popen[str], timeout: float = 90) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _queued(proc.stdout.fileno()) >= 4096:
            return  # the pipe is full: the CLI is inside the report's write, the teardown long done
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    raise AssertionError("the report never filled the pipe")


def _all_gone(home: Path) -> None:
    with Ledger(home) as ledger:
        rows = ledger.instances()
        assert rows and all(r.gone is not None for r in rows), rows


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_the_report_prints_is_told(tmp_path: Path, sig: int) -> None:
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        proc = _sweep_blocked_in_the_report(sim, home)
        _wait_until_blocked(proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    name = signal.Signals(sig).name
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 128 + sig, (proc.returncode, err[-2000:])
    assert last.startswith(f"error: {name} after the sweep ended: 1 run(s) succeeded and every instance it "
                           "launched was terminated and proven gone"), last
    assert "lambdabench report" in last and "Traceback" not in err
    _all_gone(home)
    record(f"leak:ending-late-{name}")


def test_two_ctrl_cs_keep_the_proven_gone_statement(tmp_path: Path) -> None:
    from tests.e2e.conftest import wait_for_line

    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        proc = _sweep_blocked_in_the_report(sim, home)
        wait_for_line(proc, "booting", 60)
        proc.send_signal(signal.SIGINT)  # the sweep stops and tears down
        _wait_until_blocked(proc)
        proc.send_signal(signal.SIGINT)  # ...and again, while the report prints
        _, err = proc.communicate(timeout=60)
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "every instance it launched was terminated and proven gone" in last, last
    assert "SIGINT while the report printed" in last, last
    _all_gone(home)
    record("leak:ending-two-ctrl-c")


def test_after_teardown_raises_once_then_only_notes() -> None:
    from lambdabench.run.sweep import AfterTeardown

    before = signal.getsignal(signal.SIGTERM)
    reached = []
    with AfterTeardown() as late:
        with late.printing():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # interrupted by the handler's raise
            reached.append("slept")
        os.kill(os.getpid(), signal.SIGTERM)  # only noted: the verdict is still said
        reached.append("after")
    assert reached == ["after"] and late.signal is not None and late.signal.name == "SIGTERM"
    assert late.exit_code(1) == 143 and signal.getsignal(signal.SIGTERM) == before
