"""build_report(): the one part of the report that reads the ledger."""

from __future__ import annotations

import dataclasses
import functools
import math
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lambdabench.compat import backend_of, footprint_of, footprint_words, recorded_footprint, task_class
from lambdabench.cost import RunCost, run_cost
from lambdabench.errors import UsageError
from lambdabench.ledger import InstanceRow, MetricKey, RunRow
from lambdabench.report import curves as cv
from lambdabench.report.gpus import run_gpus
from lambdabench.report.model import (
    Comparison,
    CompatCell,
    GroupReport,
    IsaacLabFigure,
    MaxEnvsRow,
    ReferencePoint,
    Report,
    RewardTarget,
    RunCurves,
    RunReport,
    ScalingCurve,
    StartupRow,
    TailRow,
    Video,
)
from lambdabench.report.stats import separated, summarize

if TYPE_CHECKING:
    from lambdabench.ledger import Ledger, MetricRow, SeriesRow

# measures whose spread over a group's runs the report shows (key on RunReport → on GroupReport)
SPREAD_KEYS: Mapping[str, str] = {
    "cost_usd": "usd_per_run",
    "env_steps_per_s": "env_steps_per_s",
    "usd_per_million_steps": "usd_per_million_steps",
    "reward": "reward",
    "time_to_reward_s": "time_to_reward_s",
    "cost_to_reward_usd": "cost_to_reward_usd",
    "wall_s": "wall_s",
    "bench_s": "bench_s",
    "gpu_util_pct": "gpu_util_pct",
    "energy_wh": "energy_wh",
    "gpu_util_timed_pct": "gpu_util_timed_pct",
    "wh_per_million_steps": "wh_per_million_steps",
}


# figures the report gives median, IQM and a 95 % bootstrap interval of (run key → group key); their
# samples are every seed of every repeat, except to-reward figures: one per run (a run's later seeds
# start warm on a clock already billing, so only its first reaches the reward from a cold start)
STAT_KEYS: Mapping[str, str] = {
    "env_steps_per_s": "env_steps_per_s",
    "usd_per_million_steps": "usd_per_million_steps",
    "time_to_reward_s": "time_to_reward_s",
    "cost_to_reward_usd": "cost_to_reward_usd",
}
SEED_SERIES = "seed:"  # ledger series "seed:<metric>": one point per seed, x = the seed


