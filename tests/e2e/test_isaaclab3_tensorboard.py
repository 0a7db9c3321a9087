"""Issue 25 item 7: TensorBoard for Isaac Lab 3 on the simulator: isaaclab3-tensorboard serves the run folders
isaaclab3-train wrote with the venv's tensorboard, reached through `lambdabench tensorboard` (the SSH tunnel
the container playbook's TensorBoard is reached by)."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.request

from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = needs_sshd


def ok(out) -> str:  # type: ignore[no-untyped-def]
    assert out.returncode == 0, out.stderr[-3000:]
    return str(out.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_isaaclab3_tensorboard_through_the_tunnel(simproc: SimProcess) -> None:
    name = json.loads(ok(simproc.cli("launch", "--gpu", "h100", "--wait", "--json")))["name"]
    missing = simproc.cli("run", name, "isaaclab3-tensorboard", timeout=120)
    assert missing.returncode != 0 and "run isaaclab3-setup first" in missing.stderr
    ok(simproc.cli("run", name, "isaaclab3-setup", timeout=300))
    ok(simproc.cli("run", name, "isaaclab3-train", "--set", "num_envs=16", "--set", "max_iterations=2", timeout=300))
    remote, local = _free_port(), _free_port()
    facts = ok(simproc.cli("run", name, "isaaclab3-tensorboard", "--set", f"port={remote}", timeout=120))
    assert f"tensorboard_port={remote}" in facts
    pid = re.search(r"tensorboard_pid=(\d+)", facts)
    assert pid is not None
    tunnel = simproc.popen("tensorboard", name, "--port", str(local), "--remote-port", str(remote))
    try:
        deadline, runs = time.monotonic() + 60, None
        while runs is None and time.monotonic() < deadline:
            try:
                runs = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{local}/data/runs", timeout=5).read())
            except OSError:
                time.sleep(0.3)
        # the run folder isaaclab3-train wrote, as TensorBoard names runs (relative to the logdir)
        assert runs is not None and len(runs) == 1 and runs[0].startswith("rsl_rl/cartpole_direct/"), runs
        logdir = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{local}/data/logdir", timeout=5).read())
        assert logdir["logdir"].endswith("/isaaclab3-work/logs")
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)
    # the server's own session (setsid): its process group, by the id the playbook reported
    ok(simproc.cli("exec", name, "--", "kill", "--", f"-{pid.group(1)}"))
    ok(simproc.cli("down", name))
