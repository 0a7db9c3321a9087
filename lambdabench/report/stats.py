"""Honest statistics over seeds and repeats: median, IQM and a 95 % bootstrap interval (pure, reproducible).

The interquartile mean drops the lowest and highest quarter (int(0.25·n) samples at each end, the rule of
scipy.stats.trim_mean(x, 0.25), which is what rliable's IQM and physx-newton-bench report). The interval is
a percentile bootstrap of the mean: BOOTSTRAP_RESAMPLES resamples with replacement drawn by a
random.Random seeded with BOOTSTRAP_SEED, so the same samples always give the same interval.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BOOTSTRAP_SEED = 28  # fixed: a report built twice from the same ledger reads the same
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Stats:
    """One figure over a type's samples (every seed of every repeat): mean, median, IQM, 95 % interval."""

    n: int
    mean: float
    median: float
    iqm: float
    ci95: tuple[float, float] | None  # None below two samples: one number has no spread


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean after int(0.25·n) samples are cut from each end."""
    ordered = sorted(values)
    cut = int(0.25 * len(ordered))
    return statistics.fmean(ordered[cut : len(ordered) - cut])


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float] | None:
    """Percentile bootstrap 95 % interval of the mean; None below two samples."""
    n = len(values)
    if n < 2:
        return None
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(values, k=n)) for _ in range(resamples))
    tail = (1 - CONFIDENCE) / 2
    lo = means[max(0, math.floor(tail * resamples))]
    hi = means[min(resamples - 1, math.ceil((1 - tail) * resamples) - 1)]
    return (lo, hi)


def summarize(values: Iterable[float | None]) -> Stats | None:
    """Stats of the finite values; None when there are none."""
    present = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not present:
        return None
    return Stats(
        n=len(present),
        mean=statistics.fmean(present),
        median=statistics.median(present),
        iqm=iqm(present),
        ci95=bootstrap_ci(present),
    )


def separated(a: Stats, b: Stats) -> bool | None:
    """Whether two types differ by more than their spread: their 95 % intervals do not overlap.

    None when either has fewer than two samples (no interval, so no verdict).
    """
    if a.ci95 is None or b.ci95 is None:
        return None
    return a.ci95[1] < b.ci95[0] or b.ci95[1] < a.ci95[0]
