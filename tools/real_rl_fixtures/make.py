"""Tiny real trainings with skrl, rsl-rl-lib, rl-games and stable-baselines3, in Isaac Lab's log layout.

Run with the fixture venv (see README.md):  <venv>/bin/python tools/real_rl_fixtures/make.py [OUT]
(OUT defaults to tests/metrics/data/real). Each situation gets OUT/<situation>/ with
  artifacts/logs/<lib>/...   what Isaac Lab's train.py would leave (events, params/, checkpoint names)
  truth.json                 what the training really did, counted by the toy env itself
  tensorboard_reading.json   the official `tensorboard` package's reading of every event file,
                             taken in a second process after the trainings' process has exited

The libraries' runners, algorithms and loggers are the real ones; only the environment is a toy
and the adapters between it and rl_games / rsl_rl mirror what Isaac Lab's wrappers hand over
(isaaclab_rl RlGamesVecEnvWrapper / RslRlVecEnvWrapper: obs, reward, done = terminated|truncated,
extras["time_outs"]). Checkpoint files are emptied after the run (only their names matter to
lambdabench); the events are left byte for byte as the libraries wrote them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toyenv import PointMass, PointMassGym  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
VERSIONS = {
    name: version(name)
    for name in ("skrl", "rsl-rl-lib", "rl-games", "stable-baselines3", "torch", "tensorboard", "tensorboardX")
}


def stamp() -> str:
    """Isaac Lab's run-folder name; a second apart so two runs never share one."""
    time.sleep(1.05)
    return datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def dump_params(run_dir: Path, num_envs: int, agent_cfg: dict[str, Any], **env_extra: Any) -> None:
    """params/env.yaml and params/agent.yaml as Isaac Lab's train.py dumps them (only the keys we need)."""
    params = run_dir / "params"
    params.mkdir(parents=True, exist_ok=True)
    env_cfg = {"scene": {"num_envs": num_envs, "env_spacing": 4.0}, "decimation": 2, **env_extra}
    (params / "env.yaml").write_text(yaml.safe_dump(env_cfg, sort_keys=False))
    (params / "agent.yaml").write_text(yaml.safe_dump(_plain(agent_cfg), sort_keys=False))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not callable(v) and k != "features"}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def step_times_ms(stamps: list[float]) -> list[int]:
    """Each step() call's end, in whole milliseconds after the first call's end."""
    return [round((t - stamps[0]) * 1000) for t in stamps]


def run_record(
    artifacts: Path,
    run_dir: Path,
    env_steps: int,
    started: float,
    ended: float,
    stamps: list[float],
    per_call: int,
    num_envs: int,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "folder": str(run_dir.relative_to(artifacts)),
        "env_steps": env_steps,
        "num_envs": num_envs,
        "train_started": started,
        "train_ended": ended,
        "first_step_at": stamps[0],
        "last_step_at": stamps[-1],
        "env_steps_per_call": per_call,
        "step_times_ms": step_times_ms(stamps),
        **extra,
    }


def empty_checkpoints(run_dir: Path) -> None:
    """Checkpoints emptied (weights are not needed); sb3's zips keep only their system_info.txt."""
    import zipfile

    for pattern in ("*.pth", "*.pt"):
        for path in run_dir.rglob(pattern):
            path.write_bytes(b"")
    for path in run_dir.rglob("*.zip"):
        with zipfile.ZipFile(path) as archive:
            info = archive.read("system_info.txt") if "system_info.txt" in archive.namelist() else None
        with zipfile.ZipFile(path, "w") as archive:
            if info is not None:
                archive.writestr("system_info.txt", info)


# ---------------------------------------------------------------------------------------------
# rl_games (rl_games.torch_runner.Runner, a2c_continuous: what Isaac Lab's rl_games/train.py runs)


