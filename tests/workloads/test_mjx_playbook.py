"""playbooks/mjx-locomotion.yaml: loads with the project's loader and renders the right commands."""

from __future__ import annotations

import os
import subprocess
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


# a python whose pip installs only with --break-system-packages (Ubuntu 24.04's PEP 668 guard), or never
FAKE_PYTHON = """#!/bin/sh
echo "pip $*" >> "$0.log"
case " $* " in *" --break-system-packages "*) [ "$PEP668_ONLY" = 1 ] && exit 0 ;; esac
echo "ERROR: Could not find a version that satisfies the requirement jax" >&2
echo "ERROR: No matching distribution found for jax" >&2
exit 1
"""


@pytest.mark.parametrize(
    ("in_venv", "pep668_only", "status"),
    [("true", "0", 1), ("false", "0", 1), ("false", "1", 0), ("true", "1", 1)],
)
def test_an_install_pip_could_not_do_fails_the_step_with_its_reason(
    tmp_path: Path, in_venv: str, pep668_only: str, status: int
) -> None:
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    facts = {"has_mjx": "false", "python_venv": in_venv, "jax_backend": "gpu"}
    install = _active({"python": str(python)}, facts)["install jax and mujoco-mjx"]
    env = {"PATH": os.environ["PATH"], "IN_VENV": in_venv, "WHEELS": "", "PEP668_ONLY": pep668_only}
    ran = subprocess.run(["bash", "-c", install], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == status, ran.stderr
    assert ("JAX and MuJoCo are not installed here" in ran.stderr) == (status == 1)
    if status == 1:  # the last line, the one the user sees, says what pip said
        assert "(ERROR: No matching distribution found for jax; no network?" in ran.stderr.splitlines()[-1]
    # a venv is never given --break-system-packages (nor --user): that is for the system python only
    assert ("--break-system-packages" in Path(f"{python}.log").read_text()) == (in_venv == "false")
