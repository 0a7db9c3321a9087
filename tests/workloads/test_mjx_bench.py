"""mjx_bench.py: rank handling, file barriers and the launcher without JAX; a CPU run with it.

The CPU runs need an interpreter with jax and mujoco-mjx: this one if it has them, else the one
named by LAMBDABENCH_TEST_MJX_PYTHON (read at import: the hermetic fixture clears LAMBDABENCH_*).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambdabench.metrics.record import validate_record
from lambdabench.workloads import aggregate

SCRIPT = Path(__file__).resolve().parents[2] / "lambdabench" / "workloads" / "mjx_bench.py"


def _has(python: str, *modules: str) -> bool:
    if python == sys.executable:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    return Path(python).exists()


_MJX_PYTHON = next(
    (p for p in (sys.executable, os.environ.get("LAMBDABENCH_TEST_MJX_PYTHON")) if p and _has(p, "jax", "mujoco")),
    None,
)
needs_mjx = pytest.mark.skipif(
    _MJX_PYTHON is None,
    reason="jax and mujoco-mjx not installed (pip install jax mujoco-mjx, or set "
    "LAMBDABENCH_TEST_MJX_PYTHON to an interpreter that has them)",
)
_NO_JAX_HERE = importlib.util.find_spec("jax") is None


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mjx_bench_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rank_variables_and_gpu_pinning(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    # set (not deleted) so that monkeypatch restores them after pin_gpu writes os.environ
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    assert bench.dist_env() == (0, 0, 1)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert bench.dist_env() == (3, 1, 4)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(bench.BenchError, match="bad RANK=4"):
        bench.dist_env()

    assert bench.pin_gpu(1) == "1"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    # an operator's own selection is respected: LOCAL_RANK indexes into it
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    assert bench.pin_gpu(1) == "5"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    with pytest.raises(bench.BenchError, match="lists 2 device"):
        bench.pin_gpu(2)


def test_file_barrier_gathers_every_rank_in_rank_order(bench: ModuleType, tmp_path: Path) -> None:
    coords = [bench.FileCoordinator(tmp_path, r, 3, timeout=30) for r in range(3)]
    out: dict[int, Any] = {}

    def run(rank: int) -> None:
        time.sleep(0.05 * (2 - rank))  # arrive in reverse order
        out[rank] = coords[rank].allgather("calls", rank * 10)

    threads = [threading.Thread(target=run, args=(r,)) for r in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert out == {r: [0, 10, 20] for r in range(3)}


def test_file_barrier_fails_fast_on_a_failed_rank_and_times_out_naming_the_missing(
    bench: ModuleType, tmp_path: Path
) -> None:
    waiting = bench.FileCoordinator(tmp_path / "a", 0, 2, timeout=60)
    bench.FileCoordinator(tmp_path / "a", 1, 2, timeout=60).fail("rank 1 failed: boom")
    started = time.monotonic()
    with pytest.raises(bench.BenchError, match="rank 1 failed: rank 1 failed: boom"):
        waiting.barrier("rep0")
    assert time.monotonic() - started < 5

    alone = bench.FileCoordinator(tmp_path / "b", 0, 2, timeout=0.3)
    with pytest.raises(bench.BenchError, match=r"timed out after 0s at barrier 'rep0' .*\[1\]"):
        alone.barrier("rep0")


def test_bad_arguments_exit_2() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--envs", "0,5"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "need positive integers" in proc.stderr


@pytest.mark.skipif(not _NO_JAX_HERE, reason="this interpreter has jax")
def test_without_jax_it_exits_3_with_the_install_hint(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--envs", "4", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert "pip install 'jax[cuda12]' mujoco-mjx" in proc.stderr


@pytest.mark.skipif(not _NO_JAX_HERE, reason="this interpreter has jax")
def test_launcher_fails_when_a_rank_fails_and_names_it(tmp_path: Path) -> None:
    # without jax every rank exits 3 at import; the launcher must stop and report, not hang
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--launch", "3", "--envs", "4", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3
    assert "launch failed: rank" in proc.stderr and "exited with code 3" in proc.stderr
    assert time.monotonic() - started < 60


def _run_bench(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    assert _MJX_PYTHON is not None
    cmd = [_MJX_PYTHON, str(SCRIPT), "--envs", "8", "--steps-per-call", "2", "--reps", "2"]
    cmd += ["--rep-seconds", "0.05", "--warmup-calls", "0", "--out", str(tmp_path), *extra]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})},
    )


@needs_mjx
def test_cpu_run_writes_a_complete_result(tmp_path: Path) -> None:
    proc = _run_bench(tmp_path, env={"LAMBDABENCH_SIMULATED": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "mjx-result.json").read_text())
    assert result["simulated"] is True
    assert result["versions"]["jax_backend"] == "cpu"
    assert result["versions"]["mujoco_mjx"]
    (run,) = result["runs"]
    assert run["num_envs"] == 8 and run["state_finite"]
    assert run["compile_s"] > 0 and len(run["reps"]) == 2
    for rep in run["reps"]:
        assert rep["env_steps"] == 8 * 2 * run["calls_per_rep"]
        assert rep["env_steps_per_s"] == pytest.approx(rep["env_steps"] / rep["seconds"])
    record = aggregate.to_run_record(result)
    validate_record(record)
    assert record["simulated"] is True and record["throughput"]["mean"] > 0


@needs_mjx
@pytest.mark.slow
def test_cpu_two_ranks_through_the_launcher_sum_and_fail_fast(tmp_path: Path) -> None:
    proc = _run_bench(tmp_path / "ok", "--launch", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "ok" / "mjx-result.json").read_text())
    (total,) = result["aggregate"]["runs"]
    ranks = [p["env_steps_per_s"]["mean"] for p in total["per_rank"]]
    assert total["env_steps_per_s"]["mean"] == pytest.approx(sum(ranks))
    assert result["dist"]["coordination"] == "FileCoordinator"

    proc = _run_bench(tmp_path / "fail", "--launch", "2", "--fail-rank", "1")
    assert proc.returncode == 4
    assert "rank 1 failed" in proc.stderr
    assert "launch failed: rank" in proc.stderr
