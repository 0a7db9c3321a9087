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
from lambdabench.simulate import Sim, needs_sshd
from tests.reliability.conftest import LB, record, simulator

pytestmark = needs_sshd

F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux); named here for Pythons without the constant


def _queued(fd: int) -> int:
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


def _sweep_blocked_in_the_report(sim: Sim, home: Path, *args: str) -> subprocess.Popen[str]:
    """A CLI sweep whose stdout is a 4 KiB pipe nobody reads: the HTML report (over 10 KiB) blocks in its write."""
    proc = subprocess.Popen(
        [*LB, "sweep", "--gpus", "a10", "--playbook", "gpu-probe", "--format", "html", *args],
        env=sim.client_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
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
    assert last.startswith(
        f"error: {name} after the sweep ended: 1 run(s) succeeded and every instance it "
        "launched was terminated and proven gone"
    ), last
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


# ---- item 6: smaller endings ----------------------------------------------------------------------


def test_pull_on_a_kitless_instance_takes_the_work_folder_not_docker_cp(tmp_path: Path) -> None:
    import json

    from tests.reliability.conftest import assert_cli_one_error, cli

    with simulator(None, scale=300.0) as sim:
        env = sim.client_env(tmp_path / "home")
        name = json.loads(cli(["launch", "--gpu", "a10", "--wait", "--json"], env).stdout)["name"]
        try:
            empty = cli(["pull", name], env)  # neither a container nor a 3.x work folder: said, not a docker error
            assert "--src" in assert_cli_one_error(empty)
            made = cli(
                [
                    "exec",
                    name,
                    "--",
                    "sh",
                    "-c",
                    "mkdir -p isaaclab3-work/logs/rsl_rl/cartpole/run1 && "
                    "echo weights > isaaclab3-work/logs/rsl_rl/cartpole/run1/model_9.pt",
                ],
                env,
            )
            assert made.returncode == 0, made.stderr
            out = cli(["pull", name, "--dest", str(tmp_path / "got")], env)
            assert out.returncode == 0, out.stderr
            assert "1 file(s)" in out.stdout and "all verified" in out.stdout
            assert (
                tmp_path / "got" / "artifacts" / "rsl_rl" / "cartpole" / "run1" / "model_9.pt"
            ).read_text() == "weights\n"
            argv = "".join(p.read_text() for p in Path(sim.hosts.hosts_dir).glob("*/argv.log"))
            assert '"cp"' not in argv and "docker cp" not in argv, argv[-2000:]
        finally:
            assert cli(["down", name], env).returncode == 0
    record("leak:ending-pull-kitless")


def test_a_hosts_only_sweep_never_speaks_of_terminating_instances(tmp_path: Path) -> None:
    """Ctrl-C in a sweep of only your machines: said as what it is (nothing launched, machines left as they are)."""
    from lambdabench.cli import _sweep_verdict
    from lambdabench.config import Settings
    from lambdabench.errors import Cancelled
    from lambdabench.lab import Lab
    from lambdabench.run.plan import SweepRequest
    from lambdabench.run.sweep import Event

    said: list[Event] = []
    with Lab(Settings.load(env={"LAMBDABENCH_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)})) as lab:
        plan = lab.plan(SweepRequest("", "gpu-probe", local=True))

        def phase(rc: object) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # the runner's handler: flags only
            time.sleep(0.2)

        result = lab.runner(plan, phase=phase, events=said.append).run()
        alerts = [e.message for e in said if e.kind == "alert"]
        assert alerts and not any("instance" in a and "terminated" in a for a in alerts), alerts
        assert "your machines" in alerts[0]
        with pytest.raises(Cancelled) as err:
            _sweep_verdict(lab, plan, result)
    assert "launched no instance" in err.value.message and "proven gone" not in err.value.message


def test_reports_escape_the_users_name(tmp_path: Path) -> None:
    from lambdabench.report import build_report, render

    with Ledger(tmp_path) as ledger:
        ledger.create_sweep("red\x1b[31m|ALERT\x07\nline", simulated=True)
        report = build_report(ledger)
    for fmt in ("table", "md"):
        text = render(report, fmt)
        assert "\x1b" not in text and "\x07" not in text, (fmt, text)
        assert "\\x1b[31m" in text, (fmt, text)
    assert "\\|ALERT" in render(report, "md")
