"""The scheduler: many runs under one pacer and one poller; every instance torn down and proven gone.

One run = one target's life: reserve (ledger) → launch N ≥ 1 nodes → wait active → remote phase
(SSH, preflight, set-up, benchmark, pull) → terminate → proven gone → ingest → status, record. The
launcher (this thread) launches in plan order — slow boots first, since launches are paced 12 s apart —
and each launched run lives in its own worker thread. Whatever happens — success, failure, Ctrl-C, SIGTERM,
SIGHUP, a closed terminal, a ledger that cannot be written — every instance the sweep launched is
terminated and proven gone, or named loudly as possibly still billing.

Signals never interrupt a call in flight (a launch cut short by KeyboardInterrupt leaves an instance
the ledger never hears of): the handler only sets flags. First signal: stop the work, tear down.
Second: stop waiting for the workers and terminate everything now. Third: say what is left. Fourth:
stop waiting for the proof and name every instance not proven gone (`gc` finishes the job).
Progress leaves as events; a renderer that cannot write (a closed terminal, a dead pipe) is dropped.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdabench.cloud.errors import CapacityError, CloudError, LaunchOutcomeUnknown
from lambdabench.errors import BudgetError, Cancelled, LambdabenchError
from lambdabench.run.nodes import (
    CONSOLE_URL,
    Availability,
    BootError,
    LaunchedGroup,
    Poller,
    TerminateTarget,
    delete_ruleset,
    describe,
    launch_nodes,
    open_ruleset,
    terminate_and_verify,
    wait_active,
)

if TYPE_CHECKING:
    from lambdabench.cloud.client import LambdaCloud
    from lambdabench.cloud.models import Instance
    from lambdabench.ledger import Ledger
    from lambdabench.run.cache import CachePlan
    from lambdabench.run.cluster import Cluster
    from lambdabench.run.context import Connector, Node, RemotePhase, RunContext
    from lambdabench.run.env import RunEnv
    from lambdabench.run.plan import PlannedRun, SweepPlan
    from lambdabench.secrets import Secret

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GIVE_UP_AT = 4  # signals before a teardown stops waiting for proof and names what may still bill


@dataclass(frozen=True)
class Event:
    """One line of progress: `stage` (a run's current stage), `say`, or `alert` (money at stake)."""

    kind: str
    message: str
    label: str | None = None


Events = Callable[[Event], None]


@dataclass
class SweepResult:
    sweep_id: int
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)
    not_terminated: list[str] = field(default_factory=list)  # may still bill: named loudly
    never_listed: list[str] = field(default_factory=list)  # ambiguous launches whose name never appeared
    kept: list[str] = field(default_factory=list)  # left up on purpose (--keep-on-failure)
    ledger_errors: list[str] = field(default_factory=list)
    interrupted: bool = False
    api_requests: int = 0

    @property
    def all_gone(self) -> bool:
        """Every instance this sweep launched was proven gone (kept ones aside)."""
        return not self.not_terminated and not self.never_listed

    @property
    def ok(self) -> bool:
        """Every planned run ran and succeeded, and every instance is proven gone: the only exit-0 outcome.

        A run left out (by --max-cost, or because the account cannot launch) is not a success.
        """
        return self.all_gone and not self.failed and not self.skipped and not self.cancelled and not self.interrupted


@dataclass
class _Ending:
    """How one run's work ended, decided before its teardown; its ingest, status and record come after it."""

    run: PlannedRun
    rc: RunContext | None
    failed: str | None
    completed: bool
    cancelled: bool
    ended_at: float | None = None  # a run on a shared instance (--reuse): when its own work ended


