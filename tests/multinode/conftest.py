"""Multi-node tests' markers and a leak check; the simulator (`api_sim`, `host_sim`, `Sim`) comes from its door."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(
    not HAS_TORCH,
    reason="torch is not importable by the simulator's python (.venv/bin/pip install torch==2.13.0: CPU wheel)",
)


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
