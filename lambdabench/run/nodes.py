"""The cloud side of a run: launch N ≥ 1 nodes (ledger first), wait active, terminate and prove gone.

Three rules hold here, each closing a way instances are left billing:
- every instance is in the ledger before its launch call, and a launch is sent once: an ambiguous
  answer is reconciled by the instance's unique name, never resent (SkyPilot PR #3410, dstack #3453);
- the only proof that an instance is gone is a terminate request for its id, accepted (or answered
  "already terminating" after a re-check), followed by `terminated`. Absence from a listing and a 404
  prove nothing: new ids are invisible for a while (FIELD-NOTES "Launch"; dstack b78e3b81b), and a
  control-plane failover hides old ones and brings them back (dstack #2342/#2353);
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
    AccountError,
    AuthError,
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


def _name_slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40] or "run"


def make_name(label: str) -> str:
    """A unique instance name with our prefix: lambdabench-<label>-<8 hex>, at most 64 chars."""
    return f"{NAME_PREFIX}{_name_slug(label)}-{_secrets.token_hex(4)}"


def name_pattern(label: str) -> re.Pattern[str]:
    """Every name make_name gives this label (how `down <label>` finds instances the ledger may not know)."""
    return re.compile(rf"^{re.escape(NAME_PREFIX)}{re.escape(_name_slug(label))}-[0-9a-f]{{8}}$")


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

    def __init__(
        self,
        cloud: LambdaCloud,
        snapshot: Sequence[TypeAvailability],
        *,
        min_age: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
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
    twins: list[Launched] = field(default_factory=list)  # extra ids a launch answered: billed, ended with the run
    stream_rules: list[FirewallRule] = field(default_factory=list)  # the livestream's, kept beside the rendezvous'

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]


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
    image_family: str | None = None,
    firewall: bool = False,
) -> LaunchedGroup:
    """Launch `count` instances of `itype` in ONE region, trying `regions` in order; all or none.

    Each instance is reserved under a fresh unique name BEFORE its launch call. A region that runs
    out of capacity part-way is rolled back (its instances terminated and proven gone) before the
    next is tried. A group of several, or one whose run opens the firewall (firewall: a WebRTC
    livestream), gets one firewall ruleset, empty until its rules are known. An ambiguous
    launch answer (LaunchOutcomeUnknown) keeps its reservation open for teardown to reconcile.
    """
    if not regions:
        raise CapacityError(f"no region lists capacity for {itype.name}")
    tags = launch_tags(run_id)
    last: CapacityError | None = None
    for region in regions:
        if stop is not None and stop.is_set():
            raise Cancelled("launch cancelled")
        suffix = "rdzv" if count > 1 else "stream"
        ruleset = (
            create_ruleset(cloud, ledger, region, run_id, label, notify, suffix) if count > 1 or firewall else None
        )
        group = LaunchedGroup([], region, ruleset)
        try:
            for i in range(count):
                if stop is not None and stop.is_set():
                    raise Cancelled("launch cancelled")
                name = make_name(f"{label}-n{i}" if count > 1 else label)
                ledger.reserve_instance(run_id, name, itype.name, region, itype.price_cents_per_hour, label=label)
                launched = Launched(name, None, itype, region)
                group.nodes.append(launched)
                notify(
                    f"launching {itype.name} in {region} as {name}" + (f" (node {i + 1}/{count})" if count > 1 else "")
                )
                for extra in _launch_one(
                    cloud,
                    ledger,
                    run_id,
                    launched,
                    ssh_key_name,
                    tags,
                    ruleset,
                    (file_systems or {}).get(region, ()),
                    image_family,
                ):
                    notify(
                        f"WARNING: the launch of {name} answered a second id {extra}; it bills too, "
                        "and is terminated with the run"
                    )
                    group.twins.append(Launched(record_twin(ledger, name, extra), extra, itype, region))
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
            _rollback(cloud, ledger, LaunchedGroup([n for n in group.nodes if n.id], region, ruleset), timeouts, notify)
            raise
        except BaseException:
            _rollback(cloud, ledger, group, timeouts, notify)
            raise
    raise CapacityError(
        f"no region had capacity for {count} × {itype.name}" if count > 1 else f"no capacity for {itype.name}",
        code=last.code if last is not None else None,
    )


def _launch_one(
    cloud: LambdaCloud,
    ledger: Ledger,
    run_id: int,
    launched: Launched,
    ssh_key_name: str,
    tags: list[tuple[str, str]],
    ruleset: str | None,
    file_system_names: Sequence[str] = (),
    image_family: str | None = None,
) -> list[str]:
    """One launch call; the id lands in memory before the ledger, so a failed write cannot hide it.

    Returns any further ids the answer named (one launch, two instances): the caller tracks them.
    """
    try:
        ids = cloud.launch_all(
            instance_type=launched.instance_type.name,
            region=launched.region,
            ssh_key_name=ssh_key_name,
            name=launched.name,
            tags=tags,
            firewall_ruleset_ids=[ruleset] if ruleset else [],
            file_system_names=file_system_names,
            image_family=image_family,
        )
        launched.id = ids[0]
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
    return ids[1:]


def _rollback(cloud: LambdaCloud, ledger: Ledger, group: LaunchedGroup, timeouts: Timeouts, notify: Notify) -> None:
    """Terminate a partial group (proven gone), then delete its ruleset: no half-launched cluster stays up."""
    live = [TerminateTarget(n.name, n.id) for n in group.nodes + group.twins if _still_open(ledger, n.name)]
    if live:
        outcome = terminate_and_verify(cloud, ledger, live, timeouts=timeouts, notify=notify)
        if outcome.failed:
            raise LambdabenchError(
                f"rolling back a short group left {', '.join(outcome.failed)} unconfirmed",
                "Run `lambdabench gc`; they are flagged in the ledger.",
            )
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
                raise BootError(
                    f"{launched.name} ({launched.id}) is not listed by the API",
                    "Terminating it by id; `lambdabench gc` checks again later.",
                )
        else:
            if inst.status != last_status:
                ledger.set_instance_status(launched.name, inst.status, ip=inst.ip)
                notify(f"{launched.name}: {inst.status}")
                if last_status is None:
                    _record_price(ledger, launched, inst, notify)
                last_status = inst.status
            if not inst.status_known:
                # a status outside the spec ("Alert" after an in-OS shutdown still bills, FIELD-NOTES
                # "Lifecycle"): never polled until the boot timeout; it is billing, so end it now
                ledger.mark(launched.name, "first_active")
                raise BootError(
                    f"{launched.name} is in status {inst.status!r}, which the API spec does not list",
                    "Treated as billing: terminating it and proving it gone.",
                )
            if inst.status == "active":
                ledger.mark(launched.name, "first_active")
                if inst.ip:
                    return inst
            elif inst.status == "unhealthy":
                # Lambda bills unhealthy instances too: for the cost model this is where billing starts
                ledger.mark(launched.name, "first_active")
                unhealthy_since = unhealthy_since or now
                if now - unhealthy_since > timeouts.unhealthy:
                    raise BootError(
                        f"{launched.name} stayed unhealthy for {now - unhealthy_since:.0f}s",
                        "It is billed while unhealthy; terminating it.",
                    )
            elif inst.is_ending:
                raise BootError(f"{launched.name} went {inst.status} while booting")
        if now > deadline:
            raise BootError(
                f"{launched.name} still {last_status or 'not listed'} at the run's maximum duration",
                "Terminating it; raise --max-run-minutes if boots take longer here.",
            )
        if now - started > timeouts.boot:
            raise BootError(
                f"{launched.name} not active after {timeouts.boot:.0f}s (last: {last_status})",
                "Terminating it; try another region or type.",
            )
        poller.tick()


def _record_price(ledger: Ledger, launched: Launched, inst: Instance, notify: Notify) -> None:
    """The price the instance itself carries (FIELD-NOTES "Money": prefer it to the plan-time catalog's)."""
    price = inst.price_cents_per_hour
    if inst.instance_type is None or price <= 0 or price == launched.instance_type.price_cents_per_hour:
        return
    try:
        ledger.set_price(launched.name, price)
    except LambdabenchError as exc:
        notify(f"warning: ledger: the instance's own price was not recorded ({exc.one_line()})")
        return
    notify(
        f"{launched.name}: the instance carries ${price / 100:.2f}/h "
        f"(the catalog said ${launched.instance_type.price_cents_per_hour / 100:.2f}/h); costed at its own"
    )


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
    failed: list[str] = field(default_factory=list)  # not proven gone: may still bill
    never_listed: list[str] = field(default_factory=list)  # launch outcome unknown; the name never appeared
    sent: list[str] = field(default_factory=list)  # ids a terminate request was accepted for
    ledger_errors: list[str] = field(default_factory=list)  # writes that failed on the way (reported)
    twins: list[str] = field(default_factory=list)  # a second instance under a run's name, found and ended
    interrupted: bool = False  # repeated Ctrl-C stopped the proof before every instance was proven gone
    auth_error: str | None = None  # the API refused the key (401/403): nothing more could be asked


@dataclass
class _Pending:
    name: str
    id: str | None
    seen_at: float  # monotonic: when the API last showed this id (or, at the start, when we began)
    reconcile_until: float = 0.0  # monotonic: how long an id-less reservation is looked for by name
    accepted: bool = False
    accepted_at: float | None = None
    accepted_round: int = 0
    waiting: str | None = None  # the instance's own `actions.terminate` says not now (e.g. vm-has-not-launched)
    status: str | None = None  # the last status the API gave


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


def cloud_name(name: str) -> str:
    """The name an instance carries in the cloud (a twin's ledger row adds `~<id>` to its launch's name)."""
    return name.split(TWIN_MARK, 1)[0]


TWIN_MARK = "~"
CONSOLE_URL = "https://cloud.lambda.ai/instances"


def record_twin(ledger: Ledger, name: str, instance_id: str, status: str = "booting") -> str:
    """A second instance under a launch's unique name: its own ledger row (`<name>~<id8>`), so it is tracked."""
    known = ledger.instance_by_id(instance_id)
    if known is not None:
        return known.name
    row = ledger.instance(name)
    twin = f"{cloud_name(name)}{TWIN_MARK}{instance_id[:8]}"
    ledger.reserve_instance(row.run_id, twin, row.instance_type, row.region, row.price_cents_per_hour, label=row.label)
    ledger.record_launch_accepted(twin, instance_id, status=status)
    return twin


def _never() -> bool:
    return False


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
    give_up: Callable[[], bool] = _never,
) -> TerminateOutcome:
    """Terminate by id and prove each gone (`terminated` after an accepted terminate); nothing else proves it.

    Per round: one listing; names without an id are matched, and every other instance carrying a
    target's name (one launch, two instances) joins the targets; every id not yet accepted gets a
    terminate — unless its own `actions.terminate` says not yet (a booting instance may refuse,
    spec Instance.actions), then it is waited on, however long. Absence from a listing and a 404
    prove nothing (a failover hides instances and brings them back): an id the API has not shown
    for `timeouts.terminate` is given up on, flagged in the ledger and returned in `failed`. An
    outage (the API not answering) never counts against an instance; only repeated Ctrl-C
    (`give_up`), a refused API key, or `timeouts.terminate_patience` end the proof early.
    """
    out = TerminateOutcome()
    book = _Book(ledger, out, notify)
    started = clock()
    patience_end = started + max(timeouts.terminate, timeouts.terminate_patience)
    pending: dict[str, _Pending] = {}
    for t in dict((t.name, t) for t in targets).values():
        # a lost launch surfaces within launch_reconcile of being sent: an old reservation gets one look
        age = max(0.0, wall() - t.requested_at) if t.requested_at is not None else 0.0
        until = started + min(max(0.0, timeouts.launch_reconcile - age), timeouts.terminate)
        pending[t.name] = _Pending(t.name, t.id, started, until)
    handled: set[str] = set()  # ids proven gone in this call
    said_at = started
    round_no = 0
    while pending:
        round_no += 1
        if give_up():
            out.interrupted = True
            _abandon(pending, out, book, "stopped by repeated Ctrl-C")
            break
        try:
            listed: list[Instance] | None = cloud.list_instances()
        except Cancelled:
            out.interrupted = True  # a long wait for the API cut short by repeated Ctrl-C
            _abandon(pending, out, book, "stopped by repeated Ctrl-C")
            break
        except (AuthError, AccountError) as exc:
            # the key was revoked or is wrong: every further call fails the same way; say what may bill
            out.auth_error = exc.one_line()
            notify(f"the Lambda API refused the API key ({exc.one_line()}); stopping")
            _abandon(pending, out, book, "the API key was refused")
            break
        except CloudError as exc:
            notify(f"listing instances failed ({exc.one_line()}); retrying")
            listed = None
        now = clock()
        by_id = {i.id: i for i in listed or []}
        by_name: dict[str, list[Instance]] = {}
        for i in listed or []:
            if i.name and not i.is_gone:
                by_name.setdefault(i.name, []).append(i)
        known = {p.id for p in pending.values() if p.id} | handled
        _match_ids(pending, by_name, known, book)
        _adopt_twins(pending, by_name, known, book, now)
        _note_shown(pending, by_id, now)
        try:
            _send_terminates(
                cloud,
                ledger,
                [p for p in pending.values() if p.id and not p.accepted and not p.waiting],
                out,
                book,
                notify,
                wall,
                round_no,
                now,
            )
        except Cancelled:
            out.interrupted = True
            _abandon(pending, out, book, "stopped by repeated Ctrl-C")
            break
        _check_gone(cloud, pending, by_id if listed is not None else None, book, handled, round_no, now, started)
        if not pending:
            break
        _give_up_unseen(pending, listed is None, book, timeouts, now, started, patience_end)
        if pending and now - said_at >= max(timeouts.poll * 6, 10.0):
            said_at = now
            notify(
                f"still proving {len(pending)} instance(s) gone after {now - started:.0f}s: "
                + ", ".join(f"{p.name} ({_state(p)})" for p in pending.values())
                + " — Ctrl-C twice to stop waiting"
            )
        if pending:
            sleep(timeouts.poll)
    return out


