"""Shared parts of the reliability suite: the simulator as the product wires it, the invariants after every fault."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lambdabench.errors import RemoteError
from lambdabench.lab import Lab
from lambdabench.simulate import Scenario, Sim, running_simulator
from tests.reliability.results import record  # noqa: F401 - re-exported to the test modules

LB = [sys.executable, "-m", "lambdabench.cli"]

# ---- results: counted by the tests, written at the end of the session --------------------------

_OUT: dict[str, str | None] = {"path": None}


def pytest_configure(config: pytest.Config) -> None:
    # read now: the hermetic fixture clears LAMBDABENCH_* variables during tests
    _OUT["path"] = os.environ.get("LAMBDABENCH_RELIABILITY_OUT")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    from tests.reliability import results

    if not results.RESULTS:
        return
    terminalreporter.write_line(results.one_line(results.summary()))
    out = _OUT["path"]
    if out:
        results.write(Path(out), {"long": bool(config.getoption("--long")), "exitstatus": int(exitstatus)})
        terminalreporter.write_line(f"reliability figures written to {out}")


# ---- the simulator -----------------------------------------------------------------------------


@contextmanager
def simulator(scenario: dict[str, Any] | None = None, *, scale: float = 300.0, hosts: bool = True) -> Iterator[Sim]:
    """The product's own wiring (as the demo runs it) for one test, hosts on; every host is stopped afterwards."""
    sc = Scenario.from_dict(scenario) if scenario else Scenario()
    with running_simulator(scenario=sc, time_scale=scale, hosts=hosts) as running:
        yield Sim.of(running)


# ---- a staged remote phase: preflight, setup, benchmark, pull (through the RemotePhase seam) ----


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class StagedPhase:
    """Real SSH through the library: preflight (CUDA init), setup, benchmark, pull with verification.

    Each stage announces itself (LAMBDABENCH_PHASE=...) so the simulator's ssh_drop faults hit it. The
    instance's own sha256 of every result file is kept, to check pulled artifacts independently.
    """

    def __init__(self, bench_bytes: int = 300_000) -> None:
        self.bench_bytes = bench_bytes
        self.remote_sha: dict[int, dict[str, str]] = {}
        self.lock = threading.Lock()

    def __call__(self, rc: Any) -> None:
        from lambdabench.remote.transfer import pull

        node = rc.rank0
        if not node.address:
            raise RemoteError(f"{node.name} has no IP address")
        session = rc.connect(node, timeout=rc.env.timeouts.ssh_ready)
        logs = rc.run_dir / "logs"
        try:
            rc.ledger.mark(rc.rank0.name, "ssh_ready")
            session.run("nvidia-smi -L && sim-cuda-init", timeout=30, log_path=logs / "preflight.log")
            session.run(
                "export LAMBDABENCH_PHASE=setup; mkdir -p work && sleep 0.3 && echo ok > work/setup.done",
                timeout=30,
                log_path=logs / "setup.log",
            )
            rc.ledger.mark(rc.rank0.name, "bench_start")
            session.run(
                "export LAMBDABENCH_PHASE=benchmark; mkdir -p results && sleep 0.3 && "
                f"{{ head -c {self.bench_bytes} /dev/urandom > results/data.bin || true; }} && "
                "echo '{\"env_steps_per_s\": 1000}' > results/metrics.json",
                timeout=30,
                log_path=logs / "benchmark.log",
            )
            rc.ledger.mark(rc.rank0.name, "bench_end")
            sums = session.run("cd results && sha256sum -- *", timeout=30).stdout
            remote = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in sums.splitlines() if "  " in line}
            with self.lock:
                self.remote_sha[rc.run_id] = remote
            session.run("export LAMBDABENCH_PHASE=pull; sleep 0.3", timeout=30)
            res = pull(session, "results", rc.run_dir / "artifacts")
            for f in res.files:
                rc.ledger.record_artifact(rc.run_id, f.path, size=f.size, sha256=f.sha256, verified=f.verified)
            if not res.ok:
                raise RemoteError(f"pull from {rc.rank0.name} incomplete: {'; '.join(res.problems)[:200]}")
        finally:
            session.close()


# ---- invariants after every fault ---------------------------------------------------------------


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message and "\r" not in message, repr(message)
    assert "Traceback" not in message, message


def check_invariants(
    sim: Sim, lab: Lab, sweep_id: int, *, phase: StagedPhase | None = None, check_cost: bool = True
) -> int:
    """Zero instances running, ledger costs equal billing truth, verified artifacts match the instance.

    Returns how many verified artifacts were checked against the instance's own hashes.
    """
    from lambdabench.cost import instance_cost

    assert sim.settle() == [], "instances left running"
    ledger = lab.ledger
    assert ledger.integrity_check() == []
    truth = {b["id"]: b for b in sim.core.billing()}
    rows = ledger.instances(sweep_id=sweep_id)
    names = {r.name for r in rows}
    # every instance the cloud created under our names is known to the ledger (lost launches included)
    for b in truth.values():
        if (b["name"] or "").startswith("lambdabench-"):
            assert b["name"] in names, f"{b['name']} ({b['id']}) exists in the cloud but not in the ledger"
    for row in rows:
        assert not row.needs_attention, (row.name, row.attention_reason)
        if row.id is None:
            assert row.name not in {b["name"] for b in truth.values()}, f"{row.name} launched but has no id"
            continue
        assert row.id in truth, row
        assert row.gone is not None, f"{row.name} not confirmed gone in the ledger"
        if check_cost:
            mine = instance_cost(row)
            # minutes are whole and every run here lasts seconds: both sides bill 1 minute (or 0), so
            # equality is exact; the ledger's timestamps bracket the cloud's, hence upper >= truth
            assert mine.policy_minutes == truth[row.id]["billed_minutes"], (row.name, mine, truth[row.id])
            assert mine.upper_minutes >= truth[row.id]["billed_minutes"]
            assert mine.price_cents_per_hour == truth[row.id]["price_cents_per_hour"]
    for err in ledger.errors(sweep_id=sweep_id):
        assert_one_line(err.message)
    checked = 0
    if phase is not None:
        run_dirs = {p.name.split("-")[1]: p for p in lab.sweep_dir(sweep_id).glob("run-*")}
        for run in ledger.runs(sweep_id):
            for art in ledger.artifacts(run.id):
                if not art.verified:
                    continue
                local = run_dirs[str(run.id)] / "artifacts" / art.path
                on_instance = phase.remote_sha.get(run.id, {}).get(art.path)
                assert on_instance is not None, f"{art.path} verified but the instance never had it"
                assert sha256_file(local) == on_instance == art.sha256, f"{art.path} verified but differs"
                checked += 1
    return checked


def cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LB, *args], env=env, capture_output=True, text=True, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_cli_one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """A failed command says what happened in exactly one `error:` line, no traceback."""
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    return lines[0]
