"""Event files written by tensorboardX's real SummaryWriter, read back per RL library."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lambdabench.metrics import MetricsError, throughput_stats
from lambdabench.metrics.tensorboard import (
    detect_library,
    iter_records,
    load_series,
    num_envs_from_params,
    read_scalars,
)

T0 = 1_700_000_000.0

Write = Callable[[str, float, int, float], None]


def write_events(logdir: Path, body: Callable[[Write], None], *, verbatim: bool = True) -> Path:
    """Run body against a real tensorboardX writer and return the folder.

    verbatim=True writes tags unchanged, as torch.utils.tensorboard (used by rl_games, rsl_rl, skrl
    and sb3) does; verbatim=False goes through add_scalar, which rewrites spaces to "_".
    """
    from tensorboardX import SummaryWriter
    from tensorboardX.proto.summary_pb2 import Summary

    writer = SummaryWriter(logdir=str(logdir))

    def add(tag: str, value: float, step: int, wall: float) -> None:
        if verbatim:
            summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
            writer._get_file_writer().add_summary(summary, step, wall)
        else:
            writer.add_scalar(tag, value, global_step=step, walltime=wall)

    body(add)
    writer.close()
    return logdir


def test_rl_games_epochs_frames_and_fps(tmp_path: Path) -> None:
    frames_per_epoch = 4096 * 16

    def body(add: Write) -> None:
        for epoch in range(1, 6):
            frame = (epoch - 1) * frames_per_epoch
            wall = T0 + epoch
            add("performance/step_inference_rl_update_fps", 100_000.0 + epoch, frame, wall)
            add("performance/step_inference_fps", 150_000.0, frame, wall)
            add("performance/step_fps", 200_000.0, frame, wall)
            add("info/epochs", float(epoch), frame, wall)
            add("rewards/step", epoch * 2.0, frame, wall)
            add("rewards/iter", epoch * 2.0, epoch, wall)
            add("episode_lengths/iter", 10.0 * epoch, epoch, wall)

    logdir = write_events(tmp_path / "logs" / "rl_games" / "cartpole" / "summaries", body)
    series = load_series(logdir)
    assert series.library == "rl_games"
    assert [p.iteration for p in series.points] == [1, 2, 3, 4, 5]
    assert [p.env_steps for p in series.points] == [frames_per_epoch * e for e in range(1, 6)]
    assert series.points[2].env_steps_per_s == pytest.approx(100_003.0)
    assert series.points[3].reward == pytest.approx(8.0)
    assert series.points[4].episode_length == pytest.approx(50.0)
    assert series.total_env_steps == 5 * frames_per_epoch
    assert "performance/step_fps" in series.raw


@pytest.mark.parametrize("collection_tag", ["Perf/collection time", "Perf/collection_time"])
def test_rsl_rl_both_collection_tag_names(tmp_path: Path, collection_tag: str) -> None:
    num_envs, steps_per_env = 4096, 24
    per_iter = num_envs * steps_per_env

    def body(add: Write) -> None:
        for it in range(6):
            collection, learning = 0.5 + 0.01 * it, 0.25
            fps = int(per_iter / (collection + learning))
            wall = T0 + it
            add("Perf/total_fps", float(fps), it, wall)
            add(collection_tag, collection, it, wall)
            add("Perf/learning_time", learning, it, wall)
            add("Train/mean_reward", float(it), it, wall)
            add("Train/mean_episode_length", 100.0 + it, it, wall)

    series = load_series(write_events(tmp_path / "run", body))
    assert series.library == "rsl_rl"
    assert [p.iteration for p in series.points] == list(range(6))
    assert [p.env_steps for p in series.points] == [per_iter * (i + 1) for i in range(6)]
    assert series.points[0].env_steps_per_s == int(per_iter / 0.75)
    assert series.points[5].reward == pytest.approx(5.0)
    assert any(collection_tag in note for note in series.notes)


def test_rsl_rl_given_steps_per_iteration_wins(tmp_path: Path) -> None:
    def body(add: Write) -> None:
        for it in range(3):
            add("Perf/total_fps", 1000.0, it, T0 + it)

    series = load_series(write_events(tmp_path / "r", body), steps_per_iteration=500)
    assert [p.env_steps for p in series.points] == [500, 1000, 1500]


def test_skrl_uses_num_envs_from_params_and_wall_time(tmp_path: Path) -> None:
    run = tmp_path / "logs" / "skrl" / "cartpole" / "2025-01-01_00-00-00_ppo_torch"

    def body(add: Write) -> None:
        for k in range(1, 5):
            step = 16 * k
            add("Reward / Total reward (mean)", float(k), step, T0 + 2.0 * k)
            add("Episode / Total timesteps (mean)", 50.0 * k, step, T0 + 2.0 * k)
            add("Loss / Policy loss", 0.1, step, T0 + 2.0 * k)

    write_events(run, body)
    (run / "params").mkdir()
    (run / "params" / "env.yaml").write_text(
        "viewer:\n  eye: !!python/tuple\n  - 7.5\nscene:\n  num_envs: 1024\n  env_spacing: 4.0\n"
    )
    assert num_envs_from_params(run) == 1024
    series = load_series(run)
    assert series.library == "skrl"
    assert [p.env_steps for p in series.points] == [16 * k * 1024 for k in range(1, 5)]
    assert series.points[0].env_steps_per_s is None
    # 16 timesteps × 1024 envs every 2 s of wall time
    assert series.points[1].env_steps_per_s == pytest.approx(16 * 1024 / 2.0)
    assert series.points[3].episode_length == pytest.approx(200.0)


def test_skrl_tags_cleaned_by_tensorboardx_without_num_envs(tmp_path: Path) -> None:
    def body(add: Write) -> None:
        add("Reward / Total reward (mean)", 1.0, 16, T0)
        add("Episode / Total timesteps (mean)", 7.0, 16, T0)

    logdir = write_events(tmp_path / "x", body, verbatim=False)
    assert "Reward_/_Total_reward__mean_" in read_scalars(logdir)
    series = load_series(logdir)
    assert series.library == "skrl"
    assert series.points[0].reward == 1.0 and series.points[0].episode_length == 7.0
    assert series.points[0].env_steps is None
    assert series.throughput() == []


def test_sb3_steps_and_rate(tmp_path: Path) -> None:
    def body(add: Write) -> None:
        for it in range(1, 5):
            steps = it * 8192
            wall = T0 + 4.0 * it
            add("time/fps", 999.0, steps, wall)
            add("time/iterations", float(it), steps, wall)
            add("time/total_timesteps", float(steps), steps, wall)
            add("rollout/ep_rew_mean", -1.0 * it, steps, wall)
            add("rollout/ep_len_mean", 20.0, steps, wall)

    series = load_series(write_events(tmp_path / "PPO_1", body))
    assert series.library == "sb3"
    assert [p.iteration for p in series.points] == [1, 2, 3, 4]
    assert [p.env_steps for p in series.points] == [8192, 16384, 24576, 32768]
    assert series.throughput() == pytest.approx([2048.0, 2048.0, 2048.0])
    stats = throughput_stats(series.throughput(), warmup_samples=1)
    assert stats is not None and stats.samples == 2 and stats.mean == pytest.approx(2048.0)


def test_detect_library_from_tags_and_path() -> None:
    assert detect_library(["rewards/iter"]) == "rl_games"
    assert detect_library(["Perf/total_fps"]) == "rsl_rl"
    assert detect_library(["rollout/ep_rew_mean"]) == "sb3"
    assert detect_library(["Reward / Total reward (mean)"]) == "skrl"
    assert detect_library(["custom"], Path("/x/logs/rsl_rl/exp/run")) == "rsl_rl"
    assert detect_library(["custom"]) is None


def test_corrupt_record_is_a_clean_error_and_truncation_is_tolerated(tmp_path: Path) -> None:
    def body(add: Write) -> None:
        for it in range(3):
            add("Perf/total_fps", 10.0, it, T0 + it)

    logdir = write_events(tmp_path / "c", body)
    (event_file,) = logdir.glob("events.out.tfevents.*")
    data = event_file.read_bytes()
    records = list(iter_records(event_file))
    assert len(records) == 4  # file_version header + 3 scalars

    event_file.write_bytes(data[:-3])  # a writer killed mid-record
    assert len(read_scalars(event_file)["Perf/total_fps"]) == 2

    damaged = bytearray(data)
    damaged[-6] ^= 0xFF  # flip a payload byte of the last record
    event_file.write_bytes(bytes(damaged))
    with pytest.raises(MetricsError, match="bad record checksum"):
        read_scalars(event_file)


def test_empty_folder_and_unknown_library(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MetricsError, match="no scalar summaries"):
        load_series(tmp_path / "empty")

    def body(add: Write) -> None:
        add("my/tag", 1.0, 1, T0)

    with pytest.raises(MetricsError, match="cannot tell"):
        load_series(write_events(tmp_path / "u", body))
