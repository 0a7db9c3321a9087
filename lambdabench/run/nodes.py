"""The cloud side of a run: launch N ≥ 1 nodes (ledger first), wait active, terminate and prove gone.

Three rules hold here, each from a way instances were left billing:
- every instance is in the ledger before its launch call, and a launch is sent once: an ambiguous
  answer is reconciled by the instance's unique name, never resent (SkyPilot PR #3410, dstack #3453);
- the only proof that an instance is gone is a terminate request for its id, accepted (or answered
  "already terminating" after a re-check), followed by `terminated` — or a long bounded absence after
  an accepted terminate. Absence from one listing proves nothing: new ids are invisible for a while
  (FIELD-NOTES "Launch"; dstack b78e3b81b);
- teardown runs whatever the ledger does: a write that fails is reported, never a reason to skip
  the terminate call.
"""

from __future__ import annotations

import re
import secrets as _secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lambdabench.cloud.errors import (
    CapacityError,
    CloudError,
    LaunchOutcomeUnknown,
    NotFoundError,
    RateLimitedError,
    TransportError,
)
from lambdabench.errors import Cancelled, LambdabenchError, LedgerError
from lambdabench.names import NAME_PREFIX, TOOL_NAME
from lambdabench.names import VERSION as __version__
from lambdabench.run.env import Timeouts

if TYPE_CHECKING:
    from lambdabench.cloud.client import LambdaCloud
    from lambdabench.cloud.models import FirewallRule, Instance, InstanceType, TypeAvailability
    from lambdabench.ledger import InstanceRow, Ledger

TAG_TOOL = "lambdabench-tool"
TAG_RUN = "lambdabench-run"
EPHEMERAL_PORTS = (32768, 60999)  # Linux's default ip_local_port_range: where NCCL/gloo listeners bind

Notify = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def make_name(label: str) -> str:
    """A unique instance name with our prefix: lambdabench-<label>-<8 hex>, at most 64 chars."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40] or "run"
    return f"{NAME_PREFIX}{slug}-{_secrets.token_hex(4)}"


def is_ours(instance: Instance) -> bool:
    """Only instances this tool named and tagged; `gc` and `down --all-mine` never touch others."""
    return bool(instance.name and instance.name.startswith(NAME_PREFIX) and instance.tag(TAG_TOOL) == TOOL_NAME)


def launch_tags(run_id: int) -> list[tuple[str, str]]:
    return [(TAG_TOOL, TOOL_NAME), (TAG_RUN, f"{run_id}"), ("lambdabench-version", __version__)]


class BootError(LambdabenchError):
    """An instance did not become active (unhealthy, never active, vanished, out of time)."""


class Poller:
    """One `GET /instances` per tick shared by every waiter in the process (not one per instance)."""

    def __init__(
        self,
        cloud: LambdaCloud,
        interval: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cloud = cloud
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._snapshot: dict[str, Instance] = {}
        self.calls = 0

    def snapshot(self, max_age: float | None = None) -> dict[str, Instance]:
        """Instances by id, at most `max_age` (default: one interval) old."""
        age = self.interval if max_age is None else max_age
        with self._lock:
            if self._clock() - self._at >= age:
                listed = self.cloud.list_instances()
                self.calls += 1
                self._snapshot = {i.id: i for i in listed}
                self._at = self._clock()
            return dict(self._snapshot)

    def tick(self) -> None:
        self._sleep(self.interval)


class Availability:
    """The instance-types snapshot a plan was made from, refreshed only when a launch finds no capacity
    (and then at most once per `min_age` for the whole sweep): one fetch per plan, plus what launching needs."""

    def __init__(self, cloud: LambdaCloud, snapshot: Sequence[TypeAvailability], *, min_age: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cloud = cloud
        self._snapshot = list(snapshot)
        self._min_age = min_age
        self._clock = clock
        self._at = clock()
        self._lock = threading.Lock()
        self.fetches = 0

    def regions(self, type_name: str, preferred: Sequence[str] = ()) -> list[str]:
        """Regions that list capacity for the type in the snapshot; preferred ones first."""
        with self._lock:
            snap = self._snapshot
        for avail in snap:
            if avail.instance_type.name == type_name:
                names = [r.name for r in avail.regions]
                return [r for r in preferred if r in names] + [r for r in names if r not in preferred]
        return []

    def refresh(self) -> None:
        """A fresh snapshot after a capacity miss, unless one was taken within `min_age`."""
        with self._lock:
            if self._clock() - self._at < self._min_age:
                return
        fresh = self.cloud.list_instance_types()
        with self._lock:
            self._snapshot, self._at = fresh, self._clock()
            self.fetches += 1


@dataclass
class Launched:
    """One launched instance of a run: our unique name, Lambda's id (None while the outcome is unknown)."""

    name: str
    id: str | None
    instance_type: InstanceType
    region: str


