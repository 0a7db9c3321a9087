"""The workflow scripts (train.py, play.py per RL library, list_envs.py) of the simulated Isaac Lab.

Each library's output layout, TensorBoard tags and console format follow the real one; the numbers
come from the cart-pole workload in cartpole.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import isaaclab_sim as app
from isaaclab_sim import cartpole

# library: (steps per iteration, default iterations, default num_envs)
DEFAULTS = {"rl_games": (32, 150), "rsl_rl": (16, 150), "skrl": (16, 300), "sb3": (16, 16)}
DEFAULT_NUM_ENVS = 4096


# ---- arguments --------------------------------------------------------------------------------


def _parser(lib: str, mode: str) -> argparse.ArgumentParser:
    """The flags of one workflow script, per generation and library (docs/isaaclab-contract.md)."""
    gen = app.generation()
    parser = argparse.ArgumentParser(description=f"{mode.title()} an RL agent with {lib}.")
    parser.add_argument("--num_envs", type=int, default=None)
    parser.add_argument("--task", type=str, default=None)
    if gen == "1":
        parser.add_argument("--cpu", action="store_true", default=False)
    if mode == "train" or lib == "rsl_rl" or gen == "2":
        parser.add_argument("--seed", type=int, default=None)
    if lib != "rsl_rl":  # rsl_rl's --checkpoint comes from its cli_args (below)
        parser.add_argument("--checkpoint", type=str, default=None)
    if mode == "train":
        parser.add_argument("--video", action="store_true", default=False)
        parser.add_argument("--video_length", type=int, default=200)
        parser.add_argument("--video_interval", type=int, default=2000)
        parser.add_argument("--max_iterations", type=int, default=None)
        # --distributed: rl_games and skrl always; rsl_rl from 2.1.0 (its train.py:29); sb3 never
        if lib in ("rl_games", "skrl") or (lib == "rsl_rl" and app.version_tuple() >= (2, 1)):
            parser.add_argument("--distributed", action="store_true", default=False)
    elif gen == "1":
        # the fork's playback recording, on by default, in rl_games/rsl_rl/skrl play.py:17-18 (not sb3)
        if lib != "sb3":
            parser.add_argument("--disable_video", action="store_true", default=False)
            parser.add_argument("--video_length", type=int, default=400)
        if lib in ("rl_games", "sb3"):
            parser.add_argument("--use_last_checkpoint", action="store_true", default=False)
    else:
        parser.add_argument("--video", action="store_true", default=False)
        parser.add_argument("--video_length", type=int, default=200)
        parser.add_argument("--real-time", action="store_true", default=False)
    if lib == "rsl_rl":
        parser.add_argument("--experiment_name", type=str, default=None)
        parser.add_argument("--run_name", type=str, default=None)
        parser.add_argument("--resume", type=bool, default=None)
        parser.add_argument("--load_run", type=str, default=None)
        parser.add_argument("--checkpoint", type=str, default=None)
        parser.add_argument("--logger", type=str, default=None)
        parser.add_argument("--log_project_name", type=str, default=None)
    if lib == "skrl":
        parser.add_argument("--ml_framework", type=str, default="torch")
        if gen == "2":
            parser.add_argument("--algorithm", type=str, default="PPO")
    parser.add_argument("--disable_fabric", action="store_true", default=False)
    app.add_app_launcher_args(parser)
    return parser


def _ts() -> str:
    return datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def _dump_params(run: Path, task: app.Task, lib: str, num_envs: int, seed: int, agent: dict[str, Any]) -> None:
    import yaml

    env_cfg = {
        "simulated": "lambdabench stand-in: numpy cart-pole on the CPU, not Isaac Sim",
        "task": task.name,
        "seed": seed,
        "decimation": 2,
        "episode_length_s": 5.0,
        "sim": {"dt": cartpole.DT / 2, "device": "cuda:0", "render_interval": 2},
        "scene": {"num_envs": num_envs, "env_spacing": 4.0, "replicate_physics": True},
    }
    (run / "params").mkdir(parents=True, exist_ok=True)
    (run / "params" / "env.yaml").write_text(yaml.safe_dump(env_cfg, sort_keys=False))
    agent = {"simulated": True, **agent}
    (run / "params" / "agent.yaml").write_text(yaml.safe_dump(agent, sort_keys=False))


class Events:
    """A TensorBoard event file with tags kept verbatim (as torch's SummaryWriter does)."""

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


class Recorder:
    """gymnasium's RecordVideo: a .meta.json when a clip starts, the .mp4 once it is complete."""

    def __init__(self, folder: Path, prefix: str, trigger: Callable[[int], bool], length: int) -> None:
        self.folder, self.prefix, self.trigger, self.length = folder, prefix, trigger, length
        self.frames: list[Any] = []
        self.name: str | None = None
        self.step_id = 0
        self.written: list[Path] = []

    def step(self, state: Any) -> None:
        if self.name is None and self.trigger(self.step_id):
            self.name = f"{self.prefix}-step-{self.step_id}" if "episode" not in self.prefix else self.prefix
            self.folder.mkdir(parents=True, exist_ok=True)
            meta = {"step_id": self.step_id, "episode_id": 0, "content_type": "video/mp4"}
            (self.folder / f"{self.name}.meta.json").write_text(json.dumps(meta))
        if self.name is not None:
            self.frames.append(cartpole.render(state))
            if len(self.frames) >= self.length:
                self.finish()
        self.step_id += 1

    def finish(self) -> None:
        if self.name is not None and self.frames:
            path = self.folder / f"{self.name}.mp4"
            cartpole.write_video(path, self.frames)
            self.written.append(path)
        self.name, self.frames = None, []


# ---- train ------------------------------------------------------------------------------------


def train(lib: str, script: str) -> int:
    """train.py of one library."""
    app.require_core(script)
    parser = _parser(lib, "train")
    args = parser.parse_args()
    if args.video:
        args.enable_cameras = True
    launched = app.launch(args, distributed=getattr(args, "distributed", False))
    if lib not in app.installed_libraries():
        app.module_missing(lib, script)
    task = app.find_task(args.task, lib)
    if task.cameras and not args.enable_cameras:
        app.die(
            "RuntimeError: A camera was spawned without the --enable_cameras flag. "
            "Please use --enable_cameras to enable rendering."
        )
    horizon, iterations = DEFAULTS[lib]
    num_envs = args.num_envs or DEFAULT_NUM_ENVS
    seed = (args.seed if args.seed is not None else 42) + launched.rank
    iterations = args.max_iterations or iterations
    experiment = task.experiments[lib]
    if lib == "rsl_rl" and args.experiment_name:
        experiment = args.experiment_name
    root = Path("logs") / lib / (task.name if lib == "sb3" else experiment)
    run_name = _ts()
    if lib == "rsl_rl" and args.run_name:
        run_name += f"_{args.run_name}"
    if lib == "skrl" and app.generation() == "2":
        run_name += f"_{getattr(args, 'algorithm', 'PPO').lower()}_{args.ml_framework}"
    run = (root / run_name).absolute()
    writer_rank = launched.rank == 0
    print(f"[INFO] Logging experiment in directory: {app.shown(root.absolute())}")
    print(f"Exact experiment name requested from command line: {run_name}")
    scene = time.perf_counter()
    stepped = app.claim_gpu_memory(num_envs, launched.device)  # the scene's envs are allocated as it is created
    if stepped < num_envs:
        print(f"[simulated] GPU memory modelled for {num_envs} envs; the CPU steps {stepped} of them", flush=True)
    env = cartpole.CartPole(stepped, seed)
    _timer("[INFO]: Time taken for scene creation", scene)
    print("[INFO]: Starting the simulation. This may take a few seconds. Please wait...", flush=True)
    _timer("[INFO]: Time taken for simulation start", time.perf_counter())  # the stand-in has no physics to start
    policy = cartpole.LinearPolicy(seed)
    if args.checkpoint:
        policy.w = cartpole.load_weights(_checkpoint_path(args.checkpoint))
    recorder = None
    if args.video and writer_rank:
        if app.generation() == "1":  # the fork: rsl_rl train.py:94 videos/training, the others videos/
            folder = run / "videos" / ("training" if lib == "rsl_rl" else "")
        else:
            folder = run / "videos" / "train"
        recorder = Recorder(
            folder,
            "rl-video",
            lambda step: step % args.video_interval == 0,
            args.video_length,
        )
    agent_cfg = {"library": lib, "experiment": experiment, "horizon": horizon, "max_iterations": iterations}
    if writer_rank:
        _dump_params(run, task, lib, num_envs, seed, agent_cfg)
    trainer = {"rl_games": _rl_games, "rsl_rl": _rsl_rl, "skrl": _skrl, "sb3": _sb3}[lib]
    try:
        trainer(run, env, policy, horizon, iterations, experiment, recorder, launched.world_size, writer_rank)
    finally:
        if recorder is not None:
            recorder.finish()
    return 0


def _timer(message: str, started: float) -> None:
    """Isaac Lab's Timer leaving its context, around the env's scene creation and simulation start: 2.x and the 1.x
    fork print the message then ": <seconds> seconds" (ooctipus/IsaacLab@afdbdea source/isaaclab/isaaclab/utils/
    timer.py:147-149, envs/direct_rl_env.py:131,163; RajitGhosh/IsaacLab-Fork@b24a0fa source/extensions/
    omni.isaac.lab/omni/isaac/lab/utils/timer.py:133-135, envs/direct_rl_env.py:111,130)."""
    print(message, f": {time.perf_counter() - started:0.6f} seconds", flush=True)


def _run(
    env: cartpole.CartPole, policy: cartpole.LinearPolicy, horizon: int, recorder: Recorder | None
) -> dict[str, Any]:
    return cartpole.rollout(env, policy, horizon, on_step=recorder.step if recorder else None)


def _rl_games(run: Path, env, policy, horizon, iterations, name, recorder, world, writer) -> None:  # type: ignore[no-untyped-def]
    events = Events(run / "summaries") if writer else None
    frame, best = 0, -math.inf
    nn = run / "nn"
    mean_reward = 0.0
    for epoch in range(1, iterations + 1):
        stats = _run(env, policy, horizon, recorder)
        steps = stats["steps"] * world  # rl_games reports frames of every rank
        total = stats["collection_s"] + stats["learning_s"]
        step_fps = steps / max(stats["env_s"], 1e-9)
        inference_fps = steps / max(stats["collection_s"], 1e-9)
        total_fps = steps / max(total, 1e-9)
        print(
            f"fps step: {step_fps:.0f} fps step and policy inference: {inference_fps:.0f} "
            f"fps total: {total_fps:.0f} epoch: {epoch}/{iterations} frames: {frame}",
            flush=True,
        )
        mean_reward = stats["mean_reward"]
        if events is not None:
            for tag, value in (
                ("performance/step_inference_rl_update_fps", total_fps),
                ("performance/step_inference_fps", inference_fps),
                ("performance/step_fps", step_fps),
                ("performance/rl_update_time", stats["learning_s"]),
                ("performance/step_inference_time", stats["collection_s"]),
                ("performance/step_time", stats["env_s"]),
                ("losses/a_loss", stats["loss"]),
                ("info/epochs", epoch),
                ("rewards/step", mean_reward),
                ("episode_lengths/step", stats["mean_length"]),
            ):
                events.scalar(tag, value, frame)
            events.scalar("rewards/iter", mean_reward, epoch)
            events.scalar("episode_lengths/iter", stats["mean_length"], epoch)
            if mean_reward > best and epoch > 1:
                best = mean_reward
                print(f"=> saving checkpoint '{app.shown(nn / name)}.pth'")
                print(f"saving next best rewards:  [{mean_reward:.7g}]")
                cartpole.save_weights(nn / f"{name}.pth", policy, {"epoch": epoch, "library": "rl_games"})
        frame += steps
    print("MAX EPOCHS NUM!")
    if events is not None:
        last = nn / f"last_{name}_ep_{iterations}_rew_{mean_reward:.7g}.pth"
        print(f"=> saving checkpoint '{app.shown(last)}'")
        cartpole.save_weights(last, policy, {"epoch": iterations, "library": "rl_games"})
        if not (nn / f"{name}.pth").exists():
            cartpole.save_weights(nn / f"{name}.pth", policy, {"epoch": iterations, "library": "rl_games"})
        events.close()


def _rsl_rl(run: Path, env, policy, horizon, iterations, name, recorder, world, writer) -> None:  # type: ignore[no-untyped-def]
    events = Events(run) if writer else None
    # rsl_rl writes "Perf/collection time" (with a space) up to v3.1.x, which every 1.x/2.x pins
    # (leggedrobotics/rsl_rl v3.1.0 on_policy_runner.py; "collection_time" from v3.2.0)
    collection_tag = "Perf/collection time"
    total_steps, total_time = 0, 0.0
    width = 80
    for it in range(iterations):
        if writer and it % 50 == 0:
            cartpole.save_weights(run / f"model_{it}.pt", policy, {"iteration": it, "library": "rsl_rl"})
        stats = _run(env, policy, horizon, recorder)
        collection, learning = stats["collection_s"], stats["learning_s"]
        fps = int(stats["steps"] / max(collection + learning, 1e-9))
        total_steps += stats["steps"]
        total_time += collection + learning
        eta = total_time / (it + 1) * (iterations - it - 1)
        title = f" \033[1m Learning iteration {it}/{iterations} \033[0m "
        print(
            "#" * width + "\n" + title.center(width + 8) + "\n\n"
            + f"{'Computation:':>35} {fps:.0f} steps/s (collection: {collection:.3f}s, learning {learning:.3f}s)\n"
            + f"{'Value function loss:':>35} {stats['loss']:.4f}\n"
            + f"{'Surrogate loss:':>35} {-stats['loss'] / 10:.4f}\n"
            + f"{'Mean action noise std:':>35} {policy.sigma:.2f}\n"
            + f"{'Mean reward:':>35} {stats['mean_reward']:.2f}\n"
            + f"{'Mean episode length:':>35} {stats['mean_length']:.2f}\n"
            + "-" * width + "\n"
            + f"{'Total timesteps:':>35} {total_steps}\n"
            + f"{'Iteration time:':>35} {collection + learning:.2f}s\n"
            + f"{'Total time:':>35} {total_time:.2f}s\n"
            + f"{'ETA:':>35} {eta:.1f}s\n",
            flush=True,
        )  # fmt: skip
        if events is not None:
            for tag, value in (
                ("Loss/value_function", stats["loss"]),
                ("Loss/surrogate", -stats["loss"] / 10),
                ("Loss/learning_rate", policy.lr),
                ("Policy/mean_noise_std", policy.sigma),
                ("Perf/total_fps", fps),
                (collection_tag, collection),
                ("Perf/learning_time", learning),
                ("Train/mean_reward", stats["mean_reward"]),
                ("Train/mean_episode_length", stats["mean_length"]),
            ):
                events.scalar(tag, value, it)
            events.scalar("Train/mean_reward/time", stats["mean_reward"], int(total_time))
    if events is not None:
        cartpole.save_weights(run / f"model_{iterations}.pt", policy, {"iteration": iterations, "library": "rsl_rl"})
        events.close()


def _skrl(run: Path, env, policy, horizon, iterations, name, recorder, world, writer) -> None:  # type: ignore[no-untyped-def]
    events = Events(run) if writer else None
    timesteps = iterations * horizon
    checkpoint_every = max(horizon, timesteps // 10)
    best = -math.inf
    started = time.monotonic()
    for index in range(iterations):
        stats = _run(env, policy, horizon, recorder)
        timestep = (index + 1) * horizon
        if index % max(1, iterations // 10) == 0 or index == iterations - 1:
            elapsed = time.monotonic() - started
            rate = timestep / max(elapsed, 1e-9)
            done = int(100 * timestep / timesteps)
            bar = "█" * (done // 10) + " " * (10 - done // 10)
            sys.stderr.write(f"{done:3d}%|{bar}| {timestep}/{timesteps} [{elapsed:05.2f}s, {rate:.2f}it/s]\n")
            sys.stderr.flush()
        if events is None:
            continue
        for tag, value in (
            ("Reward / Total reward (max)", stats["max_reward"]),
            ("Reward / Total reward (min)", stats["min_reward"]),
            ("Reward / Total reward (mean)", stats["mean_reward"]),
            ("Episode / Total timesteps (max)", stats["mean_length"]),
            ("Episode / Total timesteps (mean)", stats["mean_length"]),
            ("Loss / Policy loss", -stats["loss"] / 10),
            ("Loss / Value loss", stats["loss"]),
            ("Policy / Standard deviation", policy.sigma),
            ("Learning / Learning rate", policy.lr),
        ):
            events.scalar(tag, value, timestep)
        if timestep % checkpoint_every == 0:
            cartpole.save_weights(
                run / "checkpoints" / f"agent_{timestep}.pt", policy, {"timestep": timestep, "library": "skrl"}
            )
        if stats["mean_reward"] > best:
            best = stats["mean_reward"]
            cartpole.save_weights(
                run / "checkpoints" / "best_agent.pt", policy, {"timestep": timestep, "library": "skrl"}
            )
    if events is not None:
        events.close()


def _sb3(run: Path, env, policy, horizon, iterations, name, recorder, world, writer) -> None:  # type: ignore[no-untyped-def]
    # 2.2 passes tensorboard_log=log_dir to PPO (events in PPO_1/); earlier releases configure the
    # logger on the run dir itself (v2.1.0 sb3/train.py:148, v2.2.0 sb3/train.py:181)
    events_dir = run / "PPO_1" if app.version_tuple() >= (2, 2) else run
    events = Events(events_dir) if writer else None
    print(f"Logging to {app.shown(events_dir)}")
    started = time.monotonic()
    timesteps, calls, next_save = 0, 0, 1000
    for it in range(1, iterations + 1):
        stats = _run(env, policy, horizon, recorder)
        timesteps += stats["steps"]
        calls += horizon
        elapsed = time.monotonic() - started
        fps = int(timesteps / max(elapsed, 1e-9))
        rows = [
            ("rollout/", ""), ("    ep_len_mean", f"{stats['mean_length']:.3g}"),
            ("    ep_rew_mean", f"{stats['mean_reward']:.3g}"), ("time/", ""),
            ("    fps", str(fps)), ("    iterations", str(it)),
            ("    time_elapsed", str(int(elapsed))), ("    total_timesteps", str(timesteps)),
        ]  # fmt: skip
        print("-" * 38 + "\n" + "\n".join(f"| {k:<22}| {v:<11}|" for k, v in rows) + "\n" + "-" * 38, flush=True)
        if events is not None:
            for tag, value in (
                ("rollout/ep_len_mean", stats["mean_length"]),
                ("rollout/ep_rew_mean", stats["mean_reward"]),
                ("time/fps", fps),
                ("time/iterations", it),
                ("time/time_elapsed", int(elapsed)),
                ("time/total_timesteps", timesteps),
                ("train/loss", stats["loss"]),
                ("train/learning_rate", policy.lr),
            ):
                events.scalar(tag, value, timesteps)
            while calls >= next_save:
                _save_sb3(run / f"model_{next_save * env.num_envs}_steps.zip", policy)
                next_save += 1000
    if events is not None:
        _save_sb3(run / "model.zip", policy)
        events.close()


def _save_sb3(path: Path, policy: cartpole.LinearPolicy) -> None:
    """A stable-baselines3-shaped .zip: data, policy.pth, version (the payload is ours)."""
    tmp = path.with_suffix(".pth.tmp")
    cartpole.save_weights(tmp, policy, {"library": "sb3"})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps({"policy_class": "ActorCriticPolicy", "simulated": True}))
        archive.write(tmp, "policy.pth")
        archive.writestr("_stable_baselines3_version", "2.3.2")
    tmp.unlink()


# ---- play -------------------------------------------------------------------------------------


def _checkpoint_path(value: str) -> Path:
    path = Path(value)
    if path.is_absolute():
        root = os.environ.get("LAMBDABENCH_SIM_ROOTFS")
        if root and not path.exists():
            path = Path(root + value)
    if not path.exists():
        app.die(f"FileNotFoundError: [Errno 2] No such file or directory: '{value}'")
    return path.absolute()


def _latest_checkpoint(lib: str, root: Path, run_dir: str = ".*", checkpoint: str | None = None) -> Path:
    """Isaac Lab's get_checkpoint_path: the last run matching run_dir, its last file matching checkpoint
    (regexes, re.match; fork parse_cfg.py:153-210)."""
    runs = sorted(p for p in root.iterdir() if p.is_dir() and re.match(run_dir, p.name)) if root.is_dir() else []
    if not runs:
        app.die(f"ValueError: No runs present in the directory: '{app.shown(root.absolute())}' match: '{run_dir}'.")
    sub = {"rl_games": "nn", "skrl": "checkpoints"}.get(lib)
    folder = runs[-1] / sub if sub else runs[-1]
    pattern = checkpoint or {"rl_games": ".*", "rsl_rl": "model_.*.pt", "skrl": ".*", "sb3": "model.zip"}[lib]
    found = (
        sorted((p for p in folder.iterdir() if re.match(pattern, p.name)), key=lambda p: f"{p.name:0>15}")
        if folder.is_dir()
        else []
    )
    if not found:
        app.die(f"ValueError: No checkpoints in the directory: '{app.shown(folder)}' match '{pattern}'.")
    return found[-1]


def play(lib: str, script: str) -> int:
    """play.py of one library: load a checkpoint, run the policy (until interrupted), record a clip."""
    app.require_core(script)
    parser = _parser(lib, "play")
    args = parser.parse_args()
    gen = app.generation()
    video = (lib != "sb3" and not args.disable_video) if gen == "1" else args.video
    if video:
        args.enable_cameras = True
    app.launch(args)
    if lib not in app.installed_libraries():
        app.module_missing(lib, script)
    task = app.find_task(args.task, lib)
    experiment = task.experiments[lib]
    root = Path("logs") / lib / (task.name if lib == "sb3" else experiment)
    print(f"[INFO] Loading experiment from directory: {app.shown(root.absolute())}")
    if lib == "rsl_rl" and gen == "1":
        # --checkpoint is a file-name regex inside --load_run (fork rsl_rl/play.py:72)
        resume = _latest_checkpoint(lib, root, args.load_run or ".*", args.checkpoint)
    elif args.checkpoint:
        resume = _checkpoint_path(args.checkpoint)
    else:
        resume = _latest_checkpoint(lib, root)
    print(f"[INFO] Loading model checkpoint from: {app.shown(resume)}")
    if lib == "skrl" and gen == "2" and app.installed_version("skrl")[:1] >= (2,):
        app.skrl_2_play_dies(script)
    policy = cartpole.LinearPolicy(0, cartpole.load_weights(resume))
    env = cartpole.CartPole(args.num_envs or 32, 0)
    recorder = None
    if video:
        # the run folder: the checkpoint's (rsl_rl, sb3) or its parent's (rl_games nn/, skrl checkpoints/)
        run = resume.parent if lib in ("rsl_rl", "sb3") else resume.parent.parent
        if gen == "1":
            folder = run / "videos" / "playback"
            prefix = f"{lib}-{experiment}-playing-video-episode-0"
        else:
            folder, prefix = run / "videos" / "play", "rl-video"
        recorder = Recorder(folder, prefix, lambda step: step == 0, args.video_length)
        print("[INFO] Recording videos during playback.")
    stop = {"now": False}

    def interrupted(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    steps = 0
    while not stop["now"]:
        env.step(policy.act(env.state))
        steps += 1
        if recorder is not None:
            recorder.step(env.state[0])
            if recorder.written:
                print(f"[INFO] Video written: {app.shown(recorder.written[0])}", flush=True)
                recorder.written.clear()
                if gen == "2":
                    break  # 2.x play stops once video_length steps are recorded (play.py:154-155)
        if recorder is None or recorder.name is None:
            time.sleep(cartpole.DT)  # otherwise play on in real time until interrupted
    print(f"[INFO] Played {steps} steps. Closing the app.", flush=True)
    return 0


# ---- list_envs --------------------------------------------------------------------------------


def list_envs() -> int:
    """list_envs.py: a table of the registered Isaac-* tasks."""
    print(app.BANNER)
    gen = app.generation()
    prefix = "omni.isaac.lab_tasks." if gen == "1" else "isaaclab_tasks."
    envs = "omni.isaac.lab.envs" if gen == "1" else "isaaclab.envs"
    rows = []
    for task in app.TASKS:
        if task.fork_only and gen != "1":
            continue
        kind = "DirectRLEnv" if task.entry.startswith("direct") else "ManagerBasedRLEnv"
        rows.append((task.name, f"{envs}:{kind}", f"{prefix}{task.entry}:{task.name}Cfg"))
    widths = [6, max(len(r[0]) for r in rows), max(len(r[1]) for r in rows), max(len(r[2]) for r in rows)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    inner = len(rule) - 2
    print("+" + "-" * inner + "+")
    print("|" + "Available Environments in Isaac Lab".center(inner) + "|")
    print(rule)
    header = ("S. No.", "Task Name", "Entry Point", "Config")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print(rule)
    for index, row in enumerate(rows, 1):
        cells = (str(index).center(6), *row)
        print("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")
    print(rule)
    return 0


def main(lib: str, mode: str, script: str) -> int:
    """Entry point of a generated workflow script."""
    try:
        return train(lib, script) if mode == "train" else play(lib, script)
    except KeyboardInterrupt:
        return 130
    except Exception:
        # 2.x trains inside @hydra_task_config (hydra.main; ooctipus/IsaacLab scripts/reinforcement_learning/
        # rsl_rl/train.py): Hydra's run_and_report prints the exception and exits 1 unless HYDRA_FULL_ERROR is set,
        # then it re-raises (hydra-core 1.3.2 hydra/_internal/utils.py:218-223, 293); the fork parses without Hydra
        if app.generation() == "2" and not os.environ.get("HYDRA_FULL_ERROR"):
            import traceback

            traceback.print_exc()
            sys.stderr.write("\nSet the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.\n")
            return 1
        raise


# ---- benchmarks (2.x scripts/benchmarks) --------------------------------------------------------

BENCHMARK_LIBRARY = {"non_rl": None, "rsl_rl": "rsl_rl", "rlgames": "rl_games"}
_OUTPUT_SETTING = re.compile(r"--/exts/isaacsim\.benchmark\.services/metrics/metrics_output_folder=(\S+)")


def _read_scalars(folder: Path) -> dict[str, list[float]]:
    """Every scalar in the TensorBoard event files of one folder, by tag (what parse_tf_logs reads)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    out: dict[str, list[float]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            record = data[pos + 12 : pos + 12 + length]
            pos += 12 + length + 4
            event = Event.FromString(record)
            for value in event.summary.value:
                out.setdefault(value.tag, []).append(float(value.simple_value))
    return out


def _stats(phase: dict[str, Any], name: str, values: list[float]) -> None:
    """log_min_max_mean_stats: "Min/Max/Mean <name>" (scripts/benchmarks/utils.py:44-51)."""
    if values:
        phase[f"Min {name}"] = min(values)
        phase[f"Max {name}"] = max(values)
        phase[f"Mean {name}"] = sum(values) / len(values)


def benchmark(kind: str, script: str) -> int:
    """benchmark_<kind>.py: run, then write the OmniPerf KPI file (docs/isaaclab-contract.md, 2.x)."""
    app_begin = time.perf_counter()
    app.require_core(script)
    lib = BENCHMARK_LIBRARY[kind]
    parser = argparse.ArgumentParser(description=f"Benchmark {kind} (simulated).")
    parser.add_argument("--video", action="store_true", default=False)
    parser.add_argument("--video_length", type=int, default=200)
    parser.add_argument("--video_interval", type=int, default=2000)
    parser.add_argument("--num_envs", type=int, default=4096 if kind == "rsl_rl" else None)
    parser.add_argument("--task", type=str, default=None)
    parser.add_argument("--seed", type=int, default=42 if kind == "rsl_rl" else None)
    if kind != "rsl_rl" or app.version_tuple() >= (2, 1):  # 2.0.x benchmark_rsl_rl has none
        parser.add_argument("--distributed", action="store_true", default=False)
    if kind == "non_rl":
        parser.add_argument("--num_frames", type=int, default=100)
    else:
        parser.add_argument("--max_iterations", type=int, default=10)
    parser.add_argument(
        "--benchmark_backend", type=str, default="OmniPerfKPIFile",
        choices=["LocalLogMetrics", "JSONFileMetrics", "OsmoKPIFile", "OmniPerfKPIFile"],
    )  # fmt: skip
    app.add_app_launcher_args(parser)
    args, _hydra = parser.parse_known_args()
    distributed = getattr(args, "distributed", False)
    launched = app.launch(args, distributed=distributed)
    app_end = time.perf_counter()
    if lib is not None and lib not in app.installed_libraries():
        app.module_missing(lib, script)
    task = app.find_task(args.task, lib)
    task_begin = time.perf_counter()
    num_envs = args.num_envs or DEFAULT_NUM_ENVS
    seed = (args.seed if args.seed is not None else 42) + launched.local_rank
    env = cartpole.CartPole(num_envs, seed)
    policy = cartpole.LinearPolicy(seed)
    task_end = time.perf_counter()
    meta: dict[str, Any] = {"task": task.name, "seed": args.seed, "num_envs": num_envs}
    runtime: dict[str, Any] = {}
    train_phase: dict[str, Any] = {}
    if kind == "non_rl":
        meta["num_frames"] = args.num_frames
        step_ms = []
        for _ in range(args.num_frames):
            begin = time.perf_counter_ns()
            env.step(policy.act(env.state))
            step_ms.append((time.perf_counter_ns() - begin) / 1e6)
        fps = [1000.0 / max(ms, 1e-9) for ms in step_ms]
        # benchmark_non_rl.py:177-186: vectorised steps/s, then × num_envs × world size
        _stats(runtime, "Environment step times", step_ms)
        _stats(runtime, "Environment step FPS", fps)
        _stats(runtime, "Environment step effective FPS", [f * num_envs * launched.world_size for f in fps])
    else:
        assert lib is not None
        meta["max_iterations"] = args.max_iterations
        horizon, _ = DEFAULTS[lib]
        experiment = task.experiments[lib]
        run = (Path("logs") / lib / experiment / _ts()).absolute()
        print(f"[INFO] Logging experiment in directory: {app.shown(run.parent)}")
        writer = launched.rank == 0
        if writer:
            _dump_params(run, task, lib, num_envs, seed, {"library": lib, "max_iterations": args.max_iterations})
        trainer = _rsl_rl if lib == "rsl_rl" else _rl_games
        trainer(run, env, policy, horizon, args.max_iterations, experiment, None, launched.world_size, writer)
        if writer:
            logs = _read_scalars(run if lib == "rsl_rl" else run / "summaries")
            if lib == "rsl_rl":  # benchmark_rsl_rl.py:220-231
                collection = logs.get("Perf/collection time", [])
                _stats(runtime, "Collection Time", [c / 1000 for c in collection])
                _stats(runtime, "Learning Time", [t / 1000 for t in logs.get("Perf/learning_time", [])])
                _stats(runtime, "Collection FPS", [1 / max(c, 1e-9) * num_envs * horizon for c in collection])
                _stats(runtime, "Total FPS", logs.get("Perf/total_fps", []))
                rewards, lengths = logs.get("Train/mean_reward", []), logs.get("Train/mean_episode_length", [])
            else:  # benchmark_rlgames.py:227-237
                _stats(runtime, "Environment only FPS", logs.get("performance/step_fps", []))
                _stats(runtime, "Environment + Inference FPS", logs.get("performance/step_inference_fps", []))
                _stats(
                    runtime, "Environment + Inference + Policy update FPS",
                    logs.get("performance/step_inference_rl_update_fps", []),
                )  # fmt: skip
                rewards, lengths = logs.get("rewards/iter", []), logs.get("episode_lengths/iter", [])
            if rewards:
                train_phase["Max Rewards"] = max(rewards)
            if lengths:
                train_phase["Max Episode Lengths"] = max(lengths)
    if launched.rank != 0:
        return 0
    name = f"benchmark_{kind}"
    startup = {  # utils.py:54-81, all in ms
        "App Launch Time": (app_end - app_begin) * 1000,
        "Python Imports Time": 0.0,
        "Task Creation and Start Time": (task_end - task_begin) * 1000,
        "Scene Creation Time": (task_end - task_begin) * 1000,
        "Simulation Start Time": 0.0,
        "Total Start Time (Launch to Train)": (task_end - app_begin) * 1000,
    }
    kpis: dict[str, Any] = {
        "App Info": ["Isaac-Sim", os.environ.get("ISAACSIM_VERSION", "4.5.0"), "simulated"],
        "timestamp": datetime.now().isoformat(),
        "Kit": "simulated",
    }
    for phase, values in (("startup", startup), ("runtime", runtime), ("train", train_phase)):
        if values or phase != "train":
            kpis[phase] = {"workflow_name": name, "phase": phase, **meta, **values}
    found = _OUTPUT_SETTING.search(getattr(args, "kit_args", "") or "")
    folder = Path(found.group(1)) if found else app.container_tmp()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"kpis_{name}.json"
    path.write_text(json.dumps(kpis, indent=4))
    print(f"[INFO] Writing metrics to {app.shown(path)}", flush=True)
    return 0
