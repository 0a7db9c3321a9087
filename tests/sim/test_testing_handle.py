"""The tests' handle on the simulator (lambdabench.simulate → sim/testing.py): what it reports is the simulator's truth."""

from __future__ import annotations

import httpx
import pytest

from lambdabench.simulate import Sim, simulator


def test_the_handle_sees_what_a_lab_asked_and_stops_everything() -> None:
    with simulator(retry_budget=2) as sim:
        assert sim.env["LAMBDABENCH_RETRY_BUDGET"] == "2" and "NGC_API_KEY" not in sim.env
        with sim.lab() as lab:
            assert any(t.name == "gpu_1x_a10" for t in lab.types())
        assert [r["method"] for r in sim.requests("/instance-types")] == ["GET"]
        assert sim.requests("/instance-types", "POST") == [] and sim.launches() == [] and sim.live() == []
        url = sim.env["LAMBDABENCH_API_URL"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/instance-types", timeout=2)


def test_the_fixture_is_the_same_handle(api_sim: Sim) -> None:
    assert isinstance(api_sim, Sim) and api_sim.hosts is None
    assert float(api_sim.env["LAMBDABENCH_TIME_SCALE"]) == 600