@dataclass
class LaunchedGroup:
    """The N instances of one run, in launch order, in one region, with their rendezvous ruleset."""

    nodes: list[Launched]
    region: str
    ruleset_id: str | None = None

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]


class _GroupShort(Exception):
    """A region ran out of capacity part-way through a group."""


def launch_nodes(
    cloud: LambdaCloud,
    ledger: Ledger,
    run_id: int,
    itype: InstanceType,
    count: int,
    *,
    ssh_key_name: str,
    label: str,
    regions: Sequence[str],
    timeouts: Timeouts,
    notify: Notify = _quiet,
    stop: threading.Event | None = None,
    file_systems: Mapping[str, Sequence[str]] | None = None,
) -> LaunchedGroup:
    """Launch `count` instances of `itype` in ONE region, trying `regions` in order; all or none.

    Each instance is reserved under a fresh unique name BEFORE its launch call. A region that runs
    out of capacity part-way is rolled back (its instances terminated and proven gone) before the
    next is tried. A group of several gets one firewall ruleset for its rendezvous. An ambiguous
    launch answer (LaunchOutcomeUnknown) keeps its reservation open for teardown to reconcile.
    """
    if not regions:
        raise CapacityError(f"no region lists capacity for {itype.name}")
    tags = launch_tags(run_id)
    last: CapacityError | None = None
    for region in regions:
        if stop is not None and stop.is_set():
            raise Cancelled("launch cancelled")
        ruleset = create_ruleset(cloud, ledger, region, run_id, label, notify) if count > 1 else None
        group = LaunchedGroup([], region, ruleset)
        try:
            for i in range(count):
                if stop is not None and stop.is_set():
                    raise Cancelled("launch cancelled")
                name = make_name(f"{label}-n{i}" if count > 1 else label)
                ledger.reserve_instance(run_id, name, itype.name, region, itype.price_cents_per_hour, label=label)
                launched = Launched(name, None, itype, region)
                group.nodes.append(launched)
                notify(f"launching {itype.name} in {region} as {name}"
                       + (f" (node {i + 1}/{count})" if count > 1 else ""))
                _launch_one(cloud, ledger, run_id, launched, ssh_key_name, tags, ruleset,
                            (file_systems or {}).get(region, ()))
            return group
        except CapacityError as exc:
            last = exc
            if group.nodes[:-1]:
                notify(f"{region}: capacity for {len(group.nodes) - 1} of {count}; rolling back, next region")
            else:
                notify(f"{region}: no capacity for {itype.name}")
            _rollback(cloud, ledger, group, timeouts, notify)
            continue
        except LaunchOutcomeUnknown:
            # the ambiguous one is the caller's to reconcile (in the background); the rest go now
            _rollback(cloud, ledger, LaunchedGroup([n for n in group.nodes if n.id], region, ruleset),
                      timeouts, notify)
            raise
        except BaseException:
            _rollback(cloud, ledger, group, timeouts, notify)
            raise
    raise CapacityError(
        f"no region had capacity for {count} × {itype.name}" if count > 1 else f"no capacity for {itype.name}",
        code=last.code if last is not None else None,
    )


