"""What a finished one-run sweep on the simulator left: its metrics, its --seeds passes' series, its folder and record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess


def run_figures(simproc: SimProcess) -> tuple[dict[str, float], dict[str, list[tuple[float, float]]], Path, Any]:
    """(metrics by key, seed:<key> series as (seed, value) by key, the run's folder, its result.json)."""
    with Ledger(simproc.home) as ledger:
        [run] = ledger.runs()
        metrics = {m.key: m.value for m in ledger.metrics(run_id=run.id)}  # one source per key here
        seeds = {
            s.name.removeprefix("seed:"): [(p[1], p[2]) for p in s.points]
            for s in ledger.series(run_id=run.id)
            if s.name.startswith("seed:")
        }
    run_dir = next((simproc.home / "runs").glob(f"sweep-*/run-{run.id}-*"))
    return metrics, seeds, run_dir, json.loads((run_dir / "result.json").read_text())