def _match_ids(pending: dict[str, _Pending], by_name: dict[str, list[Instance]], known: set[str], book: _Book) -> None:
    """Give each id-less target the first listed instance under its name whose id is not yet known."""
    for p in pending.values():
        if p.id is None:
            fresh = [i for i in by_name.get(p.name, []) if i.id not in known]
            if fresh:
                p.id = fresh[0].id
                known.add(p.id)
                book("the id of " + p.name, book.ledger.record_launch_accepted, p.name, p.id, status=fresh[0].status)


def _adopt_twins(
    pending: dict[str, _Pending], by_name: dict[str, list[Instance]], known: set[str], book: _Book, now: float
) -> None:
    """Every other instance carrying a target's name joins the targets (and TerminateOutcome.twins)."""
    for p in list(pending.values()):
        # every instance that carries a target's unique name is the run's: a twin bills too
        for other in by_name.get(cloud_name(p.name), []):
            if other.id in known or p.id is None:
                continue
            known.add(other.id)
            twin = (
                book(f"a second instance under {p.name}", record_twin, book.ledger, p.name, other.id, other.status)
                or f"{cloud_name(p.name)}{TWIN_MARK}{other.id[:8]}"
            )
            book.notify(
                f"WARNING: {other.id} also carries the name {cloud_name(p.name)} (a second instance of one "
                "launch); terminating it too"
            )
            pending[twin] = _Pending(twin, other.id, now)
            book.out.twins.append(twin)


