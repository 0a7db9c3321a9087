"""The simulated instance's Isaac Lab 3 path: uv (via astral.sh's mirrored installer), CPython 3.12, pip
against isaaclab 3.0.0's real closure, and the stand-in `isaaclab` CLI (train, train_multigpu, play).

Each expectation is what the 3.0.0 wheel's source does (docs/isaaclab-contract.md, section 3.x)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lambdabench.metrics import throughput_stats
from lambdabench.metrics.tensorboard import read_scalars
from lambdabench.metrics.training import read_training
from lambdabench.sim.hosts.manager import IMAGE_DIR

H100X2 = {"instance_type": "gpu_2x_h100", "gpus": 2, "model": "NVIDIA H100 80GB HBM3", "rtx": False, "arch": "x86_64"}
INDEX = json.loads((IMAGE_DIR.parents[1] / "isaaclab" / "isaaclab3" / "index.json").read_text())
NVIDIA = "--extra-index-url https://pypi.nvidia.com"
TRAIN = "isaaclab3-venv/bin/isaaclab train --rl_library rsl_rl --task Isaac-Cartpole-Direct --num_envs 16"


class Box:
    """One simulated instance without sshd: state dir, disk as HOME, the image first on PATH."""

    def __init__(self, root: Path, gpu: dict[str, Any]) -> None:
        self.state = root / "hosts" / "i-il3"
        self.home = self.state / "disk"
        for sub in ("disk", "busy"):
            (self.state / sub).mkdir(parents=True)
        (self.state / "gpu.json").write_text(json.dumps({"driver": "580.95.05", **gpu}))
        self.env = {
            "HOME": str(self.home),
            # the simulator's python3 (a venv, 3.11) is on PATH as on every simulated host
            "PATH": f"{IMAGE_DIR / 'bin'}:{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
            "LAMBDABENCH_SIM_PYTHON": sys.executable,
            "LAMBDABENCH_SIM_STATE": str(self.state),
            "LAMBDABENCH_SIM_ROOT": str(self.state.parent),
            "LAMBDABENCH_SIM_IMAGE": str(IMAGE_DIR),
            "LAMBDABENCH_SIM_USER": "ubuntu",
            "LANG": "C.UTF-8",
        }

    def sh(
        self, command: str, *, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=self.home,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, command: str, **kwargs: Any) -> str:
        done = self.sh(command, **kwargs)
        assert done.returncode == 0, f"{command!r} -> {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done.stdout + done.stderr

    def network(self, on: bool) -> None:
        (self.state / "network").write_text("on\n" if on else "off\n")

    def run_dirs(self, experiment: str = "cartpole_direct") -> list[Path]:
        return sorted(p for p in (self.home / "logs" / "rsl_rl" / experiment).iterdir() if p.is_dir())


def uv_venv(box: Box) -> None:
    box.ok("curl -LsSf https://astral.sh/uv/install.sh | env UV_NO_MODIFY_PATH=1 sh")
    box.ok("~/.local/bin/uv venv --python 3.12 isaaclab3-venv")


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return Box(tmp_path, H100X2)


@pytest.fixture
def installed(box: Box) -> Box:
    uv_venv(box)
    box.ok(
        f"~/.local/bin/uv pip install --python isaaclab3-venv/bin/python isaaclab==3.0.0 {NVIDIA} "
        "--index-strategy unsafe-best-match"
    )
    return box


# ---- getting a 3.12 and the wheel ----------------------------------------------------------------


def test_uv_comes_from_the_astral_installer_and_fetches_cpython_312(box: Box) -> None:
    assert box.sh("command -v uv").returncode == 1  # Lambda Stack has no uv
    assert box.sh("python3.12 --version").returncode == 127  # nor a python3.12
    out = box.ok("curl -LsSf https://astral.sh/uv/install.sh | env UV_NO_MODIFY_PATH=1 sh")
    assert f"installing to {box.home}/.local/bin" in out and "everything's installed!" in out
    missing = box.sh("~/.local/bin/uv python find 3.12")
    assert missing.returncode == 2 and "No interpreter found for Python 3.12" in missing.stderr
    out = box.ok("~/.local/bin/uv venv --python 3.12 isaaclab3-venv")
    assert "Using CPython 3.12." in out and "Creating virtual environment at: isaaclab3-venv" in out
    assert box.ok("isaaclab3-venv/bin/python --version").startswith("Python 3.12.")
    assert "version_info = 3.12." in (box.home / "isaaclab3-venv" / "pyvenv.cfg").read_text()
    assert not (box.home / "isaaclab3-venv" / "bin" / "pip").exists()  # uv venvs have no pip
    # the host's python3 (a 3.11 venv) is not what uv picked
    assert box.ok("python3 --version").startswith("Python 3.11")


def test_pypi_alone_lacks_usd_exchange_301_and_the_nvidia_index_completes_the_install(box: Box) -> None:
    box.ok(
        "curl -LsSf https://astral.sh/uv/install.sh | env UV_NO_MODIFY_PATH=1 sh && ~/.local/bin/uv python install 3.12"
    )
    py = box.ok("~/.local/bin/uv python find 3.12").strip()
    box.ok(f"{py} -m venv v && test -x v/bin/pip")
    failed = box.sh("v/bin/pip install isaaclab==3.0.0")
    assert failed.returncode == 1
    # what pip said against pypi.org when this closure was resolved (usd-exchange's newest there: 3.0.0)
    assert (
        "ERROR: Could not find a version that satisfies the requirement usd-exchange==3.0.1 (from isaaclab==3.0.0) "
        "(from versions: 2.0.1, 2.1.0a3,"
    ) in failed.stderr and "3.0.0rc4, 3.0.0)" in failed.stderr
    box.ok(f"v/bin/pip install -q isaaclab==3.0.0 {NVIDIA}")
    versions = box.ok(
        "v/bin/python -c 'import importlib.metadata as m; "
        'print(*(m.version(d) for d in ("isaaclab", "torch", "warp-lang", "newton", "rsl-rl-lib")))\''
    )
    assert versions.split() == ["3.0.0", "2.11.0", "1.17.0", "1.6.1", "5.5.1"]
    listed = box.ok("v/bin/pip list").splitlines()
    assert len(listed) - 2 == len(INDEX["distributions"]) + 1  # the closure and the venv's pip


def test_isaaclab_3_needs_python_312(box: Box) -> None:
    box.ok("curl -LsSf https://astral.sh/uv/install.sh | env UV_NO_MODIFY_PATH=1 sh")
    box.ok(f"~/.local/bin/uv venv --python {sys.executable} old")  # the host's python3, 3.11
    out = box.sh(f"~/.local/bin/uv pip install --python old/bin/python isaaclab==3.0.0 {NVIDIA}")
    assert out.returncode == 1
    assert "does not satisfy Python>=3.12,<3.13" in out.stderr


def test_no_network_no_uv_and_a_wheel_folder_installs_offline(box: Box) -> None:
    uv_venv(box)
    box.network(False)
    out = box.sh("curl -LsSf https://astral.sh/uv/install.sh | sh")
    assert out.returncode == 6 and "Could not resolve host: astral.sh" in out.stderr
    out = box.sh(f"~/.local/bin/uv pip install --python isaaclab3-venv/bin/python isaaclab==3.0.0 {NVIDIA}")
    assert out.returncode != 0 and "Failed to fetch: `https://pypi.org/simple/isaaclab/`" in out.stderr
    wheels = box.home / "wheels"
    wheels.mkdir()
    for dist in INDEX["distributions"]:
        if dist["name"] != "warp-lang":
            (wheels / dist["wheel"]).write_bytes(b"")
    out = box.sh(
        "~/.local/bin/uv pip install --offline --python isaaclab3-venv/bin/python --no-index "
        "--find-links wheels isaaclab==3.0.0"
    )
    assert out.returncode == 1 and "no version of warp-lang==1.17.0 and isaaclab==3.0.0 depends on" in out.stderr
    (wheels / "warp_lang-1.17.0-py3-none-manylinux_2_28_x86_64.whl").write_bytes(b"")
    box.ok(
        "~/.local/bin/uv pip install --offline --python isaaclab3-venv/bin/python --no-index --find-links wheels "
        "isaaclab==3.0.0"
    )
    assert box.ok("isaaclab3-venv/bin/isaaclab --help").startswith("usage: isaaclab")


# ---- isaaclab train ----------------------------------------------------------------------------------


def test_train_writes_the_3x_layout_and_rsl_rl_5_tags(installed: Box) -> None:
    out = installed.ok(f"{TRAIN} --max_iterations 4 presets=newton_mjwarp")
    assert f"[INFO] Logging experiment in directory: {installed.home}/logs/rsl_rl/cartpole_direct" in out
    assert "Exact experiment name requested from command line: " in out and "Training time: " in out
    assert "Steps per second:" in out and "Learning iteration 3/4" in out and "[simulated]" in out
    (run,) = installed.run_dirs()
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["version"] == 1 and manifest["library"] == "rsl_rl" and manifest["task"] == "Isaac-Cartpole-Direct"
    assert manifest["metadata"] == {"agent": "rsl_rl_cfg_entry_point"} and manifest["created_at"].endswith("+00:00")
    assert (run / "params" / "env.yaml").exists() and (run / "params" / "agent.yaml").exists()
    # checkpoints: every save_interval (50) from 0, then the last iteration's (on_policy_runner.py:128-133)
    assert sorted(p.name for p in run.glob("model_*.pt")) == ["model_0.pt", "model_3.pt"]
    scalars = read_scalars(run)
    for tag in (
        "Perf/total_fps",
        "Perf/collection_time",
        "Perf/learning_time",
        "Loss/value",
        "Loss/surrogate",
        "Loss/entropy",
        "Loss/learning_rate",
        "Policy/mean_std",
    ):
        assert [s.step for s in scalars[tag]] == [0, 1, 2, 3], tag
    series = read_training(run, library="rsl_rl").series()
    assert series.total_env_steps == 4 * 16 * 16
    stats = throughput_stats(series.throughput())
    assert stats is not None and stats.mean > 0
    assert not any((installed.state / "busy").iterdir())  # the GPU-busy marker went with the process


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        # 2.x launcher flags are gone from the 3.0.0 parser; Hydra gets them and stops (exit 2)
        ("--headless", 2, "isaaclab: error: unrecognized arguments: --headless"),
        ("--enable_cameras", 2, "isaaclab: error: unrecognized arguments: --enable_cameras"),
        # the 2.x task id: gymnasium's DeprecatedEnv for the unversioned 3.x id
        (
            "--task Isaac-Cartpole-v0",
            1,
            "DeprecatedEnv: Environment version `v0` for environment `Isaac-Cartpole` "
            "doesn't exist. It provides the default version `Isaac-Cartpole`.",
        ),
        ("--video", 1, "Isaac Sim is not installed or not found on PYTHONPATH"),
        ("--livestream 2", 1, "Isaac Sim is not installed or not found on PYTHONPATH"),
        ("presets=isaacsim_physx", 1, "Isaac Sim is not installed or not found on PYTHONPATH"),
        ("presets=physx", 1, "requires the optional 'ovphysx' runtime wheel"),
        ("presets=newton", 1, "ValueError: Unknown preset(s): newton"),
        ("renderer=newton_mjwarp", 1, "Typed preset selector(s) renderer=newton_mjwarp did not match"),
    ],
)
def test_train_fails_where_the_3x_cli_fails(installed: Box, args: str, code: int, needle: str) -> None:
    out = installed.sh(f"{TRAIN} --max_iterations 2 {args}")
    assert out.returncode == code, out.stderr
    assert needle in out.stderr
    assert not (installed.home / "logs").exists()


def test_train_without_a_library_or_task_asks_for_rl_library(installed: Box) -> None:
    out = installed.sh("isaaclab3-venv/bin/isaaclab train --num_envs 8")
    assert out.returncode == 2 and "train: error: the following argument is required: --rl_library" in out.stderr
    # the task's registered default_agent (rsl_rl) stands in for a missing --rl_library
    installed.ok("isaaclab3-venv/bin/isaaclab train --task Isaac-Cartpole --num_envs 8 --max_iterations 1")
    assert installed.run_dirs("cartpole")


def test_train_on_a_box_without_gpus_or_during_cuda_802_fails(tmp_path: Path) -> None:
    cpu = Box(tmp_path / "cpu", {"instance_type": "cpu_4x", "gpus": 0, "model": "", "rtx": False})
    uv_venv(cpu)
    cpu.ok(f"~/.local/bin/uv pip install --python isaaclab3-venv/bin/python isaaclab==3.0.0 {NVIDIA}")
    assert cpu.sh(f"{TRAIN} --max_iterations 1").returncode == 1
    (cpu.state / "gpu.json").write_text(json.dumps(H100X2))
    (cpu.state / "faults.json").write_text(json.dumps({"cuda_802": {"until": None}}))
    out = cpu.sh(f"{TRAIN} --max_iterations 1")
    assert out.returncode == 1 and "error 802" in out.stderr


# ---- multi-GPU -----------------------------------------------------------------------------------------


def test_train_multigpu_runs_one_rank_per_gpu_into_one_run_folder(installed: Box) -> None:
    out = installed.ok(
        "isaaclab3-venv/bin/isaaclab train_multigpu --num_gpus 2 --task Isaac-Cartpole-Direct "
        "--num_envs 16 --max_iterations 3 presets=newton_mjwarp"
    )
    launch = next(line for line in out.splitlines() if line.startswith("[INFO] Launching distributed workers with: "))
    assert "-m torch.distributed.run --nproc_per_node 2 --local_ranks_filter 0 " in launch
    assert launch.endswith(" --distributed") and "--rl_library rsl_rl" in launch and "--run_timestamp=" in launch
    assert out.count("Training time: ") == 1  # local rank 0's console only
    (run,) = installed.run_dirs()
    assert (run / "rank_1" / "params" / "agent.yaml").exists() and not list((run / "rank_1").glob("events*"))
    series = read_training(run, library="rsl_rl", world_size=2).series()  # as ingest reads it: 2 GPUs
    # rank 0 logs the collection of every rank: num_steps_per_env × num_envs × world size
    assert series.total_env_steps == 3 * 16 * 16 * 2
    too_many = installed.sh("isaaclab3-venv/bin/isaaclab train_multigpu --num_gpus 4 --task Isaac-Cartpole-Direct")
    assert too_many.returncode == 2
    assert "--num_gpus/--nproc_per_node=4 exceeds the 2 CUDA device(s) visible to this process" in too_many.stderr


# ---- play ------------------------------------------------------------------------------------------------


def test_play_latest_loads_the_newest_run_exports_and_stops_cleanly_on_sigint(installed: Box) -> None:
    missing = installed.sh(
        "isaaclab3-venv/bin/isaaclab play --rl_library rsl_rl --task Isaac-Cartpole-Direct --checkpoint latest"
    )
    assert missing.returncode == 1 and "No compatible manifested run with a checkpoint was found" in missing.stderr
    installed.ok(f"{TRAIN} --max_iterations 2")
    time.sleep(1.1)  # run folders are named by the second
    installed.ok(f"{TRAIN} --max_iterations 3")
    newest = installed.run_dirs()[-1]
    proc = subprocess.Popen(
        [
            "bash",
            "-c",
            "exec isaaclab3-venv/bin/isaaclab play --rl_library rsl_rl --task "
            "Isaac-Cartpole-Direct --num_envs 4 --checkpoint latest",
        ],
        cwd=installed.home,
        env=installed.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (newest / "exported" / "policy.onnx").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert f"[INFO]: Loading model checkpoint from: {newest}/model_2.pt" in stdout
    assert "[INFO] Policy playback is running, press Ctrl+C to exit..." in stdout
    assert (newest / "exported" / "policy.pt").exists()


def test_the_robot_usd_comes_from_the_asset_root_which_offline_boxes_must_mirror(installed: Box) -> None:
    url = "https://omniverse-content-production.s3-us-west-2.amazonaws.com/Assets/Isaac/6.2"
    installed.network(False)
    out = installed.sh(f"{TRAIN} --max_iterations 1")
    assert (
        out.returncode == 1
        and f"Failed to download {url}/Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd" in out.stderr
    )
    mirror = installed.home / "assets"
    out = installed.sh(f"{TRAIN} --max_iterations 1", env={"ISAACSIM_ASSET_ROOT": f"{mirror}/"})
    assert out.returncode == 1
    assert (
        f"FileNotFoundError: Unable to resolve the file: {mirror}/Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd"
        in out.stderr
    )
    usd = mirror / "Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd"
    usd.parent.mkdir(parents=True)
    usd.write_text("#usda 1.0\n")
    # the scene's ground plane too (issue 26: every Cartpole scene spawns it; seen on the real H100)
    out = installed.sh(f"{TRAIN} --max_iterations 1", env={"ISAACSIM_ASSET_ROOT": str(mirror)})
    assert out.returncode == 1 and "default_ground_plane_checker_v1/default_ground_plane.usda" in out.stderr
    ground = mirror / "Isaac/IsaacLab/Environments/Grid/default_ground_plane_checker_v1/default_ground_plane.usda"
    ground.parent.mkdir(parents=True)
    ground.write_text("#usda 1.0\n")
    installed.ok(f"{TRAIN} --max_iterations 1", env={"ISAACSIM_ASSET_ROOT": str(mirror)})


# ---- isaaclab benchmark training (issue 25) ------------------------------------------------------------

REAL_BUNDLE = Path(__file__).parents[1] / "workloads" / "data" / "h100-il3" / "isaaclab-benchmark-training-n4096.json"


def _shape(value: Any) -> Any:
    """A JSON document's key tree, leaves reduced to their kind (None matches any leaf)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def _same_shape(ours: Any, real: Any, where: str = "") -> list[str]:
    if real == "NoneType" or ours == "NoneType":
        return []
    if isinstance(real, dict) and isinstance(ours, dict):
        problems = [f"{where}.{k}: missing" for k in real if k not in ours]
        problems += [f"{where}.{k}: not in the real bundle" for k in ours if k not in real]
        for key in set(real) & set(ours):
            problems += _same_shape(ours[key], real[key], f"{where}.{key}")
        return problems
    if isinstance(real, list) and isinstance(ours, list):
        return _same_shape(ours[0], real[0], where + "[]") if ours and real else []
    return [] if ours == real else [f"{where}: {ours} where the real bundle has {real}"]


