"""The bounded search for the largest num_envs that fits: doubling up to a bound, stop at the first OOM, bisect.

Stdlib only: copied beside mjx_bench.py onto the instance, and imported by the sweep's plan to price the
search (its worst case: worst_case_seconds(...), each probe under its cap, probe_cap(...)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

# XLA's status code for an allocation that failed (absl::StatusCode::kResourceExhausted = 8); JAX raises it as
# jax.errors.JaxRuntimeError with error_code 8 / error_code_string "RESOURCE_EXHAUSTED" (seen with jaxlib 0.10.2
# on the CPU and jax 0.11.2 on an H100, 2026-12-05)
OOM_CODE = "RESOURCE_EXHAUSTED"
# At 4,194,304 ants on the H100 (jax 0.11.2) the out-of-memory came while compiling: XLA's GPU autotuner ran
# every candidate kernel out of memory and raised NOT_FOUND ("All configs failed during profiling"), code 5.
# A NOT_FOUND from the compile of a size is therefore a size that does not fit; at any other stage it is a failure.
COMPILE_NO_FIT_CODE = "NOT_FOUND"
STOPS = ("oom", "bound", "time")  # why the doubling ended: first out-of-memory, the bound, a probe past its cap


def doubling_sizes(start: int, bound: int) -> list[int]:
    """start, 2·start, 4·start, … while under bound, then bound itself (so the bound is always tried)."""
    if start < 1 or bound < start:
        raise ValueError(f"need 1 <= start <= bound (start {start}, bound {bound})")
    sizes, n = [], start
    while n < bound:
        sizes.append(n)
        n *= 2
    return [*sizes, bound]


def max_probes(start: int, bound: int, bisect_steps: int) -> int:
    """The most probes a search may make: every doubling size, then bisect_steps between the last fit and the OOM."""
    return len(doubling_sizes(start, bound)) + max(0, bisect_steps)


def probe_cap(n: int, probe_seconds: float, per_million_envs: float = 0.0) -> float:
    """One probe's cap at n envs: a fixed part plus a part per env (Isaac Lab's start-up grows with num_envs)."""
    return probe_seconds + per_million_envs * n / 1e6


def worst_case_seconds(
    start: int, bound: int, bisect_steps: int, probe_seconds: float, per_million_envs: float
) -> float:
    """What a search may take at most (the plan prices it): every doubling size at its cap, then bisect_steps probes
    each at the bound's cap (every bisect size is below the bound). With a fixed cap: max_probes × probe_seconds."""
    doubling = sum(probe_cap(n, probe_seconds, per_million_envs) for n in doubling_sizes(start, bound))
    return doubling + max(0, bisect_steps) * probe_cap(bound, probe_seconds, per_million_envs)


def search(
    start: int,
    bound: int,
    bisect_steps: int,
    probe: Callable[[int], dict[str, Any]],
    *,
    probe_seconds: float = math.inf,
    per_million_envs: float = 0.0,
) -> dict[str, Any]:
    """Probe doubling sizes until the first that does not fit (probe(n)["fits"] false) or the bound, then bisect.

    A probe that ran longer than its cap (probe_cap: probe_seconds + per_million_envs per million envs) ends the search
    ("time"): the plan priced no more than that.
    """
    tries: list[dict[str, Any]] = []
    largest: int | None = None
    first_oom: int | None = None
    stopped = "bound"
    for n in doubling_sizes(start, bound):
        outcome = dict(probe(n), num_envs=n, phase="double")
        tries.append(outcome)
        if not outcome["fits"]:
            first_oom, stopped = n, "oom"
            break
        largest = n
        if float(outcome.get("seconds") or 0.0) > probe_cap(n, probe_seconds, per_million_envs):
            stopped = "time"
            break
    smallest_oom = first_oom
    if stopped == "oom" and largest is not None:
        low, high = largest, first_oom
        assert high is not None
        for _ in range(max(0, bisect_steps)):
            if high - low <= 1:
                break
            mid = (low + high) // 2
            outcome = dict(probe(mid), num_envs=mid, phase="bisect")
            tries.append(outcome)
            if outcome["fits"]:
                low = largest = mid
            else:
                high = smallest_oom = mid
            if float(outcome.get("seconds") or 0.0) > probe_cap(mid, probe_seconds, per_million_envs):
                break
    oom = next((t for t in tries if not t["fits"]), None)
    return {
        "start": start,
        "bound": bound,
        "bisect_steps": bisect_steps,
        "max_probes": max_probes(start, bound, bisect_steps),
        "probe_seconds": None if math.isinf(probe_seconds) else probe_seconds,
        "largest_fit": largest,
        "first_oom": first_oom,
        "smallest_oom": smallest_oom,
        "stopped": stopped,
        "oom_error": None
        if oom is None
        else {k: oom.get(k) for k in ("error_type", "error_code", "error_stage", "modelled")},
        "tries": tries,
    }
