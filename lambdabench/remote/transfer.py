"""Artifact pull: one tar stream over one SSH channel, verified against a manifest hashed on the instance."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, NamedTuple

from lambdabench.errors import RemoteError
from lambdabench.remote import shell
from lambdabench.remote.ssh import ConnectionLost, Session

STATE_FILE = ".lambdabench-pull.jsonl"
_CHUNK = 1 << 20
Compression = Literal["gzip", "zstd"] | None

# Runs on the instance: reads NUL-separated relative paths on stdin, prints "size sha256 path\0".
_HASHER_PY = r"""
import hashlib, os, sys
os.chdir(sys.argv[1])
out = sys.stdout.buffer
for name in sys.stdin.buffer.read().split(b"\0"):
    if not name:
        continue
    h = hashlib.sha256()
    size = 0
    with open(name, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            size += len(b)
            h.update(b)
    out.write(b"%d %s %s\0" % (size, h.hexdigest().encode(), name))
"""

# Fallback for an instance without python3: coreutils only (sha256sum --zero, stat).
_HASHER_SH = (
    'cd "$1" && xargs -0 -r sha256sum --zero -- | while IFS= read -r -d "" line; do '
    'sum=${line%% *}; name=${line#*  }; printf "%s %s %s\\0" "$(stat -c %s -- "$name")" "$sum" "$name"; done'
)


class PulledFile(NamedTuple):
    """One file of a pull: its path under the run folder, size, sha256 (from the instance), verdict."""

    path: str
    size: int
    sha256: str
    verified: bool


@dataclass
class PullResult:
    """What a pull brought back and how fast."""

    files: list[PulledFile]
    bytes: int
    seconds: float
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[PulledFile]:
        return [f for f in self.files if not f.verified]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems


def _parse_records(data: bytes) -> dict[str, tuple[int, str]]:
    records = {}
    for rec in data.split(b"\0"):
        if not rec:
            continue
        size, digest, name = rec.split(b" ", 2)
        path = os.fsdecode(name)
        records[path[2:] if path.startswith("./") else path] = (int(size), digest.decode())
    return records


def list_remote(session: Session, remote_dir: str) -> dict[str, int]:
    """Regular files under remote_dir (recursively) with their sizes; symlinks are not followed."""
    result = session.run(
        f"cd {shell.quote(remote_dir)} && find . -type f -printf '%s - %P\\0'",
        timeout=300,
    )
    return {
        p: size
        for p, (size, _) in _parse_records(result.stdout.encode("utf-8", "surrogateescape")).items()
    }


def remote_manifest(
    session: Session, remote_dir: str, paths: Iterable[str], *, hasher: str = "auto"
) -> dict[str, tuple[int, str]]:
    """size and sha256 of each path, computed on the instance (python3 hashlib, else sha256sum)."""
    listing = b"".join(b"./" + os.fsencode(p) + b"\0" for p in paths)
    if not listing:
        return {}
    py = shell.join(["python3", "-c", _HASHER_PY, remote_dir])
    sh = shell.join(["bash", "-c", _HASHER_SH, "hasher", remote_dir])
    command = {"python": py, "coreutils": sh}.get(
        hasher, f"if command -v python3 >/dev/null 2>&1; then {py}; else {sh}; fi"
    )
    chan = session.open_stream(command)
    try:
        chan.sendall(listing)
        chan.shutdown_write()
        data = _read_all(chan.makefile("rb"))
        stderr = chan.makefile_stderr("rb").read().decode("utf-8", "replace")
        status = chan.recv_exit_status()
    except OSError as exc:
        raise ConnectionLost(f"connection lost while hashing {remote_dir}: {exc}") from exc
    finally:
        chan.close()
    if status != 0:
        raise RemoteError(
            f"hashing files in {remote_dir} failed (exit {status}): {stderr.strip()[-300:]}",
            command=command,
            exit_status=status,
            stderr_tail=stderr[-2000:],
        )
    return _parse_records(data)


def _read_all(stream: IO[bytes]) -> bytes:
    parts = []
    while chunk := stream.read(_CHUNK):
        parts.append(chunk)
    return b"".join(parts)


class _State:
    """Local hash cache of files already written (append-only JSONL, last entry wins)."""

    def __init__(self, local_dir: Path) -> None:
        self.path = local_dir / STATE_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["path"]] = entry
                except (ValueError, KeyError):
                    continue  # a torn last line after a crash
        self._lock = threading.Lock()

    def cached_sha(self, local_dir: Path, path: str) -> str | None:
        """The recorded sha256 if the local file is unchanged since we wrote it."""
        entry = self.entries.get(path)
        if entry is None:
            return None
        try:
            st = (local_dir / path).stat()
        except OSError:
            return None
        if st.st_size != entry["size"] or st.st_mtime_ns != entry["mtime_ns"]:
            return None
        return str(entry["sha256"])

    def record(self, local_dir: Path, path: str, size: int, sha256: str) -> None:
        st = (local_dir / path).stat()
        entry = {"path": path, "size": size, "sha256": sha256, "mtime_ns": st.st_mtime_ns}
        with self._lock, open(self.path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        self.entries[path] = entry


def _safe_local(local_dir: Path, name: str) -> Path:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise RemoteError(f"refusing tar member with an unsafe path: {name!r}")
    dest = (local_dir / pure).resolve()
    if not dest.is_relative_to(local_dir.resolve()):
        raise RemoteError(f"refusing tar member outside the run folder: {name!r}")
    return dest


def receive_tar(
    stream: IO[bytes],
    local_dir: Path,
    expected: set[str],
    compress: Compression = None,
    on_file: Any = None,
) -> dict[str, tuple[int, str]]:
    """Write a tar stream's regular files under local_dir, hashing as they land; refuse anything odd."""
    got: dict[str, tuple[int, str]] = {}
    mode = "r|gz" if compress == "gzip" else "r|"
    with tarfile.open(fileobj=stream, mode=mode) as tar:  # type: ignore[call-overload]
        for member in tar:
            name = member.name[2:] if member.name.startswith("./") else member.name
            dest = _safe_local(local_dir, name)
            if not member.isreg():
                raise RemoteError(f"refusing tar member that is not a regular file: {name!r}")
            if name not in expected:
                raise RemoteError(f"refusing tar member that was not asked for: {name!r}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None
            h = hashlib.sha256()
            size = 0
            part = dest.with_name(dest.name + ".part")
            with open(part, "wb") as out:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            os.replace(part, dest)
            got[name] = (size, h.hexdigest())
            if on_file is not None:
                on_file(name, size, got[name][1])
    # tarfile stops at the end marker (or at a garbled header, treated as the end): drain the rest
    # so the sender can exit; files it never delivered show up as missing in verification
    while stream.read(_CHUNK):
        pass
    return got


def _tar_command(remote_dir: str, compress: Compression) -> str:
    # ./-prefixed names from stdin: a name starting with '-' can never be read as an option
    tar = f"tar -C {shell.quote(remote_dir)} --null --no-recursion -T - -cf -"
    if compress == "gzip":
        tar += " | gzip -1 -c"
    elif compress == "zstd":
        tar += " | zstd -1 -q -c"
    return tar


def _stream_files(
    session: Session,
    remote_dir: str,
    local_dir: Path,
    names: Sequence[str],
    compress: Compression,
    transport: str,
    on_file: Any,
) -> dict[str, tuple[int, str]]:
    """Fetch names in one tar stream: OpenSSH `ssh` when available (native speed), else paramiko."""
    listing = b"".join(b"./" + os.fsencode(n) + b"\0" for n in names)
    command = _tar_command(remote_dir, compress)
    use_openssh = transport == "openssh" or (transport == "auto" and shutil.which("ssh"))
    if not use_openssh:
        chan = session.open_stream(command)
        try:
            threading.Thread(target=_feed, args=(chan, listing), daemon=True).start()
            stream: IO[bytes] = chan.makefile("rb")
            if compress == "zstd":
                got = _via_zstd(stream, local_dir, set(names), on_file)
            else:
                got = receive_tar(stream, local_dir, set(names), compress, on_file)
            status = chan.recv_exit_status()
            err = chan.makefile_stderr("rb").read().decode("utf-8", "replace")
        except (OSError, EOFError, tarfile.ReadError) as exc:
            raise ConnectionLost(f"transfer from {session.target.host} interrupted: {exc}") from exc
        finally:
            chan.close()
    else:
        argv = session.openssh_argv(session.wrap(command))
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert proc.stdin and proc.stdout and proc.stderr
        feeder = threading.Thread(target=_feed_pipe, args=(proc.stdin, listing), daemon=True)
        feeder.start()
        errors: list[bytes] = []
        drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
        drain.start()
        try:
            if compress == "zstd":
                got = _via_zstd(proc.stdout, local_dir, set(names), on_file)
            else:
                got = receive_tar(proc.stdout, local_dir, set(names), compress, on_file)
        except (OSError, EOFError, tarfile.ReadError) as exc:
            proc.kill()
            proc.wait()
            drain.join(5)
            err = b"".join(errors).decode("utf-8", "replace").strip()
            raise ConnectionLost(
                f"transfer from {session.target.host} interrupted: {exc} {err[-300:]}".strip()
            ) from exc
        status = proc.wait()
        drain.join(5)
        err = b"".join(errors).decode("utf-8", "replace")
        if status == 255:
            raise ConnectionLost(
                f"transfer from {session.target.host} lost its connection: {err.strip()}"
            )
    if status != 0:
        raise RemoteError(
            f"tar on {session.target.host} exited {status}: {err.strip()[-300:]}",
            command=command,
            exit_status=status,
            stderr_tail=err[-2000:],
        )
    return got


def _via_zstd(
    stream: IO[bytes], local_dir: Path, expected: set[str], on_file: Any
) -> dict[str, tuple[int, str]]:
    proc = subprocess.Popen(
        ["zstd", "-d", "-q", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin and proc.stdout
    threading.Thread(target=_copy_close, args=(stream, proc.stdin), daemon=True).start()
    try:
        return receive_tar(proc.stdout, local_dir, expected, None, on_file)
    finally:
        proc.wait()


def _copy_close(src: IO[bytes], dst: IO[bytes]) -> None:
    try:
        while chunk := src.read(_CHUNK):
            dst.write(chunk)
    finally:
        dst.close()


def _feed(chan: Any, data: bytes) -> None:
    try:
        chan.sendall(data)
        chan.shutdown_write()
    except OSError:
        pass


def _feed_pipe(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except OSError:
        pass


def pull(
    session: Session,
    remote_dir: str,
    local_dir: Path,
    include: Sequence[str] | None = None,
    *,
    compress: Compression = None,
    transport: Literal["auto", "openssh", "paramiko"] = "auto",
    hasher: str = "auto",
) -> PullResult:
    """Copy remote_dir's files (matching include globs) into local_dir; verify each against the instance.

    Files already verified by an earlier pull are skipped (resume); a file whose bytes do not match
    the instance's sha256 is reported in result.failed and never marked verified. Compression is off
    by default: on fast links it costs more CPU than it saves.
    """
    started = time.monotonic()
    local_dir.mkdir(parents=True, exist_ok=True)
    state = _State(local_dir)
    sizes = list_remote(session, remote_dir)
    if include:
        sizes = {p: s for p, s in sizes.items() if any(fnmatch.fnmatchcase(p, g) for g in include)}
    wanted = sorted(sizes)
    cached = {p: sha for p in wanted if (sha := state.cached_sha(local_dir, p)) is not None}
    first_round = [p for p in wanted if p not in cached]

    manifest: dict[str, tuple[int, str]] = {}
    hash_error: list[BaseException] = []

    def hash_all() -> None:
        try:
            manifest.update(remote_manifest(session, remote_dir, wanted, hasher=hasher))
        except BaseException as exc:  # surfaced after the stream finishes
            hash_error.append(exc)

    received: dict[str, tuple[int, str]] = {}

    def record(name: str, size: int, sha: str) -> None:
        state.record(local_dir, name, size, sha)

    # the instance hashes while the stream runs: its second read of each file hits the page cache
    hasher_thread = threading.Thread(target=hash_all, daemon=True)
    hasher_thread.start()
    try:
        if first_round:
            received.update(
                _stream_files(
                    session, remote_dir, local_dir, first_round, compress, transport, record
                )
            )
    finally:
        hasher_thread.join()
    if hash_error:
        raise hash_error[0]
    stale = [p for p, sha in cached.items() if manifest.get(p, (0, ""))[1] != sha]
    if stale:
        received.update(
            _stream_files(session, remote_dir, local_dir, stale, compress, transport, record)
        )

    files: list[PulledFile] = []
    problems: list[str] = []
    for path in wanted:
        remote = manifest.get(path)
        local = received.get(path) or (
            (sizes[path], cached[path]) if path in cached and path not in stale else None
        )
        if remote is None:
            problems.append(f"{path}: vanished from the instance before it was hashed")
            files.append(PulledFile(path, sizes[path], "", False))
            continue
        ok = local is not None and local == remote
        if not ok:
            problems.append(
                f"{path}: sha256 mismatch (instance {remote[1][:12]}…, local "
                f"{local[1][:12] if local else 'missing'}…)"
            )
            state.entries.pop(path, None)
        files.append(PulledFile(path, remote[0], remote[1], ok))
    return PullResult(
        files=files,
        bytes=sum(size for size, _ in received.values()),
        seconds=time.monotonic() - started,
        skipped=len(cached) - len(stale),
        problems=problems,
    )
