"""The simulator's one door: nothing outside `lambdabench/sim/` imports its rooms; everything comes through here.

For the product: `serve` (`lambdabench sim serve`), `running_simulator` → `RunningSim` (the demo),
`client_env`/`host_env` (what a client needs to fit a simulator), `Scenario` (what a simulator plays). For tests, imported lazily (they
need pytest): the handle `Sim` (`lab()`, `live()`, `requests()`, ...) and `simulator`/`start` to run one in
this process, `SimProcess` (`sim serve` in a child, for the CLI), `needs_sshd`, `free_port`; the fixtures
`api_sim`/`host_sim`/`simproc` come with `pytest_plugins = ["lambdabench.sim.testing"]`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdabench.sim.api.scenario import Scenario
from lambdabench.sim.wiring import RunningSim, client_env, host_env, running_simulator, serve

if TYPE_CHECKING:
    from lambdabench.sim.testing import API_SCALE, HOST_SCALE, Sim, SimProcess, free_port, needs_sshd, simulator, start

__all__ = [
    "API_SCALE",
    "HOST_SCALE",
    "RunningSim",
    "Scenario",
    "Sim",
    "SimProcess",
    "client_env",
    "free_port",
    "host_env",
    "needs_sshd",
    "running_simulator",
    "serve",
    "simulator",
    "start",
]

_FOR_TESTS = {"API_SCALE", "HOST_SCALE", "Sim", "SimProcess", "free_port", "needs_sshd", "simulator", "start"}


def __getattr__(name: str) -> Any:
    if name in _FOR_TESTS:
        from lambdabench.sim import testing

        return getattr(testing, name)
    raise AttributeError(f"module 'lambdabench.simulate' has no attribute {name!r}")
