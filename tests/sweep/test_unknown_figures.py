"""Issue 23 items 13 and 18: a reward that diverged (NaN, ±inf), a NaN in a result file or a malformed
result file leave a finished run's figures unknown with a note, never a failed ledger write or a traceback."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from lambdabench.cloud.gpus import type_facts
from lambdabench.cloud.models import InstanceType
from lambdabench.ledger import Ledger
from lambdabench.run.context import Node, RunContext
from lambdabench.run.env import RunEnv, Timeouts
from lambdabench.run.ingest import ingest_run
from lambdabench.run.plan import Benchmark
from tests.metrics.test_tensorboard import T0, Write, write_events


def _rc(tmp_path: Path, ledger: Ledger, playbook: str, sets: dict[str, str]) -> RunContext:
    itype = InstanceType("gpu_1x_a10", gpus=1, price_cents_per_hour=129)
    sweep = ledger.create_sweep("nan", simulated=True)
    run_id = ledger.add_run(sweep, instance_type=itype.name, workload=playbook)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    node = Node(0, "n0", "lambda", "127.0.0.2", "127.0.0.2", dict(type_facts(itype)))
    return RunContext(
        sweep_id=sweep,
        run_id=run_id,
        label="a10#1",
        nodes=[node],
        plan=None,  # type: ignore[arg-type]
        benchmark=Benchmark.load(playbook, sets),
        env=RunEnv(tmp_path, Timeouts()),
        ledger=ledger,
        connect=None,
        run_dir=run_dir,
        stop=threading.Event(),
        deadline=0.0,  # type: ignore[arg-type]
        notify=print,
        facts={0: {"gpu_count": "1"}},
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_reward_that_is_not_a_number_is_unknown_with_a_note(tmp_path: Path, bad: float) -> None:
    frames = 4096 * 16

    def body(add: Write) -> None:
        for epoch in range(1, 6):
            wall = T0 + epoch
            add("performance/step_inference_rl_update_fps", 100_000.0, (epoch - 1) * frames, wall)
            add("info/epochs", float(epoch), (epoch - 1) * frames, wall)
            add("rewards/iter", bad if epoch >= 4 else epoch * 2.0, epoch, wall)

    with Ledger(tmp_path / "home") as ledger:
        rc = _rc(tmp_path, ledger, "isaaclab-train", {"library": "rl_games"})
        write_events(rc.run_dir / "artifacts" / "logs" / "rl_games" / "cartpole" / "summaries", body)
        record = ingest_run(rc)
        metrics = {m.key: m.value for m in ledger.metrics(run_id=rc.run_id)}
        assert "reward" not in metrics and metrics["env_steps_per_s"] > 0  # the rest is still measured
        assert any(n.startswith("reward: unknown") for n in record["notes"]), record["notes"]
        curve = [s for s in ledger.series(run_id=rc.run_id) if s.name == "reward"]
        assert all(math.isfinite(p[2]) for s in curve for p in s.points)


@pytest.mark.parametrize(
    "text, note",
    [
        ('{"runs": [{"num_envs": 16, "env_steps_per_s": {"mean": NaN}, "total_env_steps": 1000}]}', "env_steps_per_s"),
        ('{"runs": [{"num_envs": 16, "env_steps_per_s": {"mean": 5.0}, "total_env_steps": Infinity}]}', "env_steps"),
        ('{"runs": [{"num_envs": 16, "env_steps_per_s": ', "mjx-result.json unreadable"),
        ('{"runs": [{"num_envs": 16}]}', "mjx-result.json unreadable"),
        ("[1, 2]", "mjx-result.json unreadable"),
        (b'\xff\xfe{"runs"', "mjx-result.json unreadable"),
    ],
)
def test_a_result_file_with_nan_or_malformed_leaves_figures_unknown(
    tmp_path: Path, text: str | bytes, note: str
) -> None:
    with Ledger(tmp_path / "home") as ledger:
        rc = _rc(tmp_path, ledger, "mjx-locomotion", {})
        result = rc.run_dir / "results" / "mjx-result.json"
        result.parent.mkdir()
        result.write_bytes(text if isinstance(text, bytes) else text.encode())
        record = ingest_run(rc)
        assert any(n.split(":")[0] == note or (note.endswith("unreadable") and note in n) for n in record["notes"]), (
            record["notes"]
        )
        assert all(math.isfinite(m.value) for m in ledger.metrics(run_id=rc.run_id))
        json.dumps(record["notes"])  # one line each
        assert all("\n" not in n for n in record["notes"])
