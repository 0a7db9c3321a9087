"""Scenario files: every packaged example loads and does what it says; bad files name the problem."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lambdabench.errors import SimulatorError
from lambdabench.sim.api.core import SimCloud
from lambdabench.sim.api.scenario import Scenario, packaged_names

from . import PUBLIC_KEY, FakeClock, client_for, error_code, launch, launch_id

EXPECTED = {
    "default",
    "capacity-flapping",
    "rate-limit-storm",
    "lost-launch",
    "unhealthy-boot",
    "cuda-802",
    "terminate-failures",
    "ssh-trouble",
    "quota-and-keys",
}


def test_all_example_scenarios_are_packaged() -> None:
    assert set(packaged_names()) >= EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_scenario_loads_and_serves(name: str) -> None:
    scenario = Scenario.packaged(name)
    assert scenario.name == name and scenario.description
    clock = FakeClock()
    core = SimCloud(scenario, clock=clock, sleep=clock.sleep)
    resp = client_for(core).get("/regions")
    assert resp.status_code == 200


def _sim(name: str, **kw: object) -> tuple[SimCloud, FakeClock]:
    clock = FakeClock()
    scenario = Scenario.packaged(name)
    scenario.rate_limits.enabled = False
    a10 = scenario.catalog.types["gpu_1x_a10"]
    scenario.catalog.types["gpu_1x_a10"] = dataclasses.replace(a10, boot_seconds=(200.0, 200.0))
    return SimCloud(scenario, clock=clock, sleep=clock.sleep, **kw), clock  # type: ignore[arg-type]


def test_unhealthy_boot_scenario() -> None:
    core, clock = _sim("unhealthy-boot")
    client = client_for(core)
    client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
    ids = [launch_id(client) for _ in range(3)]
    window = core.instances_debug()[2]["missing_window"]
    assert window[1] - window[0] == 30
    clock.t = window[0] + 1  # the third turned active and is hidden from listings for 30 s
    status = {i["id"]: i["status"] for i in client.get("/instances").json()["data"]}
    assert status == {ids[0]: "unhealthy", ids[1]: "booting"}
    assert client.get(f"/instances/{ids[2]}").json()["data"]["status"] == "active"
    clock.t = window[1]
    assert len(client.get("/instances").json()["data"]) == 3


def test_quota_and_keys_scenario() -> None:
    core, _ = _sim("quota-and-keys")
    client = client_for(core)
    client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
    assert client.get("/instance-types").status_code == 200
    assert error_code(client.get("/instance-types")) == "global/invalid-api-key"
    launch_id(client)
    launch_id(client)
    assert error_code(launch(client)) == "global/quota-exceeded"


def test_terminate_failures_scenario() -> None:
    core, _ = _sim("terminate-failures")
    client = client_for(core)
    client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
    body = {"instance_ids": [launch_id(client)]}
    codes = [client.post("/instance-operations/terminate", json=body).status_code for _ in range(4)]
    assert codes == [500, 500, 429, 200]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("seed: 1\nbogus_key: 2\n", "unknown key(s) bogus_key"),
        ("faults:\n  - {endpoint: launch, kind: meteor}\n", "faults[0].kind"),
        ("faults:\n  - {endpoint: teleport, kind: http_429}\n", "faults[0].endpoint"),
        ("capacity:\n  gpu_9x_nothing: {us-east-1: 1}\n", "unknown type"),
        ("capacity:\n  gpu_1x_a10: {atlantis-1: 1}\n", "unknown region"),
        ("capacity:\n  gpu_1x_a10: {us-east-1: [{at: 0, count: -1}]}\n", "count"),
        ("instance_faults:\n  - {kind: unhealthy, match: {nth: 0}}\n", "nth"),
        ("boot_seconds:\n  gpu_1x_a10: [300, 100]\n", "low <= high"),
        ("rate_limits: {request_interval: fast}\n", "request_interval"),
        ("missing_private_ip: 2\n", "between 0 and 1"),
        ("types:\n  gpu_2x_new: {price_cents_per_hour: 5}\n", "needs every field"),
        ("seed: [unclosed\n", "line"),
        ("- just\n- a list\n", "mapping"),
    ],
)
def test_bad_scenarios_name_file_and_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(SimulatorError) as info:
        Scenario.load(path)
    message = info.value.one_line()
    assert str(path) in message and needle in message


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(SimulatorError, match="cannot read scenario") as info:
        Scenario.load(tmp_path / "nope.yaml")
    assert "lost-launch" in info.value.one_line()  # the packaged names, usable from any folder
    with pytest.raises(SimulatorError, match="no packaged scenario"):
        Scenario.packaged("nope")


def test_a_packaged_scenario_by_name_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # an installed wheel: no lambdabench/sim/api/scenarios/ under the working folder
    for arg in ("lost-launch", "lost-launch.yaml"):
        assert Scenario.load(arg).source == Scenario.packaged("lost-launch").source
    (tmp_path / "lost-launch.yaml").write_text("description: mine\n")
    assert Scenario.load("lost-launch.yaml").source == "lost-launch.yaml"  # a file of that name here wins


def test_scenario_overrides_types_regions_and_keys() -> None:
    scenario = Scenario.from_dict(
        {
            "api_key": "sim-custom-key-123",
            "regions": [{"name": "us-east-1", "description": "Virginia, USA"}],
            "types": {"gpu_1x_a10": {"price_cents_per_hour": 150}, "gpu_8x_b200_sxm6": None},
            "boot_seconds": {"gpu_1x_a10": 5},
        }
    )
    clock = FakeClock()
    core = SimCloud(scenario, clock=clock, sleep=clock.sleep)
    client = client_for(core)
    assert client.get("/regions").json()["data"] == [{"name": "us-east-1", "description": "Virginia, USA"}]
    types = client.get("/instance-types").json()["data"]
    assert types["gpu_1x_a10"]["instance_type"]["price_cents_per_hour"] == 150
    assert "gpu_8x_b200_sxm6" not in types
    assert scenario.catalog.types["gpu_1x_a10"].boot_seconds == (5.0, 5.0)
