"""Cross-rank aggregation of per-rank benchmark results (stdlib only: the runners import it too).

The rule everywhere: a multi-process total is the SUM over ranks of each rank's own throughput,
each measured over the same barrier-synchronised window. Never rank 0's number times the world
size, and never one rank's counters divided by another's time (Isaac Lab's benchmark_rsl_rl.py
"Total FPS" mistake). This module is copied beside mjx_bench.py and dist_check.py on instances,
so it must not import lambdabench.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "LOCAL_STAMP_FORMAT",
    "AggregationError",
    "aggregate_ranks",
    "check_distinct_devices",
    "local_stamp",
    "rep_stats",
    "sum_rank_rates",
    "telemetry_seconds",
    "telemetry_window",
    "to_run_record",
]

# nvidia-smi's timestamp format (local time, no zone); lambdabench.metrics.telemetry reads it the
# same way, so windows written in it can be compared with telemetry rows directly.
LOCAL_STAMP_FORMAT = "%Y/%m/%d %H:%M:%S.%f"


class AggregationError(ValueError):
    """Per-rank results that cannot be combined (missing rank, mismatched sweep, shared device)."""


def rep_stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean, population std and peak of timed repetitions (all of them: warm-up is already out)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None, "peak": None, "samples": 0}
    return {
        "mean": statistics.fmean(finite),
        "std": statistics.pstdev(finite) if len(finite) > 1 else 0.0,
        "peak": max(finite),
        "samples": len(finite),
    }


def sum_rank_rates(rates: Mapping[int, float], world_size: int) -> float:
    """Total rate = sum of every rank's own rate; every rank 0..world_size-1 must be present."""
    missing = sorted(set(range(world_size)) - set(rates))
    if missing:
        raise AggregationError(f"no result from rank(s) {missing} of world size {world_size}")
    extra = sorted(set(rates) - set(range(world_size)))
    if extra:
        raise AggregationError(f"result from rank(s) {extra} outside world size {world_size}")
    bad = [r for r, v in rates.items() if v is None or not math.isfinite(v) or v < 0]
    if bad:
        raise AggregationError(f"rank(s) {sorted(bad)} reported no valid rate")
    return float(sum(rates[r] for r in range(world_size)))


def check_distinct_devices(devices: Mapping[int, str | None]) -> None:
    """Raise if two ranks ran on the same GPU (by UUID or PCI bus id); None means no GPU."""
    seen: dict[str, int] = {}
    for rank in sorted(devices):
        ident = devices[rank]
        if not ident:
            continue
        if ident in seen:
            raise AggregationError(
                f"ranks {seen[ident]} and {rank} ran on the same device {ident}: "
                "each rank must pin its own GPU (LOCAL_RANK)"
            )
        seen[ident] = rank


def local_stamp(epoch_s: float) -> str:
    """A wall-clock instant in nvidia-smi's local-time format."""
    return datetime.fromtimestamp(epoch_s).strftime(LOCAL_STAMP_FORMAT)


def telemetry_seconds(stamp: str) -> float:
    """Seconds on lambdabench.metrics.telemetry's clock (local time read as UTC) for a stamp."""
    return datetime.strptime(stamp, LOCAL_STAMP_FORMAT).replace(tzinfo=timezone.utc).timestamp()


def telemetry_window(run: Mapping[str, Any]) -> tuple[float, float] | None:
    """(start, end) of one N's timed region on the telemetry clock, or None if not recorded."""
    start, end = run.get("window_start_local"), run.get("window_end_local")
    if not start or not end:
        return None
    return telemetry_seconds(start), telemetry_seconds(end)


