"""The simulator for tests: one handle (a Lab pointed at it, what still bills, what it was asked) and fixtures.

`Sim` is a simulator in this process (`simulator`/`start`); `SimProcess` is `lambdabench sim serve` in
a child process, for the CLI as a user runs it; both answer `lab()`, `live()`, `requests()`,
`client_env()`. Tests take them from the door (`from lambdabench.simulate import Sim, simulator`); the
fixtures (`api_sim`, `host_sim`, `simproc`) are registered by tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lambdabench.config import parse_env_file
from lambdabench.sim.api.core import SimCloud
from lambdabench.sim.api.scenario import Scenario
from lambdabench.sim.api.server import SimServer
from lambdabench.sim.hosts.manager import HostManager
from lambdabench.sim.wiring import RunningSim, client_env, host_env

if TYPE_CHECKING:
    from lambdabench.lab import Lab

__all__ = [
    "API_SCALE",
    "ENDED",
    "HOST_SCALE",
    "Sim",
    "SimProcess",
    "api_sim",
    "free_port",
    "host_sim",
    "needs_sshd",
    "simproc",
    "simulator",
    "sshd_pids",
    "start",
]

API_SCALE = 600.0
HOST_SCALE = 100.0  # SSH waits are 600 s / scale: leave a loaded machine a few seconds
ENDED = ("terminated", "terminating")
LB = [sys.executable, "-m", "lambdabench.cli"]
needs_sshd = pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="OpenSSH sshd not installed")


@dataclass
class Sim:
    """A running simulator: its core (the billing truth), the env a client needs, its sshd hosts if any."""

    core: SimCloud
    env: dict[str, str]
    hosts: HostManager | None = None
    server: SimServer | None = field(default=None, repr=False)
    state: Path | None = field(default=None, repr=False)  # a folder of its own, removed by close()

    @classmethod
    def of(cls, running: RunningSim) -> Sim:
        """The handle over a simulator the door's `running_simulator` started."""
        return cls(running.core, dict(running.env), running.hosts, running.server)

    def client_env(self, home: Path | None = None, **extra: str) -> dict[str, str]:
        """This process's environment pointed at the simulator (and at home, when given)."""
        return {**os.environ, **self.env, **({"LAMBDABENCH_HOME": str(home)} if home else {}), **extra}

    def lab(self, home: Path | None = None, *, timeouts: dict[str, float] | None = None, **extra: str) -> Lab:
        """A Lab for this simulator; timeouts replace fields of the run's Timeouts."""
        import dataclasses

        from lambdabench.config import Settings
        from lambdabench.lab import Lab
        from lambdabench.run.env import RunEnv

        settings = Settings.load(env=self.client_env(home, **extra))
        if not timeouts:
            return Lab(settings)
        env = RunEnv.from_settings(settings)
        return Lab(settings, env=dataclasses.replace(env, timeouts=dataclasses.replace(env.timeouts, **timeouts)))

    def live(self) -> list[dict[str, Any]]:
        """Instances the cloud still bills (terminating counts as stopped: billing ends at the call)."""
        return [b for b in self.core.billing() if b["status"] not in ENDED]

    def settle(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until nothing is running; what still runs after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.live():
                return []
            time.sleep(0.05)
        return self.live()

    def requests(self, suffix: str = "", method: str | None = None) -> list[dict[str, Any]]:
        """The API requests the simulator answered whose path ends with suffix (and of method, when given)."""
        return [
            r
            for r in self.core.requests()
            if r["path"].rstrip("/").endswith(suffix) and (method is None or r["method"] == method)
        ]

    def launches(self) -> list[dict[str, Any]]:
        """Every launch request, lost ones included."""
        return self.requests("/instance-operations/launch")

    def close(self) -> None:
        """Stop the server, the core and every sshd host (a RunningSim's own context does that for it)."""
        if self.server is not None:
            self.server.stop()
        self.core.close()
        if self.hosts is not None:
            self.hosts.close()
        if self.state is not None:
            shutil.rmtree(self.state, ignore_errors=True)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    scenario: Scenario | dict[str, Any] | None = None,
    *,
    scale: float = API_SCALE,
    hosts: bool = False,
    state_dir: Path | None = None,
    host_port: int | None = None,
    ngc_api_key: str | None = None,
    retry_budget: float | None = 5,
) -> Sim:
    """A simulator on loopback HTTP (sshd hosts under state_dir/hosts, on a free port, when asked); the caller closes it.

    Only ngc_api_key reaches the hosts and the client (none by default, whatever the scenario says);
    retry_budget (seconds) bounds the client's retries so a test about faults ends quickly.
    """
    sc = scenario if isinstance(scenario, Scenario) else (Scenario.from_dict(scenario) if scenario else Scenario())
    own: Path | None = None
    manager: HostManager | None = None
    if hosts:
        if state_dir is None:
            state_dir = own = Path(tempfile.mkdtemp(prefix="lambdabench-sim-"))
        manager = HostManager(state_dir / "hosts", port=host_port or free_port(), ngc_api_key=ngc_api_key)
    core = SimCloud(sc, time_scale=scale, hosts=manager)
    extra = client_env(scale, sc.rate_limits.lockout_seconds, ngc_api_key)
    if manager is not None:
        extra.update(host_env(manager))
    server = SimServer(core, extra_env=extra).start()
    env = server.env()
    if retry_budget is not None:
        env["LAMBDABENCH_RETRY_BUDGET"] = f"{retry_budget:g}"
    return Sim(core, env, manager, server, own)


