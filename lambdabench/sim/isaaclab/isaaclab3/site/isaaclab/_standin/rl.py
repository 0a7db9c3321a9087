"""`isaaclab train` / `isaaclab play` with rsl_rl, simulated (the 3.0.0 wheel's isaaclab_rl/entrypoints).

Each behaviour cites the 3.0.0 wheel (file:line; docs/isaaclab-contract.md lists them) or
rsl-rl-lib 5.5.1. The numbers come from lambdabench's numpy cart-pole (host.cartpole()), trained
by evolution strategies, so throughput, rewards and checkpoints are measured but are not Newton's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from isaaclab._standin import host, tasks

# isaaclab_rl/entrypoints/dispatch.py:244-267
BACKENDS = ("rl_games", "rlinf", "rsl_rl", "sb3", "skrl", "torchrl")
MODULE_OF = {"rl_games": "rl_games", "rlinf": "rlinf", "sb3": "stable_baselines3", "skrl": "skrl", "torchrl": "torchrl"}
DISTRIBUTION_OF = {
    "rl_games": "rl-games",
    "rlinf": "rlinf",
    "sb3": "stable-baselines3",
    "skrl": "skrl",
    "torchrl": "torchrl",
}
WHERE = {
    "train": "isaaclab_rl/entrypoints/backends/train_rsl_rl.py",
    "play": "isaaclab_rl/entrypoints/backends/play_rsl_rl.py",
}
# hydra/_internal/utils.py:501-599 (hydra-core 1.3.8): its argparse parser ends every Isaac Lab run's parsing
HYDRA_USAGE = (
    "usage: isaaclab [--help] [--hydra-help] [--version] [--cfg {job,hydra,all}] [--resolve] "
    "[--package PACKAGE] [--run] [--multirun] [--shell-completion] [--config-path CONFIG_PATH] "
    "[--config-name CONFIG_NAME] [--config-dir CONFIG_DIR] [--experimental-rerun EXPERIMENTAL_RERUN] "
    "[--info [{all,config,defaults,defaults-tree,plugins,searchpath}]] [overrides ...]"
)
AGENT_SEED = 42  # isaaclab_rl/rsl_rl/rl_cfg.py:239
RUN_MANIFEST = "run.json"  # isaaclab_rl/entrypoints/common.py:42-43


# ---- dispatch (isaaclab_rl/entrypoints/dispatch.py:301-328) -------------------------------------


def run_cli(action: str, argv: list[str]) -> int:
    selector = argparse.ArgumentParser(add_help=False, prog="isaaclab")
    selector.add_argument("--rl_library", choices=sorted(BACKENDS))
    selected, backend_argv = selector.parse_known_args(argv)
    library = selected.rl_library or _default_library(argv)
    if library is None:
        print(
            f"usage: isaaclab [-h] --rl_library {{{','.join(BACKENDS)}}} ...\n\n"
            f"{action.capitalize()} an RL agent with a selected backend."
        )
        if "-h" in argv or "--help" in argv:
            return 0
        print(f"\n{action}: error: the following argument is required: --rl_library", file=sys.stderr)
        return 2
    if library != "rsl_rl":
        if not host.installed(DISTRIBUTION_OF[library]):
            # the backend module imports its library at the top (e.g. train_skrl.py imports skrl)
            host.traceback_exit(
                "ModuleNotFoundError",
                f"No module named '{MODULE_OF[library]}'",
                f"isaaclab_rl/entrypoints/backends/{action}_{library}.py",
            )
        host.die(f"[simulated] lambdabench's Isaac Lab 3 stand-in trains and plays rsl_rl only, not {library}", 2)
    return train(backend_argv) if action == "train" else play(backend_argv)


def _default_library(argv: list[str]) -> str | None:
    """The task's registered default_agent (dispatch.py:367-382): rsl_rl for every stand-in task."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--task")
    args, _ = parser.parse_known_args(argv)
    if args.task is None:
        return None
    name = args.task.split(":")[-1]
    return "rsl_rl" if any(t.id == name for t in tasks.TASKS) else None


