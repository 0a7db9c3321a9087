"""The simulator in-process (real HTTP API) with or without real sshd hosts, and a Lab for it."""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambdabench.config import Settings
from lambdabench.lab import Lab
from lambdabench.sim.api.core import SimCloud
from lambdabench.sim.api.scenario import Scenario
from lambdabench.sim.api.server import SimServer
from lambdabench.simulate import client_env, host_env

SCALE = 600.0
HOST_SCALE = 100.0  # SSH waits are 600 s / scale: leave a loaded machine a few seconds
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(
    not HAS_TORCH,
    reason="torch is not importable by the simulator's python (.venv/bin/pip install torch==2.13.0: CPU wheel)",
)
needs_sshd = pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="OpenSSH sshd not installed")


@dataclass
class Sim:
    core: SimCloud
    env: dict[str, str]
    hosts: Any = None

    def lab(self, *, timeouts: dict[str, float] | None = None, **extra: str) -> Lab:
        import dataclasses

        from lambdabench.run.env import RunEnv

        settings = Settings.load(env={**os.environ, **self.env, **extra})
        env = RunEnv.from_settings(settings)
        if timeouts:
            env = dataclasses.replace(env, timeouts=dataclasses.replace(env.timeouts, **timeouts))
        return Lab(settings, env=env)

    def live(self) -> list[dict[str, Any]]:
        return [b for b in self.core.billing() if b["status"] not in ("terminated", "terminating")]

    def requests(self, suffix: str, method: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.core.requests()
            if r["path"].rstrip("/").endswith(suffix) and (method is None or r["method"] == method)
        ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    tmp: Path,
    scenario: dict[str, Any] | None = None,
    *,
    hosts: bool = False,
    scale: float = SCALE,
    ngc_api_key: str | None = None,
) -> tuple[Sim, SimServer]:
    manager = None
    if hosts:
        from lambdabench.sim.hosts.manager import HostManager

        manager = HostManager(tmp / "sim", port=_free_port(), ngc_api_key=ngc_api_key)
    core = SimCloud(Scenario.from_dict(scenario) if scenario else Scenario(), time_scale=scale, hosts=manager)
    extra = {**client_env(scale, ngc_api_key=ngc_api_key), **(host_env(manager) if manager else {})}
    srv = SimServer(core, extra_env=extra).start()
    return Sim(core, {**srv.env(), **extra, "LAMBDABENCH_RETRY_BUDGET": "5"}, manager), srv


@pytest.fixture
def api_sim(tmp_path: Path) -> Iterator[Sim]:
    sim, srv = start(tmp_path)
    yield sim
    srv.stop()
    sim.core.close()


@pytest.fixture
def host_sim(tmp_path: Path) -> Iterator[Sim]:
    sim, srv = start(tmp_path, hosts=True, scale=HOST_SCALE)
    yield sim
    srv.stop()
    sim.core.close()
    if sim.hosts is not None:
        sim.hosts.close()


def processes_mentioning(marker: str) -> list[str]:
    """Command lines of live processes that mention marker (a tmp path of one test)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if f"LAMBDABENCH_SIM_STATE={marker}" in env or (
            marker in cmd and "sshd" not in cmd and "sim-watchdog" not in cmd
        ):
            out.append(f"{entry.name}: {cmd[:200]}")
    return out