def _note_shown(pending: dict[str, _Pending], by_id: dict[str, Instance], now: float) -> None:
    """Stamp each target this listing shows (seen, status) and whether its own actions refuse a terminate now."""
    for p in pending.values():
        p.waiting = None  # only this round's answer says "not yet"
        shown = by_id.get(p.id) if p.id else None
        if shown is not None and not shown.is_gone:
            p.seen_at, p.status = now, shown.status
            p.waiting = None if shown.is_ending else shown.terminate_refused


def _check_gone(
    cloud: LambdaCloud,
    pending: dict[str, _Pending],
    by_id: dict[str, Instance] | None,
    book: _Book,
    handled: set[str],
    round_no: int,
    now: float,
    started: float,
) -> None:
    """Close each target proven gone (or, id-less past its reconcile time, never listed); by_id None: no listing."""
    ledger, out = book.ledger, book.out
    for p in list(pending.values()):
        if p.id is None:
            if now >= p.reconcile_until and by_id is not None:
                out.never_listed.append(p.name)
                book("the unknown launch of " + p.name, _close_never_listed, ledger, p.name, now - started)
                del pending[p.name]
            continue
        if not p.accepted or p.accepted_round == round_no:
            continue  # this round's listing predates the terminate: check it next round
        inst = by_id.get(p.id) if by_id is not None else None
        if inst is None:
            inst = _get(cloud, p.id)
        if inst is not None and inst.is_gone:
            book(f"{p.name} gone", _record_gone, ledger, p.name, inst.status)
            out.gone.append(p.name)
            handled.add(p.id)
            del pending[p.name]
        elif inst is not None:
            p.seen_at, p.status = now, inst.status
            if inst.status != "terminating":
                p.accepted = False  # still running (or a status outside the spec): the terminate did not take
        # unlisted and 404: proves nothing either way; the id is asked about again next round


