"""Isaac Lab as simulated by lambdabench: the app launcher, the task registry and container paths.

Runs inside a simulated container (`docker exec` of lambdabench's docker stand-in), which sets
LAMBDABENCH_SIM_CONTAINER (the container's folder), LAMBDABENCH_SIM_ROOTFS (its root) and
LAMBDABENCH_SIM_STATE (the instance's state: gpu.json, faults.json, busy/).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

LIBRARIES = ("rl_games", "rsl_rl", "skrl", "sb3")
MODULE_OF = {"rl_games": "rl_games", "rsl_rl": "rsl_rl", "skrl": "skrl", "sb3": "stable_baselines3"}
# modules the simulated image can (not) have: `import` of one not installed fails, as in the image
SIMULATED_MODULES = (
    "isaaclab", "isaaclab_assets", "isaaclab_rl", "isaaclab_tasks", "isaaclab_mimic",
    "omni.isaac.lab", "omni.isaac.lab_assets", "omni.isaac.lab_tasks", "robomimic",
)  # fmt: skip
BANNER = "[simulated] lambdabench stand-in for Isaac Lab: a numpy cart-pole on the CPU, not Isaac Sim"


@dataclass(frozen=True)
class Task:
    """One registered task: its experiment name per library that has a config for it."""

    name: str
    entry: str
    experiments: dict[str, str]
    cameras: bool = False
    fork_only: bool = False
    v1_module: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _all(name: str) -> dict[str, str]:
    return {lib: name for lib in LIBRARIES}


TASKS = [
    Task("Isaac-Cartpole-v0", "manager_based.classic.cartpole", _all("cartpole")),
    Task("Isaac-Cartpole-Direct-v0", "direct.cartpole", _all("cartpole_direct")),
    Task(
        "Isaac-Cartpole-RGB-Camera-Direct-v0",
        "direct.cartpole",
        {"rl_games": "cartpole_camera_direct", "skrl": "cartpole_camera_direct"},
        cameras=True,
    ),
    Task("Isaac-Ant-v0", "manager_based.classic.ant", _all("ant")),
    Task("Isaac-Humanoid-v0", "manager_based.classic.humanoid", _all("humanoid")),
    Task(
        "Isaac-Reach-Franka-v0",
        "manager_based.manipulation.reach",
        {"rl_games": "reach_franka", "rsl_rl": "franka_reach", "skrl": "reach_franka"},
    ),
    Task(
        "Isaac-Velocity-Flat-Anymal-C-v0",
        "manager_based.locomotion.velocity",
        {"rsl_rl": "anymal_c_flat", "skrl": "anymal_c_flat"},
    ),
    Task("Isaac-Cart-v0", "manager_based.custom.cart", {"rl_games": "cart"}, fork_only=True),
    Task("Isaac-Swerve-v0", "manager_based.custom.swerve", {"rl_games": "swerve"}, fork_only=True),
]


# ---- where we are -----------------------------------------------------------------------------


def isaaclab_path() -> Path:
    """The repository root as the container sees it (cwd-independent)."""
    return Path(os.environ.get("ISAACLAB_PATH") or Path(__file__).resolve().parents[2])


def generation() -> str:
    """'1' for the 1.x layout (source/standalone), '2' for 2.x (scripts/)."""
    return "1" if (isaaclab_path() / "source" / "standalone").is_dir() else "2"


def version_tuple() -> tuple[int, ...]:
    """version() as numbers, for feature gates (2.1: rsl_rl --distributed; 2.2: sb3's PPO_1/)."""
    try:
        return tuple(int(p) for p in version().split(".")[:3])
    except ValueError:
        return (0,)


def version() -> str:
    """The Isaac Lab version of this checkout (its VERSION file: the fork's says 1.0.0, b24a0fa VERSION:1)."""
    try:
        return (isaaclab_path() / "VERSION").read_text().strip()
    except OSError:
        return "1.0.0" if generation() == "1" else "2.1.0"


def container_dir() -> Path | None:
    """The simulated container's folder, or None outside a container."""
    value = os.environ.get("LAMBDABENCH_SIM_CONTAINER")
    return Path(value) if value else None


def shown(path: Path | str) -> str:
    """A host path as the container shows it (/workspace/isaaclab/...)."""
    text = os.path.abspath(str(path))
    root = os.environ.get("LAMBDABENCH_SIM_ROOTFS", "")
    if root and (text == root or text.startswith(root.rstrip("/") + "/")):
        return "/" + text[len(root) :].lstrip("/")
    return text


def container_tmp() -> Path:
    """The container's /tmp on the host."""
    root = os.environ.get("LAMBDABENCH_SIM_ROOTFS")
    return Path(root) / "tmp" if root else Path("/tmp")


def core_module() -> str:
    """The core package every workflow script imports first (its AppLauncher)."""
    return "omni.isaac.lab" if generation() == "1" else "isaaclab"


def require_core(script: str) -> None:
    """Fail like a workflow script whose first import is the core package, when it is not installed."""
    module = core_module()
    if module not in installed_libraries():
        die(
            "Traceback (most recent call last):\n"
            f'  File "{shown(script)}", line 14, in <module>\n'
            f"    from {module}.app import AppLauncher\n"
            f"ModuleNotFoundError: No module named '{module}'"
        )


def installed_libraries() -> set[str]:
    """Packages installed into this container (its image's `isaaclab.sh --install`, then `-i`)."""
    folder = container_dir()
    if folder is None:
        return set()
    try:
        return set(json.loads((folder / "installed.json").read_text()))
    except (OSError, ValueError):
        return set()


def _state_json(name: str, default: Any) -> Any:
    state = os.environ.get("LAMBDABENCH_SIM_STATE")
    if not state:
        return default
    try:
        return json.loads((Path(state) / name).read_text())
    except (OSError, ValueError):
        return default


def gpu_spec() -> dict[str, Any]:
    """The instance's GPUs as the simulator describes them."""
    spec: dict[str, Any] = _state_json("gpu.json", {"gpus": 1, "model": "NVIDIA GPU", "rtx": True})
    return spec


def die(text: str, code: int = 1) -> NoReturn:
    """Print an error the way the real stack does and exit."""
    sys.stdout.flush()
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()
    raise SystemExit(code)


def module_missing(lib: str, script: str) -> NoReturn:
    """The ImportError a workflow script hits when its library was not installed."""
    die(
        "Traceback (most recent call last):\n"
        f'  File "{shown(script)}", line 58, in <module>\n'
        f"    import {MODULE_OF[lib]}\n"
        f"ModuleNotFoundError: No module named '{MODULE_OF[lib]}'"
    )


def installed_version(name: str) -> tuple[int, ...]:
    """The version of name this container installed where it was recorded (`skrl==2.1.1`), else ()."""
    pinned = next((i.partition("==")[2] for i in installed_libraries() if i.startswith(name + "==")), "")
    return tuple(int(p) for p in pinned.split(".") if p.isdigit())


def skrl_2_play_dies(script: str) -> NoReturn:
    """2.x skrl/play.py on skrl 2.x: v2.3.0 play.py:210 calls runner.agent.set_running_mode("eval"),
    which skrl 2.x's agents no longer have (skrl 2.1.1 agents/torch/base.py: enable_training_mode)."""
    die(
        "Traceback (most recent call last):\n"
        f'  File "{shown(script)}", line 210, in main\n'
        '    runner.agent.set_running_mode("eval")\n'
        "AttributeError: 'PPO' object has no attribute 'set_running_mode'"
    )


# ---- the app launcher -------------------------------------------------------------------------


def add_app_launcher_args(parser: argparse.ArgumentParser) -> None:
    """AppLauncher's command-line flags: the fork's (--device_id, no --kit_args) or 2.x's."""
    group = parser.add_argument_group("app_launcher arguments")
    group.add_argument("--headless", action="store_true", default=False)
    group.add_argument("--livestream", type=int, default=-1, choices={-1, 0, 1, 2})
    group.add_argument("--enable_cameras", action="store_true", default=False)
    group.add_argument("--verbose", action="store_true", default=False)
    group.add_argument("--experience", type=str, default="")
    if generation() == "1":
        # RajitGhosh/IsaacLab-Fork b24a0fa omni/isaac/lab/app/app_launcher.py:216-246 (the workflow
        # scripts add --cpu themselves)
        group.add_argument("--device_id", type=int, default=0)
    else:
        # isaac-sim/IsaacLab v2.1.0 source/isaaclab/isaaclab/app/app_launcher.py:273-337
        group.add_argument("--device", type=str, default="cuda:0")
        group.add_argument("--info", action="store_true", default=False)
        group.add_argument("--kit_args", type=str, default="")


@dataclass
class App:
    """What the launched (simulated) app knows: device, rank, world size."""

    device: str
    rank: int
    local_rank: int
    world_size: int
    gpu: dict[str, Any]


def launch(args: argparse.Namespace, *, distributed: bool = False) -> App:
    """Start the simulated Isaac Sim app, failing where Isaac Sim would."""
    spec = gpu_spec()
    gen = generation()
    sim_version = os.environ.get("ISAACSIM_VERSION") or ("4.0.0" if gen == "1" else "4.5.0")
    livestream = args.livestream if args.livestream >= 0 else int(os.environ.get("LIVESTREAM", 0))
    headless = args.headless or os.environ.get("HEADLESS") == "1" or livestream > 0
    cameras = args.enable_cameras or os.environ.get("ENABLE_CAMERAS") == "1"
    print(BANNER, flush=True)
    print(f"[INFO][AppLauncher]: Isaac Lab {version()} on Isaac Sim {sim_version} (simulated)")
    rank, local_rank, world = 0, 0, 1
    if distributed:
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            die(
                "ValueError: Error initializing torch.distributed using env:// rendezvous: "
                "environment variable RANK expected, but not set"
            )
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        world = int(os.environ["WORLD_SIZE"])
    chosen = getattr(args, "device", None) or f"cuda:{getattr(args, 'device_id', 0)}"
    device = "cpu" if getattr(args, "cpu", False) else (f"cuda:{local_rank}" if distributed else chosen)
    print(f"[INFO][AppLauncher]: Using device: {device}")
    count = int(spec.get("gpus", 0))
    if count == 0:
        die(
            "[Error] [carb.graphics-vulkan.plugin] No device could be created.\n"
            "[Error] [gpu.foundation.plugin] Failed to create any GPU devices, including an attempt "
            "with compatibility mode."
        )
    if device.startswith("cuda:") and int(device.split(":")[1]) >= count:
        die("RuntimeError: CUDA error: invalid device ordinal")
    until = _state_json("faults.json", {}).get("cuda_802")
    if until and (until.get("until") is None or time.time() < float(until["until"])):
        die("RuntimeError: CUDA error: system not yet initialized (error 802)")
    if not headless and not os.environ.get("DISPLAY"):
        die(
            "[Error] [carb.windowing-glfw.plugin] GLFW initialization failed.\n"
            "[Error] [omni.kit.app.plugin] Failed to create a window: no display "
            "(run headless: --headless or HEADLESS=1)"
        )
    if not _has_vulkan_userspace():
        die(
            "[Error] [carb.graphics-vulkan.plugin] vkCreateInstance failed: ERROR_INCOMPATIBLE_DRIVER "
            "(this host has no NVIDIA Vulkan ICD: the driver's libnvidia-gl package is not installed).\n"
            "[Error] [gpu.foundation.plugin] Failed to create any GPU devices, including an attempt "
            "with compatibility mode."
        )
    if (cameras or livestream > 0) and not spec.get("rtx"):
        die(
            f"[Error] [carb.graphics-vulkan.plugin] vkCreateInstance failed: "
            f"ERROR_INCOMPATIBLE_DRIVER ({spec.get('model', 'this GPU')} has no RT cores and this "
            "host no Vulkan ICD).\n"
            "[Error] [carb.graphics-vulkan.plugin] Vulkan 1.1 is not supported, or your driver "
            "requires an update.\n"
            "[Error] [gpu.foundation.plugin] Failed to create any GPU devices, including an attempt "
            "with compatibility mode."
        )
    if livestream > 0:
        print(f"[INFO][AppLauncher]: Livestream enabled (mode {livestream}, simulated: no stream)")
    from isaaclab_sim.kitlog import write_kit_log

    write_kit_log(args, sim_version)
    print("Simulation App Startup Complete", flush=True)
    _mark_busy(int(device.split(":")[1]) if ":" in str(device) else 0)
    return App(device, rank, local_rank, world, spec)


def _has_vulkan_userspace() -> bool:
    """Whether the host has the driver's graphics userspace (the container toolkit mounts its ICD)."""
    names = _state_json("packages.json", None)
    return names is None or any(str(n).startswith("libnvidia-gl-") for n in names)


class ModelledOutOfMemory(RuntimeError):
    """The stand-in's out-of-memory: the simulated host's GPU-memory model said this num_envs does not fit (what
    Isaac Sim's PhysX or torch raise on a real GPU is not measured here; lambdabench's probe lists this type)."""


def claim_gpu_memory(num_envs: int, device: str) -> int:
    """The modelled GPU memory of num_envs envs, held until this process ends (the simulated nvidia-smi reports it);
    ModelledOutOfMemory past the GPU's memory. Returns how many envs the CPU steps (the rest are modelled).

    The model is the host's ($LAMBDABENCH_SIM_STATE/memory-model.json, lambdabench/sim/hosts/memory_model.py): the
    kitless Isaac Lab 3 Cartpole figures of a real H100. Isaac Sim's PhysX Cartpole was not measured: that the same
    footprint stands in for it is a guess.
    """
    doc = _state_json("memory-model.json", None)
    model = doc.get("isaaclab3") if isinstance(doc, dict) else None
    if not isinstance(model, dict):
        return num_envs
    need = float(model["base_mib"]) + float(model["per_env_bytes"]) * num_envs / 2**20
    limit = float(model["limit_mib"])
    if need > limit:
        raise ModelledOutOfMemory(
            f"[simulated] out of GPU memory (modelled): {num_envs} envs need ~{need:.0f} MiB, "
            f"the modelled GPU has {limit:.0f} MiB"
        )
    _hold_gpu_memory(need, int(device.split(":")[1]) if ":" in device else 0)
    return min(num_envs, int(model.get("stand_in_max_envs") or num_envs))


_HELD: list[Path] = []  # this process's gpu-memory marker, once written (its removal is registered once)


def _hold_gpu_memory(mib: float, index: int) -> None:
    """Tell the simulated nvidia-smi this process holds mib on GPU index until it ends.

    Replaced whole (written beside gpu-memory/, renamed in), so the sampler never reads it empty; its removal is
    registered before the busy marker's, so at exit busy/ goes first (atexit: last in, first out). While busy/ names
    this process its memory is there: a sampler that read busy and then no memory took a random share of the card."""
    state = os.environ.get("LAMBDABENCH_SIM_STATE")
    if not state:
        return
    marker = Path(state) / "gpu-memory" / f"isaaclab-{os.getpid()}"
    staged = Path(state) / f".gpu-memory-isaaclab-{os.getpid()}"
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(f"{os.getpid()} {mib:.1f} {index}\n")
        os.replace(staged, marker)
    except OSError:
        return
    if not _HELD:
        _HELD.append(marker)
        atexit.register(lambda: marker.unlink(missing_ok=True))


def _mark_busy(index: int = 0) -> None:
    """Tell the simulated nvidia-smi that a GPU workload runs (until this process ends); where the host has a memory
    model, holding its base (the process before any env exists: Isaac Lab 3's figure, a guess for Isaac Sim) first."""
    doc = _state_json("memory-model.json", None)
    model = doc.get("isaaclab3") if isinstance(doc, dict) else None
    if isinstance(model, dict):
        _hold_gpu_memory(float(model["base_mib"]), index)
    state = os.environ.get("LAMBDABENCH_SIM_STATE")
    if not state:
        return
    marker = Path(state) / "busy" / f"isaaclab-{os.getpid()}"
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
    except OSError:
        return
    atexit.register(lambda: marker.unlink(missing_ok=True))


def find_task(name: str | None, lib: str | None) -> Task:
    """The registered task, failing like gymnasium / Isaac Lab's config loader."""
    if not name:
        die("ValueError: Please provide a task name with --task.")
    for task in TASKS:
        if task.name == name and (generation() == "1" or not task.fork_only):
            if lib is not None and lib not in task.experiments:
                die(
                    f"ValueError: Could not find configuration for the environment: '{name}'. "
                    f"Please check that the gym registry has the entry point: '{lib}_cfg_entry_point'."
                )
            return task
    die(f"gymnasium.error.NameNotFound: Environment `{name.removesuffix('-v0')}` doesn't exist.")