def test_benchmark_training_writes_a_bundle_of_the_real_shape(installed: Box) -> None:
    out = installed.ok(
        "isaaclab3-venv/bin/isaaclab benchmark training --rl_library rsl_rl --task Isaac-Cartpole-Direct "
        "--num_envs 16 --max_iterations 4 --seed 7 --output_path logs/benchmark"
    )
    assert "bundle written to" in out
    (path,) = (installed.home / "logs" / "benchmark").glob("benchmark_training_Isaac-Cartpole-Direct_*.json")
    bundle = json.loads(path.read_text())
    real = json.loads(REAL_BUNDLE.read_text())
    # the `devices` map is keyed by GPU index: the stand-in samples none (an empty map)
    real["resources"]["devices"] = {}
    assert _same_shape(_shape(bundle), _shape(real)) == []
    assert bundle["schema_version"] == "1.4" and bundle["run"]["num_envs"] == 16 and bundle["run"]["seed"] == 7
    # the same training as `isaaclab train`: rsl_rl's run folder beside the bundle, its tags read back
    (run,) = installed.run_dirs()
    fps = [s.value for s in read_scalars(run)["Perf/total_fps"]]
    assert bundle["runtime"]["total_fps"]["mean"] == pytest.approx(sum(fps) / len(fps))
    assert bundle["runtime"]["iterations_completed"] == 4 and bundle["runtime"]["steps_per_iteration"] == 16 * 16
    assert bundle["checkpoint_path"] == str(run / "model_3.pt")


