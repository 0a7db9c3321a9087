"""A real simulator HTTP server (API only) and a Lab pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lambdabench.config import Settings
from lambdabench.lab import Lab
from lambdabench.sim.api.core import SimCloud
from lambdabench.sim.api.scenario import Scenario
from lambdabench.sim.api.server import SimServer
from lambdabench.simulate import client_env

SCALE = 600.0


@dataclass
class SimEnv:
    core: SimCloud
    env: dict[str, str]

    def lab(self, **extra: str) -> Lab:
        env = {**os.environ, **self.env, **extra}
        return Lab(Settings.load(env=env))

    def live(self) -> list[dict[str, Any]]:
        return [b for b in self.core.billing() if b["status"] not in ("terminated", "terminating")]

    def launches(self) -> list[dict[str, Any]]:
        return [r for r in self.core.requests() if r["path"].endswith("/instance-operations/launch")]


def start(scenario: dict[str, Any] | None = None, scale: float = SCALE) -> tuple[SimCloud, SimServer]:
    core = SimCloud(Scenario.from_dict(scenario) if scenario else Scenario(), time_scale=scale)
    return core, SimServer(core, extra_env=client_env(scale)).start()


@pytest.fixture
def simenv() -> Iterator[SimEnv]:
    core, srv = start()
    yield SimEnv(core, {**srv.env(), "LAMBDABENCH_RETRY_BUDGET": "5"})
    srv.stop()
    core.close()
