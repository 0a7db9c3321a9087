"""The run ledger against real SQLite: CRUD, migrations, kill -9 survival, threads, invariants."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lambdabench import secrets
from lambdabench.errors import LedgerError
from lambdabench.ledger import (
    INSTANCE_EVENTS,
    LATEST_VERSION,
    MIGRATIONS,
    Ledger,
    MetricKey,
    ProcessIdentity,
    connect,
    is_process_alive,
    iso_utc,
    ledger_path,
    migrate,
    process_start_token,
    schema_version,
)

REPO = Path(__file__).resolve().parents[1]


class FakeClock:
    """A settable clock so timestamps are exact."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ledger(hermetic_env: Path) -> Ledger:
    led = Ledger(hermetic_env)
    yield led
    led.close()


def _run(led: Ledger, sweep: int | None = None) -> int:
    sweep = led.create_sweep("s") if sweep is None else sweep
    return led.add_run(sweep, instance_type="gpu_1x_a10", region="us-east-1", workload="Cartpole")


def test_open_creates_file_with_pragmas(hermetic_env: Path) -> None:
    with Ledger(hermetic_env) as led:
        assert led.path == hermetic_env / "ledger.sqlite3" == ledger_path(hermetic_env)
        conn = sqlite3.connect(led.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert schema_version(conn) == LATEST_VERSION == len(MIGRATIONS)
        conn.close()
        with led._lock:
            assert led._db().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert led._db().execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert led.integrity_check() == []


def test_full_run_lifecycle(hermetic_env: Path) -> None:
    clock = FakeClock()
    led = Ledger(hermetic_env, clock=clock)
    sweep = led.create_sweep("a10", simulated=True, plan={"types": ["gpu_1x_a10"]}, max_cost_cents=500)
    run = led.add_run(sweep, instance_type="gpu_1x_a10", region="us-east-1", params={"num_envs": 4096})
    assert led.run(run).simulated is True  # inherited from the sweep
    assert led.run(run).params == {"num_envs": 4096}
    assert led.sweep(sweep).plan == {"types": ["gpu_1x_a10"]}
    led.set_run_status(run, "running")

    inst = led.reserve_instance(run, "lambdabench-aaa111", "gpu_1x_a10", "us-east-1", 75)
    assert inst.status == "requested" and inst.id is None
    assert inst.launch_requested == clock.now
    assert inst.owner == ProcessIdentity.current()
    assert inst.simulated is True

    clock.now += 2
    led.record_launch_accepted("lambdabench-aaa111", "i-123")
    for event in INSTANCE_EVENTS[2:]:
        clock.now += 10
        assert led.mark("lambdabench-aaa111", event) is True, event
    # first write wins unless overwrite
    assert led.mark("lambdabench-aaa111", "first_active", clock.now + 99) is False
    assert led.mark("lambdabench-aaa111", "ssh_ready", 5.0, overwrite=True) is True

    got = led.instance("lambdabench-aaa111")
    assert got.id == "i-123"
    assert got.launch_accepted == 1_700_000_002.0
    assert got.first_active == 1_700_000_012.0
    assert got.ssh_ready == 5.0
    assert got.gone == 1_700_000_002.0 + 10 * (len(INSTANCE_EVENTS) - 2)
    assert got.status == "terminated"
    assert led.instance_by_id("i-123") == got

    step = led.start_step(run, "setup", log_path="logs/setup.log")
    clock.now += 3
    led.end_step(step, 0)
    (s,) = led.steps(run)
    assert (s.name, s.exit_code, s.ended - s.started, s.log_path) == (
        "setup",
        0,
        3.0,
        "logs/setup.log",
    )

    art = led.record_artifact(run, "logs/events.tfevents", size=10, sha256="ab" * 32)
    assert led.artifacts(run)[0].verified is False
    led.set_artifact_verified(art)
    assert led.artifacts(run)[0].verified is True

    led.record_metric(run, MetricKey.ENV_STEPS_PER_S, 1.0, unit="steps/s", source="tb")
    led.record_metric(run, MetricKey.ENV_STEPS_PER_S, 2.5, unit="steps/s", source="tb")
    led.record_metric(run, MetricKey.ENV_STEPS_PER_S, 3.0, unit="steps/s", source="console")
    values = sorted((m.source, m.value) for m in led.metrics(run_id=run))
    assert values == [("console", 3.0), ("tb", 2.5)]
    assert len(led.metrics(sweep_id=sweep)) == 2

    led.set_run_status(run, "succeeded")
    assert led.run(run).finished and led.run(run).ended == clock.now
    led.finish_sweep(sweep)
    assert led.sweep(sweep).status == "finished"
    assert led.latest_sweep() == led.sweep(sweep)
    assert led.live_instances() == []
    assert led.integrity_check() == []
    led.close()
    with pytest.raises(LedgerError):
        led.runs()


def test_reserve_rejects_duplicate_name_and_bad_price(ledger: Ledger) -> None:
    run = _run(ledger)
    ledger.reserve_instance(run, "lambdabench-dup", "gpu_1x_a10", None, 75)
    with pytest.raises(LedgerError, match="already in the ledger"):
        ledger.reserve_instance(run, "lambdabench-dup", "gpu_1x_a10", None, 75)
    with pytest.raises(ValueError):  # a programmer's mistake, not the user's
        ledger.reserve_instance(run, "lambdabench-x", "gpu_1x_a10", None, 0.75)  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="no run"):
        ledger.reserve_instance(999, "lambdabench-y", "gpu_1x_a10", None, 75)
    with pytest.raises(ValueError):
        ledger.mark("lambdabench-dup", "exploded")
    with pytest.raises(LedgerError):
        ledger.mark("lambdabench-nope", "gone")


