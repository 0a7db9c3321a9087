"""sweep --find-max-envs prices the search's worst case (every probe at its cap) into the run cap, and refuses a
playbook without the search or with --seeds before anything is read or launched (issue 28.3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambdabench.errors import UsageError
from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import Sim, simulator
from lambdabench.workloads.envsearch import max_probes


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
        assert search.benchmark.search_bound() == (probes, 120.0, probes * 2.0)
        # boot 5 min + (gpu-preflight 1 + mjx-locomotion 8 + 17 probes × 2 min) × 1.25, rounded up
        assert (plain.max_minutes, search.max_minutes) == (17, 59) and probes == 17
        assert "at most 17 probes × 120 s = 34 min" in search.cap_reason
        assert search.total_worst_case_cents > plain.total_worst_case_cents
        assert search.variables["find_max_envs"] == "true"
        short = lab.plan(
            SweepRequest(gpus="a10", find_max_envs=True, sets={"max_envs_start": "1048576", "bisect_steps": "0"})
        )
        assert short.benchmark.search_bound() == (4, 120.0, 8.0) and short.max_minutes == 5 + 22


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
        # each probe's 300 s cap holds a whole `isaaclab train` start-up (103 s to the first iteration cold on an H100)
        assert probes == 15 and search.benchmark.search_bound() == (probes, 300.0, probes * 5.0)
        assert f"at most {probes} probes × 300 s = 75 min" in search.cap_reason
        assert (plain.max_minutes, search.max_minutes) == (65, 65 + 94)  # + 75 min × 1.25, rounded up
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
        assert container.benchmark.search_bound() == (probes, 600.0, probes * 10.0)
        assert lab.ledger.sweeps() == [] and realtime.launches() == []
