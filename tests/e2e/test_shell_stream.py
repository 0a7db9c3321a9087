"""`shell` terminates what it launched and prints the cost; `stream` opens the firewall for the caller only."""

from __future__ import annotations

import json
import signal
import time

from lambdabench.simulate import SimProcess, needs_sshd
from tests.e2e.conftest import wait_for_line

pytestmark = needs_sshd


def test_shell_launches_runs_and_terminates(simproc: SimProcess) -> None:
    import subprocess

    from tests.e2e.conftest import LB

    out = subprocess.run(
        [*LB, "shell", "--gpu", "a10"],
        env=simproc.client_env(),
        input="echo hello-from-$((6*7)); exit 3\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 3, out.stderr
    assert "hello-from-42" in out.stdout
    assert "this session cost $" in out.stderr and "terminated" in out.stderr
    assert simproc.live() == []


def test_a_closed_terminal_ends_the_shell_and_its_instance(simproc: SimProcess) -> None:
    """SIGHUP (the terminal or SSH session closed) used to kill `shell` at once: no teardown."""
    import subprocess

    from tests.e2e.conftest import LB

    proc = subprocess.Popen(
        [*LB, "shell", "--gpu", "a10"],
        env=simproc.client_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("echo in-the-shell\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "in-the-shell"  # the session is open on the instance
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=120)
    assert "terminated; this session cost" in err, err
    assert simproc.live() == []


def test_shell_keep_leaves_it_running(simproc: SimProcess) -> None:
    import subprocess

    from tests.e2e.conftest import LB

    out = subprocess.run(
        [*LB, "shell", "--gpu", "a10", "--keep"],
        env=simproc.client_env(),
        input="exit 0\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "kept running" in out.stderr
    assert len(simproc.live()) == 1
    assert simproc.cli("down", "--all-mine").returncode == 0


def test_shell_needs_instance_or_gpu(simproc: SimProcess) -> None:
    out = simproc.cli("shell")
    assert out.returncode == 2 and "INSTANCE or --gpu" in out.stderr


def test_stream_opens_firewall_for_caller_only_and_closes_it(simproc: SimProcess) -> None:
    name = json.loads(simproc.cli("launch", "--gpu", "a10", "--wait", "--json").stdout)["name"]
    assert simproc.cli("run", name, "setup", timeout=300).returncode == 0
    before = simproc.api("/firewall-rules")
    proc = simproc.popen("stream", name)
    wait_for_line(proc, "livestream starting", timeout=120)
    during = simproc.api("/firewall-rules")
    ours = [r for r in during if r not in before]
    assert ours and all(r["source_network"] == "127.0.0.1/32" for r in ours)
    assert {tuple(r["port_range"]) for r in ours if r["protocol"] == "tcp"} >= {(47995, 48012), (49100, 49100)}
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    time.sleep(0.2)
    assert simproc.api("/firewall-rules") == before
    # 1.x's demo path by default, and PUBLIC_IP for mode 1 (2.2+ streams to 127.0.0.1 without it)
    argv = "".join(p.read_text(errors="replace") for p in simproc.state.rglob("argv.log"))
    assert "source/standalone/demos/quadrupeds.py" in argv and "PUBLIC_IP=127." in argv, argv[-2000:]
    assert simproc.cli("down", name).returncode == 0


def test_stream_refused_on_non_rtx(simproc: SimProcess) -> None:
    name = json.loads(simproc.cli("launch", "--gpu", "h100", "--wait", "--json").stdout)["name"]
    out = simproc.cli("stream", name)
    assert out.returncode == 2 and "RT cores" in out.stderr
    assert simproc.cli("down", name).returncode == 0
