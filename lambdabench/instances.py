"""One instance's life on the cloud side: launch (ledger first), wait active, terminate and verify gone."""

from __future__ import annotations

import re
import secrets as _secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from lambdabench import NAME_PREFIX, TOOL_NAME, __version__
from lambdabench.cloud.client import LambdaCloud
from lambdabench.cloud.errors import (
    CapacityError,
    CloudError,
    ProviderError,
    RateLimitedError,
    TransportError,
)
from lambdabench.cloud.models import Instance, InstanceType
from lambdabench.errors import LambdabenchError
from lambdabench.ledger import Ledger

TAG_TOOL = "lambdabench-tool"
TAG_RUN = "lambdabench-run"

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


@dataclass(frozen=True)
class Timeouts:
    """Per-stage limits in real seconds (already divided by the simulator's time scale)."""

    capacity_wait: float = 1800.0
    boot: float = 1800.0
    unhealthy: float = 600.0
    missing_grace: float = 120.0
    terminate: float = 600.0
    poll: float = 5.0

    @classmethod
    def scaled(cls, time_scale: float, **overrides: float) -> Timeouts:
        base = cls(**overrides)
        s = max(time_scale, 1e-9)
        return cls(
            capacity_wait=base.capacity_wait / s,
            boot=base.boot / s,
            unhealthy=base.unhealthy / s,
            missing_grace=base.missing_grace / s,
            terminate=base.terminate / s,
            poll=max(0.05, base.poll / s),
        )


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
        self._by_name: dict[str, Instance] = {}
        self.calls = 0

    def snapshot(self, max_age: float | None = None) -> dict[str, Instance]:
        """Instances by id, at most `max_age` (default: one interval) old."""
        age = self.interval if max_age is None else max_age
        with self._lock:
            if self._clock() - self._at >= age:
                listed = self.cloud.list_instances()
                self.calls += 1
                self._snapshot = {i.id: i for i in listed}
                self._by_name = {i.name: i for i in listed if i.name}
                self._at = self._clock()
            return dict(self._snapshot)

    def by_name(self, name: str) -> Instance | None:
        self.snapshot()
        with self._lock:
            return self._by_name.get(name)

    def tick(self) -> None:
        self._sleep(self.interval)


@dataclass
class Launched:
    name: str
    id: str
    instance_type: InstanceType
    region: str


def capacity_regions(cloud: LambdaCloud, type_name: str, preferred: Sequence[str] = ()) -> list[str]:
    """Regions with capacity for the type right now; preferred ones first."""
    for avail in cloud.list_instance_types():
        if avail.instance_type.name == type_name:
            names = [r.name for r in avail.regions]
            return [r for r in preferred if r in names] + [r for r in names if r not in preferred]
    return []


