"""sweep --playbook isaaclab3-train --find-max-envs on the simulator: per type, one `isaaclab train` process per
probe, N doubling to a bound and stopping at the first (modelled) out-of-memory, recognised by its type; the A10
and the H100 find different maxima, each probe's peak GPU memory comes from the run's telemetry, and the search
costs no more than the plan said (issue 28.3)."""

from __future__ import annotations

import json

import pytest

from lambdabench.ledger import Ledger
from lambdabench.sim.hosts.memory_model import il3_largest_that_fits, il3_line
from lambdabench.simulate import SimProcess, needs_sshd
from lambdabench.workloads.envsearch import max_probes

pytestmark = needs_sshd

SEARCH = ["--playbook", "isaaclab3-train", "--find-max-envs"]
SETS = ["--set", "max_envs_start=1048576", "--set", "bisect_steps=0", "--set", "probe_iterations=1"]


def test_the_search_finds_each_types_maximum_and_stops_at_the_first_oom(simproc: SimProcess) -> None:
    dry = simproc.cli("sweep", "--gpus", "a10,h100", *SEARCH, *SETS, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    probes = max_probes(1048576, 8388608, 0)
    # each probe's cap grows with its num_envs (Isaac Lab's start-up does): 1, 2, 4 and 8 million envs, ≤ 5,132 s
    capped = f"at most {probes} probes, capped at 300 s + 250 s per million envs each: ≤ 86 min per run"
    assert f"largest-num_envs search: {capped}" in dry.stdout, dry.stdout
    # a --max-run-minutes the search's worst case does not fit: one line, exit 2, nothing asked of the cloud
    short = simproc.cli("sweep", "--gpus", "a10,h100", *SEARCH, *SETS, "--max-run-minutes", "60", "--dry-run")
    assert short.returncode == 2 and short.stderr.count("\n") == 1, short.stderr
    assert "--max-run-minutes 60 is shorter than the largest-num_envs search's worst case" in short.stderr
    rows = [line.split() for line in dry.stdout.splitlines() if line[:1].isdigit()]
    worst = {row[2]: float(row[-1].lstrip("$")) for row in rows}  # the plan's worst case per type
    out = simproc.cli(
        "sweep", "--gpus", "a10,h100", *SEARCH, *SETS, "--max-run-minutes", "1500", "--format", "json", timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    found = {m["group"]: m for m in report["max_num_envs"]}
    a10, h100 = found["gpu_1x_a10"], found["gpu_1x_h100_sxm5"]
    # the model (real H100 Cartpole figures) admits ~1.43 million envs on the A10 and ~5.2 million on the H100
    assert (a10["largest_fit"], a10["first_oom"]) == (1048576, 2097152)
    assert (h100["largest_fit"], h100["first_oom"]) == (4194304, 8388608)
    assert 1048576 <= il3_largest_that_fits(23028) < 2097152 and 4194304 <= il3_largest_that_fits(81559) < 8388608
    assert a10["modelled"] and a10["playbook"] == "isaaclab3-train" and a10["backend"] == "kitless Newton"
    assert "ModelledOutOfMemory by type" in a10["oom_evidence"]
    ledger = Ledger(simproc.home)
    base, per_env = il3_line()
    for run in ledger.runs():
        assert run.status == "succeeded"
        probed = [p[1] for s in ledger.series(run_id=run.id, name="max_envs_probe_fits") for p in s.points]
        first_oom = {m.key: m.value for m in ledger.metrics(run_id=run.id)}["max_num_envs_first_oom"]
        assert len(probed) <= probes and max(probed) == first_oom  # nothing larger after the first OOM
        # each fitting probe's peak GPU memory, sampled by the run's nvidia-smi: the modelled footprint
        peaks = {p[1]: p[2] for s in ledger.series(run_id=run.id, name="max_envs_probe_gpu_mem_mib") for p in s.points}
        assert 1048576.0 in peaks and abs(peaks[1048576.0] - (base + per_env * 1048576 / 2**20)) < 2
    # `check` answers from these searches before anything launches and refuses a num_envs above the A10's fit (exit
    # 1); the sweep refuses it in the same words, before launch
    big = ["--gpus", "a10,h100", "--playbook", "isaaclab3-train", "--set", "num_envs=2000000"]
    check = simproc.cli("check", *big, "--json")
    assert check.returncode == 1, check.stderr
    verdicts = {v["gpu_type"]: v for v in json.loads(check.stdout)}
    assert (verdicts["gpu_1x_a10"]["largest_num_envs"], verdicts["gpu_1x_a10"]["too_many_envs"]) == (1048576, True)
    assert (verdicts["gpu_1x_h100_sxm5"]["largest_num_envs"], verdicts["gpu_1x_h100_sxm5"]["too_many_envs"]) == (
        4194304,
        False,
    )
    refused = simproc.cli("sweep", *big, "--dry-run")
    assert refused.returncode == 2 and verdicts["gpu_1x_a10"]["refused"] in refused.stderr, refused.stderr
    text = simproc.cli("report")
    assert "gpu_1x_a10 (isaaclab3-train, kitless Newton): largest num_envs that fits 1,048,576" in text.stdout
    # the playbook hands il_maxenvs.py both parts of the cap: each probe ran under 300 s + 250 s per million envs
    results = sorted(simproc.home.glob("**/artifacts/**/max-envs-result.json"))
    assert len(results) == 2, results
    for path in results:
        tries = json.loads(path.read_text())["max_envs"]["tries"]
        assert [t["cap_seconds"] for t in tries] == [300 + 250 * t["num_envs"] / 1e6 for t in tries]
    spent = {g["instance_type"]: float(g["cost_usd"]) for g in report["groups"]}
    assert spent and all(spent[t] <= worst.get(t, 0) for t in spent), (spent, worst)
    assert simproc.live() == []


@pytest.mark.parametrize("version", ["2", pytest.param("1", marks=pytest.mark.slow)])  # 1: the fork (--long)
def test_isaaclab_2x_in_its_container_searches_the_same_way(simproc: SimProcess, version: str) -> None:
    """isaaclab-train (Isaac Sim's container): each probe a train.py run by runpy through isaaclab.sh -p, on 2.x
    inside Hydra (told to re-raise, else every out-of-memory would read as exit 1); the A10 stops at its first OOM."""
    sets = ["--set", f"isaaclab_version={version}", "--set", "library=rsl_rl", *SETS]
    dry = simproc.cli("sweep", "--gpus", "a10", "--playbook", "isaaclab-train", "--find-max-envs", *sets, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    capped = f"at most {max_probes(1048576, 8388608, 0)} probes, capped at 600 s + 250 s per million envs each: ≤ 106"
    assert capped in dry.stdout, dry.stdout
    worst = float(next(line for line in dry.stdout.splitlines() if line[:1].isdigit()).split()[-1].lstrip("$"))
    out = simproc.cli(
        "sweep", "--gpus", "a10", "--playbook", "isaaclab-train", "--find-max-envs", *sets,
        "--max-run-minutes", "1500", "--format", "json", timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    [a10] = report["max_num_envs"]
    assert (a10["largest_fit"], a10["first_oom"]) == (1048576, 2097152)
    assert a10["playbook"] == "isaaclab-train" and a10["backend"] == "Isaac Sim PhysX container"
    assert "isaaclab_sim.ModelledOutOfMemory by type" in a10["oom_evidence"]
    [group] = report["groups"]
    assert float(group["cost_usd"]) <= worst
    assert simproc.live() == []
