"""Console-text fallback: throughput from rl_games and rsl_rl training logs when no events exist.

Console formats change between library versions; prefer TensorBoard events (metrics.tensorboard).
Recognised lines:

- rl_games: ``fps step: N fps step and policy inference: N fps total: N epoch: e/max
  [frames: F[/max]]`` — rate is "fps total"; env_steps is ``frames`` when printed.
- rsl_rl ≤ 2 blocks opened by ``Learning iteration i/N``: ``Computation: N steps/s (collection: Xs,
  learning Ys)``, ``Mean reward:``, ``Mean episode length:``, ``Total timesteps:``.
- rsl_rl 3 blocks: ``Steps per second: N``, ``Total steps:`` / ``Total timesteps:``, plus the same
  reward and episode-length lines.

`isaaclab_startup` reads Isaac Lab's own start-up timers and rsl_rl's first iteration from the same text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from lambdabench.metrics import MetricsError, Point, Series

__all__ = ["FIRST_STEP_UNKNOWN", "ConsoleStartup", "isaaclab_startup", "load_console", "parse_console"]

_NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

_RL_GAMES = re.compile(
    rf"fps step:\s*(?P<step>{_NUM})\s+fps step and policy inference:\s*(?P<inf>{_NUM})\s+"
    rf"fps total:\s*(?P<total>{_NUM})\s+epoch:\s*(?P<epoch>[-+]?\d+)\s*/\s*[-+]?\d+"
    rf"(?:\s+frames:\s*(?P<frames>{_NUM}))?"
)
_RSL_ITERATION = re.compile(r"Learning iteration\s+(?P<it>\d+)\s*/\s*\d+")
_RSL_FIELDS = {
    "fps": re.compile(rf"(?:Computation:\s*(?P<v>{_NUM})\s*steps/s|Steps per second:\s*(?P<w>{_NUM}))"),
    "reward": re.compile(rf"Mean (?:total )?reward:\s*(?P<v>{_NUM})"),
    "length": re.compile(rf"Mean episode length:\s*(?P<v>{_NUM})"),
    "steps": re.compile(rf"Total (?:time)?steps:\s*(?P<v>{_NUM})"),
}


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _integer(text: str | None) -> int | None:
    value = _number(text)
    return int(value) if value is not None else None


@dataclass
class _Block:
    iteration: int
    values: dict[str, float] = field(default_factory=dict)

    def point(self) -> Point:
        steps = self.values.get("steps")
        return Point(
            iteration=self.iteration,
            env_steps=int(steps) if steps is not None else None,
            env_steps_per_s=self.values.get("fps"),
            reward=self.values.get("reward"),
            episode_length=self.values.get("length"),
        )


def parse_console(text: str, library: str | None = None) -> Series:
    """Parse training console output; lines that match nothing are ignored."""
    clean = _ANSI.sub("", text)
    if library not in (None, "rl_games", "rsl_rl"):
        raise MetricsError(f"no console parser for {library}", "use its TensorBoard events instead")
    if library == "rl_games" or (library is None and _RL_GAMES.search(clean)):
        return _parse_rl_games(clean)
    return _parse_rsl_rl(clean)


def _parse_rl_games(text: str) -> Series:
    series = Series(library="rl_games", source="console")
    for match in _RL_GAMES.finditer(text):
        epoch = _integer(match["epoch"])
        if epoch is None:
            continue
        series.points.append(
            Point(
                iteration=epoch,
                env_steps=_integer(match["frames"]),
                env_steps_per_s=_number(match["total"]),
            )
        )
    series.notes.append("rl_games console: rate = 'fps total'; env_steps from 'frames:' if printed")
    return series


def _parse_rsl_rl(text: str) -> Series:
    series = Series(library="rsl_rl", source="console")
    block: _Block | None = None
    for line in text.splitlines():
        start = _RSL_ITERATION.search(line)
        if start:
            if block is not None:
                series.points.append(block.point())
            block = _Block(int(start["it"]))
            continue
        if block is None:
            continue
        for name, pattern in _RSL_FIELDS.items():
            match = pattern.search(line)
            if match:
                value = _number(match["v"] if match["v"] is not None else match.groupdict().get("w"))
                if value is not None:
                    block.values[name] = value
                break
    if block is not None:
        series.points.append(block.point())
    series.notes.append(
        "rsl_rl console: rate = 'Computation: N steps/s' (≤2) or 'Steps per second' (3); "
        "env_steps = 'Total timesteps'/'Total steps'"
    )
    return series


# Isaac Lab's Timer around the env's scene creation and simulation start prints, on leaving its context, its message
# then the time: 3.x "<msg> Last: 131.839675 s, Mean: ..., Std: ..., N: 1" (isaaclab 3.0.0 wheel
# isaaclab/utils/timer.py:254-261; envs/direct_rl_env.py:146,170, manager_based_env.py:172,193), 2.x and the 1.x fork
# "<msg> : 1.234567 seconds" (ooctipus/IsaacLab@afdbdea source/isaaclab/isaaclab/utils/timer.py:147-149,
# envs/direct_rl_env.py:131,163; RajitGhosh/IsaacLab-Fork@b24a0fa source/extensions/omni.isaac.lab/omni/isaac/lab/
# utils/timer.py:133-135, envs/direct_rl_env.py:111,130)
_IL_TIMER = re.compile(
    rf"^\[INFO\]: Time taken for (?P<stage>scene creation|simulation start)"
    rf"(?: Last: (?P<last>{_NUM}) s,| : (?P<seconds>{_NUM}) seconds$)"
)
# rsl_rl's block: "Iteration time: X.XXs" = that iteration's collection + learning time (leggedrobotics/rsl_rl@v2.0.1
# rsl_rl/runners/on_policy_runner.py:174,249; v5.4.2 rsl_rl/utils/logger.py:177,276)
_RSL_ITERATION_TIME = re.compile(rf"^\s*Iteration time:\s*(?P<v>{_NUM})s\s*$")


# why a training run's first step is unknown (metric first_step_unknown): never 0
FIRST_STEP_UNKNOWN = {
    1: "no training console was logged for the pass",
    2: "the training console shows no first iteration (rsl_rl's 'Iteration time' of iteration 0): it ended before",
    3: "the RL library logs no time of one iteration (rsl_rl's console and events, rl_games' events are read)",
}


@dataclass(frozen=True)
class ConsoleStartup:
    """What a training console says of its start-up: Isaac Lab's timers and the first training iteration (seconds)."""

    scene_creation_s: float | None = None
    simulation_start_s: float | None = None
    first_iteration_s: float | None = None  # rsl_rl's "Iteration time" of iteration 0


def isaaclab_startup(text: str) -> ConsoleStartup:
    """Isaac Lab's start-up timers and rsl_rl's first iteration time, read by line structure; with several
    processes in one console (multi-GPU) a timer is the slowest one's, which the training waits for."""
    timers: dict[str, float] = {}
    first: float | None = None
    iteration: int | None = None
    for line in _ANSI.sub("", text).splitlines():
        timer = _IL_TIMER.match(line)
        if timer:
            value = _number(timer["last"] if timer["last"] is not None else timer["seconds"])
            key = timer["stage"]
            if value is not None:
                timers[key] = max(value, timers.get(key, value))
            continue
        start = _RSL_ITERATION.search(line)
        if start:
            iteration = int(start["it"])
            continue
        spent = _RSL_ITERATION_TIME.match(line)
        if spent and iteration == 0 and first is None:
            first = _number(spent["v"])
    return ConsoleStartup(timers.get("scene creation"), timers.get("simulation start"), first)


def load_console(path: Path, library: str | None = None) -> Series:
    """Parse a saved console log file."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise MetricsError(f"cannot read console log {path}: {exc.strerror}") from exc
    return parse_console(text, library)
