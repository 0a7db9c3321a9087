"""sweep --find-max-envs on the simulator: per type, on one instance, N doubling to a bound, stopping at the first
(modelled) out-of-memory; the A10 and the H100 find different maxima, and the search costs no more than planned."""

from __future__ import annotations

import importlib.util
import json

import pytest

from lambdabench.ledger import Ledger
from lambdabench.sim.hosts.memory_model import largest_that_fits
from lambdabench.simulate import SimProcess, needs_sshd
from lambdabench.workloads.envsearch import max_probes

pytestmark = [
    needs_sshd,
    pytest.mark.slow,  # two simulated instances compile MJX on the CPU: ~2.5 min here (run with --long)
    pytest.mark.skipif(
        importlib.util.find_spec("jax") is None or importlib.util.find_spec("mujoco") is None,
        reason="jax and mujoco-mjx are not installed (bash .ci/setup installs the [mjx] extra)",
    ),
]

SEARCH = ["--set", "max_envs_start=131072", "--set", "bisect_steps=1", "--set", "search_steps_per_call=1"]


def test_the_search_finds_each_types_maximum_and_stops_at_the_first_oom(simproc: SimProcess) -> None:
    dry = simproc.cli("sweep", "--gpus", "a10,h100", "--find-max-envs", *SEARCH, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    probes = max_probes(131072, 8388608, 1)
    assert f"largest-num_envs search: at most {probes} probes × 120 s" in dry.stdout, dry.stdout
    rows = [line.split() for line in dry.stdout.splitlines() if line[:1].isdigit()]
    worst = {row[2]: float(row[-1].lstrip("$")) for row in rows}  # the plan's worst case per type
    assert set(worst) == {"gpu_1x_a10", "gpu_1x_h100_sxm5"}
    out = simproc.cli(
        "sweep", "--gpus", "a10,h100", "--find-max-envs", *SEARCH, "--max-run-minutes", "1500", "--format", "json",
        timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    found = {m["group"]: m for m in report["max_num_envs"]}
    a10, h100 = found["gpu_1x_a10"], found["gpu_1x_h100_sxm5"]
    # doubling from 131,072: the A10 (model 838,113) fits 524,288, not 1,048,576; bisecting once fits 786,432
    assert (a10["largest_fit"], a10["first_oom"]) == (786432, 1048576) and a10["largest_fit"] <= largest_that_fits(
        23028
    )
    assert (h100["largest_fit"], h100["first_oom"]) == (2097152, 4194304)
    assert a10["modelled"] and "RESOURCE_EXHAUSTED" in a10["oom_evidence"]
    ledger = Ledger(simproc.home)
    for run in ledger.runs():
        probed = [p[1] for s in ledger.series(run_id=run.id, name="max_envs_probe_fits") for p in s.points]
        first_oom = {m.key: m.value for m in ledger.metrics(run_id=run.id)}["max_num_envs_first_oom"]
        assert len(probed) <= probes and max(probed) == first_oom  # nothing larger after the first OOM
    spent = {g["instance_type"]: float(g["cost_usd"]) for g in report["groups"]}
    assert spent and all(spent[t] <= worst.get(t, 0) for t in spent), (spent, worst)
    assert simproc.live() == []
