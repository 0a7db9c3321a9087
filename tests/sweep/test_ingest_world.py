"""How many training processes a run had, for the per-library world-size rule (metrics.training)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from lambdabench.cloud.gpus import type_facts
from lambdabench.cloud.models import InstanceType
from lambdabench.run.context import Node, RunContext
from lambdabench.run.env import RunEnv, Timeouts
from lambdabench.run.ingest import world_size
from lambdabench.run.plan import Benchmark


def _rc(tmp_path: Path, playbook: str, sets: dict[str, str], itype: InstanceType, nodes: int = 1) -> RunContext:
    facts = type_facts(itype)
    node_list = [Node(i, f"n{i}", "lambda", f"127.0.0.{i + 2}", f"127.0.0.{i + 2}", dict(facts)) for i in range(nodes)]
    bench = Benchmark.load(playbook, sets)
    rc_facts: dict[int, dict[str, Any]] = {i: {"gpu_count": str(itype.gpus), "nnodes": nodes} for i in range(nodes)}
    return RunContext(
        sweep_id=1,
        run_id=1,
        label="x#1",
        nodes=node_list,
        plan=None,  # type: ignore[arg-type]
        benchmark=bench,
        env=RunEnv(tmp_path, Timeouts()),
        ledger=None,  # type: ignore[arg-type]
        connect=None,
        run_dir=tmp_path,
        stop=threading.Event(),
        deadline=0.0,  # type: ignore[arg-type]
        notify=print,
        facts=rc_facts,
    )


def test_world_size_counts_every_gpu_of_every_node_when_the_training_is_distributed(tmp_path: Path) -> None:
    h100x8 = InstanceType("gpu_8x_h100_sxm5", gpus=8, price_cents_per_hour=2392)
    a10 = InstanceType("gpu_1x_a10", gpus=1, price_cents_per_hour=129)
    # skrl logs on rank 0 only: on 8 GPUs its figures need × 8 (issue 14); read_training applies it
    assert world_size(_rc(tmp_path, "isaaclab-train", {"library": "skrl"}, h100x8)) == 8
    assert world_size(_rc(tmp_path, "isaaclab-train", {"library": "skrl", "multi_gpu": "off"}, h100x8)) == 1
    assert world_size(_rc(tmp_path, "isaaclab-train", {"library": "skrl"}, a10)) == 1
    assert world_size(_rc(tmp_path, "isaaclab-train", {"library": "rl_games"}, h100x8, nodes=2)) == 16
    assert world_size(_rc(tmp_path, "isaaclab3-train", {}, h100x8)) == 8
    assert world_size(_rc(tmp_path, "mjx-locomotion", {}, h100x8)) == 1  # no TensorBoard: its own aggregate
