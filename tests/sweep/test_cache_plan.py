"""--cache at plan time (issue 29 item 2): a bad name is one line and nothing is made; planning makes nothing;
the plan names the cache's region, an existing filesystem's own."""

from __future__ import annotations

import pytest

from lambdabench.errors import UsageError
from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import Sim


def filesystem_posts(simenv: Sim) -> list[object]:
    return [r for r in simenv.core.requests() if r["method"] == "POST" and r["path"].endswith("/filesystems")]


@pytest.mark.parametrize("name", ["9lives", "has space", "x" * 61, "dash-at-end-is-fine-but-not_underscore"])
def test_a_bad_cache_name_is_refused_before_anything(simenv: Sim, name: str) -> None:
    lab = simenv.lab()
    with pytest.raises(UsageError) as err:
        lab.plan(SweepRequest("a10", "gpu-probe", {}, cache=name))
    assert "--cache" in err.value.one_line() and "\n" not in err.value.one_line()
    assert filesystem_posts(simenv) == [] and simenv.launches() == []
    lab.close()


def test_planning_makes_nothing_and_an_existing_cache_keeps_its_region(simenv: Sim) -> None:
    lab = simenv.lab()
    plan = lab.plan(SweepRequest("a10", "gpu-probe", {}, cache="new-cache", region="us-west-1"))
    assert plan.cache is not None and plan.cache.region == "us-west-1" and not plan.cache.exists
    assert "will be made in us-west-1" in plan.cache.line()
    assert filesystem_posts(simenv) == []  # a dry run spends nothing
    lab.cloud.create_filesystem("old-cache", "us-east-1")
    plan = lab.plan(SweepRequest("a10", "gpu-probe", {}, cache="old-cache", region="us-west-1"))
    assert plan.cache is not None and plan.cache.region == "us-east-1" and plan.cache.exists
    assert "exists in us-east-1" in plan.cache.line() and "elsewhere run cold" in plan.cache.line()
    lab.close()
