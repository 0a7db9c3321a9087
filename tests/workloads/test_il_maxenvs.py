"""Isaac Lab's largest-num_envs search (il_maxenvs.py): each probe its own training process, the training called
in-process so an out-of-memory is recognised by its TYPE (never its text), any other failure ends the search as an
error, and the search stops at the first out-of-memory. Against the simulated Isaac Lab 3 (its GPU-memory model from
the real H100 figures) and small entry points that raise what real trainings raise."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lambdabench.sim.hosts.memory_model import il3_largest_that_fits, memory_model
from lambdabench.workloads import envsearch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "lambdabench" / "workloads" / "il_maxenvs.py"
SITE = ROOT / "lambdabench" / "sim" / "isaaclab" / "isaaclab3" / "site"
IMAGE = ROOT / "lambdabench" / "sim" / "hosts" / "image"
TRAIN = ["train", "--rl_library", "rsl_rl", "--task", "Isaac-Cartpole-Direct", "--max_iterations", "1"]

ENTRIES = """
import sys, time

def torch_oom():
    import torch  # a real torch (the CPU build is enough): its own out-of-memory type, with a text that says nothing
    raise torch.OutOfMemoryError("allocation failed")

def oom_text():
    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")  # the words, not the type: a failure

def chained():
    import torch
    try:
        raise torch.cuda.OutOfMemoryError("inner")
    except RuntimeError as exc:
        raise ValueError("wrapped by the training") from exc

def fits():
    print("trained", sys.argv[1:])

def exits_2():
    raise SystemExit(2)

def vanishes():
    import os
    os._exit(0)  # gone before the wrapper could say how it ended

