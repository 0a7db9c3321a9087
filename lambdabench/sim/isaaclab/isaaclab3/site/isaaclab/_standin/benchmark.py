"""`isaaclab benchmark training --rl_library rsl_rl ...`, simulated (the 3.0.0 wheel's isaaclab/benchmark).

The dispatch follows isaaclab/benchmark/dispatch.py:70-139; the rsl_rl backend
benchmark_train_rsl_rl.py:29-107 (arguments) and 110-387 (train, then read the run's TensorBoard tags
back and write a TrainingBundle). The bundle has the shape of isaaclab/benchmark/schema.py (SCHEMA_VERSION
"1.4", lines 29-450) as serialize.py writes it, checked against a real bundle from an H100
(tests/workloads/data/h100-il3/isaaclab-benchmark-training-n4096.json); its numbers are the stand-in's
numpy cart-pole's, not Newton's. Only the schema formatter is written (the default, line 77).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from isaaclab._standin import host, rl

SCHEMA_VERSION = "1.4"  # isaaclab/benchmark/schema.py:29
# dispatch.py:18-38: the workflows the real CLI accepts (with _multigpu / legacy suffixes: multigpu.py)
WORKFLOWS = ("runtime", "startup", "training", "play")
RL_BACKENDS = ("rl_games", "rsl_rl", "sb3", "skrl")  # dispatch.py:25-31, sorted as line 126 does
WHERE = "isaaclab/benchmark/entrypoints/backends/rsl_rl/benchmark_train_rsl_rl.py"
# capture.py:146-172 (Versions' fields) ← the distributions whose metadata the VersionInfo recorder reads
VERSION_DISTRIBUTIONS = {
    "isaaclab": "isaaclab",
    "isaacsim": "isaacsim",
    "kit": None,
    "newton": "newton",
    "warp": "warp-lang",
    "mjwarp": "mujoco-warp",
    "torch": "torch",
    "rsl_rl": "rsl-rl-lib",
    "rl_games": "rl-games",
    "skrl": "skrl",
    "sb3": "stable-baselines3",
}


def run_cli(argv: list[str]) -> int:
    """`isaaclab benchmark <workflow> ...`: training with rsl_rl runs; the rest say they are not simulated."""
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: isaaclab [-h] {{{','.join(WORKFLOWS)},...}}\n\nRun an Isaac Lab benchmark.")
        return 0 if argv else 2
    workflow, rest = argv[0], argv[1:]
    if workflow != "training":
        if workflow.split("_")[0] in WORKFLOWS:
            host.die(f"[simulated] `isaaclab benchmark {workflow}` is not simulated (training only)", 2)
        host.die(
            f"usage: isaaclab [-h] {{{','.join(WORKFLOWS)},...}}\nisaaclab: error: argument workflow: "
            f"invalid choice: '{workflow}'",
            2,
        )
    selector = argparse.ArgumentParser(add_help=False)
    selector.add_argument("--rl_library", choices=RL_BACKENDS)
    selected, backend_argv = selector.parse_known_args(rest)
    if selected.rl_library is None:  # dispatch.py:128-136
        print("\ntraining: error: the following argument is required: --rl_library", file=sys.stderr)
        return 2
    if selected.rl_library != "rsl_rl":
        if not host.installed(rl.DISTRIBUTION_OF[selected.rl_library]):
            host.traceback_exit(
                "ModuleNotFoundError",
                f"No module named '{rl.MODULE_OF[selected.rl_library]}'",
                f"isaaclab/benchmark/entrypoints/backends/{selected.rl_library}/benchmark_train_{selected.rl_library}.py",
            )
        host.die(f"[simulated] the stand-in benchmarks rsl_rl training only, not {selected.rl_library}", 2)
    return training(backend_argv)


def _positive(value: str) -> int:
    """isaaclab/benchmark/cli.py:19-24."""
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be greater than zero")
    return number


def _parser() -> argparse.ArgumentParser:
    """benchmark_train_rsl_rl.py:51-100: the train arguments, max_iterations positive, and the benchmark's own."""
    parser = rl._train_parser()
    for action in parser._actions:
        if action.dest == "max_iterations":
            action.type = _positive
    parser.add_argument("--output_path", type=str, default=".")
    parser.add_argument("--measure_sync_step", action="store_true")
    parser.add_argument("--warmup_steps", type=int, default=1)
    parser.add_argument("--benchmark_formatter", type=str, default="schema")
    parser.add_argument("--ema_alpha", type=float, default=0.1)
    parser.add_argument("--no_series", action="store_true", default=False)
    parser.add_argument("--check_success", action="store_true", default=False)
    return parser


