"""Shared helpers for the simulator tests: a fake clock, a recording host backend, clients."""

from __future__ import annotations

from typing import Any

import httpx

from lambdabench.sim.api.app import make_wsgi_app
from lambdabench.sim.api.catalog import SimImage, SimType
from lambdabench.sim.api.core import HostInfo, SimCloud
from lambdabench.sim.api.scenario import Scenario

BASE_URL = "http://sim.local/api/v1"
LAUNCH = {"region_name": "us-east-1", "instance_type_name": "gpu_1x_a10", "ssh_key_names": ["k"]}
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7LhWXPyTR2MnlbPNPTDE3Ng3pyd8K2RaRSxhQYdBLs t@x"


class FakeClock:
    """A clock tests move by hand; sleep() advances it and records the request."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


class RecordingHosts:
    """A host backend with behaviour but no sshd: hands out loopback addresses, records calls."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.closed = False
        self._next = 10

    def start(
        self,
        instance_id: str,
        *,
        authorized_key: str,
        instance_type: SimType,
        faults: dict[str, dict[str, Any]],
        image: SimImage | None = None,
    ) -> HostInfo:
        self.started.append(
            {"id": instance_id, "key": authorized_key, "type": instance_type, "faults": faults, "image": image}
        )
        self._next += 1
        return HostInfo(f"127.0.0.{self._next}", 2222)

    def stop(self, instance_id: str) -> None:
        self.stopped.append(instance_id)

    def close(self) -> None:
        self.closed = True


def quiet_scenario(**overrides: Any) -> Scenario:
    """A scenario without rate limits or listing delay, for tests about something else."""
    data: dict[str, Any] = {"rate_limits": {"enabled": False}, "visibility_delay": 0}
    data.update(overrides)
    return Scenario.from_dict(data, source="<test>")


def client_for(core: SimCloud, *, key: str | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client wired to core in-process, authenticated unless key is ''."""
    key = core.scenario.api_key if key is None else key
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(
        transport=httpx.WSGITransport(app=make_wsgi_app(core)),
        base_url=BASE_URL,
        headers=headers,
        **kwargs,
    )


def make_sim(scenario: Scenario | None = None, **kwargs: Any) -> tuple[SimCloud, httpx.Client, FakeClock]:
    """A SimCloud on a fake clock with one SSH key named k, and a client for it."""
    clock = FakeClock()
    core = SimCloud(scenario or quiet_scenario(), clock=clock, sleep=clock.sleep, **kwargs)
    client = client_for(core)
    resp = client.post("/ssh-keys", json={"name": "k", "public_key": PUBLIC_KEY})
    assert resp.status_code == 200, resp.text
    return core, client, clock


def launch(client: httpx.Client, **extra: Any) -> httpx.Response:
    """POST a launch of one A10 in us-east-1 with key k, plus extra fields."""
    return client.post("/instance-operations/launch", json={**LAUNCH, **extra})


def launch_id(client: httpx.Client, **extra: Any) -> str:
    """Launch and return the new instance's id."""
    resp = launch(client, **extra)
    assert resp.status_code == 200, resp.text
    ids: list[str] = resp.json()["data"]["instance_ids"]
    assert len(ids) == 1
    return ids[0]


def error_code(resp: httpx.Response) -> str:
    """Lambda's error code from an error envelope."""
    code: str = resp.json()["error"]["code"]
    return code
