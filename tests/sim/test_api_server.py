"""The simulator over real loopback HTTP: side-by-side servers, hang-ups, and clean shutdown."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from lambdabench.errors import SimulatorError
from lambdabench.sim.api.core import SimCloud
from lambdabench.sim.api.scenario import Scenario
from lambdabench.sim.api.server import SimServer, run_serve

from . import LAUNCH, PUBLIC_KEY, quiet_scenario

REPO = Path(__file__).resolve().parents[2]


def _client(server: SimServer) -> httpx.Client:
    env = server.env()
    return httpx.Client(
        base_url=env["LAMBDABENCH_API_URL"],
        timeout=10,
        headers={"Authorization": f"Bearer {env['LAMBDA_API_KEY']}"},
    )


def test_two_servers_side_by_side_keep_separate_state() -> None:
    first = SimCloud(quiet_scenario(boot_seconds={"gpu_1x_a10": 0.3}))
    second = SimCloud(quiet_scenario(api_key="sim-second-key-456"))
    with SimServer(first) as a, SimServer(second) as b:
        assert a.port != b.port and a.url.endswith("/api/v1") and b.url.endswith("/api/v1")
        with _client(a) as ca, _client(b) as cb:
            ca.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
            instance_id = ca.post("/instance-operations/launch", json=LAUNCH).json()["data"]["instance_ids"][0]
            assert cb.get("/instances").json()["data"] == []
            assert cb.get("/ssh-keys").json()["data"] == []
            assert ca.get("/ssh-keys", headers={"Authorization": "Bearer sim-second-key-456"}).status_code == 401
            deadline = time.monotonic() + 5
            status = "booting"
            while status != "active" and time.monotonic() < deadline:
                time.sleep(0.1)  # the ticker thread, not our requests, moves it along
                status = first.instances_debug()[0]["status"]
            assert status == "active"
            assert ca.get(f"/instances/{instance_id}").json()["data"]["ip"] == "127.0.0.2"
    with pytest.raises(httpx.ConnectError):
        httpx.get(a.url + "/regions", timeout=2)


def test_env_paces_clients_just_under_the_limits() -> None:
    server = SimServer(SimCloud(Scenario(), time_scale=60), port=0, extra_env={"X_SSH": "1"})
    with server:
        env = server.env()
    assert env["LAMBDABENCH_SIMULATED"] == "1" and env["X_SSH"] == "1"
    assert float(env["LAMBDABENCH_MIN_REQUEST_INTERVAL"]) == pytest.approx(1.05 / 60)
    assert float(env["LAMBDABENCH_MIN_LAUNCH_INTERVAL"]) == pytest.approx(12 * 1.05 / 60)
    assert env["LAMBDABENCH_API_URL"] == f"http://127.0.0.1:{server.port}/api/v1"


def test_hangup_and_html_429_over_real_http() -> None:
    # a 30 s refill keeps the test deterministic however slowly this machine runs
    core = SimCloud(
        Scenario.from_dict(
            {
                "rate_limits": {"request_interval": 30},
                "faults": [{"endpoint": "launch", "kind": "lost_response"}],
            }
        )
    )
    with SimServer(core) as server, _client(server) as client:
        client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/instance-operations/launch", json={**LAUNCH, "name": "lost"})
        statuses = [client.get("/regions").status_code for _ in range(3)]
        assert statuses[-1] == 429
        resp = client.get("/regions")
        assert resp.status_code == 429 and resp.text == "error code: 1015"
    assert [i["name"] for i in core.instances_debug()] == ["lost"]


def test_port_in_use_is_a_simulator_error() -> None:
    with (
        SimServer(SimCloud(quiet_scenario())) as taken,
        pytest.raises(SimulatorError, match="cannot listen"),
    ):
        SimServer(SimCloud(quiet_scenario()), port=taken.port).start()


def test_run_serve_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SimulatorError, match="time scale"):
        run_serve(0, None, 0, None)
    bad = tmp_path / "bad.yaml"
    bad.write_text("nonsense: 1\n")
    with pytest.raises(SimulatorError, match="bad.yaml"):
        run_serve(0, bad, 1.0, None)


def test_sigterm_shuts_serve_forever_down_cleanly(tmp_path: Path) -> None:
    env_file = tmp_path / "sim.env"
    state = tmp_path / "state"
    code = textwrap.dedent(f"""
        from pathlib import Path
        from lambdabench.sim.api.core import SimCloud
        from lambdabench.sim.api.scenario import Scenario
        from lambdabench.sim.api.server import serve_forever
        core = SimCloud(Scenario(), time_scale=30, state_dir=Path({str(state)!r}))
        raise SystemExit(serve_forever(core, 0, Path({str(env_file)!r})))
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(5)] if proc.stdout else []
        assert all(line.startswith("export ") for line in lines), lines
        env = dict(line[len("export ") :].strip().split("=", 1) for line in lines)
        resp = httpx.get(
            env["LAMBDABENCH_API_URL"] + "/regions",
            timeout=5,
            headers={"Authorization": f"Bearer {env['LAMBDA_API_KEY']}"},
        )
        assert resp.status_code == 200
        assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
        assert "LAMBDABENCH_SIMULATED=1" in env_file.read_text()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "simulator stopped" in err and "Traceback" not in err
    assert (state / "billing.json").read_text().strip() == "[]"
