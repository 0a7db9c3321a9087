"""Lab: the library's face. Everything the CLI does is one Lab method; so is everything a script does.

    from lambdabench import Lab, SweepRequest
    with Lab() as lab:                                    # settings: env > ./.env > config file
        plan = lab.plan(SweepRequest(gpus="a10,h100", playbook="mjx-locomotion", max_cost="5"))
        result = lab.sweep(plan)
        print(lab.report([result.sweep_id]).render("md"))

The seams are injected, as httpx's `Client(transport=…)`: `cloud=` (a LambdaCloud, e.g. on the
simulator's in-process transport), `ledger=`, `connect=` (how nodes are reached), `env=` (timeouts
and folders), `events=` (where progress goes). Nothing costly is built until a method needs it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdabench.errors import LambdabenchError, UsageError

if TYPE_CHECKING:
    from lambdabench.cloud.client import LambdaCloud
    from lambdabench.cloud.models import Filesystem, Instance
    from lambdabench.config import Settings
    from lambdabench.consent import Spend
    from lambdabench.ledger import InstanceRow, Ledger
    from lambdabench.report import Report
    from lambdabench.run.context import Connector, RemotePhase
    from lambdabench.run.env import RunEnv
    from lambdabench.run.listing import SweepStatus, SweepSummary
    from lambdabench.run.nodes import Launched, TerminateTarget
    from lambdabench.run.plan import SweepPlan, SweepRequest
    from lambdabench.run.recovery import GcResult
    from lambdabench.run.sweep import Events, SweepResult, SweepRunner
    from lambdabench.sshkeys import LocalKey

EMBED_LIMIT = 24 * 1024 * 1024  # video bytes embedded in one HTML report; past it, videos are linked


@dataclass(frozen=True)
class TypeInfo:
    """One instance type as `types` lists it: specs, price, the regions with capacity now."""

    name: str
    short: str
    gpus: int
    gpu: str
    vcpus: int
    memory_gib: int
    storage_gib: int
    price_per_hour: float
    price_cents_per_hour: int
    regions: list[str]


@dataclass(frozen=True)
class InstanceInfo:
    """One instance on the account as `ls` lists it; age and cost where the ledger knows it."""

    id: str
    name: str | None
    status: str
    type: str
    region: str
    ip: str | None
    price_per_hour: float
    age_s: float | None
    cost_so_far: float | None
    mine: bool
    kept: bool


@dataclass(frozen=True)
class RegisteredKey:
    id: str
    name: str
    local: bool  # this machine's key


@dataclass(frozen=True)
class KeysInfo:
    """The local SSH key and the keys registered on the account."""

    local_key: str
    fingerprint: str
    registered: list[RegisteredKey]


@dataclass
class LaunchResult:
    name: str
    id: str
    type: str
    region: str
    ip: str | None
    status: str


@dataclass
class DownResult:
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # not proven gone: may still bill
    never_listed: list[str] = field(default_factory=list)
    failed_described: list[str] = field(default_factory=list)  # `name (id, type, region)` of each failed one
    interrupted: bool = False  # repeated Ctrl-C stopped the proof
    auth_error: str | None = None  # the API refused the key part-way
    left_alone: list[str] = field(default_factory=list)  # --all-mine: another live lambdabench's, or another ledger's


class Lab:
    """One session of lambdabench: settings, the cloud client, the ledger, the SSH key, all lazy."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        cloud: LambdaCloud | None = None,
        ledger: Ledger | None = None,
        connect: Connector | None = None,
        events: Events | None = None,
        env: RunEnv | None = None,
        verbose: bool = False,
    ) -> None:
        if settings is None:
            from lambdabench.config import Settings

            settings = Settings.load()
        self.settings = settings
        self.verbose = verbose
        self.events = events
        if cloud is not None:
            self.__dict__["cloud"] = cloud
        if ledger is not None:
            self.__dict__["ledger"] = ledger
        if env is not None:
            self.__dict__["env"] = env  # timeouts and folders, resolved by the caller
        self._connect = connect

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if "cloud" in self.__dict__:
            self.cloud.close()
        if "ledger" in self.__dict__:
            self.ledger.close()

    # -- the seams ------------------------------------------------------------------------------------

    @cached_property
    def cloud(self) -> LambdaCloud:
        from lambdabench.cloud.client import LambdaCloud, RetryPolicy
        from lambdabench.cloud.pacing import shared_pacer

        s, t = self.settings, self.env.timeouts
        client = LambdaCloud(
            s.require_api_key(),
            s.api_url,
            pacer=shared_pacer(s.request_interval, s.launch_interval),
            retry=RetryPolicy(
                budget_s=s.retry_budget,
                rate_limit_s=s.rate_limit_backoff,
                base_s=t.retry_base,
                max_backoff_s=t.retry_max_backoff,
                launch_lookup_s=t.launch_lookup,
                retry_after_cap_s=t.retry_after_cap,
            ),
        )
        client.on_wait = self.notify  # a long Retry-After or outage is said, never a silent hold
        return client

    @cached_property
    def ledger(self) -> Ledger:
        from lambdabench.ledger import Ledger

        return Ledger(self.settings.home)

    @cached_property
    def env(self) -> RunEnv:
        from lambdabench.run.env import RunEnv

        return RunEnv.from_settings(self.settings, verbose=self.verbose)

    @cached_property
    def local_key(self) -> LocalKey:
        from lambdabench.sshkeys import ensure_local_key

        return ensure_local_key(self.settings.ssh_key_path)

    @property
    def connect(self) -> Connector:
        if self._connect is None:
            from lambdabench.run.connect import Connect

            self._connect = Connect(self.env, ensure_key=lambda: self.local_key)
        return self._connect

    def ssh_key_name(self) -> str:
        from lambdabench.sshkeys import register_key

        return register_key(self.cloud, self.local_key)

    def notify(self, message: str) -> None:
        self._emit("say", message)

    def stage(self, message: str, label: str) -> None:
        """What `label` waits for now: a row of the progress board, with its elapsed time."""
        self._emit("stage", message, label)

    def _emit(self, kind: str, message: str, label: str | None = None) -> None:
        if self.events is not None:
            from lambdabench.run.sweep import Event

            try:
                self.events(Event(kind, message, label))
            except Exception:  # noqa: BLE001 - output is never worth a failed teardown
                self.events = None

    # -- simple commands ------------------------------------------------------------------------------

    def types(self, *, available: bool = False, gpu: str | None = None) -> list[TypeInfo]:
        """Instance types with specs, price and the regions that have capacity now."""
        from lambdabench.cloud.gpus import resolve_gpu, short_name

        if gpu is not None and not gpu.strip():
            raise UsageError("--gpu is empty", "Give a GPU type (e.g. a10, 8xh100), or leave --gpu out for all.")
        avail = self.cloud.list_instance_types()
        if gpu:
            wanted = resolve_gpu(gpu, [a.instance_type for a in avail])
            avail = [a for a in avail if a.instance_type.name == wanted.name]
        rows = []
        for a in avail:
            if available and not a.regions:
                continue
            t = a.instance_type
            rows.append(
                TypeInfo(
                    name=t.name,
                    short=short_name(t),
                    gpus=t.gpus,
                    gpu=t.gpu_description,
                    vcpus=t.vcpus,
                    memory_gib=t.memory_gib,
                    storage_gib=t.storage_gib,
                    price_per_hour=round(t.price_cents_per_hour / 100, 2),
                    price_cents_per_hour=t.price_cents_per_hour,
                    regions=[r.name for r in a.regions],
                )
            )
        return rows

    def instances(self) -> list[InstanceInfo]:
        """Every instance on the account, with age and cost so far where our ledger knows it."""
        from lambdabench.cost import dollars, instance_cost
        from lambdabench.run.nodes import is_ours

        now = time.time()
        rows = []
        for inst in self.cloud.list_instances():
            row = self.ledger.instance_by_id(inst.id)
            started = row.launch_accepted if row else None
            cost = float(dollars(instance_cost(row, now).policy_cent_minutes)) if row and row.first_active else None
            rows.append(
                InstanceInfo(
                    id=inst.id,
                    name=inst.name,
                    status=inst.status,
                    type=inst.type_name,
                    region=inst.region_name,
                    ip=inst.ip,
                    price_per_hour=inst.price_cents_per_hour / 100,
                    age_s=round(now - started, 1) if started else None,
                    cost_so_far=cost,
                    mine=is_ours(inst),
                    kept=bool(row and row.kept),
                )
            )
        return rows

    def launch(
        self,
        gpu: str,
        *,
        region: str | None = None,
        label: str | None = None,
        wait: bool = False,
        keep: bool = True,
        confirm: Callable[[Spend], None] | None = None,
        image: str | None = None,
    ) -> LaunchResult:
        """Launch one instance (ledger first); kept on purpose unless keep=False: gc leaves it, `down` ends it.
        confirm sees what it will bill before anything is launched, and raises to stop it."""
        from lambdabench.cloud.gpus import boot_range, resolve_gpu, short_name
        from lambdabench.run.nodes import TerminateTarget as Target
        from lambdabench.run.nodes import launch_nodes

        avail = self.cloud.list_instance_types()
        itype = resolve_gpu(gpu, [a.instance_type for a in avail])
        if region and region not in {r.name for r in self.cloud.list_regions()}:
            raise UsageError(f"Unknown region {region!r}", "List regions with `lambdabench types`.")
        if label is not None:
            _check_label(label)
        if image is not None:
            from lambdabench.run.plan import check_image_offered

            check_image_offered(image, "--image", [itype], self.cloud.list_images)
        if confirm is not None:
            from lambdabench.consent import Spend

            confirm(Spend(f"1 × {itype.name}", itype.price_cents_per_hour, None))
        regions = (
            [region]
            if region
            else next(([r.name for r in a.regions] for a in avail if a.instance_type.name == itype.name), [])
        )
        key_name = self.ssh_key_name()
        ledger = self.ledger
        sweep = ledger.create_sweep(f"launch {itype.name}", simulated=self.settings.simulated)
        run = ledger.add_run(
            sweep,
            instance_type=itype.name,
            region=region,
            workload="interactive",
            params={"image": image} if image else None,
        )
        ledger.set_run_status(run, "running")
        group = launch_nodes(
            self.cloud,
            ledger,
            run,
            itype,
            1,
            ssh_key_name=key_name,
            label=label or short_name(itype),
            regions=regions,
            timeouts=self.env.timeouts,
            notify=self.notify,
            image_family=image,
        )
        launched = group.nodes[0]
        assert launched.id is not None
        if group.twins:  # one launch answered two ids: nobody asked for the second; it ends now
            self._end([Target(t.name, t.id) for t in group.twins], "a second instance of one launch")
        if keep:
            ledger.set_kept(launched.name)  # launched by hand: gc leaves it alone, `down` ends it
        ip, status = None, "booting"
        if wait:
            inst = self._wait_launched(launched, run, label or short_name(itype), boot_range(itype))
            ip, status = inst.ip, inst.status
        return LaunchResult(launched.name, launched.id, itype.name, launched.region, ip, status)

    def _wait_launched(self, launched: Launched, run: int, label: str, typical: str) -> Instance:
        """Wait for a launched instance to be active, shown on the board; ended and proven gone if it is not."""
        from lambdabench.run.interrupts import SignalsAsInterrupt
        from lambdabench.run.nodes import Poller, wait_active
        from lambdabench.run.nodes import TerminateTarget as Target

        ledger = self.ledger
        self.stage(f"booting ({launched.region}; typically {typical})", label)  # waited for, elapsed, usual range
        poller = Poller(self.cloud, self.env.timeouts.poll)
        try:
            with SignalsAsInterrupt():  # SIGTERM/SIGHUP while booting end it as Ctrl-C does
                inst = wait_active(
                    poller,
                    ledger,
                    launched,
                    timeouts=self.env.timeouts,
                    deadline=time.monotonic() + self.env.timeouts.boot,
                    notify=self.notify,
                )
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            self.notify(f"{launched.name} did not come up; terminating it")
            self._guard_ledger(ledger.set_kept, launched.name, False)  # never "kept" once it is being ended
            self._guard_ledger(ledger.set_run_status, run, "cancelled" if interrupted else "failed")
            self._end(
                [Target(launched.name, launched.id)],
                "a launch that did not come up",
                signals=1 if interrupted else 0,
                cause=exc,
            )
            if interrupted:
                from lambdabench.errors import Cancelled

                raise Cancelled(
                    f"interrupted while {launched.name} booted; it was terminated and proven gone"
                ) from None
            raise
        return inst

    def _guard_ledger(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except LambdabenchError as exc:
            self.notify(f"warning: ledger: {exc.one_line()}")

    def _end(
        self, targets: list[TerminateTarget], what: str, *, signals: int = 0, cause: BaseException | None = None
    ) -> None:
        """Terminate and prove gone; what is not proven gone is raised, named, with what finishes the job."""
        from lambdabench.run.interrupts import TeardownSignals
        from lambdabench.run.nodes import terminate_and_verify

        with TeardownSignals(self.notify, already=signals, cloud=self.cloud) as sig:
            outcome = terminate_and_verify(
                self.cloud, self.ledger, targets, timeouts=self.env.timeouts, notify=self.notify, give_up=sig.give_up
            )
        if outcome.failed:
            raise self.not_proven(outcome.failed, f"terminating {what}", outcome.auth_error) from cause

    def not_proven(self, names: Sequence[str], doing: str, auth_error: str | None = None) -> LambdabenchError:
        """The loud error for instances not proven gone: each one's id, type, region, and how to finish."""
        from lambdabench.run.nodes import CONSOLE_URL, describe

        why = f" (the API refused the key: {auth_error})" if auth_error else ""
        return LambdabenchError(
            f"{doing}{why}: NOT proven terminated, may still bill: {'; '.join(describe(self.ledger, names))}",
            f"Finish with `lambdabench down {' '.join(names)}` (or `lambdabench gc`)"
            + (" once LAMBDA_API_KEY is valid" if auth_error else "")
            + f", or end them at {CONSOLE_URL}.",
        )

    def resolve(self, ref: str, *, listed: Sequence[Instance] | None = None) -> list[tuple[str, str | None]]:
        """What the user typed → [(our name or the cloud's, id)]: an id, a name, or the label of `launch --name`.

        Resolved through the cloud listing AND the ledger (a new id may not be listed yet).
        """
        from lambdabench.run.nodes import name_pattern

        listed = list(self.cloud.list_instances() if listed is None else listed)
        ledger = self.ledger
        hit = [i for i in listed if i.id == ref or i.name == ref]
        if hit:
            return [(i.name or f"unnamed-{i.id}", i.id) for i in hit]
        row: InstanceRow | None = ledger.instance_by_id(ref)
        if row is None:
            try:
                row = ledger.instance(ref)
            except LambdabenchError:
                row = None
        if row is not None and row.launched_here:
            return [(row.name, row.id)]
        labelled = [r for r in ledger.instances_labelled(ref) if r.launched_here and r.gone is None]
        pattern = name_pattern(ref)
        by_name = {r.name: (r.name, r.id) for r in labelled}
        for i in listed:
            if i.name and pattern.match(i.name) and not i.is_ending:
                by_name.setdefault(i.name, (i.name, i.id))
        matches = list(by_name.values())
        if len(matches) > 1:
            raise UsageError(
                f"{ref!r} names {len(matches)} instances: {', '.join(n for n, _ in matches)}",
                "Give the full name or id (see `lambdabench ls`).",
            )
        if not matches:
            raise UsageError(f"No instance with id, name or label {ref!r}", "List them with `lambdabench ls`.")
        return matches

    def down(self, targets: Sequence[str], *, all_mine: bool = False) -> DownResult:
        """Terminate by id, name or label (or everything this tool launched) and prove each gone."""
        from lambdabench.cloud.errors import AccountError, AuthError, CloudError
        from lambdabench.run.interrupts import TeardownSignals
        from lambdabench.run.nodes import (
            TerminateTarget,
            describe,
            is_ours,
            target_of,
            terminate_and_verify,
        )

        if not targets and not all_mine:
            raise UsageError("Nothing to terminate", "Pass instance ids, names or labels, or --all-mine.")
        try:
            listed = self.cloud.list_instances()
        except (AuthError, AccountError):
            raise
        except CloudError as exc:
            # an outage: the ledger still knows what this machine launched; the teardown keeps trying
            self.notify(f"listing instances failed ({exc.one_line()}); resolving from the ledger")
            listed = []
        ledger = self.ledger
        chosen: dict[str, TerminateTarget] = {}
        for t in targets:
            for name, iid in self.resolve(t, listed=listed):
                chosen[name] = TerminateTarget(name, iid)
        left_alone: list[str] = []
        if all_mine:
            # the ownership rule of `gc`: this ledger's launches that no live lambdabench drives;
            # another home's or a colleague's (ours by name and tag, not in this ledger) are not mine
            for inst in listed:
                if not (is_ours(inst) and not inst.is_gone and inst.name):
                    continue
                mine = ledger.instance_by_id(inst.id)
                if mine is None:
                    try:
                        mine = ledger.instance(inst.name)
                    except LambdabenchError:
                        mine = None
                if mine is None or not mine.launched_here or _driven_elsewhere(mine):
                    left_alone.append(f"{inst.name} ({inst.id})")
                    continue
                chosen.setdefault(mine.name, TerminateTarget(mine.name, inst.id))
            for live in ledger.live_instances():
                if live.launched_here and live.name not in chosen and not _driven_elsewhere(live):
                    chosen.setdefault(live.name, target_of(live))  # not listed yet, or unlisted: ended by id
        by_id = {i.id: i for i in listed}
        for name, target in list(chosen.items()):
            row: InstanceRow | None = ledger.instance_by_id(target.id) if target.id else None
            if row is None:
                try:
                    row = ledger.instance(name)
                except LambdabenchError:
                    row = None
            if row is None and target.id in by_id:
                self._adopt(by_id[target.id])  # not launched by this ledger: adopt it so it is tracked
            elif row is not None and row.name != name:
                chosen[row.name] = chosen.pop(name)
                chosen[row.name].name = row.name
        for name in chosen:
            # asked to end it: no longer "kept on purpose", whatever happens next (a down cut short
            # leaves it for the next `down` or `gc` to finish, never for gc to leave alone)
            try:
                if ledger.instance(name).kept:
                    ledger.set_kept(name, False)
            except LambdabenchError:
                pass
        with TeardownSignals(self.notify, cloud=self.cloud) as sig:
            outcome = terminate_and_verify(
                self.cloud,
                ledger,
                list(chosen.values()),
                timeouts=self.env.timeouts,
                notify=self.notify,
                give_up=sig.give_up,
            )
        return DownResult(
            outcome.gone,
            outcome.failed,
            outcome.never_listed,
            describe(ledger, outcome.failed),
            outcome.interrupted,
            outcome.auth_error,
            left_alone,
        )

    def _adopt(self, inst: Instance) -> InstanceRow:
        ledger = self.ledger
        sweep = ledger.create_sweep("adopted by down", simulated=self.settings.simulated)
        run = ledger.add_run(sweep, instance_type=inst.type_name, region=inst.region_name, workload="adopted")
        name = inst.name or f"unnamed-{inst.id}"
        ledger.reserve_instance(run, name, inst.type_name, inst.region_name, inst.price_cents_per_hour)
        ledger.record_launch_accepted(name, inst.id, status=inst.status)
        return ledger.instance(name)

    def keys(self) -> KeysInfo:
        """The local SSH key and the account's registered keys (which one is this machine's)."""
        local = self.local_key
        mine = local.public_key.split()[1]
        registered = [
            RegisteredKey(k.id, k.name, len(k.public_key.split()) > 1 and k.public_key.split()[1] == mine)
            for k in self.cloud.list_ssh_keys()
        ]
        return KeysInfo(str(local.private_path), local.fingerprint, registered)

    # -- sweeps ---------------------------------------------------------------------------------------

    def check(self, gpus: str, playbook: str | None, sets: dict[str, str]) -> list[Any]:
        """Before launch: per GPU type, what the rules say of this benchmark and what the ledger measured."""
        from lambdabench.cloud.gpus import parse_gpu_list, resolve_gpu
        from lambdabench.compat import check
        from lambdabench.run.plan import DEFAULT_BENCHMARK, Benchmark

        benchmark = Benchmark.load(playbook or DEFAULT_BENCHMARK, sets, home=self.env.home)
        unknown = sorted(set(sets) - {v for b in benchmark.all for v in b.vars})
        if unknown:
            raise UsageError(
                f"playbook {benchmark.name} has no variable {unknown[0]!r}",
                f"See `lambdabench playbooks show {benchmark.name}`.",
            )
        offered = [a.instance_type for a in self.cloud.list_instance_types()]
        types = [resolve_gpu(name, offered) for name in parse_gpu_list(gpus)]
        values = benchmark.vars_for(benchmark.playbook)
        return check(benchmark.playbook, values, types, self.ledger, simulator=self.env.simulator)

    def plan(self, request: SweepRequest) -> SweepPlan:
        """Resolve and price a sweep; raises (one line) before anything launches. One types fetch, after
        every check that needs no cloud data (a bad flag is refused at once, even with the API unreachable)."""
        from lambdabench.run.plan import check_request, plan_sweep

        ngc_key_present = self.settings.ngc_api_key is not None
        checked = check_request(request, env=self.env, ngc_key_present=ngc_key_present)
        needs_cloud = bool(request.gpus.strip())
        availability = self.cloud.list_instance_types() if needs_cloud else []
        regions = [r.name for r in self.cloud.list_regions()] if needs_cloud and request.region else []
        filesystems = self.cloud.list_filesystems() if needs_cloud and request.cache else []
        return plan_sweep(
            request,
            availability=availability,
            regions=regions,
            env=self.env,
            ngc_key_present=ngc_key_present,
            filesystems=filesystems,
            list_images=self.cloud.list_images if needs_cloud else None,
            checked=checked,
            ledger=self.ledger,
        )

    def sweep(
        self,
        plan: SweepPlan | SweepRequest,
        *,
        name: str | None = None,
        events: Events | None = None,
        install_signal_handlers: bool = True,
        phase: RemotePhase | None = None,
    ) -> SweepResult:
        """Run a plan (or plan a request first); returns after every instance is proven gone or named."""
        from lambdabench.run.plan import SweepRequest

        if isinstance(plan, SweepRequest):
            name = name or plan.name
            plan = self.plan(plan)
        return self.runner(
            plan, name=name, events=events, install_signal_handlers=install_signal_handlers, phase=phase
        ).run()

    def runner(
        self,
        plan: SweepPlan,
        *,
        name: str | None = None,
        events: Events | None = None,
        install_signal_handlers: bool = True,
        phase: RemotePhase | None = None,
    ) -> SweepRunner:
        """The scheduler for a plan, not yet started (its `stop` event is the programmatic Ctrl-C)."""
        from lambdabench.run.plan import check_sweep_name
        from lambdabench.run.sweep import SweepRunner

        check_sweep_name(name)

        return SweepRunner(
            plan,
            cloud=self.cloud if any(r.target.launched for r in plan.runs) else None,
            ledger=self.ledger,
            env=self.env,
            phase=phase or self._phase(),
            connect=self.connect,
            key_name=self.ssh_key_name,
            events=events or self.events,
            name=name,
            secrets=self._secrets(),
            failsafe=(self.settings.api_url, self.settings.require_api_key()) if plan.failsafe else None,
            install_signal_handlers=install_signal_handlers,
        )

    def _phase(self) -> Any:
        from lambdabench.run.phases import PlaybookPhase

        return PlaybookPhase()

    def _secrets(self) -> dict[str, Any]:
        ngc = self.settings.ngc_api_key
        return {"NGC_API_KEY": ngc} if ngc is not None else {}

    def caches(self) -> list[Filesystem]:
        """The account's filesystems: what `--cache NAME` can reuse (`cache ls`)."""
        return self.cloud.list_filesystems()

    def remove_cache(self, name: str) -> Filesystem:
        """Delete the filesystem named `name` (`cache rm`): the only way lambdabench deletes one."""
        for fs in self.cloud.list_filesystems():
            if fs.name == name:
                self.cloud.delete_filesystem(fs.id)
                return fs
        raise UsageError(f"no filesystem named {name!r}", "See `lambdabench cache ls`.")

    def gc(self, *, dry_run: bool = False) -> GcResult:
        from lambdabench.run.interrupts import TeardownSignals
        from lambdabench.run.recovery import gc

        with TeardownSignals(self.notify, cloud=self.cloud) as sig:
            return gc(self.cloud, self.ledger, self.env, dry_run=dry_run, notify=self.notify, give_up=sig.give_up)

    def resume(
        self,
        sweep_id: int,
        *,
        force: bool = False,
        events: Events | None = None,
        install_signal_handlers: bool = True,
        phase: RemotePhase | None = None,
        confirm: Callable[[Spend, bool], None] | None = None,
    ) -> SweepResult:
        """Continue a crashed or interrupted sweep: clean up its orphans, run only what did not finish,
        with the same benchmark, region, parallelism and cap (what it already spent counts)."""
        from lambdabench.run.recovery import (
            check_resumable,
            ingest_left,
            release_hosts,
            replan,
            resumable_runs,
            resumed_hosts,
            spent_cents,
        )
        from lambdabench.run.sweep import SweepResult, SweepRunner

        ledger = self.ledger
        self._check_resume_target(sweep_id)
        sweep = ledger.claim_sweep(sweep_id, force=force)
        check_resumable(ledger, sweep_id)
        hosts = resumed_hosts(sweep, self.env)
        for problem in release_hosts(ledger, sweep_id, hosts, self.connect, self.env, self.notify):
            self.notify(f"warning: {problem} — stop them by hand")
        self.gc()
        # a run that pulled its outputs before the crash is read now, never run again
        ingested = ingest_left(ledger, sweep, self.env, self.notify)
        if not resumable_runs(ledger, sweep_id):
            ledger.finish_sweep(sweep_id, "finished")
            return SweepResult(sweep_id, succeeded=ingested)
        plan, need_cloud = replan(ledger, sweep, hosts, lambda: self.cloud.list_instance_types(), self.settings.home)
        if confirm is not None:  # what the rest may spend, and whether the sweep had a budget
            confirm(plan.spend(), sweep.max_cost_cents is not None)
        runner = SweepRunner(
            plan,
            cloud=self.cloud if need_cloud else None,
            ledger=ledger,
            env=self.env,
            phase=phase or self._phase(),
            connect=self.connect,
            key_name=self.ssh_key_name,
            events=events or self.events,
            secrets=self._secrets(),
            resume_sweep=sweep_id,
            install_signal_handlers=install_signal_handlers,
        )
        runner.commit_spent(spent_cents(ledger, sweep_id))
        result = runner.run()
        result.succeeded[:0] = ingested
        return result

    def _check_resume_target(self, sweep_id: int) -> None:
        """Only an unfinished sweep resumes: a `launch` record or a finished sweep is refused, with the list."""
        from lambdabench.run.listing import is_sweep, unfinished
        from lambdabench.run.recovery import resumable_runs

        row = self.ledger.sweep(sweep_id)
        left = unfinished(self.ledger)
        hint = (
            f"Unfinished sweeps: {', '.join(str(i) for i in left)}" if left else "No sweep is unfinished"
        ) + " (see `lambdabench sweeps`)."
        if not is_sweep(row):
            raise UsageError(f"{sweep_id} is not a sweep: it records `{row.name}`", hint)
        if not resumable_runs(self.ledger, sweep_id):
            raise UsageError(f"sweep {sweep_id} has nothing left to run", hint)

    # -- finding sweeps ---------------------------------------------------------------------------------

    def sweeps(self) -> list[SweepSummary]:
        """Every sweep, newest first: id, name, started, status, types, cost so far, report path."""
        from lambdabench.run.listing import sweep_summaries

        return sweep_summaries(self.ledger, self.env)

    def status(self, sweep_id: int | None = None) -> SweepStatus:
        """A sweep's board from the ledger (default: the newest), readable while it runs elsewhere."""
        from lambdabench.run.listing import sweep_status

        return sweep_status(self.ledger, self.env, sweep_id)

    def summary(self, sweep_id: int) -> list[str]:
        """The end of a sweep in a few lines: per type status, env-steps/s, $/M env-steps and cost; the
        report's path (written here, every format)."""
        try:
            where = f"report: {self.write_reports(sweep_id)[2]}"
        except LambdabenchError as exc:  # a full disk must not hide the sweep's verdict
            where = f"report files not written: {exc.one_line()}"
        lines = []
        for g in self.report([sweep_id]).groups:
            figures = [f"{g.succeeded}/{g.runs} succeeded"]
            if g.env_steps_per_s is not None:
                figures.append(f"{g.env_steps_per_s:,.0f} env-steps/s")
            if g.usd_per_million_steps is not None:
                figures.append(f"${g.usd_per_million_steps:.4f}/M env-steps")
            figures.append(f"${g.upper_cost_usd:.2f}")
            lines.append(f"{g.label or g.instance_type}: {', '.join(figures)}")
        lines.append(where)
        return lines

    # -- reports and export ---------------------------------------------------------------------------

    def sweep_dir(self, sweep_id: int) -> Path:
        return self.env.sweep_dir(sweep_id)

    def report(
        self,
        sweep_ids: Sequence[int] | None = None,
        *,
        html_dir: Path | None = None,
        bundles: Sequence[Path] = (),
        **options: Any,
    ) -> Report:
        """The report of these sweeps (default: the latest), with run videos when rendered to HTML;
        bundles (`export SWEEP PATH` elsewhere) join them, each sweep keeping its provenance."""
        from lambdabench.report import build_report

        if bundles:
            return self._merged_report(sweep_ids, bundles, **options)
        videos = self.videos(sweep_ids, relative_to=html_dir) if html_dir is not None else []
        return build_report(self.ledger, list(sweep_ids) if sweep_ids else None, videos=videos, **options)

    def _merged_report(self, sweep_ids: Sequence[int] | None, bundles: Sequence[Path], **options: Any) -> Report:
        import tempfile

        from lambdabench.bundle import merged_ledger, read_bundle
        from lambdabench.report import build_report

        read = [read_bundle(Path(b)) for b in bundles]  # every bundle checked before anything is built
        local_is_default = not sweep_ids
        if not sweep_ids:
            latest = self.ledger.latest_sweep()
            sweep_ids = [latest.id] if latest else []
        for sid in sweep_ids:
            self.ledger.sweep(sid)  # NotInLedger if there is no such sweep
        with tempfile.TemporaryDirectory(prefix="lambdabench-merge-") as tmp:
            ledger, ids = merged_ledger(
                Path(tmp), self.ledger, list(sweep_ids), read, local_is_default=local_is_default
            )
            try:
                return build_report(ledger, ids, **options)
            finally:
                ledger.close()

    def export_bundle(self, sweep_id: int, dest: Path, *, origin: str | None = None) -> tuple[Path, int, int]:
        """A self-contained results bundle of a sweep (docs/bundle.md) at dest: a folder or a .tar.gz."""
        from importlib.metadata import version

        from lambdabench.bundle import export_bundle

        self.ledger.sweep(sweep_id)  # NotInLedger if there is no such sweep
        self.write_reports(sweep_id)
        return export_bundle(
            self.ledger, sweep_id, self.sweep_dir(sweep_id), dest, origin=origin, version=version("lambdabench")
        )

    def videos(self, sweep_ids: Sequence[int] | None, *, relative_to: Path | None = None) -> list[Any]:
        """The run videos (training and playback MP4s) pulled for these sweeps, for the HTML report."""
        from lambdabench.report import video_from_file

        if not sweep_ids:
            latest = self.ledger.latest_sweep()
            sweep_ids = [latest.id] if latest else []
        videos, embedded = [], 0
        for sid in sweep_ids:
            for path in sorted(self.sweep_dir(sid).rglob("*.mp4")):
                run = next((p.name for p in path.parents if p.name.startswith("run-")), "")
                label = f"{run}: {path.parent.name}/{path.name}" if run else path.name
                size = path.stat().st_size
                embed = embedded + size <= EMBED_LIMIT
                embedded += size if embed else 0
                videos.append(video_from_file(path, label=label, embed=embed, relative_to=relative_to))
        return videos

    def write_reports(self, sweep_id: int) -> list[Path]:
        """The sweep's report in every format, written beside its runs."""
        from lambdabench.report import render

        root = self.sweep_dir(sweep_id)
        out = []
        try:
            root.mkdir(parents=True, exist_ok=True)
            report = self.report([sweep_id], html_dir=root)
            for fmt, ext in (("json", "json"), ("md", "md"), ("html", "html"), ("csv", "csv")):
                path = root / f"report.{ext}"
                path.write_text(render(report, fmt))
                out.append(path)
        except OSError as exc:
            raise LambdabenchError(
                f"cannot write the report in {root}: {exc.strerror or exc}",
                "Free space there; `lambdabench report` prints it from the ledger.",
            ) from None
        return out

    def export(self, sweep_id: int, uri: str, *, endpoint_url: str | None = None) -> tuple[int, int, int]:
        """Upload a sweep's folder (artifacts, records, reports) to s3://bucket/prefix; (uploaded, skipped, bytes)."""
        from lambdabench.export import export_to_s3, parse_s3_uri

        parse_s3_uri(uri)
        self.ledger.sweep(sweep_id)  # NotInLedger if there is no such sweep
        root = self.sweep_dir(sweep_id)
        self.write_reports(sweep_id)
        files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        if not files:
            raise UsageError(f"sweep {sweep_id} has nothing to export", "Run a sweep first.")
        s = self.settings
        result = export_to_s3(
            root,
            files,
            uri,
            endpoint_url=endpoint_url or s.get("LAMBDABENCH_S3_ENDPOINT_URL"),
            access_key_id=s.get("LAMBDABENCH_S3_ACCESS_KEY_ID"),
            secret_access_key=s.get("LAMBDABENCH_S3_SECRET_ACCESS_KEY"),
            region=s.get("LAMBDABENCH_S3_REGION"),
            progress=None,
        )
        self.notify(
            f"export: {len(result.uploaded)} uploaded, {len(result.skipped)} already there, "
            f"{result.bytes:,} bytes to {uri}"
        )
        return len(result.uploaded), len(result.skipped), result.bytes


def _driven_elsewhere(row: InstanceRow) -> bool:
    """Another live lambdabench process (a running sweep) owns this row: `gc`'s rule, this process aside."""
    from lambdabench.ledger import ProcessIdentity, is_process_alive

    owner = row.owner
    return owner is not None and owner != ProcessIdentity.current() and bool(is_process_alive(owner))


def _check_label(label: str) -> None:
    if not label.strip() or len(label) > 40 or not label.isprintable() or not re.search(r"[A-Za-z0-9]", label):
        raise UsageError(
            f"--name {label!r} must be 1-40 printable characters with a letter or digit",
            "e.g. --name my-test (it becomes lambdabench-my-test-<random>)",
        )
