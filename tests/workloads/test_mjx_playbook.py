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
            out[step.name] = playbook.render(step.body, names) if isinstance(step.body, str) else step
    return out


def test_a_fresh_box_installs_with_user_and_runs_one_process_per_gpu() -> None:
    fresh = {"gpus": 8, "has_mjx": "false", "python_venv": "false", "jax_backend": "gpu"}
    steps = _active({"gpus": 8, "jax_package": "jax[cuda13]"}, fresh)
    install = steps["install jax and mujoco-mjx"]
    assert "'jax[cuda13]' mujoco-mjx" in install and "where=(--user)" in install
    bench = steps["benchmark"]
    assert "mjx_bench.py --envs 1024,4096,16384" in bench and "--launch 8" in bench
    assert "torch.distributed" not in bench and "benchmark (JAX on the CPU)" not in steps
    assert "a GPU machine whose JAX sees no GPU" not in steps
    # the files put on the instance are in the installed package, where the playbook says
    for name in ("put benchmark runner", "put aggregation helper", "put telemetry sampler"):
        assert playbook.package_file(steps[name].body["src"]).is_file()
    assert steps["pull results"].body["dest"] == "results"


def test_a_venv_or_an_offline_box_installs_without_user_from_wheels() -> None:
    steps = _active({"wheels": "/opt/wheels"}, {"has_mjx": "false", "python_venv": "true", "jax_backend": "gpu"})
    install = steps["install jax and mujoco-mjx"]
    assert '--no-index --find-links "$WHEELS"' in install and 'if [ "$IN_VENV" = true ]; then where=()' in install
    assert "no network? give" in install  # the one-line reason when neither works
    step = next(st for st in playbook.load_playbook(PLAYBOOK).steps if st.name == "install jax and mujoco-mjx")
    assert step.env == {"WHEELS": "{{ wheels }}", "IN_VENV": "{{ facts.python_venv }}"}


def test_packages_already_there_install_nothing() -> None:
    steps = _active({}, {"has_mjx": "true", "python_venv": "true", "jax_backend": "gpu"})
    assert "install jax and mujoco-mjx" not in steps and "benchmark" in steps


def test_jax_on_the_cpu_runs_small_only_when_asked_for() -> None:
    cpu = _active({"gpus": 2}, {"has_mjx": "true", "jax_backend": "cpu", "jax_platforms": "cpu"})
    small = cpu["benchmark (JAX on the CPU)"]
    assert "--envs 16,64" in small and "--launch 2" in small and "benchmark" not in cpu
    assert "a GPU machine whose JAX sees no GPU" not in cpu
    # a GPU box whose JAX fell back to the CPU is refused, not measured as if it were a GPU
    wrong = _active({}, {"has_mjx": "true", "jax_backend": "cpu", "jax_platforms": ""})
    assert "a GPU machine whose JAX sees no GPU" in wrong
