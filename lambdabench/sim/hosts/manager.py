"""Simulated instances: one real OpenSSH sshd per instance on its own loopback address.

Each host gets 127.0.0.N, its own ed25519 host key and sshd_config, and a "disk" folder that is
the login user's HOME. Sessions pass through image/libexec/sim-session (the ForceCommand), which
puts the instance image (image/bin: nvidia-smi, sudo, usermod, systemctl, ...) first on PATH.

Host faults (real seconds; the API core has already divided cloud time by its scale):
  sshd_late  {seconds}               sshd only listens after this long (None: never)
  ssh_drop   {after, phase}          drop the SSH connections once: `after` seconds after start, or
                                     after the client announced `phase` (LAMBDABENCH_PHASE=<phase>
                                     in a command line); detached (nohup/setsid) processes survive
  cuda_802   {seconds}               sim-cuda-init fails with CUDA error 802 until then (None: forever)
  disk_full  {bytes}                 the disk is a tmpfs of that size (default 16 MiB): writes past it
                                     fail with ENOSPC and df reports it (needs root for the mount)
  slow_disk  {bytes_per_second}      everything a session sends back (command output, sftp replies,
                                     so every pull) is throttled to this rate
  power_limit {watts, gpus}          nvidia-smi's power limit of these GPU indices (default every GPU) is
                                     `watts`, as after `nvidia-smi -pl`; watts None: it answers [N/A]
No sshd of ours outlives stop()/close() or the simulator: every host process carries a marker in
its environment, and a watchdog process kills them all when the simulator's pipe to it closes.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdabench.errors import SimulatorError
from lambdabench.sim.api.catalog import DEFAULT_IMAGE_FAMILY, DEFAULT_IMAGES, SimImage
from lambdabench.sim.hosts.memory_model import memory_model as gpu_memory_model

IMAGE_DIR = Path(__file__).resolve().parent / "image"
HOST_FAULTS = ("sshd_late", "ssh_drop", "cuda_802", "disk_full", "slow_disk", "power_limit")
DRIVER_VERSION = "580.95.05"
CUDA_VERSION = "13.0"
DEFAULT_DISK_FULL_BYTES = 16 * 1024 * 1024
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
SSHD_START_TIMEOUT = 10.0
_INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PHASE = re.compile(r"^[A-Za-z_-]+$")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)i?B?\s*$", re.IGNORECASE)
_SAFE_PATH = re.compile(r"^[^\s\"'\\]+$")


@dataclass(frozen=True)
class HostInfo:
    """Where an instance's sshd answers, and the host key a client should see there."""

    ip: str
    port: int
    host_key_fingerprint: str
    pid: int


@dataclass
class _Faults:
    late: float = 0.0  # math.inf: never
    drop: bool = False
    drop_after: float = 0.0
    drop_phase: str | None = None
    cuda_802: bool = False
    cuda_802_seconds: float | None = None  # None with cuda_802: forever
    disk_bytes: int | None = None
    slow_bps: int | None = None
    power_limit: dict[str, Any] | None = None  # {"watts": W or None, "gpus": [index, ...] or None}


@dataclass
class _Host:
    instance_id: str
    ip: str
    dir: Path
    disk: Path
    proc: subprocess.Popen[bytes]
    fingerprint: str
    started: float
    faults: _Faults
    mounted: bool = False
    phase_since: float | None = None
    dropped: bool = False
    log: Any = field(default=None, repr=False)


