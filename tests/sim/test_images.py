"""Both Lambda Stack images (Ubuntu 22.04 and 24.04, x86_64 and arm64) in the API, and hosts that know theirs:
/etc/os-release, the system Python, and Ubuntu 24.04's venv without python3.12-venv (issue 25 item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from lambdabench.sim.api.catalog import DEFAULT_IMAGES, SimImage
from lambdabench.sim.hosts.manager import HostInfo, HostManager
from tests.sim import RecordingHosts, launch_id, make_sim
from tests.sim.test_hosts import Client, _free_port, requires_sshd

A100 = SimpleNamespace(name="gpu_1x_a100", gpus=1, gpu_model="NVIDIA A100-PCIE-40GB", gpu_memory_mib=40960)
GH200 = SimpleNamespace(name="gpu_1x_gh200", gpus=1, gpu_model="NVIDIA GH200 480GB", gpu_memory_mib=97871, arch="arm64")


def image(family: str, arch: str = "x86_64") -> SimImage:
    return next(i for i in DEFAULT_IMAGES if i.family == family and i.architecture == arch)


def test_both_lambda_stack_families_are_listed_for_both_architectures() -> None:
    _, client, _ = make_sim()
    listed = client.get("/images").json()["data"]
    east3 = {(i["family"], i["architecture"]): i["id"] for i in listed if i["region"]["name"] == "us-east-3"}
    for family in ("lambda-stack-22-04", "lambda-stack-24-04"):
        assert (family, "x86_64") in east3 and (family, "arm64") in east3
        assert east3[(family, "x86_64")] != east3[(family, "arm64")]
    assert {i["version"] for i in listed if i["family"] == "lambda-stack-24-04"} == {"24.4.4-2141"}


def test_a_launch_boots_the_image_it_names_else_the_latest_lambda_stack() -> None:
    hosts = RecordingHosts()
    core, client, clock = make_sim(hosts=hosts)
    launch_id(client)  # no image: Lambda's default
    launch_id(client, image={"family": "lambda-stack-22-04"})
    gh200 = {"instance_type_name": "gpu_1x_gh200", "region_name": "us-east-3"}
    launch_id(client, **gh200, image={"family": "lambda-stack-22-04"})
    arm_id = next(
        i["id"]
        for i in client.get("/images").json()["data"]
        if i["family"] == "lambda-stack-24-04" and i["architecture"] == "arm64" and i["region"]["name"] == "us-east-3"
    )
    launch_id(client, **gh200, image={"id": arm_id})
    clock.advance(2000)
    core.tick()
    booted = [(s["image"].family, s["image"].architecture, s["image"].release.version_id) for s in hosts.started]
    assert booted == [
        ("lambda-stack-24-04", "x86_64", "24.04"),
        ("lambda-stack-22-04", "x86_64", "22.04"),
        ("lambda-stack-22-04", "arm64", "22.04"),
        ("lambda-stack-24-04", "arm64", "24.04"),
    ]


PYHOST = Path(__file__).resolve().parents[2] / "lambdabench" / "sim" / "hosts" / "image" / "lib" / "pyhost"
# open() as Python 3.10's pathlib holds it: `open = io.open` on a class, called as a method (Lib/pathlib.py)
ACCESSOR_OPEN = """
import io, pathlib, sys
class Accessor:
    open = io.open
with Accessor().open(sys.argv[1]) as f:
    print(f.read().strip())
