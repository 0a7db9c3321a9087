"""Isaac Lab 2.x KPI JSON and 3.x phase lists, shaped like the benchmark scripts' outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdabench.metrics import MetricsError
from lambdabench.metrics.kpi import load_kpi, parse_kpi

# benchmark_rsl_rl.py with the OmniPerf KPI backend: metadata and measurements flat per phase
KPI_2X = {
    "startup": {
        "workflow_name": "benchmark_rsl_rl_train",
        "task": "Isaac-Cartpole-Direct-v0",
        "num_envs": 4096,
        "phase": "startup",
        "App Launch Time": 8123.5,
        "Python Imports Time": 2450.0,
        "Task Creation and Start Time": 15000.0,
        "Total Start Time (Launch to Train)": 25573.5,
    },
    "runtime": {
        "task": "Isaac-Cartpole-Direct-v0",
        "num_envs": 4096,
        "phase": "runtime",
        "Min Total FPS": 90000.0,
        "Max Total FPS": 130000.0,
        "Mean Total FPS": 120000.0,
        "Mean Collection FPS": 200000.0,
        "Mean Collection Time": 0.5,
    },
    "train": {
        "phase": "train",
        "Max Rewards": 4.9,
        "Last Reward": 4.8,
        "EMA 0.95 Reward": 4.7,
        "Rewards": [0.1, 2.0, 4.8],
        "Max Episode Lengths": 300.0,
    },
}

PHASES_3X = [
    {
        "phase_name": "runtime",
        "metadata": [
            {"name": "benchmark_rlgames_train runtime task", "data": "Isaac-Cartpole-Direct"},
            {"name": "benchmark_rlgames_train runtime num_envs", "data": 2048},
        ],
        "measurements": [
            {
                "name": "benchmark_rlgames_train runtime Total FPS",
                "mean": 800000.0,
                "std": 5000.0,
                "min": 700000.0,
                "max": 820000.0,
                "unit": "FPS",
            },
            {
                "name": "benchmark_rlgames_train runtime Iterations Completed",
                "value": 150,
                "unit": "count",
            },
        ],
    },
    {
        "phase_name": "startup",
        "metadata": [],
        "measurements": [
            {
                "name": "benchmark_rlgames_train startup Scene Creation Time",
                "value": 1500.0,
                "unit": "ms",
            }
        ],
    },
]


def test_2x_kpi_maps_names_to_units_and_keeps_raw(tmp_path: Path) -> None:
    path = tmp_path / "kpis_benchmark_rsl_rl_train.json"
    path.write_text(json.dumps(KPI_2X))
    report = load_kpi(path)
    assert report.source == "isaaclab2-kpi"
    assert report.task == "Isaac-Cartpole-Direct-v0" and report.num_envs == 4096
    assert report.workflow == "benchmark_rsl_rl_train"
    assert report.startup_s["app_launch_s"] == pytest.approx(8.1235)
    assert report.startup_s["total_start_s"] == pytest.approx(25.5735)
    assert report.env_steps_per_s() == {"min": 90000.0, "max": 130000.0, "mean": 120000.0}
    assert report.throughput["Collection FPS"]["mean"] == 200000.0
    assert report.train["max_reward"] == 4.9 and report.train["ema_reward"] == 4.7
    assert report.raw["train"]["Rewards"] == [0.1, 2.0, 4.8]
    assert report.raw["runtime"]["Mean Collection Time"] == 0.5


def test_3x_phase_list_strips_prefixes_and_reads_statistics() -> None:
    report = parse_kpi(PHASES_3X)
    assert report.source == "isaaclab3-phases"
    assert report.task == "Isaac-Cartpole-Direct" and report.num_envs == 2048
    assert report.env_steps_per_s() == {
        "mean": 800000.0,
        "std": 5000.0,
        "min": 700000.0,
        "max": 820000.0,
    }
    assert report.startup_s["scene_creation_s"] == pytest.approx(1.5)
    assert report.raw["runtime"]["Iterations Completed"] == 150


def test_nested_bundle_is_searched_by_names() -> None:
    bundle = {
        "schema_version": 1,
        "run": {"task": "Isaac-Ant-Direct", "num_envs": "1024"},
        "throughput": {"total_fps": {"mean": 5.0e5, "peak": 6.0e5}},
        "startup": {"App Launch Time": 9000.0},
    }
    report = parse_kpi(bundle)
    assert report.source == "isaaclab3-bundle"
    assert report.task == "Isaac-Ant-Direct" and report.num_envs == 1024
    assert report.env_steps_per_s() == {"mean": 5.0e5, "max": 6.0e5}


@pytest.mark.parametrize("data", [3, "x", None, {}, {"a": 1}, [1, 2], {"startup": {"x": "y"}}])
def test_unrecognised_shapes_are_clean_errors(data: object) -> None:
    with pytest.raises(MetricsError):
        parse_kpi(data)


def test_broken_json_file(tmp_path: Path) -> None:
    path = tmp_path / "kpis_x.json"
    path.write_text('{"startup": {')
    with pytest.raises(MetricsError, match="not valid JSON"):
        load_kpi(path)


# benchmark_non_rl.py (v2.1.0 scripts/benchmarks/benchmark_non_rl.py:177-194) through the OmniPerf
# backend, whose file carries "App Info", "timestamp" and "Kit" beside the phases
NON_RL_FILE = {
    "App Info": ["Isaac-Sim", "4.5.0", "release"],
    "timestamp": "2026-11-02T10:00:00.000000",
    "Kit": "106.5.0",
    "startup": {"workflow_name": "benchmark_non_rl", "phase": "startup", "task": "Isaac-Cartpole-Direct-v0",
                "num_envs": 4096, "App Launch Time": 9000.0},
    "runtime": {
        "workflow_name": "benchmark_non_rl", "phase": "runtime", "task": "Isaac-Cartpole-Direct-v0",
        "num_envs": 4096,
        "Mean Environment step FPS": 250.0, "Min Environment step FPS": 200.0, "Max Environment step FPS": 300.0,
        "Mean Environment step effective FPS": 2048000.0,
        "Min Environment step effective FPS": 1638400.0,
        "Max Environment step effective FPS": 2457600.0,
        "Mean Environment step times": 4.0,
    },
}  # fmt: skip


def test_the_real_kpi_file_with_app_info_is_read_as_2x() -> None:
    report = parse_kpi(NON_RL_FILE)
    assert report.source == "isaaclab2-kpi"
    assert report.task == "Isaac-Cartpole-Direct-v0" and report.num_envs == 4096
    assert report.startup_s["app_launch_s"] == pytest.approx(9.0)
    assert report.raw["file"]["Kit"] == "106.5.0"


def test_env_steps_per_s_is_the_effective_fps_not_the_vectorised_one() -> None:
    # the vectorised rate listed first must not win: env-steps/s = FPS × num_envs × world size
    report = parse_kpi(NON_RL_FILE)
    assert report.env_steps_name() == "Environment step effective FPS"
    assert report.env_steps_per_s() == {"mean": 2048000.0, "min": 1638400.0, "max": 2457600.0}
    only_vectorised = {"runtime": {"num_envs": 8, "Mean Environment step FPS": 250.0}}
    assert parse_kpi(only_vectorised).env_steps_per_s() is None


def test_read_benchmark_artifacts_finds_the_kpi_files_of_a_run(tmp_path: Path) -> None:
    from lambdabench.metrics.kpi import read_benchmark_artifacts

    assert read_benchmark_artifacts(tmp_path) is None
    folder = tmp_path / "artifacts" / "logs" / "benchmarks"
    folder.mkdir(parents=True)
    (folder / "kpis_benchmark_non_rl.json").write_text(json.dumps(NON_RL_FILE))
    (folder / "kpis_broken.json").write_text("{")
    summary = read_benchmark_artifacts(tmp_path / "artifacts")
    assert summary is not None
    assert summary.env_steps_per_s == 2048000.0
    assert summary.env_steps_source == "kpis_benchmark_non_rl.json: Environment step effective FPS"
    assert summary.vectorised_steps_per_s == 250.0
    rows = dict((name, (value, unit)) for name, value, unit in summary.metrics())
    assert rows["env_steps_per_s"] == (2048000.0, "env-steps/s")
    assert rows["startup_app_launch_s"] == (9.0, "s")