class HostManager:
    """Starts and stops the sshd hosts behind simulated instances (the API core's host backend)."""

    def __init__(
        self,
        state_dir: Path | str,
        *,
        user: str | None = None,
        port: int | None = None,
        sshd_path: str = "/usr/sbin/sshd",
        ngc_api_key: Any = None,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.hosts_dir = self.state_dir / "hosts"
        if not _SAFE_PATH.match(str(self.hosts_dir)):
            raise SimulatorError(
                f"simulator state dir {self.state_dir} has spaces or quotes",
                "use a state dir whose path has no spaces or quotes (sshd_config can't carry them)",
            )
        self.user = user or pwd.getpwuid(os.geteuid()).pw_name
        try:
            self._pw = pwd.getpwnam(self.user)
        except KeyError:
            raise SimulatorError(
                f"simulator host user {self.user!r} does not exist", "pick an existing local user"
            ) from None
        if self._pw.pw_uid != os.geteuid() and os.geteuid() != 0:
            raise SimulatorError(
                f"cannot serve SSH as {self.user!r} without root",
                "run as root or leave the user unset (the current user)",
            )
        self.sshd_path = sshd_path
        self._ngc = _ngc_reference(ngc_api_key)
        self._lock = threading.RLock()
        self._hosts: dict[str, _Host] = {}
        self._starting: set[str] = set()
        self._reserved: set[str] = set()
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._watchdog_fd: int | None = None
        self._wake = threading.Event()
        self._monitor: threading.Thread | None = None
        self._closed = False
        self.port = port if port is not None else _default_port()
        atexit.register(_close_at_exit, weakref.ref(self))

    # ---- public protocol ----------------------------------------------------------------------

    def start(
        self,
        instance_id: str,
        *,
        authorized_key: str,
        instance_type: Any,
        faults: dict[str, Any] | None = None,
        image: SimImage | None = None,
    ) -> HostInfo:
        """Bring up the instance's host, booted from image (None: Lambda's default, the latest Lambda Stack for
        the type's architecture); returns once sshd accepts TCP (at once with sshd_late)."""
        if not _INSTANCE_ID.match(instance_id):
            raise SimulatorError(f"instance id {instance_id!r} is not a safe folder name")
        key = authorized_key.strip()
        if not key or "\n" in key or not key.startswith(("ssh-", "ecdsa-", "sk-")):
            raise SimulatorError(f"instance {instance_id}: the launch's SSH public key is not one OpenSSH key line")
        plan = _parse_faults(faults or {})
        if not Path(self.sshd_path).is_file():
            raise SimulatorError(
                f"sshd not found at {self.sshd_path}",
                "install openssh-server (apt-get install openssh-server)",
            )
        with self._lock:
            if self._closed:
                raise SimulatorError("the simulator's host manager is closed")
            if instance_id in self._hosts or instance_id in self._starting:
                raise SimulatorError(f"instance {instance_id} already has a running host")
            self._starting.add(instance_id)
        try:
            host = self._bring_up(instance_id, key, instance_type, plan, image or default_image(instance_type))
        finally:
            with self._lock:
                self._starting.discard(instance_id)
        with self._lock:
            self._hosts[instance_id] = host
            if plan.drop:
                self._ensure_monitor()
        return self._info(host)

    def stop(self, instance_id: str) -> None:
        """Kill the host's sshd and every process of the instance, then wipe its disk."""
        with self._lock:
            host = self._hosts.pop(instance_id, None)
        if host is None:
            return
        try:
            self._kill_host(host)
            if host.mounted:
                _umount(host.disk)
            shutil.rmtree(host.disk, ignore_errors=True)
        finally:
            if host.log is not None:
                host.log.close()
            with self._lock:
                self._reserved.discard(host.ip)

    def close(self) -> None:
        """Stop every host and the watchdog."""
        with self._lock:
            if self._closed and not self._hosts:
                return
            self._closed = True
            ids = list(self._hosts)
        for instance_id in ids:
            self.stop(instance_id)
        self._wake.set()
        monitor = self._monitor
        if monitor is not None and monitor is not threading.current_thread():
            monitor.join(timeout=2)
        if self._watchdog_fd is not None:
            os.close(self._watchdog_fd)  # EOF: the watchdog sweeps (nothing left) and exits
            self._watchdog_fd = None
        if self._watchdog is not None:
            try:
                self._watchdog.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
                self._watchdog.wait()

    def drop_sessions(self, instance_id: str) -> int:
        """Cut the host's SSH connections as a network drop would; returns how many were cut.

        The per-connection sshd processes die; the session's processes get SIGHUP like on a lost
        terminal, so nohup'd ones survive, and setsid'd ones (another session) are untouched.
        """
        with self._lock:
            host = self._hosts.get(instance_id)
        if host is None:
            raise SimulatorError(f"instance {instance_id} has no running host")
        table = _proc_table()
        listener = host.proc.pid
        connections = [p for p, info in table.items() if info.ppid == listener and _is_sshd(info)]
        tree = _descendants(table, connections)
        sessions = {
            table[p].sid
            for p in tree
            if not _is_sshd(table[p]) and table[p].ppid in table and _is_sshd(table[table[p].ppid])
        }
        for pid in tree:
            if _is_sshd(table[pid]):
                _signal(pid, signal.SIGKILL)
        for pid, info in table.items():
            if info.sid in sessions and not _is_sshd(info):
                _signal(pid, signal.SIGHUP)
                _signal(pid, signal.SIGCONT)
        return len(connections)

    # ---- helpers for the API core and tests ---------------------------------------------------

    def info(self, instance_id: str) -> HostInfo:
        """The running host's address and host key."""
        with self._lock:
            host = self._hosts.get(instance_id)
        if host is None:
            raise SimulatorError(f"instance {instance_id} has no running host")
        return self._info(host)

    def host_dir(self, instance_id: str) -> Path:
        """The host's state folder (LAMBDABENCH_SIM_STATE in its sessions); kept after stop."""
        return self.hosts_dir / instance_id

    def disk_dir(self, instance_id: str) -> Path:
        """The instance's disk: the login user's HOME, wiped at stop."""
        return self.hosts_dir / instance_id / "disk"

    def running(self) -> list[str]:
        """Ids of the instances whose hosts are up."""
        with self._lock:
            return sorted(self._hosts)

    def __enter__(self) -> HostManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- bring-up -----------------------------------------------------------------------------

    def _bring_up(self, instance_id: str, key: str, itype: Any, plan: _Faults, image: SimImage) -> _Host:
        hdir = self.hosts_dir / instance_id
        disk = hdir / "disk"
        if _is_mounted(disk):  # left by a simulator that died before its watchdog could act
            _umount(disk)
        shutil.rmtree(hdir, ignore_errors=True)
        for sub in ("disk", "groups", "busy", "sysroot/etc/docker"):
            (hdir / sub).mkdir(parents=True, exist_ok=True)
        host_key = hdir / "ssh_host_ed25519_key"
        keygen = subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"sim-{instance_id}",
                "-f",
                str(host_key),
            ],
            capture_output=True,
            timeout=15,
            check=False,
        )
        if keygen.returncode != 0:
            raise SimulatorError(
                f"ssh-keygen failed for instance {instance_id}: {keygen.stderr.decode().strip()}",
                "check that openssh-client is installed",
            )
        fingerprint = _fingerprint(host_key.with_suffix(".pub").read_text())
        auth = hdir / "authorized_keys"
        auth.write_text(key + "\n")
        auth.chmod(0o600)
        self._write_state(hdir, instance_id, itype, plan)
        _write_image(hdir, image)
        mounted = False
        if plan.disk_bytes is not None:
            _mount_tmpfs(disk, plan.disk_bytes, self._pw)
            mounted = True
        if self._pw.pw_uid != os.geteuid():
            for path in (disk, hdir / "groups", hdir / "busy", hdir / "sysroot"):
                os.chown(path, self._pw.pw_uid, self._pw.pw_gid)
            for name in ("argv.log", "sessions.log", "phase"):
                (hdir / name).touch()
                os.chown(hdir / name, self._pw.pw_uid, self._pw.pw_gid)
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privsep dir when root
        self._ensure_watchdog()
        log = open(hdir / "sshd.log", "ab")  # noqa: SIM115 - lives as long as the host
        tried: set[str] = set()
        try:
            for _ in range(8):
                ip = self._allocate_ip(tried)
                tried.add(ip)
                config = hdir / "sshd_config"
                config.write_text(self._sshd_config(hdir, ip))
                if plan.late > 0:
                    holder = _hold_address(ip, self.port)
                    if holder is None:
                        with self._lock:
                            self._reserved.discard(ip)
                        continue
                    with holder:
                        proc = self._spawn(hdir, instance_id, config, plan.late, log, holder)
                    break
                proc = self._spawn(hdir, instance_id, config, plan.late, log)
                outcome = _wait_listening(proc, ip, self.port, SSHD_START_TIMEOUT)
                if outcome == "ok":
                    break
                _kill_group(proc)
                with self._lock:
                    self._reserved.discard(ip)
                tail = _tail(hdir / "sshd.log")
                if "Address already in use" in tail or "Cannot bind any address" in tail:
                    continue  # another simulator took the address between our probe and bind
                raise SimulatorError(
                    f"sshd for instance {instance_id} did not come up ({outcome}): {tail[-300:]}",
                    f"see {hdir / 'sshd.log'}",
                )
            else:
                raise SimulatorError(
                    f"no loopback address with port {self.port} free for instance {instance_id}",
                    "stop other simulators, or pass a different port",
                )
        except BaseException:
            log.close()
            if mounted:
                _umount(disk)
            raise
        return _Host(instance_id, ip, hdir, disk, proc, fingerprint, time.monotonic(), plan, mounted, log=log)

    def _write_state(self, hdir: Path, instance_id: str, itype: Any, plan: _Faults) -> None:
        gpus = int(getattr(itype, "gpus", 0) or 0)
        digest = [hashlib.sha256(f"{instance_id}:{i}".encode()).hexdigest() for i in range(gpus)]
        gpu = {
            "instance_type": getattr(itype, "name", "unknown"),
            "gpus": gpus,
            "model": getattr(itype, "gpu_model", "") or "",
            "memory_mib": int(getattr(itype, "gpu_memory_mib", 0) or 0),
            "rtx": bool(getattr(itype, "rtx", False)),
            "arch": getattr(itype, "arch", "x86_64"),
            "vcpus": int(getattr(itype, "vcpus", 0) or 0),
            "memory_gib": int(getattr(itype, "memory_gib", 0) or 0),
            "driver": DRIVER_VERSION,
            "cuda": CUDA_VERSION,
            "uuids": [f"GPU-{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}" for d in digest],
        }
        (hdir / "gpu.json").write_text(json.dumps(gpu, indent=2) + "\n")
        model = gpu_memory_model(int(getattr(itype, "gpu_memory_mib", 0) or 0)) if gpus else None
        if model is not None:
            (hdir / "memory-model.json").write_text(json.dumps(model, indent=2) + "\n")
        faults: dict[str, Any] = {}
        if plan.cuda_802:
            secs = plan.cuda_802_seconds
            faults["cuda_802"] = {"until": None if secs is None else time.time() + secs}
        if plan.disk_bytes is not None:
            faults["disk_full"] = {"bytes": plan.disk_bytes}
        if plan.slow_bps is not None:
            faults["slow_disk"] = {"bytes_per_second": plan.slow_bps}
        if plan.drop:
            faults["ssh_drop"] = {"after": plan.drop_after, "phase": plan.drop_phase}
        if plan.late:
            faults["sshd_late"] = {"seconds": None if plan.late == float("inf") else plan.late}
        if plan.power_limit is not None:
            faults["power_limit"] = plan.power_limit
        (hdir / "faults.json").write_text(json.dumps(faults, indent=2) + "\n")
        if self._ngc is not None:
            (hdir / "ngc.json").write_text(json.dumps(self._ngc) + "\n")
        env = {
            "LAMBDABENCH_SIM_INSTANCE": instance_id,
            "LAMBDABENCH_SIM_STATE": str(hdir),
            "LAMBDABENCH_SIM_ROOT": str(self.hosts_dir),
            "LAMBDABENCH_SIM_IMAGE": str(IMAGE_DIR),
            "LAMBDABENCH_SIM_PYTHON": sys.executable,
            "LAMBDABENCH_SIM_DISK": str(hdir / "disk"),
            "LAMBDABENCH_SIM_USER": self.user,
            # the instance's GPUs are stand-ins (nvidia-smi): JAX here runs on the CPU, and the box
            # says so the way a real one would, with JAX's own variable
            "JAX_PLATFORMS": "cpu",
            # ... and the MJX workload takes its GPU memory from a model (lambdabench.sim.hosts.memory_model)
            **({"LAMBDABENCH_MEMORY_MODEL": str(hdir / "memory-model.json")} if model is not None else {}),
            # Python reads the host's /etc/os-release (image/lib/pyhost/sitecustomize.py), not this machine's
            "PYTHONPATH": str(IMAGE_DIR / "lib" / "pyhost"),
            "LAMBDABENCH_SIM_PATH": ":".join(
                [
                    str(IMAGE_DIR / "bin"),
                    os.path.dirname(sys.executable),
                    "/usr/local/bin",
                    "/usr/bin",
                    "/bin",
                ]
            ),
        }
        if plan.slow_bps is not None:
            env["LAMBDABENCH_SIM_SLOW_DISK_BPS"] = str(plan.slow_bps)
        (hdir / "session.env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()))

    def _sshd_config(self, hdir: Path, ip: str) -> str:
        sftp = SFTP_SERVER if Path(SFTP_SERVER).is_file() else "internal-sftp"
        session = shlex.quote(str(IMAGE_DIR / "libexec" / "sim-session"))
        lines = [
            f"# sshd for simulated instance {hdir.name} (written by lambdabench.sim.hosts.manager)",
            f"ListenAddress {ip}",
            f"Port {self.port}",
            "AddressFamily inet",
            f"HostKey {hdir / 'ssh_host_ed25519_key'}",
            f"PidFile {hdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {hdir / 'authorized_keys'}",
            f"AllowUsers {self.user}",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "PermitRootLogin prohibit-password",
            "PermitUserEnvironment no",
            "PermitUserRC no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "AllowTcpForwarding yes",
            "ClientAliveInterval 15",
            "ClientAliveCountMax 4",
            "LoginGraceTime 30",
            "MaxStartups 64:30:128",
            "MaxSessions 32",
            "LogLevel INFO",
            f"Subsystem sftp {sftp}",
            f"ForceCommand exec {session} {shlex.quote(str(hdir))}",
            # sshd starts the ForceCommand through the login shell, and Debian's bash sources ~/.bashrc
            # when run by sshd even without a terminal: point HOME at the instance's disk so the host
            # user's own rc files (pyenv init, its rehash lock, ...) never run in a simulated session
            f"SetEnv HOME={hdir / 'disk'}",
        ]
        if _sshd_version(self.sshd_path) >= (9, 8):
            # our readiness probes and test retries must not get 127.0.0.1 penalised
            lines.append("PerSourcePenalties no")
        return "\n".join(lines) + "\n"

    def _spawn(
        self,
        hdir: Path,
        instance_id: str,
        config: Path,
        late: float,
        log: Any,
        holder: socket.socket | None = None,
    ) -> subprocess.Popen[bytes]:
        argv = [self.sshd_path, "-D", "-e", "-f", str(config)]
        if late > 0:
            # Sleep, then become sshd: the pid is known now and stop() can kill the wait too.
            # The child gets the address holder as stdin and drops it just before the exec, so
            # no other sshd can take the address meanwhile and connects are refused until then.
            delay = "infinity" if late == float("inf") else f"{late:.3f}"
            argv = ["/bin/sh", "-c", 'sleep "$0" && exec "$@" </dev/null', delay, *argv]
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "LAMBDABENCH_SIM_ROOT": str(self.hosts_dir),
            "LAMBDABENCH_SIM_STATE": str(hdir),
            "LAMBDABENCH_SIM_INSTANCE": instance_id,
        }
        # no PDEATHSIG: it fires when the *thread* that forked exits, and the API core may start
        # hosts from short-lived threads; the watchdog covers the simulator's death instead
        return subprocess.Popen(
            argv,
            stdin=holder.fileno() if holder is not None else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )

    def _allocate_ip(self, tried: set[str]) -> str:
        with self._lock:
            for ip in _loopback_addresses():
                if ip in self._reserved or ip in tried:
                    continue
                if _bindable(ip, self.port):
                    self._reserved.add(ip)
                    return ip
        raise SimulatorError(f"no free loopback address for port {self.port}", "stop some simulated instances")

    def _ensure_watchdog(self) -> None:
        with self._lock:
            if self._watchdog is not None and self._watchdog.poll() is None:
                return
            read_end, write_end = os.pipe()
            try:
                self._watchdog = subprocess.Popen(
                    [
                        sys.executable,
                        "-I",
                        "-S",
                        str(IMAGE_DIR / "libexec" / "sim-watchdog.py"),
                        str(self.hosts_dir),
                    ],
                    stdin=read_end,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                    start_new_session=True,
                )
            finally:
                os.close(read_end)
            if self._watchdog_fd is not None:
                os.close(self._watchdog_fd)
            self._watchdog_fd = write_end  # non-inheritable: only our death closes it

    # ---- teardown -----------------------------------------------------------------------------

    def _kill_host(self, host: _Host) -> None:
        marker = f"LAMBDABENCH_SIM_STATE={host.dir}".encode()
        mine = _own_lineage()
        # leaves first, so living parents reap them (this VM's pid 1 does not reap orphans)
        for sshd_too in (False, True):
            table = _proc_table()
            victims = {
                p
                for p in _marked(table, marker) | _descendants(table, [host.proc.pid])
                if p not in mine and p != host.proc.pid and _is_sshd(table[p]) == sshd_too
            }
            for pid in victims:
                _signal(pid, signal.SIGKILL)
            _wait_gone(victims, 0.5)
        _kill_group(host.proc)
        for _ in range(20):  # anything forked meanwhile
            table = _proc_table()
            left = {p for p in _marked(table, marker) if p not in mine}
            if not left:
                return
            for pid in left:
                _signal(pid, signal.SIGKILL)
            _wait_gone(left, 0.1)

    # ---- ssh_drop monitor ---------------------------------------------------------------------

    def _ensure_monitor(self) -> None:
        if self._monitor is None:
            self._monitor = threading.Thread(target=self._watch_drops, name="sim-ssh-drop", daemon=True)
            self._monitor.start()

    def _watch_drops(self) -> None:
        while not self._wake.wait(0.05):
            with self._lock:
                pending = [h for h in self._hosts.values() if h.faults.drop and not h.dropped]
                if self._closed or not pending:
                    # exit under the lock: a host started later sees no monitor and starts one
                    self._monitor = None
                    return
            for host in pending:
                if self._drop_due(host) and _has_children(host.proc.pid):
                    try:
                        cut = self.drop_sessions(host.instance_id)
                    except SimulatorError:
                        continue  # stopped meanwhile
                    host.dropped = cut > 0

    def _drop_due(self, host: _Host) -> bool:
        now = time.monotonic()
        if host.faults.drop_phase is None:
            return now - host.started >= host.faults.drop_after
        if host.phase_since is None:
            if _last_line(host.dir / "phase") != host.faults.drop_phase:
                return False
            host.phase_since = now
        return now - host.phase_since >= host.faults.drop_after

    def _info(self, host: _Host) -> HostInfo:
        return HostInfo(host.ip, self.port, host.fingerprint, host.proc.pid)


