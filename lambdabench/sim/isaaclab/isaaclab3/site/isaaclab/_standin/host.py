"""What the simulated box provides the stand-in: its GPUs, faults, the cart-pole workload, the venv."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

BANNER = "[simulated] lambdabench stand-in for Isaac Lab 3.0.0: a numpy cart-pole on the CPU, not Newton"


def die(text: str, code: int = 1) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()
    raise SystemExit(code)


def traceback_exit(kind: str, message: str, where: str) -> NoReturn:
    """An uncaught exception as Python prints it (exit status 1)."""
    die(f'Traceback (most recent call last):\n  File "{where}"\n{kind}: {message}')


def _state_json(name: str, default: Any) -> Any:
    state = os.environ.get("LAMBDABENCH_SIM_STATE")
    if not state:
        return default
    try:
        return json.loads((Path(state) / name).read_text())
    except (OSError, ValueError):
        return default


def gpu_spec() -> dict[str, Any]:
    spec: dict[str, Any] = _state_json("gpu.json", {"gpus": 1, "model": "NVIDIA GPU", "rtx": False})
    return spec


def cuda_802() -> bool:
    until = _state_json("faults.json", {}).get("cuda_802")
    return bool(until) and (until.get("until") is None or time.time() < float(until["until"]))


# the CUDA version each driver branch runs (CUDA Toolkit release notes, Table 3: CUDA 12.8 GA needs >= 570.26,
# 12.9 >= 575.51, 13.0 GA >= 580.65.06), as cudaDriverGetVersion reports it
DRIVER_CUDA = ((580, 13000), (575, 12090), (570, 12080), (560, 12060), (550, 12040))


def check_torch_build() -> None:
    """The venv's torch against the box's driver: pypi.org's torch 2.11.0 is a CUDA 13.0 build (its METADATA
    requires cuda-toolkit 13.0.2: docs/isaaclab-contract.md), a +cu12x one from PyPI's own index runs on R570.

    The message is torch's (c10/cuda/CUDAFunctions.cpp in torch 2.x, recalled: not checked against 2.11.0).
    """
    from importlib import metadata

    try:
        torch = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return
    build = torch.partition("+")[2] or "cu130"
    digits = build.removeprefix("cu")
    need = int(digits[:2]) * 1000 + int(digits[2:] or 0) * 10 if digits.isdigit() and len(digits) >= 3 else 13000
    try:
        major = int(str(gpu_spec().get("driver", "580")).split(".")[0])
    except ValueError:
        return
    found = next((cuda for branch, cuda in DRIVER_CUDA if major >= branch), 12000)
    if found < need:
        traceback_exit(
            "RuntimeError",
            f"The NVIDIA driver on your system is too old (found version {found}). Please update your GPU driver "
            "by downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx "
            "Alternatively, go to: https://pytorch.org to install a PyTorch version that has been compiled with "
            "your version of the CUDA driver.",
            "torch/cuda/__init__.py",
        )


def check_device(device: str) -> None:
    """Where a kitless run on this box would stop before its first step (Warp/torch initialise CUDA).

    The messages are guesses in the style of Warp's and torch's own (no real run on such a box here).
    """
    count = int(gpu_spec().get("gpus", 0))
    if device.startswith("cuda"):
        if count == 0:
            traceback_exit(
                "RuntimeError",
                f"Warp CUDA error: no CUDA device available for '{device}' (guess)",
                "warp/_src/context.py",
            )
        check_torch_build()
        if cuda_802():
            traceback_exit(
                "RuntimeError", "CUDA error: system not yet initialized (error 802)", "torch/cuda/__init__.py"
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= count:
            traceback_exit(
                "RuntimeError",
                f"Invalid device identifier '{device}' ({count} CUDA device(s) visible)",
                "warp/_src/context.py",
            )


class ModelledOutOfMemory(RuntimeError):
    """The stand-in's out-of-memory: the simulated host's GPU-memory model said this num_envs does not fit.

    Real Isaac Lab raises torch.OutOfMemoryError from torch's allocator, or a RuntimeError from Warp's (which the probe
    wrapper recognises by where it was raised); this type stands for them on simulated hosts, listed by type.
    """


def memory_model() -> dict[str, Any] | None:
    """The Isaac Lab 3 part of the host's GPU-memory model ($LAMBDABENCH_MEMORY_MODEL, written by the simulator from
    real H100 figures: lambdabench/sim/hosts/memory_model.py); None where the host has none."""
    path = os.environ.get("LAMBDABENCH_MEMORY_MODEL")
    try:
        doc = json.loads(Path(path).read_text()) if path else None
    except (OSError, ValueError):
        return None
    part = doc.get("isaaclab3") if isinstance(doc, dict) else None
    return part if isinstance(part, dict) else None


_HELD: list[Path] = []  # this process's gpu-memory marker, once written (its removal is registered once)


def _hold_gpu_memory(mib: float, device: str) -> None:
    """Tell the simulated nvidia-smi this process holds mib on device's GPU until it ends.

    The marker is replaced whole (written beside gpu-memory/, then renamed in): the sampler never reads it empty or
    half-written. Its removal at exit is registered on the first call, before mark_busy registers the busy marker's,
    so the busy marker goes first (atexit runs last-in first-out): while busy/ names this process, its memory is
    there. A sampler that read busy, then no memory, took a random share of the card for a modelled probe (CI on
    daa1e9a: 46,861 MiB read for a 1,048,576-env probe the model then put at 18,480)."""
    state = os.environ.get("LAMBDABENCH_SIM_STATE")
    if not state:
        return
    marker = Path(state) / "gpu-memory" / f"isaaclab3-{os.getpid()}"
    staged = Path(state) / f".gpu-memory-isaaclab3-{os.getpid()}"
    index = int(device.split(":")[1]) if ":" in device else 0
    with contextlib.suppress(OSError):
        marker.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(f"{os.getpid()} {mib:.1f} {index}\n")
        os.replace(staged, marker)
        if not _HELD:
            _HELD.append(marker)
            atexit.register(lambda: marker.unlink(missing_ok=True))


def claim_gpu_memory(num_envs: int, device: str) -> int:
    """The modelled GPU memory of num_envs envs, held until this process ends (the simulated nvidia-smi reports it);
    ModelledOutOfMemory past the GPU's memory. Returns how many envs the CPU steps (the rest are modelled)."""
    model = memory_model()
    if model is None:
        return num_envs
    need = float(model["base_mib"]) + float(model["per_env_bytes"]) * num_envs / 2**20
    limit = float(model["limit_mib"])
    if need > limit:
        raise ModelledOutOfMemory(
            f"[simulated] out of GPU memory (modelled): {num_envs} envs need ~{need:.0f} MiB, "
            f"the modelled GPU has {limit:.0f} MiB"
        )
    _hold_gpu_memory(need, device)
    return min(num_envs, int(model.get("stand_in_max_envs") or num_envs))


