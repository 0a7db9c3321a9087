"""The real Isaac Lab 3 run through lambdabench's SHIPPED playbooks on an H100, kept as data (issue 26).

Source: bench/device/run_il3_lambdabench.sh on the device machine (one NVIDIA H100 80GB HBM3, driver
580.159.04, CUDA 13.0, the image's torch 2.11.0+cu130), 2026-12-05 14:57-15:13 UTC. Four `lambdabench sweep
--local --playbook isaaclab3-train --set num_envs=N --set max_iterations=100` (plus the offline set-up vars:
python= the image's venv python, system_site_packages, wheels=, no_deps, asset_root= the derived assets),
Isaac-Cartpole-Direct, isaaclab 3.0.0, rsl-rl-lib 5.5.1, Newton 1.6.1, Warp 1.17.0. Per N (h100-il3/nN/):
the result.json lambdabench wrote, the telemetry.csv it sampled, rsl_rl's TensorBoard event file it pulled,
and the train step's console lines with rsl_rl's own "Steps per second". Beside them: Isaac Lab's own
`isaaclab benchmark training` TrainingBundle (schema 1.4) of a 4,096-env run in the same venv and lease.
h100-mjx-cache/: the MJX benchmark through `sweep --local --playbook mjx-locomotion`, envs 1,024…65,536,
twice with one JAX persistent compilation cache folder (cold, then warm), same machine, same lease.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
from pathlib import Path
from typing import Any

import pytest

from lambdabench.metrics.kpi import load_kpi
from lambdabench.metrics.record import validate_record
from lambdabench.metrics.telemetry import TimedWindow, in_windows, load_telemetry, summarize
from lambdabench.metrics.training import read_training

DATA = Path(__file__).parent / "data"
IL3 = DATA / "h100-il3"
MJX = DATA / "h100-mjx-cache"
SIZES = (1024, 4096, 16384, 65536)


def _record(n: int) -> dict[str, Any]:
    return json.loads((IL3 / f"n{n}" / "result.json").read_text())


def _console_median(n: int) -> float:
    text = (IL3 / f"n{n}" / "console-steps.txt").read_text()
    return statistics.median(float(v) for v in re.findall(r"Steps per second:\s*([\d.]+)", text))


def _training(n: int, tmp: Path) -> Any:
    run = tmp / "rsl_rl" / "cartpole_direct" / f"n{n}"
    run.mkdir(parents=True)
    for event in (IL3 / f"n{n}").glob("events.out.tfevents.*"):
        shutil.copy(event, run / event.name)
    return read_training(tmp, library="rsl_rl", num_envs=n)


@pytest.mark.parametrize("n", SIZES)
def test_the_real_records_are_records_of_a_real_h100(n: int) -> None:
    record = _record(n)
    assert "error" not in record
    validate_record(record)
    assert record["simulated"] is False and record["run"]["status"] == "succeeded"
    assert record["run"]["num_envs"] == n and record["run"]["task"] == "Isaac-Cartpole-Direct"
    assert record["versions"]["driver"] == "580.159.04" and record["versions"]["cuda"] == "13.0"
    assert record["versions"]["isaaclab_ref"] == "3.0.0" and "rsl-rl-lib 5.5.1" in record["versions"]["library"]
    assert record["throughput"]["source"] == "tensorboard"
    assert record["training"]["env_steps"] == 100 * 16 * n  # iterations × num_steps_per_env × envs
    assert record["training"]["final_reward"] > 4.8  # the pole is balanced


@pytest.mark.parametrize("n", SIZES)
def test_lambdabench_reads_the_pulled_events_within_5_percent_of_rsl_rls_own_console(n: int, tmp_path: Path) -> None:
    tr = _training(n, tmp_path)
    record = _record(n)
    assert tr.rate == pytest.approx(record["throughput"]["mean"])
    assert tr.rate == pytest.approx(_console_median(n), rel=0.05)


@pytest.mark.parametrize("n", SIZES)
def test_utilisation_is_over_the_training_iterations_not_the_start_up(n: int, tmp_path: Path) -> None:
    """Issue 26.4: the whole run read 2-5 % busy (start-up and a cold Warp compile included); the
    iterations the rate counts 12-30 % (Cartpole leaves an H100 mostly idle at any N)."""
    tr = _training(n, tmp_path)
    assert tr.timed_window is not None
    start, end, steps = tr.timed_window
    samples = load_telemetry(IL3 / f"n{n}" / "telemetry.csv").samples
    figures = in_windows(samples, [TimedWindow(start, end, float(steps), float(n))])  # the box runs on UTC
    resources = _record(n)["resources"]
    assert resources["timed_utilization_pct"] == pytest.approx(figures.utilization_pct)
    assert resources["wh_per_million_steps"] == pytest.approx(figures.wh_per_million_steps)
    whole = summarize(samples).mean_utilization_pct
    assert whole is not None and whole < 6 < resources["timed_utilization_pct"]


def test_only_the_first_run_paid_for_a_cold_warp_compile() -> None:
    notes = {n: " ".join(_record(n)["notes"]) for n in SIZES}
    startup = {n: _record(n)["startup_s"]["to_first_iteration"] for n in SIZES}
    assert "cold at the start (0 compiled modules there)" in notes[1024]
    assert all("warm at the start" in notes[n] for n in SIZES[1:])
    assert startup[1024] > 90 and all(startup[n] < 60 for n in SIZES[1:])


def test_isaac_labs_own_bundle_reads_total_fps_not_collection_fps() -> None:
    """Issue 25: the reader took collection_fps (rollout only, 615k) as env-steps/s; total_fps (278.6k) is
    the end-to-end figure beside lambdabench's 242k for the same task and N (another run, same lease)."""
    report = load_kpi(IL3 / "isaaclab-benchmark-training-n4096.json")
    assert report.source == "isaaclab3-bundle-1.4" and report.num_envs == 4096
    assert report.env_steps_name() == "Total FPS"
    assert report.env_steps_per_s() == {"mean": 278569.56, "std": pytest.approx(48769.257), "max": 378345.0}
    assert report.throughput["Collection FPS"]["mean"] == pytest.approx(615375.47)
    assert report.startup_s["env_creation_s"] == pytest.approx(12.9585, abs=1e-3)
    assert report.startup_s["first_step_s"] == pytest.approx(8.5998, abs=1e-3)
    assert report.train["last_reward"] == pytest.approx(4.8494, abs=1e-3)