# ---- arguments ----------------------------------------------------------------------------------


def _launcher_args(parser: argparse.ArgumentParser) -> None:
    """isaaclab_physx/app/kit_launcher.py:341-438 (no --headless, --enable_cameras, --cpu: rejected)."""
    group = parser.add_argument_group("launcher arguments")
    group.add_argument("--livestream", type=int, default=-1, choices={0, 1, 2})
    group.add_argument("--xr", action="store_true", default=False)
    group.add_argument("--device", type=str, default=None)  # cuda:0 unless given (line 362)
    group.add_argument("--visualizer", "--viz", type=str, default=None)
    group.add_argument("--verbose", action="store_true")
    group.add_argument("--info", action="store_true")
    group.add_argument("--experience", type=str, default="")
    group.add_argument("--deterministic", action="store_true", default=False)
    group.add_argument("--kit_args", type=str, default="")
    group.add_argument("--anim_recording_enabled", action="store_true")
    group.add_argument("--anim_recording_start_time", type=float, default=0)
    group.add_argument("--anim_recording_stop_time", type=float, default=10)
    group.add_argument("--max_visible_envs", type=int, default=argparse.SUPPRESS)


def _rsl_rl_args(parser: argparse.ArgumentParser) -> None:
    """isaaclab_rl/entrypoints/backends/cli_args_rsl_rl.py:43-69."""
    group = parser.add_argument_group("rsl_rl")
    group.add_argument("--experiment_name", type=str, default=None)
    group.add_argument("--run_name", type=str, default=None)
    group.add_argument("--checkpoint", type=str, default=None)
    group.add_argument("--logger", type=str, default=None, choices={"wandb", "tensorboard", "neptune"})
    group.add_argument("--log_project_name", type=str, default=None)


def _video_args(parser: argparse.ArgumentParser) -> None:
    """isaaclab_rl/entrypoints/common.py:136-155."""
    parser.add_argument("--video", action="store_true", default=False)
    parser.add_argument("--video_length", type=int, default=None)
    parser.add_argument("--video_interval", type=int, default=None)


def _train_parser() -> argparse.ArgumentParser:
    """train_rsl_rl.py:61-84 with common.py:158-233 (add_common_train_args)."""
    parser = argparse.ArgumentParser(description="Train an RL agent with RSL-RL.", prog="isaaclab")
    _video_args(parser)
    parser.add_argument("--num_envs", type=int, default=None)
    parser.add_argument("--task", type=str, default=None)
    parser.add_argument("--frontend", type=str, choices=["torch", "warp"], default="torch")
    parser.add_argument("--agent", type=str, default="rsl_rl_cfg_entry_point")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--distributed", action="store_true", default=False)
    parser.add_argument("--run_timestamp", type=str, default=None)
    parser.add_argument("--max_iterations", type=int, default=None)
    parser.add_argument("--export_io_descriptors", action="store_true", default=False)
    parser.add_argument("--ray-proc-id", "-rid", type=int, default=None)
    parser.add_argument("--capture_env_sensors", type=int, default=0)
    parser.add_argument("--capture_env_sensors_length", type=int, default=200)
    parser.add_argument("--capture_env_sensors_interval", type=int, default=2000)
    parser.add_argument("--capture_env_sensors_format", choices=["tensorboard", "file"], default="tensorboard")
    parser.add_argument("--external_callback", default=None)
    parser.add_argument("--resume_optimizer_state", action=argparse.BooleanOptionalAction, default=True)
    _rsl_rl_args(parser)
    _launcher_args(parser)
    return parser


