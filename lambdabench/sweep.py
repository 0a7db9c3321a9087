"""The main job: many runs across GPU types, one pacer and one poller, teardown guaranteed.

One run = one instance's life: reserve (ledger) → launch → wait active → remote phase (SSH, preflight,
setup, benchmark, pull) → terminate → confirm gone. Launches go out of one launcher thread in an order
that shortens the sweep (slow-booting types first, since launches are paced 12 s apart); each launched
run then lives in its own worker thread. Whatever happens — success, failure, Ctrl-C, SIGTERM — every
instance the sweep reserved is terminated and confirmed gone, or flagged loudly in the ledger.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lambdabench.cloud.errors import CapacityError, CloudError
from lambdabench.cloud.gpus import short_name
from lambdabench.cloud.models import Instance, InstanceType
from lambdabench.context import Context
from lambdabench.errors import BudgetError, LambdabenchError
from lambdabench.instances import (
    BootError,
    Launched,
    Poller,
    capacity_regions,
    launch_with_failover,
    terminate_and_verify,
    wait_active,
)
from lambdabench.ledger import Ledger

# cloud seconds; divided by the time scale like every other cloud duration
DEFAULT_MAX_RUN_SECONDS = 3 * 3600.0


def expected_boot_seconds(itype: InstanceType) -> float:
    """Lambda's boot times: single GPU 3–5 min, 8×A100 ~15 min, 8×H100 over 20 min (upper ends)."""
    if itype.gpus >= 8:
        return 25 * 60.0 if "h100" in itype.name or "b200" in itype.name else 15 * 60.0
    if itype.gpus >= 2:
        return 10 * 60.0
    return 5 * 60.0


@dataclass
class PlannedRun:
    itype: InstanceType
    repeat: int  # 1-based
    run_id: int | None = None

    @property
    def label(self) -> str:
        return f"{short_name(self.itype)}#{self.repeat}"


@dataclass
class SweepPlan:
    """What a sweep will do, and what it can cost at worst."""

    runs: list[PlannedRun]
    playbook: str
    variables: dict[str, str]
    max_run_seconds: float  # real seconds (scaled)
    max_cost_cents: int | None
    max_parallel: int
    keep_on_failure: bool
    region: str | None = None
    nodes: int = 1

    def worst_case_cents(self, run: PlannedRun) -> int:
        """Per-minute billing at the launch price for the longest a run may live (boot + max duration)."""
        minutes = math.ceil(self.max_run_seconds / 60)
        return math.ceil(minutes * run.itype.price_cents_per_hour / 60) * self.nodes

    @property
    def total_worst_case_cents(self) -> int:
        return sum(self.worst_case_cents(r) for r in self.runs)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "order": i + 1,
                "run": r.label,
                "type": r.itype.name,
                "price_per_hour": r.itype.price_cents_per_hour / 100,
                "expected_boot_min": round(expected_boot_seconds(r.itype) / 60),
                "max_minutes": math.ceil(self.max_run_seconds / 60),
                "worst_case": self.worst_case_cents(r) / 100,
            }
            for i, r in enumerate(self.runs)
        ]


def make_plan(
    types: list[InstanceType],
    *,
    playbook: str,
    variables: dict[str, str],
    repeat: int = 1,
    max_run_seconds: float = DEFAULT_MAX_RUN_SECONDS,
    max_cost_cents: int | None = None,
    max_parallel: int = 0,
    keep_on_failure: bool = False,
    region: str | None = None,
    nodes: int = 1,
) -> SweepPlan:
    """Order the runs so the slowest boots launch first; every repeat is its own instance."""
    runs = [PlannedRun(t, k) for k in range(1, repeat + 1) for t in types]
    runs.sort(key=lambda r: (-expected_boot_seconds(r.itype), r.repeat, r.itype.name))
    return SweepPlan(
        runs=runs,
        playbook=playbook,
        variables=dict(variables),
        max_run_seconds=max_run_seconds,
        max_cost_cents=max_cost_cents,
        max_parallel=max_parallel if max_parallel > 0 else len(runs),
        keep_on_failure=keep_on_failure,
        region=region,
        nodes=nodes,
    )