def test_failed_launch_is_closed_and_not_live(ledger: Ledger) -> None:
    run = _run(ledger)
    ledger.reserve_instance(run, "lambdabench-f1", "gpu_1x_a10", None, 75)
    assert [i.name for i in ledger.live_instances()] == ["lambdabench-f1"]
    ledger.record_launch_failed("lambdabench-f1")
    inst = ledger.instance("lambdabench-f1")
    assert inst.status == "launch_failed" and inst.gone is not None
    assert ledger.live_instances() == []
    ledger.reserve_instance(run, "lambdabench-f2", "gpu_1x_a10", None, 75)
    ledger.record_launch_accepted("lambdabench-f2", "i-f2")
    with pytest.raises(LedgerError, match="accepted"):
        ledger.record_launch_failed("lambdabench-f2")


def test_needs_attention_cleared_by_gone(ledger: Ledger) -> None:
    secrets.register("sekrit-api-key-value")
    run = _run(ledger)
    ledger.reserve_instance(run, "lambdabench-att", "gpu_1x_a10", None, 75)
    ledger.record_launch_accepted("lambdabench-att", "i-att")
    ledger.set_needs_attention("lambdabench-att", "terminate failed with key sekrit-api-key-value")
    (flagged,) = ledger.attention_instances()
    assert flagged.needs_attention and "sekrit" not in (flagged.attention_reason or "")
    ledger.mark("lambdabench-att", "gone")
    assert ledger.attention_instances() == []
    with pytest.raises(LedgerError, match="already gone"):
        ledger.set_needs_attention("lambdabench-att", "again")
    assert ledger.integrity_check() == []


def test_errors_are_redacted(ledger: Ledger) -> None:
    secrets.register("nvapi-0123456789abcdef")
    run = _run(ledger)
    ledger.record_error("setup", "docker-login", "login failed for nvapi-0123456789abcdef", run_id=run)
    (err,) = ledger.errors(run_id=run)
    assert "nvapi-0123456789abcdef" not in err.message and "***" in err.message
    raw = ledger.path.read_bytes() + Path(str(ledger.path) + "-wal").read_bytes()
    assert b"nvapi-0123456789abcdef" not in raw


def test_unfinished_runs_and_live_per_sweep(ledger: Ledger) -> None:
    s1, s2 = ledger.create_sweep("one"), ledger.create_sweep("two")
    done, going, waiting = (_run(ledger, s1) for _ in range(3))
    other = _run(ledger, s2)
    ledger.set_run_status(done, "running")
    ledger.set_run_status(done, "failed")
    ledger.set_run_status(going, "running")
    assert [r.id for r in ledger.unfinished_runs(s1)] == [going, waiting]
    assert [r.id for r in ledger.unfinished_runs(s2)] == [other]
    ledger.reserve_instance(going, "lambdabench-s1", "gpu_1x_a10", None, 75)
    ledger.reserve_instance(other, "lambdabench-s2", "gpu_1x_a10", None, 75)
    assert [i.name for i in ledger.live_instances(s1)] == ["lambdabench-s1"]
    assert [i.name for i in ledger.live_instances(s2)] == ["lambdabench-s2"]
    assert [i.name for i in ledger.instances(run_id=other)] == ["lambdabench-s2"]
    ledger.set_run_status(going, "pending")
    assert ledger.run(going).started is None