def _play_parser() -> argparse.ArgumentParser:
    """play_rsl_rl.py:55-72 with common.py:236-261 (add_common_play_args)."""
    parser = argparse.ArgumentParser(description="Play a checkpoint of an RL agent from RSL-RL.", prog="isaaclab")
    _video_args(parser)
    parser.add_argument("--disable_fabric", action="store_true", default=False)
    parser.add_argument("--num_envs", type=int, default=None)
    parser.add_argument("--task", type=str, default=None)
    parser.add_argument("--frontend", type=str, choices=["torch", "warp"], default="torch")
    parser.add_argument("--agent", type=str, default="rsl_rl_cfg_entry_point")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--real-time", action="store_true", default=False)
    parser.add_argument("--train_env_cfg", action="store_true", default=False)
    parser.add_argument("--external_callback", default=None)
    _rsl_rl_args(parser)
    _launcher_args(parser)
    return parser


def _hydra_tokens(remaining: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split what argparse left (setup_preset_cli, isaaclab_tasks/utils/preset_cli.py:62-123) for Hydra.

    `physics=`, `renderer=` and `presets=` select presets (hydra.py:596-600); other `key=value`
    tokens are Hydra overrides; anything else reaches Hydra's own argparse parser
    (hydra/_internal/utils.py:599), which rejects it with exit status 2 -- after the task lookup and the
    preset checks (resolve_task_config: hydra.py:466-487 runs register_task first).
    """
    selected: dict[str, list[str]] = {"physics": [], "renderer": [], "presets": [], "overrides": []}
    unknown = []
    for token in remaining:
        key, eq, value = token.partition("=")
        if token.startswith("-") or not eq:
            unknown.append(token)
        elif key in ("physics", "renderer", "presets"):
            selected[key] += [v for v in value.split(",") if v]
        else:
            selected["overrides"].append(token)
    return selected, unknown


def _reject_unknown(unknown: list[str]) -> None:
    if unknown:
        host.die(f"{HYDRA_USAGE}\nisaaclab: error: unrecognized arguments: {' '.join(unknown)}", 2)


def _resolve_presets(task: tasks.Task, selected: dict[str, list[str]], where: str) -> tuple[str, str | None]:
    """(physics, renderer) after the preset selectors (hydra.py:493-557, 675), defaults per task."""
    requested = selected["presets"] + selected["physics"] + selected["renderer"]
    unknown = sorted(set(requested) - set(task.presets))
    if unknown:
        host.traceback_exit(
            "ValueError",
            f"Unknown preset(s): {', '.join(unknown)}\n\nAvailable presets: {', '.join(sorted(task.presets))}",
            where,
        )
    mistyped = [f"physics={n}" for n in selected["physics"] if n not in tasks.PHYSICS_PRESETS] + [
        f"renderer={n}" for n in selected["renderer"] if n not in tasks.RENDERER_PRESETS
    ]
    if mistyped:
        host.traceback_exit(
            "ValueError",
            f"Typed preset selector(s) {', '.join(mistyped)} did not match a "
            "selectable preset of that type for this task. Choose a declared preset, or remove the "
            "selector(s) to use the task's registered default configuration.",
            where,
        )
    physics = next((n for n in reversed(requested) if n in tasks.PHYSICS_PRESETS), "newton_mjwarp")
    renderer = None
    if task.cameras:
        renderer = next((n for n in reversed(requested) if n in tasks.RENDERER_PRESETS), "newton_renderer")
    return physics, renderer


def _kit_sources(args: argparse.Namespace, physics: str, renderer: str | None) -> list[str]:
    """What needs Isaac Sim / Kit (isaaclab/app/sim_launcher.py:482-500; common.py:1017-1056 for --video)."""
    sources = []
    livestream = args.livestream if args.livestream >= 0 else int(os.environ.get("LIVESTREAM", 0) or 0)
    if physics == "isaacsim_physx":
        sources.append("Isaac Sim PhysX physics (`PhysxCfg`)")
    if renderer == "isaacsim_rtx":
        sources.append('a Kit-based renderer (`IsaacRtxRendererCfg`, `renderer_type="isaac_rtx"`)')
    visualizers = [v for v in (args.visualizer or "").split(",") if v and v != "none"]
    if "kit" in visualizers or (args.video and not visualizers):
        sources.append('the Kit visualizer (`--visualizer kit` / `visualizer_type="kit"`)')
    if args.experience:
        sources.append("an explicit Kit experience")
    if livestream > 0:
        sources.append("livestreaming")
    return sources


def _launch(
    args: argparse.Namespace, task: tasks.Task, remaining: list[str], where: str, action: str
) -> tuple[str, str | None, str]:
    """Presets, Hydra's parse, then launch_simulation (sim_launcher.py:594-693) for a kitless install."""
    selected, unknown = _hydra_tokens(remaining)
    physics, renderer = _resolve_presets(task, selected, where)
    _reject_unknown(unknown)
    if _kit_sources(args, physics, renderer) and not host.installed("isaacsim"):
        # isaaclab_physx/app/kit_launcher.py:916-929
        host.die(
            "\n[ERROR] Isaac Sim is not installed or not found on PYTHONPATH.\n\n"
            "  This environment requires Isaac Sim and Omniverse Kit.\n"
            "    PhysX backend and Kit visualizer currently requires Isaac Sim.\n\n"
            "  To fix this, ensure Isaac Sim is installed and available in the current environment.\n",
            1,
        )
    if physics in ("ovphysx", "physx") and not host.installed("ovphysx"):
        # physx resolves to OvPhysX without Kit (sim_launcher.py:123-124); isaaclab_ov/_runtime.py:13-17
        host.traceback_exit(
            "ModuleNotFoundError",
            "The OvPhysX backend requires the optional 'ovphysx' runtime wheel, which is not "
            "installed. Run your command with: uv run --extra ovphysx <command> (or, manually: python -m pip install "
            "--extra-index-url https://pypi.nvidia.com ovphysx).",
            "isaaclab_ov/_runtime.py",
        )
    if renderer in ("ovrtx", "rtx") and not host.installed("ovrtx"):
        host.traceback_exit(
            "ModuleNotFoundError",
            "No module named 'ovrtx' (guess: the OVRTX renderer's optional runtime wheel, extra `ovrtx`)",
            "isaaclab_ov/renderers",
        )
    device = args.device or "cuda:0"
    if getattr(args, "distributed", False):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"  # sim_launcher.py:565-591
    host.check_device(device)
    host.mark_busy(device)
    # the loading screen off a terminal: a summary, then one line per stage (loading_screen.py:378-409)
    num_envs = args.num_envs or task.num_envs
    print(host.BANNER, flush=True)
    print(
        f"\n Isaac Lab · {action}\n   Task: {task.id}\n   Workflow: {task.workflow}\n   RL library: rsl_rl\n"
        f"   Physics: {physics}\n   Renderer: {renderer or 'n/a (no camera sensors)'}\n"
        f"   Visualizer: none (headless)\n   Device: {device}\n   Environments: {num_envs}\n",
        flush=True,
    )
    print("[1/3] Launching simulation", flush=True)
    return physics, renderer, device


# ---- train (train_rsl_rl.py:111-210 and rsl-rl-lib 5.5.1's OnPolicyRunner / Logger) --------------


def train(argv: list[str]) -> int:
    """`isaaclab train --rl_library rsl_rl ...`."""
    args, remaining = _train_parser().parse_known_args(argv)
    train_parsed(args, remaining, WHERE["train"])
    return 0


def train_parsed(args: argparse.Namespace, remaining: list[str], where: str) -> dict[str, Any]:
    """Train from parsed arguments; what ran (for the benchmark's bundle: benchmark.py)."""
    if args.video or args.capture_env_sensors > 0:
        args.enable_cameras = True  # common.py:264-271
    task = tasks.find(args.task, where)
    physics, _, device = _launch(args, task, remaining, where, "train")
    if args.distributed and device.startswith("cpu"):
        host.traceback_exit(
            "ValueError",
            "Distributed training is not supported when using CPU device. Please use "
            "GPU device (e.g., --device cuda) for distributed training.",
            "isaaclab_rl/entrypoints/common.py",
        )
    experiment = args.experiment_name or task.experiment
    iterations = args.max_iterations if args.max_iterations is not None else task.max_iterations
    num_envs = args.num_envs or task.num_envs
    seed = args.seed if args.seed is not None else AGENT_SEED
    rank = int(os.environ.get("RANK", "0")) if args.distributed else None
    world = int(os.environ.get("WORLD_SIZE", "1")) if args.distributed else 1
    if rank is not None:
        seed += rank  # train_rsl_rl.py:139-142
    log_root = Path(os.path.abspath(os.path.join("logs", "rsl_rl", experiment)))
    print(f"[INFO] Logging experiment in directory: {log_root}")
    run_name = args.run_timestamp or datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    print(f"Exact experiment name requested from command line: {run_name}")
    if args.run_name:
        run_name += f"_{args.run_name}"
    log_dir = log_root / run_name
    rank_dir = log_dir if rank in (None, 0) else log_dir / f"rank_{rank}"
    if rank in (None, 0):
        write_run_manifest(log_dir, task.id)
    print("[2/3] Creating environment", flush=True)
    scene = time.perf_counter()
    host.load_asset(tasks.ASSET_ROOT, task.asset)
    host.load_asset(tasks.ASSET_ROOT, tasks.GROUND_PLANE)
    # Newton allocates every env's state as the env is created: where a size that does not fit fails (the model's)
    stepped = host.claim_gpu_memory(num_envs, device)
    if stepped < num_envs:
        print(f"[simulated] GPU memory modelled for {num_envs} envs; the CPU steps {stepped} of them", flush=True)
    cartpole = host.cartpole()
    env = cartpole.CartPole(stepped, seed)
    _timer("[INFO]: Time taken for scene creation", scene)
    print("[INFO]: Starting the simulation. This may take a few seconds. Please wait...", flush=True)
    physics_start = time.perf_counter()
    host.fill_warp_cache()  # Newton's kernels load as the env is built
    _timer("[INFO]: Time taken for simulation start", physics_start)
    env_created = time.perf_counter()
    policy = cartpole.LinearPolicy(seed)
    if args.checkpoint:
        policy.w = cartpole.load_weights(_checkpoint_file(args.checkpoint, log_root, task, where))
    print("[3/3] Preparing agent", flush=True)
    started = time.time()
    _dump_params(rank_dir, task, num_envs, seed, device, physics, experiment, iterations)
    logged: list[dict[str, float]] = []
    with contextlib.suppress(KeyboardInterrupt):  # train_rsl_rl.py:202-207
        logged = _learn(cartpole, env, policy, task, iterations, log_dir, world, writer=rank in (None, 0), rank=rank)
        print(f"Training time: {round(time.time() - started, 2)} seconds", flush=True)
    return {
        "task": task,
        "physics": physics,
        "num_envs": num_envs,
        "seed": seed,
        "iterations": iterations,
        "log_dir": log_dir,
        "log_root": log_root,
        "logged": logged,
        "env_created": env_created,
    }


def write_run_manifest(log_dir: Path, task_id: str) -> None:
    """common.py:645-672: {version, library, task, created_at, metadata}, written atomically."""
    log_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "version": 1,
        "library": "rsl_rl",
        "task": task_id,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "metadata": {"agent": "rsl_rl_cfg_entry_point"},
    }
    tmp = log_dir / f".{RUN_MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, log_dir / RUN_MANIFEST)


