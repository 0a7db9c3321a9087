"""The simulator's hosts: real sshd per instance, the instance image, host faults, clean teardown."""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from lambdabench.errors import SimulatorError
from lambdabench.sim.hosts.manager import IMAGE_DIR, HostInfo, HostManager

SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parents[2]
requires_sshd = pytest.mark.skipif(not Path(SSHD).is_file(), reason=f"OpenSSH sshd not installed at {SSHD}")
A10 = SimpleNamespace(name="gpu_1x_a10", gpus=1, gpu_model="NVIDIA A10", gpu_memory_mib=23028, rtx=True)
H100X8 = SimpleNamespace(name="gpu_8x_h100_sxm5", gpus=8, gpu_model="NVIDIA H100 80GB HBM3", gpu_memory_mib=81559)
CPU = SimpleNamespace(name="cpu_4x_general", gpus=0)


# ---- helpers -----------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")


def _processes_mentioning(text: str) -> list[int]:
    """Live pids whose command line or environment mentions text (our sshds and sessions)."""
    needle, found = text.encode(), []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            blob = Path(f"/proc/{name}/cmdline").read_bytes()
            blob += Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if needle in blob and _alive(int(name)):
            found.append(int(name))
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _wait_for(predicate, timeout: float = 10.0, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class Client:
    """The real OpenSSH client tools pointed at one test's key and known_hosts."""

    def __init__(self, key: Path, known_hosts: Path, user: str) -> None:
        self.key, self.known_hosts, self.user = key, known_hosts, user

    def options(self, port: int) -> list[str]:
        return [
            "-F", "/dev/null", "-i", str(self.key), "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
        ]  # fmt: skip

    def ssh_argv(self, info: HostInfo, command: str) -> list[str]:
        return [
            "ssh",
            *self.options(info.port),
            "-p",
            str(info.port),
            f"{self.user}@{info.ip}",
            command,
        ]

    def ssh(
        self, info: HostInfo, command: str, *, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.ssh_argv(info, command),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, info: HostInfo, command: str, *, input: str | None = None) -> str:
        done = self.ssh(info, command, input=input)
        assert done.returncode == 0, f"{command!r} -> {done.returncode}: {done.stderr}"
        return done.stdout


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[HostManager]:
    """A HostManager under tmp_path; afterwards no sshd or session of it may be left alive."""
    # a port of its own: other test runs on this box hold 127.0.0.N:22 at unpredictable times
    hosts = HostManager(tmp_path / "sim", port=_free_port())
    try:
        yield hosts
    finally:
        hosts.close()
        marker = str(tmp_path / "sim")
        assert _wait_for(lambda: not _processes_mentioning(marker), 5), _processes_mentioning(marker)


@pytest.fixture
def client(tmp_path: Path, key: Path, manager: HostManager) -> Client:
    return Client(key, tmp_path / "known_hosts", manager.user)


def _start(manager: HostManager, key: Path, iid: str, itype: object = A10, **faults: object) -> HostInfo:
    return manager.start(iid, authorized_key=key.with_suffix(".pub").read_text(), instance_type=itype, faults=faults)


def _argv_log(manager: HostManager, iid: str) -> list[dict[str, object]]:
    text = (manager.host_dir(iid) / "argv.log").read_text()
    return [json.loads(line) for line in text.splitlines()]


# ---- the instance image without sshd -----------------------------------------------------------


def _image(state: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{IMAGE_DIR / 'bin'}:/usr/bin:/bin",
        "LAMBDABENCH_SIM_STATE": str(state),
        "LAMBDABENCH_SIM_PYTHON": sys.executable,
        "LAMBDABENCH_SIM_USER": "ubuntu",
    }
    return subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=30)


