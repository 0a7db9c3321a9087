"""The library calls behind `sweep`, `gc` and `resume`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lambdabench.cloud.gpus import parse_gpu_list, resolve_gpu
from lambdabench.cloud.models import InstanceType
from lambdabench.context import Context
from lambdabench.errors import UsageError
from lambdabench.sweep import (
    DEFAULT_MAX_RUN_SECONDS,
    RemotePhase,
    SweepPlan,
    SweepResult,
    SweepRunner,
    make_plan,
)

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BUILTIN_PHASES = ("gpu-probe",)


def parse_sets(pairs: Sequence[str]) -> dict[str, str]:
    """`--set key=value` pairs; the value is kept verbatim (it is quoted wherever it is used)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise UsageError(f"--set {pair!r} is not key=value", "Write e.g. --set task=Isaac-Cartpole-v0.")
        if "\x00" in value:
            raise UsageError(f"--set {key}: the value contains a NUL byte")
        out[key] = value
    return out


def phase_for(ctx: Context, playbook: str, variables: dict[str, str], nodes: int = 1) -> RemotePhase:
    """The remote phase that runs this playbook (built-in probe, or a YAML playbook)."""
    if nodes > 1:
        from lambdabench.multinode import phase_for_cluster

        return phase_for_cluster(ctx, playbook, variables)  # type: ignore[return-value]
    if playbook == "gpu-probe":
        from lambdabench.phases import ProbePhase

        return ProbePhase()
    from lambdabench.phases import PlaybookPhase

    return PlaybookPhase.for_sweep(ctx, playbook, variables)


@dataclass
class SweepRequest:
    gpus: str
    playbook: str
    sets: dict[str, str]
    repeat: int = 1
    max_cost: str | None = None
    max_parallel: int = 0
    keep_on_failure: bool = False
    region: str | None = None
    max_run_minutes: float | None = None
    name: str | None = None
    nodes: int = 1


def plan_sweep(ctx: Context, req: SweepRequest) -> SweepPlan:
    """Resolve names against the live type list and price the plan; raises before anything launches."""
    from lambdabench.cost import parse_dollars

    names = parse_gpu_list(req.gpus)
    if req.repeat < 1 or req.repeat > 100:
        raise UsageError(f"--repeat {req.repeat} is out of range", "Use 1 to 100.")
    if req.nodes < 1 or req.nodes > 16:
        raise UsageError(f"--nodes {req.nodes} is out of range", "Use 1 to 16.")
    max_cost_cents = None
    if req.max_cost is not None:
        max_cost_cents = int(parse_dollars(req.max_cost) * 100)
    avail = ctx.cloud.list_instance_types()
    types: list[InstanceType] = []
    for name in names:
        itype = resolve_gpu(name, [a.instance_type for a in avail])
        if itype.name in {t.name for t in types}:
            raise UsageError(f"--gpus names {itype.name} twice", "Use --repeat to run a type more than once.")
        types.append(itype)
    if req.region and req.region not in {r.name for r in ctx.cloud.list_regions()}:
        raise UsageError(f"Unknown region {req.region!r}", "See `lambdabench types` for regions.")
    scale = ctx.settings.time_scale
    if req.max_run_minutes:
        max_run = req.max_run_minutes * 60 / scale
    else:
        # the default cap is 3 cloud hours; on a fast-forwarded simulator it never drops under 10 real
        # minutes, since set-up and benchmarks run at the local machine's own speed
        max_run = DEFAULT_MAX_RUN_SECONDS / scale if scale <= 1 else max(DEFAULT_MAX_RUN_SECONDS / scale, 600.0)
    phase_check(ctx, req, types)
    if req.nodes > 1:
        from lambdabench.multinode import check_multinode

        check_multinode(ctx, req.playbook, req.sets, types, req.nodes)
    return make_plan(
        types, playbook=req.playbook, variables=req.sets, repeat=req.repeat, max_run_seconds=max_run,
        max_cost_cents=max_cost_cents, max_parallel=req.max_parallel, keep_on_failure=req.keep_on_failure,
        region=req.region, nodes=req.nodes,
    )


def phase_check(ctx: Context, req: SweepRequest, types: Sequence[object]) -> None:
    """Refuse a playbook that cannot run on a type (RT cores, VRAM, GPUs) before anything launches."""
    if req.playbook in BUILTIN_PHASES:
        if req.sets:
            raise UsageError(f"the built-in {req.playbook} takes no --set values")
        return
    from lambdabench.phases import check_playbook_for_types

    check_playbook_for_types(ctx, req.playbook, req.sets, types)


def run_sweep(ctx: Context, plan: SweepPlan, *, name: str | None, remote: RemotePhase | None = None) -> SweepResult:
    phase = remote or phase_for(ctx, plan.playbook, plan.variables, plan.nodes)
    return SweepRunner(ctx, plan, phase, name=name).run()