def _dump_params(
    rank_dir: Path,
    task: tasks.Task,
    num_envs: int,
    seed: int,
    device: str,
    physics: str,
    experiment: str,
    iterations: int,
) -> None:
    """params/env.yaml and params/agent.yaml (common.py:774-783); the stand-in's values, marked simulated."""
    import yaml

    env_cfg = {
        "simulated": "lambdabench stand-in: numpy cart-pole on the CPU, not Isaac Lab / Newton",
        "seed": seed,
        "scene": {"num_envs": num_envs},
        "sim": {"device": device, "physics": physics},
    }
    agent_cfg = {
        "simulated": True,
        "class_name": "OnPolicyRunner",
        "seed": seed,
        "device": device,
        "num_steps_per_env": task.num_steps_per_env,
        "max_iterations": iterations,
        "save_interval": task.save_interval,
        "experiment_name": experiment,
        "logger": "tensorboard",
    }
    (rank_dir / "params").mkdir(parents=True, exist_ok=True)
    (rank_dir / "params" / "env.yaml").write_text(yaml.safe_dump(env_cfg, sort_keys=False))
    (rank_dir / "params" / "agent.yaml").write_text(yaml.safe_dump(agent_cfg, sort_keys=False))


def _timer(message: str, started: float) -> None:
    """Isaac Lab's Timer leaving its context (isaaclab 3.0.0 utils/timer.py:254-261), around the env's scene creation
    and simulation start (envs/direct_rl_env.py:146,170): one timing per process, so N: 1 and Std 0."""
    spent = time.perf_counter() - started
    print(f"{message} Last: {spent:0.6f} s, Mean: {spent:0.6f} s, Std: {0.0:0.6f} s, N: 1", flush=True)