def _launch_one(cloud: LambdaCloud, ledger: Ledger, run_id: int, launched: Launched, ssh_key_name: str,
                tags: list[tuple[str, str]], ruleset: str | None, file_system_names: Sequence[str] = ()) -> None:
    """One launch call; the id lands in memory before the ledger, so a failed write cannot hide it."""
    try:
        launched.id = cloud.launch(
            instance_type=launched.instance_type.name, region=launched.region, ssh_key_name=ssh_key_name,
            name=launched.name, tags=tags, firewall_ruleset_ids=[ruleset] if ruleset else [],
            file_system_names=file_system_names,
        )
    except CapacityError as exc:
        ledger.record_launch_failed(launched.name)
        ledger.record_error("launch", "capacity", exc.one_line(), run_id=run_id, instance_name=launched.name)
        raise
    except LaunchOutcomeUnknown as exc:
        # maybe created: the reservation stays open and teardown reconciles the name (never a resend)
        ledger.record_error("launch", exc.family, exc.one_line(), run_id=run_id, instance_name=launched.name)
        ledger.set_needs_attention(launched.name, f"launch outcome unknown: {exc.one_line()}")
        raise
    except (RateLimitedError, TransportError) as exc:
        # a 429 or a request that never left: not processed, but keep the row open for teardown's look
        ledger.record_error("launch", exc.family, exc.one_line(), run_id=run_id, instance_name=launched.name)
        ledger.set_needs_attention(launched.name, f"launch not confirmed: {exc.one_line()}")
        raise
    except CloudError as exc:
        # refused outright (quota, key, parameters): nothing was created
        ledger.record_launch_failed(launched.name)
        ledger.record_error("launch", exc.family, exc.one_line(), run_id=run_id, instance_name=launched.name)
        raise
    ledger.record_launch_accepted(launched.name, launched.id)


def _rollback(cloud: LambdaCloud, ledger: Ledger, group: LaunchedGroup, timeouts: Timeouts, notify: Notify) -> None:
    """Terminate a partial group (proven gone), then delete its ruleset: no half-launched cluster stays up."""
    live = [TerminateTarget(n.name, n.id) for n in group.nodes if _still_open(ledger, n.name)]
    if live:
        outcome = terminate_and_verify(cloud, ledger, live, timeouts=timeouts, notify=notify)
        if outcome.failed:
            raise LambdabenchError(f"rolling back a short group left {', '.join(outcome.failed)} unconfirmed",
                                   "Run `lambdabench gc`; they are flagged in the ledger.")
    if group.ruleset_id:
        delete_ruleset(cloud, ledger, group.ruleset_id, notify, delay=timeouts.poll)


def _still_open(ledger: Ledger, name: str) -> bool:
    try:
        return ledger.instance(name).gone is None
    except LedgerError:
        return True  # cannot tell: terminate it to be sure


def wait_active(
    poller: Poller,
    ledger: Ledger,
    launched: Launched,
    *,
    timeouts: Timeouts,
    deadline: float,
    notify: Notify = _quiet,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
) -> Instance:
    """Poll (through the shared poller) until active with an IP; unhealthy, missing and overdue time out.

    `deadline` is the run's own (monotonic): boot counts against the run's maximum duration, so a
    cap bounds every billed minute, an unhealthy boot's included.
    """
    if launched.id is None:
        raise BootError(f"{launched.name}: launch outcome unknown; not waiting on it")
    started = clock()
    unhealthy_since: float | None = None
    last_status = None
    while True:
        if stop is not None and stop.is_set():
            raise Cancelled(f"{launched.name}: cancelled while booting")
        now = clock()
        inst = poller.snapshot().get(launched.id)
        if inst is None:
            if now - started > timeouts.missing_grace:
                raise BootError(f"{launched.name} ({launched.id}) is not listed by the API",
                                "Terminating it by id; `lambdabench gc` checks again later.")
        else:
            if inst.status != last_status:
                ledger.set_instance_status(launched.name, inst.status, ip=inst.ip)
                notify(f"{launched.name}: {inst.status}")
                last_status = inst.status
            if inst.status == "active":
                ledger.mark(launched.name, "first_active")
                if inst.ip:
                    return inst
            elif inst.status == "unhealthy":
                # Lambda bills unhealthy instances too: for the cost model this is where billing starts
                ledger.mark(launched.name, "first_active")
                unhealthy_since = unhealthy_since or now
                if now - unhealthy_since > timeouts.unhealthy:
                    raise BootError(f"{launched.name} stayed unhealthy for {now - unhealthy_since:.0f}s",
                                    "It is billed while unhealthy; terminating it.")
            elif inst.is_ending:
                raise BootError(f"{launched.name} went {inst.status} while booting")
        if now > deadline:
            raise BootError(f"{launched.name} still {last_status or 'not listed'} at the run's maximum duration",
                            "Terminating it; raise --max-run-minutes if boots take longer here.")
        if now - started > timeouts.boot:
            raise BootError(f"{launched.name} not active after {timeouts.boot:.0f}s (last: {last_status})",
                            "Terminating it; try another region or type.")
        poller.tick()


