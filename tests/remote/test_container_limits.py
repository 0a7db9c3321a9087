"""A container step's time limit lives inside the container, and a runner timeout stops the process there.

A stand-in `docker exec` runs the command in a session of its own, as the real one runs it in the
container: killing the `docker exec` client (all a plain SSH-side timeout does) leaves it running.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lambdabench.remote import playbook as pb
from lambdabench.remote import runner
from lambdabench.remote.playbook import load_playbook
from lambdabench.remote.runner import run_playbook

FAKE_DOCKER = """#!/bin/bash
# docker exec [-i] NAME CMD...: CMD runs detached from this client, like a process in a container
[ "$1" = exec ] || exit 99
shift
[ "$1" = -i ] && shift
shift
echo "$*" >> "$HOME/docker-exec.log"
setsid "$@" &
wait $!
"""


def _docker(raw_host) -> None:  # type: ignore[no-untyped-def]
    tool = raw_host.bin_dir / "docker"
    tool.write_text(FAKE_DOCKER)
    tool.chmod(0o755)


def _alive(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                continue
    return found


def _book(tmp_path: Path, body: str) -> pb.Playbook:
    path = tmp_path / "limits.yaml"
    path.write_text(body)
    return load_playbook(path)


def test_the_limit_is_enforced_inside_the_container(raw_host, raw_session, tmp_path: Path) -> None:
    _docker(raw_host)
    book = _book(
        tmp_path, "name: limits\nsteps:\n  - name: slow\n    container: c1\n    timeout: 1\n    run: sleep 31.5\n"
    )
    started = time.monotonic()
    res = run_playbook(raw_session, book, {}, {}, {}, tmp_path / "logs")
    assert not res.ok and "time limit inside container c1" in res.error.message
    assert time.monotonic() - started < 20
    log = (raw_host.home / "docker-exec.log").read_text()
    assert "timeout -k 30 -s INT 1 bash -c" in log and "LAMBDABENCH_STEP=" in log
    assert _alive("31.5") == []


def test_a_runner_timeout_stops_the_process_in_the_container(
    raw_host, raw_session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _docker(raw_host)
    # the runner's own deadline first (2 s), the in-container limit (60 s) far later
    monkeypatch.setattr(runner, "CONTAINER_GRACE_S", -58)
    monkeypatch.setattr(runner, "CONTAINER_KILL_AFTER_S", 2)
    book = _book(
        tmp_path,
        "name: limits\nsteps:\n  - name: train\n    container: c1\n    detach: true\n    timeout: 60\n"
        "    run: sleep 47.25\n",
    )
    res = run_playbook(raw_session, book, {}, {}, {}, tmp_path / "logs", poll_s=0.2)
    assert not res.ok and "timed out" in res.error.message
    deadline = time.monotonic() + 10
    while _alive("47.25") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive("47.25") == []  # stopped inside the container, not only the client