def _learn(
    cartpole: Any,
    env: Any,
    policy: Any,
    task: tasks.Task,
    iterations: int,
    log_dir: Path,
    world: int,
    *,
    writer: bool,
    rank: int | None,
) -> list[dict[str, float]]:
    """OnPolicyRunner.learn (rsl_rl/runners/on_policy_runner.py:56-134) with Logger.log (logger.py:156-288).

    Only rank 0 writes (logger.py:67): events, console blocks and checkpoints model_<it>.pt every
    save_interval iterations from 0, then model_<last it>.pt. Throughput counts every rank:
    collection size = num_steps_per_env × num_envs × world size (logger.py:176, 214). Returns what
    rank 0 logged per iteration (the tags Isaac Lab's benchmark reads back: benchmark_train_rsl_rl.py:286-307).
    """
    logged: list[dict[str, float]] = []
    if rank is not None:
        print(f"Synchronizing parameters for rank {rank}...", flush=True)  # on_policy_runner.py:69-71
    events = None
    if writer:
        events = host.Events(log_dir)
        (log_dir / "git").mkdir(parents=True, exist_ok=True)  # logger.py:300-314: wheels are no git repos
        print(f"Could not find git repository in {sys.modules['isaaclab'].__file__}. Skipping.", flush=True)
    rewards: deque[float] = deque(maxlen=100)
    lengths: deque[float] = deque(maxlen=100)
    horizon = task.num_steps_per_env
    tot_timesteps, tot_time, width, pad = 0, 0.0, 80, 40
    for it in range(iterations):
        eps = policy.perturbations(env.num_envs)
        start = time.time()
        ret = None
        for _ in range(horizon):
            reward, _, finished = env.step(policy.act(env.state, eps))
            ret = reward if ret is None else ret + reward
            rewards.extend(float(r) for r in finished["return"])
            lengths.extend(float(n) for n in finished["length"])
        collect = time.time() - start
        start = time.time()
        step_norm = policy.update(eps, ret) if ret is not None else 0.0
        learn = time.time() - start
        if events is None:
            continue
        logged.append({"collection_time": collect, "learning_time": learn})
        collection_size = horizon * env.num_envs * world
        tot_timesteps += collection_size
        tot_time += collect + learn
        fps = int(collection_size / max(collect + learn, 1e-9))
        losses = {"value": step_norm, "surrogate": -step_norm / 10, "entropy": 1.4189 + math.log(policy.sigma)}
        for key, value in losses.items():
            events.scalar(f"Loss/{key}", value, it)
        events.scalar("Loss/learning_rate", policy.lr, it)
        events.scalar("Policy/mean_std", policy.sigma, it)
        events.scalar("Perf/total_fps", fps, it)
        logged[-1]["total_fps"] = fps
        events.scalar("Perf/collection_time", collect, it)
        events.scalar("Perf/learning_time", learn, it)
        lines = [
            f"{'#' * width}",
            f"\033[1m{f' Learning iteration {it}/{iterations} '.center(width)}\033[0m \n",
            f"{'Total steps:':>{pad}} {tot_timesteps} ",
            f"{'Steps per second:':>{pad}} {fps:.0f} ",
            f"{'Collection time:':>{pad}} {collect:.3f}s ",
            f"{'Learning time:':>{pad}} {learn:.3f}s ",
        ]
        lines += [f"{f'Mean {key} loss:':>{pad}} {value:.4f}" for key, value in losses.items()]
        if rewards:
            mean_reward, mean_length = statistics.mean(rewards), statistics.mean(lengths)
            events.scalar("Train/mean_reward", mean_reward, it)
            logged[-1].update(reward=mean_reward, episode_length=mean_length)
            events.scalar("Train/mean_episode_length", mean_length, it)
            events.scalar("Train/mean_reward/time", mean_reward, int(tot_time))
            events.scalar("Train/mean_episode_length/time", mean_length, int(tot_time))
            lines += [
                f"{'Mean reward:':>{pad}} {mean_reward:.2f}",
                f"{'Mean episode length:':>{pad}} {mean_length:.2f}",
            ]
        eta = tot_time / (it + 1) * (iterations - it - 1)
        lines += [
            f"{'Mean action std:':>{pad}} {policy.sigma:.2f}",
            "-" * width,
            f"{'Iteration time:':>{pad}} {collect + learn:.2f}s",
            f"{'Time elapsed:':>{pad}} {_hms(tot_time)}",
            f"{'ETA:':>{pad}} {_hms(eta)}",
        ]
        print("\n".join(lines) + "\n", flush=True)
        if it % task.save_interval == 0:
            cartpole.save_weights(log_dir / f"model_{it}.pt", policy, {"iter": it, "library": "rsl_rl"})
    if events is not None:
        last = max(iterations - 1, 0)
        cartpole.save_weights(log_dir / f"model_{last}.pt", policy, {"iter": last, "library": "rsl_rl"})
        events.close()
    return logged


