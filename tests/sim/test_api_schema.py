"""Every response of every simulated endpoint validates against Lambda's OpenAPI document."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import jsonschema
import pytest

from lambdabench.sim.api.core import SimCloud

from . import FakeClock, client_for, launch_id, quiet_scenario

IMPLEMENTED = {
    ("GET", "/api/v1/instances"),
    ("GET", "/api/v1/instances/{id}"),
    ("POST", "/api/v1/instances/{id}"),
    ("POST", "/api/v1/instance-operations/launch"),
    ("POST", "/api/v1/instance-operations/terminate"),
    ("POST", "/api/v1/instance-operations/restart"),
    ("GET", "/api/v1/instance-types"),
    ("GET", "/api/v1/regions"),
    ("GET", "/api/v1/images"),
    ("GET", "/api/v1/ssh-keys"),
    ("POST", "/api/v1/ssh-keys"),
    ("DELETE", "/api/v1/ssh-keys/{id}"),
    ("GET", "/api/v1/file-systems"),
    ("POST", "/api/v1/filesystems"),
    ("DELETE", "/api/v1/filesystems/{id}"),
    ("GET", "/api/v1/firewall-rules"),
    ("PUT", "/api/v1/firewall-rules"),
    ("GET", "/api/v1/firewall-rulesets"),
    ("POST", "/api/v1/firewall-rulesets"),
    ("GET", "/api/v1/firewall-rulesets/global"),
    ("PATCH", "/api/v1/firewall-rulesets/global"),
    ("GET", "/api/v1/firewall-rulesets/{id}"),
    ("PATCH", "/api/v1/firewall-rulesets/{id}"),
    ("DELETE", "/api/v1/firewall-rulesets/{id}"),
}


class SpecChecker:
    """Validates each response against the spec's schema for its path, method and status."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.templates = []
        # literal paths first, so /firewall-rulesets/global wins over /firewall-rulesets/{id}
        for path in sorted(spec["paths"], key=lambda p: p.count("{")):
            pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"
            self.templates.append((re.compile(pattern), path))
        self.validated: set[tuple[str, str, int]] = set()
        self.undocumented: list[tuple[str, str, int]] = []

    def template(self, path: str) -> str:
        for pattern, template in self.templates:
            if pattern.match(path):
                return template
        raise AssertionError(f"no spec path matches {path}")

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        method, path = response.request.method, response.request.url.path
        if "/_sim/" in path:
            return
        template = self.template(path)
        responses = self.spec["paths"][template][method.lower()]["responses"]
        entry = responses.get(str(response.status_code))
        if entry is None:
            self.undocumented.append((method, template, response.status_code))
            return
        schema = dict(entry["content"]["application/json"]["schema"])
        schema["components"] = self.spec["components"]
        jsonschema.Draft202012Validator(schema).validate(json.loads(response.content))
        self.validated.add((method, template, response.status_code))


@pytest.fixture
def checked(openapi_spec: dict[str, Any]) -> tuple[SimCloud, httpx.Client, FakeClock, SpecChecker]:
    clock = FakeClock()
    core = SimCloud(quiet_scenario(), clock=clock, sleep=clock.sleep)
    checker = SpecChecker(openapi_spec)
    client = client_for(core, event_hooks={"response": [checker]})
    return core, client, clock, checker


