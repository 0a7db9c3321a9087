"""Finding sweeps: the list (`lambdabench sweeps`), one sweep's live board (`status`), what can be resumed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdabench.ledger import InstanceRow, Ledger, SweepRow
    from lambdabench.run.env import RunEnv


@dataclass(frozen=True)
class SweepSummary:
    """One sweep as `lambdabench sweeps` lists it."""

    id: int
    name: str | None
    started: str  # UTC, ISO 8601 to the second
    status: str  # running | finished | aborted | crashed (its process is gone: `resume` finishes it)
    types: list[str]
    runs: int
    cost_usd: float  # upper bound so far: every billed minute, launch accepted to gone
    simulated: bool
    report: str | None  # the HTML report's path, once written


@dataclass(frozen=True)
class RunStatus:
    """One run's line on a sweep's board."""

    run_id: int
    instance_type: str
    status: str  # the run's: pending | running | succeeded | failed | cancelled
    phase: str  # where its instance is now: booting, set-up, benchmark, terminating, gone ...
    instance: str | None
    elapsed_s: float | None  # since its launch was requested


@dataclass(frozen=True)
class SweepStatus:
    """A sweep's board, read from the ledger (another terminal's view of a live sweep)."""

    sweep: SweepSummary
    runs: list[RunStatus]


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def _status(row: SweepRow) -> str:
    """The ledger's status, except that a running sweep whose process is gone crashed."""
    from lambdabench.ledger import is_process_alive

    owner = row.owner
    if row.status == "running" and owner is not None and is_process_alive(owner) is False:
        return "crashed"
    return row.status


def is_sweep(row: SweepRow) -> bool:
    """A sweep, not the record of a `launch` (which has no plan)."""
    return row.plan is not None


def summarise(ledger: Ledger, env: RunEnv, row: SweepRow) -> SweepSummary:
    from lambdabench.run.recovery import spent_cents

    runs = ledger.runs(row.id)
    report = env.sweep_dir(row.id) / "report.html"
    return SweepSummary(
        id=row.id,
        name=row.name,
        started=_stamp(row.created),
        status=_status(row),
        types=list(dict.fromkeys(r.instance_type for r in runs)),
        runs=len(runs),
        cost_usd=spent_cents(ledger, row.id) / 100,
        simulated=row.simulated,
        report=str(report) if report.exists() else None,
    )


def sweep_summaries(ledger: Ledger, env: RunEnv) -> list[SweepSummary]:
    """Every sweep in the ledger, newest first (launch records are not sweeps)."""
    return [summarise(ledger, env, row) for row in reversed(ledger.sweeps()) if is_sweep(row)]


def unfinished(ledger: Ledger) -> list[int]:
    """Sweeps with runs left to do: what `resume` takes."""
    from lambdabench.run.recovery import resumable_runs

    return [
        row.id
        for row in ledger.sweeps()
        if is_sweep(row) and _status(row) != "running" and resumable_runs(ledger, row.id)
    ]


def _phase(inst: InstanceRow | None) -> str:
    """Where an instance is, from the ledger's stamps (the last one reached)."""
    if inst is None:
        return "waiting"
    steps = [
        (inst.gone, "gone"),
        (inst.terminate_called, "terminating"),
        (inst.pull_end, "pulled"),
        (inst.bench_end, "pulling results"),
        (inst.bench_start, "benchmark"),
        (inst.setup_end, "benchmark next"),
        (inst.setup_start, "set-up"),
        (inst.ssh_ready, "preflight"),
        (inst.first_active, "active, waiting for SSH"),
        (inst.launch_accepted, "booting"),
        (inst.launch_requested, "launching"),
    ]
    return next((name for stamp, name in steps if stamp is not None), "waiting")


def sweep_status(ledger: Ledger, env: RunEnv, sweep_id: int | None = None) -> SweepStatus:
    """One sweep's board (default: the newest sweep)."""
    from lambdabench.errors import UsageError

    rows = [r for r in ledger.sweeps() if is_sweep(r)]
    if not rows:
        raise UsageError("no sweep in the ledger yet", "Start one with `lambdabench sweep --gpus ...`.")
    row = rows[-1] if sweep_id is None else next((r for r in rows if r.id == sweep_id), None)
    if row is None:
        raise UsageError(
            f"no sweep {sweep_id} in the ledger",
            f"Sweeps: {', '.join(str(r.id) for r in reversed(rows[-10:]))} (see `lambdabench sweeps`).",
        )
    by_run: dict[int, InstanceRow] = {}
    for one in ledger.instances(sweep_id=row.id):
        by_run[one.run_id] = one  # the latest instance of each run (after a failed launch, the retry)
    now = time.time()
    board = []
    for run in ledger.runs(row.id):
        inst = by_run.get(run.id)
        began = inst.launch_requested if inst is not None else None
        end = (inst.gone if inst is not None else None) or now
        board.append(
            RunStatus(
                run.id,
                run.instance_type,
                run.status,
                _phase(inst),
                inst.name if inst is not None else None,
                None if began is None else max(0.0, end - began),
            )
        )
    return SweepStatus(summarise(ledger, env, row), board)