@dataclass
class GcResult:
    terminated: list[str]
    skipped_owned: list[str]
    foreign: list[str]
    failed: list[str]
    closed: list[str]


def gc(ctx: Context, *, dry_run: bool = False) -> GcResult:
    """Terminate instances this tool named that no live lambdabench process owns; never others."""
    from lambdabench import NAME_PREFIX
    from lambdabench.instances import is_ours, terminate_and_verify
    from lambdabench.ledger import is_process_alive

    ledger = ctx.ledger
    listed = ctx.cloud.list_instances()
    result = GcResult([], [], [], [], [])
    to_terminate: list[str] = []
    seen_names = set()
    for inst in listed:
        if inst.is_ending or not (inst.name or "").startswith(NAME_PREFIX):
            continue
        row = ledger.instance_by_id(inst.id)
        if row is None and inst.name:
            try:
                row = ledger.instance(inst.name)
            except Exception:  # noqa: BLE001 - not in this ledger
                row = None
        if row is None:
            if is_ours(inst):
                result.foreign.append(f"{inst.name} ({inst.id})")
            continue
        seen_names.add(row.name)
        if row.id is None:
            ledger.record_launch_accepted(row.name, inst.id, status=inst.status)
        owner = row.owner
        if owner is not None and is_process_alive(owner):
            result.skipped_owned.append(row.name)
            continue
        to_terminate.append(row.name)
    # ledger rows whose instances are not listed any more: close them so costs are final
    for row in ledger.live_instances():
        if row.name in seen_names or row.name in to_terminate:
            continue
        owner = row.owner
        if owner is not None and is_process_alive(owner):
            continue
        to_terminate.append(row.name)
    if dry_run:
        result.terminated = to_terminate
        return result
    for name in to_terminate:
        ledger.adopt_instance(name)
    if to_terminate:
        outcome = terminate_and_verify(ctx.cloud, ledger, to_terminate, timeouts=ctx.timeouts, notify=ctx.notify)
        result.terminated = outcome.gone
        result.failed = outcome.failed
    result.closed = _gc_rulesets(ctx, listed)
    return result


def _gc_rulesets(ctx: Context, listed: list) -> list[str]:  # type: ignore[type-arg]
    """Multi-node rendezvous rulesets left by a forced exit: ours by name, attached to no live instance."""
    from lambdabench import NAME_PREFIX
    from lambdabench.cloud.errors import CloudError

    live = {i.id for i in listed if not i.is_ending}
    closed: list[str] = []
    try:
        rulesets = ctx.cloud.list_firewall_rulesets()
    except CloudError:
        return closed
    for rs in rulesets:
        if rs.name.startswith(NAME_PREFIX) and "-rdzv-" in rs.name and not (set(rs.instance_ids) & live):
            try:
                ctx.cloud.delete_firewall_ruleset(rs.id)
                closed.append(rs.name)
            except CloudError as exc:
                ctx.notify(f"could not delete firewall ruleset {rs.name}: {exc.one_line()}")
    return closed


def resume(ctx: Context, sweep_id: int, *, force: bool = False) -> SweepResult:
    """Continue a crashed sweep: clean up its orphans, then run only the runs that did not finish."""
    ledger = ctx.ledger
    sweep = ledger.claim_sweep(sweep_id, force=force)
    plan_doc = sweep.plan or {}
    gc(ctx)
    unfinished = ledger.unfinished_runs(sweep_id)
    if not unfinished:
        ledger.finish_sweep(sweep_id, "finished")
        return SweepResult(sweep_id=sweep_id)
    avail = {a.instance_type.name: a.instance_type for a in ctx.cloud.list_instance_types()}
    types = []
    for run in unfinished:
        if run.instance_type not in avail:
            raise UsageError(f"type {run.instance_type} of run {run.id} is no longer offered")
        types.append(avail[run.instance_type])
    plan = make_plan(
        [], playbook=plan_doc.get("playbook", "gpu-probe"), variables=plan_doc.get("vars", {}),
        max_run_seconds=float(plan_doc.get("max_run_seconds", DEFAULT_MAX_RUN_SECONDS)),
        max_cost_cents=sweep.max_cost_cents, keep_on_failure=bool(plan_doc.get("keep_on_failure")),
        nodes=int(plan_doc.get("nodes", 1)),
    )
    from lambdabench.sweep import PlannedRun

    for run, itype in zip(unfinished, types, strict=True):
        ledger.set_run_status(run.id, "pending")
        plan.runs.append(PlannedRun(itype, int((run.params or {}).get("repeat", 1)), run_id=run.id))
    plan.max_parallel = len(plan.runs)
    phase = phase_for(ctx, plan.playbook, plan.variables, plan.nodes)
    return SweepRunner(ctx, plan, phase, resume_sweep=sweep_id).run()