def _give_up_unseen(
    pending: dict[str, _Pending],
    outage: bool,
    book: _Book,
    timeouts: Timeouts,
    now: float,
    started: float,
    patience_end: float,
) -> None:
    """Flag and drop each id unseen for timeouts.terminate (never counted in an outage), or every id at patience_end."""
    for p in list(pending.values()):
        if p.id is None:
            continue
        unseen = now - p.seen_at
        if (not outage and unseen >= timeouts.terminate) or now >= patience_end:
            why = (
                f"not shown by the API for {unseen:.0f}s after {_state(p)}"
                if unseen >= timeouts.terminate
                else f"{_state(p)} after {now - started:.0f}s"
            )
            book(
                f"attention for {p.name}",
                _flag,
                book.ledger,
                p.name,
                f"not proven gone ({why}); id {p.id} may still bill",
            )
            book.out.failed.append(p.name)
            del pending[p.name]


def _state(p: _Pending) -> str:
    if p.id is None:
        return "launch outcome unknown, not found by name"
    if p.waiting:
        return f"{p.status or 'booting'}; terminate not available yet: {p.waiting}"
    if p.accepted:
        return "terminate accepted, not yet `terminated`"
    return f"{p.status or 'status unknown'}; terminate not accepted yet"


def _abandon(pending: dict[str, _Pending], out: TerminateOutcome, book: _Book, why: str) -> None:
    """Every instance still pending is not proven gone: flagged, and returned in `failed`."""
    for p in list(pending.values()):
        if p.id is None:
            reason = f"{why}: launch outcome unknown, not found by name yet"
        else:
            reason = f"{why} ({_state(p)}); id {p.id} may still bill"
        book(f"attention for {p.name}", _flag, book.ledger, p.name, reason)
        out.failed.append(p.name)
    pending.clear()


