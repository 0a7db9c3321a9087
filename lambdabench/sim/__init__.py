"""The Lambda Cloud simulator: the API (core, app, server), scenarios, and the instance hosts."""

from __future__ import annotations

from lambdabench.sim.catalog import DEFAULT_TYPES, SimType
from lambdabench.sim.core import HostBackend, HostInfo, SimCloud, SimResponse
from lambdabench.sim.scenario import Scenario

__all__ = [
    "DEFAULT_TYPES",
    "HostBackend",
    "HostInfo",
    "Scenario",
    "SimCloud",
    "SimResponse",
    "SimType",
]