def rl_games_cfg(name: str, num_envs: int, max_epochs: int, **config: Any) -> dict[str, Any]:
    """Isaac Lab's cartpole rl_games_ppo_cfg.yaml (isaaclab_tasks, classic/cartpole/agents), scaled down."""
    return {
        "params": {
            "seed": 42,
            "algo": {"name": "a2c_continuous"},
            "model": {"name": "continuous_a2c_logstd"},
            "network": {
                "name": "actor_critic",
                "separate": False,
                "space": {
                    "continuous": {
                        "mu_activation": "None",
                        "sigma_activation": "None",
                        "mu_init": {"name": "default"},
                        "sigma_init": {"name": "const_initializer", "val": 0},
                        "fixed_sigma": True,
                    }
                },
                "mlp": {
                    "units": [32, 32],
                    "activation": "elu",
                    "d2rl": False,
                    "initializer": {"name": "default"},
                    "regularizer": {"name": "None"},
                },
            },
            "load_checkpoint": False,
            "load_path": "",
            "config": {
                "name": name,
                "env_name": "toy",
                "device": "cpu",
                "device_name": "cpu",
                "multi_gpu": False,
                "ppo": True,
                "mixed_precision": False,
                "normalize_input": False,
                "normalize_value": False,
                "num_actors": num_envs,
                "reward_shaper": {"scale_value": 1.0},
                "normalize_advantage": False,
                "gamma": 0.99,
                "tau": 0.95,
                "learning_rate": 3e-4,
                "lr_schedule": "adaptive",
                "kl_threshold": 0.008,
                "score_to_win": 20000,
                "max_epochs": max_epochs,
                "save_best_after": 10**6,
                "save_frequency": 0,
                "grad_norm": 1.0,
                "entropy_coef": 0.0,
                "truncate_grads": True,
                "e_clip": 0.2,
                "horizon_length": 16,
                "minibatch_size": num_envs * 16 // 2,
                "mini_epochs": 4,
                "critic_coef": 4,
                "clip_value": True,
                "seq_length": 4,
                "bounds_loss_coef": 0.0001,
                **config,
            },
        }
    }


def rl_games_train(
    artifacts: Path,
    *,
    num_envs: int,
    max_epochs: int,
    checkpoint: Path | None = None,
    substeps: int = 8,
    **config: Any,
) -> dict[str, Any]:
    from rl_games.common import env_configurations, vecenv
    from rl_games.common.algo_observer import IsaacAlgoObserver
    from rl_games.common.ivecenv import IVecEnv
    from rl_games.torch_runner import Runner

    env = PointMass(num_envs, substeps=substeps)

    class ToyRlg(IVecEnv):  # the part of Isaac Lab's RlGamesGpuEnv/RlGamesVecEnvWrapper rl_games sees
        def __init__(self, config_name: str, num_actors: int, **kwargs: Any) -> None:
            pass

        def step(self, actions: torch.Tensor) -> Any:
            obs, rew, term, trunc, extras = env.step(actions)
            return obs["policy"], rew, (term | trunc).to(torch.uint8), {"time_outs": trunc}

        def reset(self) -> torch.Tensor:
            return env.reset()[0]["policy"]

        def get_number_of_agents(self) -> int:
            return 1

        def get_env_info(self) -> dict[str, Any]:
            return {
                "observation_space": env.single_observation_space["policy"],
                "action_space": env.single_action_space,
                "state_space": None,
            }

    vecenv.register("TOY", lambda config_name, num_actors, **kw: ToyRlg(config_name, num_actors, **kw))
    env_configurations.register("toy", {"vecenv_type": "TOY", "env_creator": lambda **kw: env})
    log_root = artifacts / "logs" / "rl_games" / "toy"
    log_dir = stamp()
    cfg = rl_games_cfg("toy", num_envs, max_epochs, **config)
    cfg["params"]["config"]["train_dir"] = str(log_root)
    cfg["params"]["config"]["full_experiment_name"] = log_dir
    if checkpoint is not None:
        cfg["params"]["load_checkpoint"] = True
        cfg["params"]["load_path"] = str(checkpoint)
    run_dir = log_root / log_dir
    dump_params(run_dir, num_envs, cfg)
    runner = Runner(IsaacAlgoObserver())
    runner.load(cfg)
    runner.reset()
    started = time.time()
    args: dict[str, Any] = {"train": True, "play": False, "sigma": None}
    if checkpoint is not None:
        args["checkpoint"] = str(checkpoint)
    runner.run(args)
    ended = time.time()
    return run_record(
        artifacts,
        run_dir,
        env.env_steps,
        started,
        ended,
        env.stamps,
        num_envs,
        num_envs,
        frames_per_epoch=num_envs * 16,
    )