def _gpu_state(tmp_path: Path, gpus: int, model: str = "NVIDIA A10", memory: int = 23028) -> Path:
    state = tmp_path / "state"
    (state / "busy").mkdir(parents=True)
    spec = {
        "gpus": gpus,
        "model": model,
        "memory_mib": memory,
        "driver": "580.95.05",
        "cuda": "13.0",
    }
    spec["uuids"] = [f"GPU-{i:08x}-aaaa-bbbb-cccc-{i:012x}" for i in range(gpus)]
    (state / "gpu.json").write_text(json.dumps(spec))
    return state


def test_nvidia_smi_query_csv_matches_the_real_formats(tmp_path: Path) -> None:
    state = _gpu_state(tmp_path, 2, "NVIDIA H100 80GB HBM3", 81559)
    fields = (
        "index,name,uuid,driver_version,memory.total,memory.used,utilization.gpu,power.draw,clocks.sm,temperature.gpu"
    )
    out = _image(state, "nvidia-smi", f"--query-gpu={fields}", "--format=csv").stdout.splitlines()
    assert out[0] == (
        "index, name, uuid, driver_version, memory.total [MiB], memory.used [MiB], "
        "utilization.gpu [%], power.draw [W], clocks.current.sm [MHz], temperature.gpu"
    )
    rows = [line.split(", ") for line in out[1:]]
    assert [r[0] for r in rows] == ["0", "1"]
    assert rows[1][1:4] == [
        "NVIDIA H100 80GB HBM3",
        "GPU-00000001-aaaa-bbbb-cccc-000000000001",
        "580.95.05",
    ]
    assert rows[0][4] == "81559 MiB" and rows[0][5].endswith(" MiB") and rows[0][6].endswith(" %")
    assert rows[0][7].endswith(" W") and len(rows[0][7].split()[0].split(".")[1]) == 2
    assert rows[0][8].endswith(" MHz") and rows[0][9].isdigit()

    bare = _image(
        state,
        "nvidia-smi",
        "--query-gpu=memory.total,power.draw,name",
        "--format=csv,noheader,nounits",
    )
    first = bare.stdout.splitlines()[0].split(", ")
    assert first[0] == "81559" and float(first[1]) > 0 and first[2] == "NVIDIA H100 80GB HBM3"
    assert len(bare.stdout.splitlines()) == 2

    listed = _image(state, "nvidia-smi", "-L").stdout.splitlines()
    assert listed[1] == "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-00000001-aaaa-bbbb-cccc-000000000001)"
    table = _image(state, "nvidia-smi").stdout
    assert "CUDA Version: 13.0" in table and table.count("NVIDIA H100 80GB HBM3") == 2
    assert {len(line) for line in table.splitlines()[1:] if line} == {91}

    bad = _image(state, "nvidia-smi", "--query-gpu=index,bogus.field", "--format=csv")
    assert bad.returncode == 2 and 'Field "bogus.field" is not a valid field to query.' in bad.stdout


