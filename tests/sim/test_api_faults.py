"""Each fault the simulator can inject, observed through plain httpx calls."""

from __future__ import annotations

import base64
import random

import httpx
import pytest

from lambdabench.sim.api.core import SimCloud
from lambdabench.sim.api.scenario import Scenario

from . import (
    PUBLIC_KEY,
    FakeClock,
    RecordingHosts,
    client_for,
    error_code,
    launch,
    launch_id,
    make_sim,
    quiet_scenario,
)


def test_missing_or_wrong_key_is_401_and_basic_auth_works() -> None:
    core, client, _ = make_sim()
    for key in ("", "sim-not-the-key"):
        resp = client_for(core, key=key).get("/instances")
        assert resp.status_code == 401
        assert error_code(resp) == "global/invalid-api-key"
    basic = base64.b64encode(f"{core.scenario.api_key}:".encode()).decode()
    resp = client_for(core, key="").get("/instances", headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 200


def test_burst_gets_cloudflare_429_then_a_lockout() -> None:
    core, client, clock = make_sim(Scenario.from_dict({"visibility_delay": 0}))
    clock.advance(5)  # refill after the key upload in make_sim
    assert client.get("/regions").status_code == 200
    assert client.get("/regions").status_code == 200
    resp = client.get("/regions")
    assert resp.status_code == 429
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.text == "error code: 1015"
    with pytest.raises(ValueError):
        resp.json()
    assert int(resp.headers["retry-after"]) == 60
    clock.advance(30)
    assert client.get("/regions").status_code == 429  # still locked out
    clock.advance(31)
    assert client.get("/regions").status_code == 200


def test_a_paced_client_with_jitter_never_trips_the_limit() -> None:
    core, client, clock = make_sim(Scenario.from_dict({}))
    jitter = random.Random(0)
    clock.advance(2)
    for _ in range(40):
        # the client paces at 1.05 s and its sleeps wake anywhere within +-5 %
        clock.advance(1.05 * jitter.uniform(0.95, 1.05))
        assert client.get("/instances").status_code == 200


def test_launches_closer_than_12_seconds_trip_the_launch_limit() -> None:
    core, client, clock = make_sim(Scenario.from_dict({"visibility_delay": 0}))
    clock.advance(5)
    assert launch(client).status_code == 200
    clock.advance(11.5)  # within the 5 % tolerance of 12 s
    assert launch(client).status_code == 200
    clock.advance(6)
    assert launch(client).status_code == 429
    clock.advance(30)
    assert client.get("/instances").status_code == 429  # the lock-out covers every endpoint


def test_limits_scale_with_time_scale() -> None:
    clock = FakeClock()
    core = SimCloud(Scenario(), time_scale=60, clock=clock, sleep=clock.sleep)
    client = client_for(core)
    client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
    clock.advance(1)
    assert launch(client).status_code == 200
    clock.advance(0.2)  # 12 s / 60
    assert launch(client).status_code == 200
    clock.advance(0.1)
    assert launch(client).status_code == 429
    clock.advance(1.01)  # 60 s lock-out / 60
    assert client.get("/instances").status_code == 200


def test_no_capacity_is_400_insufficient_capacity_and_shows_in_types() -> None:
    core, client, _ = make_sim()
    resp = client.post(
        "/_sim/capacity",
        json={"instance_type_name": "gpu_1x_a10", "region_name": "us-east-1", "count": 0},
    )
    assert resp.status_code == 200
    types = client.get("/instance-types").json()["data"]
    regions = [r["name"] for r in types["gpu_1x_a10"]["regions_with_capacity_available"]]
    assert "us-east-1" not in regions and "us-west-1" in regions
    resp = launch(client)
    assert resp.status_code == 400
    assert error_code(resp) == "instance-operations/launch/insufficient-capacity"
    client.post(
        "/_sim/capacity",
        json={"instance_type_name": "gpu_1x_a10", "region_name": "us-east-1", "count": 1},
    )
    launch_id(client)
    assert error_code(launch(client)) == "instance-operations/launch/insufficient-capacity"


def test_capacity_schedule_follows_cloud_time() -> None:
    scenario = quiet_scenario(
        capacity={
            "gpu_1x_a10": {
                "us-east-1": [
                    {"at": 0, "count": 0},
                    {"at": 600, "count": 1},
                    {"at": 1200, "count": 0},
                ]
            }
        }
    )
    clock = FakeClock()
    core = SimCloud(scenario, time_scale=10, clock=clock, sleep=clock.sleep)
    client = client_for(core)

    def listed() -> bool:
        types = client.get("/instance-types").json()["data"]
        return any(r["name"] == "us-east-1" for r in types["gpu_1x_a10"]["regions_with_capacity_available"])

    assert not listed()
    clock.advance(60)  # 600 cloud seconds at 10x
    assert listed()
    clock.advance(60)
    assert not listed()


def test_launch_refused_for_capacity_while_listed() -> None:
    core, client, _ = make_sim(
        quiet_scenario(faults=[{"endpoint": "launch", "kind": "insufficient_capacity", "count": 1}])
    )
    types = client.get("/instance-types").json()["data"]
    assert types["gpu_1x_a10"]["regions_with_capacity_available"]
    assert error_code(launch(client)) == "instance-operations/launch/insufficient-capacity"
    launch_id(client)  # count: 1 — the next one goes through


def test_quota_exceeded() -> None:
    core, client, _ = make_sim(quiet_scenario(quota=1))
    launch_id(client)
    resp = launch(client)
    assert resp.status_code == 400
    assert error_code(resp) == "global/quota-exceeded"
    assert resp.json()["error"]["suggestion"]


def test_lost_launch_hangs_up_but_creates_the_instance() -> None:
    core, client, _ = make_sim(
        quiet_scenario(
            faults=[
                {"endpoint": "launch", "kind": "lost_response"},
                {"endpoint": "launch", "kind": "lost_response", "mode": "http", "status": 502},
            ]
        )
    )
    with pytest.raises(httpx.RemoteProtocolError):
        launch(client, name="lb-run-1")
    resp = launch(client, name="lb-run-2")
    assert resp.status_code == 502 and resp.headers["content-type"].startswith("text/html")
    names = sorted(i["name"] for i in client.get("/instances").json()["data"])
    assert names == ["lb-run-1", "lb-run-2"]


def test_transport_timeout_sleeps_past_client_timeouts_then_504() -> None:
    clock = FakeClock()
    core = SimCloud(
        quiet_scenario(
            transport_timeout_seconds=90,
            faults=[
                {"endpoint": "launch", "kind": "transport_timeout"},
                {"endpoint": "list", "kind": "transport_timeout", "mode": "hangup", "seconds": 30},
            ],
        ),
        time_scale=2,
        clock=clock,
        sleep=clock.sleep,
    )
    client = client_for(core)
    client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
    resp = launch(client)
    assert resp.status_code == 504 and "Gateway Time-out" in resp.text
    assert clock.slept == [45.0]
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/instances")
    assert clock.slept == [45.0, 15.0]
    assert client.get("/instances").json()["data"] == []  # the timed-out launch did nothing


def test_http_5xx_faults_json_500_or_edge_html() -> None:
    core, client, _ = make_sim(
        quiet_scenario(
            faults=[
                {"endpoint": "list", "kind": "http_5xx"},
                {"endpoint": "list", "kind": "http_5xx", "status": 503},
            ]
        )
    )
    first = client.get("/instances")
    assert first.status_code == 500 and error_code(first) == "global/internal-error"
    second = client.get("/instances")
    assert second.status_code == 503 and second.headers["content-type"].startswith("text/html")
    assert client.get("/instances").status_code == 200


def test_fault_after_and_count_and_429_fault() -> None:
    core, client, _ = make_sim(
        quiet_scenario(faults=[{"endpoint": "list", "kind": "http_429", "after": 2, "count": 2}])
    )
    statuses = [client.get("/instances").status_code for _ in range(6)]
    assert statuses == [200, 200, 429, 429, 200, 200]


def test_invalid_api_key_and_global_unknown_faults() -> None:
    core, client, _ = make_sim(
        quiet_scenario(
            faults=[
                {"endpoint": "types", "kind": "invalid_api_key"},
                {"endpoint": "get", "kind": "global_unknown"},
            ]
        )
    )
    assert error_code(client.get("/instance-types")) == "global/invalid-api-key"
    assert client.get("/instance-types").status_code == 200
    instance_id = launch_id(client)
    resp = client.get(f"/instances/{instance_id}")
    assert resp.status_code == 500 and error_code(resp) == "global/unknown"


def test_terminating_twice_is_global_unknown() -> None:
    core, client, clock = make_sim()
    instance_id = launch_id(client)
    body = {"instance_ids": [instance_id]}
    first = client.post("/instance-operations/terminate", json=body)
    assert first.json()["data"]["terminated_instances"][0]["status"] == "terminating"
    again = client.post("/instance-operations/terminate", json=body)
    assert again.status_code == 500 and error_code(again) == "global/unknown"
    clock.advance(9)
    assert client.get(f"/instances/{instance_id}").json()["data"]["status"] == "terminated"
    assert error_code(client.post("/instance-operations/terminate", json=body)) == "global/unknown"


def test_new_ids_are_missing_for_the_visibility_delay_but_terminate_works() -> None:
    core, client, clock = make_sim(quiet_scenario(visibility_delay=5))
    instance_id = launch_id(client)
    assert client.get("/instances").json()["data"] == []
    assert error_code(client.get(f"/instances/{instance_id}")) == "global/object-does-not-exist"
    clock.advance(5)
    assert [i["id"] for i in client.get("/instances").json()["data"]] == [instance_id]
    early = launch_id(client)
    resp = client.post("/instance-operations/terminate", json={"instance_ids": [early]})
    assert resp.status_code == 200


def test_terminated_instances_linger_then_vanish() -> None:
    core, client, clock = make_sim(quiet_scenario(terminate_seconds=10, linger_seconds=100))
    instance_id = launch_id(client)
    client.post("/instance-operations/terminate", json={"instance_ids": [instance_id]})
    clock.advance(9)
    assert client.get("/instances").json()["data"][0]["status"] == "terminating"
    clock.advance(2)
    assert client.get("/instances").json()["data"][0]["status"] == "terminated"
    clock.advance(98)  # gone at +10, listed until +110
    assert client.get("/instances").json()["data"][0]["status"] == "terminated"
    clock.advance(1)
    assert client.get("/instances").json()["data"] == []
    assert client.get(f"/instances/{instance_id}").status_code == 404


@pytest.mark.parametrize("missing", [True, False])
def test_private_ip_can_be_missing_when_active(missing: bool) -> None:
    core, client, clock = make_sim(quiet_scenario(missing_private_ip=missing))
    instance_id = launch_id(client)
    booting = client.get(f"/instances/{instance_id}").json()["data"]
    assert "ip" not in booting and "private_ip" not in booting and "hostname" not in booting
    clock.advance(300)
    active = client.get(f"/instances/{instance_id}").json()["data"]
    assert active["status"] == "active" and active["ip"] == "127.0.0.2"
    assert ("private_ip" not in active) is missing


@pytest.mark.parametrize("extra", [True, False])
def test_extra_fields_toggle(extra: bool) -> None:
    core, client, _ = make_sim(quiet_scenario(extra_fields=extra))
    instance_id = launch_id(client)
    inst = client.get(f"/instances/{instance_id}").json()["data"]
    key = client.get("/ssh-keys").json()["data"][0]
    assert ("workspace_id" in inst) is extra
    assert ("workspace_id" in key) is extra


def test_unhealthy_boot_is_billed_and_never_active_stays_booting() -> None:
    hosts = RecordingHosts()
    core, client, clock = make_sim(
        quiet_scenario(
            instance_faults=[
                {"match": {"type": "gpu_1x_a10", "nth": 1}, "kind": "unhealthy"},
                {"match": {"type": "gpu_1x_a10", "nth": 2}, "kind": "never_active"},
            ]
        ),
        hosts=hosts,
    )
    sick, stuck, fine = launch_id(client), launch_id(client), launch_id(client)
    clock.advance(3600)
    status = {i["id"]: i["status"] for i in client.get("/instances").json()["data"]}
    assert status == {sick: "unhealthy", stuck: "booting", fine: "active"}
    assert [s["id"] for s in hosts.started] == [fine]
    bill = {b["id"]: b for b in core.billing()}
    assert bill[sick]["billed_minutes"] > 0 and bill[sick]["first_active_at"] is None
    assert bill[stuck]["billed_minutes"] == 0 and bill[stuck]["upper_bound_minutes"] == 60


def test_missing_from_list_window() -> None:
    core, client, clock = make_sim(
        quiet_scenario(
            boot_seconds={"gpu_1x_a10": 100},
            instance_faults=[{"match": {"name_contains": "ghost"}, "kind": "missing_from_list", "seconds": 50}],
        )
    )
    instance_id = launch_id(client, name="ghost-1")
    launch_id(client, name="normal")
    clock.advance(110)
    listed = [i["name"] for i in client.get("/instances").json()["data"]]
    assert listed == ["normal"]
    assert client.get(f"/instances/{instance_id}").json()["data"]["status"] == "active"
    clock.advance(45)
    assert len(client.get("/instances").json()["data"]) == 2


def test_host_faults_reach_the_backend_in_real_seconds() -> None:
    hosts = RecordingHosts()
    clock = FakeClock()
    scenario = quiet_scenario(
        instance_faults=[
            {"match": {"type": "gpu_1x_a10", "nth": 1}, "kind": "sshd_late", "seconds": 120},
            {"match": {"type": "gpu_1x_a10", "nth": 1}, "kind": "cuda_802", "seconds": "forever"},
            {
                "match": {"type": "gpu_1x_a10", "nth": 1},
                "kind": "ssh_drop",
                "phase": "benchmark",
                "after": 60,
            },
            {"match": {"type": "gpu_1x_a10"}, "kind": "slow_disk", "bytes_per_second": 1000},
            {"match": {"name_contains": "full"}, "kind": "disk_full"},
            {"match": {"name_contains": "full"}, "kind": "power_limit", "watts": 500, "gpus": [0]},
        ]
    )
    core = SimCloud(scenario, time_scale=60, hosts=hosts, clock=clock, sleep=clock.sleep)
    client = client_for(core)
    client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
    launch_id(client)
    launch_id(client, name="disk-full-run")
    clock.advance(10)  # 600 cloud seconds: past any single-GPU boot
    client.get("/instances")
    first, second = hosts.started
    assert first["key"] == PUBLIC_KEY and first["type"].name == "gpu_1x_a10"
    assert first["faults"] == {
        "sshd_late": {"seconds": 2.0},
        "cuda_802": {"seconds": None},
        "ssh_drop": {"phase": "benchmark", "after": 1.0},
        "slow_disk": {"bytes_per_second": 1000},
    }
    assert second["faults"] == {
        "slow_disk": {"bytes_per_second": 1000},
        "disk_full": {},
        "power_limit": {"watts": 500.0, "gpus": [0]},
    }