# ---- faults ------------------------------------------------------------------------------------


def default_image(itype: Any) -> SimImage:
    """What Lambda boots when the launch names no image: the latest Lambda Stack for the type's architecture."""
    arch = getattr(itype, "arch", "x86_64")
    return next(i for i in DEFAULT_IMAGES if i.family == DEFAULT_IMAGE_FAMILY and i.architecture == arch)


def _write_image(hdir: Path, image: SimImage) -> None:
    """The host's image: image.json and image.env (the stand-ins read them) and its sysroot/etc/os-release."""
    release = image.release
    facts = {
        "family": image.family,
        "version": image.version,
        "architecture": image.architecture,
        "ubuntu": release.version,
        "version_id": release.version_id,
        "codename": release.codename,
        "python": release.python,
    }
    (hdir / "image.json").write_text(json.dumps(facts, indent=2) + "\n")
    (hdir / "image.env").write_text(
        f"SIM_IMAGE_FAMILY={shlex.quote(image.family)}\nSIM_PYTHON_VERSION={shlex.quote(release.python)}\n"
    )
    (hdir / "sysroot" / "etc" / "os-release").write_text(release.os_release())
    packages = {f"python{release.python_minor}-venv": release.venv_installed, "python3-pip": release.pip_installed}
    (hdir / "image-packages.json").write_text(json.dumps(packages, indent=2) + "\n")