def test_nvidia_smi_answers_the_lock_query_and_the_power_limit_fault(tmp_path: Path) -> None:
    """env_lock.py's query (lambdabench/workloads/env_lock.py QUERY); the power_limit fault caps some GPUs as
    `nvidia-smi -pl` does (power.max_limit unchanged), or makes nvidia-smi answer [N/A] for the limit."""
    from lambdabench.workloads.env_lock import QUERY

    state = _gpu_state(tmp_path, 2, "NVIDIA H100 80GB HBM3", 81559)
    query = ["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"]
    assert _image(state, *query).stdout.splitlines() == ["NVIDIA H100 80GB HBM3, 700.00, 1980, 2619"] * 2
    head = _image(state, "nvidia-smi", f"--query-gpu={QUERY}", "--format=csv").stdout.splitlines()
    assert head == [
        "name, power.limit [W], clocks.max.sm [MHz], clocks.max.memory [MHz]",
        *["NVIDIA H100 80GB HBM3, 700.00 W, 1980 MHz, 2619 MHz"] * 2,
    ]
    (state / "faults.json").write_text(json.dumps({"power_limit": {"watts": 500.0, "gpus": [1]}}))
    assert _image(state, *query).stdout.splitlines()[1] == "NVIDIA H100 80GB HBM3, 500.00, 1980, 2619"
    limits = ["nvidia-smi", "--query-gpu=power.limit,enforced.power.limit,power.max_limit", "--format=csv,noheader"]
    assert _image(state, *limits).stdout.splitlines() == [
        "700.00 W, 700.00 W, 700.00 W",
        "500.00 W, 500.00 W, 700.00 W",
    ]
    (state / "busy" / "train").write_text(str(os.getpid()))
    draw = _image(state, "nvidia-smi", "--query-gpu=power.draw", "--format=csv,noheader,nounits").stdout.split()
    assert float(draw[1]) <= 500.0 * 0.93 + 0.01 and float(draw[0]) >= 700.0 * 0.68  # a capped GPU draws under its cap
    assert " 500W " in _image(state, "nvidia-smi").stdout
    (state / "faults.json").write_text(json.dumps({"power_limit": {"watts": None, "gpus": None}}))
    assert _image(state, *query).stdout.splitlines() == ["NVIDIA H100 80GB HBM3, [N/A], 1980, 2619"] * 2
    assert _image(state, *limits[:2], "--format=csv,noheader").stdout.splitlines()[0] == "[N/A], [N/A], [N/A]"


