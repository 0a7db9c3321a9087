"""Metrics from a run's artifacts: one training series, throughput statistics, the MetricsError."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lambdabench.errors import LambdabenchError

__all__ = [
    "LIBRARIES",
    "MetricsError",
    "Point",
    "Series",
    "ThroughputStats",
    "throughput_stats",
]

LIBRARIES = ("rl_games", "rsl_rl", "skrl", "sb3")


class MetricsError(LambdabenchError):
    """An artifact (event file, KPI JSON, telemetry CSV, console log) cannot be read."""


@dataclass(frozen=True)
class Point:
    """One logged training iteration, in units common to every RL library."""

    iteration: int
    env_steps: int | None = None
    env_steps_per_s: float | None = None
    reward: float | None = None
    episode_length: float | None = None
    wall_time: float | None = None


@dataclass
class Series:
    """A run's training curve, plus where it came from and how missing units were derived."""

    library: str | None
    source: str  # "tensorboard", "console" or "kpi"
    points: list[Point] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def throughput(self) -> list[float]:
        """The env-steps/s values in iteration order, skipping iterations that have none."""
        return [
            p.env_steps_per_s for p in self.points if p.env_steps_per_s is not None and math.isfinite(p.env_steps_per_s)
        ]

    @property
    def total_env_steps(self) -> int | None:
        """The last known cumulative env-steps count."""
        steps = [p.env_steps for p in self.points if p.env_steps is not None]
        return steps[-1] if steps else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (raw tags are left out: they can be large)."""
        return {
            "library": self.library,
            "source": self.source,
            "notes": list(self.notes),
            "points": [asdict(p) for p in self.points],
        }


@dataclass(frozen=True)
class ThroughputStats:
    """Throughput after warm-up, and what was dropped to get there."""

    mean: float
    std: float
    peak: float
    samples: int
    dropped: int
    warmup_rule: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)


def throughput_stats(
    values: Iterable[float],
    *,
    warmup_samples: int | None = None,
    warmup_fraction: float = 0.1,
) -> ThroughputStats | None:
    """Mean/std/peak after warm-up: drop max(warmup_samples or 1, ceil(fraction * n)) leading samples.

    The first iterations of every library include JIT, shader and allocator warm-up, so they are
    never representative; at least one is always dropped when two or more samples exist, and at
    least one sample is always kept. Returns None when no finite samples exist.
    """
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError("warmup_fraction must be in [0, 1)")
    finite: Sequence[float] = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(finite)
    if n == 0:
        return None
    minimum = 1 if warmup_samples is None else max(0, warmup_samples)
    drop = max(minimum, math.ceil(warmup_fraction * n))
    drop = min(drop, n - 1)
    kept = finite[drop:]
    rule = f"dropped first {drop} of {n} samples (max of {minimum} and ceil({warmup_fraction:g}*n))"
    return ThroughputStats(
        mean=statistics.fmean(kept),
        std=statistics.pstdev(kept) if len(kept) > 1 else 0.0,
        peak=max(kept),
        samples=len(kept),
        dropped=drop,
        warmup_rule=rule,
    )
