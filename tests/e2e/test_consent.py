"""Consent before spending (issue 24 item 3): ask on a terminal, refuse without one, never for the simulator.

The simulator's money is free, so these tests turn its label off (LAMBDABENCH_SIMULATED=0): to
lambdabench it is then a cloud that bills, which is what the questions are for.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

import pytest

from lambdabench.consent import Spend, decide, free_money, is_loopback
from lambdabench.simulate import SimProcess
from tests.e2e.conftest import LB

BILLS = {"LAMBDABENCH_SIMULATED": "0"}


def _launches(sim: SimProcess) -> list[dict]:
    return [r for r in sim.api("/_sim/requests") if r["path"].endswith("/launch")]


def test_the_rules() -> None:
    sweep = Spend("a sweep of 2 run(s)", 628, 200)
    kept = Spend("1 × gpu_1x_h100_sxm5", 429, None)
    assert decide(sweep, free=False, yes=False, budget_given=False, interactive=True) == "ask"
    assert decide(sweep, free=False, yes=True, budget_given=False, interactive=True) == "go"
    assert decide(sweep, free=False, yes=False, budget_given=True, interactive=False) == "go"
    assert decide(sweep, free=False, yes=False, budget_given=False, interactive=False) == "refuse"
    assert decide(kept, free=False, yes=False, budget_given=True, interactive=False) == "refuse"
    assert decide(kept, free=True, yes=False, budget_given=False, interactive=False) == "go"
    assert decide(Spend("your machines", 0, 0), free=False, yes=False, budget_given=False, interactive=False) == "go"
    assert "$6.28/h, worst case $2.00" in sweep.line() and "until you run `lambdabench down`" in kept.line()
    assert is_loopback("http://127.0.0.9:8080/api/v1") and is_loopback("http://localhost:1")
    assert not is_loopback("https://cloud.lambda.ai/api/v1") and not is_loopback("http://[::2]/")
    # a real API address always asks, whatever the simulated label says
    assert not free_money(simulated=True, api_url="https://cloud.lambda.ai/api/v1")
    assert free_money(simulated=True, api_url="http://127.0.0.1:5000/api/v1")


def test_without_a_terminal_a_spend_needs_yes_or_a_budget(simproc: SimProcess) -> None:
    out = simproc.cli("sweep", "--gpus", "a10,a100", "--playbook", "gpu-probe", **BILLS)
    assert out.returncode == 2, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: this may spend money and there is no terminal to ask: a sweep of 2 run(s)")
    assert "$3.28/h, worst case $" in last and "Pass --yes (or --max-cost USD)" in last
    out = simproc.cli("launch", "--gpu", "a10", **BILLS)
    assert out.returncode == 2 and "1 × gpu_1x_a10: $1.29/h, billed per minute until" in out.stderr
    assert "Pass --yes to agree" in out.stderr
    assert _launches(simproc) == []
    assert simproc.live() == []


def _on_a_terminal(sim: SimProcess, args: list[str], answer: bytes, extra: dict[str, str]) -> tuple[int, str, str]:
    """Run the CLI with a pseudo-terminal as stdin and stderr; answer its question."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [*LB, *args], stdin=child, stdout=subprocess.PIPE, stderr=child, env=sim.client_env(**extra)
    )
    os.close(child)
    seen = b""
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"Go ahead?" in seen:
            os.write(main, answer)
            answered = True
        if proc.poll() is not None and not ready:
            break
    stdout = proc.communicate(timeout=120)[0]
    os.close(main)
    return proc.returncode, seen.decode(errors="replace"), stdout.decode()


@pytest.mark.parametrize("answer", [b"\n", b"n\n"])
def test_on_a_terminal_it_asks_and_no_is_the_default(simproc: SimProcess, answer: bytes) -> None:
    code, text, _ = _on_a_terminal(simproc, ["launch", "--gpu", "a10"], answer, BILLS)
    assert "1 × gpu_1x_a10: $1.29/h, billed per minute until you run `lambdabench down`. Go ahead? [y/N]" in text
    assert code == 1 and "not confirmed: nothing was launched" in text
    assert _launches(simproc) == []


def test_the_simulator_and_yes_never_ask(simproc: SimProcess) -> None:
    code, text, _ = _on_a_terminal(simproc, ["sweep", "--gpus", "a10", "--playbook", "gpu-probe"], b"", {})
    assert code == 0 and "Go ahead?" not in text, text
    assert len(_launches(simproc)) == 1
    code, text, out = _on_a_terminal(simproc, ["launch", "--gpu", "a10", "--yes"], b"", BILLS)
    assert code == 0 and "Go ahead?" not in text, text
    assert len(_launches(simproc)) == 2
    assert simproc.cli("down", out.split()[0]).returncode == 0