def test_process_identity_and_orphans(hermetic_env: Path) -> None:
    me = ProcessIdentity.current()
    assert is_process_alive(me) is True
    assert process_start_token(me.pid) == me.start
    assert is_process_alive(ProcessIdentity(me.pid, me.host, "other-boot:1")) is False  # pid reused
    assert is_process_alive(ProcessIdentity(me.pid, "some-other-host", me.start)) is None

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    child_id = ProcessIdentity(child.pid, me.host, process_start_token(child.pid))
    assert is_process_alive(child_id) is True
    dead_owner = Ledger(hermetic_env, owner=child_id)
    run = _run(dead_owner)
    dead_owner.reserve_instance(run, "lambdabench-orphan", "gpu_1x_a10", None, 75)
    dead_owner.reserve_instance(run, "lambdabench-gone", "gpu_1x_a10", None, 75)
    dead_owner.record_launch_failed("lambdabench-gone")
    foreign = Ledger(hermetic_env, owner=ProcessIdentity(1, "elsewhere", "x:1"))
    foreign.reserve_instance(run, "lambdabench-foreign", "gpu_1x_a10", None, 75)

    me_ledger = Ledger(hermetic_env)
    me_ledger.reserve_instance(run, "lambdabench-mine", "gpu_1x_a10", None, 75)
    assert me_ledger.orphaned_instances() == []  # child still alive
    child.kill()
    child.wait()
    assert is_process_alive(child_id) is False
    assert [i.name for i in me_ledger.orphaned_instances()] == ["lambdabench-orphan"]
    assert [i.name for i in me_ledger.orphaned_instances(include_unknown=True)] == [
        "lambdabench-orphan",
        "lambdabench-foreign",
    ]
    me_ledger.adopt_instance("lambdabench-orphan")
    assert me_ledger.orphaned_instances() == []
    for led in (dead_owner, foreign, me_ledger):
        led.close()


def test_claim_sweep_refuses_live_owner(hermetic_env: Path) -> None:
    me = ProcessIdentity.current()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        child_id = ProcessIdentity(child.pid, me.host, process_start_token(child.pid))
        with Ledger(hermetic_env, owner=child_id) as theirs:
            sweep = theirs.create_sweep("theirs")
            theirs.finish_sweep(sweep, "aborted")
        elsewhere = Ledger(hermetic_env, owner=ProcessIdentity(1, "elsewhere", "x:1"))
        remote_sweep = elsewhere.create_sweep("remote")
        elsewhere.close()
        with Ledger(hermetic_env) as mine:
            assert [s.name for s in mine.unfinished_sweeps()] == ["remote"]
            with pytest.raises(LedgerError, match=f"pid {child.pid}"):
                mine.claim_sweep(sweep)
            child.kill()
            child.wait()
            claimed = mine.claim_sweep(sweep)
            assert claimed.owner == me and claimed.status == "running" and claimed.finished is None
            assert mine.claim_sweep(sweep).owner == me  # claiming again is harmless
            with pytest.raises(LedgerError, match="another host"):
                mine.claim_sweep(remote_sweep)
            assert mine.claim_sweep(remote_sweep, force=True).owner == me
    finally:
        child.kill()
        child.wait()


def _old_database(path: Path, version: int) -> None:
    conn = connect(path)
    assert migrate(conn, target=version) == version
    conn.execute("INSERT INTO sweeps (id, name, created) VALUES (1, 'old', 1.0)")
    conn.execute("INSERT INTO runs (id, sweep_id, instance_type, created) VALUES (1, 1, 'gpu_1x_a10', 1.0)")
    conn.execute(
        "INSERT INTO instances (name, id, run_id, instance_type, price_cents_per_hour, status,"
        " launch_requested, launch_accepted) VALUES ('lambdabench-old', 'i-old', 1, 'gpu_1x_a10', 75,"
        " 'active', 1.0, 2.0)"
    )
    # version 1 allowed duplicate metrics; migration 2 keeps the latest
    for value in (1.0, 2.0) if version == 1 else (2.0,):
        conn.execute(
            "INSERT INTO metrics (run_id, key, value, recorded) VALUES (1, 'env_steps', ?, 1.0)",
            (value,),
        )
    conn.close()