def _by_n(result: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    return {int(run["num_envs"]): run for run in result.get("runs", [])}


def aggregate_ranks(rank_results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Combine per-rank benchmark results into totals per N (sum of per-rank rates per rep)."""
    if not rank_results:
        raise AggregationError("no per-rank results to aggregate")
    world_size = int(rank_results[0]["dist"]["world_size"])
    by_rank: dict[int, Mapping[str, Any]] = {}
    for result in rank_results:
        dist = result["dist"]
        if int(dist["world_size"]) != world_size:
            raise AggregationError(
                f"rank {dist['rank']} reports world size {dist['world_size']}, expected {world_size}"
            )
        rank = int(dist["rank"])
        if rank in by_rank:
            raise AggregationError(f"two results claim rank {rank}")
        if result.get("status") not in (None, "ok"):
            raise AggregationError(f"rank {rank} finished with status {result.get('status')!r}")
        by_rank[rank] = result
    missing = sorted(set(range(world_size)) - set(by_rank))
    if missing:
        raise AggregationError(f"no result from rank(s) {missing} of world size {world_size}")
    check_distinct_devices({r: res.get("dist", {}).get("device_id") for r, res in by_rank.items()})

    runs_by_rank = {r: _by_n(res) for r, res in by_rank.items()}
    sizes = sorted(runs_by_rank[0])
    for rank, runs in runs_by_rank.items():
        if sorted(runs) != sizes:
            raise AggregationError(f"rank {rank} ran N={sorted(runs)}, rank 0 ran N={sizes}")

    totals: list[dict[str, Any]] = []
    for n in sizes:
        per_rank = {r: runs_by_rank[r][n] for r in range(world_size)}
        reps = {r: run["reps"] for r, run in per_rank.items()}
        counts = {len(v) for v in reps.values()}
        if len(counts) != 1:
            raise AggregationError(f"N={n}: ranks timed different numbers of repetitions {counts}")
        (count,) = counts
        # rep i started on every rank right after the same barrier, so rep i's rates add up
        total_per_rep = [
            sum_rank_rates({r: reps[r][i]["env_steps_per_s"] for r in reps}, world_size) for i in range(count)
        ]
        steps = sum(rep["env_steps"] for r in reps for rep in reps[r])
        starts = [run.get("window_start_unix") for run in per_rank.values()]
        ends = [run.get("window_end_unix") for run in per_rank.values()]
        window = None
        if all(s is not None for s in starts) and all(e is not None for e in ends):
            span = max(e for e in ends if e is not None) - min(s for s in starts if s is not None)
            # all steps over the union of the ranks' windows: a lower bound that checks the sum
            window = steps / span if span > 0 else None
        stamps_start = [run.get("window_start_local") for run in per_rank.values()]
        stamps_end = [run.get("window_end_local") for run in per_rank.values()]
        totals.append(
            {
                "num_envs": n,
                "num_envs_total": n * world_size,
                "env_steps_per_s": rep_stats(total_per_rep),
                "total_per_rep": total_per_rep,
                "total_env_steps": steps,
                "window_env_steps_per_s": window,
                "window_start_local": min((s for s in stamps_start if s), default=None),
                "window_end_local": max((s for s in stamps_end if s), default=None),
                "compile_s_max": max((run.get("compile_s") or 0.0 for run in per_rank.values()), default=None),
                "per_rank": [
                    {
                        "rank": r,
                        "device_id": by_rank[r]["dist"].get("device_id"),
                        "env_steps_per_s": per_rank[r]["env_steps_per_s"],
                        "compile_s": per_rank[r].get("compile_s"),
                    }
                    for r in range(world_size)
                ],
            }
        )
    return {
        "world_size": world_size,
        "rule": "total = sum over ranks of each rank's own env-steps/s, rep by rep, "
        "every rep started after one barrier",
        "runs": totals,
    }


def to_run_record(
    result: Mapping[str, Any],
    *,
    num_envs: int | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Map an mjx_bench result (single or aggregated) onto lambdabench's run record, one N."""
    runs = result.get("aggregate", {}).get("runs") or result.get("runs") or []
    if not runs:
        raise AggregationError("result has no runs")
    chosen = (
        max(runs, key=lambda r: r["num_envs"])
        if num_envs is None
        else next((r for r in runs if int(r["num_envs"]) == num_envs), None)
    )
    if chosen is None:
        raise AggregationError(f"result has no run with N={num_envs}")
    stats = chosen["env_steps_per_s"]
    versions = result.get("versions", {})
    world = int(result.get("dist", {}).get("world_size") or 1)
    hardware = dict(result.get("hardware", {}))
    run = dict(result.get("run", {}))
    record_run = {
        "run_id": run_id or run.get("run_id") or "mjx",
        "playbook": run.get("playbook"),
        "task": run.get("task"),
        "library": None,
        "num_envs": int(chosen.get("num_envs_total", chosen["num_envs"] * world)),
        "status": result.get("status", "ok"),
        "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"),
        "vars": {"num_envs_per_rank": chosen["num_envs"], "world_size": world},
    }
    library = ", ".join(f"{k} {versions[k]}" for k in ("jax", "jaxlib", "mujoco", "mujoco_mjx") if versions.get(k))
    total_steps = chosen.get("total_env_steps")
    if total_steps is None:
        total_steps = sum(rep["env_steps"] for rep in chosen.get("reps", []))
    startup = {"compile": chosen.get("compile_s", chosen.get("compile_s_max"))}
    for key, value in result.get("startup_s", {}).items():
        if key != "compile" and isinstance(value, (int, float)):
            startup[key] = float(value)
    return {
        "schema_version": 1,
        "simulated": bool(result.get("simulated", False)),
        "run": record_run,
        "versions": {
            "driver": versions.get("driver"),
            "cuda": versions.get("cuda"),
            "image": None,
            "isaaclab_repo": None,
            "isaaclab_ref": None,
            "library": library or None,
        },
        "hardware": {k: hardware.get(k) for k in ("gpu_model", "gpu_count", "gpu_memory_mib", "vcpus", "ram_gib")},
        "startup_s": startup,
        "throughput": {
            "unit": "env_steps_per_s",
            "mean": stats["mean"],
            "std": stats["std"],
            "peak": stats["peak"],
            "samples": stats["samples"],
            "dropped": 0,
            "warmup_rule": result.get("warmup_rule"),
            "total_env_steps": int(total_steps),
            "source": None,
        },
        "resources": {},
        "cost": {},
        "notes": [f"mjx_bench N={chosen['num_envs']} per rank x {world} rank(s)"] + list(result.get("notes", [])),
    }
