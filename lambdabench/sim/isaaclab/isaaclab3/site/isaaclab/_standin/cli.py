"""The `isaaclab` command of the 3.0.0 wheel (isaaclab/cli/__init__.py:183-431), simulated.

`train`, `train_multigpu`, `play`, `list_envs` and `benchmark training` behave as the real ones do for
the rsl_rl library (rsl-rl-lib 5.5.1 is a base dependency of isaaclab 3.0.0); the other subcommands exist in
the real CLI and answer here with one line saying they are not simulated (exit 2).
"""

from __future__ import annotations

import sys

from isaaclab._standin.host import die

SUBCOMMANDS = (
    "benchmark",
    "leapp",
    "microbenchmark",
    "train",
    "train_multigpu",
    "play",
    "zero_agent",
    "random_agent",
    "list_envs",
    "demo",
    "example",
    "teleop",
)

HELP = """usage: isaaclab [-h] [-i [INSTALL]] [-f] [-p ...] [-s ...] [-t ...] [-o ...] [--editor ...] [-d]
                [--docs_multi] [-n ...] [-c [CONDA]] [-u [UV]] [--isaacsim_source PATH]

Isaac Lab CLI (simulated by lambdabench: train, train_multigpu, play, list_envs, benchmark training)

commands:
  benchmark       Run a runtime, startup, training, or play benchmark
  list_envs       List registered environments and presets
  train           Train an RL policy
  train_multigpu  Train an RL policy across multiple GPUs
  play            Play a trained RL policy
"""


def cli() -> None:
    """Dispatch on sys.argv[1] as isaaclab/cli/__init__.py:211-226 does; no command prints help."""
    argv = sys.argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(HELP)
        raise SystemExit(0)
    command, rest = argv[0], argv[1:]
    if command == "train":
        from isaaclab._standin import rl

        raise SystemExit(rl.run_cli("train", rest))
    if command == "play":
        from isaaclab._standin import rl

        raise SystemExit(rl.run_cli("play", rest))
    if command == "train_multigpu":
        from isaaclab._standin import multigpu

        raise SystemExit(multigpu.run_train_multigpu_cli(rest))
    if command == "benchmark":  # cli/__init__.py:165-173 → isaaclab/benchmark/dispatch.py:70-107
        from isaaclab._standin import benchmark

        raise SystemExit(benchmark.run_cli(rest))
    if command == "list_envs":
        from isaaclab._standin import rl

        raise SystemExit(rl.list_envs())
    if command in SUBCOMMANDS:
        die(
            f"[simulated] `isaaclab {command}` exists in Isaac Lab 3.0.0 but lambdabench's stand-in does not "
            "simulate it (train, train_multigpu, play, list_envs, benchmark training)",
            2,
        )
    # the real parser (isaaclab/cli/__init__.py:230-386) rejects what it does not know
    die(HELP.split("\n\n")[0] + f"\nisaaclab: error: unrecognized arguments: {' '.join(argv)}", 2)