# ---------------------------------------------------------------------------------------------
# rsl_rl (rsl_rl.runners.OnPolicyRunner: what Isaac Lab's rsl_rl/train.py runs)


def rsl_rl_cfg(num_steps_per_env: int) -> dict[str, Any]:
    """rsl_rl 5.x runner config (the keys OnPolicyRunner and PPO.construct_algorithm read)."""
    return {
        "num_steps_per_env": num_steps_per_env,
        "save_interval": 10**6,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "multi_gpu": None,
        "logger": "tensorboard",
        "experiment_name": "toy",
        "run_name": "",
        "algorithm": {
            "class_name": "PPO",
            "num_learning_epochs": 4,
            "num_mini_batches": 2,
            "learning_rate": 1e-3,
            "schedule": "adaptive",
            "gamma": 0.99,
            "lam": 0.95,
            "entropy_coef": 0.005,
            "desired_kl": 0.01,
            "max_grad_norm": 1.0,
        },
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [32, 32],
            "activation": "elu",
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [32, 32], "activation": "elu"},
    }


def rsl_rl_train(
    artifacts: Path,
    *,
    num_envs: int,
    iterations: int,
    resume: Path | None = None,
    hparams: bool = False,
    substeps: int = 8,
) -> dict[str, Any]:
    from rsl_rl.env import VecEnv
    from rsl_rl.runners import OnPolicyRunner
    from tensordict import TensorDict

    env = PointMass(num_envs, episode_length=24, substeps=substeps)

    class ToyRsl(VecEnv):  # what Isaac Lab's RslRlVecEnvWrapper hands rsl_rl
        def __init__(self) -> None:
            self.num_envs = num_envs
            self.num_actions = 1
            self.max_episode_length = env.max_episode_length
            self.episode_length_buf = env.episode_length_buf
            self.device = "cpu"
            self.cfg = {}
            self._obs = env.reset()[0]

        def get_observations(self) -> TensorDict:
            return TensorDict(self._obs, batch_size=[num_envs])

        def step(self, actions: torch.Tensor) -> Any:
            obs, rew, term, trunc, extras = env.step(actions)
            self._obs = obs
            return TensorDict(obs, batch_size=[num_envs]), rew, (term | trunc).long(), extras

    log_root = artifacts / "logs" / "rsl_rl" / "toy"
    run_dir = log_root / stamp()
    cfg = rsl_rl_cfg(24)
    runner = OnPolicyRunner(ToyRsl(), cfg, log_dir=str(run_dir), device="cpu")
    if resume is not None:
        runner.load(str(resume))
        cfg = {**cfg, "resume": True, "load_checkpoint": resume.name}
    dump_params(run_dir, num_envs, {**cfg, "max_iterations": iterations})
    started = time.time()
    runner.learn(num_learning_iterations=iterations, init_at_random_ep_len=True)
    ended = time.time()
    extra: dict[str, Any] = {"steps_per_iteration": num_envs * 24, "iterations": iterations}
    if hparams:
        # what a user's add_hparams adds: torch writes it into a new sub-folder named by time.time()
        from torch.utils.tensorboard import SummaryWriter

        time.sleep(1.0)
        writer = SummaryWriter(log_dir=str(run_dir))
        writer.add_hparams({"lr": 1e-3, "num_envs": num_envs}, {"hparam/final_reward": -1.0})
        writer.close()
    return run_record(artifacts, run_dir, env.env_steps, started, ended, env.stamps, num_envs, num_envs, **extra)


# ---------------------------------------------------------------------------------------------
# skrl (skrl.utils.runner.torch.Runner + IsaacLabWrapper: what Isaac Lab's skrl/train.py runs)


