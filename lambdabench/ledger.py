"""The run ledger: one SQLite file recording every sweep, run and instance, each intent before the act.

Usage, in the order a run lives (every write is committed before the method returns)::

    ledger = Ledger(home)                                   # <home>/ledger.sqlite3, migrated on open
    sweep = ledger.create_sweep("a10-vs-h100", simulated=False, max_cost_cents=5_000)
    run = ledger.add_run(sweep, instance_type="gpu_1x_a10", region="us-east-1",
                         workload="Isaac-Cartpole-Direct-v0")
    ledger.set_run_status(run, "running")
    ledger.reserve_instance(run, "lambdabench-ab12cd", "gpu_1x_a10", "us-east-1", 75)  # BEFORE launch
    ledger.record_launch_accepted("lambdabench-ab12cd", "0920582c7ff041399e34823a0be62549")
    ledger.mark("lambdabench-ab12cd", "first_active")       # ssh_ready, setup_start, ... the same way
    step = ledger.start_step(run, "setup", log_path="logs/setup.log")
    ledger.end_step(step, exit_code=0)
    ledger.record_metric(run, MetricKey.ENV_STEPS_PER_S, 612_000.0, unit="steps/s", source="tensorboard")
    ledger.mark("lambdabench-ab12cd", "terminate_called")   # BEFORE calling terminate
    ledger.mark("lambdabench-ab12cd", "gone")
    ledger.set_run_status(run, "succeeded")

Timestamps are float epoch seconds (UTC) stored as REAL; iso_utc() renders them. Durability: WAL
journal with synchronous=FULL, so a committed row survives kill -9 and power loss. One connection
per Ledger, serialised by a lock, so one Ledger may be shared by the sweep's threads; other
processes (`lambdabench gc`) open their own and wait on busy_timeout.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from lambdabench.errors import LedgerError, NotInLedger
from lambdabench.secrets import redact

DB_FILENAME = "ledger.sqlite3"
BUSY_TIMEOUT_MS = 15_000

# Instance lifecycle timestamps, in the order a healthy run sets them.
InstanceEvent = Literal[
    "launch_requested",
    "launch_accepted",
    "first_active",
    "ssh_ready",
    "setup_start",
    "setup_end",
    "bench_start",
    "bench_end",
    "pull_end",
    "terminate_called",
    "gone",
]
INSTANCE_EVENTS: tuple[InstanceEvent, ...] = get_args(InstanceEvent)

RunStatus = Literal["pending", "running", "succeeded", "failed", "cancelled"]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
RUN_FINISHED: tuple[RunStatus, ...] = ("succeeded", "failed", "cancelled")
SweepStatus = Literal["running", "finished", "aborted"]
SWEEP_STATUSES: tuple[SweepStatus, ...] = get_args(SweepStatus)
# Our own instance states around Lambda's (booting, active, unhealthy, terminating, terminated, preempted).
INSTANCE_REQUESTED = "requested"
InstanceKind = Literal["lambda", "host", "local"]  # launched here (ours to terminate) | a BYO SSH host | this machine
INSTANCE_KINDS: tuple[InstanceKind, ...] = get_args(InstanceKind)
INSTANCE_LAUNCH_FAILED = "launch_failed"


class MetricKey:
    """Metric keys the report understands; parsers should write these (others are kept and shown raw)."""

    ENV_STEPS = "env_steps"  # total environment steps the benchmark ran
    ENV_STEPS_PER_S = "env_steps_per_s"  # throughput, all envs together
    GPU_UTIL_PCT = "gpu_util_pct"  # mean GPU utilisation over the benchmark
    ENERGY_WH = "energy_wh"  # GPU energy over the benchmark
    IMAGE_PULL_S = "image_pull_s"  # container image pull time during setup
    CONTAINER_START_S = "container_start_s"  # container start time during setup


# --------------------------------------------------------------------------------------------------
# time and process identity


def iso_utc(ts: float | None) -> str | None:
    """Render epoch seconds as ISO 8601 UTC with a Z suffix (None stays None)."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "noboot"


