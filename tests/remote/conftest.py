"""A real OpenSSH sshd on a loopback address per test, with its own host key and HOME folder."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambdabench.remote.ssh import KnownHosts, Session, SshTarget

SSHD = "/usr/sbin/sshd"


@dataclass
class Host:
    """One throwaway instance: sshd on ip:port, HOME folder, keys."""

    ip: str
    port: int
    home: Path
    bin_dir: Path
    key_path: Path
    host_key: Path
    instance_id: str
    proc: subprocess.Popen[bytes]
    config: Path

    def target(self) -> SshTarget:
        return SshTarget(
            host=self.ip,
            port=self.port,
            user=os.environ.get("USER", "root") if os.getuid() != 0 else "root",
            key_path=self.key_path,
            instance_id=self.instance_id,
        )

    def session_children(self) -> list[int]:
        """pids of the per-connection sshd processes (killing one drops that SSH session)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def drop_connections(self) -> None:
        for pid in self.session_children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def regenerate_host_key(self) -> None:
        """Restart sshd with a new host key (a relaunched instance, or an attacker)."""
        self.stop()
        self.host_key.unlink()
        Path(str(self.host_key) + ".pub").unlink()
        _keygen(self.host_key)
        self.start()

    def start(self) -> None:
        self.proc = _start_sshd(self.config, self.ip, self.port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # per-connection children outlive a terminated listener; end ours
        self.drop_connections()


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _free_address() -> tuple[str, int]:
    for _ in range(50):
        ip = f"127.0.{random.randint(100, 250)}.{random.randint(2, 250)}"
        for port in (22, 0):
            with socket.socket() as s:
                try:
                    s.bind((ip, port))
                except OSError:
                    continue
                return ip, s.getsockname()[1]
    raise RuntimeError("no free loopback address")


def _start_sshd(config: Path, ip: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(config.with_suffix(".log"), "ab"),  # noqa: SIM115 - sshd keeps it
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(config.with_suffix(".log").read_text())
        try:
            with socket.create_connection((ip, port), 0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("sshd did not start")


@dataclass
class SimHost:
    """An instance host from the simulator (lambdabench.sim.hosts.manager.HostManager)."""

    manager: Any
    ip: str
    port: int
    home: Path
    key_path: Path
    instance_id: str

    def target(self) -> SshTarget:
        return SshTarget(
            host=self.ip,
            port=self.port,
            user=self.manager.user,
            key_path=self.key_path,
            instance_id=self.instance_id,
        )

    def drop_connections(self) -> None:
        self.manager.drop_sessions(self.instance_id)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SimHost]:
    """A simulated instance (gpu_1x_a10): real sshd, image tools such as sudo and nvidia-smi."""
    from types import SimpleNamespace

    from lambdabench.sim.hosts.manager import HostManager

    if not Path(SSHD).exists():
        pytest.skip("needs OpenSSH sshd")
    key = tmp_path / "lbhome" / "id_ed25519"
    key.parent.mkdir(exist_ok=True)
    _keygen(key)
    itype = SimpleNamespace(
        name="gpu_1x_a10",
        gpus=1,
        gpu_model="NVIDIA A10",
        gpu_memory_mib=24564,
        rtx=True,
        arch="x86_64",
        vcpus=30,
        memory_gib=200,
    )
    manager = HostManager(tmp_path / "sim")
    instance_id = os.urandom(16).hex()
    try:
        info = manager.start(instance_id, authorized_key=Path(str(key) + ".pub").read_text(), instance_type=itype)
        yield SimHost(manager, info.ip, info.port, manager.disk_dir(instance_id), key, instance_id)
    finally:
        manager.close()


@pytest.fixture
def raw_host(tmp_path: Path) -> Iterator[Host]:
    """A bare sshd we control fully: restart it, change its key, put fault wrappers first on PATH."""
    if not Path(SSHD).exists() or os.getuid() != 0:
        pytest.skip("needs root and OpenSSH sshd")
    base = tmp_path / "instance"
    (base / "home").mkdir(parents=True)
    bin_dir = base / "bin"
    bin_dir.mkdir()
    host_key = base / "ssh_host_ed25519_key"
    _keygen(host_key)
    client_key = tmp_path / "lbhome" / "id_ed25519"
    client_key.parent.mkdir(exist_ok=True)
    _keygen(client_key)
    authorized = base / "authorized_keys"
    shutil.copy(str(client_key) + ".pub", authorized)
    authorized.chmod(0o600)
    ip, port = _free_address()
    Path("/run/sshd").mkdir(exist_ok=True)
    config = base / "sshd_config"
    config.write_text(
        f"ListenAddress {ip}\nPort {port}\nHostKey {host_key}\nAuthorizedKeysFile {authorized}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nPidFile none\n"
        "AllowTcpForwarding yes\nMaxSessions 50\nMaxStartups 50\n"
        f"SetEnv HOME={base / 'home'} PATH={bin_dir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\n"
        "Subsystem sftp internal-sftp\n"
    )
    proc = _start_sshd(config, ip, port)
    h = Host(
        ip,
        port,
        base / "home",
        bin_dir,
        client_key,
        host_key,
        "i" + os.urandom(8).hex(),
        proc,
        config,
    )
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture
def known_hosts(hermetic_env: Path) -> KnownHosts:
    return KnownHosts(hermetic_env / "known_hosts")


@pytest.fixture
def session(host: SimHost, known_hosts: KnownHosts) -> Iterator[Session]:
    s = Session(host.target(), known_hosts=known_hosts)
    s.open()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def raw_session(raw_host: Host, known_hosts: KnownHosts) -> Iterator[Session]:
    s = Session(raw_host.target(), known_hosts=known_hosts)
    s.open()
    try:
        yield s
    finally:
        s.close()
