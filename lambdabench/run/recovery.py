"""After a crash or a forced exit: gc (the reaper) and resume.

gc scans the cloud, not the ledger (dstack #3453): every live instance it lists under our names
is matched to this machine's ledger by id or name, whatever the ledger says of it. It terminates by
id what no live lambdabench owns and nobody kept on purpose, proves each gone, and reports exactly
what it sent and what it confirmed. Instances the ledger holds but the cloud does not list (yet) are
terminated by id too: a listing proves nothing. It never touches an instance another machine's ledger
launched, a host the user brought, or a firewall ruleset it did not create.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lambdabench.errors import LambdabenchError, UsageError
from lambdabench.run.nodes import (
    TerminateTarget,
    delete_ruleset,
    describe,
    is_ours,
    record_twin,
    target_of,
    terminate_and_verify,
)

if TYPE_CHECKING:
    from lambdabench.cloud.client import LambdaCloud
    from lambdabench.cloud.models import Instance, TypeAvailability
    from lambdabench.ledger import Ledger, SweepRow
    from lambdabench.remote.transport import Transport
    from lambdabench.run.context import Connector, Node
    from lambdabench.run.env import RunEnv
    from lambdabench.run.hosts import HostSpec
    from lambdabench.run.plan import SweepPlan

Notify = Callable[[str], None]


@dataclass
class GcResult:
    terminated: list[str] = field(default_factory=list)  # terminate sent for the id, then proven gone
    failed: list[str] = field(default_factory=list)  # terminate sent, not proven gone: may bill
    owned: list[str] = field(default_factory=list)  # a live lambdabench drives it
    kept: list[str] = field(default_factory=list)  # left up on purpose (launch, shell --keep, --keep-on-failure)
    foreign: list[str] = field(default_factory=list)  # ours by name and tag, another ledger's
    never_listed: list[str] = field(default_factory=list)
    rulesets: list[str] = field(default_factory=list)  # leftover rendezvous rulesets deleted
    would_terminate: list[str] = field(default_factory=list)  # --dry-run
    failed_described: list[str] = field(default_factory=list)  # `name (id, type, region)` of each failed one
    interrupted: bool = False  # repeated Ctrl-C stopped the proof
    auth_error: str | None = None  # the API refused the key part-way


def _owner_alive(row: object) -> bool:
    from lambdabench.ledger import is_process_alive

    owner = getattr(row, "owner", None)
    return owner is not None and bool(is_process_alive(owner))


def gc(
    cloud: LambdaCloud,
    ledger: Ledger,
    env: RunEnv,
    *,
    dry_run: bool = False,
    notify: Notify = lambda m: None,
    include_kept: bool = False,
    give_up: Callable[[], bool] = lambda: False,
) -> GcResult:
    """Terminate what this machine's lambdabench launched and nothing live owns; prove each gone."""
    from lambdabench.names import NAME_PREFIX

    out = GcResult()
    listed = cloud.list_instances()
    targets: dict[str, TerminateTarget] = {}
    seen: set[str] = set()
    for inst in listed:
        if inst.is_gone or not (inst.name or "").startswith(NAME_PREFIX):
            continue
        row = ledger.instance_by_id(inst.id)
        if row is None and inst.name:
            try:
                row = ledger.instance(inst.name)
            except LambdabenchError:
                row = None
        if row is None:
            if is_ours(inst) and inst.status != "terminating":
                out.foreign.append(f"{inst.name} ({inst.id})")
            continue
        if not row.launched_here:
            continue
        if row.id is None:
            ledger.record_launch_accepted(row.name, inst.id, status=inst.status)
        elif row.id != inst.id and ledger.instance_by_id(inst.id) is None:
            # a second instance under this launch's unique name (one launch, two instances): its own row
            row = ledger.instance(record_twin(ledger, row.name, inst.id, inst.status))
        seen.add(row.name)
        if row.kept and not include_kept:
            out.kept.append(row.name)
            continue
        if _owner_alive(row):
            out.owned.append(row.name)
            continue
        # listed and live: terminated even if the ledger says it is gone (the cloud is the truth)
        targets[row.name] = TerminateTarget(row.name, inst.id, row.launch_accepted)
    for row in ledger.live_instances():
        if row.name in seen or row.name in targets or not row.launched_here:
            continue
        if (row.kept and not include_kept) or _owner_alive(row):
            continue
        targets[row.name] = target_of(row)  # not listed (yet): only a terminate by id proves it gone
    if dry_run:
        out.would_terminate = sorted(targets)
        return out
    for name in targets:
        ledger.adopt_instance(name)
    if targets:
        outcome = terminate_and_verify(
            cloud, ledger, list(targets.values()), timeouts=env.timeouts, notify=notify, give_up=give_up
        )
        out.terminated, out.failed, out.never_listed = outcome.gone, outcome.failed, outcome.never_listed
        out.failed_described = describe(ledger, outcome.failed)
        out.interrupted, out.auth_error = outcome.interrupted, outcome.auth_error
    out.rulesets = _gc_rulesets(cloud, ledger, listed, notify)
    return out