@pytest.mark.parametrize("version", range(1, LATEST_VERSION))
def test_migrates_from_older_version(hermetic_env: Path, version: int) -> None:
    _old_database(ledger_path(hermetic_env), version)
    with Ledger(hermetic_env) as led:
        assert led.sweep(1).owner is None  # sweeps from before owners existed
        assert led.claim_sweep(1).owner == ProcessIdentity.current()
        inst = led.instance("lambdabench-old")
        assert inst.id == "i-old" and inst.attention_reason is None and inst.ip is None
        assert [m.value for m in led.metrics(run_id=1)] == [2.0]
        led.set_instance_status("lambdabench-old", "active", ip="127.0.0.9")
        assert led.instance("lambdabench-old").ip == "127.0.0.9"
        assert led.integrity_check() == []
        history = led._query("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in history] == list(range(1, LATEST_VERSION + 1))


def test_failed_migration_rolls_back(hermetic_env: Path) -> None:
    path = ledger_path(hermetic_env)
    conn = connect(path)

    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half_done (x INTEGER)")
        c.execute("THIS IS NOT SQL")

    with pytest.raises(LedgerError, match="migration 2"):
        migrate(conn, (MIGRATIONS[0], ("broken", broken)))
    assert schema_version(conn) == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half_done" not in tables and "runs" in tables
    conn.close()


def test_refuses_newer_schema(hermetic_env: Path) -> None:
    conn = sqlite3.connect(ledger_path(hermetic_env))
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(LedgerError, match="newer"):
        Ledger(hermetic_env)


def test_integrity_check_reports_broken_invariants(ledger: Ledger) -> None:
    run = _run(ledger)
    ledger.reserve_instance(run, "lambdabench-ok", "gpu_1x_a10", None, 75)
    with ledger._lock:
        db = ledger._db()
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("INSERT INTO runs (sweep_id, instance_type, created) VALUES (42, 'x', 1.0)")
        db.execute(
            "UPDATE instances SET launch_accepted = 5.0, gone = 6.0, needs_attention = 1 WHERE name = 'lambdabench-ok'"
        )
        db.execute("PRAGMA foreign_keys = ON")
    problems = ledger.integrity_check()
    text = "\n".join(problems)
    assert "belongs to no sweep" in text
    assert "lambdabench-ok has launch_accepted but no name or id" in text
    assert "lambdabench-ok is both gone and needs_attention" in text
    assert "foreign key" in text


def test_concurrent_writers_from_threads(ledger: Ledger) -> None:
    run = _run(ledger)
    n_threads, per_thread = 8, 40
    failures: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(per_thread):
                ledger.record_metric(run, f"k{t}-{i}", float(i), source=f"t{t}")
                ledger.record_error("bench", "test", f"thread {t} item {i}", run_id=run)
                step = ledger.start_step(run, f"s{t}-{i}")
                ledger.end_step(step, 0)
        except BaseException as exc:  # collected: an exception in a thread would be silent
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
    assert len(ledger.metrics(run_id=run)) == n_threads * per_thread
    assert len(ledger.errors(run_id=run)) == n_threads * per_thread
    assert all(s.exit_code == 0 for s in ledger.steps(run))
    assert ledger.integrity_check() == []


def test_two_ledgers_same_file_interleave(hermetic_env: Path) -> None:
    a, b = Ledger(hermetic_env), Ledger(hermetic_env)
    run = _run(a)
    for i in range(20):
        (a if i % 2 else b).record_metric(run, f"m{i}", float(i))
    assert len(a.metrics(run_id=run)) == len(b.metrics(run_id=run)) == 20
    a.close()
    b.close()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from lambdabench.ledger import Ledger
    led = Ledger(Path(sys.argv[1]))
    sweep = led.create_sweep("kill")
    run = led.add_run(sweep, instance_type="gpu_1x_a10")
    i = 0
    while True:
        name = f"lambdabench-k{i}"
        led.reserve_instance(run, name, "gpu_1x_a10", None, 75)
        led.record_metric(run, f"m{i}", float(i))
        print(name, flush=True)  # only after both commits returned
        i += 1
    """
)


def test_committed_rows_survive_kill_9(hermetic_env: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(hermetic_env)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    committed: list[str] = []
    deadline = time.monotonic() + 60
    while len(committed) < 30 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        committed.append(line.strip())
    os.kill(child.pid, signal.SIGKILL)
    committed.extend(line.strip() for line in child.stdout.read().splitlines() if line.strip())
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert len(committed) >= 30, "writer too slow or crashed"

    with Ledger(hermetic_env) as led:
        names = {i.name for i in led.instances()}
        assert set(committed) <= names
        metric_keys = {m.key for m in led.metrics()}
        assert {f"m{i}" for i in range(len(committed))} <= metric_keys
        assert led.integrity_check() == []


def test_iso_utc() -> None:
    assert iso_utc(0.0) == "1970-01-01T00:00:00Z"
    assert iso_utc(1_700_000_000.4) == "2023-11-14T22:13:20Z"
    assert iso_utc(None) is None


def test_unusable_home_or_file_is_a_ledger_error(hermetic_env: Path) -> None:
    ledger_path(hermetic_env).write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(LedgerError, match="cannot open the ledger"):
        Ledger(hermetic_env)
    a_file = hermetic_env / "plain-file"
    a_file.write_text("x")
    with pytest.raises(LedgerError, match="cannot create"):
        Ledger(a_file)


PROCESS_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from lambdabench.ledger import Ledger
    led = Ledger(Path(sys.argv[1]))
    for i in range(40):
        led.record_metric(int(sys.argv[2]), f"{sys.argv[3]}-{i}", float(i))
    """
)