def training(argv: list[str]) -> int:
    """benchmark_train_rsl_rl.py:110-387: train, read the logged tags back, write the bundle."""
    imports_t0 = time.perf_counter()
    args, remaining = _parser().parse_known_args(argv)
    formatters = [f.strip() for f in args.benchmark_formatter.split(",") if f.strip()] or ["omniperf"]
    if formatters != ["schema"]:
        host.die(f"[simulated] only the schema formatter is simulated, not {args.benchmark_formatter}", 2)
    imports_t1 = config_t0 = time.perf_counter()
    config_t1 = time.perf_counter()
    start_utc = datetime.now(timezone.utc).isoformat()
    app_t0 = time.perf_counter()
    ran = rl.train_parsed(args, remaining, WHERE)
    app_t1 = app_t0  # kitless: launch_simulation starts no app (the real bundle's app_launch is 0.0006 s)
    logged: list[dict[str, float]] = ran["logged"]
    iteration_times = [r["collection_time"] + r["learning_time"] for r in logged]
    steps = ran["task"].num_steps_per_env * ran["num_envs"]
    startup = {
        "app_launch": app_t1 - app_t0,
        "env_creation": ran["env_created"] - app_t0,
        "first_step": iteration_times[0] if iteration_times else 0.0,
        "python_imports": imports_t1 - imports_t0,
        "task_config": config_t1 - config_t0,
    }
    end_utc = datetime.now(timezone.utc).isoformat()
    bundle = {
        "run": _run_identity(ran, args, start_utc, end_utc),
        "versions": _versions(),
        "hardware": _hardware(),
        "runtime": {
            "startup_time_s": startup,
            "iterations_completed": len(iteration_times),
            "total_wall_time_s": float(sum(iteration_times)),
            "steps_per_iteration": steps,
            "iteration_time_s": _mean_std_peak(iteration_times),
            "collection_fps": _mean_std_peak(
                [steps / r["collection_time"] for r in logged if r["collection_time"] > 0]
            ),
            "total_fps": _mean_std_peak([float(r["total_fps"]) for r in logged]),
            "iterations_per_s": _mean_std_peak([1.0 / t for t in iteration_times if t > 0]),
            # the stand-in times no env.step() calls (stepping.py's recorder); the real one fills this in
            "environment_step_timing": None,
        },
        "resources": _resources(),
        "learning": _learning(logged, args.ema_alpha, keep_series=not args.no_series),
        "success_rate": None,
        "checkpoint_path": _checkpoint(ran["log_dir"]),
        "video_path": None,
        "extra": None,
        "schema_version": SCHEMA_VERSION,
    }
    path = _write(bundle, args.output_path, ran["task"].id)
    # console.print_training_report's table, shortened (its exact layout is not simulated)
    total = bundle["runtime"]["total_fps"]["mean"]
    print(f"[simulated] benchmark training: total_fps {total:,.0f} env-steps/s; bundle written to {path}")
    return 0


def _run_identity(ran: dict[str, Any], args: argparse.Namespace, start: str, end: str) -> dict[str, Any]:
    """builders.build_run_identity / capture.synth_run_id (capture.py:85-106)."""
    stamp = end.translate(str.maketrans("", "", ":-"))[:15]  # benchmark_train_rsl_rl.py:345
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    task = ran["task"].id
    return {
        "run_id": f"rsl_rl_{ran['physics']}_{task}_{stamp}_seed{ran['seed']}",
        "framework": "rsl_rl",
        "config": {"physics_backend": ran["physics"], "rendering_backend": "none", "presets": []},
        "task": task,
        "seed": ran["seed"],
        "start_time_utc": start,
        "end_time_utc": end,
        "duration_s": seconds,
        "status": "completed",
        "num_envs": ran["num_envs"],
        "max_iterations": ran["iterations"],
    }


