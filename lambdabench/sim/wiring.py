"""The simulator wired up: API server + sshd hosts, as `sim serve` or in-process (the demo, the reliability suite)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdabench.errors import SimulatorError

if TYPE_CHECKING:
    from lambdabench.sim.api.catalog import SimImage, SimType
    from lambdabench.sim.api.core import SimCloud
    from lambdabench.sim.api.scenario import Scenario
    from lambdabench.sim.api.server import SimServer
    from lambdabench.sim.hosts.manager import HostInfo, HostManager

__all__ = ["RunningSim", "client_env", "host_env", "running_simulator", "serve"]


def _host_manager(state_dir: Path, ngc_api_key: str | None) -> HostManager:
    from lambdabench.sim.hosts.manager import HostManager

    if not Path("/usr/sbin/sshd").exists():
        raise SimulatorError(
            "OpenSSH sshd is not installed (/usr/sbin/sshd), so simulated instances cannot accept SSH",
            "Install it (`apt-get install openssh-server`, or run `bash .ci/setup`), or pass --no-hosts.",
        )
    return HostManager(state_dir / "hosts", ngc_api_key=ngc_api_key)


def client_env(time_scale: float, lockout_seconds: float = 60.0, ngc_api_key: str | None = None) -> dict[str, str]:
    """Settings beyond the API address that make the client fit a time-scaled simulator."""
    env = {
        "LAMBDABENCH_TIME_SCALE": f"{time_scale:g}",
        "LAMBDABENCH_RATE_LIMIT_BACKOFF": f"{lockout_seconds / time_scale:.6g}",
        "LAMBDABENCH_SIMULATED": "1",
    }
    if ngc_api_key:
        env["NGC_API_KEY"] = ngc_api_key  # the simulator's own NGC key, accepted by its docker stand-in
    return env


def host_env(manager: HostManager) -> dict[str, str]:
    """How to reach the simulator's sshd hosts: the local user they accept, and their port."""
    return {"LAMBDABENCH_SSH_USER": str(manager.user), "LAMBDABENCH_SSH_PORT": str(manager.port)}


class _HostsWithEnv:
    """The host backend `sim serve` hands the server: the manager, plus the settings clients are told."""

    def __init__(self, manager: HostManager, extra: dict[str, str]) -> None:
        self.manager = manager
        self.extra = extra
        self.state_dir = manager.state_dir  # where the core keeps filesystems' folders (SimCloud._fs_dir)

    def start(
        self,
        instance_id: str,
        *,
        authorized_key: str,
        instance_type: SimType,
        faults: dict[str, dict[str, Any]],
        image: SimImage | None = None,
    ) -> HostInfo:
        return self.manager.start(
            instance_id, authorized_key=authorized_key, instance_type=instance_type, faults=faults, image=image
        )

    def stop(self, instance_id: str) -> None:
        self.manager.stop(instance_id)

    def close(self) -> None:
        self.manager.close()

    def env(self) -> dict[str, str]:
        return self.extra


def serve(*, port: int, scenario: Path | None, time_scale: float, env_file: Path | None, hosts: bool) -> int:
    """`lambdabench sim serve`: block serving until SIGINT/SIGTERM, hosts included."""
    from lambdabench.sim.api.scenario import Scenario
    from lambdabench.sim.api.server import run_serve

    state_dir = Path(tempfile.mkdtemp(prefix="lambdabench-sim-"))

    def factory(sc: Scenario, scale: float) -> _HostsWithEnv:
        manager = _host_manager(state_dir, sc.ngc_api_key)
        return _HostsWithEnv(
            manager, {**client_env(scale, sc.rate_limits.lockout_seconds, sc.ngc_api_key), **host_env(manager)}
        )

    if not hosts:
        sc = Scenario.load(scenario) if scenario else Scenario()
        from lambdabench.sim.api.core import SimCloud
        from lambdabench.sim.api.server import serve_forever

        core = SimCloud(sc, time_scale=time_scale, state_dir=state_dir)
        try:
            return serve_forever(
                core, port, env_file, extra_env=client_env(time_scale, sc.rate_limits.lockout_seconds, sc.ngc_api_key)
            )
        finally:
            shutil.rmtree(state_dir, ignore_errors=True)
    try:
        return run_serve(port, scenario, time_scale, env_file, factory, state_dir=state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@dataclass
class RunningSim:
    """A simulator running in this process (threads): its core, server, hosts and client env."""

    core: SimCloud
    server: SimServer
    hosts: HostManager | None
    env: dict[str, str]


@contextmanager
def running_simulator(
    *,
    scenario: Scenario | Path | str | None = None,
    time_scale: float = 60.0,
    hosts: bool = True,
    state_dir: Path | None = None,
) -> Iterator[RunningSim]:
    """Start API + hosts in-process; yields the env pointing a client at it; stops everything after."""
    from lambdabench.sim.api.core import SimCloud
    from lambdabench.sim.api.scenario import Scenario
    from lambdabench.sim.api.server import SimServer

    sc = scenario if isinstance(scenario, Scenario) else (Scenario.load(Path(scenario)) if scenario else Scenario())
    own_dir = state_dir is None
    state = Path(tempfile.mkdtemp(prefix="lambdabench-sim-")) if state_dir is None else state_dir
    manager = _host_manager(state, sc.ngc_api_key) if hosts else None
    core = SimCloud(sc, time_scale=time_scale, hosts=manager, state_dir=state / "api")
    extra = client_env(time_scale, sc.rate_limits.lockout_seconds, sc.ngc_api_key)
    if manager is not None:
        extra.update(host_env(manager))
    server = SimServer(core, extra_env=extra)
    server.start()
    try:
        yield RunningSim(core, server, manager, server.env())
    finally:
        server.stop()
        core.close()
        if manager is not None:
            manager.close()
        if own_dir:
            shutil.rmtree(state, ignore_errors=True)
