"""The first step and Isaac Lab's own start-up timers (issue 28.4) of Isaac Lab trainings, on the simulator: read from
each pass's own training console (its step log), kept per --seeds pass (cold, warm), in the record and the report."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd
from tests.e2e.ledger_figures import run_figures

pytestmark = needs_sshd


def _said(log: Path) -> dict[str, float]:
    """What the stand-in printed: its two timers and iteration 0's "Iteration time" (the test's own reading)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text())
    timers = dict(re.findall(r"Time taken for (scene creation|simulation start)(?: Last:| :) ([0-9.]+)", text))
    block = text.split("Learning iteration 0/", 1)[1].split("Learning iteration 1/", 1)[0]
    first = re.search(r"Iteration time: ([0-9.]+)s", block)
    assert first is not None and set(timers) == {"scene creation", "simulation start"}, text[-2000:]
    return {
        "scene_creation_s": float(timers["scene creation"]),
        "simulation_start_s": float(timers["simulation start"]),
        "first_step_s": float(first[1]),
    }


STAGES = ("scene_creation_s", "simulation_start_s", "first_step_s")


def test_kitless_isaaclab3_first_step_and_timers_per_pass(simproc: SimProcess) -> None:
    out = simproc.cli(
        "sweep", "--gpus", "h100", "--playbook", "isaaclab3-train", "--set", "num_envs=16", "--set", "max_iterations=2",
        "--seeds", "2", "--max-run-minutes", "1500", "--format", "json", timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    metrics, seeds, run_dir, record = run_figures(simproc)
    # each pass logged its own console, and each pass's figures are its own
    said = {s: _said(next((run_dir / "logs" / "isaaclab3-train" / f"seed-{s}").glob("*-train.log"))) for s in (42, 43)}
    for key in STAGES:
        assert seeds[key] == [(42.0, said[42][key]), (43.0, said[43][key])], key
        assert metrics[key] == said[42][key]  # the run's start-up is its first (cold) pass's
    assert record["startup_s"]["first_step"] == said[42]["first_step_s"]
    assert record["startup_s"]["simulation_start"] == said[42]["simulation_start_s"]
    rows = {r["stage"]: r for r in json.loads(out.stdout)["startup"]}
    first = rows["first_step_s"]
    assert (first["cold_s"], first["warm_s"]) == (said[42]["first_step_s"], said[43]["first_step_s"])
    assert (first["cold_from"], first["warm_from"]) == ("pass 1, seed 42", "pass 2, seed 43")
    assert rows["scene_creation_s"]["cold_s"] == said[42]["scene_creation_s"]
    text = simproc.cli("report", "--format", "table").stdout
    assert "first step (MJX: the first compiled call; a training: its first iteration): cold " in text
    table = list(csv.DictReader(io.StringIO(simproc.cli("report", "--format", "csv").stdout)))
    assert [r["first_step_cold_from"] for r in table] == ["pass 1, seed 42"]
    assert simproc.live() == []


def test_isaac_sim_container_first_step_and_timers(simproc: SimProcess) -> None:
    out = simproc.cli(
        "sweep", "--gpus", "a10", "--playbook", "isaaclab-train", "--set", "isaaclab_version=2", "--set", "library=rsl_rl",
        "--set", "num_envs=16", "--set", "max_iterations=2", "--max-run-minutes", "1500", "--format", "json", timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    metrics, _, run_dir, record = run_figures(simproc)
    said = _said(next((run_dir / "logs" / "isaaclab-train").glob("*-train*.log")))
    assert {key: metrics[key] for key in STAGES} == said
    assert {k: record["startup_s"][k.removesuffix("_s")] for k in STAGES} == said
    rows = {r["stage"]: r for r in json.loads(out.stdout)["startup"]}
    assert rows["first_step_s"]["cold_s"] == said["first_step_s"] and rows["first_step_s"]["warm_s"] is None
    assert rows["simulation_start_s"]["cold_from"] == "the run's only pass"
    assert simproc.live() == []


def test_a_library_without_an_iteration_time_reads_unknown(simproc: SimProcess) -> None:
    """skrl (isaaclab-train's default) prints a progress bar, no iteration time: unknown with the reason, never 0."""
    out = simproc.cli(
        "sweep", "--gpus", "a10", "--playbook", "isaaclab-train", "--set", "isaaclab_version=2", "--set", "num_envs=16",
        "--set", "max_iterations=2", "--max-run-minutes", "1500", "--format", "json", timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    metrics, _, _, record = run_figures(simproc)
    assert "first_step_s" not in metrics and metrics["first_step_unknown"] == 3.0 and "scene_creation_s" in metrics
    assert "first_step" not in record["startup_s"]
    row = next(r for r in json.loads(out.stdout)["startup"] if r["stage"] == "first_step_s")
    assert row["cold_s"] is None and row["note"].startswith("unknown: the RL library logs no time of one iteration")
    assert simproc.live() == []


def test_rl_games_first_step_from_its_events(simproc: SimProcess) -> None:
    """rl_games' console prints rates, not an epoch's time: its first epoch comes from its TensorBoard events."""
    out = simproc.cli(
        "sweep", "--gpus", "a10", "--playbook", "isaaclab-train", "--set", "isaaclab_version=2", "--set",
        "library=rl_games", "--set", "num_envs=16", "--set", "max_iterations=2", "--max-run-minutes", "1500",
        "--format", "json", timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    with Ledger(simproc.home) as ledger:
        [run] = ledger.runs()
        [first] = [m for m in ledger.metrics(run_id=run.id) if m.key == "first_step_s"]
        assert not [m for m in ledger.metrics(run_id=run.id) if m.key == "first_step_unknown"]
    assert first.source == "tensorboard" and first.value > 0
    _, _, _, record = run_figures(simproc)
    assert record["startup_s"]["first_step"] == first.value
    assert "first step: rl_games's first iteration as its TensorBoard events time it" in record["notes"]
    assert simproc.live() == []