def _hms(seconds: float) -> str:
    from datetime import timedelta

    return str(timedelta(seconds=int(seconds)))


# ---- checkpoints (common.py:675-761, isaaclab_tasks/utils/parse_cfg.py:240-300) ------------------


def _natural(value: str) -> list[Any]:
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", value)]


def _checkpoint_file(value: str | None, log_root: Path, task: tasks.Task, where: str) -> Path:
    if value in ("latest", "best"):
        runs = []
        for run in log_root.iterdir() if log_root.is_dir() else []:
            try:
                manifest = json.loads((run / RUN_MANIFEST).read_text())
            except (OSError, ValueError):
                continue
            if (
                manifest.get("version") == 1
                and manifest.get("library") == "rsl_rl"
                and manifest.get("task") == task.id
                and manifest.get("metadata", {}).get("agent") == "rsl_rl_cfg_entry_point"
            ):
                runs.append((manifest["created_at"], run))
        for _, run in sorted(runs, reverse=True):
            found = sorted(
                (p for p in run.iterdir() if p.is_file() and p.name.startswith("model_") and p.suffix == ".pt"),
                key=lambda p: _natural(p.name),
            )
            if found:
                return found[-1].resolve()
        host.traceback_exit(
            "ValueError",
            f"No compatible manifested run with a checkpoint was found in '{log_root}'. "
            f"Run training with the current unified training entrypoint before using '--checkpoint "
            f"{value}'.",
            where,
        )
    if value:
        path = Path(value)
        if path.is_dir():
            value = None
            log_root, runs_re = path.parent, path.name
        elif not path.exists():
            host.traceback_exit("FileNotFoundError", f"Unable to resolve the file: {value}", "isaaclab/utils/assets.py")
        else:
            return path.resolve()
    else:
        runs_re = ".*"
    import re

    runs = sorted(
        str(p) for p in (log_root.iterdir() if log_root.is_dir() else []) if p.is_dir() and re.match(runs_re, p.name)
    )
    if not runs:
        host.traceback_exit("ValueError", f"No runs present in the directory: '{log_root}' match: '{runs_re}'.", where)
    run = Path(runs[-1])
    found = sorted((p for p in run.iterdir() if re.match(r"model_.*\.pt", p.name)), key=lambda p: _natural(p.name))
    if not found:
        host.traceback_exit("ValueError", f"No checkpoints in the directory: '{run}' match 'model_.*.pt'.", where)
    return found[-1].resolve()


