"""The library calls behind the simple commands (types, ls, launch, down, keys)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from lambdabench.cloud.gpus import resolve_gpu, short_name
from lambdabench.cloud.models import InstanceType, TypeAvailability
from lambdabench.context import Context
from lambdabench.errors import UsageError


def type_rows(ctx: Context, *, available: bool = False, gpu: str | None = None) -> list[dict[str, Any]]:
    """Instance types with specs, price and the regions that have capacity now."""
    avail = ctx.cloud.list_instance_types()
    if gpu:
        wanted = resolve_gpu(gpu, [a.instance_type for a in avail])
        avail = [a for a in avail if a.instance_type.name == wanted.name]
    rows = []
    for a in avail:
        if available and not a.regions:
            continue
        t = a.instance_type
        rows.append(
            {
                "name": t.name,
                "short": short_name(t),
                "gpus": t.gpus,
                "gpu": t.gpu_description,
                "vcpus": t.vcpus,
                "memory_gib": t.memory_gib,
                "storage_gib": t.storage_gib,
                "price_per_hour": round(t.price_cents_per_hour / 100, 2),
                "price_cents_per_hour": t.price_cents_per_hour,
                "regions": [r.name for r in a.regions],
            }
        )
    return rows


def find_type(ctx: Context, gpu: str) -> tuple[InstanceType, TypeAvailability]:
    avail = ctx.cloud.list_instance_types()
    itype = resolve_gpu(gpu, [a.instance_type for a in avail])
    return itype, next(a for a in avail if a.instance_type.name == itype.name)


def instance_rows(ctx: Context) -> list[dict[str, Any]]:
    """Every instance on the account, with age and cost so far where our ledger knows it."""
    from lambdabench.cost import dollars, instance_cost

    now = time.time()
    rows = []
    for inst in ctx.cloud.list_instances():
        row = ctx.ledger.instance_by_id(inst.id)
        started = row.launch_accepted if row else None
        cost = float(dollars(instance_cost(row, now).policy_cent_minutes)) if row and row.first_active else None
        rows.append(
            {
                "id": inst.id,
                "name": inst.name,
                "status": inst.status,
                "type": inst.type_name,
                "region": inst.region_name,
                "ip": inst.ip,
                "price_per_hour": inst.price_cents_per_hour / 100,
                "age_s": round(now - started, 1) if started else None,
                "cost_so_far": cost,
                "mine": bool(inst.name and inst.name.startswith("lambdabench-")),
            }
        )
    return rows


@dataclass
class LaunchResult:
    name: str
    id: str
    type: str
    region: str
    ip: str | None
    status: str


def launch(ctx: Context, gpu: str, *, region: str | None, label: str | None, wait: bool) -> LaunchResult:
    """Launch one instance (ledger first); with wait, until active with an IP."""
    from lambdabench.instances import (
        Poller,
        launch_with_failover,
        terminate_and_verify,
        wait_active,
    )

    itype, avail = find_type(ctx, gpu)
    if region and region not in {r.name for r in ctx.cloud.list_regions()}:
        raise UsageError(f"Unknown region {region!r}", "List regions with `lambdabench types`.")
    key_name = ctx.ssh_key_name()
    ledger = ctx.ledger
    sweep = ledger.create_sweep(f"launch {itype.name}", simulated=ctx.settings.simulated)
    run = ledger.add_run(sweep, instance_type=itype.name, region=region, workload="interactive")
    ledger.set_run_status(run, "running")
    launched = launch_with_failover(
        ctx.cloud, ledger, run, itype, ssh_key_name=key_name, label=label or short_name(itype),
        only_region=region, timeouts=ctx.timeouts, notify=ctx.notify,
    )
    ip = None
    status = "booting"
    if wait:
        poller = Poller(ctx.cloud, ctx.timeouts.poll)
        try:
            inst = wait_active(poller, ledger, launched, timeouts=ctx.timeouts, notify=ctx.notify)
        except BaseException:
            ctx.notify(f"{launched.name} did not come up; terminating it")
            terminate_and_verify(ctx.cloud, ledger, [launched.name], timeouts=ctx.timeouts, notify=ctx.notify)
            ledger.set_run_status(run, "failed")
            raise
        ip, status = inst.ip, inst.status
    return LaunchResult(launched.name, launched.id, itype.name, launched.region, ip, status)


def down(ctx: Context, targets: list[str], *, all_mine: bool) -> tuple[list[str], list[str]]:
    """Terminate by id or name (or every instance this tool named) and confirm each is gone."""
    from lambdabench.instances import is_ours, terminate_and_verify

    if not targets and not all_mine:
        raise UsageError("Nothing to terminate", "Pass instance ids or names, or --all-mine.")
    listed = ctx.cloud.list_instances()
    chosen = []
    for t in targets:
        match = [i for i in listed if i.id == t or i.name == t]
        if not match:
            raise UsageError(f"No instance with id or name {t!r}", "List them with `lambdabench ls`.")
        chosen.extend(match)
    if all_mine:
        chosen.extend(i for i in listed if is_ours(i) and not i.is_ending)
    ledger = ctx.ledger
    names = []
    for inst in {i.id: i for i in chosen}.values():
        row = ledger.instance_by_id(inst.id)
        if row is None:
            # not launched by this ledger (another machine, or by hand): adopt it so it is tracked
            sweep = ledger.create_sweep("adopted by down", simulated=ctx.settings.simulated)
            run = ledger.add_run(sweep, instance_type=inst.type_name, region=inst.region_name, workload="adopted")
            name = inst.name or f"unnamed-{inst.id}"
            ledger.reserve_instance(run, name, inst.type_name, inst.region_name, inst.price_cents_per_hour)
            ledger.record_launch_accepted(name, inst.id, status=inst.status)
            names.append(name)
        else:
            names.append(row.name)
    outcome = terminate_and_verify(ctx.cloud, ledger, names, timeouts=ctx.timeouts, notify=ctx.notify)
    return outcome.gone, outcome.failed