def _span(start: float | None, end: float | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return end - start


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(present) if present else None


def _latest_metrics(metrics: Iterable[MetricRow]) -> dict[int, dict[str, float]]:
    """Per run, the most recently recorded value of each key (whatever its source)."""
    out: dict[int, dict[str, tuple[float, int, float]]] = {}
    for m in metrics:
        seen = out.setdefault(m.run_id, {})
        if m.key not in seen or (m.recorded, m.id) > seen[m.key][:2]:
            seen[m.key] = (m.recorded, m.id, m.value)
    return {run: {k: v[2] for k, v in keys.items()} for run, keys in out.items()}


def build_run_report(
    run: RunRow,
    instances: Sequence[InstanceRow],
    metrics: dict[str, float],
    *,
    errors: int = 0,
    now: float | None = None,
) -> RunReport:
    """One run's line from its ledger rows (pure)."""
    from lambdabench.cloud.models import parse_type_name

    steps = metrics.get(MetricKey.ENV_STEPS)
    cost: RunCost = run_cost(run.id, run.instance_type, instances, env_steps=steps, now=now)
    billed = [i for i, c in zip(instances, cost.instances, strict=True) if not c.failed_launch]
    inst = billed[-1] if billed else None
    wall = _span(run.started, run.ended)
    if wall is None and instances:
        wall = _span(instances[0].launch_requested, instances[-1].gone)
    nodes = int(metrics.get("nodes") or 1)

    def slowest(start: str, end: str) -> float | None:
        # a multi-node run waits for its slowest node
        spans = [_span(getattr(i, start), getattr(i, end)) for i in billed[-nodes:]]
        known = [x for x in spans if x is not None]
        return max(known) if known else None

    return RunReport(
        run_id=run.id,
        sweep_id=run.sweep_id,
        instance_type=run.instance_type if nodes <= 1 else f"{run.instance_type} ×{nodes} nodes",
        region=inst.region if inst else run.region,
        workload=run.workload,
        status=run.status,
        simulated=bool(run.simulated or any(i.simulated for i in instances)),
        instances=len(instances),
        failed_launches=cost.totals.failed_launches,
        billed_minutes=cost.totals.policy_minutes,
        upper_minutes=cost.totals.upper_minutes,
        cost_usd=cost.policy_dollars,
        upper_cost_usd=cost.upper_dollars,
        failed_launch_upper_usd=cost.totals.failed_upper_dollars,
        price_usd_per_hour=cost.dollars_per_hour,
        still_billing=cost.totals.open > 0,
        env_steps=steps,
        env_steps_per_s=metrics.get(MetricKey.ENV_STEPS_PER_S),
        usd_per_million_steps=cost.dollars_per_million_steps,
        wall_s=wall,
        boot_s=slowest("launch_accepted", "first_active"),
        ssh_wait_s=slowest("first_active", "ssh_ready"),
        setup_s=slowest("setup_start", "setup_end"),
        image_pull_s=metrics.get(MetricKey.IMAGE_PULL_S),
        container_start_s=metrics.get(MetricKey.CONTAINER_START_S),
        bench_s=slowest("bench_start", "bench_end"),
        pull_s=slowest("bench_end", "pull_end"),
        gpu_util_pct=metrics.get(MetricKey.GPU_UTIL_PCT),
        energy_wh=metrics.get(MetricKey.ENERGY_WH),
        gpu_util_timed_pct=metrics.get("gpu_util_timed_pct"),
        wh_per_million_steps=metrics.get("wh_per_million_steps"),
        errors=errors,
        nodes=nodes,
        env_steps_per_s_per_node=metrics.get("env_steps_per_s_per_node"),
        scaling_efficiency=metrics.get("scaling_efficiency"),
        reward=metrics.get("reward"),
        base_type=run.instance_type,
        repeat=_repeat(run),
        gpu_count=_gpu_count(metrics, parse_type_name(run.instance_type), nodes),
        num_envs=metrics.get("num_envs"),
        env_lock=f"{int(metrics['env_lock_id']):012x}" if metrics.get("env_lock_id") is not None else None,
        tool_added_s=_tool_added(inst, metrics),
        cache=None if metrics.get("cache_warm") is None else ("warm" if metrics["cache_warm"] else "cold"),
        reused_from=int(metrics["reused_instance_of_run"]) if metrics.get("reused_instance_of_run") else None,
        reuse_runs=int(metrics.get("reuse_runs") or 1),
        isaaclab_env_steps_per_s=metrics.get(ISAACLAB_RATE),
    )


def _tool_added(inst: InstanceRow | None, metrics: Mapping[str, float]) -> float | None:
    """Billed seconds lambdabench itself adds: SSH wait after active, preflight (and the cache probe), then
    the gap from the pull to the accepted terminate call. The ingest runs after that call and bills nothing;
    `ingest_s` (an older ledger's ingest, read while billing) counts: on a --reuse lead's instance, which ran
    its followers after its pull, only that ingest does."""
    ingest = metrics.get("ingest_s")
    if inst is None:
        return ingest
    parts = [_span(inst.first_active, inst.ssh_ready), _span(inst.ssh_ready, inst.setup_start or inst.bench_start)]
    if metrics.get("reuse_runs", 1) > 1:
        parts.append(ingest)
    else:
        parts.append(_span(inst.pull_end, inst.terminate_called))
    known = [p for p in parts if p is not None]
    return sum(known) if known else None


def _savings(rs: Sequence[RunReport]) -> tuple[float | None, float | None, Decimal | None]:
    """Cold and warm mean set-up, and the dollars a warm cache and --reuse saved (estimated at each run's price)."""
    cold = _mean(r.setup_s for r in rs if r.cache == "cold")
    warm = _mean(r.setup_s for r in rs if r.cache == "warm")
    by_id = {r.run_id: r for r in rs}
    saved = Decimal(0)
    counted = False
    for r in rs:
        if r.cache == "warm" and cold is not None and r.setup_s is not None and r.price_usd_per_hour:
            saved += Decimal(repr(max(0.0, cold - r.setup_s))) * r.price_usd_per_hour / 3600
            counted = True
        lead = by_id.get(r.reused_from) if r.reused_from is not None else None
        if lead is not None and lead.price_usd_per_hour:
            skipped = sum(x or 0.0 for x in (lead.boot_s, lead.ssh_wait_s, lead.setup_s))
            saved += Decimal(repr(skipped)) * lead.price_usd_per_hour / 3600
            counted = True
    return cold, warm, saved if counted else None


def _repeat(run: RunRow) -> int | None:
    params = run.params if isinstance(run.params, dict) else {}
    value = params.get("repeat")
    return int(value) if isinstance(value, int | float) else None


def _gpu_count(metrics: Mapping[str, float], parsed: Any, nodes: int) -> int | None:
    if metrics.get("gpu_count"):
        return int(metrics["gpu_count"])
    return parsed.count * nodes if parsed is not None and parsed.kind == "gpu" else None


def _mean_money(values: Iterable[Decimal | None]) -> Decimal | None:
    present = [v for v in values if v is not None]
    return sum(present, Decimal(0)) / len(present) if present else None


def group_runs(runs: Sequence[RunReport]) -> tuple[GroupReport, ...]:
    """Fold run lines into one line per group (GPU type, or type and sweep), in first-seen order."""
    by_group: dict[str, list[RunReport]] = {}
    for r in runs:
        by_group.setdefault(r.group or r.instance_type, []).append(r)
    groups = []
    for label, rs in by_group.items():
        cost = sum((r.cost_usd for r in rs), Decimal(0))
        minutes = sum(r.billed_minutes for r in rs)
        with_steps = [r for r in rs if r.env_steps]
        steps_total = sum(r.env_steps or 0.0 for r in with_steps)
        steps_cost = sum((r.cost_usd for r in with_steps), Decimal(0))
        spreads = {}
        for run_key, group_key in SPREAD_KEYS.items():
            s = cv.spread(getattr(r, run_key) for r in rs)
            if s is not None:
                spreads[group_key] = s
        stats = {}
        for run_key, group_key in STAT_KEYS.items():
            summary = summarize(_samples(rs, run_key))
            if summary is not None:
                stats[group_key] = summary
        with_curve = [r for r in rs if r.reward_reached is not None]
        reached = [r for r in with_curve if r.reward_reached]
        sweep_ids = {r.sweep_id for r in rs}
        cached = [r for r in rs if r.cache is not None]
        setup_cold, setup_warm, saved = _savings(rs)
        launched = sum(1 for r in rs if r.reused_from is None)
        ran = sum(1 for r in rs if r.instances or r.reused_from is not None)  # never launched (--max-cost): no run
        groups.append(
            GroupReport(
                instance_type=rs[0].instance_type,
                simulated=any(r.simulated for r in rs),
                runs=len(rs),
                succeeded=sum(1 for r in rs if r.status == "succeeded"),
                failures=sum(1 for r in rs if r.status == "failed"),
                failed_launches=sum(r.failed_launches for r in rs),
                billed_minutes=minutes,
                upper_minutes=sum(r.upper_minutes for r in rs),
                cost_usd=cost,
                upper_cost_usd=sum((r.upper_cost_usd for r in rs), Decimal(0)),
                usd_per_run=cost / ran if ran else None,
                usd_per_hour=cost * 60 / minutes if minutes else None,
                env_steps_per_s=_mean(r.env_steps_per_s for r in rs),
                usd_per_million_steps=(
                    steps_cost * 1_000_000 / Decimal(repr(steps_total)) if steps_total > 0 else None
                ),
                wall_s=_mean(r.wall_s for r in rs),
                boot_s=_mean(r.boot_s for r in rs),
                ssh_wait_s=_mean(r.ssh_wait_s for r in rs),
                setup_s=_mean(r.setup_s for r in rs),
                image_pull_s=_mean(r.image_pull_s for r in rs),
                container_start_s=_mean(r.container_start_s for r in rs),
                bench_s=_mean(r.bench_s for r in rs),
                pull_s=_mean(r.pull_s for r in rs),
                nodes=max(r.nodes for r in rs),
                env_steps_per_s_per_node=_mean(r.env_steps_per_s_per_node for r in rs),
                scaling_efficiency=_mean(r.scaling_efficiency for r in rs),
                reward=_mean(r.reward for r in rs),
                gpu_util_pct=_mean(r.gpu_util_pct for r in rs),
                energy_wh=_mean(r.energy_wh for r in rs),
                gpu_util_timed_pct=_mean(r.gpu_util_timed_pct for r in rs),
                wh_per_million_steps=_mean(r.wh_per_million_steps for r in rs),
                label=label,
                sweep_id=next(iter(sweep_ids)) if len(sweep_ids) == 1 else None,
                spreads=spreads,
                reward_runs=len(with_curve),
                reward_reached=len(reached),
                time_to_reward_s=_mean(r.time_to_reward_s for r in reached),
                cost_to_reward_usd=_mean_money(r.cost_to_reward_usd for r in reached),
                steps_to_reward=_mean(r.steps_to_reward for r in reached),
                stats=stats,
                tool_added_s=_mean(r.tool_added_s for r in rs),
                cache=f"{sum(1 for r in cached if r.cache == 'warm')} of {len(cached)} warm" if cached else None,
                setup_cold_s=setup_cold,
                setup_warm_s=setup_warm,
                reuse=f"{len(rs)} runs on {launched} instance{'s' if launched != 1 else ''}"
                if launched < len(rs)
                else None,
                saved_usd=saved,
                isaaclab_env_steps_per_s=_mean(r.isaaclab_env_steps_per_s for r in rs),
            )
        )
    return tuple(groups)


def _samples(runs: Sequence[RunReport], key: str) -> list[float | None]:
    """A measure's samples over a group: each run's seeds where it measured several, else the run's figure."""
    out: list[float | None] = []
    for r in runs:
        seeds = r.seed_samples.get(key)
        if seeds:
            out.extend(seeds)
        else:
            value = getattr(r, key)
            out.append(None if value is None else float(value))
    return out


def seed_samples(line: RunReport, rows: Sequence[SeriesRow]) -> dict[str, tuple[float, ...]]:
    """Per-seed figures of a run from its "seed:<metric>" series; $/M env-steps scaled by each seed's speed."""
    by_name = {row.name.removeprefix(SEED_SERIES): row for row in rows if row.name.startswith(SEED_SERIES)}
    out: dict[str, tuple[float, ...]] = {}
    rates = by_name.get("env_steps_per_s")
    if rates is not None and len(rates.points) > 1:
        out["env_steps_per_s"] = tuple(p[2] for p in rates.points)
    own = by_name.get(ISAACLAB_RATE)  # Isaac Lab's own figure, each pass's bundle
    if own is not None and len(own.points) > 1:
        out[ISAACLAB_RATE] = tuple(p[2] for p in own.points)
    # a seed's $/M env-steps: the run's, at that seed's speed (a fixed-step workload's even cost share per
    # seed would hide the spread the seeds measured)
    usd, mean_rate = line.usd_per_million_steps, line.env_steps_per_s
    if "env_steps_per_s" in out and usd is not None and mean_rate:
        out["usd_per_million_steps"] = tuple(float(usd) * mean_rate / r for r in out["env_steps_per_s"] if r > 0)
    return out


TAIL_SERIES = {
    "step_time_p50_s_by_num_envs": "p50_s",
    "step_time_p95_s_by_num_envs": "p95_s",
    "step_time_p99_s_by_num_envs": "p99_s",
    "gpu_mem_steady_mib_by_num_envs": "gpu_mem_mib",
}


def tail_rows(
    lines: Sequence[RunReport], series: Mapping[int, Sequence[SeriesRow]], order: Sequence[GroupReport]
) -> list[TailRow]:
    """Per group and number of envs, the mean over its runs of each per-N tail and memory figure."""
    acc: dict[tuple[str, float], dict[str, list[float]]] = {}
    runs_at: dict[tuple[str, float], set[int]] = {}
    for line in lines:
        for row in series.get(line.run_id, []):
            field_name = TAIL_SERIES.get(row.name)
            if field_name is None:
                continue
            for _t, x, v in row.points:
                if x is None:
                    continue
                key = (line.group or line.instance_type, float(x))
                acc.setdefault(key, {}).setdefault(field_name, []).append(v)
                runs_at.setdefault(key, set()).add(line.run_id)
    rank = {g.label or g.instance_type: i for i, g in enumerate(order)}
    out = []
    for (group, n), figures in sorted(acc.items(), key=lambda kv: (rank.get(kv[0][0], len(rank)), kv[0][1])):
        values = {k: statistics.fmean(v) for k, v in figures.items()}
        out.append(
            TailRow(
                group,
                n,
                len(runs_at[(group, n)]),
                values.get("p50_s"),
                values.get("p95_s"),
                values.get("p99_s"),
                values.get("gpu_mem_mib"),
            )
        )
    return out


# start-up stages (metric key → label): image pull, the container start (which pulls or builds its image
# when the image is not there), install steps, JIT/compile, shader compile, Isaac Lab's scene creation and
# simulation start (its own timers, from the training console), the first step
STARTUP_STAGES: Mapping[str, str] = {
    "image_pull_s": "image pull",
    "container_start_s": "container start (pulls/builds the image if missing)",
    "install_s": "install",
    "compile_s": "JIT / compile",
    "shader_compile_s": "shader compile",
    "scene_creation_s": "scene creation (Isaac Lab's timer: the scene and its envs built)",
    "simulation_start_s": (
        "simulation start (Isaac Lab's timer: the physics started; kitless, Warp's kernel compile when its cache is cold)"
    ),
    "first_step_s": "first step (MJX: the first compiled call; a training: its first iteration)",
}


ISAACLAB_RATE = "isaaclab_env_steps_per_s"  # Isaac Lab's own TrainingBundle total_fps (run/ingest.py)
ISAACLAB_STARTUP = "isaaclab_startup_"


def isaaclab_figures(
    lines: Sequence[RunReport],
    metrics: Mapping[int, Mapping[str, float]],
    sources: Mapping[int, str],
    series: Mapping[int, Sequence[SeriesRow]] | None = None,
) -> list[IsaacLabFigure]:
    """Per run with Isaac Lab's own benchmark figure: it and lambdabench's wall-clock one, each with its provenance;
    its start-up phases are the run's first pass's."""
    series = series or {}
    out = []
    for line in lines:
        mine = metrics.get(line.run_id, {})
        if line.isaaclab_env_steps_per_s is None:
            continue
        schema = sources.get(line.run_id, "").removeprefix("isaaclab-bundle-") or "unknown"
        startup = tuple(
            (key.removeprefix(ISAACLAB_STARTUP).removesuffix("_s").replace("_", " "), value)
            for key, value in mine.items()
            if key.startswith(ISAACLAB_STARTUP)
        )
        out.append(
            IsaacLabFigure(
                group=line.group or line.instance_type,
                run_id=line.run_id,
                provenance=f"Isaac Lab benchmark total_fps, schema {schema}",
                isaaclab_env_steps_per_s=line.isaaclab_env_steps_per_s,
                lambdabench_env_steps_per_s=line.env_steps_per_s,
                isaaclab_passes=line.seed_samples.get(ISAACLAB_RATE, ()),
                lambdabench_passes=line.seed_samples.get("env_steps_per_s", ()),
                startup_s=tuple(sorted(startup, key=lambda kv: _STARTUP_ORDER.get(kv[0], len(_STARTUP_ORDER)))),
                iteration_time_s=mine.get("isaaclab_iteration_time_s"),
                startup_from=(first_pass(series.get(line.run_id, [])) or "the run's only pass") if startup else "",
            )
        )
    return out


def _isaaclab_sources(ledger: Ledger, sweep_ids: Sequence[int]) -> dict[int, str]:
    """Per run, the source its Isaac Lab figure was recorded under ("isaaclab-bundle-1.4")."""
    return {
        m.run_id: m.source
        for sweep_id in sweep_ids
        for m in ledger.metrics(sweep_id=sweep_id)
        if m.key == ISAACLAB_RATE and m.source
    }


# isaaclab/benchmark/schema.py:193-200 (StartupTime), in the order a run passes through them
_STARTUP_ORDER = {"python imports": 0, "task config": 1, "app launch": 2, "env creation": 3, "first step": 4}


def startup_rows(
    lines: Sequence[RunReport],
    metrics: Mapping[int, Mapping[str, float]],
    series: Mapping[int, Sequence[SeriesRow]],
    order: Sequence[GroupReport],
) -> list[StartupRow]:
    """Per type and stage: the cold figure (a run's first pass) and the warm one (its later passes), priced, and
    which passes each is from."""
    acc: dict[tuple[str, str], dict[str, list[float]]] = {}
    origin: dict[tuple[str, str, str], list[str]] = {}  # (group, stage, cold|warm) → each run's passes
    for line in lines:
        price = float(line.price_usd_per_hour) / 3600 if line.price_usd_per_hour is not None else None
        passes = seed_passes(series.get(line.run_id, []))
        # a stage without its own series (the container start, before pass 1) is the run's: its first pass's
        run_from = first_pass(series.get(line.run_id, [])) or "the run's only pass"
        for key in STARTUP_STAGES:
            seen = [p[1] for p in passes.get(key, [])]
            cold = seen[0] if seen else metrics.get(line.run_id, {}).get(key)
            if cold is None:
                continue
            slot = acc.setdefault((line.group or line.instance_type, key), {})
            slot.setdefault("cold", []).append(cold)
            origin.setdefault((line.group or line.instance_type, key, "cold"), []).append(
                pass_label(passes[key][:1]) if seen else run_from
            )
            if price is not None:
                slot.setdefault("cold_usd", []).append(cold * price)
            if seen and len(seen) > 1:
                warm = statistics.fmean(seen[1:])
                slot.setdefault("warm", []).append(warm)
                origin.setdefault((line.group or line.instance_type, key, "warm"), []).append(
                    pass_label(passes[key][1:], first=2)
                )
                if price is not None:
                    slot.setdefault("warm_usd", []).append(warm * price)
    notes = _startup_notes(lines, metrics, acc, series)
    rank = {g.label or g.instance_type: i for i, g in enumerate(order)}
    stages = list(STARTUP_STAGES)
    out = []
    for group, key in sorted(set(acc) | set(notes), key=lambda gk: (rank.get(gk[0], len(rank)), stages.index(gk[1]))):
        v = acc.get((group, key), {})

        def m(name: str, v: dict[str, list[float]] = v) -> float | None:
            return statistics.fmean(v[name]) if v.get(name) else None

        if v:
            froms = ["; ".join(dict.fromkeys(origin.get((group, key, side), []))) for side in ("cold", "warm")]
            out.append(
                StartupRow(group, key, m("cold"), m("cold_usd"), m("warm"), m("warm_usd"), len(v["cold"]), "", *froms)
            )
        else:
            runs, note = notes[(group, key)]
            out.append(StartupRow(group, key, None, None, None, None, runs, note))
    return out


def seed_passes(rows: Sequence[SeriesRow]) -> dict[str, list[tuple[float | None, float]]]:
    """A run's --seeds passes per key (series seed:<key>): (the pass's seed, its figure), in pass order."""
    return {
        row.name.removeprefix(SEED_SERIES): [(p[1], p[2]) for p in row.points]
        for row in rows
        if row.name.startswith(SEED_SERIES)
    }


def pass_label(passes: Sequence[tuple[float | None, float]], *, first: int = 1) -> str:
    """Which --seeds passes a figure is from: "pass 1, seed 42", "passes 2-3, seeds 43, 44"."""
    seeds = ", ".join("?" if x is None else f"{x:g}" for x, _ in passes)
    if len(passes) == 1:
        return f"pass {first}, seed {seeds}"
    return f"passes {first}-{first + len(passes) - 1}, seeds {seeds}"


def first_pass(rows: Sequence[SeriesRow]) -> str:
    """A --seeds run's first pass ("pass 1, seed 42"), which its own start-up figures are (ingest); "" with one."""
    passes = max(seed_passes(rows).values(), key=len, default=[])
    return pass_label(passes[:1]) if len(passes) > 1 else ""


SHADER_NOT_APPLICABLE = "does not apply: kitless Isaac Lab 3 has no RTX renderer on its state tasks (no Isaac Sim)"
WARP_COMPILE = (
    "not separated: Warp compiles its kernels inside the start-up to the first iteration ({seconds}; the kernel "
    "cache was {state} at the start{cold_from})"
)
WARP_WARM = "; warm: {seconds} in {passes}, the kernel cache {state}"


def _startup_notes(
    lines: Sequence[RunReport],
    metrics: Mapping[int, Mapping[str, float]],
    figures: Mapping[tuple[str, str], Any],
    series: Mapping[int, Sequence[SeriesRow]],
) -> dict[tuple[str, str], tuple[int, str]]:
    """Stages a type's runs have no figure for, and why: shader compile unknown (SHADER_UNKNOWN) or not applicable
    (kitless), and kitless JIT/compile, which is inside the start-up to the first iteration (cold: the run's, which
    is its first pass's; warm: its later --seeds passes')."""
    from lambdabench.metrics.console import FIRST_STEP_UNKNOWN
    from lambdabench.metrics.kitlog import SHADER_UNKNOWN

    why: dict[tuple[str, str], list[str]] = {}
    for line in lines:
        group, mine = line.group or line.instance_type, metrics.get(line.run_id, {})
        if "first_step_unknown" in mine:
            code = int(mine["first_step_unknown"])
            why.setdefault((group, "first_step_s"), []).append(
                "unknown: " + FIRST_STEP_UNKNOWN.get(code, f"reason {code}")
            )
        if "shader_compile_unknown" in mine:
            code = int(mine["shader_compile_unknown"])
            why.setdefault((group, "shader_compile_s"), []).append(
                "unknown: " + SHADER_UNKNOWN.get(code, f"reason {code}")
            )
        if "shader_compile_not_applicable" in mine:
            why.setdefault((group, "shader_compile_s"), []).append(SHADER_NOT_APPLICABLE)
            if "warp_cache_cold" in mine:
                why.setdefault((group, "compile_s"), []).append(_warp_note(mine, series.get(line.run_id, [])))
    return {key: (len(said), "; ".join(dict.fromkeys(said))) for key, said in why.items() if key not in figures}


def _warp_note(mine: Mapping[str, float], rows: Sequence[SeriesRow]) -> str:
    """Kitless JIT/compile: the start-up to the first iteration and the kernel cache's state, cold and warm."""
    passes = seed_passes(rows)
    seconds = mine.get("startup_s")
    cold_from = f" of {pass_label(passes['startup_s'][:1])}" if len(passes.get("startup_s", [])) > 1 else ""
    note = WARP_COMPILE.format(
        seconds=f"{seconds:.0f}s" if seconds is not None else "not measured",
        state="cold" if mine["warp_cache_cold"] else "warm",
        cold_from=cold_from,
    )
    later, caches = passes.get("startup_s", [])[1:], [v for _, v in passes.get("warp_cache_cold", [])[1:]]
    if later:
        state = "cold" if all(caches) else "warm" if caches and not any(caches) else "cold in some"
        note += WARP_WARM.format(
            seconds=f"{statistics.fmean(v for _, v in later):.0f}s", passes=pass_label(later, first=2), state=state
        )
    return note


def compare_groups(groups: Sequence[GroupReport], *, max_all_pairs: int = 6) -> list[Comparison]:
    """Every pair of types (consecutive ones past max_all_pairs) on each figure both have statistics of."""
    out = []
    for key in STAT_KEYS.values():
        have = [g for g in groups if key in g.stats]
        if len(have) <= max_all_pairs:
            pairs = [(a, b) for i, a in enumerate(have) for b in have[i + 1 :]]
        else:
            pairs = list(zip(have, have[1:], strict=False))
        for a, b in pairs:
            sa, sb = a.stats[key], b.stats[key]
            out.append(
                Comparison(
                    key, a.label or a.instance_type, b.label or b.instance_type, sa.mean, sb.mean, separated(sa, sb)
                )
            )
    return out


# --------------------------------------------------------------------------------------------------
# order: the user's, or a chosen column


def _type_order(plans: Sequence[Any]) -> list[str]:
    """Type names in the order the user gave them: the plan's type_order, else its run order."""
    order: list[str] = []
    for plan in plans:
        names: list[Any] = []
        if isinstance(plan, dict):
            names = plan.get("type_order") or plan.get("types") or []
        for name in names:
            if isinstance(name, str) and name not in order:
                order.append(name)
    return order


def _in_type_order(
    groups: Sequence[GroupReport],
    runs: Sequence[RunReport],
    type_order: Sequence[str],
    sweep_ids: Sequence[int],
) -> list[GroupReport]:
    base = {r.group or r.instance_type: r.base_type for r in runs}
    seen = {g.label: i for i, g in enumerate(groups)}

    def key(g: GroupReport) -> tuple[int, int, int, int]:
        name = base.get(g.label, g.instance_type)
        rank = type_order.index(name) if name in type_order else len(type_order)
        sweep = sweep_ids.index(g.sweep_id) if g.sweep_id in sweep_ids else 0
        # unknown types keep their first-seen order after the known ones
        return (rank, seen[g.label] if rank == len(type_order) else 0, g.nodes, sweep)

    return sorted(groups, key=key)


def sort_keys() -> list[str]:
    """Group columns a report can be sorted by (numbers only); '-' before one sorts descending."""
    from lambdabench.report.cells import GROUP_COLUMNS

    return [c.key for c in GROUP_COLUMNS if c.kind not in ("text", "bool")]


def sort_groups(groups: Sequence[GroupReport], sort_by: str) -> list[GroupReport]:
    """Groups by one column, ascending (descending with a leading '-'); missing values last."""
    descending = sort_by.startswith("-")
    key = sort_by.lstrip("-+").strip().replace("-", "_")
    allowed = sort_keys()
    if key not in allowed:
        raise UsageError(
            f"cannot sort the report by {sort_by!r}",
            f"sort by one of {', '.join(allowed)} (prefix '-' for descending)",
        )
    present = [g for g in groups if getattr(g, key) is not None]
    missing = [g for g in groups if getattr(g, key) is None]
    present.sort(key=lambda g: float(getattr(g, key)), reverse=descending)
    return present + missing


# --------------------------------------------------------------------------------------------------
# the whole report


def _with_reward(
    lines: Sequence[RunReport], curves: Mapping[int, RunCurves], target: RewardTarget | None
) -> list[RunReport]:
    """Final reward from each run's curve, and when (and at what cost) it reached the target."""
    out = []
    for line in lines:
        c = curves.get(line.run_id)
        if c is None or not c.reward:
            out.append(line)
            continue
        changes: dict[str, Any] = {"reward": cv.final_reward(c)}
        if target is not None:
            hit = cv.first_reach(c, target.value)
            changes["reward_reached"] = hit is not None
            if hit is not None:
                changes["time_to_reward_s"] = hit.elapsed_s
                changes["cost_to_reward_usd"] = hit.usd
                changes["steps_to_reward"] = hit.env_steps
        out.append(dataclasses.replace(line, **changes))
    return out


def _num_envs_scaling(
    groups: Sequence[GroupReport],
    lines: Sequence[RunReport],
    curves: Mapping[int, RunCurves],
    fraction: float,
) -> list[ScalingCurve]:
    out = []
    for g in groups:
        points: list[tuple[float, float]] = []
        for line in lines:
            if (line.group or line.instance_type) != g.label:
                continue
            c = curves.get(line.run_id)
            if c is not None and c.by_num_envs:
                points.extend(c.by_num_envs)
            elif line.num_envs and line.env_steps_per_s:
                points.append((line.num_envs, line.env_steps_per_s))  # one N per run: its metric
        curve = cv.scaling_curve(g.label, points, fraction=fraction)
        if curve is not None and len(curve.points) >= 2:
            out.append(curve)
    return out


def _gpu_scaling(lines: Sequence[RunReport], fraction: float) -> list[ScalingCurve]:
    """Per GPU model (type name without its count), env-steps/s against the run's GPU count."""
    from lambdabench.cloud.models import parse_type_name

    by_model: dict[str, list[tuple[float, float]]] = {}
    for line in lines:
        parsed = parse_type_name(line.base_type)
        if parsed is None or not line.gpu_count or not line.env_steps_per_s:
            continue
        model = parsed.model + (f"_{parsed.variant}" if parsed.variant else "")
        by_model.setdefault(model, []).append((float(line.gpu_count), line.env_steps_per_s))
    out = []
    for model, points in by_model.items():
        curve = cv.scaling_curve(model, points, fraction=fraction)
        if curve is not None and len(curve.points) >= 2:
            out.append(curve)
    return out


def _check_targets(reward_target: float | None, reward_fraction: float, saturation_fraction: float) -> None:
    """UsageError for a fraction outside (0, 1] or a reward target that is not a finite number."""
    if not 0 < reward_fraction <= 1 or not 0 < saturation_fraction <= 1:
        raise UsageError("reward and saturation fractions must lie in (0, 1]", "e.g. 0.9 for 90 %")
    if reward_target is not None and not math.isfinite(reward_target):
        # -inf is "reached" by every run at its first point, nan by none: both would report nonsense
        raise UsageError(f"--reward-target {reward_target} is not a finite number", "e.g. --reward-target 250.")


def _instances_and_series(
    ledger: Ledger, sweep_id: int
) -> tuple[dict[int, list[InstanceRow]], dict[int, list[SeriesRow]]]:
    """One sweep's instance rows and series rows, each by run id."""
    by_run: dict[int, list[InstanceRow]] = {}
    for inst in ledger.instances(sweep_id=sweep_id):
        by_run.setdefault(inst.run_id, []).append(inst)
    series: dict[int, list[SeriesRow]] = {}
    for row in ledger.series(sweep_id=sweep_id):
        series.setdefault(row.run_id, []).append(row)
    return by_run, series


def _errors_by_run(ledger: Ledger, sweep_id: int) -> tuple[dict[int, int], dict[int, str]]:
    """One sweep's error count and last error message, by run id (errors of no run left out)."""
    error_counts: dict[int, int] = {}
    last_error: dict[int, str] = {}
    for err in ledger.errors(sweep_id=sweep_id):
        if err.run_id is not None:
            error_counts[err.run_id] = error_counts.get(err.run_id, 0) + 1
            last_error[err.run_id] = err.message
    return error_counts, last_error


def _count_compat(
    compat: dict[tuple[str, str, str], list[Any]], run: RunRow, klass: str, last_error: dict[int, str]
) -> None:
    """Count a finished run into its (type, backend, task class) cell: [ok, failed, last error]."""
    if run.status in ("succeeded", "failed"):
        cell = compat.setdefault((run.instance_type, backend_of(run.workload), klass), [0, 0, None])
        cell[0 if run.status == "succeeded" else 1] += 1
        if run.status == "failed" and run.id in last_error:
            cell[2] = last_error[run.id]


def _compat_cells(compat: Mapping[tuple[str, str, str], list[Any]], groups: Sequence[GroupReport]) -> list[CompatCell]:
    """The matrix's cells in the report's type order (the user's), not the order the runs launched in."""
    rank: dict[str, int] = {}
    for i, g in enumerate(groups):
        rank.setdefault(g.instance_type, i)
    ordered = sorted(compat.items(), key=lambda kv: rank.get(kv[0][0], len(rank)))  # stable: backend, class as met
    return [CompatCell(t, b, k, ok, bad, err) for (t, b, k), (ok, bad, err) in ordered]


def _with_saturation(groups: list[GroupReport], num_envs: Sequence[ScalingCurve]) -> list[GroupReport]:
    """The groups with the peak and saturation point of their number-of-envs curve, where they have one."""
    by_label = {c.label: c for c in num_envs}
    return [
        dataclasses.replace(
            g,
            peak_env_steps_per_s=by_label[g.label].peak,
            saturation_num_envs=by_label[g.label].saturates_at,
        )
        if g.label in by_label
        else g
        for g in groups
    ]


def build_report(
    ledger: Ledger,
    sweep_ids: Sequence[int] | None = None,
    *,
    title: str | None = None,
    videos: Sequence[Video] = (),
    now: float | None = None,
    reward_target: float | None = None,
    reward_fraction: float = 0.9,
    sort_by: str | None = None,
    compare: bool | None = None,
    saturation_fraction: float = 0.9,
) -> Report:
    """Read sweeps (default: the latest) from the ledger into a Report; instances still up are costed to now.

    reward_target: the reward time- and cost-to-reward are measured to (default: reward_fraction
    of the best final reward in the report). sort_by: a group column ('-' first: descending);
    default the order the user gave the types in. compare: one column per type and sweep (default
    when several sweeps are given). saturation_fraction: the share of its peak throughput at which
    a type counts as saturated in the number-of-envs sweep.
    """
    _check_targets(reward_target, reward_fraction, saturation_fraction)
    now = time.time() if now is None else now
    if sweep_ids is None:
        latest = ledger.latest_sweep()
        sweep_ids = [] if latest is None else [latest.id]
    sweep_ids = list(dict.fromkeys(sweep_ids))  # `report A A` counts A once
    if compare is None:
        compare = len(sweep_ids) > 1
    lines: list[RunReport] = []
    names: list[str] = []
    plans: list[Any] = []
    curves: dict[int, RunCurves] = {}
    all_series: dict[int, list[SeriesRow]] = {}
    compat: dict[tuple[str, str, str], list[Any]] = {}  # (type, backend, task class) → [ok, failed, last error]
    all_metrics: dict[int, dict[str, float]] = {}
    ref_runs: dict[tuple[str, Any], list[float | None]] = {}  # (group, reference figure) → runs' env-steps/s
    for sweep_id in sweep_ids:
        sweep = ledger.sweep(sweep_id)
        name = sweep.name or f"sweep {sweep.id}"
        names.append(name)
        plans.append(sweep.plan)
        rows = ledger.metrics(sweep_id=sweep_id)
        metrics = _latest_metrics(rows)
        gpus = run_gpus(rows)
        all_metrics.update(metrics)
        by_run, series = _instances_and_series(ledger, sweep_id)
        all_series.update(series)
        error_counts, last_error = _errors_by_run(ledger, sweep_id)
        klass = task_class((sweep.plan.get("vars") or {}) if isinstance(sweep.plan, dict) else {})
        for run in ledger.runs(sweep_id):
            line = build_run_report(
                run,
                by_run.get(run.id, []),
                metrics.get(run.id, {}),
                errors=error_counts.get(run.id, 0),
                now=now,
            )
            line = dataclasses.replace(line, gpus=gpus.get(run.id, ()))
            group = f"{line.instance_type} · {name}" if compare else line.instance_type
            line = _placed(line, run.workload, group, name, sweep.plan, series.get(run.id, []))
            for figure in _references(run.workload, sweep.plan, line.num_envs):
                ref_runs.setdefault((group, figure), []).append(line.env_steps_per_s)
            _count_compat(compat, run, klass, last_error)
            lines.append(line)
            curves[run.id] = cv.run_curves(run.id, group, line.repeat, by_run.get(run.id, []), series.get(run.id, []))
    labels = {line.run_id: line.group for line in lines}
    target = cv.choose_target(list(curves.values()), labels, target=reward_target, fraction=reward_fraction)
    lines = _with_reward(lines, curves, target)
    groups = _in_type_order(group_runs(lines), lines, _type_order(plans), sweep_ids)
    # saturation per group comes from its runs' curves
    num_envs = _num_envs_scaling(groups, lines, curves, saturation_fraction)
    groups = _with_saturation(groups, num_envs)
    if sort_by:
        groups = sort_groups(groups, sort_by)
    rank = {g.label: i for i, g in enumerate(groups)}
    lines.sort(key=lambda r: (rank.get(r.group, len(rank)), r.run_id))
    return Report(
        title=title or ("lambdabench: " + ", ".join(names) if names else "lambdabench: no sweeps"),
        generated_at=now,
        sweep_ids=tuple(sweep_ids),
        groups=tuple(groups),
        runs=tuple(lines),
        videos=tuple(videos),
        curves=tuple(curves[r.run_id] for r in lines),
        reward_target=target,
        num_envs_scaling=tuple(sorted(num_envs, key=lambda c: rank.get(c.label, 0))),
        gpu_scaling=tuple(_gpu_scaling(lines, saturation_fraction)),
        saturation_fraction=saturation_fraction,
        compare=compare,
        sort_by=sort_by,
        order_given=bool(plans) and all(isinstance(p, dict) and p.get("type_order") for p in plans),
        comparisons=tuple(compare_groups(groups)),
        tails=tuple(tail_rows(lines, all_series, groups)),
        references=tuple(ReferencePoint(g, f, _mean(v)) for (g, f), v in ref_runs.items()),
        startup=tuple(startup_rows(lines, all_metrics, all_series, groups)),
        isaaclab=tuple(isaaclab_figures(lines, all_metrics, _isaaclab_sources(ledger, sweep_ids), all_series)),
        max_envs=tuple(max_envs_rows(ledger, sweep_ids, lines, groups)),
        compat=tuple(_compat_cells(compat, groups)),
    )


def max_envs_rows(
    ledger: Ledger, sweep_ids: Sequence[int], lines: Sequence[RunReport], order: Sequence[GroupReport]
) -> list[MaxEnvsRow]:
    """Per group, playbook, footprint (compat.footprint_of: a Cartpole search is never pooled with Ant's) and kind
    (the simulator's memory model or a GPU's), its runs' largest-num_envs searches: the largest N that fit on every
    run, the smallest N that ran out of memory, the largest bound, and the out-of-memory's evidence (its source)."""
    plans = {sweep_id: ledger.sweep(sweep_id).plan for sweep_id in {line.sweep_id for line in lines}}
    key_of = {
        line.run_id: (
            line.group or line.instance_type,
            line.workload or "",
            footprint_words(
                recorded_footprint(plans[line.sweep_id], line.workload or "")
                or footprint_of(line.workload or "", line.benchmark)
            ),
        )
        for line in lines
    }
    simulated = {line.run_id: line.simulated for line in lines}
    got: dict[int, dict[str, MetricRow]] = {}
    for sweep_id in sweep_ids:
        for row in ledger.metrics(sweep_id=sweep_id):
            if row.run_id in key_of and row.key.startswith("max_num_envs_"):
                got.setdefault(row.run_id, {})[row.key] = row
    acc: dict[tuple[str, str, str, bool], dict[str, dict[int, MetricRow]]] = {}
    for run_id, rows in got.items():
        # a search on the simulator's memory model never pools with one measured on a GPU (as compat keeps them apart)
        flag = rows.get("max_num_envs_modelled")
        modelled = bool(flag.value) if flag is not None else simulated[run_id]
        for key, row in rows.items():
            acc.setdefault((*key_of[run_id], modelled), {}).setdefault(key, {})[run_id] = row
    rank = {g.label or g.instance_type: i for i, g in enumerate(order)}
    out = []
    for (group, workload, footprint, modelled), by_key in sorted(
        acc.items(), key=lambda kv: (rank.get(kv[0][0], len(rank)), kv[0][1], kv[0][2], kv[0][3])
    ):
        fit, oom, bound = (by_key.get(f"max_num_envs_{k}", {}) for k in ("fit", "first_oom", "bound"))
        ended = by_key.get("max_num_envs_ended_early", {})
        runs = set(fit) | set(oom) | set(bound) | set(ended)
        out.append(
            MaxEnvsRow(
                group,
                min((r.value for r in fit.values()), default=None),
                min((r.value for r in oom.values()), default=None),
                max((r.value for r in bound.values()), default=None),
                "; ".join(sorted({r.source for r in oom.values()})),
                modelled,
                len(runs),
                workload,
                backend_of(workload) if workload else "",
                footprint,
                min((r.value for r in ended.values()), default=None),
                "; ".join(sorted({r.source for r in ended.values()})),
            )
        )
    return out


def _references(playbook: str | None, plan: Any, num_envs: float | None) -> list[Any]:
    """Published figures for a run: its task and num_envs from the sweep's variables, else the shipped
    playbook's defaults (static data of this release, not the machine's)."""
    from lambdabench.report.reference import matching

    variables = _plan_values(playbook, plan)
    envs = num_envs if num_envs is not None else variables.get("num_envs")
    try:
        envs_f = float(envs) if envs is not None else None
    except (TypeError, ValueError):
        envs_f = None
    return matching(str(variables.get("task") or ""), envs_f, backend_of(playbook))


def _placed(
    line: RunReport, workload: str | None, group: str, name: str, plan: Any, series: Sequence[SeriesRow]
) -> RunReport:
    """A run's line in the report: its column, sweep, provenance and benchmark, and its seeds' samples."""
    line = dataclasses.replace(
        line, group=group, sweep_name=name, provenance=_provenance(plan), benchmark=_benchmark_of(workload, plan)
    )
    seeds = seed_samples(line, series)
    return dataclasses.replace(line, seed_samples=seeds, seeds=max(len(v) for v in seeds.values())) if seeds else line


def _plan_values(playbook: str | None, plan: Any) -> dict[str, Any]:
    """The sweep's variables over the shipped playbook's defaults (a user's own playbook: its --set values)."""
    variables = dict(plan.get("vars") or {}) if isinstance(plan, dict) else {}
    return {**_shipped_defaults(playbook), **variables} if playbook else variables


@functools.lru_cache(maxsize=64)
def _shipped_defaults(playbook: str | None) -> dict[str, Any]:
    try:
        from lambdabench.remote.playbook import find_playbook, shipped_dir

        book = find_playbook(playbook or "", [shipped_dir()])
    except Exception:  # noqa: BLE001 - not a shipped playbook: no defaults to add
        return {}
    return {k: v.default for k, v in book.vars.items() if v.default is not None}


def _benchmark_of(playbook: str | None, plan: Any) -> dict[str, str]:
    """What a run benchmarked, for telling pooled runs apart: the playbook and its values but the seed."""
    values = {k: str(v) for k, v in _plan_values(playbook, plan).items() if k != "seed"}
    return {"playbook": playbook or "", **values}


def _provenance(plan: Any) -> str:
    """Where a sweep's figures came from: a merged bundle names its origin in the plan; else this ledger."""
    if isinstance(plan, dict) and isinstance(plan.get("provenance"), str):
        return str(plan["provenance"])
    return "this ledger"