def _gc_rulesets(cloud: LambdaCloud, ledger: Ledger, listed: list[Instance], notify: Notify) -> list[str]:
    """Rulesets this ledger created for multi-node runs, whose owner is gone and that no live instance holds."""
    from lambdabench.cloud.errors import CloudError

    live = {i.id for i in listed if not i.is_ending}
    closed: list[str] = []
    mine = [r for r in ledger.rulesets(live=True) if not _owner_alive(r)]
    if not mine:
        return closed
    try:
        current = {rs.id: rs for rs in cloud.list_firewall_rulesets()}
    except CloudError:
        return closed
    for row in mine:
        rs = current.get(row.id)
        if rs is None:
            ledger.ruleset_deleted(row.id)
            continue
        if set(rs.instance_ids) & live:
            continue
        if delete_ruleset(cloud, ledger, row.id, notify, tries=3, delay=0.5, sleep=time.sleep):
            closed.append(row.name)
    return closed


def ingest_left(ledger: Ledger, sweep: SweepRow, env: RunEnv, notify: Notify = lambda m: None) -> list[str]:
    """Runs that finished their work (every output pulled and verified) but whose process died before their
    ingest: ingested now from their folders, their status from what it found, their record written. Their
    labels; a run with no saved state stays resumable (it runs again)."""
    from lambdabench.run.context import RunContext
    from lambdabench.run.ingest import PENDING, ingest, load_pending, write_record
    from lambdabench.run.plan import plan_from_json

    done: list[str] = []
    plan: SweepPlan | None = None
    for run in ledger.runs(sweep.id):
        label = str((run.params or {}).get("label") or "")
        run_dir = env.run_dir(sweep.id, run.id, label)
        if run.status != "running" or not label or not (run_dir / PENDING).exists():
            continue
        plan = plan or plan_from_json(sweep.plan or {}, [], max_cost_cents=None, availability=[], home=env.home)
        rc = RunContext(
            sweep.id,
            run.id,
            label,
            [],
            plan,
            plan.benchmark,
            env,
            ledger,
            _no_instance,
            run_dir,
            threading.Event(),
            0.0,
            notify,
        )
        ended = load_pending(rc)
        if ended is None:
            continue
        notify(f"{label}: its outputs were pulled before the crash; reading them now")
        try:
            parts = ingest(rc)
            ledger.set_run_status(run.id, "succeeded", ts=ended)
        except LambdabenchError as exc:
            ledger.record_error("ingest", type(exc).__name__, exc.one_line(), run_id=run.id)
            ledger.set_run_status(run.id, "failed", ts=ended)
            parts = None
        write_record(rc, parts)
        (run_dir / PENDING).unlink(missing_ok=True)
        done.append(label)
    return done


def _no_instance(node: Node, *, timeout: float) -> Transport:
    """An ingest after the teardown reaches no machine."""
    raise LambdabenchError(f"{node.name}: reading a run's pulled outputs needs no connection")


def resumable_runs(ledger: Ledger, sweep_id: int) -> list[int]:
    """Runs of a sweep that did not finish their work: pending, running, or cancelled by an interrupt."""
    return [r.id for r in ledger.runs(sweep_id) if r.status in ("pending", "running", "cancelled")]