def process_start_token(pid: int) -> str | None:
    """A token that names one process for its lifetime ("<boot id>:<start ticks>"); None if not running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: parse after the last ')'
    rest = stat[stat.rfind(")") + 2 :].split()
    state, start_ticks = rest[0], rest[19]
    if state in ("Z", "X"):  # exited, not yet reaped: dead for our purposes
        return None
    return f"{_boot_id()}:{start_ticks}"


@dataclass(frozen=True)
class ProcessIdentity:
    """Who owns an instance: pid + host + start token, so a recycled pid is not mistaken for us."""

    pid: int
    host: str
    start: str | None

    @classmethod
    def current(cls) -> ProcessIdentity:
        """The identity of this process."""
        pid = os.getpid()
        return cls(pid=pid, host=socket.gethostname(), start=process_start_token(pid))


def is_process_alive(identity: ProcessIdentity) -> bool | None:
    """True if that exact process still runs here, False if it is gone, None if it lives on another host."""
    if identity.host != socket.gethostname():
        return None
    token = process_start_token(identity.pid)
    if token is None:
        return False
    # no recorded start time (non-Linux writer): the pid existing is the best we can say
    return identity.start is None or token == identity.start


# --------------------------------------------------------------------------------------------------
# rows


T = TypeVar("T")


def _from_row(cls: type[T], row: sqlite3.Row) -> T:
    keys = set(row.keys())
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in keys:
            value = row[f.name]
            if f.type in ("bool", bool):
                value = bool(value)
            values[f.name] = value
    return cls(**values)


@dataclass(frozen=True)
class SweepRow:
    """One sweep: a plan of runs sharing one pacer and one budget."""

    id: int
    name: str | None
    status: str
    simulated: bool
    created: float
    finished: float | None
    max_cost_cents: int | None
    plan_json: str | None
    owner_pid: int | None = None
    owner_host: str | None = None
    owner_start: str | None = None

    @property
    def plan(self) -> Any:
        return json.loads(self.plan_json) if self.plan_json else None

    @property
    def owner(self) -> ProcessIdentity | None:
        if self.owner_pid is None or self.owner_host is None:
            return None
        return ProcessIdentity(self.owner_pid, self.owner_host, self.owner_start)


@dataclass(frozen=True)
class RunRow:
    """One run: one workload on one instance type (possibly several instances if launches failed)."""

    id: int
    sweep_id: int
    instance_type: str
    region: str | None
    workload: str | None
    params_json: str | None
    status: str
    simulated: bool
    created: float
    started: float | None
    ended: float | None

    @property
    def params(self) -> Any:
        return json.loads(self.params_json) if self.params_json else None

    @property
    def finished(self) -> bool:
        return self.status in RUN_FINISHED


@dataclass(frozen=True)
class InstanceRow:
    """One instance we asked Lambda for, keyed by our unique name; id is Lambda's, once accepted."""

    name: str
    id: str | None
    run_id: int
    instance_type: str
    region: str | None
    price_cents_per_hour: int
    status: str
    simulated: bool
    ip: str | None
    owner_pid: int | None
    owner_host: str | None
    owner_start: str | None
    needs_attention: bool
    attention_reason: str | None
    launch_requested: float | None
    launch_accepted: float | None
    first_active: float | None
    ssh_ready: float | None
    setup_start: float | None
    setup_end: float | None
    bench_start: float | None
    bench_end: float | None
    pull_end: float | None
    terminate_called: float | None
    gone: float | None
    kind: InstanceKind = "lambda"
    kept: bool = False  # left running on purpose (launch, shell --keep, --keep-on-failure): gc skips it
    label: str | None = None  # what the user called it (`launch --name x`): `down x` finds it

    @property
    def owner(self) -> ProcessIdentity | None:
        if self.owner_pid is None or self.owner_host is None:
            return None
        return ProcessIdentity(self.owner_pid, self.owner_host, self.owner_start)

    @property
    def launched_here(self) -> bool:
        """An instance this tool launched on Lambda (never a host the user brought)."""
        return self.kind == "lambda"


@dataclass(frozen=True)
class RulesetRow:
    """A firewall ruleset a multi-node run created; deleted after its run, or by gc once its owner is gone."""

    id: str
    name: str
    region: str
    run_id: int
    owner_pid: int | None
    owner_host: str | None
    owner_start: str | None
    created: float
    deleted: float | None

    @property
    def owner(self) -> ProcessIdentity | None:
        if self.owner_pid is None or self.owner_host is None:
            return None
        return ProcessIdentity(self.owner_pid, self.owner_host, self.owner_start)


@dataclass(frozen=True)
class StepRow:
    """One playbook step of a run."""

    id: int
    run_id: int
    name: str
    exit_code: int | None
    log_path: str | None
    started: float
    ended: float | None


@dataclass(frozen=True)
class ArtifactRow:
    """One file pulled from an instance."""

    id: int
    run_id: int
    path: str
    size: int | None
    sha256: str | None
    verified: bool
    recorded: float


@dataclass(frozen=True)
class MetricRow:
    """One measured value of a run; (run, key, source) is unique, the latest write wins."""

    id: int
    run_id: int
    key: str
    value: float
    unit: str
    source: str
    recorded: float


@dataclass(frozen=True)
class SeriesRow:
    """One recorded curve of a run: (wall time, x, value) points; (run, name, source) is unique."""

    run_id: int
    name: str
    unit: str
    source: str
    points: tuple[tuple[float | None, float | None, float], ...]
    recorded: float


@dataclass(frozen=True)
class ErrorRow:
    """One failure, at a stage of a run or instance; message already redacted."""

    id: int
    run_id: int | None
    instance_name: str | None
    stage: str
    kind: str
    message: str
    ts: float


# --------------------------------------------------------------------------------------------------
# migrations: append-only; never edit a released one, add the next number


def _m1_core(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            simulated INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            finished REAL,
            max_cost_cents INTEGER,
            plan_json TEXT)"""
    )
    conn.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
            instance_type TEXT NOT NULL,
            region TEXT,
            workload TEXT,
            params_json TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            simulated INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            started REAL,
            ended REAL)"""
    )
    conn.execute(
        """CREATE TABLE instances (
            name TEXT PRIMARY KEY,
            id TEXT UNIQUE,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            instance_type TEXT NOT NULL,
            region TEXT,
            price_cents_per_hour INTEGER NOT NULL,
            status TEXT NOT NULL,
            simulated INTEGER NOT NULL DEFAULT 0,
            owner_pid INTEGER,
            owner_host TEXT,
            owner_start TEXT,
            needs_attention INTEGER NOT NULL DEFAULT 0,
            launch_requested REAL, launch_accepted REAL, first_active REAL, ssh_ready REAL,
            setup_start REAL, setup_end REAL, bench_start REAL, bench_end REAL, pull_end REAL,
            terminate_called REAL, gone REAL)"""
    )
    conn.execute(
        """CREATE TABLE steps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            name TEXT NOT NULL,
            exit_code INTEGER,
            log_path TEXT,
            started REAL NOT NULL,
            ended REAL)"""
    )
    conn.execute(
        """CREATE TABLE artifacts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            path TEXT NOT NULL,
            size INTEGER,
            sha256 TEXT,
            verified INTEGER NOT NULL DEFAULT 0,
            recorded REAL NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE metrics (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            key TEXT NOT NULL,
            value REAL NOT NULL,
            unit TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            recorded REAL NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE errors (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER REFERENCES runs(id),
            instance_name TEXT REFERENCES instances(name),
            stage TEXT NOT NULL,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            ts REAL NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)"""
    )