def mark_busy(device: str = "cuda:0") -> None:
    """Tell the simulated nvidia-smi a GPU workload runs until this process ends (holding the model's base memory:
    the CUDA context, torch and Warp before any env exists, where the host has a memory model)."""
    model = memory_model()
    if model is not None:
        _hold_gpu_memory(float(model["base_mib"]), device)
    state = os.environ.get("LAMBDABENCH_SIM_STATE")
    if not state:
        return
    marker = Path(state) / "busy" / f"isaaclab3-{os.getpid()}"
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
    except OSError:
        return
    atexit.register(lambda: marker.unlink(missing_ok=True))


def cartpole() -> ModuleType:
    """The simulator's numpy cart-pole (lambdabench/sim/isaaclab/template/common/_simulated), reused as is."""
    image = os.environ.get("LAMBDABENCH_SIM_IMAGE")
    if not image:
        die("[simulated] LAMBDABENCH_SIM_IMAGE is not set: the Isaac Lab 3 stand-in runs on simulated instances only")
    path = Path(image).parents[1] / "isaaclab" / "template" / "common" / "_simulated" / "isaaclab_sim" / "cartpole.py"
    if "_lambdabench_cartpole" in sys.modules:
        return sys.modules["_lambdabench_cartpole"]
    spec = importlib.util.spec_from_file_location("_lambdabench_cartpole", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_lambdabench_cartpole"] = module
    spec.loader.exec_module(module)
    return module


def python_executable() -> str:
    """The venv interpreter this process was started as (the real launcher uses sys.executable)."""
    return os.environ.get("LAMBDABENCH_SIM_PY_EXE") or sys.executable


def installed(distribution: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def fill_warp_cache() -> bool:
    """Warp's kernel cache as the first kernels load: returns whether it was cold, and leaves a module folder there.

    NVIDIA/warp@0662da5 warp/_src/build.py init_kernel_cache: the cache is $WARP_CACHE_PATH/<version>, else
    appdirs' user_cache_dir ($XDG_CACHE_HOME or ~/.cache)/warp/<version>; clear_kernel_cache there: compiled
    modules are folders named wp_*. The stand-in compiles nothing and does not wait (a real cold compile: ~90 s on
    an H100, a field report); the folder's name and its one file are guesses.
    """
    from importlib import metadata

    try:
        version = metadata.version("warp-lang")
    except metadata.PackageNotFoundError:
        version = "unknown"
    base = os.environ.get("WARP_CACHE_PATH") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "warp"
    )
    cache = Path(base) / version
    cold = not any(cache.glob("wp_*"))
    if cold:
        module = cache / "wp_isaaclab_standin_0000000"
        module.mkdir(parents=True, exist_ok=True)
        (module / "simulated.txt").write_text("[simulated] no kernels: the stand-in's cache marker\n")
    return cold


class Events:
    """A TensorBoard event file with tags kept verbatim, as torch's SummaryWriter writes them."""

    def __init__(self, folder: Path) -> None:
        from tensorboardX import FileWriter

        self.writer = FileWriter(str(folder), flush_secs=1)

    def scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboardX.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(value))])
        self.writer.add_summary(summary, int(step), time.time())

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def network_off() -> bool:
    state = os.environ.get("LAMBDABENCH_SIM_STATE")
    try:
        return bool(state) and (Path(state) / "network").read_text().strip() == "off"
    except OSError:
        return False


def load_asset(asset_root: str, asset: str) -> None:
    """The robot's USD, as the env is created: from ISAACSIM_ASSET_ROOT, else the https asset root.

    isaaclab/utils/assets.py:177-213 picks the root; retrieve_file_path (line 647) fails an
    unresolvable local USD with this FileNotFoundError. A remote one needs the network (the
    exception's wording for a failed download is a guess).
    """
    root = os.environ.get("ISAACSIM_ASSET_ROOT", "").rstrip("/\\") or asset_root
    path = f"{root}/{asset}"
    if root.startswith(("http://", "https://")):
        if network_off():
            traceback_exit(
                "RuntimeError",
                f"Failed to download {path} (guess: no network; mirror the assets and set ISAACSIM_ASSET_ROOT)",
                "isaaclab/utils/assets.py",
            )
        return
    if not Path(path).is_file():
        traceback_exit("FileNotFoundError", f"Unable to resolve the file: {path}", "isaaclab/utils/assets.py")