def test_a_pulled_bundle_is_found_and_gives_total_fps_and_start_up(tmp_path: Path) -> None:
    from lambdabench.metrics.kpi import read_benchmark_artifacts

    folder = tmp_path / "artifacts" / "benchmark"
    folder.mkdir(parents=True)
    name = "benchmark_training_Isaac-Cartpole-Direct_2026-12-05_15-07-55-860049_63e10411.json"
    shutil.copy(IL3 / "isaaclab-benchmark-training-n4096.json", folder / name)
    summary = read_benchmark_artifacts(tmp_path / "artifacts")
    assert summary is not None and summary.env_steps_per_s == 278569.56
    assert summary.env_steps_source == f"{name}: Total FPS" and summary.num_envs == 4096
    rows = {key: value for key, value, _ in summary.metrics()}
    assert rows["startup_env_creation_s"] == pytest.approx(12.9585, abs=1e-3)


def _mjx(name: str) -> dict[str, Any]:
    return json.loads((MJX / name).read_text())


def test_mjx_compile_cold_then_warm_from_one_persistent_cache() -> None:
    cold, warm = _mjx("cold-mjx-result.json"), _mjx("warm-mjx-result.json")
    assert cold["compile_cache"]["state"] == "cold" and cold["compile_cache"]["entries_before"] == 0
    assert warm["compile_cache"]["state"] == "warm" and warm["compile_cache"]["entries_before"] > 0
    assert warm["startup_s"]["compile"] < cold["startup_s"]["compile"] / 3  # 14.2 s against 55.8 s
    assert cold["versions"]["mujoco"] == cold["versions"]["mujoco_mjx"] == "3.17.0"  # the pinned pair