def _m2_attention_ip_indexes(conn: sqlite3.Connection) -> None:
    # why the instance needs a human, and its address for resume/gc without asking the API again
    conn.execute("ALTER TABLE instances ADD COLUMN attention_reason TEXT")
    conn.execute("ALTER TABLE instances ADD COLUMN ip TEXT")
    conn.execute("CREATE INDEX runs_by_sweep ON runs(sweep_id, status)")
    conn.execute("CREATE INDEX instances_by_run ON instances(run_id)")
    conn.execute("CREATE INDEX instances_live ON instances(gone) WHERE gone IS NULL")
    conn.execute("CREATE INDEX steps_by_run ON steps(run_id)")
    conn.execute("CREATE INDEX artifacts_by_run ON artifacts(run_id)")
    conn.execute("CREATE INDEX errors_by_run ON errors(run_id)")
    # a metric re-parsed from the same source replaces the old value instead of doubling it
    conn.execute("DELETE FROM metrics WHERE id NOT IN (SELECT MAX(id) FROM metrics GROUP BY run_id, key, source)")
    conn.execute("CREATE UNIQUE INDEX metrics_unique ON metrics(run_id, key, source)")


def _m3_sweep_owner(conn: sqlite3.Connection) -> None:
    # which process drives a sweep, so `sweep --resume` never runs beside a live owner
    conn.execute("ALTER TABLE sweeps ADD COLUMN owner_pid INTEGER")
    conn.execute("ALTER TABLE sweeps ADD COLUMN owner_host TEXT")
    conn.execute("ALTER TABLE sweeps ADD COLUMN owner_start TEXT")


def _m4_series(conn: sqlite3.Connection) -> None:
    # whole curves (reward over time, GPU telemetry) for the report's charts; one row per curve,
    # its points as JSON [[t, x, value], ...] (t: epoch seconds or null, x: step/iteration or null)
    conn.execute(
        """CREATE TABLE series (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            name TEXT NOT NULL,
            unit TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            points_json TEXT NOT NULL,
            recorded REAL NOT NULL,
            PRIMARY KEY (run_id, name, source))"""
    )


def _m5_ownership(conn: sqlite3.Connection) -> None:
    # ownership made explicit: what kind of machine a row is (gc and down touch only `lambda` rows),
    # whether it was kept on purpose, the user's own label; and the rulesets multi-node runs create
    conn.execute("ALTER TABLE instances ADD COLUMN kind TEXT NOT NULL DEFAULT 'lambda'")
    conn.execute("ALTER TABLE instances ADD COLUMN kept INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE instances ADD COLUMN label TEXT")
    conn.execute(
        """CREATE TABLE rulesets (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            region TEXT NOT NULL,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            owner_pid INTEGER,
            owner_host TEXT,
            owner_start TEXT,
            created REAL NOT NULL,
            deleted REAL)"""
    )


