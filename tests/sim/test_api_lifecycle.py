"""Instance lifecycle, hosts, billing truth, request validation and the simulator-only endpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lambdabench.sim.api.catalog import DEFAULT_TYPES
from lambdabench.sim.api.core import SimCloud

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


def test_catalog_has_the_types_the_project_needs() -> None:
    types = {t.name: t for t in DEFAULT_TYPES}
    for name in (
        "gpu_1x_a10",
        "gpu_1x_a100",
        "gpu_1x_a100_sxm4",
        "gpu_1x_h100_pcie",
        "gpu_1x_h100_sxm5",
        "gpu_8x_a100_80gb_sxm4",
        "gpu_8x_h100_sxm5",
        "gpu_1x_gh200",
        "gpu_8x_b200_sxm6",
        "cpu_4x_general",
    ):
        assert name in types
    assert types["gpu_1x_a10"].price_cents_per_hour == 129 and types["gpu_1x_a10"].rtx
    assert types["gpu_8x_h100_sxm5"].price_cents_per_hour == 8 * 399
    assert types["gpu_1x_gh200"].arch == "arm64" and types["cpu_4x_general"].gpus == 0
    assert types["gpu_8x_h100_sxm5"].boot_seconds[0] >= 1200


@pytest.mark.parametrize(
    ("type_name", "region", "low", "high"),
    [
        ("gpu_1x_a10", "us-east-1", 180, 300),
        ("gpu_8x_a100_80gb_sxm4", "us-east-1", 840, 960),
        ("gpu_8x_h100_sxm5", "us-south-2", 1200, 1500),
    ],
)
def test_boot_takes_the_types_time_scaled(type_name: str, region: str, low: float, high: float) -> None:
    clock = FakeClock()
    core = SimCloud(quiet_scenario(), time_scale=10, clock=clock, sleep=clock.sleep)
    client = client_for(core)
    client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
    instance_id = launch_id(client, instance_type_name=type_name, region_name=region)
    clock.advance(low / 10 - 0.01)
    assert client.get(f"/instances/{instance_id}").json()["data"]["status"] == "booting"
    clock.advance((high - low) / 10 + 0.02)
    assert client.get(f"/instances/{instance_id}").json()["data"]["status"] == "active"


def test_hosts_start_at_boot_end_and_stop_at_terminated() -> None:
    hosts = RecordingHosts()
    core, client, clock = make_sim(quiet_scenario(terminate_seconds=10), hosts=hosts)
    instance_id = launch_id(client)
    clock.advance(300)
    inst = client.get(f"/instances/{instance_id}").json()["data"]
    assert inst["ip"] == "127.0.0.11" and hosts.started[0]["id"] == instance_id
    assert core.instances_debug()[0]["port"] == 2222
    client.post("/instance-operations/terminate", json={"instance_ids": [instance_id]})
    assert hosts.stopped == []  # the machine goes away when terminating ends
    clock.advance(10)
    core.tick()
    assert hosts.stopped == [instance_id]
    other = launch_id(client)
    clock.advance(300)
    core.tick()
    core.close()
    assert hosts.stopped == [instance_id, other] and hosts.closed


def test_without_hosts_loopback_addresses_are_never_shared_by_live_instances() -> None:
    core, client, clock = make_sim(quiet_scenario(terminate_seconds=10))
    first, second = launch_id(client), launch_id(client)
    clock.advance(300)
    ips = {i["id"]: i["ip"] for i in client.get("/instances").json()["data"]}
    assert ips == {first: "127.0.0.2", second: "127.0.0.3"}
    client.post("/instance-operations/terminate", json={"instance_ids": [first]})
    third = launch_id(client)
    clock.advance(5)  # first still terminating, third not booted
    clock.advance(300)
    ips = {i["id"]: i.get("ip") for i in client.get("/instances").json()["data"]}
    assert ips[third] == "127.0.0.2" and ips[first] is None  # freed once terminated


def test_billing_truth_arithmetic() -> None:
    core, client, clock = make_sim(quiet_scenario(boot_seconds={"gpu_1x_a10": 200}))
    launched_at = clock.t
    instance_id = launch_id(client)
    clock.advance(200)
    client.get("/instances")
    clock.advance(3601)  # one hour and one second of billable time
    client.post("/instance-operations/terminate", json={"instance_ids": [instance_id]})
    clock.advance(500)  # time after terminate is not billed
    client.get("/instances")
    (bill,) = core.billing()
    assert bill["launch_accepted_at"] == launched_at
    assert bill["first_active_at"] == launched_at + 200
    assert bill["terminate_called_at"] == launched_at + 3801
    assert bill["gone_at"] == launched_at + 3801 + 8
    assert bill["billed_minutes"] == 61
    assert bill["upper_bound_minutes"] == math.ceil(3801 / 60) == 64
    assert bill["price_cents_per_hour"] == 129
    assert bill["cost_cents"] == pytest.approx(61 * 129 / 60)
    assert bill["upper_bound_cost_cents"] == pytest.approx(64 * 129 / 60)


def test_billing_is_wall_clock_whatever_the_time_scale() -> None:
    clock = FakeClock()
    core = SimCloud(
        quiet_scenario(boot_seconds={"gpu_1x_a10": 240}),
        time_scale=60,
        clock=clock,
        sleep=clock.sleep,
    )
    client = client_for(core)
    client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
    instance_id = launch_id(client)
    clock.advance(4)  # 240 cloud seconds at 60x
    client.get("/instances")
    clock.advance(90)
    client.post("/instance-operations/terminate", json={"instance_ids": [instance_id]})
    (bill,) = core.billing()
    assert bill["billed_minutes"] == 2 and bill["upper_bound_minutes"] == 2


def test_terminated_while_booting_is_never_billed_and_price_is_fixed_at_launch() -> None:
    core, client, clock = make_sim()
    instance_id = launch_id(client)
    clock.advance(30)
    client.post("/instance-operations/terminate", json={"instance_ids": [instance_id]})
    clock.advance(600)
    (bill,) = core.billing()
    assert bill["billed_minutes"] == 0 and bill["cost_cents"] == 0
    assert bill["upper_bound_minutes"] == 1 and bill["first_active_at"] is None


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"quantity": 2}, "Requested too many instances"),
        ({"ssh_key_names": ["k", "k2"]}, "Exactly one SSH key"),
        ({"ssh_key_names": []}, "Exactly one SSH key"),
        ({"instance_type_name": "gpu_1x_z9000"}, "instance type"),
        ({"region_name": "mars-north-1"}, "region"),
        ({"tags": [{"key": "Bad_Key", "value": "x"}]}, "tag key"),
        ({"name": "x" * 65}, "64"),
        ({"hostname": "Not_A_Host"}, "hostname"),
        ({"instance_type_name": "gpu_1x_gh200", "region_name": "us-east-3", "image": {"family": "ubuntu-lts"}}, "arch"),
        ({"user_data": "x" * (1024 * 1024 + 1)}, "1 MB"),
    ],
)
def test_launch_validation(change: dict[str, object], needle: str) -> None:
    core, client, _ = make_sim()
    resp = launch(client, **change)
    assert resp.status_code == 400
    assert error_code(resp) == "global/invalid-parameters"
    assert needle.lower() in resp.json()["error"]["message"].lower()
    assert client.get("/instances").json()["data"] == []


def test_launch_requires_known_key_and_a_json_body() -> None:
    core, client, _ = make_sim()
    resp = launch(client, ssh_key_names=["nobody"])
    assert resp.status_code == 404 and error_code(resp) == "global/object-does-not-exist"
    resp = client.post("/instance-operations/launch", content=b"not json")
    assert error_code(resp) == "global/invalid-parameters"
    resp = client.post("/instance-operations/launch", json=["a list"])
    assert error_code(resp) == "global/invalid-parameters"


def test_gh200_launches_with_the_arm_image_and_names_are_not_ids() -> None:
    core, client, _ = make_sim()
    launch_id(
        client,
        instance_type_name="gpu_1x_gh200",
        region_name="us-east-3",
        image={"family": "lambda-stack-22-04"},  # the same family names as x86_64 (catalog.py: a real /images)
        name="arm-box",
    )
    resp = client.get("/instances/arm-box")
    assert resp.status_code == 400 and error_code(resp) == "global/invalid-parameters"


def test_duplicate_ssh_key_name_is_refused() -> None:
    core, client, _ = make_sim()
    resp = client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
    assert resp.status_code == 400 and "already exists" in resp.json()["error"]["message"]
    assert len(client.get("/ssh-keys").json()["data"]) == 1


def test_sim_endpoints_need_the_key_and_strip_secrets(tmp_path: Path) -> None:
    core, client, clock = make_sim(state_dir=tmp_path / "state")
    launch_id(
        client,
        user_data="export NGC_API_KEY=nvapi-very-secret-value",
        name=f"has {core.scenario.api_key} inside",
    )
    assert client_for(core, key="").get("/_sim/billing").status_code == 401
    log = client.get("/_sim/requests").json()["data"]
    launch_entry = next(e for e in log if e["endpoint"] == "launch")
    assert launch_entry["body"]["user_data"] == "***"
    assert launch_entry["status"] == 200
    text = json.dumps(log) + (tmp_path / "state" / "requests.jsonl").read_text()
    assert "nvapi-very-secret-value" not in text and core.scenario.api_key not in text
    assert client.get("/_sim/billing").json()["data"][0]["billed_minutes"] == 0
    assert client.get("/_sim/instances").json()["data"][0]["status"] == "booting"
    resp = client.post(
        "/_sim/capacity",
        json={"instance_type_name": "gpu_1x_a10", "region_name": "nowhere", "count": 1},
    )
    assert resp.status_code == 400
    clock.advance(300)
    client.get("/instances")
    saved = json.loads((tmp_path / "state" / "billing.json").read_text())
    assert saved[0]["first_active_at"] is not None