def _parse_faults(faults: dict[str, Any]) -> _Faults:
    """Validate the host faults the API core hands over (numbers or {param: value} dicts)."""
    plan = _Faults()
    unknown = sorted(set(faults) - set(HOST_FAULTS))
    if unknown:
        raise SimulatorError(
            f"unknown host fault(s) {', '.join(unknown)}",
            f"host faults are {', '.join(HOST_FAULTS)}",
        )
    for kind, raw in faults.items():
        params = raw if isinstance(raw, dict) else {"_": raw}
        if kind == "sshd_late":
            secs = _seconds(kind, params.get("seconds", params.get("_")), forever_ok=True)
            plan.late = float("inf") if secs is None else secs
        elif kind == "ssh_drop":
            _only(kind, params, {"after", "phase", "_"})
            plan.drop = True
            plan.drop_after = _seconds(kind, params.get("after", params.get("_", 0)) or 0) or 0.0
            phase = params.get("phase")
            if phase is not None and not _PHASE.match(str(phase)):
                raise SimulatorError(f"host fault ssh_drop: phase {phase!r} is not a phase name")
            plan.drop_phase = None if phase is None else str(phase)
        elif kind == "cuda_802":
            plan.cuda_802 = True
            plan.cuda_802_seconds = _seconds(kind, params.get("seconds", params.get("_")), forever_ok=True)
        elif kind == "disk_full":
            _only(kind, params, {"bytes", "_"})
            value = params.get("bytes", params.get("_"))
            plan.disk_bytes = DEFAULT_DISK_FULL_BYTES if value is None or value is True else _size(value)
        elif kind == "slow_disk":
            _only(kind, params, {"bytes_per_second", "_"})
            value = params.get("bytes_per_second", params.get("_"))
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SimulatorError(f"host fault slow_disk needs bytes_per_second >= 1, got {value!r}")
            plan.slow_bps = value
        elif kind == "power_limit":
            plan.power_limit = _power_limit(params)
    return plan


