"""The isaaclab3-* playbooks: their GPU gates per instance type, and setup → train → play → collect on
simulated hosts (a real sshd per host, the instance image on PATH) through lambdabench's own runner."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lambdabench.cloud.gpus import type_facts
from lambdabench.cloud.models import InstanceType
from lambdabench.remote.playbook import check_requirements, find_playbook
from lambdabench.remote.runner import PlaybookResult, run_playbook
from lambdabench.sim.api.catalog import DEFAULT_IMAGES, DEFAULT_TYPES
from lambdabench.sim.hosts.manager import HostManager

needs_sshd = pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="OpenSSH sshd not installed")
TYPES = {t.name: t for t in DEFAULT_TYPES}
INDEX = json.loads((Path(__file__).resolve().parents[2] / "lambdabench/sim/isaaclab/isaaclab3/index.json").read_text())


def facts_of(name: str) -> dict[str, Any]:
    t = TYPES[name]
    return type_facts(InstanceType(name=t.name, gpu_description=t.gpu_description, gpus=t.gpus))


def problems(playbook: str, type_name: str, **sets: str) -> list[str]:
    return check_requirements(find_playbook(playbook), sets, facts_of(type_name))


# ---- gates -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "type_name",
    ["gpu_1x_a100", "gpu_1x_h100_sxm5", "gpu_8x_a100_80gb_sxm4", "gpu_8x_b200_sxm6", "gpu_1x_gh200", "gpu_1x_a10"],
)
@pytest.mark.parametrize("playbook", ["isaaclab3-train", "isaaclab3-play"])
def test_kitless_training_and_playback_run_on_gpus_without_rt_cores_and_on_gh200(playbook: str, type_name: str) -> None:
    assert problems(playbook, type_name) == []


def test_cameras_render_kitless_with_their_default_newton_renderer_and_rtx_presets_are_refused() -> None:
    # issue 25.7: on 3.0 a camera task's default renderer is Newton's Warp renderer (isaaclab_tasks/utils/
    # presets.py:24-29): no newton_renderer preset needed, and no physics preset forced
    task = {"task": "Isaac-Cartpole-Camera-Direct"}
    assert problems("isaaclab3-train", "gpu_1x_h100_sxm5", **task) == []
    assert problems("isaaclab3-train", "gpu_1x_h100_sxm5", presets="newton_mjwarp,newton_renderer", **task) == []
    (rtx, kit) = problems("isaaclab3-train", "gpu_1x_h100_sxm5", presets="isaacsim_rtx", **task)
    assert "no RT cores" in rtx and "needs Isaac Sim" in kit


def test_presets_default_to_the_tasks_own_and_rl_games_is_refused_before_launch() -> None:
    assert find_playbook("isaaclab3-train").vars["presets"].default == ""
    (rl_games,) = problems("isaaclab3-train", "gpu_1x_h100_sxm5", library="rl_games")
    assert "no rl-games extra" in rl_games and "library=rsl_rl" in rl_games
    assert problems("isaaclab3-setup", "gpu_1x_h100_sxm5", library="rl_games")


@pytest.mark.parametrize("sets", [{"video": "true"}, {"livestream": "2"}, {"presets": "newton_mjwarp,isaacsim_rtx"}])
def test_what_needs_rtx_is_refused_on_h100_with_the_reason_and_on_a10_because_kit_is_absent(
    sets: dict[str, str],
) -> None:
    on_h100 = problems("isaaclab3-train", "gpu_1x_h100_sxm5", **sets)
    assert "H100 has no RT cores" in on_h100[0]
    on_a10 = problems("isaaclab3-train", "gpu_1x_a10", **sets)
    assert len(on_a10) == 1 and ("Kit" in on_a10[0] or "Isaac Sim" in on_a10[0])


def test_physx_presets_sb3_on_many_gpus_and_gpu_less_types_are_refused() -> None:
    assert "needs Isaac Sim (PhysX, RTX)" in problems("isaaclab3-train", "gpu_1x_a100", presets="isaacsim_physx")[0]
    (sb3,) = problems("isaaclab3-train", "gpu_8x_h100_sxm5", library="sb3")
    assert "sb3 cannot train on several GPUs" in sb3 and "multi_gpu=off" in sb3
    assert problems("isaaclab3-train", "gpu_8x_h100_sxm5", library="sb3", multi_gpu="off") == []
    assert "at least 1 GPU" in problems("isaaclab3-train", "cpu_4x_general")[0]


# ---- on simulated hosts --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SimBox:
    """One simulated instance (HostManager: sshd, image, disk) and a lambdabench SSH session to it."""

    def __init__(self, root: Path, type_name: str, image: str = "lambda-stack-22-04") -> None:
        from lambdabench.remote.ssh import KnownHosts, SshTarget, wait_for_ssh

        t = TYPES[type_name]
        booted = next(i for i in DEFAULT_IMAGES if i.family == image and i.architecture == t.arch)
        key = root / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        self.root = root
        self.manager = HostManager(root / "sim", port=_free_port())
        spec = SimpleNamespace(
            name=t.name, gpus=t.gpus, gpu_model=t.gpu_model, gpu_memory_mib=t.gpu_memory_mib, rtx=t.rtx, arch=t.arch
        )
        info = self.manager.start(
            "i-il3", authorized_key=key.with_suffix(".pub").read_text(), instance_type=spec, image=booted
        )
        self.home = self.manager.host_dir("i-il3") / "disk"
        self.state = self.manager.host_dir("i-il3")
        target = SshTarget(host=info.ip, port=info.port, user=self.manager.user, key_path=key, instance_id="i-il3")
        self.session = wait_for_ssh(target, timeout=60, known_hosts=KnownHosts(root / "known_hosts"))
        self.facts: dict[str, Any] = facts_of(type_name)

    def play(self, name: str, **sets: str) -> PlaybookResult:
        result = run_playbook(
            self.session,
            find_playbook(name),
            sets,
            self.facts,
            {},
            self.root / "logs" / name,
            local_dir=self.root / "local",
            poll_s=0.1,
        )
        self.facts.update(result.facts)
        return result

    def close(self) -> None:
        self.session.close()
        self.manager.close()


@pytest.fixture
def a100(tmp_path: Path) -> Iterator[SimBox]:
    box = SimBox(tmp_path, "gpu_1x_a100")  # Lambda Stack 22.04: Python 3.10, no python3.12
    yield box
    box.close()


@pytest.fixture
def noble(tmp_path: Path) -> Iterator[SimBox]:
    box = SimBox(tmp_path, "gpu_1x_h100_sxm5", image="lambda-stack-24-04")  # python3.12 without ensurepip
    yield box
    box.close()


def step_log(result: PlaybookResult, name: str) -> str:
    step = next(s for s in result.steps if s.name == name)
    return Path(step.log_path).read_text() if step.log_path else ""


@needs_sshd
def test_setup_train_play_collect_on_a_simulated_a100(a100: SimBox) -> None:
    setup = a100.play("isaaclab3-setup")
    assert setup.ok, setup.error
    f = a100.facts
    assert f["il3_python_version"].startswith("3.12.") and f["il3_venv"] == f"{a100.home}/isaaclab3-venv"
    assert f["il3_installer"] == f"{a100.home}/.local/bin/uv"  # no uv on the image: astral's installer put it there
    assert (f["il3_isaaclab"], f["il3_torch"], f["il3_warp"], f["il3_newton"], f["il3_rsl_rl"]) == (
        "3.0.0",
        "2.11.0",
        "1.17.0",
        "1.6.1",
        "5.5.1",
    )
    again = a100.play("isaaclab3-setup")  # a second set-up reuses the venv and skips the install
    assert again.ok and again.facts["il3_venv_reused"] == "true" and again.facts["il3_install"] == "skipped"
    train = a100.play("isaaclab3-train", num_envs="16", max_iterations="3")
    assert train.ok, train.error
    assert [s.name for s in train.steps if not s.skipped] == ["asset mirror and kernel cache", "train"]
    # Warp's kernel cache: the default under the run's HOME, empty before this first run
    assert train.facts["il3_warp_cache"] == f"{a100.home}/.cache/warp/1.17.0"
    assert train.facts["il3_warp_cache_state"] == "cold"
    assert "Training time:" in step_log(train, "train")
    play = a100.play("isaaclab3-play", play_seconds="3", num_envs="4")
    assert play.ok, play.error  # SIGINT after play_seconds: a clean stop, exit 0
    assert "Policy playback is running" in step_log(play, "play")
    collect = a100.play("isaaclab3-collect")
    assert collect.ok, collect.error
    (run,) = (a100.root / "local" / "artifacts" / "rsl_rl" / "cartpole_direct").iterdir()
    names = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}
    assert {
        "run.json",
        "params/env.yaml",
        "params/agent.yaml",
        "model_0.pt",
        "model_2.pt",
        "exported/policy.pt",
        "exported/policy.onnx",
    } <= names
    assert any(n.startswith("events.out.tfevents.") for n in names)


@needs_sshd
def test_setup_offline_needs_a_312_and_installs_from_the_wheel_folder(a100: SimBox) -> None:
    (a100.state / "network").write_text("off\n")
    folder = a100.home / "wheels"
    folder.mkdir()
    for dist in INDEX["distributions"]:
        (folder / dist["wheel"]).write_bytes(b"")
    refused = a100.play("isaaclab3-setup", wheels=str(folder))
    assert not refused.ok
    log = step_log(refused, "python 3.12 venv")
    assert "no Python 3.12 and no uv on this box, and wheels= means no network to fetch them: set python=" in log
    # a 3.12 the user provides (here: one uv made earlier, while the box had network)
    (a100.state / "network").write_text("on\n")
    made = a100.session.run(
        "curl -LsSf https://astral.sh/uv/install.sh | sh >/dev/null && "
        "~/.local/bin/uv python install 3.12 && ~/.local/bin/uv python find 3.12",
        timeout=120,
    )
    python = made.stdout.strip().splitlines()[-1]
    a100.session.run("rm -rf ~/.local/bin", timeout=30)
    (a100.state / "network").write_text("off\n")
    setup = a100.play("isaaclab3-setup", wheels=str(folder), python=python)
    assert setup.ok, setup.error
    assert a100.facts["il3_installer"] == "pip" and a100.facts["il3_isaaclab"] == "3.0.0"
    pip_log = step_log(setup, "install isaaclab")
    assert "Successfully installed" in pip_log and "isaaclab-3.0.0" in pip_log
    # the task's USD: Isaac's https asset root is out of reach too, a mirror on the box is not
    offline = a100.play("isaaclab3-train", num_envs="8", max_iterations="1")
    assert not offline.ok and "Failed to download https://" in step_log(offline, "train")
    usd = a100.home / "assets" / "Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd"
    usd.parent.mkdir(parents=True)
    usd.write_text("#usda 1.0\n")
    # issue 26.3: a mirror with the robot but not the ground plane is refused in one line before training
    no_ground = a100.play("isaaclab3-train", num_envs="8", max_iterations="1", asset_root=str(a100.home / "assets"))
    assert not no_ground.ok and [s.name for s in no_ground.steps if not s.skipped] == ["asset mirror and kernel cache"]
    (line,) = [x for x in step_log(no_ground, "asset mirror and kernel cache").splitlines() if "isaaclab3-train:" in x]
    assert "isaaclab3-train: the asset mirror" in line and "default_ground_plane.usda" in line
    ground = a100.home / "assets" / "Isaac/IsaacLab/Environments/Grid/default_ground_plane_checker_v1"
    ground.mkdir(parents=True)
    (ground / "default_ground_plane.usda").write_text("#usda 1.0\n")
    trained = a100.play("isaaclab3-train", num_envs="8", max_iterations="1", asset_root=str(a100.home / "assets"))
    assert trained.ok, trained.error


@needs_sshd
def test_setup_never_installs_into_an_activated_venv(a100: SimBox) -> None:
    import dataclasses

    a100.session.run(
        "curl -LsSf https://astral.sh/uv/install.sh | sh >/dev/null && ~/.local/bin/uv venv decoy", timeout=120
    )
    playbook = find_playbook("isaaclab3-setup")
    activated = dataclasses.replace(playbook, env={**playbook.env, "VIRTUAL_ENV": f"{a100.home}/decoy"})
    result = run_playbook(
        a100.session, activated, {}, a100.facts, {}, a100.root / "l", local_dir=a100.root / "local", poll_s=0.1
    )
    assert result.ok, result.error
    assert result.facts["il3_venv"] == f"{a100.home}/isaaclab3-venv"
    assert not list((a100.home / "decoy").rglob("isaaclab-3.0.0.dist-info"))
    assert list((a100.home / "isaaclab3-venv").rglob("isaaclab-3.0.0.dist-info"))


@needs_sshd
def test_setup_skips_the_install_where_isaaclab_already_imports_even_offline_with_other_pins(a100: SimBox) -> None:
    # issue 26.1: on the GPU machine a venv that already had isaaclab 3.0.0 (with the image's transformers
    # 5.17.0, not isaaclab's pin 5.10.4) failed "install isaaclab": pip re-resolved the pins
    assert a100.play("isaaclab3-setup").ok
    site = next((a100.home / "isaaclab3-venv" / "lib").glob("python3.12/site-packages"))
    for old in site.glob("transformers-*.dist-info"):
        old.rename(site / "transformers-5.17.0.dist-info")
    (a100.state / "network").write_text("off\n")
    again = a100.play("isaaclab3-setup")
    assert again.ok, again.error
    assert again.facts["il3_install"] == "skipped" and again.facts["il3_isaaclab"] == "3.0.0"
    assert "install skipped" in step_log(again, "install isaaclab")
    forced = a100.play("isaaclab3-setup", reinstall="true")  # reinstall forces pip, which needs the index
    assert not forced.ok and "python 3.12 venv" in [s.name for s in forced.steps if not s.skipped]


@needs_sshd
def test_setup_installs_a_wheelhouse_as_it_is_with_no_deps(a100: SimBox) -> None:
    # issue 26.1: a wheelhouse that holds only what the kitless path imports (torch from the image)
    made = a100.session.run(
        "curl -LsSf https://astral.sh/uv/install.sh | sh >/dev/null && "
        "~/.local/bin/uv python install 3.12 && ~/.local/bin/uv python find 3.12",
        timeout=120,
    )
    python = made.stdout.strip().splitlines()[-1]
    a100.session.run("rm -rf ~/.local/bin", timeout=30)
    (a100.state / "network").write_text("off\n")
    folder = a100.home / "wheels"
    folder.mkdir()
    for name in (
        "isaaclab-3.0.0-py3-none-any.whl",
        "rsl_rl_lib-5.5.1-py3-none-any.whl",
        "warp_lang-1.17.0-py3-none-manylinux_2_28_x86_64.whl",
    ):
        (folder / name).write_bytes(b"")
    resolving = a100.play("isaaclab3-setup", wheels=str(folder), python=python)
    assert not resolving.ok  # isaaclab's whole closure is not in the folder: pip's resolver stops
    short = a100.play("isaaclab3-setup", wheels=str(folder), python=python, no_deps="true", reinstall="true")
    assert not short.ok  # what the kitless path needs is not all there: one line names the first missing
    (line,) = [x for x in step_log(short, "versions").splitlines() if "isaaclab3-setup:" in x]
    assert "is not installed in the venv" in line and "no_deps=true" in line
    for name in ("torch-2.11.0-cp312-cp312-manylinux_2_28_x86_64.whl", "newton-1.6.1-py3-none-any.whl"):
        (folder / name).write_bytes(b"")
    setup = a100.play("isaaclab3-setup", wheels=str(folder), python=python, no_deps="true", reinstall="true")
    assert setup.ok, setup.error
    assert setup.facts["il3_install"] == "no-deps" and setup.facts["il3_isaaclab"] == "3.0.0"
    assert setup.facts["il3_rsl_rl"] == "5.5.1" and setup.facts["il3_warp"] == "1.17.0"
    site = next((a100.home / "isaaclab3-venv" / "lib").glob("python3.12/site-packages"))
    assert len(list(site.glob("*.dist-info"))) == 5 + 1  # the five wheels and pip, nothing resolved
    refused = a100.play("isaaclab3-setup", no_deps="true")
    assert not refused.ok
    assert "no_deps=true needs wheels=<folder>" in step_log(refused, "python 3.12 venv")


@needs_sshd
def test_setup_refuses_a_driver_older_than_r580_in_one_line(a100: SimBox) -> None:
    # issue 25.5: torch 2.11.0 from PyPI is a CUDA 13.0 build (R580+); a Lambda H100 was seen on 570
    spec = json.loads((a100.state / "gpu.json").read_text())
    spec["driver"] = "570.148.08"
    (a100.state / "gpu.json").write_text(json.dumps(spec))
    old = a100.play("isaaclab3-setup")
    assert not old.ok and [s.name for s in old.steps if not s.skipped] == ["nvidia driver"]
    (line,) = [x for x in step_log(old, "nvidia driver").splitlines() if "isaaclab3-setup:" in x]
    assert "NVIDIA driver 570.148.08 is older than R580" in line
    # issue 25.5: the refusal names the exact setting that works on this box
    assert "add --set torch_index=https://download.pytorch.org/whl/cu128 " in line
    # a CUDA 13 build from PyTorch's own index needs R580 as well: the same one line
    cu130 = a100.play("isaaclab3-setup", torch_index="https://download.pytorch.org/whl/cu130")
    assert not cu130.ok and "--set torch_index=https://download.pytorch.org/whl/cu128" in step_log(
        cu130, "nvidia driver"
    )


@needs_sshd
def test_on_r570_the_cuda_128_torch_sets_up_and_trains_and_pypis_cuda_13_torch_does_not(a100: SimBox) -> None:
    """Issue 25.5, both outcomes on the simulated R570 box (its nvidia-smi reports the driver)."""
    spec = json.loads((a100.state / "gpu.json").read_text())
    a100.play("isaaclab3-setup")  # on R580: PyPI's torch 2.11.0, a CUDA 13.0 build
    spec["driver"] = "570.148.08"
    (a100.state / "gpu.json").write_text(json.dumps(spec))
    dies = a100.play("isaaclab3-train", num_envs="8", max_iterations="1")
    assert not dies.ok
    assert "The NVIDIA driver on your system is too old (found version 12080)" in step_log(dies, "train")
    ok = a100.play("isaaclab3-setup", torch_index="https://download.pytorch.org/whl/cu128")
    assert ok.ok, ok.error
    assert ok.facts["driver_version"] == "570.148.08" and ok.facts["il3_torch"] == "2.11.0+cu128"
    assert ok.facts["il3_torch_build"] == "2.11.0+cu128"
    trains = a100.play("isaaclab3-train", num_envs="8", max_iterations="1")
    assert trains.ok, trains.error


@needs_sshd
def test_setup_reuses_the_images_torch_through_system_site_packages_even_from_a_venvs_python(a100: SimBox) -> None:
    # issue 26.2: the GPU machine's python3 is itself a venv's (/opt/torch/.venv) holding torch 2.11+cu130;
    # a venv made from it with --system-site-packages sees only the base interpreter's packages, so the
    # set-up chains that venv's site-packages in with a .pth file
    made = a100.session.run(
        "curl -LsSf https://astral.sh/uv/install.sh | sh >/dev/null && "
        "~/.local/bin/uv python install 3.12 && ~/.local/bin/uv venv --seed image-venv",
        timeout=120,
    )
    assert made.exit_status == 0, made.stderr
    a100.session.run("rm -rf ~/.local/bin", timeout=30)
    parent_site = a100.home / "image-venv" / "lib" / "python3.12" / "site-packages"
    torch = parent_site / "torch-2.11.0+cu130.dist-info"
    torch.mkdir()
    (torch / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.11.0+cu130\n")
    (a100.state / "network").write_text("off\n")
    folder = a100.home / "wheels"
    folder.mkdir()
    for name in (
        "isaaclab-3.0.0-py3-none-any.whl",
        "rsl_rl_lib-5.5.1-py3-none-any.whl",
        "newton-1.6.1-py3-none-any.whl",
        "warp_lang-1.17.0-py3-none-manylinux_2_28_x86_64.whl",
    ):
        (folder / name).write_bytes(b"")
    setup = a100.play(
        "isaaclab3-setup",
        python=str(a100.home / "image-venv" / "bin" / "python"),
        system_site_packages="true",
        wheels=str(folder),
        no_deps="true",
    )
    assert setup.ok, setup.error
    f = setup.facts
    assert f["il3_system_site_packages"] == "true" and f["il3_parent_site"] == str(parent_site)
    assert f["il3_torch"] == "2.11.0+cu130"  # the image's, not installed into the new venv
    site = a100.home / "isaaclab3-venv" / "lib" / "python3.12" / "site-packages"
    assert not list(site.glob("torch-*.dist-info"))
    assert (site / "lambdabench-parent-venv.pth").read_text().strip() == str(parent_site)


@needs_sshd
def test_setup_on_ubuntu_24_04_without_python3_12_venv_makes_the_venv_with_uv(noble: SimBox) -> None:
    # issue 25.6: Lambda Stack 24.04's python3.12 has no ensurepip (python3.12-venv): venv stops, uv takes over
    made = noble.session.run("python3.12 -m venv probe", timeout=60, check=False)
    assert made.exit_status == 1 and "ensurepip is not" in made.stdout and "apt install python3.12-venv" in made.stdout
    setup = noble.play("isaaclab3-setup")
    assert setup.ok, setup.error
    f = noble.facts
    assert f["il3_venv_fallback"] == "uv" and f["il3_installer"] == f"{noble.home}/.local/bin/uv"
    assert f["il3_python_version"] == "3.12.3" and f["il3_isaaclab"] == "3.0.0"  # the image's own 3.12
    train = noble.play("isaaclab3-train", num_envs="8", max_iterations="1")
    assert train.ok, train.error