print(pathlib.Path("/etc/os-release").read_text().splitlines()[0])
"""


def _python310() -> list[str]:
    """A Python 3.10 on this machine, if one runs (lambdabench supports 3.10; the dev venv is 3.11)."""
    for exe in ["python3.10", *map(str, sorted(Path.home().glob(".pyenv/versions/3.10*/bin/python3.10")))]:
        try:
            ok = subprocess.run([exe, "--version"], capture_output=True, timeout=30).returncode == 0
        except OSError:
            continue
        if ok:
            return [exe]
    return []


@pytest.mark.parametrize("python", [sys.executable, *_python310()])
def test_the_os_release_redirect_leaves_open_as_a_class_attribute_working(tmp_path: Path, python: str) -> None:
    state = tmp_path / "state"
    (state / "sysroot" / "etc").mkdir(parents=True)
    (state / "sysroot" / "etc" / "os-release").write_text('PRETTY_NAME="Ubuntu 22.04.5 LTS"\n')
    plain = tmp_path / "plain.txt"
    plain.write_text("a plain file\n")
    env = {**os.environ, "PYTHONPATH": str(PYHOST), "LAMBDABENCH_SIM_STATE": str(state)}
    out = subprocess.run([python, "-c", ACCESSOR_OPEN, str(plain)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["a plain file", 'PRETTY_NAME="Ubuntu 22.04.5 LTS"']


# ---- on hosts (a real sshd each) -----------------------------------------------------------------


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[HostManager, Client, Path]]:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    manager = HostManager(tmp_path / "sim", port=_free_port())
    try:
        yield manager, Client(key, tmp_path / "known_hosts", manager.user), key
    finally:
        manager.close()


def boot(hosts: tuple[HostManager, Client, Path], iid: str, itype: object, img: SimImage | None) -> HostInfo:
    manager, _, key = hosts
    return manager.start(iid, authorized_key=key.with_suffix(".pub").read_text(), instance_type=itype, image=img)


OS_RELEASE = (
    'python3 -c \'import platform; r = platform.freedesktop_os_release(); print(r["VERSION_ID"], r["PRETTY_NAME"])\''
)


@requires_sshd
def test_a_host_has_its_images_os_release_and_system_python(hosts: tuple[HostManager, Client, Path]) -> None:
    _, client, _ = hosts
    jammy = boot(hosts, "jammy1", A100, image("lambda-stack-22-04"))
    noble = boot(hosts, "noble1", A100, None)  # no image asked: the latest Lambda Stack
    arm = boot(hosts, "arm1", GH200, image("lambda-stack-22-04", "arm64"))
    assert client.ok(jammy, OS_RELEASE).strip() == "22.04 Ubuntu 22.04.5 LTS"
    assert client.ok(noble, OS_RELEASE).strip() == "24.04 Ubuntu 24.04.4 LTS"
    assert client.ok(arm, OS_RELEASE).strip() == "22.04 Ubuntu 22.04.5 LTS"
    # the run record's environment lock reads the same file
    lock = "python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import env_lock; print(env_lock._os_image())' "
    workloads = Path(__file__).resolve().parents[2] / "lambdabench" / "workloads"
    assert client.ok(noble, lock + str(workloads)).strip() == "Ubuntu 24.04.4 LTS"
    assert client.ok(jammy, "python3 --version").strip() == "Python 3.10.12"
    assert client.ok(noble, "python3 --version; python3.12 --version").split() == ["Python", "3.12.3"] * 2
    assert client.ssh(jammy, "python3.12 --version").returncode == 127  # 22.04 has no python3.12
    assert client.ssh(noble, "python3.10 --version").returncode == 127


@requires_sshd
def test_ubuntu_24_04_venv_needs_python3_12_venv(hosts: tuple[HostManager, Client, Path]) -> None:
    _, client, _ = hosts
    noble = boot(hosts, "noble2", A100, image("lambda-stack-24-04"))
    made = client.ssh(noble, "python3 -m venv v")
    assert made.returncode == 1
    assert "because ensurepip is not\navailable" in made.stdout and "apt install python3.12-venv" in made.stdout
    assert client.ssh(noble, "v/bin/python -m pip --version").returncode == 1  # left half-made: no pip
    assert "No module named pip" in client.ssh(noble, "python3 -m pip --version").stderr
    client.ok(noble, "python3 -m venv --without-pip bare && bare/bin/python --version")
    client.ok(noble, "sudo apt-get install -y python3.12-venv >/dev/null")
    client.ok(noble, "python3 -m venv --clear v && v/bin/python -m pip --version")
    jammy = boot(hosts, "jammy2", A100, image("lambda-stack-22-04"))
    client.ok(jammy, "python3 -m venv v && test -x v/bin/pip")  # python3.10-venv is there (a guess)


@requires_sshd
def test_the_images_pip_never_installs_into_the_simulators_own_python(
    hosts: tuple[HostManager, Client, Path],
) -> None:
    _, client, _ = hosts
    jammy = boot(hosts, "jammy3", A100, image("lambda-stack-22-04"))
    site = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    before = sorted(os.listdir(site))
    # what the simulator's Python has is satisfied, as pip says it
    have = client.ssh(jammy, "python3 -m pip install -q --user 'httpx>=0.27' pyyaml")
    assert have.returncode == 0, have.stderr
    assert f"Requirement already satisfied: httpx in {site}" in have.stdout
    # anything else is refused in one line naming it, and nothing is fetched (PIP_NO_INDEX: never the index)
    missing = client.ssh(jammy, "PIP_NO_INDEX=1 python3 -m pip install -q --user httpx lambdabench-sim-absent==1.0")
    assert missing.returncode == 1
    assert "lambdabench-sim-absent not installed in the Python this simulator runs" in missing.stderr
    assert "lambdabench's mjx extra" in missing.stderr and "httpx" not in missing.stderr
    assert client.ssh(jammy, "python3 -m pip uninstall -y lambdabench-sim-absent").returncode == 1
    assert sorted(os.listdir(site)) == before