def _power_limit(params: dict[str, Any]) -> dict[str, Any]:
    """The power_limit fault: watts > 0 (None or "N/A": nvidia-smi cannot say it), gpus a list of indices."""
    _only("power_limit", params, {"watts", "gpus", "_"})
    watts = params.get("watts", params.get("_"))
    if watts == "N/A":
        watts = None
    if watts is not None and (isinstance(watts, bool) or not isinstance(watts, (int, float)) or watts <= 0):
        raise SimulatorError(f"host fault power_limit: watts must be a number > 0 or N/A, got {watts!r}")
    gpus = params.get("gpus")
    if gpus is not None and (
        not isinstance(gpus, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in gpus)
    ):
        raise SimulatorError(f"host fault power_limit: gpus must be a list of GPU indices, got {gpus!r}")
    return {"watts": None if watts is None else float(watts), "gpus": gpus}


def _only(kind: str, params: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(params) - allowed)
    if extra:
        raise SimulatorError(f"host fault {kind}: unknown parameter(s) {', '.join(extra)}")


def _seconds(kind: str, value: Any, *, forever_ok: bool = False) -> float | None:
    if forever_ok and (value is None or value is True or value == "forever"):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SimulatorError(f"host fault {kind}: seconds must be a number >= 0, got {value!r}")
    return float(value)