def _version(distribution: str | None) -> str | None:
    if distribution is None:
        return None
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _versions() -> dict[str, Any]:
    """schema.py:100-133 (Versions); what the venv has installed, None where absent."""
    out: dict[str, Any] = {key: _version(dist) for key, dist in VERSION_DISTRIBUTIONS.items()}
    out["isaaclab"] = out["isaaclab"] or "3.0.0"
    out["torch"] = out["torch"] or "unknown"  # capture.py:152: "unknown" when not recorded
    out.update(git_commit=None, git_branch=None, git_dirty=False, numpy=_version("numpy"))
    for key in ("isaaclab_newton", "isaaclab_physx", "isaaclab_ov", "isaaclab_tasks", "isaaclab_rl", "ovrtx"):
        out[key] = None  # the real wheel bundles these packages inside isaaclab: None in the real bundle too
    out.update(ovphysx=None, mujoco=_version("mujoco"), cuda_bindings=_version("cuda-bindings"))
    out.update(usd_core=_version("usd-core"), usd_exchange=_version("usd-exchange"), isaaclab_release=None)
    return out


def _hardware() -> dict[str, Any]:
    """schema.py:66-96, from the simulated box's GPUs."""
    spec = host.gpu_spec()
    mem_gb = round(float(spec.get("memory_mib", 0) or 0) / 1024, 2)
    devices = [{"name": spec.get("model", ""), "mem_gb": mem_gb, "compute_cap": "9.0 (guess)"}]
    return {
        "hostname": platform.node(),
        "gpu_devices": devices * int(spec.get("gpus", 1) or 1),
        "cpu_name": platform.processor() or "unknown",
        "cpu_count": os.cpu_count() or 0,
        "ram_gb": float(spec.get("memory_gib", 0) or 0),
    }


def _resources() -> dict[str, Any]:
    """schema.py:339-373; the stand-in samples no GPU (utilisation and memory are zero, marked as such)."""
    zero = {"mean": 0.0, "std": 0.0, "peak": None}
    return {
        "gpu_util_pct": zero,
        "gpu_mem_gb": {"mean": 0.0, "std": 0.0, "peak": 0.0},
        "cpu_util_pct": zero,
        "ram_gb": {"mean": 0.0, "std": 0.0, "peak": 0.0},
        "devices": {},
    }


def _learning(logged: list[dict[str, float]], alpha: float, *, keep_series: bool) -> dict[str, Any]:
    """builders.build_learning (builders.py:251-291) over rsl_rl's Train/mean_reward and episode length."""

    def curve(values: list[float]) -> dict[str, Any]:
        ema = float(values[0]) if values else 0.0
        for value in values[1:]:
            ema = alpha * value + (1.0 - alpha) * ema  # metrics.py:285-298
        return {
            "final_raw": values[-1] if values else 0.0,
            "final_ema": ema,
            "series_per_iter": values if keep_series else None,
        }

    return {
        "ema_alpha": alpha,
        "reward": curve([r["reward"] for r in logged if "reward" in r]),
        "ep_length": curve([r["episode_length"] for r in logged if "episode_length" in r]),
        "success_rate": None,
    }


def _mean_std_peak(values: list[float]) -> dict[str, float]:
    """metrics.py:255-266: sample standard deviation, peak = max; empty = zeros."""
    if not values:
        return {"mean": 0.0, "std": 0.0, "peak": 0.0}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.mean(values), "std": std, "peak": max(values)}


def _checkpoint(log_dir: Path) -> str | None:
    found = sorted(log_dir.glob("model_*.pt"), key=lambda p: int(p.stem.split("_")[-1]))
    return str(found[-1]) if found else None


def _write(bundle: dict[str, Any], output_path: str, task: str) -> Path:
    """<output_path>/benchmark_training_<task>_<date-time-µs>_<8 hex>.json (formatters.py:24-35, 660-682)."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"benchmark_training_{task}_{stamp}_{uuid.uuid4().hex[:8]}.json"
    tmp = path.with_name(path.name + ".tmp")  # serialize.py:27-51: indent=2, written atomically
    tmp.write_text(json.dumps(bundle, indent=2) + "\n")
    os.replace(tmp, path)
    return path
