"""Issue 25 item 7: a run that streams over WebRTC (--livestream 2) gets udp 47998 and tcp 49100 opened to its
instance from this machine's address only, for the run's life: the plan says so, the rules are there while
the benchmark runs, and the ruleset is gone after every ending (success, failure, Ctrl-C)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = needs_sshd

BOOK = """name: stream-probe
expected_minutes: 1  # a probe (a guess)
vars:
  livestream: {type: choice, choices: ["0", "1", "2"], default: "2"}
  fail: {type: bool, default: false}
steps:
  - name: stream
    timeout: 120
    run: sleep 4; [ {{ fail }} = false ] || { echo "the stream failed" >&2; exit 1; }
"""
WEBRTC = {("tcp", (49100, 49100)), ("udp", (47998, 47998))}


def _book(tmp_path: Path) -> str:
    path = tmp_path / "stream-probe.yaml"
    path.write_text(BOOK)
    return str(path)


def _stream_rules(simproc: SimProcess) -> list[dict[str, Any]]:
    return [r for rs in simproc.api("/firewall-rulesets") for r in rs["rules"] if "livestream" in r["description"]]


def _sweep_watching_rules(simproc: SimProcess, book: str, *sets: str, interrupt: bool = False) -> Any:
    args = ["sweep", "--gpus", "a10", "--playbook", book, *(a for s in sets for a in ("--set", s))]
    proc = simproc.popen(*args, "--max-run-minutes", "600")
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        seen = seen or _stream_rules(simproc)
        if seen and interrupt:
            proc.send_signal(signal.SIGINT)
            interrupt = False
        time.sleep(0.3)
    _, err = proc.communicate(timeout=240)
    return proc.returncode, err, seen


@pytest.mark.parametrize(("fail", "interrupt"), [(False, False), (True, False), (False, True)])
def test_webrtc_ports_are_open_during_the_run_only(
    simproc: SimProcess, tmp_path: Path, fail: bool, interrupt: bool
) -> None:
    code, err, seen = _sweep_watching_rules(simproc, _book(tmp_path), f"fail={str(fail).lower()}", interrupt=interrupt)
    assert (code == 0) == (not fail and not interrupt), err[-3000:]
    # the plan names the account change before anything launches
    assert "firewall: each run gets its own ruleset opening tcp 49100, udp 47998" in err
    # during: exactly the WebRTC ports, from this machine's address (the instance's SSH client) only
    assert {(r["protocol"], tuple(r["port_range"])) for r in seen} == WEBRTC, seen
    assert {r["source_network"] for r in seen} == {"127.0.0.1/32"}
    launch = next(r for r in simproc.api("/_sim/requests") if r["path"].endswith("/launch"))
    assert len(launch["body"]["firewall_rulesets"]) == 1
    # after: the ruleset is deleted, the ledger agrees, and nothing is left running
    assert simproc.api("/firewall-rulesets") == []
    ledger = Ledger(simproc.home)
    assert ledger.rulesets() and ledger.rulesets(live=True) == []
    assert simproc.live() == []


def test_no_livestream_no_ruleset(simproc: SimProcess, tmp_path: Path) -> None:
    out = simproc.cli("sweep", "--gpus", "a10", "--playbook", _book(tmp_path), "--set", "livestream=0", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "firewall:" not in out.stderr
    assert not [r for r in simproc.api("/_sim/requests") if "firewall" in r["path"]]