def _size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.match(str(value))
    if not match or int(match.group(1)) <= 0:
        raise SimulatorError(f"host fault disk_full: bytes must be a size like 16777216 or '16M', got {value!r}")
    return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match.group(2).upper()]


def _ngc_reference(key: Any) -> dict[str, str] | None:
    """A salted digest of the NGC key, so the docker stand-in can check a login without the key."""
    if key is None:
        return None
    value = key.reveal() if hasattr(key, "reveal") else str(key)
    if not value:
        return None
    salt = secrets.token_hex(8)
    return {"salt": salt, "sha256": hashlib.sha256((salt + value).encode()).hexdigest()}


# ---- sockets -----------------------------------------------------------------------------------


def _close_at_exit(ref: weakref.ref[HostManager]) -> None:
    manager = ref()
    if manager is not None:
        manager.close()


def _loopback_addresses() -> Iterator[str]:
    for b in range(256):
        for c in range(2 if b == 0 else 1, 255):
            yield f"127.0.{b}.{c}"


def _bindable(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as sshd does
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def _hold_address(ip: str, port: int) -> socket.socket | None:
    """Bind ip:port without SO_REUSEADDR and without listening: blocks every other bind there
    (sshd's included) while connects are refused, as with no sshd yet."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((ip, port))
    except OSError:
        sock.close()
        return None
    return sock


def _default_port() -> int:
    """22 when we are root and no wildcard listener holds it, else one free port for all hosts."""
    if os.geteuid() == 0 and not _wildcard_listener(22):
        return 22
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tcp_rows() -> list[list[str]]:
    rows = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(name) as fh:
            rows += [line.split() for line in fh.readlines()[1:]]
    return rows


def _wildcard_listener(port: int) -> bool:
    suffix = f":{port:04X}"
    return any(
        row[3] == "0A" and row[1].endswith(suffix) and set(row[1][: -len(suffix)]) == {"0"}
        for row in _tcp_rows()
        if len(row) > 9
    )


def _wait_listening(proc: subprocess.Popen[bytes], ip: str, port: int, timeout: float) -> str:
    """Wait until *this* sshd listens on ip:port (matched by socket inode, not just the port)."""
    (raw,) = struct.unpack("<I", socket.inet_aton(ip))
    local = f"{raw:08X}:{port:04X}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            return f"sshd exited with status {proc.returncode}"
        listening = {row[9] for row in _tcp_rows() if len(row) > 9 and row[1] == local and row[3] == "0A"}
        if listening and listening & _socket_inodes(proc.pid):
            return "ok"
        if time.monotonic() > deadline:
            return f"not listening after {timeout:.0f} s"
        time.sleep(0.01)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    return inodes


# ---- processes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Proc:
    ppid: int
    sid: int
    state: str
    comm: str


def _proc_table() -> dict[int, _Proc]:
    """Every live (non-zombie) process: parent, session, state, command name."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] in ("Z", "X"):
            continue
        table[int(name)] = _Proc(int(fields[1]), int(fields[3]), fields[0], comm)
    return table


def _is_sshd(info: _Proc) -> bool:
    return info.comm.startswith("sshd")


def _descendants(table: dict[int, _Proc], roots: list[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, info in table.items():
        children.setdefault(info.ppid, []).append(pid)
    found: set[int] = set()
    todo = [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo += children.get(pid, [])
    return found


def _marked(table: dict[int, _Proc], marker: bytes) -> set[int]:
    found = set()
    for pid in table:
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    found.add(pid)
        except OSError:
            continue
    return found


def _own_lineage() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
            pid = int(stat[stat.rfind(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")


def _wait_gone(pids: set[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


def _has_children(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return bool(fh.read().strip())
    except OSError:
        return any(info.ppid == pid for info in _proc_table().values())


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


# ---- files, keys, mounts -----------------------------------------------------------------------


def _fingerprint(public_key_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a public key line."""
    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


_versions: dict[str, tuple[int, int]] = {}


def _sshd_version(sshd_path: str) -> tuple[int, int]:
    if sshd_path not in _versions:
        out = subprocess.run([sshd_path, "-V"], capture_output=True, text=True, check=False, timeout=10)
        match = re.search(r"OpenSSH_(\d+)\.(\d+)", out.stdout + out.stderr)
        _versions[sshd_path] = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    return _versions[sshd_path]


def _tail(path: Path, size: int = 2000) -> str:
    try:
        data = path.read_bytes()[-size:]
    except OSError:
        return ""
    return data.decode(errors="replace").strip()


def _last_line(path: Path) -> str | None:
    try:
        lines = path.read_text().split()
    except OSError:
        return None
    return lines[-1] if lines else None


def _is_mounted(path: Path) -> bool:
    try:
        with open("/proc/self/mounts") as fh:
            points = {line.split()[1].replace("\\040", " ") for line in fh}
    except OSError:
        return False
    return str(path) in points


def _mount_tmpfs(path: Path, size: int, pw: pwd.struct_passwd) -> None:
    if os.geteuid() != 0:
        raise SimulatorError(
            "the disk_full fault needs root to mount a size-limited tmpfs",
            "run the simulator as root, or drop disk_full from the scenario",
        )
    options = f"size={size},mode=0755,uid={pw.pw_uid},gid={pw.pw_gid}"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "lambdabench-sim-disk", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=15,
    )
    if done.returncode != 0:
        raise SimulatorError(
            f"cannot mount the disk_full tmpfs: {done.stderr.strip()}",
            "the disk_full fault needs mount rights (CAP_SYS_ADMIN)",
        )


def _umount(path: Path) -> None:
    done = subprocess.run(["umount", str(path)], capture_output=True, check=False, timeout=15)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False, timeout=15)