def skrl_cfg(directory: str, timesteps: int, rollouts: int) -> dict[str, Any]:
    """Isaac Lab's cartpole skrl_ppo_cfg.yaml (isaaclab_tasks, classic/cartpole/agents), scaled down."""
    return {
        "seed": 42,
        "models": {
            "separate": False,
            "policy": {
                "class": "GaussianMixin",
                "clip_actions": False,
                "clip_log_std": True,
                "min_log_std": -20.0,
                "max_log_std": 2.0,
                "initial_log_std": 0.0,
                "network": [{"name": "net", "input": "OBSERVATIONS", "layers": [32, 32], "activations": "elu"}],
                "output": "ACTIONS",
            },
            "value": {
                "class": "DeterministicMixin",
                "clip_actions": False,
                "network": [{"name": "net", "input": "OBSERVATIONS", "layers": [32, 32], "activations": "elu"}],
                "output": "ONE",
            },
        },
        "memory": {"class": "RandomMemory", "memory_size": -1},
        "agent": {
            "class": "PPO",
            "rollouts": rollouts,
            "learning_epochs": 4,
            "mini_batches": 2,
            "discount_factor": 0.99,
            "lambda": 0.95,
            "learning_rate": 5e-4,
            "grad_norm_clip": 1.0,
            "ratio_clip": 0.2,
            "value_clip": 0.2,
            "entropy_loss_scale": 0.0,
            "value_loss_scale": 2.0,
            "rewards_shaper_scale": 1.0,
            "time_limit_bootstrap": False,
            "experiment": {
                "directory": directory,
                "experiment_name": "",
                "write_interval": "auto",
                "checkpoint_interval": "auto",
            },
        },
        "trainer": {
            "class": "SequentialTrainer",
            "timesteps": timesteps,
            "environment_info": "log",
            "disable_progressbar": True,
        },
    }


def skrl_train(
    artifacts: Path,
    *,
    num_envs: int,
    timesteps: int,
    rollouts: int,
    episode_length: int,
    lockstep: bool,
    substeps: int = 8,
) -> dict[str, Any]:
    from skrl.envs.wrappers.torch import wrap_env
    from skrl.utils.runner.torch import Runner

    env = PointMass(num_envs, episode_length=episode_length, lockstep=lockstep, substeps=substeps)
    log_root = artifacts / "logs" / "skrl" / "toy"
    log_dir = stamp() + "_ppo_torch"
    cfg = skrl_cfg("toy", timesteps, rollouts)
    cfg["agent"]["experiment"]["directory"] = str(log_root)
    cfg["agent"]["experiment"]["experiment_name"] = log_dir
    run_dir = log_root / log_dir
    dump_params(run_dir, num_envs, cfg, episode_length_s=episode_length * 0.05)
    runner = Runner(wrap_env(env, wrapper="isaaclab"), cfg)
    started = time.time()
    runner.run("train")
    ended = time.time()
    return run_record(
        artifacts,
        run_dir,
        env.env_steps,
        started,
        ended,
        env.stamps,
        num_envs,
        num_envs,
        timesteps=timesteps,
        write_interval=timesteps // 100,
    )


# ---------------------------------------------------------------------------------------------
# stable-baselines3 (PPO.learn with Isaac Lab's sb3/train.py callbacks and log_interval=None)


def sb3_train(
    artifacts: Path, *, num_envs: int, n_timesteps: int, log_interval: int, pr_curve: bool = False
) -> dict[str, Any]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CheckpointCallback, LogEveryNTimesteps
    from stable_baselines3.common.env_util import make_vec_env

    tally: dict[str, Any] = {"env_steps": 0, "stamps": []}
    vec = make_vec_env(lambda: PointMassGym(tally, episode_length=16), n_envs=num_envs, seed=0)
    run_dir = artifacts / "logs" / "sb3" / "Isaac-Toy-v0" / stamp()
    agent_cfg = {
        "seed": 42,
        "n_timesteps": n_timesteps,
        "policy": "MlpPolicy",
        "n_steps": 64,
        "batch_size": 256,
        "n_epochs": 4,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "policy_kwargs": {"net_arch": [32, 32]},
    }
    dump_params(run_dir, num_envs, agent_cfg)
    agent = PPO(
        "MlpPolicy",
        vec,
        verbose=0,
        tensorboard_log=str(run_dir),
        n_steps=64,
        batch_size=256,
        n_epochs=4,
        learning_rate=3e-4,
        gamma=0.99,
        policy_kwargs={"net_arch": [32, 32]},
        seed=42,
    )
    callbacks = [
        CheckpointCallback(save_freq=1000, save_path=str(run_dir), name_prefix="model", verbose=0),
        LogEveryNTimesteps(n_steps=log_interval),
    ]
    started = time.time()
    agent.learn(total_timesteps=n_timesteps, callback=callbacks, progress_bar=False, log_interval=None)
    ended = time.time()
    agent.save(str(run_dir / "model"))
    if pr_curve:
        # a second writer in the events folder: a pr-curve tensor and a non-scalar tensor next to sb3's
        import numpy as np
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(run_dir / "PPO_1"))
        rng = np.random.default_rng(0)
        writer.add_pr_curve("eval/pr", rng.integers(0, 2, 64), rng.random(64), global_step=1)
        writer.add_histogram("eval/actions", rng.normal(size=256), global_step=1)
        writer.close()
    stamps = tally["stamps"]
    # one vector step is num_envs gymnasium steps: keep the time of each vector step's last env
    vector_stamps = stamps[num_envs - 1 :: num_envs]
    return run_record(
        artifacts,
        run_dir,
        int(tally["env_steps"]),
        started,
        ended,
        vector_stamps,
        num_envs,
        num_envs,
        n_timesteps=n_timesteps,
        log_interval=log_interval,
    )


