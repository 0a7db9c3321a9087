"""sweep --find-max-envs prices the search's worst case (every probe at its cap) into the run cap, and refuses a
playbook without the search or with --seeds before anything is read or launched (issue 28.3)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from lambdabench.errors import UsageError
from lambdabench.run.plan import SearchBound, SweepRequest
from lambdabench.simulate import Sim, simulator
from lambdabench.workloads.envsearch import doubling_sizes, max_probes


@pytest.fixture
def realtime() -> Iterator[Sim]:
    """The simulator at time scale 1: plans priced as on the real cloud."""
    with simulator(scale=1.0) as sim:
        yield sim


def test_the_search_is_priced_as_its_probes_at_their_cap(realtime: Sim) -> None:
    with realtime.lab() as lab:
        plain = lab.plan(SweepRequest(gpus="a10,h100"))
        search = lab.plan(SweepRequest(gpus="a10,h100", find_max_envs=True))
        probes = max_probes(1024, 8388608, 3)
        assert search.benchmark.search_bound() == SearchBound(probes, 120.0, 0.0, probes * 2.0)  # a fixed cap
        # boot 5 min + (gpu-preflight 1 + mjx-locomotion 8 + 17 probes × 2 min) × 1.25, rounded up
        assert (plain.max_minutes, search.max_minutes) == (17, 59) and probes == 17
        assert "at most 17 probes × 120 s = 34 min" in search.cap_reason
        assert search.total_worst_case_cents > plain.total_worst_case_cents
        assert search.variables["find_max_envs"] == "true"
        short = lab.plan(
            SweepRequest(gpus="a10", find_max_envs=True, sets={"max_envs_start": "1048576", "bisect_steps": "0"})
        )
        assert short.benchmark.search_bound() == SearchBound(4, 120.0, 0.0, 8.0) and short.max_minutes == 5 + 22


def test_a_playbook_without_the_search_or_seeds_are_refused(realtime: Sim) -> None:
    with realtime.lab() as lab:
        with pytest.raises(UsageError, match="has no largest-num_envs search"):
            lab.plan(SweepRequest(gpus="a10", playbook="gpu-preflight", find_max_envs=True))
        with pytest.raises(UsageError, match="the search has no seeds"):
            lab.plan(SweepRequest(gpus="a10", find_max_envs=True, seeds=3))
        with pytest.raises(UsageError, match="max_envs_bound 512 is below max_envs_start 1024"):
            lab.plan(SweepRequest(gpus="a10", find_max_envs=True, sets={"max_envs_bound": "512"}))
        assert lab.ledger.sweeps() == [] and realtime.launches() == []


def test_isaaclab3_train_has_the_search_priced_with_isaac_labs_start_up_in_each_probe(realtime: Sim) -> None:
    with realtime.lab() as lab:
        plain = lab.plan(SweepRequest(gpus="a10,h100", playbook="isaaclab3-train"))
        search = lab.plan(SweepRequest(gpus="a10,h100", playbook="isaaclab3-train", find_max_envs=True))
        probes = max_probes(4096, 8388608, 3)
        # each probe's cap holds a whole `isaaclab train` start-up: 300 s (103 s to the first iteration cold on an
        # H100) + 250 s per million envs (scene creation and simulation start, ~190 s per million on an H100)
        seconds = sum(300 + 250 * n / 1e6 for n in doubling_sizes(4096, 8388608)) + 3 * (300 + 250 * 8.388608)
        assert probes == 15 and search.benchmark.search_bound() == SearchBound(probes, 300.0, 250.0, seconds / 60)
        assert round(seconds / 60) == 250  # a fixed 300 s cap priced 75 min and ended on time at 2,097,152 envs
        assert f"at most {probes} probes, capped at 300 s + 250 s per million envs each: ≤ 250 min" in search.cap_reason
        assert (plain.max_minutes, search.max_minutes) == (65, 65 + 313)  # + 249.7 min × 1.25, rounded up
        assert search.total_worst_case_cents > plain.total_worst_case_cents
        assert search.variables["find_max_envs"] == "true"
        with pytest.raises(UsageError, match="not Isaac Lab's benchmark"):
            lab.plan(
                SweepRequest(
                    gpus="h100", playbook="isaaclab3-train", find_max_envs=True, sets={"benchmark": "isaaclab"}
                )
            )
        with pytest.raises(UsageError, match="isaaclab3-play has no largest-num_envs search") as refused:
            lab.plan(SweepRequest(gpus="h100", playbook="isaaclab3-play", find_max_envs=True))
        assert "isaaclab3-train" in (refused.value.hint or "")
        assert lab.ledger.sweeps() == [] and realtime.launches() == []
    # the Isaac Sim container searches too: each probe pays Isaac Sim's start-up, under a 600 s cap
    with realtime.lab(NGC_API_KEY="nvapi-simulated-test-key") as lab:  # isaaclab-train's setup logs in to nvcr.io
        container = lab.plan(SweepRequest(gpus="a10", playbook="isaaclab-train", find_max_envs=True))
        seconds = sum(600 + 250 * n / 1e6 for n in doubling_sizes(4096, 8388608)) + 3 * (600 + 250 * 8.388608)
        assert container.benchmark.search_bound() == SearchBound(probes, 600.0, 250.0, seconds / 60)
        assert lab.ledger.sweeps() == [] and realtime.launches() == []


def test_a_search_longer_than_max_run_minutes_is_refused_before_anything(realtime: Sim) -> None:
    """--max-run-minutes below the search's worst case would kill the search on the run cap mid-probe: refused at
    plan time in one line, for Isaac Lab's scaled caps and MJX's fixed one alike."""
    with realtime.lab() as lab:
        sets = {"max_envs_start": "1048576", "bisect_steps": "0"}  # 1, 2, 4, 8 million: 1,200 s + 3,932 s
        req = SweepRequest(gpus="h100", playbook="isaaclab3-train", find_max_envs=True, sets=sets)
        with pytest.raises(UsageError, match=r"--max-run-minutes 60 is shorter than .*worst case") as refused:
            lab.plan(replace(req, max_run_minutes=60))
        assert "capped at 300 s + 250 s per million envs each: ≤ 86 min" in str(refused.value)
        assert "--max-run-minutes 86 or more" in (refused.value.hint or "")
        assert lab.plan(replace(req, max_run_minutes=86)).max_minutes == 86
        with pytest.raises(UsageError, match=r"worst case \(at most 17 probes × 120 s = 34 min\)"):
            lab.plan(SweepRequest(gpus="h100", find_max_envs=True, max_run_minutes=30))
        assert lab.ledger.sweeps() == [] and realtime.launches() == []


def test_the_plan_records_the_isaac_lab_release_its_set_up_installs(realtime: Sim) -> None:
    """--set isaaclab_version goes to isaaclab3-setup (what it installs) and into the footprint the plan records; left
    out, both are the set-up's default, 3.0.0 (issue 28.3: a 3.1 search never keys as a 3.0 one)."""
    with realtime.lab() as lab:
        req = SweepRequest(gpus="h100", playbook="isaaclab3-train", find_max_envs=True)
        for sets, version in (({}, "3.0.0"), ({"isaaclab_version": "3.1.0"}, "3.1.0")):
            plan = lab.plan(replace(req, sets=sets))
            (setup,) = plan.benchmark.before
            assert setup.name == "isaaclab3-setup" and plan.benchmark.values_for(setup)["isaaclab_version"] == version
            assert plan.to_json()["footprint"]["isaaclab_version"] == version, sets
