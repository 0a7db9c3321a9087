"""Every way a sweep can end leaves zero instances running: success, Ctrl-C, SIGTERM, kill -9 + gc/resume."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd
from tests.e2e.conftest import wait_for_line

pytestmark = needs_sshd


def settle(sim: SimProcess, timeout: float = 10) -> list:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = sim.live()
        if not running:
            return []
        time.sleep(0.1)
    return sim.live()


def test_sweep_end_to_end_over_ssh(simproc: SimProcess) -> None:
    out = simproc.cli("sweep", "--gpus", "a10,h100", "--playbook", "gpu-probe", "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["simulated"] is True or "simulated" in out.stdout.lower()
    assert "ssh ready" in out.stderr
    assert simproc.live() == []
    ledger = Ledger(simproc.home)
    assert ledger.integrity_check() == []
    rows = ledger.instances()
    assert len(rows) == 2 and all(r.ssh_ready and r.gone for r in rows)


def test_dry_run_launches_nothing(simproc: SimProcess) -> None:
    out = simproc.cli("sweep", "--gpus", "a10,a100,8xh100", "--dry-run", "--max-cost", "30")
    assert out.returncode == 0, out.stderr
    assert "worst case" in out.stdout and "gpu_8x_h100_sxm5" in out.stdout
    launches = [r for r in simproc.api("/_sim/requests") if r["path"].endswith("/launch")]
    assert launches == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_mid_sweep_terminates_everything(simproc: SimProcess, sig: int) -> None:
    proc = simproc.popen("sweep", "--gpus", "a10,a100,8xh100", "--playbook", "gpu-probe")
    wait_for_line(proc, "booting")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "interrupted" in err and "Traceback" not in err
    assert settle(simproc) == []
    assert Ledger(simproc.home).live_instances() == []


def test_second_interrupt_forces_exit_but_fires_terminates(simproc: SimProcess) -> None:
    proc = simproc.popen("sweep", "--gpus", "a10,8xh100", "--playbook", "gpu-probe")
    wait_for_line(proc, "booting")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    # terminate calls were fired; anything left is found by gc
    assert settle(simproc, 5) == [] or simproc.cli("gc").returncode == 0
    assert settle(simproc) == []


@pytest.mark.parametrize("recover", ["gc", "resume"])
def test_kill9_then_recover(simproc: SimProcess, recover: str) -> None:
    proc = simproc.popen("sweep", "--gpus", "a10,a100,8xh100", "--playbook", "gpu-probe")
    wait_for_line(proc, "active at")
    proc.kill()
    proc.wait()
    assert simproc.live(), "kill -9 should have left instances behind (the point of gc)"
    if recover == "gc":
        out = simproc.cli("gc")
        assert out.returncode == 0, out.stderr
        assert "terminated (terminate sent, proven gone):" in out.stdout
    else:
        sweep_id = Ledger(simproc.home).latest_sweep().id  # type: ignore[union-attr]
        out = simproc.cli("resume", str(sweep_id))
        assert out.returncode == 0, out.stderr
        ledger = Ledger(simproc.home)
        assert all(r.status == "succeeded" for r in ledger.runs(sweep_id))
    assert settle(simproc) == []
    ledger = Ledger(simproc.home)
    assert ledger.integrity_check() == []
    assert ledger.live_instances() == []


def test_gc_never_touches_instances_it_did_not_name(simproc: SimProcess) -> None:
    import urllib.request

    env = simproc.env
    key = env["LAMBDA_API_KEY"]

    def post(path: str, body: dict) -> dict:  # type: ignore[type-arg]
        req = urllib.request.Request(
            env["LAMBDABENCH_API_URL"] + path,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["data"]

    post(
        "/ssh-keys",
        {
            "name": "by-hand",
            "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7yOBv3+dxcbT8m5n3ZcdmSjAmvaRnBaCcNyq6i7p0M x",
        },
    )
    types = simproc.cli("types", "--json")
    region = next(t for t in json.loads(types.stdout) if t["name"] == "gpu_1x_a10")["regions"][0]
    time.sleep(0.1)
    post(
        "/instance-operations/launch",
        {
            "region_name": region,
            "instance_type_name": "gpu_1x_a10",
            "ssh_key_names": ["by-hand"],
            "name": "lambdabench-lookalike",
        },
    )
    out = simproc.cli("gc")
    assert out.returncode == 0, out.stderr
    assert [b["name"] for b in simproc.live()] == ["lambdabench-lookalike"]


def test_an_instance_launched_by_hand_is_kept_until_down(simproc: SimProcess) -> None:
    """`launch` leaves an instance up on purpose: gc must not reap it (it did), `down <label>` ends it."""
    out = simproc.cli("launch", "--gpu", "a10", "--name", "mybox", "--wait")
    assert out.returncode == 0, out.stderr
    assert len(simproc.live()) == 1
    out = simproc.cli("gc")
    assert out.returncode == 0 and "kept on purpose, left alone" in out.stdout, out.stdout + out.stderr
    assert len(simproc.live()) == 1
    out = simproc.cli("down", "mybox")  # the label the user typed, not the generated name
    assert out.returncode == 0 and "gone: lambdabench-mybox-" in out.stdout, out.stdout + out.stderr
    assert settle(simproc) == []
    _ = subprocess  # keep import for type checkers


def test_gc_deletes_only_the_rulesets_its_own_dead_runs_left(simproc: SimProcess) -> None:
    """A ruleset named like ours but created elsewhere (another home's live multi-node run) is left alone;
    one this ledger recorded for a run whose process is gone is deleted."""
    from lambdabench.ledger import Ledger, ProcessIdentity

    def call(method: str, path: str, body: dict | None = None) -> dict:  # type: ignore[type-arg]
        return simproc.api(path, method, body)  # type: ignore[no-any-return]

    elsewhere = call(
        "POST", "/firewall-rulesets", {"name": "lambdabench-a10-1-rdzv-0badf00d", "region": "us-east-1", "rules": []}
    )
    mine = call(
        "POST", "/firewall-rulesets", {"name": "lambdabench-a10-2-rdzv-0dead000", "region": "us-east-1", "rules": []}
    )
    call("POST", "/firewall-rulesets", {"name": "my-own-rules", "region": "us-east-1", "rules": []})
    dead = ProcessIdentity(pid=2**22 + 7, host=__import__("socket").gethostname(), start="0")
    with Ledger(simproc.home, owner=dead) as ledger:
        run = ledger.add_run(ledger.create_sweep("old", simulated=True), instance_type="gpu_1x_a10")
        ledger.record_ruleset(mine["id"], mine["name"], "us-east-1", run)
    out = simproc.cli("gc")
    assert out.returncode == 0, out.stderr
    assert f"deleted leftover firewall ruleset: {mine['name']}" in out.stdout
    names = [r["name"] for r in call("GET", "/firewall-rulesets")]
    assert "my-own-rules" in names and elsewhere["name"] in names and mine["name"] not in names