@contextmanager
def simulator(
    scenario: Scenario | dict[str, Any] | None = None,
    *,
    scale: float = API_SCALE,
    hosts: bool = False,
    state_dir: Path | None = None,
    host_port: int | None = None,
    ngc_api_key: str | None = None,
    retry_budget: float | None = 5,
) -> Iterator[Sim]:
    """`start` for one block: everything stopped after."""
    sim = start(
        scenario,
        scale=scale,
        hosts=hosts,
        state_dir=state_dir,
        host_port=host_port,
        ngc_api_key=ngc_api_key,
        retry_budget=retry_budget,
    )
    try:
        yield sim
    finally:
        sim.close()


@pytest.fixture
def api_sim() -> Iterator[Sim]:
    """The API alone, time x600."""
    with simulator() as sim:
        yield sim


@pytest.fixture
def host_sim(tmp_path: Path) -> Iterator[Sim]:
    """The API with real sshd hosts (state under tmp_path/sim), time x100."""
    with simulator(hosts=True, scale=HOST_SCALE, state_dir=tmp_path / "sim") as sim:
        yield sim


def _lab_for(env: dict[str, str]) -> Lab:
    from lambdabench.config import Settings
    from lambdabench.lab import Lab

    return Lab(Settings.load(env=env))


def sshd_pids(marker: str) -> list[int]:
    """sshd processes whose command line mentions marker (a simulator's state dir)."""
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
    """`lambdabench sim serve` (real HTTP, real sshd hosts) in a child process, and the CLI run against it."""

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
        """This process's environment pointed at the simulator and at this test's home."""
        return {**os.environ, **self.env, **extra}

    def lab(self, **extra: str) -> Lab:
        """A Lab in this process for the simulator the child serves."""
        return _lab_for(self.client_env(**extra))

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

    def live(self) -> list[dict[str, Any]]:
        """Instances the cloud still bills (terminating counts as stopped: billing ends at the call)."""
        return [b for b in self.api("/_sim/billing") if b["status"] not in ENDED]

    def requests(self, suffix: str = "", method: str | None = None) -> list[dict[str, Any]]:
        """The API requests the simulator answered whose path ends with suffix (and of method, when given)."""
        return [
            r
            for r in self.api("/_sim/requests")
            if r["path"].rstrip("/").endswith(suffix) and (method is None or r["method"] == method)
        ]

    def cli(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        """Run `lambdabench ARGS` against the simulator and wait for it."""
        return subprocess.run([*LB, *args], env=self.client_env(**env), capture_output=True, text=True, timeout=timeout)

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start `lambdabench ARGS` against the simulator (stdout and stderr piped, text)."""
        return subprocess.Popen(
            [*LB, *args], env=self.client_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> None:
        """SIGTERM the simulator and wait for it (killed after 20 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def simproc(tmp_path: Path) -> Iterator[SimProcess]:
    """`lambdabench sim serve` at time x300 for one test; it must stop cleanly, leaving no sshd behind."""
    sim = SimProcess(tmp_path)
    yield sim
    sim.stop()
    assert sim.proc.returncode == 0, sim.proc.stderr.read().decode() if sim.proc.stderr else ""
    assert sshd_pids(str(sim.state)) == [], "sshd processes of the simulator survived it"
