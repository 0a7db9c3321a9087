"""The shipped Isaac Lab playbooks on a simulated instance over real SSH, against the stand-in that
follows the real scripts (docs/isaaclab-contract.md): each test fails on the pre-issue-14 playbooks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lambdabench.remote.playbook import find_playbook
from lambdabench.remote.runner import run_playbook
from lambdabench.remote.ssh import KnownHosts, Session
from lambdabench.secrets import Secret
from tests.remote.conftest import SSHD, SimHost, _keygen

NGC_KEY = "nvapi-sim-" + "p1ay" * 8
A10 = SimpleNamespace(name="gpu_1x_a10", gpus=1, gpu_model="NVIDIA A10", gpu_memory_mib=24564, rtx=True,
                      arch="x86_64", vcpus=30, memory_gib=200)  # fmt: skip
FACTS = {"name": "gpu_1x_a10", "gpus": 1, "gpu_model": "A10", "vram_gb": 24.0, "rtx": True, "arch": "x86_64"}


class Box:
    def __init__(self, host: SimHost, session: Session, tmp_path: Path) -> None:
        self.host, self.session, self.tmp = host, session, tmp_path
        self.facts: dict[str, Any] = dict(FACTS)
        self.n = 0

    @property
    def state(self) -> Path:
        return Path(self.host.manager.host_dir(self.host.instance_id))

    def play(self, name: str, **variables: str) -> Any:
        self.n += 1
        book = find_playbook(name)
        res = run_playbook(self.session, book, variables, self.facts, {"NGC_API_KEY": Secret(NGC_KEY)},
                           self.tmp / f"logs-{self.n}-{name}", poll_s=0.2)  # fmt: skip
        self.facts.update(res.facts)
        return res

    def ok(self, name: str, **variables: str) -> Any:
        res = self.play(name, **variables)
        assert res.ok, (res.error.one_line() if res.error else "", res.error.stderr_tail if res.error else "")
        return res

    def sh(self, command: str) -> str:
        return self.session.run(command, timeout=120).stdout


@pytest.fixture
def box(tmp_path: Path, known_hosts: KnownHosts) -> Iterator[Box]:
    from lambdabench.sim.hosts.manager import HostManager

    if not Path(SSHD).exists():
        pytest.skip("needs OpenSSH sshd")
    key = tmp_path / "lbhome" / "id_ed25519"
    key.parent.mkdir(exist_ok=True)
    _keygen(key)
    manager = HostManager(tmp_path / "sim", ngc_api_key=NGC_KEY)
    instance_id = os.urandom(16).hex()
    try:
        info = manager.start(instance_id, authorized_key=Path(str(key) + ".pub").read_text(), instance_type=A10)
        (Path(manager.host_dir(instance_id)) / "docker.json").write_text(
            json.dumps({"pull_seconds": 0.1, "small_pull_seconds": 0.0, "build_seconds": 0.0})
        )
        host = SimHost(manager, info.ip, info.port, manager.disk_dir(instance_id), key, instance_id)
        session = Session(host.target(), known_hosts=known_hosts)
        session.open()
        try:
            yield Box(host, session, tmp_path)
        finally:
            session.close()
    finally:
        manager.close()


def _log(res: Any, step: str) -> str:
    found = [s for s in res.steps if s.name == step]
    assert found and found[0].log_path, f"no step {step!r}"
    return Path(found[0].log_path).read_text()


def test_setup_1x_starts_the_fork_on_a_fresh_box(box: Box) -> None:
    res = box.ok("setup")
    assert "rsl_rl@v2.0.1:source/extensions/omni.isaac.lab_tasks/setup.py" in res.facts["isaaclab_patches"]
    assert res.facts["yq"].endswith("/yq") and res.facts["isaaclab_release"] == "1.0.0"  # the fork's VERSION file
    assert "X11 Forwarding is configured as 0" in _log(res, "start the container")
    state = (box.host.home / "IsaacLab/docker/.container.yaml").read_text()
    assert "__ISAACLAB_X11_FORWARDING_ENABLED" in state
    assert res.facts["vulkan_icd"] == "present" and res.facts["nvidia_gl"] == "installed"
    # train and play with the fork's flags: rsl_rl's checkpoint by run folder + file regex, sb3 without video
    box.ok("isaaclab-train", library="rsl_rl", max_iterations="3", num_envs="16")
    run = box.sh("docker exec isaac-lab-base bash -c 'ls /workspace/isaaclab/logs/rsl_rl/cartpole'").split()[-1]
    checkpoint = f"/workspace/isaaclab/logs/rsl_rl/cartpole/{run}/model_3.pt"
    played = box.ok("isaaclab-play", library="rsl_rl", checkpoint=checkpoint, play_seconds="4")
    assert f"Loading model checkpoint from: {checkpoint}" in _log(played, "play")
    # stopped before its clip was written (video_length steps never reached): not a success
    early = box.play("isaaclab-play", library="rsl_rl", checkpoint=checkpoint, play_seconds="3", video_length="100000")
    assert not early.ok and "before playback ended" in early.error.stderr_tail
    box.ok("isaaclab-train", library="sb3", max_iterations="2", num_envs="16")
    run = box.sh("docker exec isaac-lab-base bash -c 'ls /workspace/isaaclab/logs/sb3/Isaac-Cartpole-v0'").split()[-1]
    box.ok("isaaclab-play", library="sb3", checkpoint=f"/workspace/isaaclab/logs/sb3/Isaac-Cartpole-v0/{run}/model.zip",
           play_seconds="3")  # fmt: skip


def test_setup_2x_pins_flatdict_and_checks_the_import(box: Box) -> None:
    res = box.ok("setup", isaaclab_version="2")
    assert "flatdict==4.0.0:source/isaaclab/setup.py" in res.facts["isaaclab_patches"]
    assert "skrl<2:source/isaaclab_rl/setup.py" in res.facts["isaaclab_patches"]  # 2.x play.py needs skrl 1.x
    assert res.facts["isaaclab_release"] == "2.1.0"
    unpatched = box.play("setup", isaaclab_version="2", repo_dir="plain", patch_build="false")
    assert not unpatched.ok and "isaac lab imports in the container" in unpatched.error.message
    assert "No module named 'isaaclab'" in unpatched.error.stderr_tail


def test_2x_play_stops_inside_the_container_after_play_seconds(box: Box) -> None:
    box.ok("setup", isaaclab_version="2")
    box.ok("isaaclab-train", isaaclab_version="2", library="skrl", max_iterations="3", num_envs="16")
    run = box.sh("docker exec isaac-lab-base bash -c 'ls /workspace/isaaclab/logs/skrl/cartpole'").split()[-1]
    checkpoint = f"/workspace/isaaclab/logs/skrl/cartpole/{run}/checkpoints/best_agent.pt"
    res = box.ok("isaaclab-play", isaaclab_version="2", library="skrl", checkpoint=checkpoint,
                 disable_video="true", play_seconds="3")  # fmt: skip
    assert "Closing the app" in _log(res, "play")  # SIGINT from timeout inside the container
    ps = box.sh(
        "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c 'skrl/[p]lay.py' || true"
    )
    assert ps.strip() == "0"


def test_benchmark_writes_its_kpi_file_into_the_logs_volume(box: Box) -> None:
    from lambdabench.metrics.kpi import read_benchmark_artifacts

    box.ok("setup", isaaclab_version="2")
    box.ok("isaaclab-benchmark", benchmark="non_rl", num_envs="32", num_frames="20")
    box.ok("collect", pull="false")
    summary = read_benchmark_artifacts(box.host.home / "lambdabench-artifacts")
    assert summary is not None and summary.env_steps_per_s and summary.env_steps_per_s > 0
    assert summary.env_steps_source == "kpis_benchmark_non_rl.json: Environment step effective FPS"


def test_no_vulkan_fails_fast_with_the_reason(box: Box) -> None:
    box.facts.update({"vulkan_icd": "missing", "nvidia_gl": "missing"})
    res = box.play("isaaclab-train", library="skrl")
    assert not res.ok and "vulkan on this box" in res.error.message
    assert "Isaac Sim needs Vulkan even headless" in res.error.stderr_tail
