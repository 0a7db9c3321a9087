"""An unreachable API (issue 24 item 7), and the plan's own checks before the network (a bad flag never waits on it).

Two loopback stand-ins for an API that cannot be reached: a closed port (the connect is refused at
once) and a silent one (a listener whose accept queue is full, so the connect hangs as it does when a
firewall drops the packets). The first line must say so within 10 s; a request that planning can
refuse by itself is refused before any API call, in one line, with a non-zero exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.conftest import LB, wait_for_line

KEY = "secret_unreachable_0123456789abcdef"


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on: every connect is refused."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    yield port


@contextmanager
def silent_port() -> Iterator[int]:
    """A listener that never accepts, its queue already full: a connect hangs until the client gives up."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        with socket.create_connection(srv.getsockname(), timeout=5):  # fills the queue (Linux: backlog + 1)
            yield srv.getsockname()[1]


def _cli(tmp_path: Path, port: int, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LAMBDA_API_KEY": KEY,
        "LAMBDABENCH_API_URL": f"http://127.0.0.1:{port}/api/v1",
        "LAMBDABENCH_HOME": str(tmp_path / "home"),
    }
    return subprocess.Popen(
        [*LB, *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.parametrize("stand_in", [closed_port, silent_port], ids=["refused", "silent"])
def test_an_unreachable_api_is_said_within_10_s(tmp_path: Path, stand_in: object) -> None:
    with stand_in() as port:  # type: ignore[operator]
        started = time.monotonic()
        proc = _cli(tmp_path, port, "types")
        try:
            lines = wait_for_line(proc, "Could not reach the Lambda API", timeout=30)
            said_after = time.monotonic() - started
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # it would go on retrying for its whole budget
            proc.communicate(timeout=30)
    assert said_after < 10, f"{said_after:.1f}s"
    assert len(lines) == 1 and lines[0].startswith(f"Could not reach the Lambda API at http://127.0.0.1:{port}/api/v1")
    assert "retrying for up to" in lines[0] and KEY not in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["--set", "num_envs=-5"],
        ["--set", "no_such_variable=1"],
        ["--set", "task=Isaac-No-Such-Task-v0"],
        ["--repeat", "0"],
        ["--export", "ftp://bucket/prefix"],
    ],
    ids=["bad-value", "unknown-variable", "unknown-task", "bad-repeat", "bad-export"],
)
def test_a_request_planning_can_refuse_is_refused_before_the_network(tmp_path: Path, args: list[str]) -> None:
    with closed_port() as port:
        started = time.monotonic()
        proc = _cli(tmp_path, port, "sweep", "--dry-run", "--gpus", "a10", *args)
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        took = time.monotonic() - started
    assert proc.returncode not in (0, None) and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Could not reach" not in err and took < 8, f"{took:.1f}s: {err}"
