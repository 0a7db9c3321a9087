"""kill -9 the CLI at seeded random points of a sweep's life; `gc` or `resume` then leaves nothing running and a sound ledger."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger, ledger_path
from lambdabench.simulate import Sim, needs_sshd
from tests.reliability.conftest import LB, assert_cli_one_error, cli, record, simulator

pytestmark = needs_sshd

SCALE = 600.0
GPUS = "a10,a100,h100"
SEED = 20260611
# the CLI's own start-up (~1-2 s here) plus a sweep of three single-GPU types at x600 (~2-3 s)
LIFE_SECONDS = 5.0


@dataclass
class Kill:
    index: int
    delay: float
    recover: str  # gc | resume
    last_line: str = ""
    recovered_with: str = ""


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Sim]:
    # terminated instances stay listed for 5 cloud minutes, 1 real second at this scale: shorter than a
    # recovering CLI's own start-up. `terminated` is the only proof of gone (absence never is, issue 23),
    # so it must stay observable as long as a real restart would find it: an hour here (12 s)
    with simulator({"linger_seconds": 3600}, scale=SCALE) as sim:
        yield sim


def plan_kills(n: int, seed: int) -> list[Kill]:
    """Delays spread over the sweep's life (stratified, so early and late kills both happen), seeded."""
    rng = random.Random(seed)
    kills = []
    for i in range(n):
        lo, hi = LIFE_SECONDS * i / n, LIFE_SECONDS * (i + 1) / n
        kills.append(Kill(i, rng.uniform(lo, hi), "gc" if i % 2 == 0 else "resume"))
    rng.shuffle(kills)
    return kills


def drain(proc: subprocess.Popen[str], sink: list[str]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        sink.append(line.rstrip("\n"))


def kill_and_recover(sim: Sim, kill: Kill, root: Path) -> Kill:
    home = root / f"home-{kill.index}"
    env = sim.client_env(home)
    proc = subprocess.Popen(
        [*LB, "sweep", "--gpus", GPUS, "--playbook", "gpu-probe"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=drain, args=(proc, lines), daemon=True)
    reader.start()
    time.sleep(kill.delay)
    proc.kill()  # SIGKILL: no handler, no finally, no atexit
    proc.wait()
    reader.join(timeout=5)
    kill.last_line = lines[-1] if lines else "(before any output)"
    sweep_id = None
    if ledger_path(home).exists():
        with Ledger(home) as ledger:
            latest = ledger.latest_sweep()
            sweep_id = latest.id if latest else None
    if kill.recover == "resume" and sweep_id is not None:
        out = cli(["resume", str(sweep_id)], env)
        kill.recovered_with = "resume"
        # a resumed sweep may itself report a failed run; it must say so in one line
        if out.returncode != 0:
            assert_cli_one_error(out)
    else:
        out = cli(["gc"], env)
        kill.recovered_with = "gc"
        assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    with Ledger(home) as ledger:
        assert ledger.integrity_check() == [], (kill, ledger.integrity_check())
        assert ledger.live_instances() == [], kill
        mine = {r.name for r in ledger.instances()}
    deadline = time.monotonic() + 10
    while True:
        running = [b for b in sim.live() if b["name"] in mine]
        if not running or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert running == [], (kill, running)
    return kill


def stage_of(line: str) -> str:
    """The stage a kill interrupted, from the CLI's last stderr line (`[a10#1] booting (us-east-1)`)."""
    if "] " not in line:
        return "start-up" if line.startswith("(") else "planning"
    word = line.split("] ", 1)[1].split(" ", 1)[0].strip(":")
    return word if word.isalpha() else "other"


def run_kills(sim: Sim, root: Path, n: int, seed: int, workers: int) -> list[Kill]:
    kills = plan_kills(n, seed)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = list(pool.map(lambda k: kill_and_recover(sim, k, root), kills))
    for k in done:
        record(f"kill:{k.recovered_with}")
        record(f"killstage:{stage_of(k.last_line)}")
    # nothing of any kill is left, and the cloud knows no instance of ours the ledgers don't
    assert sim.settle() == []
    return done


def test_twenty_kills_then_gc_or_resume(shared_sim: Sim, tmp_path: Path) -> None:
    done = run_kills(shared_sim, tmp_path, 20, SEED, workers=3)
    assert len(done) == 20
    assert {k.recovered_with for k in done} == {"gc", "resume"}
    # the kills really spread over the sweep's life: before launch, while booting, and later
    stages = " | ".join(k.last_line for k in done)
    assert "booting" in stages or "launching" in stages, stages


@pytest.mark.slow
def test_eighty_kills(shared_sim: Sim, tmp_path: Path) -> None:
    done = run_kills(shared_sim, tmp_path, 80, SEED + 1, workers=3)
    assert len(done) == 80