def spent_cents(ledger: Ledger, sweep_id: int) -> int:
    """What a sweep's instances cost so far at most (the upper bound), for a resumed sweep's cap."""
    from lambdabench.cost import instance_cost

    cent_minutes = sum(instance_cost(row).upper_cent_minutes for row in ledger.instances(sweep_id=sweep_id))
    return -(-cent_minutes // 60)  # cent-minutes → cents, rounded up


def check_resumable(ledger: Ledger, sweep_id: int) -> None:
    if not resumable_runs(ledger, sweep_id):
        raise UsageError(f"sweep {sweep_id} has nothing left to run", f"See `lambdabench report {sweep_id}`.")


def release_hosts(
    ledger: Ledger,
    sweep_id: int,
    hosts: dict[str, HostSpec],
    connect: Connector,
    env: RunEnv,
    notify: Notify = lambda m: None,
) -> list[str]:
    """After a crash: machines you brought that a dead run left unreleased get that run's processes stopped.

    A kill -9 skips the run's own end, so its benchmark and sampler keep running there;
    resume stops them (by the run's tag, lambdabench.run.hostjobs) before anything runs again, then
    releases the row. Returns one line per machine it could not clean.
    """
    from lambdabench.run.context import Node
    from lambdabench.run.hostjobs import end_run_on

    runs = {r.id: r for r in ledger.runs(sweep_id)}
    problems: list[str] = []
    for row in ledger.live_instances(sweep_id):
        if row.launched_here or _owner_alive(row):
            continue
        run = runs.get(row.run_id)
        spec = hosts.get(run.instance_type) if run is not None else None
        if row.kind == "host" and spec is None:
            problems.append(
                f"{row.name}: the machine is no longer in this sweep's plan; its processes were not checked"
            )
            continue
        addr = (spec.addr if spec else "") or "localhost"
        node = Node(
            0,
            row.name,
            row.kind,
            addr,
            addr,
            {},
            None,
            "private",
            spec.user if spec else None,
            spec.port if spec else None,
            spec.key_path if spec else None,
        )
        notify(f"{row.name}: stopping what the interrupted run left running there")
        left = end_run_on(connect, [node], None, env.timeouts)
        problems.extend(left)
        if not left:
            ledger.mark(row.name, "terminate_called")
            ledger.mark(row.name, "gone")
    return problems


def resumed_hosts(sweep: SweepRow, env: RunEnv) -> dict[str, HostSpec]:
    """A sweep's BYO hosts again, by type name: the user's ~/.ssh/config is read as at plan time (an alias
    resolves to its address), and each host's key is checked."""
    from lambdabench.run.hosts import check_host_keys, parse_host

    specs = [parse_host(s, ssh_config=env.ssh_config) for s in (sweep.plan or {}).get("hosts") or []]
    check_host_keys(specs)
    return {h.type_name: h for h in specs}


def replan(
    ledger: Ledger,
    sweep: SweepRow,
    hosts: dict[str, HostSpec],
    list_types: Callable[[], list[TypeAvailability]],
    home: Path,
) -> tuple[SweepPlan, bool]:
    """The plan of what a sweep has left to run, with its own benchmark, region, parallelism and cap; the runs
    go back to pending. Also whether it needs the cloud (the types are listed only then)."""
    from lambdabench.run.plan import PlannedRun, Target, plan_from_json

    todo = set(resumable_runs(ledger, sweep.id))
    need_cloud = any(not r.instance_type.startswith(("host:", "local")) for r in ledger.runs(sweep.id) if r.id in todo)
    availability = list_types() if need_cloud else []
    offered = {a.instance_type.name: a.instance_type for a in availability}
    runs = []
    for run in ledger.runs(sweep.id):
        if run.id not in todo:
            continue
        if run.instance_type in hosts:
            target = Target(host=hosts[run.instance_type])
        elif run.instance_type in offered:
            target = Target(itype=offered[run.instance_type])
        else:
            raise UsageError(f"type {run.instance_type} of run {run.id} is no longer offered")
        ledger.set_run_status(run.id, "pending")
        runs.append(PlannedRun(target, int((run.params or {}).get("repeat", 1)), run_id=run.id))
    plan = plan_from_json(
        sweep.plan or {}, runs, max_cost_cents=sweep.max_cost_cents, availability=availability, home=home
    )
    return plan, need_cloud