def describe(ledger: Ledger, names: Sequence[str]) -> list[str]:
    """`name (id, type, region)` for each name: what a user needs to end it in the console."""
    lines = []
    for n in names:
        try:
            row = ledger.instance(n)
            lines.append(f"{n} (id {row.id or '?'}, {row.instance_type}, {row.region or '?'})")
        except LambdabenchError:
            lines.append(n)
    return lines


def _get(cloud: LambdaCloud, instance_id: str) -> Instance | None:
    try:
        return cloud.instance_or_none(instance_id)
    except CloudError:
        return None


def _send_terminates(
    cloud: LambdaCloud,
    ledger: Ledger,
    todo: list[_Pending],
    out: TerminateOutcome,
    book: _Book,
    notify: Notify,
    wall: Callable[[], float],
    round_no: int,
    now: float,
) -> None:
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
            if _terminate_one(cloud, p, notify, now):
                accepted.append(p)
    for p in accepted:
        p.accepted, p.accepted_at, p.accepted_round = True, before, round_no
        out.sent.append(p.name)
        # billing ends at the accepted call (FIELD-NOTES "Money"): stamped only once accepted
        book(f"terminate of {p.name}", ledger.mark, p.name, "terminate_called", before, overwrite=True)
    if accepted:
        notify(f"terminate accepted for {', '.join(p.name for p in accepted)}")


def _terminate_one(cloud: LambdaCloud, p: _Pending, notify: Notify, now: float) -> bool:
    """One id; True when accepted, or "already terminating" after a re-check of that id."""
    assert p.id is not None
    try:
        return p.id in {i.id for i in cloud.terminate([p.id])}
    except NotFoundError:
        # invisible after launch, or hidden by a failover: not accepted, and no proof of anything
        return False
    except CloudError as exc:
        # `global/unknown` is what an already-terminating instance gets (SkyPilot PR #3410): re-check
        inst = _get(cloud, p.id)
        if inst is not None and inst.status in ("terminating", "terminated", "preempted"):
            return True
        if inst is not None:
            p.seen_at, p.status = now, inst.status
            # refused while it boots (spec Instance.actions: vm-has-not-launched): wait, don't hammer
            p.waiting = inst.terminate_refused
        notify(f"terminate of {p.name} refused ({exc.one_line()}); will retry")
        return False


