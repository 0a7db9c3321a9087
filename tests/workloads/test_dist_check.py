"""dist_check.py under torch.distributed.run on the CPU (gloo): sums, agreement, fail-fast.

Needs torch: this interpreter if it has it, else the one named by LAMBDABENCH_TEST_TORCH_PYTHON
(read at import: the hermetic fixture clears LAMBDABENCH_*). torch is not a project dependency.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "lambdabench" / "workloads" / "dist_check.py"


def _torch_python() -> str | None:
    if importlib.util.find_spec("torch") is not None:
        return sys.executable
    named = os.environ.get("LAMBDABENCH_TEST_TORCH_PYTHON")
    return named if named and Path(named).exists() else None


_TORCH_PYTHON = _torch_python()
pytestmark = pytest.mark.skipif(
    _TORCH_PYTHON is None,
    reason="torch not installed (it is no project dependency); set LAMBDABENCH_TEST_TORCH_PYTHON "
    "to an interpreter with torch, e.g. a venv with `pip install torch==2.13.0`",
)


def _launch(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    proc = _launch_once(*args, timeout=timeout)
    if proc.returncode != 0 and "--fail-rank" not in args and _aborted_after_a_complete_run(proc):
        # CPU gloo under a loaded test machine: now and then one rank dies by SIGABRT in its teardown after
        # the run completed and the summary was written (seen about once in 8 launches with 4 in parallel,
        # never in 24 standalone); GPU runs use NCCL. One retry, and only for exactly that ending.
        proc = _launch_once(*args, timeout=timeout)
    return proc


def _aborted_after_a_complete_run(proc: subprocess.CompletedProcess[str]) -> bool:
    return "DIST_CHECK {" in proc.stdout and "(SIGABRT)" in proc.stderr


def _launch_once(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    assert _TORCH_PYTHON is not None
    return subprocess.run(
        [
            _TORCH_PYTHON,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(SCRIPT),
            "--backend",
            "gloo",
            "--steps",
            "8",
            "--warmup",
            "1",
            "--batch",
            "32",
            "--width",
            "64",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_two_gloo_ranks_sum_their_own_rates_and_agree(tmp_path: Path) -> None:
    proc = _launch("--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((tmp_path / "dist-check.json").read_text())
    assert summary["backend"] == "gloo" and summary["world_size"] == 2
    rates = [r["samples_per_s"] for r in summary["per_rank"]]
    assert [r["rank"] for r in summary["per_rank"]] == [0, 1]
    assert summary["total_samples_per_s"] == pytest.approx(sum(rates))
    assert summary["replicas_agree"] is True
    assert summary["param_checksums"][0] == summary["param_checksums"][1]
    assert summary["nccl_nvls_enable"] == "0"
    # each rank printed its own rate; the printed total is the same sum
    printed = re.findall(r"\[dist_check rank (\d)\] ([\d.]+) samples/s", proc.stdout)
    assert sorted(int(r) for r, _ in printed) == [0, 1]


def test_a_failing_rank_fails_the_launch_fast_and_is_named(tmp_path: Path) -> None:
    started = time.monotonic()
    # a collective timeout far beyond the bound below: only prompt failure handling passes
    proc = _launch("--fail-rank", "1", "--steps", "40", "--timeout", "600", timeout=300)
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-2000:]
    assert "--fail-rank 1 set, exiting 1" in output
    root_cause = output.split("Root Cause", 1)[1]
    assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)", root_cause)
    assert re.search(r"exitcode\s*:\s*1 ", root_cause)
    assert elapsed < 90  # the others were stopped, not left waiting in a collective