def test_nvidia_smi_utilization_rises_with_a_workload_and_loops(tmp_path: Path) -> None:
    state = _gpu_state(tmp_path, 1)
    query = [
        "nvidia-smi",
        "--query-gpu=utilization.gpu,memory.used",
        "--format=csv,noheader,nounits",
    ]
    idle = [int(_image(state, *query).stdout.split(",")[0]) for _ in range(3)]
    (state / "busy" / "train").write_text(str(os.getpid()))
    busy = [int(_image(state, *query).stdout.split(",")[0]) for _ in range(3)]
    assert max(idle) <= 1 and min(busy) >= 80
    (state / "busy" / "train").write_text("999999999")  # a finished workload's pid
    assert int(_image(state, *query).stdout.split(",")[0]) <= 1

    env = {"LAMBDABENCH_SIM_STATE": str(state), "LAMBDABENCH_SIM_PYTHON": sys.executable}
    loop = subprocess.Popen(
        [str(IMAGE_DIR / "bin" / "nvidia-smi"), "--query-gpu=timestamp,index", "--format=csv", "--loop-ms=100"],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines = [loop.stdout.readline() for _ in range(4)] if loop.stdout else []
    loop.send_signal(signal.SIGINT)
    assert loop.wait(timeout=10) == 0
    assert lines[0].strip() == "timestamp, index" and all(line.endswith(", 0\n") for line in lines[1:])
    assert len({line for line in lines[1:]}) == 3  # timestamps move on


def test_nvidia_smi_on_a_cpu_type_fails_like_without_a_driver(tmp_path: Path) -> None:
    state = _gpu_state(tmp_path, 0)
    done = _image(state, "nvidia-smi")
    assert done.returncode == 9
    assert "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver" in done.stdout
    cuda = _image(state, "sim-cuda-init")
    assert cuda.returncode != 0 and "no CUDA-capable device" in cuda.stderr


def test_fault_parameters_are_validated(tmp_path: Path, key: Path) -> None:
    hosts = HostManager(tmp_path / "sim")
    try:
        for faults, needle in [
            ({"gpu_melt": {}}, "unknown host fault"),
            ({"slow_disk": {"bytes_per_second": 0}}, "bytes_per_second"),
            ({"ssh_drop": {"phase": "bench mark"}}, "phase"),
            ({"disk_full": {"bytes": "lots"}}, "disk_full"),
            ({"cuda_802": {"seconds": -1}}, "seconds"),
            ({"power_limit": {"watts": 0}}, "watts"),
            ({"power_limit": {"watts": 500, "gpus": "all"}}, "gpus"),
        ]:
            with pytest.raises(SimulatorError, match=needle):
                hosts.start(
                    "i1",
                    authorized_key=key.with_suffix(".pub").read_text(),
                    instance_type=A10,
                    faults=faults,
                )
        with pytest.raises(SimulatorError, match="SSH public key"):
            hosts.start("i1", authorized_key="not a key", instance_type=A10, faults={})
        with pytest.raises(SimulatorError, match="safe folder name"):
            hosts.start("../x", authorized_key=key.with_suffix(".pub").read_text(), instance_type=A10)
        assert hosts.running() == []
        if os.geteuid() == 0:
            assert hosts.port == 22  # root serves on the real SSH port unless told otherwise
    finally:
        hosts.close()


# ---- real sshd hosts ---------------------------------------------------------------------------


@pytest.mark.sshd
@requires_sshd
def test_two_hosts_have_own_address_key_disk_and_gpus(
    manager: HostManager, client: Client, key: Path, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    a = _start(manager, key, "aaaa1111", A10)
    elapsed = time.monotonic() - t0
    b = _start(manager, key, "bbbb2222", H100X8)
    assert elapsed < 2.0  # brief asks ~1 s; the shared test box is loaded
    assert a.ip != b.ip and a.ip.startswith("127.") and a.port == b.port == manager.port
    assert a.host_key_fingerprint != b.host_key_fingerprint
    assert a.host_key_fingerprint.startswith("SHA256:")

    out = client.ok(
        a,
        'echo "$HOME"; pwd; echo "$LAMBDABENCH_SIM_INSTANCE"; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader',
    )
    home, cwd, iid, gpu = out.splitlines()
    assert home == cwd == str(manager.disk_dir("aaaa1111")) and iid == "aaaa1111"
    assert gpu == "NVIDIA A10, 23028 MiB"
    out_b = client.ok(b, "touch marker; nvidia-smi -L | wc -l; ls")
    assert out_b.split() == ["8", "marker"]
    assert (manager.disk_dir("bbbb2222") / "marker").exists()
    assert not (manager.disk_dir("aaaa1111") / "marker").exists()

    # what the client pinned on first use is each host's own key, as HostInfo reported
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "known_hosts")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert a.host_key_fingerprint in listed and b.host_key_fingerprint in listed
    sessions = (manager.host_dir("aaaa1111") / "sessions.log").read_text().splitlines()
    assert "nvidia-smi --query-gpu=name" in json.loads(sessions[0])["command"]


@pytest.mark.sshd
@requires_sshd
def test_sftp_scp_and_rsync_go_through_the_session_wrapper(
    manager: HostManager, client: Client, key: Path, tmp_path: Path
) -> None:
    info = _start(manager, key, "xfer0001")
    disk = manager.disk_dir("xfer0001")
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(300_000))
    opts = client.options(info.port)
    remote = f"{client.user}@{info.ip}"

    batch = tmp_path / "batch"
    batch.write_text(f"put {src} up-sftp.bin\nget up-sftp.bin {tmp_path / 'back-sftp.bin'}\n")
    done = subprocess.run(
        ["sftp", *opts, "-P", str(info.port), "-b", str(batch), remote],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert filecmp.cmp(src, disk / "up-sftp.bin", shallow=False)
    assert filecmp.cmp(src, tmp_path / "back-sftp.bin", shallow=False)

    for mode, flag in (("sftp-mode", []), ("legacy", ["-O"])):
        up = subprocess.run(
            ["scp", *flag, *opts, "-P", str(info.port), str(src), f"{remote}:up-{mode}.bin"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert up.returncode == 0, up.stderr
        down = subprocess.run(
            [
                "scp",
                *flag,
                *opts,
                "-P",
                str(info.port),
                f"{remote}:up-{mode}.bin",
                str(tmp_path / f"back-{mode}.bin"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert down.returncode == 0, down.stderr
        assert filecmp.cmp(src, disk / f"up-{mode}.bin", shallow=False)
        assert filecmp.cmp(src, tmp_path / f"back-{mode}.bin", shallow=False)

    rsh = " ".join(["ssh", *opts, "-p", str(info.port)])
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "f.txt").write_text("rsynced\n")
    up = subprocess.run(
        ["rsync", "-a", "-e", rsh, f"{tmp_path / 'tree'}/", f"{remote}:tree/"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert up.returncode == 0, up.stderr
    assert (disk / "tree" / "sub" / "f.txt").read_text() == "rsynced\n"
    down = subprocess.run(
        ["rsync", "-a", "-e", rsh, f"{remote}:tree/", f"{tmp_path / 'tree-back'}/"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert down.returncode == 0, down.stderr
    assert (tmp_path / "tree-back" / "sub" / "f.txt").read_text() == "rsynced\n"
    # a pure download tells the ssh_drop fault that the pull phase began
    assert (manager.host_dir("xfer0001") / "phase").read_text().split()[-1] == "pull"


@pytest.mark.sshd
@requires_sshd
def test_sudo_systemctl_nvidia_ctk_and_dpkg(manager: HostManager, client: Client, key: Path) -> None:
    info = _start(manager, key, "sudo0001")
    state = manager.host_dir("sudo0001")
    real_daemon_json = Path("/etc/docker/daemon.json")
    existed = real_daemon_json.exists()
    out = client.ok(
        info,
        "sudo -n true && sudo -u root -E echo as-root && sudo sh -c 'echo \"$SUDO_USER\"' && echo from-stdin | sudo -S cat",
    )
    assert out.split() == ["as-root", manager.user, "from-stdin"]
    out = client.ok(
        info,
        'echo \'{"exec-opts": ["native.cgroupdriver=cgroupfs"]}\' | sudo tee /etc/docker/daemon.json >/dev/null && sudo cat /etc/docker/daemon.json',
    )
    assert "cgroupfs" in out
    assert real_daemon_json.exists() == existed  # the real machine's /etc is untouched

    denied = client.ssh(info, "nvidia-ctk runtime configure --runtime=docker")
    assert denied.returncode == 1 and "permission denied" in denied.stderr
    assert client.ssh(info, "systemctl restart docker").returncode == 1
    out = client.ok(
        info,
        "sudo nvidia-ctk runtime configure --runtime=docker 2>&1 && sudo systemctl restart docker && systemctl is-active docker && dpkg -l nvidia-container-toolkit | tail -1 && dpkg-query -W -f='${Status}' nvidia-container-toolkit",
    )
    assert "Wrote updated config to /etc/docker/daemon.json" in out
    assert "\nactive\n" in out and "ii  nvidia-container-toolkit" in out
    assert out.endswith("install ok installed")
    daemon = json.loads((state / "sysroot/etc/docker/daemon.json").read_text())
    assert daemon["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    assert daemon["exec-opts"] == ["native.cgroupdriver=cgroupfs"]  # merged, not replaced
    systemd = json.loads((state / "systemd.json").read_text())
    assert systemd["docker"]["restarts"] == 1 and "nvidia" in systemd["docker"]["daemon_json"]["runtimes"]
    missing = client.ssh(info, "dpkg -l no-such-package")
    assert missing.returncode == 1 and "no packages found matching no-such-package" in missing.stderr
    assert client.ssh(info, "apt-get install -y jq").returncode == 100  # needs sudo
    assert "1 newly installed" in client.ok(info, "sudo apt-get install -y jq")

    tools = [(r["tool"], r["sudo"]) for r in _argv_log(manager, "sudo0001")]
    assert ("nvidia-ctk", True) in tools and ("nvidia-ctk", False) in tools
    assert ("systemctl", True) in tools and ("sudo", False) in tools


@pytest.mark.sshd
@requires_sshd
def test_docker_group_shows_only_in_a_new_session(manager: HostManager, client: Client, key: Path) -> None:
    info = _start(manager, key, "group001")
    old = subprocess.Popen(
        client.ssh_argv(info, "id -nG; read _; id -nG; groups; groups $USER"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert old.stdout is not None and old.stdin is not None
    before = old.stdout.readline().split()
    assert "docker" not in before
    assert client.ssh(info, "usermod -aG docker $USER").returncode == 1  # needs sudo
    client.ok(info, "sudo usermod -aG docker $USER")
    assert "docker" in client.ok(info, "id -nG").split()
    assert "docker" in client.ok(info, "groups").split()
    old.stdin.write("\n")
    old.stdin.close()
    rest = old.stdout.read().splitlines()
    assert old.wait(timeout=10) == 0
    assert "docker" not in rest[0].split() and "docker" not in rest[1].split()
    assert "docker" in rest[2].split()  # `groups USER` reads /etc/group, which already changed
    assert "docker" in client.ok(info, "newgrp docker", input="id -nG\n").split()


@pytest.mark.sshd
@requires_sshd
def test_cuda_802_until_its_deadline_or_forever(manager: HostManager, client: Client, key: Path) -> None:
    started = time.monotonic()
    # a window wide enough to observe on a loaded 2-core CI machine
    window = 6.0
    short = _start(manager, key, "cuda0001", cuda_802={"seconds": window})
    forever = _start(manager, key, "cuda0002", cuda_802={"seconds": None})
    healthy = _start(manager, key, "cuda0003")
    failing = client.ssh(short, "nvidia-smi -L && sim-cuda-init")
    assert time.monotonic() - started < window, "too slow to observe the fault window"
    assert failing.returncode != 0
    assert "CUDA error 802: system not yet initialized" in failing.stderr
    assert failing.stdout.startswith("GPU 0: NVIDIA A10")  # nvidia-smi works regardless
    time.sleep(max(0.0, window + 0.1 - (time.monotonic() - started)))
    assert "CUDA OK" in client.ok(short, "sim-cuda-init")
    assert "802" in client.ssh(forever, "sim-cuda-init").stderr
    assert client.ssh(healthy, "sim-cuda-init").returncode == 0


@pytest.mark.sshd
@requires_sshd
def test_sshd_late_returns_at_once_and_listens_later(manager: HostManager, client: Client, key: Path) -> None:
    t0 = time.monotonic()
    info = _start(manager, key, "late0001", sshd_late={"seconds": 1.5})
    assert time.monotonic() - t0 < 1.0

    def accepts() -> bool:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex((info.ip, info.port)) == 0

    assert not accepts()
    assert _wait_for(accepts, timeout=10)
    assert time.monotonic() - t0 >= 1.4
    assert client.ok(info, "echo up").strip() == "up"


def _pid_file(path: Path) -> int:
    assert _wait_for(lambda: path.exists() and path.read_text().strip().isdigit(), 10), path
    return int(path.read_text())


@pytest.mark.sshd
@requires_sshd
def test_drop_sessions_kills_the_session_but_not_detached_work(manager: HostManager, client: Client, key: Path) -> None:
    info = _start(manager, key, "drop0001")
    disk = manager.disk_dir("drop0001")
    script = (
        "setsid sh -c 'echo $$ > detached.pid; exec sleep 60' </dev/null >/dev/null 2>&1 & "
        "nohup sh -c 'echo $$ > nohup.pid; exec sleep 60' </dev/null >/dev/null 2>&1 & "
        "sh -c 'echo $$ > plain.pid; exec sleep 60' & "
        "echo $$ > shell.pid; sleep 60"
    )
    running = subprocess.Popen(client.ssh_argv(info, script), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids = {name: _pid_file(disk / f"{name}.pid") for name in ("detached", "nohup", "plain", "shell")}
    connections = _children(info.pid)
    assert connections and manager.drop_sessions("drop0001") == len(connections)
    assert running.wait(timeout=15) == 255  # the client saw the connection go, not an exit status
    assert _wait_for(lambda: not _alive(pids["shell"]) and not _alive(pids["plain"]), 5)
    assert _alive(pids["detached"]) and _alive(pids["nohup"])
    assert all(not _alive(p) for p in connections)
    assert _alive(info.pid)  # the daemon stays: new logins work
    assert client.ok(info, "echo again").strip() == "again"

    manager.stop("drop0001")
    assert not disk.exists()
    assert not any(_alive(p) for p in [info.pid, *pids.values()])
    assert manager.running() == []


@pytest.mark.sshd
@requires_sshd
def test_ssh_drop_fault_waits_for_its_phase_and_fires_once(manager: HostManager, client: Client, key: Path) -> None:
    info = _start(manager, key, "drop0002", ssh_drop={"phase": "benchmark", "after": 0.2})
    assert client.ok(info, "export LAMBDABENCH_PHASE=setup; sleep 0.8; echo set").strip() == "set"
    dropped = client.ssh(info, "export LAMBDABENCH_PHASE=benchmark; sleep 20; echo never")
    assert dropped.returncode == 255 and "never" not in dropped.stdout
    again = client.ssh(info, "export LAMBDABENCH_PHASE=benchmark; sleep 0.8; echo fine")
    assert again.returncode == 0 and again.stdout.strip() == "fine"

    timed = _start(manager, key, "drop0003", ssh_drop={"after": 0.5})
    t0 = time.monotonic()
    cut = client.ssh(timed, "sleep 20")
    assert cut.returncode == 255 and time.monotonic() - t0 < 10


@pytest.mark.sshd
@requires_sshd
@pytest.mark.skipif(os.geteuid() != 0, reason="disk_full mounts a size-limited tmpfs (root only)")
def test_disk_full_is_a_real_quota(manager: HostManager, client: Client, key: Path) -> None:
    info = _start(manager, key, "full0001", disk_full={"bytes": 2 * 1024 * 1024})
    size = int(client.ok(info, "df -B1 --output=size . | tail -1"))
    assert size == 2 * 1024 * 1024
    client.ok(info, "head -c 1000000 /dev/zero > ok.bin")
    full = client.ssh(info, "head -c 3000000 /dev/zero > big.bin")
    assert full.returncode != 0 and "No space left on device" in full.stderr
    disk = manager.disk_dir("full0001")
    manager.stop("full0001")
    assert not disk.exists() and str(disk) not in Path("/proc/self/mounts").read_text()


@pytest.mark.sshd
@requires_sshd
def test_slow_disk_throttles_what_the_instance_sends(manager: HostManager, client: Client, key: Path) -> None:
    info = _start(manager, key, "slow0001", slow_disk={"bytes_per_second": 400_000})
    client.ok(info, "head -c 600000 /dev/urandom > artifact.bin")
    digest = hashlib.sha256((manager.disk_dir("slow0001") / "artifact.bin").read_bytes()).hexdigest()
    t0 = time.monotonic()
    pulled = subprocess.run(client.ssh_argv(info, "cat artifact.bin"), capture_output=True, timeout=30)
    elapsed = time.monotonic() - t0
    assert pulled.returncode == 0 and hashlib.sha256(pulled.stdout).hexdigest() == digest
    assert elapsed >= 1.3  # 600 kB at 400 kB/s
    failing = client.ssh(info, "echo out; exit 7")
    assert failing.returncode == 7 and failing.stdout == "out\n"  # exit status survives the pipe


@pytest.mark.sshd
@requires_sshd
def test_stop_and_close_leave_no_process_and_reuse_addresses(manager: HostManager, client: Client, key: Path) -> None:
    a = _start(manager, key, "stop0001")
    b = _start(manager, key, "stop0002")
    session = subprocess.Popen(client.ssh_argv(a, "echo $$ > s.pid; sleep 60"), stdout=subprocess.DEVNULL)
    shell = _pid_file(manager.disk_dir("stop0001") / "s.pid")
    connection = _children(a.pid)
    (manager.host_dir("stop0001") / "keep").write_text("state survives, disk does not")
    manager.stop("stop0001")
    assert session.wait(timeout=10) == 255
    assert not any(_alive(p) for p in [a.pid, shell, *connection])
    assert not manager.disk_dir("stop0001").exists() and (manager.host_dir("stop0001") / "keep").exists()
    manager.stop("stop0001")  # idempotent
    c = _start(manager, key, "stop0003")
    assert c.ip == a.ip  # the freed address is reused
    manager.close()
    assert not _alive(b.pid) and not _alive(c.pid)
    assert not manager.disk_dir("stop0002").exists()
    with pytest.raises(SimulatorError, match="closed"):
        _start(manager, key, "stop0004")


@pytest.mark.sshd
@requires_sshd
def test_hosts_die_with_the_simulator_process(tmp_path: Path, key: Path) -> None:
    code = (
        "import sys, types; from lambdabench.sim.hosts.manager import HostManager\n"
        "m = HostManager(sys.argv[1])\n"
        "t = types.SimpleNamespace(name='gpu_1x_a10', gpus=1, gpu_model='NVIDIA A10')\n"
        "info = m.start('orphan01', authorized_key=open(sys.argv[2]).read(), instance_type=t, faults={})\n"
        "print(info.pid, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    sim = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "sim"), str(key.with_suffix(".pub"))],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert sim.stdout is not None
    sshd_pid = int(sim.stdout.readline())
    assert _alive(sshd_pid)
    sim.kill()  # no atexit, no close(): only the watchdog can clean up
    sim.wait()
    assert _wait_for(lambda: not _processes_mentioning(str(tmp_path / "sim")), 10)


@pytest.mark.sshd
@requires_sshd
def test_paramiko_client_connects_and_sees_the_reported_host_key(manager: HostManager, key: Path) -> None:
    import base64

    import paramiko

    info = _start(manager, key, "para0001", H100X8)
    ssh = paramiko.SSHClient()
    ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    ssh.connect(
        info.ip, port=info.port, username=manager.user, key_filename=str(key),
        look_for_keys=False, allow_agent=False, timeout=10,
    )  # fmt: skip
    try:
        server_key = ssh.get_transport().get_remote_server_key()  # type: ignore[union-attr]
        digest = hashlib.sha256(server_key.asbytes()).digest()
        assert info.host_key_fingerprint == "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
        _, stdout, _ = ssh.exec_command("echo $HOME; nvidia-smi --query-gpu=index --format=csv,noheader | wc -l")
        assert stdout.read().decode().split() == [str(manager.disk_dir("para0001")), "8"]
        assert stdout.channel.recv_exit_status() == 0
        sftp = ssh.open_sftp()
        with sftp.open("from-paramiko.txt", "w") as fh:
            fh.write("hi")
        sftp.close()
        assert (manager.disk_dir("para0001") / "from-paramiko.txt").read_text() == "hi"
    finally:
        ssh.close()


@pytest.mark.sshd
@requires_sshd
def test_ngc_key_is_checkable_on_the_host_but_never_written(tmp_path: Path, key: Path) -> None:
    secret = "nvapi-" + "s3cr3t" * 6
    hosts = HostManager(tmp_path / "sim", port=_free_port(), ngc_api_key=secret)
    try:
        info = _start(hosts, key, "ngc00001")
        client = Client(key, tmp_path / "known_hosts", hosts.user)
        check = (
            '"$LAMBDABENCH_SIM_PYTHON" -c "import sys; sys.path.insert(0, sys.argv[1]); import simhost; '
            'print(simhost.ngc_key_matches(sys.stdin.read().strip()))" "$LAMBDABENCH_SIM_IMAGE/lib"'
        )
        assert client.ok(info, check, input=secret + "\n").strip() == "True"
        assert client.ok(info, check, input="nvapi-wrong\n").strip() == "False"
        files = [p for p in hosts.host_dir("ngc00001").rglob("*") if p.is_file()]
        assert files and not any(secret.encode() in p.read_bytes() for p in files)
    finally:
        hosts.close()
