"""Console-text fallback: throughput from rl_games and rsl_rl training logs when no events exist.

Console formats change between library versions; prefer TensorBoard events (metrics.tensorboard).
Recognised lines:

- rl_games: ``fps step: N fps step and policy inference: N fps total: N epoch: e/max
  [frames: F[/max]]`` — rate is "fps total"; env_steps is ``frames`` when printed.
- rsl_rl ≤ 2 blocks opened by ``Learning iteration i/N``: ``Computation: N steps/s (collection: Xs,
  learning Ys)``, ``Mean reward:``, ``Mean episode length:``, ``Total timesteps:``.
- rsl_rl 3 blocks: ``Steps per second: N``, ``Total steps:`` / ``Total timesteps:``, plus the same
  reward and episode-length lines.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from lambdabench.metrics import MetricsError, Point, Series

__all__ = ["load_console", "parse_console"]

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


def load_console(path: Path, library: str | None = None) -> Series:
    """Parse a saved console log file."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise MetricsError(f"cannot read console log {path}: {exc.strerror}") from exc
    return parse_console(text, library)