def sleeps():
    import os
    with open(os.environ.get("PROBE_PID_FILE", os.devnull), "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(60)

def starts_by_size():
    time.sleep((int(sys.argv[sys.argv.index("--num_envs") + 1]) - 8) * 0.1)  # a start-up that grows with num_envs

def warp_oom():
    import warp as wp  # the real Warp (isaaclab 3.0.0's 1.17.0) on the CPU: its host allocator cannot give 256 TiB
    wp.init()
    wp.empty(shape=(2**31 - 1, 2**17), dtype=wp.uint8, device="cpu")

def warp_by_size():
    if int(sys.argv[sys.argv.index("--num_envs") + 1]) >= 32:
        warp_oom()

def warp_words():
    raise RuntimeError("Failed to allocate 1024 bytes on device 'cuda:0'")  # Warp's words from the wrong place

def by_size():
    n = int(sys.argv[sys.argv.index("--num_envs") + 1])
    if n >= 64:
        import torch
        raise torch.OutOfMemoryError("modelled by the test")
    if n == 48:
        raise KeyError("a bug at one size")
"""

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def entries(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "il_entries.py").write_text(ENTRIES)
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


def probe(tmp_path: Path, env: dict[str, str], entry: str, n: int = 8) -> tuple[int, dict[str, Any]]:
    result = tmp_path / f"{entry}.json"
    done = run(
        ["probe", "--num-envs", str(n), "--result", str(result), "--entry", f"il_entries:{entry}"], tmp_path, env
    )
    return done.returncode, json.loads(result.read_text()) if result.exists() else {}


@needs_torch
def test_an_out_of_memory_is_its_type_and_the_words_alone_are_a_failure(
    tmp_path: Path, entries: dict[str, str]
) -> None:
    code, doc = probe(tmp_path, entries, "torch_oom")
    assert (code, doc["status"], doc["error_type"], doc["rule"]) == (3, "oom", "torch.OutOfMemoryError", "type")
    assert doc["fits"] is False and doc["modelled"] is False and doc["argv"][-2:] == ["--num_envs", "8"]
    code, doc = probe(tmp_path, entries, "oom_text")
    assert (code, doc["status"], doc["error_type"]) == (4, "failed", "RuntimeError")
    code, doc = probe(tmp_path, entries, "chained")  # raised from an out-of-memory: the cause's type decides
    assert (code, doc["status"], doc["error_type"]) == (3, "oom", "torch.OutOfMemoryError")


def test_a_finished_training_fits_and_other_endings_are_failures(tmp_path: Path, entries: dict[str, str]) -> None:
    assert probe(tmp_path, entries, "fits")[1]["status"] == "fits"
    code, doc = probe(tmp_path, entries, "exits_2")
    assert (code, doc["status"], doc["exit_status"]) == (4, "failed", 2)
    assert probe(tmp_path, entries, "vanishes") == (0, {})  # no result: the search must not call it a fit


def search(tmp_path: Path, env: dict[str, str], *extra: str, seconds: str = "60") -> tuple[int, dict[str, Any]]:
    out = tmp_path / "out"
    args = ["search", "--out", str(out), "--work", str(tmp_path / "work"), "--probe-seconds", seconds, *extra]
    done = run(args, tmp_path, env)
    assert done.returncode in (0, 4), done.stderr[-2000:]
    return done.returncode, json.loads((out / "max-envs-result.json").read_text())


@needs_torch
def test_the_search_stops_at_the_first_out_of_memory(tmp_path: Path, entries: dict[str, str]) -> None:
    code, doc = search(
        tmp_path, entries, "--start", "8", "--bound", "1024", "--bisect-steps", "0", "--entry", "il_entries:by_size"
    )
    found = doc["max_envs"]
    assert code == 0 and doc["status"] == "ok" and doc["error"] is None
    assert [t["num_envs"] for t in found["tries"]] == [8, 16, 32, 64]  # nothing after the first out-of-memory
    assert (found["largest_fit"], found["first_oom"], found["stopped"]) == (32, 64, "oom")
    assert (
        found["oom_error"]["error_type"] == "torch.OutOfMemoryError" and found["oom_error"]["error_code"] == "by type"
    )
    assert all(t["window_start_local"] <= t["window_end_local"] for t in found["tries"])  # for the telemetry's peaks
    assert (tmp_path / "out" / "probes" / "n64.log").read_text().count("OutOfMemoryError") >= 1


@needs_torch
def test_any_other_failure_ends_the_search_as_an_error(tmp_path: Path, entries: dict[str, str]) -> None:
    code, doc = search(
        tmp_path, entries, "--start", "8", "--bound", "1024", "--bisect-steps", "1", "--entry", "il_entries:by_size"
    )
    found = doc["max_envs"]
    assert code == 4 and doc["status"] == "error" and "KeyError" in doc["error"] and "48 envs" in doc["error"]
    assert [t["num_envs"] for t in found["tries"]] == [8, 16, 32, 64, 48]
    assert (found["largest_fit"], found["first_oom"], found["stopped"]) == (32, 64, "error")


def test_a_probe_past_its_cap_is_killed_and_ends_the_search(tmp_path: Path, entries: dict[str, str]) -> None:
    code, doc = search(tmp_path, entries, "--start", "8", "--bound", "16", "--entry", "il_entries:sleeps", seconds="1")
    found = doc["max_envs"]
    assert code == 0 and found["stopped"] == "time" and found["largest_fit"] is None
    assert [t["status"] for t in found["tries"]] == ["time"] and found["tries"][0]["seconds"] < 30


def test_each_probes_cap_grows_with_num_envs_as_isaac_labs_start_up_does(
    tmp_path: Path, entries: dict[str, str]
) -> None:
    """A start-up of 0.1 s per env past 8 (0, 0.8, 2.4 s at 8, 16, 32 envs): a fixed 2 s cap ends the search on time
    at 32, said as that and neither a fit nor an out-of-memory; 2 s + 0.1 s per env lets every size finish."""
    sizes = ["--start", "8", "--bound", "32", "--bisect-steps", "0", "--entry", "il_entries:starts_by_size"]
    code, doc = search(tmp_path, entries, *sizes, seconds="2")
    found = doc["max_envs"]
    assert code == 0 and doc["status"] == "ok" and found["stopped"] == "time"
    assert [(t["num_envs"], t["status"]) for t in found["tries"]] == [(8, "fits"), (16, "fits"), (32, "time")]
    assert (found["largest_fit"], found["first_oom"], found["tries"][-1]["fits"]) == (16, None, False)
    assert found["tries"][-1]["cap_seconds"] == 2.0
    assert found["past_cap"] == (
        "the probe at 32 envs passed its cap of 2 s: Isaac Lab's start-up at that size, not an out-of-memory "
        "(16 envs fit, a lower bound of the GPU's limit); raise probe_seconds or probe_seconds_per_million_envs "
        "(--set) to search further"
    )
    code, doc = search(tmp_path, entries, *sizes, "--probe-seconds-per-million-envs", "100000", seconds="2")
    found = doc["max_envs"]
    assert code == 0 and (found["stopped"], found["largest_fit"], found["past_cap"]) == ("bound", 32, None)
    assert [t["cap_seconds"] for t in found["tries"]] == [2.8, 3.6, 5.2]  # 2 s + 0.1 s × N
    assert found["probe_seconds_per_million_envs"] == 100000.0


def test_a_probe_that_leaves_no_result_is_no_fit(tmp_path: Path, entries: dict[str, str]) -> None:
    code, doc = search(tmp_path, entries, "--start", "8", "--bound", "16", "--entry", "il_entries:vanishes")
    assert code == 4 and doc["max_envs"]["largest_fit"] is None and "no result" in doc["error"]


@pytest.fixture
def standin(tmp_path: Path) -> dict[str, str]:
    """The simulated Isaac Lab 3 (its `isaaclab` package) on a host whose GPU has 2,048 MiB, by the memory model."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "gpu.json").write_text(json.dumps({"gpus": 1, "model": "NVIDIA H100", "memory_mib": 2048}))
    model = tmp_path / "memory-model.json"
    model.write_text(json.dumps(memory_model(2048)))
    return {
        **os.environ,
        "PYTHONPATH": str(SITE),
        "LAMBDABENCH_SIM_STATE": str(state),
        "LAMBDABENCH_SIM_IMAGE": str(IMAGE),
        "LAMBDABENCH_MEMORY_MODEL": str(model),
    }


def test_the_simulated_isaaclab3_runs_out_of_modelled_memory_by_type(tmp_path: Path, standin: dict[str, str]) -> None:
    fits = il3_largest_that_fits(2048)
    assert 65536 < fits < 131072
    code, doc = search(tmp_path, standin, "--start", "32768", "--bound", "1048576", "--bisect-steps", "0", "--", *TRAIN)
    found = doc["max_envs"]
    assert code == 0 and (found["largest_fit"], found["first_oom"]) == (65536, 131072)
    assert [t["num_envs"] for t in found["tries"]] == [32768, 65536, 131072]
    oom = found["tries"][-1]
    assert oom["error_type"] == "isaaclab._standin.host.ModelledOutOfMemory" and oom["modelled"] is True
    # each fitting probe trained in its own folder, through `isaaclab train`'s own entry point
    assert (tmp_path / "work" / "n65536" / "logs" / "rsl_rl" / "cartpole_direct").is_dir()
    assert "Training time:" in (tmp_path / "out" / "probes" / "n65536.log").read_text()
    assert found["max_probes"] == envsearch.max_probes(32768, 1048576, 0)
    assert found["memory_model"]["limit_mib"] == 2048.0  # a modelled maximum says so


def test_bad_usage_is_one_line_and_exit_2(tmp_path: Path, entries: dict[str, str]) -> None:
    done = run(
        ["search", "--start", "8", "--bound", "4", "--probe-seconds", "1", "--out", "o", "--work", "w"],
        tmp_path,
        entries,
    )
    assert done.returncode == 2 and "--start" in done.stderr.splitlines()[-1]
    done = run(["probe", "--num-envs", "8", "--result", "r.json", "--", "train", "--num_envs", "4"], tmp_path, entries)
    assert done.returncode == 2 and "without --num_envs" in done.stderr
    args = ["search", "--start", "8", "--bound", "16", "--probe-seconds", "1", "--out", "o", "--work", "w"]
    done = run([*args, "--probe-seconds-per-million-envs", "-5"], tmp_path, entries)
    assert done.returncode == 2 and "--probe-seconds-per-million-envs must be 0 or" in done.stderr.splitlines()[-1]


@needs_torch
def test_a_train_script_runs_by_runpy_with_hydras_full_errors(tmp_path: Path, entries: dict[str, str]) -> None:
    """Isaac Lab 2.x's way in (a train script): its out-of-memory reaches the wrapper as the exception, and Hydra
    is told to re-raise rather than exit 1 (HYDRA_FULL_ERROR)."""
    script = tmp_path / "train.py"
    script.write_text(
        "import os, sys\n"
        "print('hydra full error:', os.environ.get('HYDRA_FULL_ERROR'), sys.argv[1:])\n"
        "if int(sys.argv[sys.argv.index('--num_envs') + 1]) > 8:\n"
        "    import torch\n"
        "    raise torch.OutOfMemoryError('x')\n"
    )
    result = tmp_path / "r.json"
    args = ["probe", "--num-envs", "16", "--result", str(result), "--script", str(script), "--", "--task", "T"]
    done = run(args, tmp_path, entries)
    doc = json.loads(result.read_text())
    assert (done.returncode, doc["status"], doc["error_type"]) == (3, "oom", "torch.OutOfMemoryError")
    assert "hydra full error: 1 ['--task', 'T', '--num_envs', '16']" in done.stdout
    done = run(["probe", "--num-envs", "8", "--result", str(result), "--script", str(script)], tmp_path, entries)
    assert done.returncode == 0 and json.loads(result.read_text())["status"] == "fits"


def test_stopping_the_search_kills_the_probe_it_runs(tmp_path: Path, entries: dict[str, str]) -> None:
    """lambdabench's cap stops a detached step with TERM to the job's process group: the probe, in its own session
    (so that its own cap can kill it whole), must not outlive the search."""
    import signal
    import time

    pid_file = tmp_path / "probe.pid"
    args = ["search", "--start", "8", "--bound", "16", "--probe-seconds", "60", "--out", "o", "--work", "w"]
    search = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args, "--entry", "il_entries:sleeps"],
        cwd=tmp_path,
        env={**entries, "PROBE_PID_FILE": str(pid_file)},
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    probe = int(pid_file.read_text())
    os.killpg(search.pid, signal.SIGTERM)
    ended = search.wait(timeout=30)
    for _ in range(100):
        if not Path(f"/proc/{probe}").exists() or "zombie" in Path(f"/proc/{probe}/status").read_text():
            break
        time.sleep(0.05)
    else:
        os.kill(probe, signal.SIGKILL)  # this test's own probe, by its pid
        raise AssertionError("the probe outlived the search")
    assert ended == 128 + signal.SIGTERM


def test_warps_allocator_running_out_is_recognised_by_where_it_was_raised(
    tmp_path: Path, entries: dict[str, str]
) -> None:
    code, doc = probe(tmp_path, entries, "warp_oom")
    assert code == 3, doc
    assert (doc["status"], doc["rule"], doc["error_type"]) == ("oom", "warp-allocator", "RuntimeError")
    assert (doc["allocator"], doc["memory"], doc["modelled"]) == ("CpuDefaultAllocator", "HOST", False)
    code, doc = probe(tmp_path, entries, "warp_words")
    assert code == 4, doc  # the same words raised anywhere else are a failure, not an out-of-memory
    code, doc = search(
        tmp_path, entries, "--start", "8", "--bound", "64", "--bisect-steps", "2", "--entry", "il_entries:warp_by_size"
    )
    found = doc["max_envs"]
    assert code == 0 and (found["largest_fit"], found["first_oom"], found["stopped"]) == (28, 32, "oom")  # 24, 28 fit
    assert found["oom_error"]["error_code"] == "by warp-allocator HOST"  # the report's evidence names the memory
