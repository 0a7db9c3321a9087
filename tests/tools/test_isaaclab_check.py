"""tools/isaaclab-check: setup's patch step on Isaac Lab's real extras, and the checker's own verdicts.

The checks that need the real Isaac Lab sources run where their git mirrors are (ISAACLAB_CHECK_MIRRORS,
default /work/.mirror, as the search tool's `fetch` lays them out) and skip elsewhere; the index part is a
documented command with its dated result in tools/isaaclab-check/LAST-RESULT.md.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lambdabench.remote.playbook import load_playbook, render, shipped_dir

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "isaaclab-check" / "real_scripts.py"
MIRRORS = Path(os.environ.get("ISAACLAB_CHECK_MIRRORS", "/work/.mirror"))
FORK = MIRRORS / "RajitGhosh+IsaacLab-Fork" / "repo"
UPSTREAM = MIRRORS / "ooctipus+IsaacLab" / "repo"
# the skrl extra of each Isaac Lab release as its isaaclab_rl/setup.py (fork: lab_tasks/setup.py) asks it
# (fork b24a0fa lab_tasks/setup.py:42; upstream 0e4b38cd, dcd877f0, 0f00ca2b isaaclab_rl/setup.py:45,45,43)
SKRL_EXTRAS = {"1": "skrl>=1.2.0", "2.0": "skrl>=1.4.1", "2.1": "skrl>=1.4.2", "2.2": "skrl>=1.4.3"}


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("isaaclab_check_real_scripts", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _patched(tmp_path: Path, rel: str) -> str:
    """The skrl extra after setup.yaml's own patch step ran on a checkout holding the real line."""
    repo = tmp_path / "IsaacLab"
    path = repo / ("source/extensions/omni.isaac.lab_tasks/setup.py" if rel == "1" else "source/isaaclab_rl/setup.py")
    path.parent.mkdir(parents=True)
    path.write_text(f'EXTRAS_REQUIRE = {{\n    "skrl": ["{SKRL_EXTRAS[rel]}"],\n}}\n')
    book = load_playbook(shipped_dir() / "setup.yaml")
    names = book.namespace(
        book.resolve_vars({"isaaclab_version": "1" if rel == "1" else "2", "repo_dir": str(repo)}), {}
    )
    step = next(s for s in book.steps if s.name == "patch known image-build breakers")
    done = subprocess.run(["bash", "-c", render(str(step.body), names)], capture_output=True, text=True, check=True)
    assert "isaaclab_patches=" in done.stdout
    extras = ast.literal_eval(path.read_text().partition("=")[2].strip())
    return str(extras["skrl"][0])


@pytest.mark.parametrize("rel", sorted(SKRL_EXTRAS))
def test_setup_keeps_skrl_below_2_on_every_release(tmp_path: Path, rel: str) -> None:
    # skrl 2.x drops what the fork imports and what 2.x's play.py calls (set_running_mode, act without states)
    pinned = _patched(tmp_path, rel)
    assert pinned.startswith(SKRL_EXTRAS[rel]) and re.search(r",<(1\.5|2)$", pinned), pinned


# skrl's agent API in the two shapes the workflows meet (skrl 1.4.3 and 2.1.1 agents/torch/base.py, ppo.py)
SKRL_1 = {
    "skrl/agents/torch/base.py": "class Agent:\n    def set_running_mode(self, mode): ...\n"
    "    def act(self, states, timestep, timesteps): ...\n    def load(self, path): ...\n",
    "skrl/agents/torch/ppo/ppo.py": "class PPO(Agent):\n    def act(self, states, timestep, timesteps): ...\n",
}
SKRL_2 = {
    "skrl/agents/torch/base.py": "class Agent:\n    def enable_training_mode(self, enabled=True, *, apply_to_models=False): ...\n"
    "    def load(self, path): ...\n",
    "skrl/agents/torch/ppo/ppo.py": "class PPO(Agent):\n    def act(self, observations, states, *, timestep, timesteps): ...\n",
}
# what Isaac Lab 2.x's skrl/play.py does with its agent (v2.3.0 play.py:208-222)
PLAY_2X = """
runner.agent.load(resume_path)
runner.agent.set_running_mode("eval")
outputs = runner.agent.act(obs, timestep=0, timesteps=0)
"""


def test_skrl_agent_calls_fail_on_skrl_2_and_pass_on_1(tmp_path: Path) -> None:
    tool = _tool()
    play = tmp_path / "scripts/reinforcement_learning/skrl/play.py"
    play.parent.mkdir(parents=True)
    play.write_text(PLAY_2X)
    assert tool.agent_call_problems(tmp_path, "2", SKRL_1) == []
    assert tool.agent_call_problems(tmp_path, "2", SKRL_2) == [
        "agent.set_running_mode() (scripts/reinforcement_learning/skrl/play.py:3): no such method",
        "agent.act() (scripts/reinforcement_learning/skrl/play.py:4): missing states",
    ]


def test_import_lines_are_read_from_the_wheel_sources() -> None:
    tool = _tool()
    files = {
        "skrl/__init__.py": "",
        "skrl/agents/torch/ppo/__init__.py": "from .ppo import PPO, PPO_CFG\n",
        "skrl/utils/runner/torch/__init__.py": "from skrl.utils.runner.torch.runner import Runner\n",
    }
    assert "PPO_DEFAULT_CONFIG" not in tool.defined_names(files, "skrl.agents.torch.ppo")
    assert "Runner" in tool.defined_names(files, "skrl.utils.runner.torch")
    assert tool.defined_names(files, "skrl.utils.model_instantiators.torch") is None


needs_mirrors = pytest.mark.skipif(
    not (FORK.is_dir() and UPSTREAM.is_dir()) or shutil.which("tabs") is None,
    reason=f"no Isaac Lab git mirrors under {MIRRORS} (set ISAACLAB_CHECK_MIRRORS), or no `tabs`",
)


def _offline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), "--fork", str(FORK), "--upstream", str(UPSTREAM), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )


@needs_mirrors
def test_offline_check_passes_on_the_fork_with_the_shipped_playbooks() -> None:
    done = _offline("--only", "1")
    assert done.returncode == 0 and done.stdout.rstrip().endswith("PASS"), done.stdout + done.stderr
    assert "skrl<1.5" in done.stdout and "FAIL" not in done.stdout


@needs_mirrors
def test_offline_check_fails_when_setup_no_longer_pins_rsl_rl(tmp_path: Path) -> None:
    books = tmp_path / "playbooks"
    shutil.copytree(shipped_dir(), books)
    setup = books / "setup.yaml"
    setup.write_text(setup.read_text().replace("rsl_rl.git@v2.0.1", "rsl_rl.git@v2.1.1"))
    rsl_rl = MIRRORS / "leggedrobotics+rsl_rl" / "repo"
    if not rsl_rl.is_dir():
        pytest.skip(f"no rsl_rl mirror at {rsl_rl}")
    done = _offline("--only", "1", "--playbooks", str(books), "--rsl-rl", str(rsl_rl))
    assert done.returncode == 1, done.stdout
    assert "FAIL  1 rsl_rl: rsl-rl@git+https://github.com/leggedrobotics/rsl_rl.git@v2.1.1" in done.stdout
    assert "declares 'rsl-rl-lib'; pip: inconsistent name" in done.stdout