def test_every_success_response_matches_the_spec(checked: Any) -> None:
    core, client, clock, checker = checked
    gen = client.post("/ssh-keys", json={"name": "generated"}).json()["data"]
    assert gen["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    client.post("/ssh-keys", json={"name": "k", "public_key": gen["public_key"]})
    client.get("/ssh-keys")
    assert client.delete(f"/ssh-keys/{gen['id']}").json() == {"data": {}}
    client.get("/instance-types")
    client.get("/regions")
    client.get("/images")
    fs = client.post("/filesystems", json={"name": "bench-data", "region": "us-east-1"}).json()
    client.get("/file-systems")
    rules = [
        {
            "protocol": "tcp",
            "port_range": [8080, 8081],
            "source_network": "203.0.113.0/24",
            "description": "dashboards",
        }
    ]
    client.get("/firewall-rules")
    client.put("/firewall-rules", json={"data": rules})
    client.get("/firewall-rulesets/global")
    client.patch("/firewall-rulesets/global", json={"rules": rules})
    rs = client.post("/firewall-rulesets", json={"name": "bench", "region": "us-east-1", "rules": rules}).json()["data"]
    client.get("/firewall-rulesets")
    client.get(f"/firewall-rulesets/{rs['id']}")
    client.patch(f"/firewall-rulesets/{rs['id']}", json={"name": "bench2"})
    instance_id = launch_id(
        client,
        name="run-1",
        hostname="node1",
        tags=[{"key": "lambdabench:run", "value": "1"}],
        file_system_names=["bench-data"],
        firewall_rulesets=[{"id": rs["id"]}],
        image={"family": "lambda-stack-22-04"},
        user_data="#cloud-config\n",
    )
    client.get("/instances")
    client.get(f"/instances/{instance_id}")  # booting: no ip yet
    clock.advance(301)
    active = client.get(f"/instances/{instance_id}").json()["data"]
    assert active["status"] == "active" and active["ip"].startswith("127.0.0.")
    client.post(f"/instances/{instance_id}", json={"name": "renamed"})
    client.post("/instance-operations/restart", json={"instance_ids": [instance_id]})
    client.post("/instance-operations/terminate", json={"instance_ids": [instance_id]})
    clock.advance(10)
    client.get("/instances")  # terminated, lingering
    client.delete(f"/firewall-rulesets/{rs['id']}")
    client.delete(f"/filesystems/{fs['data']['id']}")
    ok = {(m, t) for m, t, status in checker.validated if status == 200}
    assert ok == IMPLEMENTED
    assert checker.undocumented == []


def test_error_responses_match_the_spec(checked: Any) -> None:
    core, client, clock, checker = checked
    bad_id = "0" * 32
    client.post("/ssh-keys", json={"name": "k", "public_key": "ssh-ed25519 AAAA k"})
    client.post("/ssh-keys", json={"name": "k", "public_key": "ssh-ed25519 AAAA k"})  # duplicate
    client.post("/ssh-keys", json={"name": "", "public_key": "x"})
    client.delete(f"/ssh-keys/{bad_id}")
    client.delete("/ssh-keys/k")
    client.get(f"/instances/{bad_id}")
    client.get("/instances/my-instance-name")
    client.post(f"/instances/{bad_id}", json={"name": "x"})
    client.post("/instance-operations/terminate", json={"instance_ids": [bad_id]})
    client.post("/instance-operations/terminate", json={"instance_ids": "nope"})
    client.post("/instance-operations/restart", json={"instance_ids": [bad_id]})
    client.post("/instance-operations/launch", json={"region_name": "us-east-1"})
    client.post(
        "/instance-operations/launch",
        json={
            "region_name": "us-east-1",
            "instance_type_name": "gpu_1x_a10",
            "ssh_key_names": ["nobody"],
        },
    )
    client.post(
        "/instance-operations/launch",
        json={
            "region_name": "me-west-1",
            "instance_type_name": "gpu_1x_a10",
            "ssh_key_names": ["k"],
        },
    )  # no stock there
    client.post(
        "/instance-operations/launch",
        json={
            "region_name": "us-east-1",
            "instance_type_name": "gpu_1x_a10",
            "ssh_key_names": ["k"],
            "file_system_names": ["elsewhere"],
        },
    )
    client.post("/filesystems", json={"name": "elsewhere", "region": "us-west-1"})
    client.post("/filesystems", json={"name": "elsewhere", "region": "us-west-1"})  # duplicate
    client.post(
        "/instance-operations/launch",
        json={
            "region_name": "us-east-1",
            "instance_type_name": "gpu_1x_a10",
            "ssh_key_names": ["k"],
            "file_system_names": ["elsewhere"],
        },
    )
    client.delete(f"/filesystems/{bad_id}")
    client.delete("/filesystems/elsewhere")
    client.put(
        "/firewall-rules",
        json={
            "data": [
                {
                    "protocol": "icmp",
                    "port_range": [1, 2],
                    "source_network": "0.0.0.0/0",
                    "description": "x",
                }
            ]
        },
    )
    client.get(f"/firewall-rulesets/{bad_id}")
    client.patch(f"/firewall-rulesets/{bad_id}", json={"name": "x"})
    client.delete(f"/firewall-rulesets/{bad_id}")
    client.post("/firewall-rulesets", json={"name": "x", "region": "nowhere", "rules": []})
    rs = client.post("/firewall-rulesets", json={"name": "x", "region": "us-east-1", "rules": []})
    instance_id = launch_id(client, firewall_rulesets=[{"id": rs.json()["data"]["id"]}])
    client.delete(f"/firewall-rulesets/{rs.json()['data']['id']}")  # in use
    client.post("/instance-operations/restart", json={"instance_ids": [instance_id]})  # booting
    client_for(core, key="wrong-key-123", event_hooks={"response": [checker]}).get("/instances")
    client_for(core, key="", event_hooks={"response": [checker]}).get("/regions")
    seen = {(m, t, s) for m, t, s in checker.validated if s != 200}
    for expected in [
        ("POST", "/api/v1/ssh-keys", 400),
        ("DELETE", "/api/v1/ssh-keys/{id}", 404),
        ("DELETE", "/api/v1/ssh-keys/{id}", 400),
        ("GET", "/api/v1/instances/{id}", 404),
        ("GET", "/api/v1/instances/{id}", 400),
        ("POST", "/api/v1/instances/{id}", 404),
        ("POST", "/api/v1/instance-operations/terminate", 404),
        ("POST", "/api/v1/instance-operations/terminate", 400),
        ("POST", "/api/v1/instance-operations/restart", 404),
        ("POST", "/api/v1/instance-operations/restart", 409),
        ("POST", "/api/v1/instance-operations/launch", 400),
        ("POST", "/api/v1/instance-operations/launch", 404),
        ("POST", "/api/v1/filesystems", 400),
        ("DELETE", "/api/v1/filesystems/{id}", 404),
        ("DELETE", "/api/v1/filesystems/{id}", 400),
        ("PUT", "/api/v1/firewall-rules", 400),
        ("GET", "/api/v1/firewall-rulesets/{id}", 404),
        ("PATCH", "/api/v1/firewall-rulesets/{id}", 404),
        ("DELETE", "/api/v1/firewall-rulesets/{id}", 404),
        ("DELETE", "/api/v1/firewall-rulesets/{id}", 400),
        ("POST", "/api/v1/firewall-rulesets", 400),
        ("GET", "/api/v1/instances", 401),
        ("GET", "/api/v1/regions", 401),
    ]:
        assert expected in seen, expected
    assert checker.undocumented == []


def test_fault_error_envelopes_match_the_spec(openapi_spec: dict[str, Any]) -> None:
    clock = FakeClock()
    scenario = quiet_scenario(
        faults=[
            {"endpoint": "launch", "kind": "insufficient_capacity"},
            {"endpoint": "launch", "kind": "quota_exceeded"},
            {"endpoint": "list", "kind": "invalid_api_key"},
        ]
    )
    core = SimCloud(scenario, clock=clock, sleep=clock.sleep)
    checker = SpecChecker(openapi_spec)
    client = client_for(core, event_hooks={"response": [checker]})
    client.post("/ssh-keys", json={"name": "k", "public_key": "ssh-ed25519 AAAA k"})
    body = {"region_name": "us-east-1", "instance_type_name": "gpu_1x_a10", "ssh_key_names": ["k"]}
    assert client.post("/instance-operations/launch", json=body).status_code == 400
    assert client.post("/instance-operations/launch", json=body).status_code == 400
    assert client.get("/instances").status_code == 401
    assert ("POST", "/api/v1/instance-operations/launch", 400) in checker.validated
    assert ("GET", "/api/v1/instances", 401) in checker.validated
