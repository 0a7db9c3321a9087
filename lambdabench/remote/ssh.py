"""SSH sessions to instances: readiness, pinned host keys, timed commands, OpenSSH argv helpers."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lambdabench.errors import RemoteError, RemoteTimeout, UsageError
from lambdabench.remote import shell
from lambdabench.remote.transport import (
    CommandResult,
    ConnectionLost,
    KeptOutput,
    Scrubbed,
    finished,
    short,
    stderr_tail,
    stdin_bytes,
)
from lambdabench.secrets import Secret, redact

if TYPE_CHECKING:
    import fabric
    import paramiko

DEFAULT_USER = "ubuntu"
DEFAULT_PORT = 22
_STDERR_KEEP = 64 * 1024
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class SshTarget:
    """Where to connect: address, port, user, private key, and the instance the host key belongs to."""

    host: str
    key_path: Path
    user: str = DEFAULT_USER
    port: int = DEFAULT_PORT
    instance_id: str | None = None

    @property
    def host_key_alias(self) -> str:
        """The known_hosts name of this host key: per instance, since Lambda reuses IPs with new keys."""
        if self.instance_id:
            return f"lambdabench-instance-{self.instance_id}"
        return f"lambdabench-host-{self.host}-{self.port}"

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class HostKeyChanged(RemoteError):
    """The host presented a key different from the one pinned for it."""


class AuthFailed(RemoteError):
    """sshd answered and refused our key: retrying for the whole readiness window would not help."""


class KnownHosts:
    """lambdabench's known_hosts file: one pinned key per alias, OpenSSH format, safe across processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)  # <LAMBDABENCH_HOME>/known_hosts: lambdabench's own pins, never ~/.ssh's
        self._lock = threading.Lock()

    def _entries(self) -> list[tuple[str, str, str]]:
        if not self.path.exists():
            return []
        entries = []
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and not line.startswith("#"):
                entries.append((parts[0], parts[1], parts[2]))
        return entries

    def lookup(self, alias: str) -> tuple[str, str] | None:
        """(key type, base64 key) pinned for alias, or None."""
        for name, keytype, b64 in self._entries():
            if alias in name.split(","):
                return keytype, b64
        return None

    @contextlib.contextmanager
    def _locked(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, entries: list[tuple[str, str, str]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(f"{a} {t} {k}\n" for a, t, k in entries))
        tmp.chmod(0o600)
        os.replace(tmp, self.path)

    def verify_or_pin(self, alias: str, key: paramiko.PKey, expected: str | None = None) -> None:
        """Trust on first use (or check the expected fingerprint), then refuse any other key."""
        offered = (key.get_name(), key.get_base64())
        with self._locked():
            pinned = self.lookup(alias)
            if pinned is None:
                if expected and fingerprint(key) != expected:
                    raise HostKeyChanged(
                        f"host key for {alias} is {fingerprint(key)}, expected {expected}",
                        "the address may belong to another machine; do not connect",
                    )
                self._write([*self._entries(), (alias, *offered)])
                return
        if pinned != offered:
            was = _fingerprint_b64(pinned[1])
            raise HostKeyChanged(
                f"host key for {alias} changed: pinned {pinned[0]} {was}, offered "
                f"{offered[0]} {fingerprint(key)}; refusing to connect",
                f"if the instance was really relaunched, forget its pin in {self.path}; "
                "otherwise the connection may be intercepted",
            )

    def forget(self, alias: str) -> bool:
        """Drop the pin for alias (after terminate); True if there was one."""
        with self._locked():
            entries = self._entries()
            kept = [e for e in entries if alias not in e[0].split(",")]
            if len(kept) != len(entries):
                self._write(kept)
                return True
        return False


def _fingerprint_b64(b64: str) -> str:
    digest = hashlib.sha256(base64.b64decode(b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass
class Session:
    """One SSH connection (Fabric) to an instance, with pinned host key and keepalives."""

    target: SshTarget
    known_hosts: KnownHosts
    connect_timeout: float = 15.0
    keepalive_s: int = 15
    verbose: bool = False
    expected_fingerprint: str | None = None
    _conn: fabric.Connection | None = field(default=None, init=False, repr=False)

    # -- connection -------------------------------------------------------------------------
    def open(self) -> Session:
        """Connect and authenticate; the host key is checked against our pin before auth."""
        if self.connected:
            return self
        import paramiko
        from fabric import Config, Connection

        _quiet_paramiko()

        if not self.target.key_path.exists():
            raise RemoteError(
                f"SSH private key not found: {self.target.key_path}",
                "set LAMBDABENCH_SSH_KEY or create the key",
            )
        # An explicit empty SSHConfig and lazy=True: never read ~/.ssh/config or fabric files.
        config = Config(ssh_config=paramiko.SSHConfig(), lazy=True)
        conn = Connection(
            self.target.host,
            user=self.target.user,
            port=self.target.port,
            config=config,
            connect_timeout=max(1, round(self.connect_timeout)),
            connect_kwargs={
                "key_filename": str(self.target.key_path),
                "look_for_keys": False,
                "allow_agent": False,
                "banner_timeout": self.connect_timeout,
                "auth_timeout": self.connect_timeout,
            },
        )
        # Fabric's own client auto-adds keys; ours starts empty so every key goes through the pin.
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_PinPolicy(self))
        conn.client = client
        try:
            conn.open()
        except HostKeyChanged:
            raise
        except paramiko.AuthenticationException as exc:
            raise AuthFailed(
                f"SSH authentication failed for {self.target.describe()}: {exc}",
                f"check that the instance was launched with the public key of {self.target.key_path}",
            ) from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionLost(
                f"cannot connect to {self.target.describe()}: {exc}",
                "the instance may still be booting; retry",
            ) from exc
        transport = conn.client.get_transport()
        assert transport is not None
        transport.set_keepalive(self.keepalive_s)
        self._conn = conn
        return self

    @property
    def connected(self) -> bool:
        if self._conn is None:
            return False
        transport = self._conn.client.get_transport()
        return transport is not None and transport.is_active()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def reopen(self) -> Session:
        """A fresh connection: new group memberships (usermod -aG docker) apply only to new logins."""
        self.close()
        return self.open()

    def __enter__(self) -> Session:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def transport(self) -> paramiko.Transport:
        if not self.connected:
            self.open()
        assert self._conn is not None
        transport = self._conn.client.get_transport()
        assert transport is not None
        return transport

    # -- commands ---------------------------------------------------------------------------
    def run(
        self,
        command: str,
        *,
        timeout: float | None = None,
        stdin: bytes | str | Secret | None = None,
        log_path: Path | None = None,
        check: bool = True,
        echo: bool | None = None,
    ) -> CommandResult:
        """Run command under bash in $HOME; output streamed to log_path (and stderr if verbose)."""
        echo = self.verbose if echo is None else echo
        wrapped = self.wrap(command)
        data = stdin_bytes(stdin)
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        out_chunks = KeptOutput()
        err_buf = bytearray()
        log: IO[bytes] | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(log_path, "ab")  # noqa: SIM115 - closed in the finally below
        scrub = Scrubbed(log, echo)
        try:
            try:
                chan = self.transport.open_session(timeout=self.connect_timeout)
                chan.exec_command(wrapped)
                if data:
                    chan.sendall(data)
                chan.shutdown_write()
            except (OSError, EOFError) as exc:
                raise self._lost(command, exc) from exc
            except Exception as exc:  # paramiko.SSHException without importing at module level
                raise self._lost(command, exc) from exc
            status = self._pump(chan, command, deadline, timeout, out_chunks, err_buf, scrub)
        finally:
            scrub.close()
            if log is not None:
                log.close()
        return finished(command, status, out_chunks, err_buf, started, self.target.describe(), log_path, check)

    def _pump(
        self,
        chan: paramiko.Channel,
        command: str,
        deadline: float | None,
        timeout: float | None,
        out_chunks: KeptOutput,
        err_buf: bytearray,
        scrub: Scrubbed,
    ) -> int:
        """Drain a channel until the command exits, the deadline passes or the link drops."""
        transport = chan.get_transport()
        try:
            while True:
                select.select([chan], [], [], 0.25)
                got = False
                while chan.recv_ready():
                    chunk = chan.recv(65536)
                    got = True
                    out_chunks.append(chunk)
                    scrub.write(chunk)
                while chan.recv_stderr_ready():
                    chunk = chan.recv_stderr(65536)
                    got = True
                    err_buf += chunk
                    if len(err_buf) > _STDERR_KEEP:
                        del err_buf[: len(err_buf) - _STDERR_KEEP]
                    scrub.write(chunk, "err")
                if got:
                    continue
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    status = int(chan.recv_exit_status())
                    if status == -1:
                        # paramiko also marks a channel "exited" when it closes without an exit status:
                        # that is a dropped connection, not a command that exited
                        raise self._lost(command, "the channel closed without an exit status")
                    return status
                if chan.closed or transport is None or not transport.is_active():
                    raise self._lost(command, "connection closed")
                if deadline is not None and time.monotonic() > deadline:
                    raise RemoteTimeout(
                        f"`{short(command)}` timed out after {timeout:g}s on {self.target.describe()}",
                        "raise the step's timeout, or run it detached",
                        command=redact(command),
                        stderr_tail=stderr_tail(err_buf.decode("utf-8", "replace")),
                    )
        finally:
            chan.close()

    def _lost(self, command: str, exc: object) -> ConnectionLost:
        self.close()
        return ConnectionLost(
            f"SSH connection to {self.target.describe()} lost during `{short(command)}`: {exc}",
            "detached steps survive this; rerun to reattach",
            command=redact(command),
        )

    @staticmethod
    def wrap(command: str) -> str:
        """The line sent to sshd: bash, pipefail, in $HOME (sshd starts in the passwd home dir)."""
        return shell.bash_c('cd "$HOME" 2>/dev/null; ' + command)

    def exec(self, argv: Sequence[object], **kwargs: Any) -> CommandResult:
        """Run argv exactly (every word quoted)."""
        return self.run(shell.join(argv), **kwargs)

    def stream_argv(self, command: str, extra: Sequence[str] = ()) -> list[str] | None:
        """OpenSSH `ssh … -- <command>` when OpenSSH is installed (native speed for bulk streams)."""
        if not shutil.which("ssh"):
            return None
        return openssh_argv(self.target, self.known_hosts.path, self.wrap(command), extra=list(extra))

    def ensure_pinned(self) -> None:
        """OpenSSH trusts only the key pinned when a paramiko session first connected."""
        if self.known_hosts.lookup(self.target.host_key_alias) is None:
            self.open()

    def open_stream(self, command: str) -> paramiko.Channel:
        """A channel running command, for callers that consume raw bytes (transfer)."""
        chan = self.transport.open_session(timeout=self.connect_timeout)
        chan.exec_command(self.wrap(command))
        return chan

    def put(self, local: Path, remote: str, mode: int | None = None) -> None:
        """Upload one file over SFTP."""
        assert self._conn is not None or self.open()
        assert self._conn is not None
        sftp = self._conn.sftp()
        sftp.put(str(local), remote)
        if mode is not None:
            sftp.chmod(remote, mode)

    def get(self, remote: str, local: Path) -> None:
        """Download one file over SFTP."""
        assert self._conn is not None or self.open()
        assert self._conn is not None
        local.parent.mkdir(parents=True, exist_ok=True)
        self._conn.sftp().get(remote, str(local))

    def write_private(self, remote: str, data: bytes | str | Secret) -> None:
        """Write a 0600 file in a 0700 folder, the content travelling on stdin (never argv)."""
        parent = remote.rsplit("/", 1)[0] if "/" in remote else "."
        self.run(
            f"umask 077 && mkdir -p {shell.quote(parent)} && chmod 700 {shell.quote(parent)} "
            f"&& cat > {shell.quote(remote)}",
            stdin=data,
        )

    # -- OpenSSH ----------------------------------------------------------------------------
    def openssh_argv(self, command: str | None = None, *, tty: bool = False, batch: bool = True) -> list[str]:
        """argv for OpenSSH `ssh` with our key and pinned known_hosts; see openssh_argv()."""
        return openssh_argv(self.target, self.known_hosts.path, command, tty=tty, batch=batch)


def _quiet_paramiko() -> None:
    """paramiko's transport thread logs a connection reset (an instance being terminated under a session)
    as an ERROR with a traceback; with no handler, Python's last-resort handler prints it to stderr.
    Our own one-line errors say what happened: give paramiko's logger a handler that drops records."""
    import logging

    log = logging.getLogger("paramiko")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())


class _PinPolicy:
    """paramiko policy: every host key passes through our pin (the client loads no others)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        s = self.session
        s.known_hosts.verify_or_pin(s.target.host_key_alias, key, s.expected_fingerprint)


AUTH_GRACE_S = 45.0  # a guess: cloud-init installs the key within seconds of sshd starting; not measured


def wait_for_ssh(
    target: SshTarget,
    *,
    timeout: float = 600.0,
    first_delay: float = 1.0,
    max_delay: float = 15.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    auth_grace: float = AUTH_GRACE_S,
    **session_kwargs: Any,
) -> Session:
    """Open a session once sshd answers (sshd lags `active`): bounded, exponential backoff.

    A refused key is retried only for auth_grace seconds after the first refusal (the key may still be
    being installed at first boot), never for the whole readiness window.
    """
    deadline = clock() + timeout
    delay = first_delay
    attempts = 0
    refused_since: float | None = None
    while True:
        attempts += 1
        session = Session(target, **session_kwargs)
        try:
            session.open()
            session.run("true", timeout=session.connect_timeout)
            return session
        except HostKeyChanged:
            raise
        except AuthFailed as exc:
            session.close()
            refused_since = clock() if refused_since is None else refused_since
            if clock() + delay > refused_since + auth_grace:
                raise AuthFailed(
                    f"{exc.message} ({attempts} attempts over {clock() - refused_since:.0f}s)", exc.hint
                ) from None
            last: RemoteError = exc
        except RemoteError as exc:
            session.close()
            last = exc
        if clock() + delay > deadline:
            raise RemoteTimeout(
                f"SSH on {target.describe()} not ready after {timeout:g}s ({attempts} attempts): {last.message}",
                "the instance may be unhealthy; check it, or terminate it to stop billing",
            )
        sleep(delay)
        delay = min(max_delay, delay * 2)


def openssh_argv(
    target: SshTarget,
    known_hosts: Path,
    command: str | None = None,
    *,
    tty: bool = False,
    batch: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """OpenSSH argv that reads no user config, uses our key and only our pinned host key."""
    ssh = shutil.which("ssh") or "ssh"
    argv = [
        ssh,
        "-F", "/dev/null",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"HostKeyAlias={target.host_key_alias}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", f"IdentityFile={target.key_path}",
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=4",
        "-o", "ConnectTimeout=15",
        "-o", "LogLevel=ERROR",
        "-p", str(target.port),
        "-l", target.user,
    ]  # fmt: skip
    if batch:
        argv += ["-o", "BatchMode=yes"]
    argv += ["-t"] if tty else ["-T"]
    argv += list(extra)
    argv.append(target.host)
    if command is not None:
        argv += ["--", command]
    return argv


def tunnel_argv(
    target: SshTarget,
    known_hosts: Path,
    *,
    local_port: int = 16006,
    remote_port: int = 6006,
    remote_host: str = "localhost",
) -> list[str]:
    """`ssh -N -L 127.0.0.1:<local>:<remote_host>:<remote>` (TensorBoard by default)."""
    return openssh_argv(
        target,
        known_hosts,
        extra=[
            "-N",
            "-o", "ExitOnForwardFailure=yes",
            "-L", f"127.0.0.1:{local_port}:{remote_host}:{remote_port}",
        ],
    )  # fmt: skip


def start_tunnel(
    target: SshTarget,
    known_hosts: Path,
    *,
    local_port: int = 16006,
    remote_port: int = 6006,
    ready_timeout: float = 15.0,
) -> subprocess.Popen[bytes]:
    """Start a port forward in the background and wait until the local port accepts connections."""
    argv = tunnel_argv(target, known_hosts, local_port=local_port, remote_port=remote_port)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
            raise RemoteError(
                f"tunnel 127.0.0.1:{local_port} → {target.host}:{remote_port} failed: {err}",
                f"is port {local_port} already in use locally?",
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", local_port), 0.5):
            return proc
        time.sleep(0.1)
    proc.terminate()
    raise RemoteTimeout(f"tunnel to {target.host} not ready after {ready_timeout:g}s")


def _ssh_config_value(value: object) -> str:
    text = str(value)
    if any(c in text for c in '"\n\r'):
        raise UsageError(f"cannot write {text!r} into an ssh config file")
    return f'"{text}"' if any(c.isspace() for c in text) else text


def ssh_alias_ok(name: str) -> bool:
    """Whether `lambdabench-<name>` can be an OpenSSH Host alias (letters, digits, . _ -)."""
    return bool(_NAME_RE.fullmatch(name)) and name.isascii()  # fullmatch: `$` alone lets a final newline in


def ssh_config_entry(name: str, target: SshTarget, known_hosts: Path) -> str:
    """A `Host lambdabench-<name>` block so `ssh lambdabench-<name>` and VS Code Remote work."""
    if not ssh_alias_ok(name):
        raise UsageError(f"instance name {name!r} cannot be an ssh host alias", "use letters, digits, . _ -")
    kh = known_hosts
    rows = [
        ("HostName", target.host),
        ("User", target.user),
        ("Port", target.port),
        ("IdentityFile", target.key_path),
        ("IdentitiesOnly", "yes"),
        ("UserKnownHostsFile", kh),
        ("HostKeyAlias", target.host_key_alias),
        ("StrictHostKeyChecking", "yes"),
        ("ServerAliveInterval", 15),
    ]
    body = "".join(f"    {k} {_ssh_config_value(v)}\n" for k, v in rows)
    return f"Host lambdabench-{name}\n{body}"


def ssh_config_include(entries: dict[str, SshTarget], known_hosts: Path) -> str:
    """Content for a file the user `Include`s from ~/.ssh/config: one block per instance."""
    header = "# Written by lambdabench; regenerated on every change. Include it from ~/.ssh/config.\n"
    return header + "\n".join(ssh_config_entry(n, t, known_hosts) for n, t in sorted(entries.items()))