class LateSignal(BaseException):
    """A signal after the teardown, while the ending was being printed (BaseException: no handler eats it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


class AfterTeardown:
    """The sweep has ended: INT/TERM/HUP now stop the printing, never the telling of what was proven.

    `with AfterTeardown() as late:` installs handlers (main thread only); inside `late.printing()`
    the first signal raises LateSignal, which printing() swallows after noting it in `late.signal`;
    any other signal is only noted, so the one-line verdict is still said and the exit code follows it.
    """

    def __init__(self) -> None:
        self.signal: LateSignal | None = None
        self._armed = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> AfterTeardown:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signal is None:
            self.signal = LateSignal(signum)
            if self._armed:
                self._armed = False
                raise self.signal

    @contextlib.contextmanager
    def printing(self) -> Iterator[None]:
        """A block a signal may cut short (the report, an export): the signal is remembered, not fatal."""
        self._armed = self.signal is None
        try:
            yield
        except LateSignal:
            pass
        finally:
            self._armed = False

    def exit_code(self, default: int) -> int:
        return 128 + self.signal.signum if self.signal is not None else default


class SweepRunner:
    """Runs a plan; `run()` returns only after every instance it launched is proven gone or named."""

    def __init__(
        self,
        plan: SweepPlan,
        *,
        cloud: LambdaCloud | None,
        ledger: Ledger,
        env: RunEnv,
        phase: RemotePhase,
        connect: Connector,
        key_name: Callable[[], str],
        events: Events | None = None,
        name: str | None = None,
        secrets: dict[str, Secret] | None = None,
        resume_sweep: int | None = None,
        install_signal_handlers: bool = True,
        log_path: Path | None = None,
        failsafe: tuple[str, Secret] | None = None,
    ) -> None:
        self.plan = plan
        self.cloud = cloud
        self.ledger = ledger
        self.env = env
        self.timeouts = env.timeouts
        self.phase = phase
        self.connect = connect
        self._key_name_fn = key_name
        self._events = events
        self.name = name
        self.secrets = dict(secrets or {})
        self.failsafe = failsafe  # (API URL, key): never among `secrets`, which playbooks see
        self._failsafes: dict[str, RunContext] = {}  # by run label: runs whose instances carry a failsafe
        self._resume = resume_sweep
        self.install_signal_handlers = install_signal_handlers
        self._log_path = log_path
        self.poller = Poller(cloud, self.timeouts.poll) if cloud is not None else None
        self.availability = (
            Availability(cloud, plan.availability, min_age=self.timeouts.poll * 6) if cloud is not None else None
        )
        self.stop = threading.Event()
        self.force = threading.Event()
        self.result = SweepResult(sweep_id=0)
        self._lock = threading.Lock()
        self._signals = 0
        self._committed_cents = 0
        self._workers: list[threading.Thread] = []
        self._slots = threading.Semaphore(plan.max_parallel)
        self._groups: dict[str, LaunchedGroup] = {}  # by run label: every launched instance, in memory
        self._reconcilers: list[threading.Thread] = []
        self._key_name: str | None = None
        self._followers = plan.leads()  # --reuse: by lead label, the runs that follow it on its instance
        self.cache: CachePlan | None = None  # --cache: the filesystem, once it is known to exist

    # -- events: never allowed to fail the sweep ----------------------------------------------------

    def emit(self, kind: str, message: str, label: str | None = None) -> None:
        event = Event(kind, message, label)
        if self._log_path is not None:
            with contextlib.suppress(Exception):
                self._log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self._log_path, "a", encoding="utf-8", errors="backslashreplace") as fh:
                    fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {kind} {f'[{label}] ' if label else ''}{message}\n")
        if self._events is not None:
            try:
                self._events(event)
            except Exception:  # noqa: BLE001 - a dead terminal or pipe must not stop a teardown
                self._events = None

    def _say(self, label: str) -> Callable[[str], None]:
        return lambda message: self.emit("say", message, label)

    def _guard(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A ledger write that must not stop the teardown: its failure is said loudly and remembered."""
        try:
            return fn(*args, **kwargs)
        except LambdabenchError as exc:
            msg = f"ledger: could not record {what} ({exc.one_line()})"
            with self._lock:
                self.result.ledger_errors.append(msg)
            self.emit("alert", msg)
            return None

    # -- public -------------------------------------------------------------------------------------

    def run(self) -> SweepResult:
        sweep_id = self._start()
        self.result.sweep_id = sweep_id
        if self._log_path is None:
            self._log_path = self.env.log_dir() / f"sweep-{sweep_id}.log"
        previous = self._install_handlers()
        try:
            self._ensure_cache()
            self._launch_all(sweep_id)
            self._join_workers()
        except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt without handlers, or a bug
            self.stop.set()
            self.result.interrupted = True
            if not isinstance(exc, KeyboardInterrupt):
                self.emit("alert", f"internal error in the sweep: {type(exc).__name__}: {exc}; tearing down")
        finally:
            try:
                self._teardown_all(sweep_id)
                status = "aborted" if self.result.interrupted else "finished"
                self._guard("the sweep's end", self.ledger.finish_sweep, sweep_id, status)
                if self.cloud is not None:
                    self.result.api_requests = self.cloud.requests_sent
            finally:  # the handlers stay until the ledger has the end: a signal there only sets a flag
                self._restore_handlers(previous)
        return self.result

    def _ensure_cache(self) -> None:
        """--cache: the filesystem exists before the first launch that mounts it; if it cannot, all run cold."""
        from lambdabench.run.cache import ensure

        if self.plan.cache is not None and self.cloud is not None and not self.stop.is_set():
            self.cache = ensure(self.cloud, self.plan.cache, lambda m: self.emit("say", m))

    def _start(self) -> int:
        ledger, plan = self.ledger, self.plan
        if self._resume is not None:
            return self._resume
        sweep_id = ledger.create_sweep(
            self.name, simulated=self.env.simulated, plan=plan.to_json(), max_cost_cents=plan.max_cost_cents
        )
        for r in plan.runs:
            r.run_id = ledger.add_run(
                sweep_id,
                instance_type=r.target.name,
                region=plan.region,
                workload=plan.playbook,
                params={
                    "vars": plan.variables,
                    "repeat": r.repeat,
                    "label": r.label,
                    **({"image": plan.image} if plan.image and r.target.launched else {}),
                    **({"nodes": plan.nodes} if plan.nodes > 1 and r.target.launched else {}),
                    **({"host": r.target.host.spec} if r.target.host is not None else {}),
                },
            )
        return sweep_id

    # -- signals ------------------------------------------------------------------------------------

    def _install_handlers(self) -> dict[int, Any]:
        if not self.install_signal_handlers or threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        for sig in SIGNALS:
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: Any) -> None:
        """Flags only: a signal never raises into the call in flight (a launch, a terminate)."""
        self._signals += 1
        name = signal.Signals(signum).name
        self.result.interrupted = True
        launches = any(r.target.launched for r in self.plan.runs)
        if not self.stop.is_set():
            self.stop.set()
            if launches:
                self.emit(
                    "alert",
                    f"{name}: stopping; every instance of this sweep will be terminated and proven "
                    "gone (Ctrl-C again to skip the remaining work and terminate now)",
                )
            else:
                self.emit(
                    "alert",
                    f"{name}: stopping the runs on your machines (they are left as they are: this "
                    "sweep launched no instance); Ctrl-C again to stop at once",
                )
        elif not self.force.is_set():
            self.force.set()
            self.emit(
                "alert",
                f"{name} again: terminating every instance of this sweep now"
                if launches
                else f"{name} again: stopping now",
            )
        elif self._signals == GIVE_UP_AT:
            self.emit(
                "alert",
                f"{name} again: no longer waiting for proof; what is not proven gone is "
                "named next (`lambdabench gc` finishes the job)",
            )
        else:
            live = sum(1 for g in self._groups.values() for n in g.nodes)
            self.emit(
                "alert",
                f"{name}: teardown in progress ({live} instance(s) being proven gone); once more "
                "stops waiting for the proof and names them; kill -9 would leave them unnamed",
            )

    @staticmethod
    def _restore_handlers(previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    # -- launching ----------------------------------------------------------------------------------

    def _worst_case(self, run: PlannedRun) -> int:
        """The run's worst case, and with --reuse that of every run that follows it on its instance."""
        return sum(self.plan.worst_case_cents(r) for r in [run, *self._followers.get(run.label, [])])

    def _budget_allows(self, run: PlannedRun) -> bool:
        cap = self.plan.max_cost_cents
        if cap is None:
            return True
        with self._lock:
            if self._committed_cents + self._worst_case(run) > cap:
                return False
            self._committed_cents += self._worst_case(run)
            return True

    def _release_budget(self, run: PlannedRun) -> None:
        if self.plan.max_cost_cents is not None:
            with self._lock:
                self._committed_cents -= self._worst_case(run)

    def commit_spent(self, cents: int) -> None:
        """Money a resumed sweep already spent counts against its cap."""
        with self._lock:
            self._committed_cents += cents

    def key_name(self) -> str:
        if self._key_name is None:
            self._key_name = self._key_name_fn()
        return self._key_name

    def _launch_all(self, sweep_id: int) -> None:
        """The launcher: one run at a time, in plan order; capacity misses go to the back of the queue."""
        following = self.plan.followers()
        queue = [r for r in self.plan.runs if r.run_id is not None and r.label not in following]
        capacity_deadline = time.monotonic() + self.timeouts.capacity_wait
        retry_at: dict[int, float] = {}
        while queue and not self.stop.is_set():
            run = queue.pop(0)
            assert run.run_id is not None
            wait = retry_at.get(run.run_id, 0) - time.monotonic()
            if wait > 0:
                if all(retry_at.get(r.run_id or 0, 0) > time.monotonic() for r in queue):
                    self.stop.wait(min(wait, self.timeouts.poll * 6))
                queue.append(run)
                continue
            if not self._budget_allows(run):
                why = (
                    f"not launched: its worst case ${self._worst_case(run) / 100:.2f} would pass --max-cost "
                    f"{(self.plan.max_cost_cents or 0) / 100:.2f}"
                )
                self._skip(run, why)
                self._skip_followers(run, why)
                continue
            while not self._slots.acquire(timeout=0.2):  # a free slot first, so finished runs' slots are reused
                if self.stop.is_set():
                    self._release_budget(run)
                    queue.insert(0, run)
                    break
            else:
                outcome = self._acquire(run)
                if outcome == "retry":
                    if time.monotonic() >= capacity_deadline:
                        self._fail(run, f"no capacity within {self.timeouts.capacity_wait:.0f}s")
                        self._skip_followers(run, f"not run: {run.label} found no capacity")
                    else:
                        self.emit("say", "no capacity now; will retry", run.label)
                        retry_at[run.run_id] = time.monotonic() + self.timeouts.poll * 6
                        queue.append(run)
                elif outcome == "stop-all":
                    # quota, key, account: every later launch would meet the same answer; fail them now
                    why = self.result.failed.get(run.label, "the account cannot launch")
                    for other in [run, *queue]:
                        if other is not run:
                            self._fail(other, f"not launched: {why}")
                        self._skip_followers(other, f"not run: {why}")
                    queue.clear()
                continue
        for run in queue:
            self._skip(run, "not launched: the sweep was interrupted", cancelled=True)
            self._skip_followers(run, "not run: the sweep was interrupted", cancelled=True)

    def _acquire(self, run: PlannedRun) -> str:
        """Launch the run's nodes (or take its BYO host) and start its worker; 'ok', 'retry' or 'stop-all'."""
        assert run.run_id is not None
        deadline = time.monotonic() + self.plan.max_run_seconds  # every billed minute counts, boot included
        # --reuse: each run that follows on the instance gets its own maximum, counted from its own start
        if not run.target.launched:
            self._start_worker(run, None, deadline)
            return "ok"
        assert self.cloud is not None and self.availability is not None and run.itype is not None
        self._guard("the run's start", self.ledger.set_run_status, run.run_id, "running")
        nodes = self.plan.nodes
        self.emit("stage", f"launching {nodes} nodes" if nodes > 1 else "launching", run.label)
        preferred = [self.plan.region] if self.plan.region else []
        # a cache's region first: there the run mounts it (elsewhere it runs cold)
        regions = preferred or self.availability.regions(
            run.itype.name, [self.cache.region] if self.cache and self.cache.region else []
        )
        file_systems = {self.cache.region: [self.cache.name]} if self.cache and self.cache.region else None
        try:
            group = launch_nodes(
                self.cloud,
                self.ledger,
                run.run_id,
                run.itype,
                nodes,
                ssh_key_name=self.key_name(),
                label=run.label.replace("#", "-"),
                regions=regions,
                timeouts=self.timeouts,
                notify=self._say(run.label),
                stop=self.stop,
                file_systems=file_systems,
                image_family=self.plan.image,
                firewall=self.plan.benchmark.livestream_webrtc,
            )
        except CapacityError as exc:
            self._slots.release()
            self._release_budget(run)
            self.availability.refresh()
            self.emit("say", exc.one_line(), run.label)
            return "retry"
        except Cancelled:
            self._slots.release()
            self._release_budget(run)
            self._skip(run, "not launched: the sweep was interrupted", cancelled=True)
            self._skip_followers(run, "not run: the sweep was interrupted", cancelled=True)
            return "ok"
        except LaunchOutcomeUnknown as exc:
            # it may exist: its reservation stays open and is reconciled by its name in the background
            # (terminated if it appears); the run tries again later under a new name, never a resend
            self._slots.release()
            self._release_budget(run)
            self._reconcile_later(TerminateTarget(exc.name, None), run.label)
            self.emit("say", f"{exc.one_line()}; looking for it by name, and retrying under a new name", run.label)
            return "retry"
        except LambdabenchError as exc:
            self._slots.release()
            self._release_budget(run)
            self._fail(run, exc.one_line())
            self._skip_followers(run, f"not run: {run.label} could not launch")
            if isinstance(exc, CloudError) and exc.family in ("auth", "account", "quota"):
                return "stop-all"
            return "ok"
        self._groups[run.label] = group
        self._start_worker(run, group, deadline)
        return "ok"

    def _reconcile_later(self, target: TerminateTarget, label: str) -> None:
        t = threading.Thread(
            target=self._terminate, args=([target], self._say(label)), name=f"reconcile-{label}", daemon=True
        )
        self._reconcilers.append(t)
        t.start()

    def _start_worker(self, run: PlannedRun, group: LaunchedGroup | None, deadline: float) -> None:
        worker = threading.Thread(
            target=self._worker, args=(run, group, deadline), name=f"run-{run.label}", daemon=True
        )
        self._workers.append(worker)
        worker.start()

    def _skip(self, run: PlannedRun, why: str, *, cancelled: bool = False) -> None:
        if cancelled:
            self.result.cancelled.append(run.label)
        else:
            self.result.skipped[run.label] = why
        if run.run_id is not None:
            self._guard("a skipped run", self.ledger.record_error, "plan", "skipped", why, run_id=run.run_id)
            self._guard("a skipped run", self.ledger.set_run_status, run.run_id, "cancelled")
        self.emit("say", why, run.label)

    def _skip_followers(self, run: PlannedRun, why: str, *, cancelled: bool = False) -> None:
        for follower in self._followers.get(run.label, []):
            self._skip(follower, why, cancelled=cancelled)

    def _fail(self, run: PlannedRun, why: str) -> None:
        self.result.failed[run.label] = why
        if run.run_id is not None:
            self._guard("a failed run", self.ledger.set_run_status, run.run_id, "failed")
        self.emit("stage", f"FAILED: {why}", run.label)

    # -- one run --------------------------------------------------------------------------------------

    def _worker(self, run: PlannedRun, group: LaunchedGroup | None, deadline: float) -> None:
        assert run.run_id is not None
        failed: str | None = None
        completed = cancelled = False
        stage = "boot"
        rc: RunContext | None = None
        host_row: str | None = None
        host_nodes: list[Node] = []
        try:
            if group is not None:
                from lambdabench.cloud.gpus import boot_range

                typical = f"; typically {boot_range(run.itype)}" if run.itype is not None else ""
                self.emit("stage", f"booting ({group.region}{typical})", run.label)
                instances = [self._wait_active(run, n, deadline) for n in group.nodes]
                nodes = self._lambda_nodes(run, group, instances)
            else:
                host_row, nodes = self._host_nodes(run)
                host_nodes = nodes
            stage = "remote"
            rc = self._context(run, group, nodes, deadline)
            if group is not None and self.failsafe is not None:
                self._arm_failsafe(run, rc)
            if group is not None:
                self._cache_for(rc, group, instances)
                if self.plan.benchmark.livestream_webrtc:
                    self._open_livestream(rc, group)
            self.emit("stage", "active at " + ", ".join(n.address for n in nodes), run.label)
            self._run_remote(rc)
            completed = True
        except Cancelled:
            cancelled = True
        except BootError as exc:
            failed = exc.one_line()
            self._guard("the error", self.ledger.record_error, stage, "boot", failed, run_id=run.run_id)
        except LambdabenchError as exc:
            failed = exc.one_line()
            self._guard("the error", self.ledger.record_error, stage, type(exc).__name__, failed, run_id=run.run_id)
        except Exception as exc:  # noqa: BLE001 - a bug must not skip teardown
            failed = f"internal error: {type(exc).__name__}: {exc}"
            self._guard("the error", self.ledger.record_error, stage, "internal", failed, run_id=run.run_id)
        finally:
            followers = self._followers.get(run.label, []) if group is not None else []
            # --reuse: each run's own end is when its work on the shared instance ended
            endings = [self._ending(run, rc, failed, completed, cancelled, shared=bool(followers))]
            if followers:
                endings += self._follow(run, rc, completed, followers)
            if group is not None:
                keep = any(e.failed is not None for e in endings)
                self._end_group(run, group, keep=keep and self.plan.keep_on_failure and not self.stop.is_set())
            if host_row is not None:
                self._stop_host_work(run, host_nodes, rc)
                self._release_host(host_row)
            self._slots.release()
            for ending in endings:  # after the teardown: reading the outputs bills nothing
                self._finish(ending)

    def _ending(
        self,
        run: PlannedRun,
        rc: RunContext | None,
        failed: str | None,
        completed: bool,
        cancelled: bool,
        *,
        shared: bool,
    ) -> _Ending:
        """How a run's work ended, kept until its teardown; a run that finished its work leaves what its ingest
        needs in its folder first (`resume` ingests it should this process die before)."""
        from lambdabench.run.ingest import save_pending

        now = time.time()
        if completed and rc is not None and rc.pulled:
            try:
                save_pending(rc, now)
            except OSError as exc:
                self.emit(
                    "say", f"could not save the run's pulled state ({exc}); a crash now would re-run it", run.label
                )
        return _Ending(run, rc, failed, completed, cancelled, now if shared else None)

    def _finish(self, e: _Ending) -> None:
        """After the teardown: the run's figures (its ingest), its status from what the ingest found, its record."""
        from lambdabench.run.ingest import PENDING, ingest, write_record

        assert e.run.run_id is not None
        parts: dict[str, Any] | None = None
        failed, completed = e.failed, e.completed
        if e.rc is not None:
            why: tuple[str, str] | None = None
            try:
                parts = ingest(e.rc, whole=e.completed)
            except LambdabenchError as exc:
                why = (type(exc).__name__, exc.one_line())
            except Exception as exc:  # noqa: BLE001 - a bug in reading results must not skip the record
                why = ("internal", f"internal error: {type(exc).__name__}: {exc}")
            if why is not None:
                self._guard("the error", self.ledger.record_error, "ingest", why[0], why[1], run_id=e.run.run_id)
                if completed:
                    failed, completed = why[1], False
        self._conclude(e.run, None if e.cancelled else failed, completed, ts=e.ended_at)
        if e.rc is not None:
            self._guard("the run record", write_record, e.rc, parts)
            with contextlib.suppress(OSError):
                (e.rc.run_dir / PENDING).unlink(missing_ok=True)

    def _follow(
        self, lead: PlannedRun, lead_rc: RunContext | None, lead_done: bool, followers: list[PlannedRun]
    ) -> list[_Ending]:
        """--reuse: the lead's type's other repeats, one after another on its instance, each its own run.

        They need the lead's set-up (or its whole work) done on the instance, never its ingest: every run of
        the instance is ingested after its teardown."""
        endings: list[_Ending] = []
        if (
            lead.run_id is not None
        ):  # the lead's instance carries every run that followed it: the report splits its time
            self._guard(
                "the reuse",
                self.ledger.record_metric,
                lead.run_id,
                "reuse_runs",
                float(1 + len(followers)),
                source="reuse",
            )
        # a failed benchmark leaves the instance usable; a failed boot, preflight or set-up does not
        ready = lead_rc is not None and (lead_rc.setup_facts is not None or lead_done)
        for run in followers:
            assert run.run_id is not None
            if self.stop.is_set():
                self._skip(run, "not run: the sweep was interrupted", cancelled=True)
                continue
            if not ready or lead_rc is None:
                self._skip(run, f"not run: the instance of {lead.label} never finished its set-up")
                continue
            failed: str | None = None
            completed = cancelled = False
            rc: RunContext | None = None
            self._guard("the run's start", self.ledger.set_run_status, run.run_id, "running")
            deadline = time.monotonic() + self.plan.max_run_seconds
            try:
                rc = self._context(run, None, lead_rc.nodes, deadline)
                rc.region, rc.reused_from = lead_rc.region, lead_rc
                rc.cache_dir, rc.cache_note = lead_rc.cache_dir, lead_rc.cache_note
                self.emit("stage", f"on {lead.label}'s instance ({lead_rc.rank0.address})", run.label)
                self._guard(
                    "the reuse",
                    self.ledger.record_metric,
                    run.run_id,
                    "reused_instance_of_run",
                    float(lead_rc.run_id),
                    source="reuse",
                )
                self._run_remote(rc)
                completed = True
            except Cancelled:
                cancelled = True
            except LambdabenchError as exc:
                failed = exc.one_line()
                self._guard(
                    "the error", self.ledger.record_error, "remote", type(exc).__name__, failed, run_id=run.run_id
                )
            except Exception as exc:  # noqa: BLE001 - a bug must not skip teardown
                failed = f"internal error: {type(exc).__name__}: {exc}"
                self._guard("the error", self.ledger.record_error, "remote", "internal", failed, run_id=run.run_id)
            endings.append(self._ending(run, rc, failed, completed, cancelled, shared=True))
        return endings

    def _wait_active(self, run: PlannedRun, launched: Any, deadline: float) -> Instance:
        assert self.poller is not None
        return wait_active(
            self.poller, self.ledger, launched, timeouts=self.timeouts, deadline=deadline, stop=self.stop
        )

    def _lambda_nodes(self, run: PlannedRun, group: LaunchedGroup, instances: list[Instance]) -> list[Node]:
        from lambdabench.cloud.gpus import type_facts
        from lambdabench.run.cluster import node_address, rank_order
        from lambdabench.run.context import Node

        assert run.itype is not None
        facts = type_facts(run.itype)
        if len(instances) == 1:
            inst = instances[0]
            return [
                Node(
                    0,
                    group.nodes[0].name,
                    "lambda",
                    inst.ip or "",
                    inst.private_ip or inst.ip or "",
                    dict(facts),
                    inst.id,
                )
            ]
        addresses = [node_address(inst) for inst in instances]
        for a in addresses:
            if a.warning:
                self.emit("say", f"warning: {a.warning}", run.label)
        order = rank_order([a.addr for a in addresses])
        return [
            Node(
                rank,
                group.nodes[i].name,
                "lambda",
                instances[i].ip or addresses[i].addr,
                addresses[i].addr,
                dict(facts),
                instances[i].id,
                addresses[i].network,
            )
            for rank, i in enumerate(order)
        ]

    def _host_nodes(self, run: PlannedRun) -> tuple[str, list[Node]]:
        """A BYO machine as the run's one node; its ledger row says it is not ours to terminate."""
        from lambdabench.run.context import Node
        from lambdabench.run.nodes import make_name

        host = run.target.host
        assert host is not None and run.run_id is not None
        name = make_name(f"{host.kind}-{host.label}")
        self.ledger.set_run_status(run.run_id, "running")
        self.ledger.reserve_instance(
            run.run_id, name, run.target.name, None, host.price_cents_per_hour, kind=host.kind, label=host.label
        )
        self.ledger.record_launch_accepted(name, name, status="active")  # a host has no Lambda id: its name
        self.ledger.mark(name, "first_active")
        addr = host.addr or "localhost"
        return name, [
            Node(0, name, host.kind, addr, addr, host.facts(), None, "private", host.user, host.port, host.key_path)
        ]

    def _stop_host_work(self, run: PlannedRun, nodes: list[Node], rc: RunContext | None) -> None:
        """Nothing terminates a machine you brought: what the run started there is stopped, and checked."""
        from lambdabench.run.hostjobs import end_run_on

        assert run.run_id is not None
        for problem in end_run_on(self.connect, nodes, rc.phase_thread if rc else None, self.timeouts):
            self.emit("alert", f"{problem} — stop them by hand", run.label)
            self._guard("the error", self.ledger.record_error, "stop", "host", problem, run_id=run.run_id)

    def _release_host(self, name: str) -> None:
        """The run is over on a BYO host: its time stops counting; nothing is terminated."""
        self._guard("the host's release", self.ledger.mark, name, "terminate_called")
        self._guard("the host's release", self.ledger.mark, name, "gone")

    def _context(self, run: PlannedRun, group: LaunchedGroup | None, nodes: list[Node], deadline: float) -> RunContext:
        from lambdabench.run.context import RunContext

        assert run.run_id is not None
        run_dir = self.env.run_dir(self.result.sweep_id, run.run_id, run.label)
        run_dir.mkdir(parents=True, exist_ok=True)
        rc = RunContext(
            sweep_id=self.result.sweep_id,
            run_id=run.run_id,
            label=run.label,
            nodes=nodes,
            plan=self.plan,
            benchmark=self.plan.benchmark,
            env=self.env,
            ledger=self.ledger,
            connect=self.connect,
            run_dir=run_dir,
            stop=self.stop,
            deadline=deadline,
            notify=self._say(run.label),
            secrets=self.secrets,
            target_name=run.target.name,
            region=group.region if group else None,
        )
        if len(nodes) > 1:
            self.ledger.record_metric(run.run_id, "nodes", float(len(nodes)), source="multinode")
            if group is not None:
                rc.on_rendezvous = lambda cluster: self._rendezvous(rc, group, cluster)
        return rc

    def _cache_for(self, rc: RunContext, group: LaunchedGroup, instances: list[Instance]) -> None:
        """--cache: the folder the run's set-up keeps its warm start in, or why it runs cold."""
        from lambdabench.run.cache import SUBDIR, cache_dir

        cache = self.cache
        if self.plan.cache is None:
            return
        if cache is None:
            rc.cache_note = f"cache {self.plan.cache.name} not available"
        elif group.region != cache.region:
            rc.cache_note = f"cache {cache.name} is in {cache.region}; launched in {group.region}: running cold"
        else:
            dirs = {cache_dir(inst, cache) for inst in instances}
            # launched with it: the documented mount point when the response names none (FIELD-NOTES "Machines")
            rc.cache_dir = dirs.pop() if len(dirs) == 1 and None not in dirs else f"/lambda/nfs/{cache.name}/{SUBDIR}"
        if rc.cache_note:
            rc.notify(rc.cache_note)
            self._guard("the cache miss", self.ledger.record_metric, rc.run_id, "cache_warm", 0.0, source="cache")

    def _open_livestream(self, rc: RunContext, group: LaunchedGroup) -> None:
        """--livestream 2: the WebRTC ports into the run's ruleset, from this machine's address as the instance
        sees it (the SSH client's: no third-party lookup); deleted with the ruleset after teardown."""
        from lambdabench.cloud.errors import CloudError
        from lambdabench.run.nodes import livestream_rules

        if group.ruleset_id is None or self.cloud is None:
            rc.notify("warning: no firewall ruleset for this run: the livestream viewer cannot connect")
            return
        session = rc.connect(rc.nodes[0], timeout=self.timeouts.ssh_ready)
        try:
            caller = session.run('printf %s "${SSH_CLIENT%% *}"', timeout=30).stdout.strip()
        finally:
            session.close()
        if not caller:
            rc.notify("warning: could not tell this machine's address as the instance sees it: no livestream rule")
            return
        group.stream_rules = livestream_rules(caller)
        try:
            self.cloud.update_firewall_ruleset(group.ruleset_id, rules=group.stream_rules)
        except CloudError as exc:
            rc.notify(f"warning: the livestream ports were not opened ({exc.one_line()}): the viewer cannot connect")
            return
        rc.notify(f"firewall: livestream ports opened for {caller}/32 only, until the run's teardown")

    def _rendezvous(self, rc: RunContext, group: LaunchedGroup, cluster: Cluster) -> None:
        import json

        if group.ruleset_id and self.cloud is not None:
            # rules name each node's PUBLIC address: the spec's FirewallRule.source_network is "a public
            # IPv4 address" (whether rules filter the private network at all is undocumented, FIELD-NOTES)
            addrs = [n.address for n in rc.nodes]
            open_ruleset(self.cloud, group.ruleset_id, addrs, cluster.port, rc.notify, group.stream_rules)
        (rc.run_dir / "cluster.json").write_text(
            json.dumps(
                {
                    "nodes": [
                        {"rank": n.rank, "name": n.name, "id": n.instance_id, "addr": n.peer_addr, "network": n.network}
                        for n in rc.nodes
                    ],
                    "region": group.region,
                    "rdzv_endpoint": cluster.rdzv_endpoint,
                    "rdzv_id": cluster.run_key,
                    "firewall_ruleset": group.ruleset_id,
                },
                indent=2,
            )
        )

    def _run_remote(self, rc: RunContext) -> None:
        """The remote phase under the run's maximum duration: past it, the run fails and is torn down."""
        errors: list[BaseException] = []

        def target() -> None:
            try:
                self.phase(rc)
            except BaseException as exc:  # noqa: BLE001 - handed to the worker thread
                errors.append(exc)

        t = threading.Thread(target=target, name=f"remote-{rc.label}", daemon=True)
        rc.phase_thread = t
        t.start()
        try:
            while t.is_alive():
                t.join(timeout=0.2)
                if self.stop.is_set():
                    raise Cancelled("interrupted")
                if time.monotonic() > rc.deadline:
                    raise BudgetError(
                        f"run passed its maximum duration ({self.plan.max_run_seconds:.0f}s, boot included)",
                        "Raise --max-run-minutes if the workload needs longer.",
                    )
        finally:
            rc.ended.set()  # however it ended, the phase (maybe still running) starts no further step
        if errors:
            raise errors[0]

    def _arm_failsafe(self, run: PlannedRun, rc: RunContext) -> None:
        """Each instance of the run terminates itself past the run's cap (plus a grace), should we be gone."""
        from lambdabench.run import failsafe

        assert self.failsafe is not None
        url, key = self.failsafe
        after = max(0.0, rc.deadline - time.monotonic()) + self.env.real_seconds(failsafe.GRACE_S)
        for node in rc.nodes:
            if node.instance_id is None:
                continue
            session = rc.connect(node, timeout=self.timeouts.ssh_ready)
            try:
                failsafe.arm(session, api_url=url, api_key=key, instance_id=node.instance_id, after_s=after)
            finally:
                session.close()
        self._failsafes[run.label] = rc
        self.emit(
            "say", f"failsafe armed: the instance terminates itself in {after:.0f}s unless torn down first", run.label
        )

    def _disarm_failsafe(self, run: PlannedRun) -> None:
        """Teardown removes the key from the instance (best effort: the terminate wipes its disk anyway)."""
        from lambdabench.run import failsafe

        rc = self._failsafes.pop(run.label, None)
        if rc is None or self.force.is_set():
            return  # a second Ctrl-C: terminate now, no SSH round first
        for node in rc.nodes:
            try:
                session = rc.connect(node, timeout=min(30.0, self.timeouts.ssh_ready))
                try:
                    failsafe.disarm(session)
                finally:
                    session.close()
            except LambdabenchError as exc:
                self.emit(
                    "say",
                    f"failsafe: key not removed from {node.name} ({exc.one_line()}); the terminate wipes the disk",
                    run.label,
                )

    def _end_group(self, run: PlannedRun, group: LaunchedGroup, *, keep: bool) -> None:
        self._disarm_failsafe(run)
        if keep:
            for n in group.nodes:
                self._guard("a kept instance", self.ledger.set_kept, n.name)
            with self._lock:
                self.result.kept.extend(group.names)
            self.emit(
                "alert",
                f"kept for debugging (--keep-on-failure): {', '.join(group.names)} — "
                f"`lambdabench down {group.names[0]}` when done; it bills until then",
                run.label,
            )
            self._groups.pop(run.label, None)
            return
        self.emit(
            "stage", "terminating" if len(group.nodes) == 1 else f"terminating {len(group.nodes)} nodes", run.label
        )
        self._terminate([TerminateTarget(n.name, n.id) for n in group.nodes + group.twins], self._say(run.label))
        if (
            group.ruleset_id
            and self.cloud is not None
            and not any(n in self.result.not_terminated for n in group.names)
        ):
            delete_ruleset(self.cloud, self.ledger, group.ruleset_id, self._say(run.label), delay=self.timeouts.poll)
        self._groups.pop(run.label, None)

    def _terminate(self, targets: list[TerminateTarget], notify: Callable[[str], None]) -> None:
        assert self.cloud is not None
        # the first signal stops the work, the second skips waiting for it, the third is told what is
        # left; only a fourth stops the proof (a booting instance may refuse terminate for many minutes)
        outcome = terminate_and_verify(
            self.cloud,
            self.ledger,
            targets,
            timeouts=self.timeouts,
            notify=notify,
            give_up=lambda: self._signals >= GIVE_UP_AT,
        )
        if outcome.auth_error:
            self.emit(
                "alert",
                f"the Lambda API refused the API key ({outcome.auth_error}): "
                "instances cannot be ended from here until a valid key is set",
            )
        with self._lock:
            for name in outcome.failed:
                if name not in self.result.not_terminated:
                    self.result.not_terminated.append(name)
            for name in outcome.gone:
                # a later pass proved it gone: the final banner names only what may still bill
                if name in self.result.not_terminated:
                    self.result.not_terminated.remove(name)
            for name in outcome.never_listed:
                if name not in self.result.never_listed:
                    self.result.never_listed.append(name)
            self.result.ledger_errors.extend(outcome.ledger_errors)

    def _conclude(self, run: PlannedRun, failed: str | None, completed: bool, *, ts: float | None = None) -> None:
        """A torn-down run's final status: a run that finished its work succeeded, whenever Ctrl-C came."""
        assert run.run_id is not None
        if completed:
            self.result.succeeded.append(run.label)
            self._guard("the run's end", self.ledger.set_run_status, run.run_id, "succeeded", ts)
            self.emit("stage", "done", run.label)
        elif failed is not None:
            self.result.failed[run.label] = failed
            self._guard("the run's end", self.ledger.set_run_status, run.run_id, "failed", ts)
            self.emit("stage", f"FAILED: {failed}", run.label)
        else:
            self.result.cancelled.append(run.label)
            self._guard("the run's end", self.ledger.set_run_status, run.run_id, "cancelled", ts)
            self.emit("stage", "cancelled", run.label)

    # -- teardown -------------------------------------------------------------------------------------

    def _join_workers(self) -> None:
        while any(w.is_alive() for w in self._workers):
            for w in self._workers:
                w.join(timeout=0.2)
            if self.force.is_set():
                return

    def _teardown_all(self, sweep_id: int) -> None:
        """Every instance this sweep launched and has not proven gone: terminate and prove it.

        The list comes from memory (every group launched) and from the ledger, so neither a broken
        ledger nor a lost in-memory entry hides an instance. Kept instances are left as asked.
        """
        if not self.force.is_set():
            self._join_workers()
        if self.cloud is None:
            return
        for t in self._reconcilers:
            t.join(timeout=0 if self.force.is_set() else None)
        targets: dict[str, TerminateTarget] = {}
        for group in list(self._groups.values()):
            for n in group.nodes + group.twins:
                targets[n.name] = TerminateTarget(n.name, n.id)
        try:
            for row in self.ledger.live_instances(sweep_id):
                if row.launched_here and not row.kept:
                    targets.setdefault(row.name, TerminateTarget(row.name, row.id))
        except LambdabenchError as exc:
            self.emit("alert", f"ledger unreadable ({exc.one_line()}); terminating what this process launched")
        kept = set(self.result.kept)
        todo = [t for name, t in targets.items() if name not in kept]
        if todo:
            self.emit("say", f"terminating {len(todo)} instance(s) still up: {', '.join(t.name for t in todo)}")
            self._terminate(todo, lambda m: self.emit("say", m))
        self._report_leftovers()

    def _report_leftovers(self) -> None:
        for name in self.result.never_listed:
            self.emit(
                "alert",
                f"{name}: its launch was answered ambiguously and the name never appeared; "
                "`lambdabench gc` looks for it by name",
            )
        if self.result.not_terminated:
            self.emit("alert", "!" * 78)
            self.emit(
                "alert",
                "!! NOT PROVEN TERMINATED — these may still be billing: "
                + "; ".join(describe(self.ledger, self.result.not_terminated)),
            )
            self.emit("alert", f"!! Run `lambdabench gc` (with a valid key) or terminate them at {CONSOLE_URL}")
            self.emit("alert", "!" * 78)
