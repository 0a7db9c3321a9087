"""End to end: the CLI as a subprocess against `lambdabench sim serve` (real HTTP, real sshd hosts)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdabench.config import parse_env_file

LB = [sys.executable, "-m", "lambdabench.cli"]
needs_sshd = pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="OpenSSH sshd not installed")


def our_sshd_pids(marker: str) -> list[int]:
    """sshd processes whose command line mentions marker (our state dir)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "sshd" in cmd and marker in cmd:
            out.append(int(entry.name))
    return out


class SimProcess:
    def __init__(self, tmp: Path, *, time_scale: float = 300, scenario: Path | None = None) -> None:
        self.env_file = tmp / "sim.env"
        self.home = tmp / "home"
        self.state = tmp / "simstate"
        self.state.mkdir()
        args = [*LB, "sim", "serve", "--time-scale", str(time_scale), "--env-file", str(self.env_file)]
        if scenario:
            args += ["--scenario", str(scenario)]
        env = {**os.environ, "TMPDIR": str(self.state)}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 30
        while not self.env_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"sim serve did not start: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
                )
            time.sleep(0.05)
        time.sleep(0.1)
        self.env = {**parse_env_file(self.env_file), "LAMBDABENCH_HOME": str(self.home)}

    def client_env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.env, **extra}

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """The test's own raw requests, as another client: it keeps to the rate limit as the edge asks
        (Retry-After on a 429; the refused request had no effect). Unpaced, three POSTs in a row tripped
        the simulated limit on a fast run."""
        for _ in range(10):
            req = urllib.request.Request(
                self.env["LAMBDABENCH_API_URL"] + path,
                method=method,
                data=json.dumps(body).encode() if body is not None else None,
                headers={"Authorization": f"Bearer {self.env['LAMBDA_API_KEY']}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return json.loads(resp.read())["data"]
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise
                time.sleep(float(exc.headers.get("Retry-After") or 1))
        raise AssertionError(f"{method} {path}: still rate-limited after 10 tries")

    def running(self) -> list[dict[str, Any]]:
        return [b for b in self.api("/_sim/billing") if b["status"] not in ("terminated", "terminating")]

    def cli(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*LB, *args], env=self.client_env(**env), capture_output=True, text=True, timeout=timeout)

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*LB, *args], env=self.client_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def simproc(tmp_path: Path) -> Iterator[SimProcess]:
    sim = SimProcess(tmp_path)
    yield sim
    sim.stop()
    assert sim.proc.returncode == 0, sim.proc.stderr.read().decode() if sim.proc.stderr else ""
    assert our_sshd_pids(str(sim.state)) == [], "sshd processes of the simulator survived it"


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> list[str]:
    """Read proc's stderr until a line contains needle."""
    import selectors

    assert proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(timeout=0.5):
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if needle in line:
                return lines
    raise AssertionError(f"{needle!r} never appeared; got: {''.join(lines)[-2000:]}")