Migration = tuple[str, Callable[[sqlite3.Connection], None]]
MIGRATIONS: tuple[Migration, ...] = (
    ("core tables", _m1_core),
    ("attention reason, ip, indexes, unique metrics", _m2_attention_ip_indexes),
    ("sweep owner", _m3_sweep_owner),
    ("series", _m4_series),
    ("instance kind, kept, label; rulesets", _m5_ownership),
)
LATEST_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database header (PRAGMA user_version)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    target: int | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Apply migrations above the current version up to target, each in its own transaction; returns the version."""
    current = schema_version(conn)
    target = len(migrations) if target is None else target
    if current > len(migrations):
        raise LedgerError(
            f"ledger schema version {current} is newer than this lambdabench knows ({len(migrations)})",
            "upgrade lambdabench, or point LAMBDABENCH_HOME at another folder",
        )
    for version in range(current + 1, target + 1):
        name, apply = migrations[version - 1]
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise LedgerError(
                f"cannot migrate the ledger: {exc}",
                "another lambdabench holds it; retry in a moment",
            ) from exc
        try:
            # re-check under the write lock: another process may have migrated meanwhile
            if schema_version(conn) >= version:
                conn.execute("ROLLBACK")
                continue
            apply(conn)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                (version, name, clock()),
            )
            conn.execute(f"PRAGMA user_version = {version:d}")
            conn.execute("COMMIT")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise LedgerError(
                    f"ledger migration {version} ({name}) failed: {exc}",
                    "the ledger is unchanged; report this with the ledger file attached",
                ) from exc
            raise
    return schema_version(conn)


def connect(path: Path) -> sqlite3.Connection:
    """Open a raw connection with our pragmas (WAL, synchronous=FULL, foreign keys, busy timeout)."""
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise LedgerError(
            f"cannot open the ledger at {path}: {exc}",
            "check the folder is writable, or set LAMBDABENCH_HOME",
        ) from exc
    return conn


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open: SQLite may already have rolled back on its own
    (disk full, I/O error), and "cannot rollback" must never hide the error that caused it."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def ledger_path(home: Path) -> Path:
    """Where the ledger lives under LAMBDABENCH_HOME."""
    return Path(home) / DB_FILENAME


# --------------------------------------------------------------------------------------------------
# the ledger


class Ledger:
    """The run ledger; thread-safe; every method commits before it returns."""

    def __init__(
        self,
        home: Path,
        *,
        clock: Callable[[], float] = time.time,
        owner: ProcessIdentity | None = None,
    ) -> None:
        self.home = Path(home)
        self.path = ledger_path(self.home)
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(
                f"cannot create {self.home} for the ledger: {exc.strerror}",
                "set LAMBDABENCH_HOME to a writable folder",
            ) from exc
        self._clock = clock
        self._owner = owner
        self._lock = threading.RLock()
        self._unknown: dict[int, list[str]] = {}  # per run: figures not stored, not being numbers
        self._conn: sqlite3.Connection | None = connect(self.path)
        try:
            migrate(self._conn, clock=clock)
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; the Ledger cannot be used afterwards."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def owner(self) -> ProcessIdentity:
        """The identity written as owner of instances this Ledger reserves (this process by default)."""
        if self._owner is None:
            self._owner = ProcessIdentity.current()
        return self._owner

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerError("the ledger is closed", "open a new Ledger")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
        with self._lock:
            conn = self._db()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise LedgerError(
                    f"the ledger at {self.path} is locked: {exc}",
                    "another lambdabench may be writing; retry in a moment",
                ) from exc
            try:
                yield conn
            except BaseException as exc:
                _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise LedgerError(f"ledger write failed: {exc}", "nothing was written; retry, or run gc") from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise LedgerError(f"ledger commit failed: {exc}", "retry; check disk space") from exc

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._db().execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise LedgerError(f"cannot read the ledger at {self.path}: {exc}", "retry in a moment") from exc

    def _now(self, ts: float | None) -> float:
        return self._clock() if ts is None else float(ts)

    # -- sweeps --------------------------------------------------------------------------------

    def create_sweep(
        self,
        name: str | None = None,
        *,
        simulated: bool = False,
        plan: Any = None,
        max_cost_cents: int | None = None,
    ) -> int:
        """Record a new sweep (status running, owned by this process); plan is any JSON-able value."""
        owner = self.owner
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO sweeps (name, simulated, created, max_cost_cents, plan_json,"
                " owner_pid, owner_host, owner_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    int(simulated),
                    self._clock(),
                    max_cost_cents,
                    None if plan is None else json.dumps(plan, sort_keys=True),
                    owner.pid,
                    owner.host,
                    owner.start,
                ),
            )
            return int(cur.lastrowid or 0)

    def claim_sweep(self, sweep_id: int, *, force: bool = False) -> SweepRow:
        """Take over a sweep to resume it: refused while its owner lives (or may live elsewhere, unless force)."""
        me = self.owner
        with self._write() as conn:
            row = conn.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            if row is None:
                self._require(0, "sweep", sweep_id)
            owner = _from_row(SweepRow, row).owner
            if owner is not None and owner != me:
                alive = is_process_alive(owner)
                if alive or (alive is None and not force):
                    where = f"pid {owner.pid} on {owner.host}"
                    raise LedgerError(
                        f"sweep {sweep_id} is still driven by {where}"
                        + ("" if alive else " (cannot check another host)"),
                        "wait for it to finish, stop that process, or pass --force if it is dead",
                    )
            conn.execute(
                "UPDATE sweeps SET owner_pid = ?, owner_host = ?, owner_start = ?, status = 'running',"
                " finished = NULL WHERE id = ?",
                (me.pid, me.host, me.start, sweep_id),
            )
        return self.sweep(sweep_id)

    def unfinished_sweeps(self) -> list[SweepRow]:
        """Sweeps still marked running (their owner may have died: check row.owner)."""
        rows = self._query("SELECT * FROM sweeps WHERE status = 'running' ORDER BY id")
        return [_from_row(SweepRow, r) for r in rows]

    def finish_sweep(self, sweep_id: int, status: SweepStatus = "finished") -> None:
        """Close a sweep as finished or aborted."""
        if status not in SWEEP_STATUSES:
            raise ValueError(f"unknown sweep status {status!r}: use one of {', '.join(SWEEP_STATUSES)}")
        with self._write() as conn:
            finished = None if status == "running" else self._clock()
            cur = conn.execute(
                "UPDATE sweeps SET status = ?, finished = ? WHERE id = ?",
                (status, finished, sweep_id),
            )
            if cur.rowcount == 0:
                raise LedgerError(f"no sweep {sweep_id} in the ledger", "list sweeps with `lambdabench sweeps`")

    def sweep(self, sweep_id: int) -> SweepRow:
        """One sweep by id; NotInLedger (bad input, exit 2) if absent."""
        rows = self._query("SELECT * FROM sweeps WHERE id = ?", (sweep_id,))
        if not rows:
            raise NotInLedger(f"no sweep {sweep_id} in the ledger", "list sweeps with `lambdabench sweeps`")
        return _from_row(SweepRow, rows[0])

    def sweeps(self) -> list[SweepRow]:
        """All sweeps, oldest first."""
        return [_from_row(SweepRow, r) for r in self._query("SELECT * FROM sweeps ORDER BY id")]

    def latest_sweep(self) -> SweepRow | None:
        """The most recently created sweep, if any."""
        rows = self._query("SELECT * FROM sweeps ORDER BY id DESC LIMIT 1")
        return _from_row(SweepRow, rows[0]) if rows else None

    # -- runs ----------------------------------------------------------------------------------

    def add_run(
        self,
        sweep_id: int,
        *,
        instance_type: str,
        region: str | None = None,
        workload: str | None = None,
        params: Mapping[str, Any] | None = None,
        simulated: bool | None = None,
    ) -> int:
        """Record a planned run (status pending) in a sweep; simulated defaults to the sweep's flag."""
        with self._write() as conn:
            sweep = conn.execute("SELECT simulated FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            if sweep is None:
                raise LedgerError(f"no sweep {sweep_id} in the ledger", "create the sweep first")
            cur = conn.execute(
                "INSERT INTO runs (sweep_id, instance_type, region, workload, params_json, simulated,"
                " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    sweep_id,
                    instance_type,
                    region,
                    workload,
                    None if params is None else json.dumps(dict(params), sort_keys=True),
                    int(bool(sweep["simulated"]) if simulated is None else simulated),
                    self._clock(),
                ),
            )
            return int(cur.lastrowid or 0)

    def set_run_status(self, run_id: int, status: RunStatus, ts: float | None = None) -> None:
        """Move a run to a status; running sets started (once), a finished status sets ended."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}: use one of {', '.join(RUN_STATUSES)}")
        now = self._now(ts)
        args: tuple[Any, ...]
        if status == "running":
            sql, args = (
                "UPDATE runs SET status = ?, started = COALESCE(started, ?), ended = NULL WHERE id = ?",
                (status, now, run_id),
            )
        elif status in RUN_FINISHED:
            sql, args = "UPDATE runs SET status = ?, ended = ? WHERE id = ?", (status, now, run_id)
        else:  # back to pending: a resumed run starts over
            sql, args = (
                "UPDATE runs SET status = ?, started = NULL, ended = NULL WHERE id = ?",
                (status, run_id),
            )
        with self._write() as conn:
            cur = conn.execute(sql, args)
            self._require(cur.rowcount, "run", run_id)

    @staticmethod
    def _require(rowcount: int, what: str, key: object) -> None:
        if rowcount == 0:
            raise LedgerError(f"no {what} {key!r} in the ledger", "check the id; list with `lambdabench report`")

    def run(self, run_id: int) -> RunRow:
        """One run by id; LedgerError if absent."""
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            self._require(0, "run", run_id)
        return _from_row(RunRow, rows[0])

    def runs(self, sweep_id: int | None = None) -> list[RunRow]:
        """Runs of one sweep (or all), in creation order."""
        if sweep_id is None:
            rows = self._query("SELECT * FROM runs ORDER BY id")
        else:
            rows = self._query("SELECT * FROM runs WHERE sweep_id = ? ORDER BY id", (sweep_id,))
        return [_from_row(RunRow, r) for r in rows]

    def unfinished_runs(self, sweep_id: int) -> list[RunRow]:
        """Runs of a sweep still pending or running: what `sweep --resume` has left to do."""
        rows = self._query(
            "SELECT * FROM runs WHERE sweep_id = ? AND status NOT IN (?, ?, ?) ORDER BY id",
            (sweep_id, *RUN_FINISHED),
        )
        return [_from_row(RunRow, r) for r in rows]

    # -- instances -----------------------------------------------------------------------------

    def reserve_instance(
        self,
        run_id: int,
        name: str,
        instance_type: str,
        region: str | None,
        price_cents_per_hour: int,
        *,
        simulated: bool | None = None,
        ts: float | None = None,
        kind: InstanceKind = "lambda",
        label: str | None = None,
    ) -> InstanceRow:
        """Write the launch intent (launch_requested, owner) BEFORE calling launch; name must be unique.

        kind "host"/"local" rows are machines the user brought: they carry a price for the report's
        cost columns and timestamps, and nothing ever terminates them.
        """
        if kind not in INSTANCE_KINDS:
            raise ValueError(f"unknown instance kind {kind!r}: use one of {', '.join(INSTANCE_KINDS)}")
        if not isinstance(price_cents_per_hour, int) or price_cents_per_hour < 0:
            raise ValueError(f"price_cents_per_hour must be a non-negative int, got {price_cents_per_hour!r}")
        owner = self.owner
        with self._write() as conn:
            run = conn.execute("SELECT simulated FROM runs WHERE id = ?", (run_id,)).fetchone()
            if run is None:
                raise LedgerError(f"no run {run_id} in the ledger", "add the run before reserving an instance")
            try:
                conn.execute(
                    "INSERT INTO instances (name, run_id, instance_type, region, price_cents_per_hour,"
                    " status, simulated, owner_pid, owner_host, owner_start, launch_requested, kind, label)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        run_id,
                        instance_type,
                        region,
                        price_cents_per_hour,
                        INSTANCE_REQUESTED,
                        int(bool(run["simulated"]) if simulated is None else simulated),
                        owner.pid,
                        owner.host,
                        owner.start,
                        self._now(ts),
                        kind,
                        label,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise LedgerError(
                    f"instance name {name!r} is already in the ledger",
                    "generate a fresh lambdabench-<random> name for every launch",
                ) from exc
        return self.instance(name)

    def record_launch_accepted(
        self, name: str, instance_id: str, ts: float | None = None, *, status: str = "booting"
    ) -> None:
        """Lambda accepted the launch (or reconcile-by-name found it): store its id and launch_accepted."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE instances SET id = ?, status = ?, launch_accepted = COALESCE(launch_accepted, ?)"
                " WHERE name = ?",
                (instance_id, status, self._now(ts), name),
            )
            self._require(cur.rowcount, "instance", name)

    def record_launch_failed(self, name: str, ts: float | None = None) -> None:
        """The launch was definitely refused (nothing exists): the reservation is closed as gone."""
        with self._write() as conn:
            row = conn.execute("SELECT id FROM instances WHERE name = ?", (name,)).fetchone()
            if row is None:
                self._require(0, "instance", name)
            if row["id"] is not None:
                raise LedgerError(
                    f"instance {name!r} was accepted as {row['id']}; it cannot be a failed launch",
                    "terminate it and mark it gone instead",
                )
            conn.execute(
                "UPDATE instances SET status = ?, gone = COALESCE(gone, ?), needs_attention = 0 WHERE name = ?",
                (INSTANCE_LAUNCH_FAILED, self._now(ts), name),
            )

    def mark(self, name: str, event: InstanceEvent, ts: float | None = None, *, overwrite: bool = False) -> bool:
        """Set a lifecycle timestamp (first write wins unless overwrite); returns whether it was written.

        Marking "gone" also clears needs_attention and sets status terminated if it was not final.
        """
        if event not in INSTANCE_EVENTS:
            raise ValueError(f"unknown instance event {event!r}: use one of {', '.join(INSTANCE_EVENTS)}")
        now = self._now(ts)
        with self._write() as conn:
            exists = conn.execute("SELECT 1 FROM instances WHERE name = ?", (name,)).fetchone()
            if exists is None:
                self._require(0, "instance", name)
            guard = "" if overwrite else f" AND {event} IS NULL"
            cur = conn.execute(f"UPDATE instances SET {event} = ? WHERE name = ?{guard}", (now, name))
            if event == "gone":
                conn.execute(
                    "UPDATE instances SET needs_attention = 0,"
                    " status = CASE WHEN status IN (?, 'terminated', 'preempted') THEN status"
                    " ELSE 'terminated' END WHERE name = ?",
                    (INSTANCE_LAUNCH_FAILED, name),
                )
            return cur.rowcount > 0

    def set_instance_status(self, name: str, status: str, *, ip: str | None = None) -> None:
        """Store the last status seen from the API (booting, active, unhealthy, ...) and the ip if known."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE instances SET status = ?, ip = COALESCE(?, ip) WHERE name = ?",
                (status, ip, name),
            )
            self._require(cur.rowcount, "instance", name)

    def set_needs_attention(self, name: str, reason: str) -> None:
        """Flag an instance a human must look at (e.g. terminate failed); reason is redacted."""
        with self._write() as conn:
            row = conn.execute("SELECT gone FROM instances WHERE name = ?", (name,)).fetchone()
            if row is None:
                self._require(0, "instance", name)
            if row["gone"] is not None:
                raise LedgerError(
                    f"instance {name!r} is already gone; nothing to attend to",
                    "record an error on the run instead",
                )
            conn.execute(
                "UPDATE instances SET needs_attention = 1, attention_reason = ? WHERE name = ?",
                (redact(reason), name),
            )

    def clear_needs_attention(self, name: str) -> None:
        """Drop the attention flag once the problem is handled."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE instances SET needs_attention = 0, attention_reason = NULL WHERE name = ?",
                (name,),
            )
            self._require(cur.rowcount, "instance", name)

    def set_price(self, name: str, price_cents_per_hour: int) -> None:
        """The price the launched instance itself carries (it may differ from the catalog's at reserve time)."""
        if not isinstance(price_cents_per_hour, int) or price_cents_per_hour < 0:
            raise ValueError(f"price_cents_per_hour must be a non-negative int, got {price_cents_per_hour!r}")
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE instances SET price_cents_per_hour = ? WHERE name = ?", (price_cents_per_hour, name)
            )
            self._require(cur.rowcount, "instance", name)

    def set_kept(self, name: str, kept: bool = True) -> None:
        """Mark an instance as left running on purpose: gc leaves it alone, `down` still ends it."""
        with self._write() as conn:
            cur = conn.execute("UPDATE instances SET kept = ? WHERE name = ?", (int(kept), name))
            self._require(cur.rowcount, "instance", name)

    def unmark(self, name: str, event: InstanceEvent) -> None:
        """Clear a lifecycle timestamp that turned out not to have happened (a refused terminate)."""
        if event not in INSTANCE_EVENTS or event in ("launch_requested", "gone"):
            raise ValueError(f"cannot unmark {event!r}")
        with self._write() as conn:
            cur = conn.execute(f"UPDATE instances SET {event} = NULL WHERE name = ?", (name,))
            self._require(cur.rowcount, "instance", name)

    def instances_labelled(self, label: str) -> list[InstanceRow]:
        """Instances whose user label is `label` (what `launch --name` was given), newest first."""
        rows = self._query(
            "SELECT * FROM instances WHERE label = ? ORDER BY launch_requested DESC, rowid DESC", (label,)
        )
        return [_from_row(InstanceRow, r) for r in rows]

    # -- rulesets ------------------------------------------------------------------------------

    def record_ruleset(self, ruleset_id: str, name: str, region: str, run_id: int) -> None:
        """A firewall ruleset this process created for a run (owner = this process)."""
        owner = self.owner
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO rulesets (id, name, region, run_id, owner_pid, owner_host,"
                " owner_start, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ruleset_id, name, region, run_id, owner.pid, owner.host, owner.start, self._clock()),
            )

    def ruleset_deleted(self, ruleset_id: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE rulesets SET deleted = COALESCE(deleted, ?) WHERE id = ?", (self._clock(), ruleset_id))

    def rulesets(self, *, live: bool = False) -> list[RulesetRow]:
        """Rulesets this ledger created (only those not deleted yet with live=True)."""
        sql = "SELECT * FROM rulesets" + (" WHERE deleted IS NULL" if live else "") + " ORDER BY created"
        return [_from_row(RulesetRow, r) for r in self._query(sql)]

    def adopt_instance(self, name: str) -> None:
        """Make this process the owner (resume or gc taking over an orphan)."""
        owner = self.owner
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE instances SET owner_pid = ?, owner_host = ?, owner_start = ? WHERE name = ?",
                (owner.pid, owner.host, owner.start, name),
            )
            self._require(cur.rowcount, "instance", name)

    def instance(self, name: str) -> InstanceRow:
        """One instance by our name; LedgerError if absent."""
        rows = self._query("SELECT * FROM instances WHERE name = ?", (name,))
        if not rows:
            self._require(0, "instance", name)
        return _from_row(InstanceRow, rows[0])

    def instance_by_id(self, instance_id: str) -> InstanceRow | None:
        """One instance by Lambda's id, if we have it."""
        rows = self._query("SELECT * FROM instances WHERE id = ?", (instance_id,))
        return _from_row(InstanceRow, rows[0]) if rows else None

    def instances(self, *, run_id: int | None = None, sweep_id: int | None = None) -> list[InstanceRow]:
        """Instances of a run, of a sweep, or all, in reservation order."""
        sql = "SELECT i.* FROM instances i JOIN runs r ON r.id = i.run_id WHERE 1 = 1"
        args: list[Any] = []
        if run_id is not None:
            sql += " AND i.run_id = ?"
            args.append(run_id)
        if sweep_id is not None:
            sql += " AND r.sweep_id = ?"
            args.append(sweep_id)
        rows = self._query(sql + " ORDER BY i.launch_requested, i.rowid", args)
        return [_from_row(InstanceRow, r) for r in rows]

    def live_instances(self, sweep_id: int | None = None) -> list[InstanceRow]:
        """Instances not yet gone (may still bill), of one sweep or all."""
        return [i for i in self.instances(sweep_id=sweep_id) if i.gone is None]

    def orphaned_instances(self, *, include_unknown: bool = False) -> list[InstanceRow]:
        """Live instances whose owning process is dead (on this host); include_unknown adds other hosts'."""
        out = []
        for inst in self.live_instances():
            owner = inst.owner
            alive = None if owner is None else is_process_alive(owner)
            if alive is False or (alive is None and include_unknown):
                out.append(inst)
        return out

    def attention_instances(self) -> list[InstanceRow]:
        """Instances flagged needs_attention."""
        rows = self._query("SELECT * FROM instances WHERE needs_attention = 1 ORDER BY rowid")
        return [_from_row(InstanceRow, r) for r in rows]

    # -- steps, artifacts, metrics, errors -----------------------------------------------------

    def start_step(self, run_id: int, name: str, *, log_path: str | None = None, ts: float | None = None) -> int:
        """Record that a playbook step started; returns the step id for end_step."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO steps (run_id, name, log_path, started) VALUES (?, ?, ?, ?)",
                (run_id, name, log_path, self._now(ts)),
            )
            return int(cur.lastrowid or 0)

    def end_step(self, step_id: int, exit_code: int | None, ts: float | None = None) -> None:
        """Record a step's end and exit code (None: killed or unknown)."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE steps SET exit_code = ?, ended = ? WHERE id = ?",
                (exit_code, self._now(ts), step_id),
            )
            self._require(cur.rowcount, "step", step_id)

    def steps(self, run_id: int) -> list[StepRow]:
        """Steps of a run in order."""
        rows = self._query("SELECT * FROM steps WHERE run_id = ? ORDER BY id", (run_id,))
        return [_from_row(StepRow, r) for r in rows]

    def record_artifact(
        self,
        run_id: int,
        path: str,
        *,
        size: int | None = None,
        sha256: str | None = None,
        verified: bool = False,
    ) -> int:
        """Record a pulled file (path relative to the run's artifact folder); returns its id."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO artifacts (run_id, path, size, sha256, verified, recorded) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, path, size, sha256, int(verified), self._clock()),
            )
            return int(cur.lastrowid or 0)

    def set_artifact_verified(self, artifact_id: int, verified: bool = True) -> None:
        """Record the outcome of checking an artifact's size and sha256."""
        with self._write() as conn:
            cur = conn.execute("UPDATE artifacts SET verified = ? WHERE id = ?", (int(verified), artifact_id))
            self._require(cur.rowcount, "artifact", artifact_id)

    def artifacts(self, run_id: int) -> list[ArtifactRow]:
        """Artifacts of a run."""
        rows = self._query("SELECT * FROM artifacts WHERE run_id = ? ORDER BY id", (run_id,))
        return [_from_row(ArtifactRow, r) for r in rows]

    def record_metric(self, run_id: int, key: str, value: float, *, unit: str = "", source: str = "") -> None:
        """Store a metric; the same (run, key, source) again replaces the value.

        NaN and ±inf are not stored (the figure is unknown) and are said by unknown_figures(run_id):
        a training whose reward diverged must not fail a finished run's record.
        """
        if not math.isfinite(float(value)):
            self._note_unknown(
                run_id, f"{key}: unknown (the run reported {float(value)}{f' in {source}' if source else ''})"
            )
            return
        with self._write() as conn:
            conn.execute(
                "INSERT INTO metrics (run_id, key, value, unit, source, recorded) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(run_id, key, source) DO UPDATE SET value = excluded.value,"
                " unit = excluded.unit, recorded = excluded.recorded",
                (run_id, key, float(value), unit, source, self._clock()),
            )

    def metrics(self, *, run_id: int | None = None, sweep_id: int | None = None) -> list[MetricRow]:
        """Metrics of a run, of a sweep, or all."""
        sql = "SELECT m.* FROM metrics m JOIN runs r ON r.id = m.run_id WHERE 1 = 1"
        args: list[Any] = []
        if run_id is not None:
            sql += " AND m.run_id = ?"
            args.append(run_id)
        if sweep_id is not None:
            sql += " AND r.sweep_id = ?"
            args.append(sweep_id)
        return [_from_row(MetricRow, r) for r in self._query(sql + " ORDER BY m.id", args)]

    def record_series(
        self,
        run_id: int,
        name: str,
        points: Sequence[tuple[float | None, float | None, float]],
        *,
        unit: str = "",
        source: str = "",
    ) -> None:
        """Store a whole curve as (t, x, value) points; the same (run, name, source) again replaces it.

        Points with NaN or ±inf in them are left out, and said by unknown_figures(run_id).
        """
        rows = [[None if t is None else float(t), None if x is None else float(x), float(v)] for t, x, v in points]
        clean = [p for p in rows if all(c is None or math.isfinite(c) for c in p)]
        if len(clean) < len(rows):
            self._note_unknown(
                run_id, f"{name}: {len(rows) - len(clean)} of {len(rows)} point(s) not a number, left out of the curve"
            )
        if not clean:
            return
        with self._write() as conn:
            conn.execute(
                "INSERT INTO series (run_id, name, unit, source, points_json, recorded) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(run_id, name, source) DO UPDATE SET points_json = excluded.points_json,"
                " unit = excluded.unit, recorded = excluded.recorded",
                (run_id, name, unit, source, json.dumps(clean, allow_nan=False), self._clock()),
            )

    def _note_unknown(self, run_id: int, note: str) -> None:
        with self._lock:
            self._unknown.setdefault(run_id, []).append(note)

    def unknown_figures(self, run_id: int) -> list[str]:
        """Figures of a run that were not numbers (NaN, ±inf), so not stored: one note each, then forgotten."""
        with self._lock:
            return self._unknown.pop(run_id, [])

    def series(
        self, *, run_id: int | None = None, sweep_id: int | None = None, name: str | None = None
    ) -> list[SeriesRow]:
        """Curves of a run, of a sweep, or all; optionally only one name."""
        sql = "SELECT s.* FROM series s JOIN runs r ON r.id = s.run_id WHERE 1 = 1"
        args: list[Any] = []
        for column, value in (("s.run_id", run_id), ("r.sweep_id", sweep_id), ("s.name", name)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        out = []
        for r in self._query(sql + " ORDER BY s.run_id, s.name, s.source", args):
            points = tuple((p[0], p[1], p[2]) for p in json.loads(r["points_json"]))
            out.append(SeriesRow(r["run_id"], r["name"], r["unit"], r["source"], points, r["recorded"]))
        return out

    def record_error(
        self,
        stage: str,
        kind: str,
        message: str,
        *,
        run_id: int | None = None,
        instance_name: str | None = None,
        ts: float | None = None,
    ) -> int:
        """Record a failure at a stage (launch, boot, ssh, setup, bench, pull, terminate); message redacted."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO errors (run_id, instance_name, stage, kind, message, ts) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, instance_name, stage, kind, redact(message), self._now(ts)),
            )
            return int(cur.lastrowid or 0)

    def errors(self, *, run_id: int | None = None, sweep_id: int | None = None) -> list[ErrorRow]:
        """Errors of a run, of a sweep, or all."""
        sql = "SELECT e.* FROM errors e LEFT JOIN runs r ON r.id = e.run_id WHERE 1 = 1"
        args: list[Any] = []
        if run_id is not None:
            sql += " AND e.run_id = ?"
            args.append(run_id)
        if sweep_id is not None:
            sql += " AND r.sweep_id = ?"
            args.append(sweep_id)
        return [_from_row(ErrorRow, r) for r in self._query(sql + " ORDER BY e.id", args)]

    # -- checks --------------------------------------------------------------------------------

    def integrity_check(self) -> list[str]:
        """SQLite's integrity and foreign-key checks plus our invariants; an empty list means healthy."""
        problems: list[str] = []
        with self._lock:
            conn = self._db()
            result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            if result != ["ok"]:
                problems.extend(f"sqlite integrity: {line}" for line in result)
            for row in conn.execute("PRAGMA foreign_key_check").fetchall():
                problems.append(f"foreign key: {row[0]} row {row[1]} points at a missing {row[2]}")
            version = schema_version(conn)
            if version != LATEST_VERSION:
                problems.append(f"schema version {version}, expected {LATEST_VERSION}")
        checks: list[tuple[str, str]] = [
            (
                "SELECT id FROM runs WHERE sweep_id NOT IN (SELECT id FROM sweeps)",
                "run {0} belongs to no sweep",
            ),
            (
                "SELECT name FROM instances WHERE run_id NOT IN (SELECT id FROM runs)",
                "instance {0} belongs to no run",
            ),
            (
                "SELECT COALESCE(name, '(null)') FROM instances"
                " WHERE launch_accepted IS NOT NULL AND (name IS NULL OR name = '' OR id IS NULL)",
                "instance {0} has launch_accepted but no name or id",
            ),
            (
                "SELECT name FROM instances WHERE gone IS NOT NULL AND needs_attention = 1",
                "instance {0} is both gone and needs_attention",
            ),
            (
                "SELECT name FROM instances WHERE launch_requested IS NULL",
                "instance {0} has no launch_requested (intent not written first)",
            ),
            (
                "SELECT name FROM instances WHERE first_active IS NOT NULL AND launch_accepted IS NULL",
                "instance {0} was active but its launch was never accepted",
            ),
            (
                "SELECT name FROM instances WHERE terminate_called IS NOT NULL"
                " AND launch_requested IS NOT NULL AND terminate_called < launch_requested",
                "instance {0} has terminate_called before launch_requested",
            ),
            (
                "SELECT name FROM instances WHERE gone IS NOT NULL AND launch_requested IS NOT NULL"
                " AND gone < launch_requested",
                "instance {0} is gone before it was requested",
            ),
            (
                "SELECT id FROM runs WHERE status NOT IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')",
                "run {0} has an unknown status",
            ),
            (
                "SELECT id FROM steps WHERE run_id NOT IN (SELECT id FROM runs)",
                "step {0} belongs to no run",
            ),
        ]
        for sql, message in checks:
            problems.extend(message.format(row[0]) for row in self._query(sql))
        return problems
