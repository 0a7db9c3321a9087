"""playbooks/mjx-locomotion.yaml: loads with the project's loader and renders the right commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

playbook = pytest.importorskip("lambdabench.remote.playbook")

PLAYBOOK = Path(__file__).resolve().parents[2] / "playbooks" / "mjx-locomotion.yaml"


def _active(overrides: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    pb = playbook.load_playbook(PLAYBOOK)
    names = pb.namespace(pb.resolve_vars(overrides), facts)
    out: dict[str, Any] = {}
    for step in pb.steps:
        if step.when is None or step.when.evaluate(names):
            out[step.name] = (
                playbook.render(step.body, names) if isinstance(step.body, str) else step
            )
    return out


def test_single_gpu_installs_from_pypi_and_runs_one_process() -> None:
    steps = _active({}, {"gpus": 1})
    assert (
        "python3 -m pip install --user -q 'jax[cuda12]' mujoco-mjx"
        in steps["install jax and mujoco-mjx"]
    )
    bench = steps["benchmark (1 GPU)"]
    assert "mjx_bench.py --envs 1024,4096,16384" in bench and "torch.distributed" not in bench
    assert "benchmark (one process per GPU)" not in steps
    assert steps["put benchmark runner"].body["src"].endswith("workloads/mjx_bench.py")
    # the files put on the instance exist where the playbook says
    for name in ("put benchmark runner", "put aggregation helper", "put telemetry sampler"):
        assert (PLAYBOOK.parent / steps[name].body["src"]).is_file()
    assert steps["pull results"].body["dest"] == "results"


def test_multi_gpu_types_run_one_process_per_gpu_through_torchrun() -> None:
    steps = _active({"gpus": 8, "jax_package": "jax[cuda13]"}, {"gpus": 8})
    multi = steps["benchmark (one process per GPU)"]
    assert "-m torch.distributed.run --standalone --nproc_per_node=8 mjx_bench.py" in multi
    assert "'jax[cuda13]'" in steps["install jax and mujoco-mjx"]
    assert "benchmark (1 GPU)" not in steps


def test_simulated_hosts_install_nothing_and_run_small_on_the_cpu() -> None:
    steps = _active({"simulated": True, "gpus": 2}, {"gpus": 2})
    assert "install jax and mujoco-mjx" not in steps
    sim = steps["benchmark (simulated, CPU)"]
    assert "--envs 16" in sim and "--launch 2" in sim
    assert not any(name.startswith("benchmark (") and "CPU" not in name for name in steps)
    assert "start telemetry sampler" in steps and "stop telemetry sampler" in steps