# ---- play (play_rsl_rl.py:101-159, common.py:1154-1175) ------------------------------------------


def play(argv: list[str]) -> int:
    where = WHERE["play"]
    args, remaining = _play_parser().parse_known_args(argv)
    task = tasks.find(args.task, where)
    _launch(args, task, remaining, where, "play")
    experiment = args.experiment_name or task.experiment
    log_root = Path(os.path.abspath(os.path.join("logs", "rsl_rl", experiment)))
    print(f"[INFO] Loading experiment from directory: {log_root}")
    if args.checkpoint == "pretrained":
        host.die("[simulated] published (pretrained) checkpoints are not simulated: pass --checkpoint", 2)
    resume = _checkpoint_file(args.checkpoint, log_root, task, where)
    print("[2/3] Creating environment", flush=True)
    host.load_asset(tasks.ASSET_ROOT, task.asset)
    host.load_asset(tasks.ASSET_ROOT, tasks.GROUND_PLANE)
    cartpole = host.cartpole()
    env = cartpole.CartPole(args.num_envs or task.num_envs, args.seed if args.seed is not None else AGENT_SEED)
    print("[3/3] Loading policy", flush=True)
    print(f"[INFO]: Loading model checkpoint from: {resume}")
    policy = cartpole.LinearPolicy(0, cartpole.load_weights(resume))
    exported = resume.parent / "exported"  # play_rsl_rl.py:146-148
    exported.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"simulated": True, "weights": [float(w) for w in policy.w], "source": resume.name})
    (exported / "policy.pt").write_text(payload + "\n")
    (exported / "policy.onnx").write_text(payload + "\n")
    print("[INFO] Policy playback is running, press Ctrl+C to exit...", flush=True)
    steps = 0
    with contextlib.suppress(KeyboardInterrupt):  # without --video the loop runs until interrupted
        while True:
            env.step(policy.act(env.state))
            steps += 1
            # the real loop runs flat out unless --real-time; the stand-in always paces itself (the
            # simulator's CPU is shared), which changes no output
            time.sleep(cartpole.DT)
    print(f"[simulated] played {steps} steps", flush=True)
    return 0


# ---- list_envs (isaaclab/cli/commands/list_envs.py:30-92) ----------------------------------------


def list_envs() -> int:
    rows = [
        (str(i), t.id, "isaaclab.envs:ManagerBasedRLEnv" if t.workflow == "manager-based" else "(direct)", "rsl_rl")
        for i, t in enumerate(tasks.TASKS, 1)
    ]
    header = ("S. No.", "Task Name", "Entry Point", "RL Libraries")
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(4)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(host.BANNER)
    print("+" + "-" * (len(rule) - 2) + "+")
    print("|" + "Available Environments in Isaac Lab".center(len(rule) - 2) + "|")
    print(rule)
    for row in [header, *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if row is header:
            print(rule)
    print(rule)
    return 0