def test_concurrent_writers_from_processes(hermetic_env: Path) -> None:
    with Ledger(hermetic_env) as led:
        run = _run(led)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen([sys.executable, "-c", PROCESS_WRITER, str(hermetic_env), str(run), tag], env=env)
        for tag in ("p1", "p2", "p3")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    with Ledger(hermetic_env) as led:
        assert len(led.metrics(run_id=run)) == 120
        assert led.integrity_check() == []


def test_series_round_trip_and_replace(tmp_path: Path) -> None:
    from lambdabench.ledger import Ledger

    with Ledger(tmp_path) as ledger:
        sweep = ledger.create_sweep("s", simulated=True)
        run = ledger.add_run(sweep, instance_type="gpu_1x_a10")
        other = ledger.add_run(ledger.create_sweep("t", simulated=True), instance_type="gpu_1x_a10")
        ledger.record_series(run, "reward", [(1.0, 10, 0.5), (2.0, 20, 0.75)], source="tensorboard")
        ledger.record_series(run, "gpu_util_pct", [(1.0, None, 90.0)], unit="%", source="nvidia-smi")
        ledger.record_series(other, "reward", [(None, 1, 1.0)])
        ledger.record_series(run, "reward", [(3.0, 30, 0.9)], source="tensorboard")  # replaces
        rows = ledger.series(run_id=run)
        assert [(r.name, r.points) for r in rows] == [
            ("gpu_util_pct", ((1.0, None, 90.0),)),
            ("reward", ((3.0, 30.0, 0.9),)),
        ]
        assert [r.run_id for r in ledger.series(sweep_id=sweep, name="reward")] == [run]
        assert len(ledger.series(name="reward")) == 2


def test_statuses_and_kinds_are_literal_types_and_the_checked_tuples_come_from_them() -> None:
    """mypy checks a caller's status or kind against the same values the ledger refuses others with."""
    import typing

    from lambdabench import ledger as lg

    hints = typing.get_type_hints(Ledger.set_run_status)
    assert hints["status"] == lg.RunStatus and typing.get_args(lg.RunStatus) == lg.RUN_STATUSES
    assert typing.get_type_hints(Ledger.finish_sweep)["status"] == lg.SweepStatus
    assert typing.get_args(lg.SweepStatus) == lg.SWEEP_STATUSES
    assert typing.get_type_hints(Ledger.reserve_instance)["kind"] == lg.InstanceKind
    assert typing.get_args(lg.InstanceKind) == lg.INSTANCE_KINDS
    assert typing.get_type_hints(Ledger.mark)["event"] == lg.InstanceEvent
    assert typing.get_args(lg.InstanceEvent) == lg.INSTANCE_EVENTS
