"""What the playbook runner, the transfer and the run wing need from a machine: one interface, two ways.

`remote.ssh.Session` reaches an instance or a BYO host over SSH (paramiko for commands, OpenSSH for
bulk streams); `remote.local.LocalSession` is this machine, with no SSH at all. Both run a command
under bash in the machine's $HOME, stream its output redacted into a step log, copy files, write
0600 files from stdin, and give the transfer an argv that streams a command's stdout.

This module holds what both share (the result of a command, a lost connection, the redacted log
writer); `ssh` and `local` are siblings that import only this, never each other.
"""

from __future__ import annotations

import collections
import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from lambdabench.errors import RemoteError
from lambdabench.secrets import Secret, StreamRedactor, redact

TAIL_LINES = 20
STDOUT_KEEP = 8 * 1024 * 1024  # bytes of a command's stdout kept in memory at its start, and as many at its end


class ConnectionLost(RemoteError):
    """The connection to the machine dropped while a command ran (or could not be made)."""


@dataclass
class CommandResult:
    """What one remote command did."""

    command: str
    exit_status: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class Where(Protocol):
    """Where a transport goes, for messages and for host-key pins."""

    host: str

    def describe(self) -> str: ...


class Transport(Protocol):
    target: Any  # Where: SshTarget or LocalTarget
    verbose: bool

    def open(self) -> Transport: ...

    def close(self) -> None: ...

    def reopen(self) -> Transport: ...

    @property
    def connected(self) -> bool: ...

    def run(
        self,
        command: str,
        *,
        timeout: float | None = None,
        stdin: bytes | str | Secret | None = None,
        log_path: Path | None = None,
        check: bool = True,
        echo: bool | None = None,
    ) -> CommandResult: ...

    def exec(self, argv: Sequence[object], **kwargs: Any) -> CommandResult: ...

    def put(self, local: Path, remote: str, mode: int | None = None) -> None: ...

    def get(self, remote: str, local: Path) -> None: ...

    def write_private(self, remote: str, data: bytes | str | Secret) -> None: ...

    def wrap(self, command: str) -> str: ...

    def stream_argv(self, command: str, extra: Sequence[str] = ()) -> list[str] | None:
        """A local argv whose stdout is the command's (None: use open_stream)."""
        ...

    def open_stream(self, command: str) -> Any: ...

    def ensure_pinned(self) -> None:
        """Before a bulk stream: the host key is pinned (a no-op where there is none)."""
        ...


class KeptOutput:
    """A command's stdout as kept in memory: its first and last STDOUT_KEEP bytes (the step log has it all).

    Memory stays bounded whatever a step prints (1 GB of output must not take GBs of
    RAM); what callers read from stdout (facts, a poll's chunk) is small, and at its start or its end.
    """

    def __init__(self, keep: int = 0) -> None:
        self.keep = keep or STDOUT_KEEP
        self.head = bytearray()
        self.tail: collections.deque[bytes] = collections.deque()
        self.tail_size = 0
        self.dropped = 0

    def append(self, chunk: bytes) -> None:
        room = self.keep - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail.append(chunk)
        self.tail_size += len(chunk)
        while self.tail_size - len(self.tail[0]) >= self.keep:
            gone = self.tail.popleft()
            self.tail_size -= len(gone)
            self.dropped += len(gone)

    def joined(self) -> bytes:
        cut = f"\n[lambdabench: {self.dropped} bytes of output not kept in memory; the log has them]\n"
        return bytes(self.head) + (cut.encode() if self.dropped else b"") + b"".join(self.tail)


def finished(
    command: str,
    status: int,
    out: KeptOutput,
    err: bytes | bytearray,
    started: float,
    where: str,
    log_path: Path | None,
    check: bool,
) -> CommandResult:
    """A command's result, or (check and a non-zero status) the one-line error naming where it ran."""
    stdout = out.joined().decode("utf-8", "replace")
    stderr = bytes(err).decode("utf-8", "replace")
    result = CommandResult(command, status, stdout, stderr, time.monotonic() - started)
    if check and status != 0:
        tail = stderr_tail(stderr) or stderr_tail(stdout)
        last = tail.splitlines()[-1] if tail else "no output"
        raise RemoteError(
            f"`{short(command)}` exited {status} on {where}: {last}",
            f"see {log_path}" if log_path else "rerun with --verbose to see its output",
            command=redact(command),
            exit_status=status,
            stderr_tail=tail,
        )
    return result


def stderr_tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last lines of stderr, secrets scrubbed."""
    return redact("\n".join(text.rstrip().splitlines()[-lines:]))


def short(command: str, limit: int = 160) -> str:
    """A command for a one-line message: redacted, whitespace folded, cut at limit."""
    text = " ".join(redact(command).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Scrubbed:
    """A command's output on its way to the step log (and stderr with -v), redacted as a stream.

    stdout and stderr get a redactor each: a secret written to stdout in two pieces with a stderr
    line between them must still be held back whole, which one shared redactor cannot do."""

    def __init__(self, log: IO[bytes] | None, echo: bool) -> None:
        self.log = log
        self.echo = echo
        on = log is not None or echo
        self.redactors = {"out": StreamRedactor(), "err": StreamRedactor()} if on else {}

    def write(self, chunk: bytes, stream: str = "out") -> None:
        redactor = self.redactors.get(stream)
        if redactor is not None:
            self._emit(redactor.feed(chunk))

    def close(self) -> None:
        for redactor in self.redactors.values():
            self._emit(redactor.close())
        self.redactors = {}

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self.log is not None:
            self.log.write(text.encode("utf-8", "surrogateescape"))
            self.log.flush()
        if self.echo:
            with contextlib.suppress(OSError):  # a closed terminal must not fail the command
                sys.stderr.write(text)
                sys.stderr.flush()


def stdin_bytes(stdin: bytes | str | Secret | None) -> bytes:
    """What a command's stdin carries, as bytes (a Secret revealed only here, on its way to the pipe)."""
    if stdin is None:
        return b""
    if isinstance(stdin, Secret):
        return stdin.reveal().encode()
    return stdin.encode() if isinstance(stdin, str) else stdin