# ---------------------------------------------------------------------------------------------
# terminate, and the proof that an instance is gone


@dataclass
class TerminateTarget:
    """An instance to end: our name and, if known, Lambda's id (from memory, so a broken ledger cannot hide it)."""

    name: str
    id: str | None
    accepted_at: float | None = None  # wall time its launch was accepted; None: just now
    requested_at: float | None = None  # wall time its launch was sent (an id-less row); None: just now


@dataclass
class TerminateOutcome:
    gone: list[str] = field(default_factory=list)  # terminate accepted for the id, then `terminated`
    failed: list[str] = field(default_factory=list)  # not proven gone by the deadline: may still bill
    never_listed: list[str] = field(default_factory=list)  # launch outcome unknown; the name never appeared
    sent: list[str] = field(default_factory=list)  # ids a terminate request was accepted for
    ledger_errors: list[str] = field(default_factory=list)  # writes that failed on the way (reported)


@dataclass
class _Pending:
    name: str
    id: str | None
    accepted_at_wall: float | None = None
    reconcile_until: float = 0.0  # monotonic: how long an id-less reservation is looked for by name
    accepted: bool = False
    accepted_at: float | None = None
    accepted_round: int = 0
    absent_since: float | None = None
    note: str = ""


class _Book:
    """Ledger writes during teardown: a failure is collected and reported, never raised."""

    def __init__(self, ledger: Ledger, out: TerminateOutcome, notify: Notify) -> None:
        self.ledger, self.out, self.notify = ledger, out, notify

    def __call__(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LambdabenchError as exc:
            msg = f"ledger: could not record {what} ({exc.one_line()})"
            self.out.ledger_errors.append(msg)
            self.notify(f"WARNING {msg}; terminating anyway")
            return None


def target_of(row: InstanceRow) -> TerminateTarget:
    return TerminateTarget(row.name, row.id, row.launch_accepted, row.launch_requested)


def terminate_and_verify(
    cloud: LambdaCloud,
    ledger: Ledger,
    targets: Sequence[TerminateTarget],
    *,
    timeouts: Timeouts,
    notify: Notify = _quiet,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall: Callable[[], float] = time.time,
) -> TerminateOutcome:
    """Terminate by id and prove each gone; an id-less reservation is looked up by its name first.

    Per round: one listing; names without an id are matched; every id not yet accepted gets a
    terminate (a batch, then one by one if the batch is refused); accepted ones are checked until
    `terminated`. Re-sent while an id is invisible (404), bounded by `timeouts.terminate`. What is
    not proven gone by then is flagged in the ledger and returned in `failed`.
    """
    out = TerminateOutcome()
    book = _Book(ledger, out, notify)
    started = clock()
    deadline = started + timeouts.terminate
    pending: dict[str, _Pending] = {}
    for t in dict((t.name, t) for t in targets).values():
        # a lost launch surfaces within launch_reconcile of being sent: an old reservation gets one look
        age = max(0.0, wall() - t.requested_at) if t.requested_at is not None else 0.0
        until = started + min(max(0.0, timeouts.launch_reconcile - age), timeouts.terminate)
        pending[t.name] = _Pending(t.name, t.id, t.accepted_at, until)
    round_no = 0
    while pending:
        round_no += 1
        listed = _listing(cloud, notify)
        by_id = {i.id: i for i in listed or []}
        by_name = {i.name: i for i in listed or [] if i.name and not i.is_gone}
        for p in pending.values():
            if p.id is None and p.name in by_name:
                p.id = by_name[p.name].id
                book("the id of " + p.name, ledger.record_launch_accepted, p.name, p.id, status=by_name[p.name].status)
        _send_terminates(cloud, ledger, [p for p in pending.values() if p.id and not p.accepted], out, book,
                         notify, wall, round_no)
        now = clock()
        for p in list(pending.values()):
            # an id the API has not known for longer than a new id can be invisible: it ended long ago
            old = p.accepted_at_wall is not None and wall() - p.accepted_at_wall > timeouts.missing_grace * 2
            if p.id and not p.accepted and p.note == "terminate answered 404" and old and listed is not None \
                    and p.id not in by_id and _get(cloud, p.id) is None:
                book(f"{p.name} gone", _record_gone, ledger, p.name, None)
                out.gone.append(p.name)
                del pending[p.name]
        for p in list(pending.values()):
            if p.id is None:
                if now >= p.reconcile_until and listed is not None:
                    out.never_listed.append(p.name)
                    book("the unknown launch of " + p.name, _close_never_listed, ledger, p.name,
                         now - started)
                    del pending[p.name]
                continue
            if not p.accepted or p.accepted_round == round_no:
                continue  # this round's listing predates the terminate: check it next round
            inst = by_id.get(p.id) if listed is not None else None
            if inst is None and listed is not None:
                inst = _get(cloud, p.id)
            if inst is not None and inst.is_gone:
                book(f"{p.name} gone", _record_gone, ledger, p.name, inst.status)
                out.gone.append(p.name)
                del pending[p.name]
            elif inst is not None and inst.status != "terminating":
                p.accepted, p.absent_since = False, None  # still running: the terminate did not take
            elif inst is None and listed is not None:
                p.absent_since = p.absent_since or now
                if now - p.absent_since >= timeouts.absence_proof:
                    # accepted, then unlisted and 404 for long enough: the bounded-absence proof
                    book(f"{p.name} gone", _record_gone, ledger, p.name, None)
                    out.gone.append(p.name)
                    del pending[p.name]
            else:
                p.absent_since = None
        if not pending:
            break
        if clock() >= deadline:
            for p in pending.values():
                why = ("terminate accepted, not yet `terminated`" if p.accepted
                       else "terminate not accepted" if p.id else "launch outcome unknown, not found by name")
                reason = f"not proven gone after {timeouts.terminate:.0f}s ({why}); id {p.id or '?'} may still bill"
                book(f"attention for {p.name}", _flag, ledger, p.name, reason)
                out.failed.append(p.name)
            break
        sleep(timeouts.poll)
    return out


def _listing(cloud: LambdaCloud, notify: Notify) -> list[Instance] | None:
    try:
        return cloud.list_instances()
    except CloudError as exc:
        notify(f"listing instances failed ({exc.one_line()}); retrying")
        return None


def _get(cloud: LambdaCloud, instance_id: str) -> Instance | None:
    try:
        return cloud.instance_or_none(instance_id)
    except CloudError:
        return None


def _send_terminates(cloud: LambdaCloud, ledger: Ledger, todo: list[_Pending], out: TerminateOutcome,
                     book: _Book, notify: Notify, wall: Callable[[], float], round_no: int) -> None:
    """A terminate for every id in todo: one batch, else one request per id; accepted ones are stamped."""
    if not todo:
        return
    before = wall()
    try:
        answered = {i.id for i in cloud.terminate([p.id for p in todo if p.id])}
        accepted = [p for p in todo if p.id in answered]
        # an id left out of the answer was not terminated by this call: it is asked again next round
    except CloudError as exc:
        if len(todo) > 1:
            notify(f"terminate of {len(todo)} refused ({exc.one_line()}); one by one")
        accepted = []
        for p in todo:
            if _terminate_one(cloud, p, notify):
                accepted.append(p)
    for p in accepted:
        p.accepted, p.accepted_at, p.accepted_round = True, before, round_no
        out.sent.append(p.name)
        # billing ends at the accepted call (FIELD-NOTES "Money"): stamped only once accepted
        book(f"terminate of {p.name}", ledger.mark, p.name, "terminate_called", before, overwrite=True)
    if accepted:
        notify(f"terminate accepted for {', '.join(p.name for p in accepted)}")


def _terminate_one(cloud: LambdaCloud, p: _Pending, notify: Notify) -> bool:
    """One id; True when accepted, or "already terminating" after a re-check of that id."""
    assert p.id is not None
    try:
        return p.id in {i.id for i in cloud.terminate([p.id])}
    except NotFoundError:
        # invisible after launch (or long gone): not accepted; sent again next round until the deadline
        p.note = "terminate answered 404"
        return False
    except CloudError as exc:
        # `global/unknown` is what an already-terminating instance gets (SkyPilot PR #3410): re-check
        inst = _get(cloud, p.id)
        if inst is not None and inst.status in ("terminating", "terminated", "preempted"):
            return True
        notify(f"terminate of {p.name} failed ({exc.one_line()}); will retry")
        return False


def _record_gone(ledger: Ledger, name: str, status: str | None) -> None:
    if status:
        ledger.set_instance_status(name, status)
    ledger.mark(name, "gone")


def _close_never_listed(ledger: Ledger, name: str, waited: float) -> None:
    row = ledger.instance(name)
    if row.id is None and row.gone is None:
        ledger.record_launch_failed(name)
        ledger.record_error("terminate", "launch-unknown",
                            f"{name}: an ambiguous launch answer, and the name was not listed for {waited:.0f}s; "
                            "if it appears later, `lambdabench gc` finds it by name", run_id=row.run_id,
                            instance_name=name)


def _flag(ledger: Ledger, name: str, reason: str) -> None:
    if ledger.instance(name).gone is None:
        ledger.set_needs_attention(name, reason)


# ---------------------------------------------------------------------------------------------
# firewall: one ruleset per multi-node run, attached at launch, rules filled once addresses are known


def create_ruleset(cloud: LambdaCloud, ledger: Ledger, region: str, run_id: int, label: str,
                   notify: Notify) -> str | None:
    """An empty ruleset in the region to attach at launch (recorded as this process's); None when refused."""
    name = make_name(f"{label}-rdzv")[:64]
    try:
        ruleset = cloud.create_firewall_ruleset(name, region, [])
    except CloudError as exc:
        notify(f"warning: could not create a firewall ruleset in {region} ({exc.one_line()}); "
               "launching without one: the nodes may not reach each other")
        return None
    ledger.record_ruleset(ruleset.id, name, region, run_id)
    return ruleset.id


def ruleset_rules(addrs: Sequence[str], port: int) -> list[FirewallRule]:
    """TCP from each node /32: the rendezvous store and master port, and the ephemeral NCCL/gloo range."""
    from lambdabench.cloud.models import FirewallRule

    rules = []
    for addr in dict.fromkeys(addrs):
        rules.append(FirewallRule("tcp", f"{addr}/32", f"lambdabench rendezvous from {addr}", (port, port + 1)))
        rules.append(FirewallRule("tcp", f"{addr}/32", f"lambdabench NCCL/gloo from {addr}", EPHEMERAL_PORTS))
    return rules


def open_ruleset(cloud: LambdaCloud, ruleset_id: str, addrs: Sequence[str], port: int, notify: Notify) -> bool:
    try:
        cloud.update_firewall_ruleset(ruleset_id, rules=ruleset_rules(addrs, port))
        return True
    except CloudError as exc:
        notify(f"warning: could not open the rendezvous ports between the nodes ({exc.one_line()})")
        return False


def delete_ruleset(cloud: LambdaCloud, ledger: Ledger, ruleset_id: str, notify: Notify, *, tries: int = 10,
                   delay: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Delete after teardown; 'in use' while terminating instances still hold it, so retry a while."""
    for attempt in range(tries):
        try:
            cloud.delete_firewall_ruleset(ruleset_id)
        except CloudError as exc:
            if exc.code != "global/object-does-not-exist":
                if attempt == tries - 1:
                    notify(f"warning: firewall ruleset {ruleset_id} not deleted ({exc.one_line()}); "
                           "`lambdabench gc` deletes it later")
                    return False
                sleep(delay)
                continue
        try:
            ledger.ruleset_deleted(ruleset_id)
        except LambdabenchError as exc:
            notify(f"warning: ledger: ruleset {ruleset_id} deleted but not recorded ({exc.one_line()})")
        return True
    return False