@dataclass
class RunContext:
    """Everything the remote phase of one run needs."""

    ctx: Context
    ledger: Ledger
    sweep_id: int
    run_id: int
    label: str
    launched: Launched
    instance: Instance
    plan: SweepPlan
    run_dir: Path
    stop: threading.Event
    deadline: float  # monotonic time by which the run must be done
    notify: Callable[[str], None]


class RemotePhase(Protocol):
    """What happens on the instance between active and terminate (SSH, setup, benchmark, pull)."""

    def __call__(self, rc: RunContext) -> None: ...


class Progress:
    """Per-run stage lines on stderr (stdout stays for the report); on a terminal, a live board below them."""

    def __init__(self, notify: Callable[[str], None], *, live: bool | None = None) -> None:
        import sys

        self._notify = notify
        self._lock = threading.RLock()
        self.stages: dict[str, tuple[str, float]] = {}
        self.live = sys.stderr.isatty() if live is None else live
        self._drawn = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.live and self._thread is None:
            self._thread = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._erase()

    def stage(self, label: str, stage: str) -> None:
        with self._lock:
            self.stages[label] = (stage, time.monotonic())
            self._line(f"[{label}] {stage}")

    def say(self, label: str, message: str) -> None:
        with self._lock:
            self._line(f"[{label}] {message}")

    def _line(self, text: str) -> None:
        self._erase()
        self._notify(text)
        self._draw()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                self._erase()
                self._draw()

    def _erase(self) -> None:
        import sys

        if self.live and self._drawn:
            sys.stderr.write(f"\x1b[{self._drawn}F\x1b[J")
            sys.stderr.flush()
            self._drawn = 0

    def _draw(self) -> None:
        import sys

        if not self.live or self._stop.is_set() or not self.stages:
            return
        now = time.monotonic()
        width = max(len(k) for k in self.stages)
        lines = [f"  {label.ljust(width)}  {stage[:60]:<60}  {now - since:6.0f}s"
                 for label, (stage, since) in sorted(self.stages.items())]
        sys.stderr.write("\x1b[2m" + "\n".join(lines) + "\x1b[0m\n")
        sys.stderr.flush()
        self._drawn = len(lines)


@dataclass
class SweepResult:
    sweep_id: int
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    not_terminated: list[str] = field(default_factory=list)
    interrupted: bool = False
    api_requests: int = 0