def test_benchmark_training_refuses_what_the_real_parser_refuses(installed: Box) -> None:
    bench = "isaaclab3-venv/bin/isaaclab benchmark training --task Isaac-Cartpole-Direct --num_envs 16"
    out = installed.sh(bench + " --rl_library rsl_rl --max_iterations 0")
    assert out.returncode == 2 and "--max_iterations: must be greater than zero" in out.stderr
    out = installed.sh(bench)
    assert out.returncode == 2 and "the following argument is required: --rl_library" in out.stderr
    out = installed.sh(bench + " --rl_library skrl")
    assert out.returncode == 1 and "No module named 'skrl'" in out.stderr
    assert not (installed.home / "logs").exists()


# ---- the venv's tensorboard (issue 25: a TensorBoard playbook for Isaac Lab 3) ---------------------


def test_the_venvs_tensorboard_serves_the_3x_run_folders(installed: Box) -> None:
    import socket
    import urllib.request

    installed.ok(f"{TRAIN} --max_iterations 2")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert "tensorboard = tensorboard.main:run_main" in installed.ok(
        "cat isaaclab3-venv/lib/python3.12/site-packages/tensorboard-2.21.0.dist-info/entry_points.txt"
    )
    proc = subprocess.Popen(
        ["isaaclab3-venv/bin/tensorboard", "--logdir", "logs", "--port", str(port)],
        cwd=installed.home,
        env=installed.env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert "Serving TensorBoard on localhost" in proc.stderr.readline()
        assert proc.stderr.readline().startswith(f"TensorBoard 2.21.0 at http://localhost:{port}/")
        runs = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=10).read())
        (run,) = installed.run_dirs()
        assert runs == [str(run.relative_to(installed.home / "logs"))]
        busy = installed.sh(f"isaaclab3-venv/bin/tensorboard --logdir logs --port {port}")
        assert busy.returncode == 1 and f"could not bind to port {port}, it was already in use" in busy.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