def _record_gone(ledger: Ledger, name: str, status: str | None) -> None:
    if status:
        ledger.set_instance_status(name, status)
    ledger.mark(name, "gone")


def _close_never_listed(ledger: Ledger, name: str, waited: float) -> None:
    row = ledger.instance(name)
    if row.id is None and row.gone is None:
        ledger.record_launch_failed(name)
        ledger.record_error(
            "terminate",
            "launch-unknown",
            f"{name}: an ambiguous launch answer, and the name was not listed for {waited:.0f}s; "
            "if it appears later, `lambdabench gc` finds it by name",
            run_id=row.run_id,
            instance_name=name,
        )


def _flag(ledger: Ledger, name: str, reason: str) -> None:
    if ledger.instance(name).gone is None:
        ledger.set_needs_attention(name, reason)


# ---------------------------------------------------------------------------------------------
# firewall: one ruleset per multi-node run, attached at launch, rules filled once addresses are known


def create_ruleset(
    cloud: LambdaCloud, ledger: Ledger, region: str, run_id: int, label: str, notify: Notify, suffix: str = "rdzv"
) -> str | None:
    """An empty ruleset in the region to attach at launch (recorded as this process's); None when refused."""
    name = make_name(f"{label}-{suffix}")[:64]
    try:
        ruleset = cloud.create_firewall_ruleset(name, region, [])
    except CloudError as exc:
        what = "the nodes may not reach each other" if suffix == "rdzv" else "the livestream viewer cannot connect"
        notify(
            f"warning: could not create a firewall ruleset in {region} ({exc.one_line()}); launching without one: {what}"
        )
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


# Isaac Sim's WebRTC livestream (--livestream 2; also 1 on Isaac Lab 2.2+): the client signals on TCP 49100
# and takes the media on UDP 47998 (Isaac Sim docs, installation/manual_livestream_clients.html, which
# says to restrict the streaming ports to the client's address; isaac-sim/IsaacSim issue 330 and
# discussion 891 name both ports; issue #25's field report: the viewer stayed black until udp 47998 was open)
WEBRTC_PORTS = (("tcp", 49100, 49100), ("udp", 47998, 47998))


def livestream_rules(source: str) -> list[FirewallRule]:
    """The WebRTC ports, from one public address (/32) only: the machine that runs lambdabench."""
    from lambdabench.cloud.models import FirewallRule

    return [
        FirewallRule(proto, f"{source}/32", f"lambdabench WebRTC livestream from {source}", (lo, hi))
        for proto, lo, hi in WEBRTC_PORTS
    ]


def open_ruleset(
    cloud: LambdaCloud,
    ruleset_id: str,
    addrs: Sequence[str],
    port: int,
    notify: Notify,
    extra: Sequence[FirewallRule] = (),
) -> bool:
    """The rendezvous rules (and extra: a livestream's, already open) into the run's ruleset."""
    try:
        cloud.update_firewall_ruleset(ruleset_id, rules=[*ruleset_rules(addrs, port), *extra])
        return True
    except CloudError as exc:
        notify(f"warning: could not open the rendezvous ports between the nodes ({exc.one_line()})")
        return False


def delete_ruleset(
    cloud: LambdaCloud,
    ledger: Ledger,
    ruleset_id: str,
    notify: Notify,
    *,
    tries: int = 10,
    delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Delete after teardown; 'in use' while terminating instances still hold it, so retry a while."""
    for attempt in range(tries):
        try:
            cloud.delete_firewall_ruleset(ruleset_id)
        except CloudError as exc:
            if exc.code != "global/object-does-not-exist":
                if attempt == tries - 1:
                    notify(
                        f"warning: firewall ruleset {ruleset_id} not deleted ({exc.one_line()}); "
                        "`lambdabench gc` deletes it later"
                    )
                    return False
                sleep(delay)
                continue
        try:
            ledger.ruleset_deleted(ruleset_id)
        except LambdabenchError as exc:
            notify(f"warning: ledger: ruleset {ruleset_id} deleted but not recorded ({exc.one_line()})")
        return True
    return False
