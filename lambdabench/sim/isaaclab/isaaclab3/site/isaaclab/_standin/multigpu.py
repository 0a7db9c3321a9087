"""`isaaclab train_multigpu`, simulated: the 3.0.0 wheel's launcher (isaaclab/cli/multigpu.py) in front
of `python -m torch.distributed.run`, which runs this same file once per rank (the worker, as
isaaclab_rl/entrypoints/multigpu.py:487-490 does).

The launcher parses its own options (multigpu.py:91-162), forwards everything else to each rank
verbatim, appends `--distributed` and one shared `--run_timestamp` (entrypoints/multigpu.py:480-483)
so every rank names the same run folder, shows local rank 0's console only
(`--local_ranks_filter 0`, multigpu.py:204-207), and supervises torchrun in its own process group
(multigpu.py:383-427). torchrun here is the instance image's stand-in (lib/uv_standin.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime

TORCHRUN_ARGS = (
    "nnodes",
    "node_rank",
    "master_addr",
    "master_port",
    "rdzv_backend",
    "rdzv_endpoint",
    "rdzv_id",
    "max_restarts",
    "monitor_interval",
    "start_method",
    "role",
    "tee",
    "redirects",
    "local_ranks_filter",
    "log_dir",
)  # isaaclab/cli/multigpu.py:28-44
MULTI_GPU_BACKENDS = ("rl_games", "rsl_rl", "skrl")  # isaaclab_rl/entrypoints/api.py:46
WORKER_SCRIPT = os.path.abspath(__file__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train_multigpu",
        allow_abbrev=False,
        description="Launch multi-GPU RL training with the selected distributed launcher.",
    )
    parser.add_argument("--rl_library", choices=MULTI_GPU_BACKENDS, default="rsl_rl")
    parser.add_argument("--num_gpus", "--nproc_per_node", dest="nproc_per_node", default="gpu")
    parser.add_argument("--nnodes", default=None)
    parser.add_argument("--node_rank", default=None)
    parser.add_argument("--coordinator_address", default=None)
    for name in TORCHRUN_ARGS[2:]:
        if name == "start_method":
            parser.add_argument("--start_method", choices=("spawn", "fork", "forkserver"), default=None)
        else:
            parser.add_argument(f"--{name}", default=None)
    parser.add_argument("--log_all_ranks", action="store_true")
    parser.add_argument("--dry_run", action="store_true")
    return parser


def _visible_gpus() -> int:
    """CUDA_VISIBLE_DEVICES, else torch.cuda.device_count() (multigpu.py:283-297): the box's GPUs."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([e for e in visible.split(",") if e.strip()])
    from isaaclab._standin.host import gpu_spec

    return int(gpu_spec().get("gpus", 0))


def run_train_multigpu_cli(argv: list[str]) -> int:
    argv = list(argv)
    if not any(a == "--run_timestamp" or a.startswith("--run_timestamp=") for a in argv):
        argv.append(f"--run_timestamp={datetime.now().strftime('%Y-%m-%d_%H-%M-%S')}")
    parser = build_parser()
    args, worker_args = parser.parse_known_args(argv)
    if worker_args[:1] == ["--"]:
        worker_args = worker_args[1:]
    if args.coordinator_address is not None:  # multigpu.py:347-348 (skrl JAX is not simulated)
        parser.error("--coordinator_address is only supported with --rl_library skrl --ml_framework jax.")
    try:
        requested = int(str(args.nproc_per_node))
    except ValueError:
        requested = None
    if requested is not None:  # multigpu.py:300-318
        visible = _visible_gpus()
        if visible == 0:
            parser.error(
                f"--num_gpus/--nproc_per_node={requested} was requested but no CUDA devices are visible. "
                "Verify the CUDA installation and CUDA_VISIBLE_DEVICES."
            )
        if requested > visible:
            parser.error(
                f"--num_gpus/--nproc_per_node={requested} exceeds the {visible} CUDA device(s) visible to "
                "this process. Lower --num_gpus or expose more devices via CUDA_VISIBLE_DEVICES."
            )
    from isaaclab._standin.host import python_executable

    command = [python_executable(), "-m", "torch.distributed.run", "--nproc_per_node", str(args.nproc_per_node)]
    for name in TORCHRUN_ARGS:
        value = getattr(args, name)
        if value is not None:
            command += [f"--{name}", str(value)]
    if not args.log_all_ranks and args.local_ranks_filter is None:
        command += ["--local_ranks_filter", "0"]
    flags = [f for f in ("--distributed",) if f not in worker_args]
    command += [WORKER_SCRIPT, "--rl_library", args.rl_library, *worker_args, *flags]
    if args.dry_run:
        print(shlex.join(command))
        return 0
    print(f"[INFO] Launching distributed workers with: {shlex.join(command)}", flush=True)
    return _run_supervised(command)


def _run_supervised(command: list[str]) -> int:
    """torchrun in its own session; SIGINT/SIGTERM go to the whole group (multigpu.py:383-427)."""
    proc = subprocess.Popen(command, start_new_session=True)
    pgid = os.getpgid(proc.pid)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)

    previous = [(sig, signal.signal(sig, forward)) for sig in (signal.SIGINT, signal.SIGTERM)]
    try:
        return proc.wait()
    finally:
        for sig, handler in previous:
            signal.signal(sig, handler)
        deadline = time.monotonic() + 10.0  # multigpu.py:58 (_STRAGGLER_GRACE_S), then SIGKILL
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)


if __name__ == "__main__":
    # once per rank, under torchrun
    from isaaclab._standin import rl

    raise SystemExit(rl.run_cli("train", sys.argv[1:]))
