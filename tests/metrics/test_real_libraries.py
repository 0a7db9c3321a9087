"""Figures from event files the real RL libraries wrote, against tensorboard's reading and the truth.

The fixtures under data/real/ come from tools/real_rl_fixtures/make.py (skrl 2.1.1, rsl-rl-lib
5.5.1, rl-games 1.6.5, stable-baselines3 2.9.2, CPU torch 2.13.0; versions in each truth.json):
tiny trainings in Isaac Lab's log layout with each library's own runner and logger.
``tensorboard_reading.json`` is the official tensorboard 2.21 package's reading of every event
file (EventFileLoader + data_compat, as TensorBoard decides what a scalar is), committed because
tensorboard is not a dependency here. ``truth.json`` is what the toy env itself counted: env-steps
and the end time of every step() call.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lambdabench.metrics import MetricsError
from lambdabench.metrics.record import build_record
from lambdabench.metrics.tensorboard import read_scalars
from lambdabench.metrics.training import find_run_folders, read_training

DATA = Path(__file__).parent / "data" / "real"
SITUATIONS = sorted(p.name for p in DATA.iterdir() if (p / "truth.json").exists())


def _truth(name: str) -> dict[str, Any]:
    return json.loads((DATA / name / "truth.json").read_text())


def _reading(name: str) -> dict[str, Any]:
    return json.loads((DATA / name / "tensorboard_reading.json").read_text())


def test_every_situation_is_there() -> None:
    assert set(SITUATIONS) >= {
        "rl_games_plain",
        "rl_games_resume",
        "rl_games_pbt",
        "rsl_rl_plain",
        "rsl_rl_resume",
        "rsl_rl_hparams",
        "skrl_plain",
        "skrl_long_episodes",
        "sb3_plain",
        "sb3_pr_curve",
    }


@pytest.mark.parametrize("name", SITUATIONS)
def test_reader_matches_the_official_tensorboard_reading(name: str) -> None:
    """Every scalar point, in file order with repeated steps, and nothing that is not a scalar."""
    artifacts = DATA / name / "artifacts"
    for rel, official in _reading(name).items():
        ours = read_scalars(artifacts / rel)
        assert sorted(ours) == sorted(official["scalars"]), rel
        for tag, points in official["scalars"].items():
            got = [[s.step, s.wall_time, s.value] for s in ours[tag]]
            assert got == points, f"{rel}: {tag}"
        assert not set(official["plugins"]) & set(ours), rel


@pytest.mark.parametrize("name", SITUATIONS)
@pytest.mark.parametrize("windowed", [True, False], ids=["window", "no-window"])
def test_env_steps_within_one_percent_of_what_the_training_did(name: str, windowed: bool) -> None:
    truth = _truth(name)
    window = tuple(truth["benchmark"]["window"]) if windowed else None
    result = read_training(DATA / name / "artifacts", wall_window=window)  # type: ignore[arg-type]
    assert result.library == truth["library"]
    assert result.runs == truth["benchmark"]["runs"]
    assert result.env_steps is not None, result.unknown
    assert result.env_steps == pytest.approx(truth["benchmark"]["env_steps"], rel=0.01)
    assert result.provenance["env_steps"].rule


def _truth_rate(truth: dict[str, Any], library: str, start_steps: int, end_steps: int) -> float:
    """env-steps / seconds the toy env saw between two logged points of the library.

    The env timed the end of every step() call. When a point is written differs per library
    (docs/isaaclab-contract.md): rl_games, rsl_rl and skrl write after the update that follows a
    rollout, so a point at n env-steps marks the start of the step after the n-th (or the end of
    training for the last one); sb3 dumps from the step callback, right after the call that
    reached n.
    """
    (run,) = [r for r in truth["runs"] if r["folder"] in truth["benchmark"]["runs"]]
    per_call = run["env_steps_per_call"]
    times = [run["first_step_at"] + ms / 1000 for ms in run["step_times_ms"]]

    def at(steps: int) -> float:
        calls = steps // per_call  # step() calls done at the point
        if library == "sb3":
            return times[calls - 1] if calls else times[0]
        if calls >= len(times):
            return float(run["train_ended"])
        step_s = times[calls + 1] - times[calls] if calls + 1 < len(times) else 0.0
        return times[calls] - step_s

    return (end_steps - start_steps) / (at(end_steps) - at(start_steps))


SINGLE_RUN = [n for n in SITUATIONS if len(_truth(n)["benchmark"]["runs"]) == 1] + [
    "rl_games_resume",
    "rsl_rl_resume",
]


@pytest.mark.parametrize("name", sorted(set(SINGLE_RUN) & set(SITUATIONS)))
def test_rate_within_one_percent_of_what_the_training_did(name: str) -> None:
    truth = _truth(name)
    result = read_training(DATA / name / "artifacts", wall_window=tuple(truth["benchmark"]["window"]))  # type: ignore[arg-type]
    assert result.rate is not None and result.throughput is not None, result.unknown
    dropped = result.throughput.dropped
    start = result.rate_curve[dropped - 1][1] if dropped else 0
    expected = _truth_rate(truth, truth["library"], start, result.rate_curve[-1][1])
    assert result.rate == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("name", SITUATIONS)
def test_final_reward_is_the_last_reward_point_tensorboard_shows(name: str) -> None:
    truth = _truth(name)
    result = read_training(DATA / name / "artifacts", wall_window=tuple(truth["benchmark"]["window"]))  # type: ignore[arg-type]
    tag = result.provenance["reward"].tag
    file = result.provenance["reward"].file
    assert tag and file
    official = _reading(name)[file]["scalars"][tag]
    assert result.final_reward == official[-1][2]
    assert len(result.reward_curve) == len({p[0] for p in official})
    # the curve's env-steps rise and stay inside the run
    steps = [p[1] for p in result.reward_curve]
    assert steps == sorted(steps) and steps[-1] <= truth["benchmark"]["env_steps"]


def test_skrl_long_episodes_keep_every_write_for_steps_and_rate() -> None:
    """Total reward is written at 4 of 100 writes; env-steps and rate must not depend on it."""
    result = read_training(DATA / "skrl_long_episodes" / "artifacts")
    assert len(result.reward_curve) == 4
    assert len(result.rate_curve) == 99  # every write after the first is an interval end
    assert any("4 of 100 writes" in n for n in result.notes)


def test_rl_games_pbt_points_are_irregular_and_the_end_comes_from_the_final_checkpoint() -> None:
    result = read_training(DATA / "rl_games_pbt" / "artifacts")
    assert "final checkpoint" in result.provenance["env_steps"].rule
    gaps = {b[1] - a[1] for a, b in zip(result.rate_curve, result.rate_curve[1:], strict=False)}
    assert len(gaps) > 1  # logged epochs are not evenly spaced
    # the library's own per-epoch fps stays visible beside the wall-clock rate
    assert result.library_throughput is not None and result.rate is not None


def test_an_add_hparams_sub_folder_belongs_to_its_run() -> None:
    folders = find_run_folders(DATA / "rsl_rl_hparams" / "artifacts")
    assert len(folders) == 1
    result = read_training(DATA / "rsl_rl_hparams" / "artifacts")
    assert result.rate is not None and result.env_steps == _truth("rsl_rl_hparams")["benchmark"]["env_steps"]


@pytest.mark.parametrize("name", ["rl_games_resume", "rsl_rl_resume"])
def test_window_over_both_folders_counts_both_trainings(name: str) -> None:
    truth = _truth(name)
    window = (truth["runs"][0]["train_started"] - 1, truth["runs"][1]["train_ended"] + 1)
    result = read_training(DATA / name / "artifacts", wall_window=window)
    assert result.runs == [r["folder"] for r in truth["runs"]]
    assert result.env_steps == pytest.approx(sum(r["env_steps"] for r in truth["runs"]), rel=0.01)
    steps = [p[1] for p in result.reward_curve]
    assert steps == sorted(steps)


def test_older_folder_is_skipped_with_a_reason() -> None:
    truth = _truth("rsl_rl_resume")
    result = read_training(DATA / "rsl_rl_resume" / "artifacts")
    assert list(result.skipped) == [truth["runs"][0]["folder"]]
    assert "older run folder" in result.skipped[truth["runs"][0]["folder"]]


def test_world_size_per_library_semantics() -> None:
    one = read_training(DATA / "skrl_plain" / "artifacts")
    two = read_training(DATA / "skrl_plain" / "artifacts", world_size=2)
    # skrl: rank 0 writes its own timestep count only
    assert two.env_steps == 2 * (one.env_steps or 0)
    assert two.rate == pytest.approx(2 * (one.rate or 0))
    # rl_games: frames in the events already count every rank
    one = read_training(DATA / "rl_games_plain" / "artifacts")
    two = read_training(DATA / "rl_games_plain" / "artifacts", world_size=2)
    assert two.env_steps == one.env_steps and two.rate == one.rate


def test_unknown_is_said_not_silent(tmp_path: Path) -> None:
    shutil.copytree(DATA / "skrl_plain" / "artifacts", tmp_path / "a")
    for params in (tmp_path / "a").rglob("params"):
        shutil.rmtree(params)
    result = read_training(tmp_path / "a")
    assert result.env_steps is None and result.rate is None
    assert "num_envs unknown" in result.unknown["env_steps"]
    assert "env_steps_per_s" in result.unknown
    given = read_training(tmp_path / "a", num_envs=64)
    # without params/agent.yaml the end is the last write's timestep (here the trainer's last)
    assert given.env_steps == _truth("skrl_plain")["benchmark"]["env_steps"]


def test_window_with_no_training_is_an_error() -> None:
    with pytest.raises(MetricsError, match="wall window"):
        read_training(DATA / "sb3_plain" / "artifacts", wall_window=(0.0, 1.0))


def test_record_carries_provenance_and_stays_schema_v1() -> None:
    truth = _truth("sb3_plain")
    result = read_training(DATA / "sb3_plain" / "artifacts", wall_window=tuple(truth["benchmark"]["window"]))  # type: ignore[arg-type]
    record = build_record(run={"run_id": "1"}, simulated=False, training=result)
    assert record["schema_version"] == 1
    assert record["throughput"]["total_env_steps"] == truth["benchmark"]["env_steps"]
    assert record["throughput"]["mean"] == result.rate
    training = record["training"]
    figures = {p["figure"]: p for p in training["provenance"]}
    assert figures["env_steps"]["tag"] == "time/fps"
    assert figures["env_steps"]["file"].startswith("logs/sb3/")
    assert figures["env_steps"]["library_version"] == truth["versions"]["stable-baselines3"]
