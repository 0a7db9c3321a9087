"""build_report(): the one part of the report that reads the ledger."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from lambdabench.cost import RunCost, run_cost
from lambdabench.ledger import InstanceRow, MetricKey, RunRow
from lambdabench.report.model import GroupReport, Report, RunReport, Video

if TYPE_CHECKING:
    from lambdabench.ledger import Ledger, MetricRow


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
        errors=errors,
        nodes=nodes,
        env_steps_per_s_per_node=metrics.get("env_steps_per_s_per_node"),
        scaling_efficiency=metrics.get("scaling_efficiency"),
        reward=metrics.get("reward"),
    )


def group_runs(runs: Sequence[RunReport]) -> tuple[GroupReport, ...]:
    """Fold run lines into one line per GPU type, in first-seen order."""
    by_type: dict[str, list[RunReport]] = {}
    for r in runs:
        by_type.setdefault(r.instance_type, []).append(r)
    groups = []
    for itype, rs in by_type.items():
        cost = sum((r.cost_usd for r in rs), Decimal(0))
        minutes = sum(r.billed_minutes for r in rs)
        with_steps = [r for r in rs if r.env_steps]
        steps_total = sum(r.env_steps or 0.0 for r in with_steps)
        steps_cost = sum((r.cost_usd for r in with_steps), Decimal(0))
        groups.append(
            GroupReport(
                instance_type=itype,
                simulated=any(r.simulated for r in rs),
                runs=len(rs),
                succeeded=sum(1 for r in rs if r.status == "succeeded"),
                failures=sum(1 for r in rs if r.status == "failed"),
                failed_launches=sum(r.failed_launches for r in rs),
                billed_minutes=minutes,
                upper_minutes=sum(r.upper_minutes for r in rs),
                cost_usd=cost,
                upper_cost_usd=sum((r.upper_cost_usd for r in rs), Decimal(0)),
                usd_per_run=cost / len(rs) if rs else None,
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
            )
        )
    return tuple(groups)


def build_report(
    ledger: Ledger,
    sweep_ids: Sequence[int] | None = None,
    *,
    title: str | None = None,
    videos: Sequence[Video] = (),
    now: float | None = None,
) -> Report:
    """Read sweeps (default: the latest) from the ledger into a Report; instances still up are costed to now."""
    now = time.time() if now is None else now
    if sweep_ids is None:
        latest = ledger.latest_sweep()
        sweep_ids = [] if latest is None else [latest.id]
    lines: list[RunReport] = []
    names: list[str] = []
    for sweep_id in sweep_ids:
        sweep = ledger.sweep(sweep_id)
        names.append(sweep.name or f"sweep {sweep.id}")
        metrics = _latest_metrics(ledger.metrics(sweep_id=sweep_id))
        by_run: dict[int, list[InstanceRow]] = {}
        for inst in ledger.instances(sweep_id=sweep_id):
            by_run.setdefault(inst.run_id, []).append(inst)
        error_counts: dict[int, int] = {}
        for err in ledger.errors(sweep_id=sweep_id):
            if err.run_id is not None:
                error_counts[err.run_id] = error_counts.get(err.run_id, 0) + 1
        for run in ledger.runs(sweep_id):
            lines.append(
                build_run_report(
                    run,
                    by_run.get(run.id, []),
                    metrics.get(run.id, {}),
                    errors=error_counts.get(run.id, 0),
                    now=now,
                )
            )
    return Report(
        title=title or ("lambdabench: " + ", ".join(names) if names else "lambdabench: no sweeps"),
        generated_at=now,
        sweep_ids=tuple(sweep_ids),
        groups=group_runs(lines),
        runs=tuple(lines),
        videos=tuple(videos),
    )