# ---------------------------------------------------------------------------------------------


def situation(
    out: Path, name: str, library: str, runs: list[dict[str, Any]], *, benchmark: list[int], notes: str
) -> None:
    """Write truth.json (the benchmark step = the runs listed in `benchmark`) and the tensorboard reading."""
    artifacts = out / name / "artifacts"
    chosen = [runs[i] for i in benchmark]
    truth = {
        "situation": name,
        "library": library,
        "versions": VERSIONS,
        "notes": notes,
        "runs": runs,
        "benchmark": {
            "runs": [r["folder"] for r in chosen],
            # the benchmark step's window: a little before the first training starts, after the last ends
            "window": [min(r["train_started"] for r in chosen) - 0.5, max(r["train_ended"] for r in chosen) + 0.5],
            "env_steps": sum(r["env_steps"] for r in chosen),
        },
    }
    for run_dir in {artifacts / r["folder"] for r in runs}:
        empty_checkpoints(run_dir)
    (out / name / "truth.json").write_text(json.dumps(truth, separators=(",", ":")) + "\n")
    print(f"{name}: {truth['benchmark']['env_steps']} env-steps", file=sys.stderr)


def tensorboard_reading(artifacts: Path) -> dict[str, Any]:
    """Every event file as the official tensorboard package reads it (its loader and data_compat).

    EventFileLoader yields the raw events; data_compat.migrate_value turns legacy simple_value
    summaries into the scalars plugin's tensors, which is how TensorBoard itself decides what a
    scalar is. Kept: every scalar-plugin value in file order (with its step and wall time), and
    the plugin name of every other tag.
    """
    from tensorboard import data_compat
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    files: dict[str, Any] = {}
    for path in sorted(artifacts.rglob("events.out.tfevents.*")):
        scalars: dict[str, list[list[Any]]] = {}
        plugins: dict[str, str] = {}
        for event in EventFileLoader(str(path)).Load():
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                value = data_compat.migrate_value(value)
                plugin = value.metadata.plugin_data.plugin_name
                if plugin:
                    plugins.setdefault(value.tag, plugin)
                if plugins.get(value.tag) == "scalars":
                    number = tensor_util.make_ndarray(value.tensor).item()
                    point = [int(event.step), float(event.wall_time), float(number)]
                    scalars.setdefault(value.tag, []).append(point)
        others = {tag: plugin for tag, plugin in plugins.items() if plugin != "scalars"}
        files[str(path.relative_to(artifacts))] = {"scalars": scalars, "plugins": others}
    return files


