"""This machine as a transport (`sweep --local`): the playbooks run here, with no SSH at all.

Commands run under bash like over SSH, in a workspace that stands in for the remote $HOME
(`<LAMBDABENCH_HOME>/local/home` by default, HOME set to it), so the playbooks' own paths
(`.lambdabench/jobs`, `lambdabench-mjx/…`) never land in the user's real home directory. Output is
streamed redacted into the step log, as over SSH; bulk streams for the pull are a local `bash`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lambdabench.errors import RemoteError, RemoteTimeout
from lambdabench.remote import shell
from lambdabench.remote.transport import (
    CommandResult,
    KeptOutput,
    Scrubbed,
    finished,
    short,
    stderr_tail,
    stdin_bytes,
)
from lambdabench.secrets import Secret, redact


@dataclass(frozen=True)
class LocalTarget:
    host: str = "localhost"
    host_key_alias: str = "lambdabench-local"

    def describe(self) -> str:
        return "this machine"


class LocalSession:
    """The Transport interface (lambdabench.remote.transport) for this machine."""

    def __init__(self, *, home: Path, verbose: bool = False, extra_env: dict[str, str] | None = None) -> None:
        self.home = Path(home) / "local" / "home"
        self.target = LocalTarget()
        self.verbose = verbose
        self._env = {**os.environ, "HOME": str(self.home), **(extra_env or {})}
        self._open = False

    # -- connection (there is none) ----------------------------------------------------------------

    def open(self) -> LocalSession:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._open = True
        return self

    def close(self) -> None:
        self._open = False

    def reopen(self) -> LocalSession:
        return self.open()

    @property
    def connected(self) -> bool:
        return self._open

    def ensure_pinned(self) -> None:
        self.open()

    # -- commands ----------------------------------------------------------------------------------

    def wrap(self, command: str) -> str:
        return shell.bash_c('cd "$HOME" 2>/dev/null; ' + command)

    def _argv(self, command: str) -> list[str]:
        return ["bash", "-c", "set -o pipefail; " + 'cd "$HOME" 2>/dev/null; ' + command]

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
        """Run command under bash in the workspace; output streamed (redacted) to log_path."""
        self.open()
        echo = self.verbose if echo is None else echo
        started = time.monotonic()
        log: IO[bytes] | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(log_path, "ab")  # noqa: SIM115 - closed below
        scrub = Scrubbed(log, echo)
        out = KeptOutput()
        err = bytearray()
        try:
            proc = subprocess.Popen(
                self._argv(command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
                start_new_session=True,
            )
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            data = stdin_bytes(stdin)
            feeder = threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True)
            feeder.start()
            lock = threading.Lock()

            def pump(stream: IO[bytes], keep: KeptOutput | bytearray, name: str) -> None:
                while chunk := stream.read1(65536):  # type: ignore[attr-defined]
                    with lock:
                        if isinstance(keep, KeptOutput):
                            keep.append(chunk)
                        else:
                            keep += chunk
                            del keep[: max(0, len(keep) - 64 * 1024)]
                        scrub.write(chunk, name)

            readers = [
                threading.Thread(target=pump, args=(proc.stdout, out, "out"), daemon=True),
                threading.Thread(target=pump, args=(proc.stderr, err, "err"), daemon=True),
            ]
            for t in readers:
                t.start()
            try:
                status = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise RemoteTimeout(
                    f"`{short(command)}` timed out after {timeout:g}s on this machine",
                    "raise the step's timeout, or run it detached",
                    command=redact(command),
                    stderr_tail=stderr_tail(err.decode("utf-8", "replace")),
                ) from None
            for t in readers:
                t.join()
        finally:
            scrub.close()
            if log is not None:
                log.close()
        return finished(command, status, out, err, started, "this machine", log_path, check)

    def exec(self, argv: Sequence[object], **kwargs: Any) -> CommandResult:
        return self.run(shell.join(argv), **kwargs)

    def _path(self, remote: str) -> Path:
        path = Path(remote)
        return path if path.is_absolute() else self.home / path

    def put(self, local: Path, remote: str, mode: int | None = None) -> None:
        dest = self._path(remote)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, dest)
        if mode is not None:
            dest.chmod(mode)

    def get(self, remote: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(remote), local)

    def write_private(self, remote: str, data: bytes | str | Secret) -> None:
        parent = remote.rsplit("/", 1)[0] if "/" in remote else "."
        self.run(
            f"umask 077 && mkdir -p {shell.quote(parent)} && chmod 700 {shell.quote(parent)} "
            f"&& cat > {shell.quote(remote)}",
            stdin=data,
        )

    def stream_argv(self, command: str, extra: Sequence[str] = ()) -> list[str] | None:
        """`env HOME=<workspace> bash -c …`: the pull streams from a local process (SSH options ignored)."""
        self.open()
        return ["env", f"HOME={self.home}", *self._argv(command)]

    def open_stream(self, command: str) -> Any:
        raise RemoteError("this machine has no SSH channel", "the pull uses stream_argv here")


def _feed(pipe: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError):
        if data:
            pipe.write(data)
    with contextlib.suppress(OSError):
        pipe.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


if sys.platform == "win32":  # pragma: no cover - lambdabench runs on Linux and macOS
    raise ImportError("the local transport needs a POSIX shell")
