"""The workflow scripts (train.py, play.py per RL library, list_envs.py) of the simulated Isaac Lab.

Each library's output layout, TensorBoard tags and console format follow the real one; the numbers
come from the cart-pole workload in cartpole.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
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
    gen = app.generation()
    parser = argparse.ArgumentParser(description=f"{mode.title()} an RL agent with {lib}.")
    parser.add_argument("--num_envs", type=int, default=None)
    parser.add_argument("--task", type=str, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--checkpoint", type=str, default=None)
    if mode == "train":
        parser.add_argument("--video", action="store_true", default=False)
        parser.add_argument("--video_length", type=int, default=200)
        parser.add_argument("--video_interval", type=int, default=2000)
        parser.add_argument("--max_iterations", type=int, default=None)
        if lib in ("rl_games", "skrl") or (lib == "rsl_rl" and gen == "2"):
            parser.add_argument("--distributed", action="store_true", default=False)
    elif gen == "1":  # the fork's playback recording, on by default
        parser.add_argument("--disable_video", action="store_true", default=False)
        parser.add_argument("--video_length", type=int, default=400)
    else:
        parser.add_argument("--video", action="store_true", default=False)
        parser.add_argument("--video_length", type=int, default=200)
        parser.add_argument("--real-time", action="store_true", default=False)
    if lib == "rsl_rl":
        parser.add_argument("--experiment_name", type=str, default=None)
        parser.add_argument("--run_name", type=str, default=None)
        parser.add_argument("--resume", type=bool, default=None)
        parser.add_argument("--load_run", type=str, default=None)
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
    env = cartpole.CartPole(num_envs, seed)
    policy = cartpole.LinearPolicy(seed)
    if args.checkpoint:
        policy.w = cartpole.load_weights(_checkpoint_path(args.checkpoint))
    recorder = None
    if args.video and writer_rank:
        recorder = Recorder(
            run / "videos" / "train",
            "rl-video",
            lambda step: step % args.video_interval == 0,
            args.video_length,
        )
    agent_cfg = {"library": lib, "experiment": experiment, "horizon": horizon, "max_iterations": iterations}
    if writer_rank:
        _dump_params(run, task, lib, num_envs, seed, agent_cfg)
    trainer = {"rl_games": _rl_games, "rsl_rl": _rsl_rl, "skrl": _skrl, "sb3": _sb3}[lib]
    try:
        trainer(
            run, env, policy, horizon, iterations, experiment, recorder, launched.world_size, writer_rank
        )
    finally:
        if recorder is not None:
            recorder.finish()
    return 0


def _run(env: cartpole.CartPole, policy: cartpole.LinearPolicy, horizon: int, recorder: Recorder | None) -> dict[str, Any]:
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
    collection_tag = "Perf/collection time" if app.generation() == "1" else "Perf/collection_time"
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
            cartpole.save_weights(run / "checkpoints" / f"agent_{timestep}.pt", policy, {"timestep": timestep, "library": "skrl"})
        if stats["mean_reward"] > best:
            best = stats["mean_reward"]
            cartpole.save_weights(run / "checkpoints" / "best_agent.pt", policy, {"timestep": timestep, "library": "skrl"})
    if events is not None:
        events.close()


def _sb3(run: Path, env, policy, horizon, iterations, name, recorder, world, writer) -> None:  # type: ignore[no-untyped-def]
    events = Events(run / "PPO_1") if writer else None
    print(f"Logging to {app.shown(run / 'PPO_1')}")
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


def _latest_checkpoint(lib: str, root: Path) -> Path:
    runs = sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
    if not runs:
        app.die(f"ValueError: No runs present in the directory: '{app.shown(root.absolute())}' match: '.*'.")
    run = runs[-1]
    patterns = {"rl_games": "nn/*.pth", "rsl_rl": "model_*.pt", "skrl": "checkpoints/*.pt", "sb3": "model*.zip"}
    found = sorted(run.glob(patterns[lib]), key=lambda p: (len(p.name), p.name))
    if not found:
        app.die(f"ValueError: No checkpoints in the directory: '{app.shown(run)}' match '.*'.")
    if lib == "rl_games":
        named = [p for p in found if not p.name.startswith("last_")]
        return (named or found)[0]
    return found[-1]


def play(lib: str, script: str) -> int:
    """play.py of one library: load a checkpoint, run the policy, record a clip."""
    parser = _parser(lib, "play")
    args = parser.parse_args()
    gen = app.generation()
    video = not args.disable_video if gen == "1" else args.video
    if video:
        args.enable_cameras = True
    app.launch(args)
    if lib not in app.installed_libraries():
        app.module_missing(lib, script)
    task = app.find_task(args.task, lib)
    experiment = task.experiments[lib]
    root = Path("logs") / lib / (task.name if lib == "sb3" else experiment)
    print(f"[INFO] Loading experiment from directory: {app.shown(root.absolute())}")
    resume = _checkpoint_path(args.checkpoint) if args.checkpoint else _latest_checkpoint(lib, root)
    print(f"[INFO] Loading model checkpoint from: {app.shown(resume)}")
    policy = cartpole.LinearPolicy(0, cartpole.load_weights(resume))
    env = cartpole.CartPole(args.num_envs or 32, 0)
    recorder = None
    if video:
        if gen == "1":
            folder = resume.parent / "videos" / "playback"
            prefix = f"{lib}-{experiment}-playing-video-episode-0"
        else:
            run = resume.parent if lib in ("rsl_rl", "sb3") else resume.parent.parent
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
                    break  # 2.x play exits once its clip is recorded
        if recorder is None or recorder.name is None:
            time.sleep(cartpole.DT)  # after the clip, play on in real time until interrupted
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