class SweepRunner:
    """Runs a plan; `run()` returns only after every instance it reserved is confirmed gone or flagged."""

    def __init__(
        self,
        ctx: Context,
        plan: SweepPlan,
        remote: RemotePhase,
        *,
        name: str | None = None,
        runs_root: Path | None = None,
        install_signal_handlers: bool = True,
        resume_sweep: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.plan = plan
        self.remote = remote
        self.ledger = ctx.ledger
        self.cloud = ctx.cloud
        self.timeouts = ctx.timeouts
        self.poller = Poller(self.cloud, self.timeouts.poll)
        self.stop = threading.Event()
        self.force = threading.Event()
        self.progress = Progress(ctx.notify)
        self.name = name
        self.runs_root = runs_root or (ctx.settings.home / "runs")
        self.install_signal_handlers = install_signal_handlers
        self._lock = threading.Lock()
        self._committed_cents = 0
        self._workers: list[threading.Thread] = []
        self._slots = threading.Semaphore(plan.max_parallel)
        self.result = SweepResult(sweep_id=0)
        self._resume = resume_sweep
        self._key_name: str | None = None

    # -- public -----------------------------------------------------------------------------------

    def run(self) -> SweepResult:
        ledger = self.ledger
        if self._resume is not None:
            sweep_id = self._resume
        else:
            sweep_id = ledger.create_sweep(
                self.name,
                simulated=self.ctx.settings.simulated,
                plan={"playbook": self.plan.playbook, "vars": self.plan.variables,
                      "types": [r.itype.name for r in self.plan.runs], "max_run_seconds": self.plan.max_run_seconds,
                      "keep_on_failure": self.plan.keep_on_failure, "nodes": self.plan.nodes},
                max_cost_cents=self.plan.max_cost_cents,
            )
            for r in self.plan.runs:
                r.run_id = ledger.add_run(
                    sweep_id, instance_type=r.itype.name, region=self.plan.region, workload=self.plan.playbook,
                    params={"vars": self.plan.variables, "repeat": r.repeat, "label": r.label,
                            **({"nodes": self.plan.nodes} if self.plan.nodes > 1 else {})},
                )
        self.result.sweep_id = sweep_id
        previous = self._install_handlers()
        self.progress.start()
        try:
            self._key_name = self.ctx.ssh_key_name()
            self._launch_all(sweep_id)
            self._join_workers()
        except KeyboardInterrupt:
            self.stop.set()
            self.result.interrupted = True
        finally:
            if self.result.interrupted:
                self.stop.set()
            self._teardown_all(sweep_id)
            self.progress.close()
            self._restore_handlers(previous)
            status = "aborted" if self.result.interrupted else "finished"
            ledger.finish_sweep(sweep_id, status)
            self.result.api_requests = self.cloud.requests_sent
        return self.result

    # -- signals ----------------------------------------------------------------------------------

    def _install_handlers(self) -> dict[int, Any]:
        if not self.install_signal_handlers or threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: Any) -> None:
            if self.stop.is_set():
                # second Ctrl-C: fire terminate calls for everything now, then leave
                self.force.set()
                self.ctx.notify("second interrupt: terminating every instance of this sweep now and exiting")
                self._fire_terminates(self.result.sweep_id)
                raise KeyboardInterrupt
            self.result.interrupted = True
            self.stop.set()
            self.ctx.notify("interrupt: stopping; every instance of this sweep will be terminated (Ctrl-C again to force)")

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        return previous

    @staticmethod
    def _restore_handlers(previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    # -- launching --------------------------------------------------------------------------------

    def _budget_allows(self, run: PlannedRun) -> bool:
        cap = self.plan.max_cost_cents
        if cap is None:
            return True
        with self._lock:
            if self._committed_cents + self.plan.worst_case_cents(run) > cap:
                return False
            self._committed_cents += self.plan.worst_case_cents(run)
            return True

    def _launch_all(self, sweep_id: int) -> None:
        """The launcher: one run at a time, in plan order; capacity misses go to the back of the queue."""
        queue = [r for r in self.plan.runs if r.run_id is not None]
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
                msg = f"not launched: its worst case ${self.plan.worst_case_cents(run) / 100:.2f} would pass --max-cost"
                self._skip(run, msg)
                continue
            # a free parallel slot first, so a finished run's slot is reused
            while not self._slots.acquire(timeout=0.2):
                if self.stop.is_set():
                    self._release_budget(run)
                    return
            try:
                launched = self._launch(run)
            except CapacityError as exc:
                self._slots.release()
                self._release_budget(run)
                if time.monotonic() >= capacity_deadline:
                    self._fail(run, f"no capacity within {self.timeouts.capacity_wait:.0f}s: {exc.one_line()}")
                    continue
                self.progress.say(run.label, "no capacity now; will retry")
                retry_at[run.run_id] = time.monotonic() + self.timeouts.poll * 6
                queue.append(run)
                continue
            except LambdabenchError as exc:
                self._slots.release()
                self._release_budget(run)
                self._fail(run, exc.one_line())
                if isinstance(exc, CloudError) and exc.family in ("auth", "account", "quota"):
                    for other in queue:
                        self._skip(other, f"not launched after: {exc.one_line()}")
                    queue.clear()
                continue
            worker = threading.Thread(target=self._worker, args=(sweep_id, run, launched), name=f"run-{run.label}",
                                      daemon=True)
            self._workers.append(worker)
            worker.start()
        for run in queue:
            self._skip(run, "not launched: the sweep was interrupted")

    def _release_budget(self, run: PlannedRun) -> None:
        if self.plan.max_cost_cents is not None:
            with self._lock:
                self._committed_cents -= self.plan.worst_case_cents(run)

    def _launch(self, run: PlannedRun) -> Launched:
        assert run.run_id is not None and self._key_name is not None
        if self.plan.nodes > 1:  # N instances in one region, all or none
            from lambdabench.multinode import launch_group

            return launch_group(self, run)  # type: ignore[return-value]
        self.ledger.set_run_status(run.run_id, "running")
        self.progress.stage(run.label, "launching")
        regions = capacity_regions(self.cloud, run.itype.name, [self.plan.region] if self.plan.region else [])
        if not regions:
            raise CapacityError(f"no region lists capacity for {run.itype.name}")
        from dataclasses import replace

        once = replace(self.timeouts, capacity_wait=0.0)
        return launch_with_failover(
            self.cloud, self.ledger, run.run_id, run.itype, ssh_key_name=self._key_name,
            label=run.label.replace("#", "-"), regions=regions, only_region=self.plan.region,
            timeouts=once, notify=lambda m: self.progress.say(run.label, m), stop=self.stop,
        )

    def _skip(self, run: PlannedRun, why: str) -> None:
        self.result.skipped[run.label] = why
        if run.run_id is not None:
            self.ledger.record_error("plan", "skipped", why, run_id=run.run_id)
            self.ledger.set_run_status(run.run_id, "cancelled")
        self.progress.say(run.label, why)

    def _fail(self, run: PlannedRun, why: str) -> None:
        self.result.failed[run.label] = why
        if run.run_id is not None:
            self.ledger.set_run_status(run.run_id, "failed")
        self.progress.say(run.label, f"FAILED: {why}")

    # -- one run ----------------------------------------------------------------------------------

    def _worker(self, sweep_id: int, run: PlannedRun, launched: Launched) -> None:
        assert run.run_id is not None
        if self.plan.nodes > 1:
            from lambdabench.multinode import run_cluster

            run_cluster(self, sweep_id, run, launched)  # type: ignore[arg-type]
            return
        failed: str | None = None
        stage = "boot"
        rc: RunContext | None = None
        try:
            self.progress.stage(run.label, f"booting ({launched.region})")
            deadline = time.monotonic() + self.plan.max_run_seconds
            inst = wait_active(self.poller, self.ledger, launched, timeouts=self.timeouts,
                               notify=lambda m: None, stop=self.stop)
            self.progress.stage(run.label, f"active at {inst.ip}")
            stage = "remote"
            run_dir = self.runs_root / f"sweep-{sweep_id}" / f"run-{run.run_id}-{run.label.replace('#', '-')}"
            run_dir.mkdir(parents=True, exist_ok=True)
            rc = RunContext(
                ctx=self.ctx, ledger=self.ledger, sweep_id=sweep_id, run_id=run.run_id, label=run.label,
                launched=launched, instance=inst, plan=self.plan, run_dir=run_dir, stop=self.stop,
                deadline=deadline, notify=lambda m: self.progress.say(run.label, m),
            )
            self._run_remote(rc)
        except BootError as exc:
            failed = exc.one_line()
            self.ledger.record_error(stage, "boot", failed, run_id=run.run_id, instance_name=launched.name)
        except LambdabenchError as exc:
            failed = exc.one_line()
            self.ledger.record_error(stage, type(exc).__name__, failed, run_id=run.run_id,
                                     instance_name=launched.name)
        except Exception as exc:  # a bug must not skip teardown
            failed = f"internal error: {type(exc).__name__}: {exc}"
            self.ledger.record_error(stage, "internal", failed, run_id=run.run_id, instance_name=launched.name)
        finally:
            keep = failed is not None and self.plan.keep_on_failure and not self.stop.is_set()
            if keep:
                self.progress.say(run.label, f"kept for debugging (--keep-on-failure): {launched.name} — "
                                  f"`lambdabench down {launched.name}` when done; it bills until then")
            else:
                self.progress.stage(run.label, "terminating")
                outcome = terminate_and_verify(self.cloud, self.ledger, [launched.name], timeouts=self.timeouts,
                                               notify=lambda m: None)
                if outcome.failed:
                    with self._lock:
                        self.result.not_terminated.extend(outcome.failed)
            self._slots.release()
            self.conclude(run, failed)
            if rc is not None:
                self._finalize_record(rc)

    def conclude(self, run: PlannedRun, failed: str | None) -> None:
        """A torn-down run's final status in the result, the ledger and the progress display."""
        assert run.run_id is not None
        if failed is not None or self.stop.is_set():
            why = failed or "interrupted"
            self.result.failed[run.label] = why
            self.ledger.set_run_status(run.run_id, "failed" if failed else "cancelled")
            self.progress.stage(run.label, f"FAILED: {why}" if failed else "cancelled")
        else:
            self.result.succeeded.append(run.label)
            self.ledger.set_run_status(run.run_id, "succeeded")
            self.progress.stage(run.label, "done")

    def _finalize_record(self, rc: RunContext) -> None:
        """The run record's cost, once the instance is gone (never fails the run)."""
        from lambdabench.ingest import finalize_record

        try:
            finalize_record(rc)
        except Exception as exc:  # noqa: BLE001 - the record is a by-product; the ledger is the truth
            self.ledger.record_error("record", "internal", f"run record not finalised: {exc}", run_id=rc.run_id)

    def _run_remote(self, rc: RunContext) -> None:
        """The remote phase under the run's maximum duration: past it, the run fails and is torn down."""
        errors: list[BaseException] = []

        def target() -> None:
            try:
                self.remote(rc)
            except BaseException as exc:  # noqa: BLE001 - handed to the worker thread
                errors.append(exc)

        t = threading.Thread(target=target, name=f"remote-{rc.label}", daemon=True)
        t.start()
        while t.is_alive():
            t.join(timeout=0.2)
            if self.stop.is_set():
                raise LambdabenchError("interrupted")
            if time.monotonic() > rc.deadline:
                raise BudgetError(
                    f"run passed its maximum duration ({self.plan.max_run_seconds:.0f}s)",
                    "Raise --max-run-minutes if the workload needs longer.",
                )
        if errors:
            raise errors[0]

    # -- teardown ---------------------------------------------------------------------------------

    def _join_workers(self) -> None:
        while any(w.is_alive() for w in self._workers):
            for w in self._workers:
                w.join(timeout=0.2)
            if self.force.is_set():
                return

    def _fire_terminates(self, sweep_id: int) -> None:
        """Forced exit: one terminate call for every live instance with an id, no waiting."""
        try:
            live = [i for i in self.ledger.live_instances(sweep_id) if i.id]
            for inst in live:
                self.ledger.mark(inst.name, "terminate_called")
            if live:
                self.cloud.terminate([i.id for i in live if i.id])
        except Exception as exc:  # noqa: BLE001 - best effort on the way out
            self.ctx.notify(f"terminate on forced exit failed: {exc}")

    def _teardown_all(self, sweep_id: int) -> None:
        """Every instance this sweep reserved and is not confirmed gone: terminate and verify."""
        if not self.force.is_set():
            self._join_workers()
        keep = set()
        if self.plan.keep_on_failure and not self.result.interrupted:
            keep = {n for n in self.result.failed}
        live = [i for i in self.ledger.live_instances(sweep_id)]
        names = []
        for inst in live:
            label = next((r.label for r in self.plan.runs if r.run_id == inst.run_id), "")
            if label in keep:
                continue
            names.append(inst.name)
        if names:
            self.ctx.notify(f"terminating {len(names)} instance(s) still up: {', '.join(names)}")
            outcome = terminate_and_verify(self.cloud, self.ledger, names, timeouts=self.timeouts,
                                           notify=self.ctx.notify)
            self.result.not_terminated.extend(n for n in outcome.failed if n not in self.result.not_terminated)
        if self.result.not_terminated:
            ids = [f"{n} ({self.ledger.instance(n).id})" for n in self.result.not_terminated]
            self.ctx.notify("!" * 78)
            self.ctx.notify("!! NOT CONFIRMED TERMINATED — these may still be billing: " + ", ".join(ids))
            self.ctx.notify("!! Run `lambdabench gc` or terminate them in the Lambda console.")
            self.ctx.notify("!" * 78)