def write_readings(out: Path) -> None:
    """tensorboard_reading.json per situation, read once the training process has exited.

    rl_games never closes its tensorboardX writer: the last events reach the file only when the
    process ends, so a reading taken inside the training process would miss them.
    """
    for truth in sorted(out.glob("*/truth.json")):
        reading = json.dumps(tensorboard_reading(truth.parent / "artifacts"), separators=(",", ":"))
        (truth.parent / "tensorboard_reading.json").write_text(reading + "\n")


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--read"]:
        write_readings(Path(args[1]))
        return
    if args[:1] != ["--train"]:
        import subprocess

        out = Path(args[0]) if args else ROOT / "tests" / "metrics" / "data" / "real"
        subprocess.run([sys.executable, __file__, "--train", str(out), *args[1:]], check=True)
        write_readings(out)
        return
    out = Path(args[1])
    only = set(args[2:])
    out.mkdir(parents=True, exist_ok=True)

    def fresh(name: str) -> Path | None:
        if only and name not in only:
            return None
        shutil.rmtree(out / name, ignore_errors=True)
        artifacts = out / name / "artifacts"
        artifacts.mkdir(parents=True)
        return artifacts

    if a := fresh("rl_games_plain"):
        r = rl_games_train(a, num_envs=64, max_epochs=40)
        situation(out, "rl_games_plain", "rl_games", [r], benchmark=[0], notes="40 epochs, regular writer")

    if a := fresh("rl_games_resume"):
        first = rl_games_train(a, num_envs=64, max_epochs=20)
        ckpt = next((a / first["folder"] / "nn").glob("last_*.pth"))
        second = rl_games_train(a, num_envs=64, max_epochs=80, checkpoint=ckpt)
        situation(
            out,
            "rl_games_resume",
            "rl_games",
            [first, second],
            benchmark=[1],
            notes="20 epochs, then 60 more from its last checkpoint (max_epochs 80) in a new run folder",
        )

    if a := fresh("rl_games_pbt"):
        r = rl_games_train(
            a,
            num_envs=64,
            max_epochs=150,
            population_based_training=True,
            pbt_idx=0,
            summaries_interval_sec_min=1,
            substeps=16,
        )
        situation(
            out,
            "rl_games_pbt",
            "rl_games",
            [r],
            benchmark=[0],
            notes="population_based_training: rl_games' IntervalSummaryWriter drops most points",
        )

    if a := fresh("rsl_rl_plain"):
        r = rsl_rl_train(a, num_envs=64, iterations=40)
        situation(out, "rsl_rl_plain", "rsl_rl", [r], benchmark=[0], notes="40 iterations")

    if a := fresh("rsl_rl_resume"):
        first = rsl_rl_train(a, num_envs=64, iterations=20)
        ckpt = max((a / first["folder"]).glob("model_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
        second = rsl_rl_train(a, num_envs=64, iterations=20, resume=ckpt)
        situation(
            out,
            "rsl_rl_resume",
            "rsl_rl",
            [first, second],
            benchmark=[1],
            notes="20 iterations, then --resume from its last model for 20 more in a new run folder",
        )

    if a := fresh("rsl_rl_hparams"):
        r = rsl_rl_train(a, num_envs=64, iterations=40, hparams=True)
        situation(
            out,
            "rsl_rl_hparams",
            "rsl_rl",
            [r],
            benchmark=[0],
            notes="add_hparams after training: a newer sub-folder with its own event file",
        )

    if a := fresh("skrl_plain"):
        r = skrl_train(a, num_envs=64, timesteps=1600, rollouts=16, episode_length=16, lockstep=False)
        situation(out, "skrl_plain", "skrl", [r], benchmark=[0], notes="episodes of 16 steps, write every 16")

    if a := fresh("skrl_long_episodes"):
        r = skrl_train(a, num_envs=64, timesteps=1600, rollouts=16, episode_length=360, lockstep=True)
        situation(
            out,
            "skrl_long_episodes",
            "skrl",
            [r],
            benchmark=[0],
            notes="lock-step time-outs every 360 steps, writes every 16: total reward at 4 writes only",
        )

    if a := fresh("sb3_plain"):
        r = sb3_train(a, num_envs=16, n_timesteps=40_000, log_interval=2048)
        situation(out, "sb3_plain", "sb3", [r], benchmark=[0], notes="LogEveryNTimesteps(2048), log_interval=None")

    if a := fresh("sb3_pr_curve"):
        r = sb3_train(a, num_envs=16, n_timesteps=20_000, log_interval=2048, pr_curve=True)
        situation(
            out,
            "sb3_pr_curve",
            "sb3",
            [r],
            benchmark=[0],
            notes="a second writer adds a pr-curve tensor and a histogram to PPO_1",
        )


if __name__ == "__main__":
    os.environ.setdefault("WANDB_MODE", "disabled")
    main()