def launch_with_failover(
    cloud: LambdaCloud,
    ledger: Ledger,
    run_id: int,
    itype: InstanceType,
    *,
    ssh_key_name: str,
    label: str,
    regions: Sequence[str] = (),
    only_region: str | None = None,
    timeouts: Timeouts = Timeouts(),
    notify: Notify = _quiet,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> Launched:
    """Launch one instance of `itype`, trying regions with capacity until the capacity deadline.

    Every attempt is reserved in the ledger under a fresh unique name BEFORE the launch call.
    """
    deadline = clock() + timeouts.capacity_wait
    tags = [(TAG_TOOL, TOOL_NAME), (TAG_RUN, f"{run_id}"), ("lambdabench-version", __version__)]
    last_error: CloudError | None = None
    while True:
        if stop is not None and stop.is_set():
            raise LambdabenchError("launch cancelled")
        candidates = [only_region] if only_region else capacity_regions(cloud, itype.name, regions)
        if not candidates:
            notify(f"no region has {itype.name} capacity; waiting")
        for region in candidates:
            if stop is not None and stop.is_set():
                raise LambdabenchError("launch cancelled")
            name = make_name(label)
            ledger.reserve_instance(run_id, name, itype.name, region, itype.price_cents_per_hour)
            notify(f"launching {itype.name} in {region} as {name}")
            try:
                instance_id = cloud.launch(
                    instance_type=itype.name, region=region, ssh_key_name=ssh_key_name, name=name, tags=tags
                )
            except CapacityError as exc:
                ledger.record_launch_failed(name)
                ledger.record_error("launch", "capacity", exc.one_line(), run_id=run_id,
                                    instance_name=name)
                notify(f"{region}: no capacity for {itype.name}")
                last_error = exc
                continue
            except (ProviderError, TransportError, RateLimitedError) as exc:
                # ambiguous and not found by name after a bounded look: gc will catch a late appearance
                ledger.record_error("launch", exc.family, exc.one_line(), run_id=run_id,
                                    instance_name=name)
                ledger.set_needs_attention(name, f"launch outcome unknown: {exc.one_line()}")
                raise
            except CloudError as exc:
                ledger.record_launch_failed(name)
                ledger.record_error("launch", exc.family, exc.one_line(), run_id=run_id,
                                    instance_name=name)
                raise
            ledger.record_launch_accepted(name, instance_id)
            return Launched(name, instance_id, itype, region)
        if clock() >= deadline:
            raise CapacityError(
                f"no capacity for {itype.name} in any region within {timeouts.capacity_wait:.0f}s",
                code=last_error.code if last_error is not None else None,
            )
        sleep(min(timeouts.poll * 6, max(0.05, deadline - clock())))


class BootError(LambdabenchError):
    """An instance did not become active (unhealthy, never active, vanished)."""


def wait_active(
    poller: Poller,
    ledger: Ledger,
    launched: Launched,
    *,
    timeouts: Timeouts = Timeouts(),
    notify: Notify = _quiet,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
) -> Instance:
    """Poll (through the shared poller) until active; unhealthy and vanished instances time out."""
    started = clock()
    unhealthy_since: float | None = None
    last_status = None
    while True:
        if stop is not None and stop.is_set():
            raise BootError(f"{launched.name}: cancelled while booting")
        now = clock()
        inst = poller.snapshot().get(launched.id)
        if inst is None:
            if now - started > timeouts.missing_grace:
                raise BootError(f"{launched.name} ({launched.id}) is not listed by the API",
                                "It may have failed at launch; `lambdabench gc` will clean up.")
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
        if now - started > timeouts.boot:
            raise BootError(f"{launched.name} not active after {timeouts.boot:.0f}s (last: {last_status})",
                            "Terminating it; try another region or type.")
        poller.tick()


@dataclass
class TerminateOutcome:
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def terminate_and_verify(
    cloud: LambdaCloud,
    ledger: Ledger,
    names: Iterable[str],
    *,
    timeouts: Timeouts = Timeouts(),
    notify: Notify = _quiet,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> TerminateOutcome:
    """Terminate our instances by ledger name, retry until confirmed gone; flag what will not go."""
    outcome = TerminateOutcome()
    pending: dict[str, str | None] = {}
    for name in dict.fromkeys(names):
        row = ledger.instance(name)
        if row.gone is None:
            pending[name] = row.id
    if not pending:
        return outcome
    deadline = clock() + timeouts.terminate
    attempt = 0
    while pending:
        attempt += 1
        try:
            listed = cloud.list_instances()
        except CloudError as exc:
            notify(f"listing instances failed ({exc.one_line()}); retrying")
            listed = None
        if listed is not None:
            by_id = {i.id: i for i in listed}
            by_name = {i.name: i for i in listed if i.name}
            to_call: list[str] = []
            for name, iid in list(pending.items()):
                inst = by_id.get(iid) if iid else by_name.get(name)
                if inst is not None and iid is None:
                    ledger.record_launch_accepted(name, inst.id, status=inst.status)
                    pending[name] = iid = inst.id
                if inst is None:
                    if iid is None:
                        row = ledger.instance(name)
                        grace = row.launch_requested is not None and time.time() - row.launch_requested < timeouts.missing_grace
                        if grace and clock() < deadline:
                            continue  # a lost launch may still surface under its name
                        if row.status == "requested":
                            ledger.record_launch_failed(name)
                        else:
                            ledger.mark(name, "gone")
                    else:
                        ledger.mark(name, "gone")
                    outcome.gone.append(name)
                    del pending[name]
                elif inst.is_gone:
                    ledger.set_instance_status(name, inst.status)
                    ledger.mark(name, "gone")
                    outcome.gone.append(name)
                    del pending[name]
                elif inst.status != "terminating":
                    to_call.append(name)
            if to_call:
                for name in to_call:
                    ledger.mark(name, "terminate_called")
                ids = [pending[n] for n in to_call if pending[n]]
                try:
                    cloud.terminate([i for i in ids if i])
                    notify(f"terminate called for {', '.join(to_call)}")
                except CloudError as exc:
                    notify(f"terminate failed ({exc.one_line()}); will retry")
        if not pending:
            break
        if clock() >= deadline:
            for name in pending:
                row = ledger.instance(name)
                reason = f"terminate not confirmed after {attempt} attempts; instance {row.id or '?'} may still bill"
                if row.gone is None:
                    ledger.set_needs_attention(name, reason)
                outcome.failed.append(name)
            break
        sleep(timeouts.poll)
    return outcome