@pytest.mark.parametrize("name", ["cold-mjx-result.json", "warm-mjx-result.json"])
def test_mjx_tails_and_steady_memory_per_n(name: str) -> None:
    runs = _mjx(name)["runs"]
    assert [r["num_envs"] for r in runs] == list(SIZES)
    for r in runs:
        assert 0 < r["step_time_p50_s"] <= r["step_time_p95_s"] <= r["step_time_p99_s"]
        assert r["step_time_samples"] >= 20
    memory = [r["gpu_mem_steady_mib"] for r in runs]
    assert memory == sorted(memory) and memory[-1] > 500  # grows with N: about 1 GiB at 65,536 envs
    record = _mjx(name.replace("mjx-result", "result"))
    validate_record(record)
    assert record["resources"]["timed_utilization_pct"] > 90


def test_the_real_bundle_goes_beside_lambdabenchs_figure_with_its_provenance(tmp_path: Path) -> None:
    """Issue 25: isaaclab3-train benchmark=isaaclab pulls this file; its figures land under isaaclab_* keys and
    in the record's isaaclab_benchmark part, never as the run's env_steps_per_s."""
    from lambdabench.metrics.kpi import read_benchmark_artifacts, read_isaaclab_bundle

    folder = tmp_path / "artifacts" / "benchmark"
    folder.mkdir(parents=True)
    name = "benchmark_training_Isaac-Cartpole-Direct_2026-12-05_15-07-55-860049_63e10411.json"
    shutil.copy(IL3 / "isaaclab-benchmark-training-n4096.json", folder / name)
    assert read_benchmark_artifacts(tmp_path / "artifacts", bundles=False) is None  # 2.x KPI files only
    bundle = read_isaaclab_bundle(tmp_path / "artifacts")
    assert bundle is not None and bundle.file == f"benchmark/{name}"
    assert bundle.provenance == "Isaac Lab benchmark total_fps, schema 1.4" and bundle.iterations == 100
    rows = {key: value for key, value, _ in bundle.metrics()}
    assert "env_steps_per_s" not in rows and rows["isaaclab_env_steps_per_s"] == 278569.56
    assert rows["isaaclab_collection_env_steps_per_s"] == pytest.approx(615375.47)
    assert rows["isaaclab_iteration_time_s"] == pytest.approx(0.32162, abs=1e-4)
    assert rows["isaaclab_startup_python_imports_s"] == pytest.approx(8.9257, abs=1e-3)
    section = bundle.record_section()
    assert section["versions"]["rsl_rl"] == "5.5.1" and section["versions"]["torch"] == "2.11.0+cu130"
    record = _record(4096)
    record["isaaclab_benchmark"] = {**section, "lambdabench_env_steps_per_s": record["throughput"]["mean"]}
    validate_record(record)


def test_the_first_iteration_from_the_real_events_holds_the_cold_kernel_compile(tmp_path: Path) -> None:
    """Issue 28.4: without the console's figure, the first step is rsl_rl's collection + learning time of iteration 0
    in its events; at 1,024 envs Warp's kernels were cold (the record's note) and it took 39.5 s, then 0.25 s."""
    first = {n: _training(n, tmp_path / f"n{n}").first_iteration_s for n in SIZES}
    assert first[1024] == pytest.approx(39.541, abs=0.001)
    assert any("cold at the start" in note for note in _record(1024)["notes"])
    assert all(3.0 < first[n] < 4.5 for n in SIZES[1:]), first
