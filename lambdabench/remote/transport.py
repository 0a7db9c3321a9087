"""What the playbook runner, the transfer and the run wing need from a machine: one interface, two ways.

`remote.ssh.Session` reaches an instance or a BYO host over SSH (paramiko for commands, OpenSSH for
bulk streams); `remote.local.LocalSession` is this machine, with no SSH at all. Both run a command
under bash in the machine's $HOME, stream its output redacted into a step log, copy files, write
0600 files from stdin, and give the transfer an argv that streams a command's stdout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lambdabench.remote.ssh import CommandResult
    from lambdabench.secrets import Secret


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

    def run(self, command: str, *, timeout: float | None = None, stdin: bytes | str | Secret | None = None,
            log_path: Path | None = None, check: bool = True, echo: bool | None = None) -> CommandResult: ...

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
