"""Artifact pull: one command streams a tar and then the instance's sha256 manifest of the same files.

The instance lists the folder, hashes it (python3 hashlib, else coreutils) while GNU tar streams it,
and appends the manifest after the archive: one SSH session, no listing round trip. The receiver
parses tar headers itself (no per-member tarfile objects), hashes what it writes, and marks a file
verified only when its size and sha256 equal the instance's.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

from lambdabench.errors import RemoteError
from lambdabench.remote import shell
from lambdabench.remote.transport import ConnectionLost, Transport

STATE_FILE = ".lambdabench-pull.jsonl"
Compression = Literal["gzip", "zstd"] | None
_BUF = 1 << 20  # receive buffer; also the size above which a file is written via <name>.part
_SMALL = 256 << 10  # files up to this size are written by a pool of threads
# creating files costs far more than writing 10 KiB on a busy ext4: a few threads overlap that
_WRITERS = 4
_BATCH = 32  # small files handed to a writer at once (one queue hop per batch, not per file)
_IN_FLIGHT = 8  # batches queued for the writers at most (64 MiB)
_PIPE = 1 << 20  # pipe capacity asked for on the ssh stdout pipe (fewer wake-ups per MiB)
_MAGIC = b"#lambdabench-manifest"
MIB = 1024 * 1024
_PADDING_MAX = 4 * MIB  # tar pads its end to a 10 KiB record; anything near this is no tar's
_MANIFEST_MAX = 64 * MIB  # a record is ~100 bytes a file: room for over half a million files
# AES-GCM first: one pass with AES-NI, cheaper than chacha20-poly1305 on both ends of a big pull;
# the rest of OpenSSH's usual list stays as a fallback for servers without it
_CIPHERS = (
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"
)

# Runs on the instance: hashes the NUL-separated names in argv[1]; "size sha256 name\0" each,
# "E errno name\0" for a file it cannot read (a file gone since the listing is left out).
_HASHER_PY = r"""
import hashlib, os, sys
out = sys.stdout.buffer
buf = bytearray(1 << 20)
mv = memoryview(buf)
with open(sys.argv[1], "rb") as f:
    names = f.read().split(b"\0")
for name in names:
    if not name:
        continue
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        continue
    except OSError as exc:
        out.write(b"E %d %s\0" % (exc.errno, name))
        continue
    h = hashlib.sha256()
    size = 0
    try:
        while True:
            n = os.readv(fd, [buf])
            if not n:
                break
            h.update(mv[:n])
            size += n
    except OSError as exc:
        out.write(b"E %d %s\0" % (exc.errno, name))
        continue
    finally:
        os.close(fd)
    out.write(b"%d %s %s\0" % (size, h.hexdigest().encode(), name))
"""

# Runs on the instance under bash: $1 folder, $2 hasher (auto|python|coreutils), $3 mode (skip:
# stdin lists names not to send | only: stdin lists the names to send), $4 the python hasher, then
# find tests for the include globs. Prints the tar, then the manifest (see _read_manifest).
_PULL_SH = r"""
dir=$1 hasher=$2 mode=$3 py=$4
shift 4
cd -- "$dir" || exit 3
t=$(mktemp -d "${TMPDIR:-/tmp}/lambdabench-pull.XXXXXX") || exit 3
trap 'rm -rf -- "$t"' EXIT
export LC_ALL=C
if [ "$mode" = only ]; then
  sort -z -u >"$t/all"
  : >"$t/skip"
else
  cat >"$t/skip"
  find . -type f ! -path ./.lambdabench-pull.jsonl "$@" -print0 | sort -z >"$t/all" || exit 4
fi
if [ "$hasher" != coreutils ] && { [ "$hasher" = python ] || command -v python3 >/dev/null 2>&1; }; then
  python3 -c "$py" "$t/all" >"$t/sums" &
else
  { printf '#sizes\0'; xargs -0 -r stat --printf '%s %n\0' -- <"$t/all"
    printf '#sums\0'; xargs -0 -r sha256sum --zero -- <"$t/all"; } >"$t/sums" &
fi
hp=$!
send=$t/all
if [ -s "$t/skip" ]; then
  sort -z -u "$t/skip" >"$t/skip.sorted" && comm -z -23 "$t/all" "$t/skip.sorted" >"$t/send" || exit 4
  send=$t/send
fi
tar --null --no-recursion --hard-dereference -T "$send" -cf -
ts=$?
wait "$hp"
hs=$?
printf '#lambdabench-manifest tar=%d hash=%d\0' "$ts" "$hs"
cat -- "$t/sums"
printf '#end\0'
"""


class PulledFile(NamedTuple):
    """One file of a pull: its path under the run folder, size, sha256 (from the instance), verdict."""

    path: str  # os.fsdecode'd: a non-UTF-8 name keeps its bytes as surrogates
    size: int
    sha256: str
    verified: bool

    @property
    def display_path(self) -> str:
        """The path as printable UTF-8 text: undecodable bytes and control characters escaped."""
        return display_name(self.path)


def display_name(path: str) -> str:
    """A file name safe for logs, the ledger and terminals (\n, ESC and invalid UTF-8 escaped)."""
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
        self._out: IO[str] | None = None
        self._flushed = time.monotonic()
        self._lock = threading.Lock()

    def cached_sha(self, local_dir: Path, path: str) -> str | None:
        """The recorded sha256 if the local file is unchanged since we wrote it."""
        entry = self.entries.get(path)
        if entry is None or not entry.get("sha256"):
            return None
        try:
            st = (local_dir / path).stat()
        except OSError:
            return None
        if st.st_size != entry["size"] or st.st_mtime_ns != entry["mtime_ns"]:
            return None
        return str(entry["sha256"])

    def record(self, path: str, size: int, sha256: str, mtime_ns: int) -> None:
        """Remember a written file; lines are flushed at least every second (a crash costs a re-fetch)."""
        entry = {"path": path, "size": size, "sha256": sha256, "mtime_ns": mtime_ns}
        # formatted by hand: json.dumps of the whole dict is a tenth of a small file's cost
        line = f'{{"path": {json.dumps(path)}, "size": {size:d}, "sha256": "{sha256}", "mtime_ns": {mtime_ns:d}}}\n'
        with self._lock:
            if self._out is None:
                self._out = open(self.path, "a")  # noqa: SIM115 - closed in close()
            self._out.write(line)
            self.entries[path] = entry
            now = time.monotonic()
            if now - self._flushed > 1.0:
                self._out.flush()
                self._flushed = now

    def forget(self, path: str) -> None:
        """Drop a file whose bytes did not match the instance: the next pull fetches it first thing."""
        if path in self.entries:
            self.entries.pop(path)
            if self._out is None:
                self._out = open(self.path, "a")  # noqa: SIM115 - closed in close()
            self._out.write(json.dumps({"path": path, "sha256": None}) + "\n")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


class _Truncated(Exception):
    """The stream ended inside the archive or the manifest."""


class _Source:
    """A refillable buffer over readinto(memoryview) -> n (0 at EOF): tar parsing without copies."""

    def __init__(self, readinto: Callable[[memoryview], int]) -> None:
        self.buf = bytearray(_BUF)
        self.mv = memoryview(self.buf)
        self.pos = 0
        self.end = 0
        self._readinto = readinto

    def fill(self) -> bool:
        """Read more after what is buffered (moving the unread tail to the front); False at EOF."""
        if self.pos == self.end:
            self.pos = self.end = 0
        elif self.end == len(self.buf):
            rest = self.end - self.pos
            self.buf[:rest] = self.mv[self.pos : self.end]
            self.pos, self.end = 0, rest
        n = self._readinto(self.mv[self.end :])
        if not n:
            return False
        self.end += n
        return True

    def take(self, n: int) -> bytes:
        while self.end - self.pos < n:
            if not self.fill():
                raise _Truncated
        data = bytes(self.mv[self.pos : self.pos + n])
        self.pos += n
        return data

    def rest(self, limit: int) -> bytes:
        """Everything up to EOF, at most limit bytes: a stream that never ends must not fill the memory."""
        parts = [bytes(self.mv[self.pos : self.end])]
        kept = len(parts[0])
        self.pos = self.end
        while self.fill():
            parts.append(bytes(self.mv[self.pos : self.end]))
            kept += self.end - self.pos
            self.pos = self.end
            if kept > limit:
                raise RemoteError(
                    f"the pull's manifest passed {limit // MIB} MiB: the stream does not end as a pull's does",
                    "check the instance; nothing past the archive was kept",
                )
        return b"".join(parts)


def _number(field: bytes) -> int:
    if field[:1] == b"\x80":  # GNU base-256 for sizes of 8 GiB and more
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


_ZERO_BLOCK = bytes(512)
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_REGULAR = (b"0", b"\0", b"7")
_NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")  # links, devices, folders, fifos: header only


class _Receiver:
    """Writes a tar stream's regular files under local_dir, hashing each as it lands."""

    def __init__(self, local_dir: Path, state: _State, refuse: set[str]) -> None:
        self.root = os.path.realpath(local_dir)
        self.state = state
        self.refuse = refuse
        self.got: dict[str, tuple[int, str]] = {}
        self._dirs: set[str] = {""}
        self._pool: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(_IN_FLIGHT)
        self._errors: list[BaseException] = []
        self._batch: list[tuple[str, str, bytes]] = []

    def _dest(self, raw: bytes) -> tuple[str, str]:
        """(relative path, absolute path) for a member name; refuses anything that could escape."""
        name = os.fsdecode(raw)
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.startswith("/") or ".." in parts or not parts:
            raise RemoteError(f"refusing tar member with an unsafe path: {name!r}")
        rel = "/".join(parts)
        if rel in self.refuse:
            raise RemoteError(f"refusing tar member that would overwrite {rel!r}")
        parent = rel.rpartition("/")[0]
        if parent not in self._dirs:
            path = os.path.join(self.root, parent)
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as exc:
                raise RemoteError(f"cannot create {path}: {exc.strerror}") from exc
            # a symlinked folder already in the run folder must not lead writes elsewhere
            real = os.path.realpath(path)
            if real != self.root and not real.startswith(self.root + os.sep):
                raise RemoteError(f"refusing tar member outside the run folder: {name!r}")
            self._dirs.add(parent)
        return rel, os.path.join(self.root, rel)

    def receive(self, src: _Source) -> None:
        """Read members up to the end-of-archive block (the manifest follows it)."""
        long_name: bytes | None = None
        pax: dict[bytes, bytes] = {}
        while True:
            hdr = src.take(512)
            if hdr == _ZERO_BLOCK:
                return
            stored = _number(hdr[148:156])
            if stored != sum(hdr) - sum(hdr[148:156]) + 256:
                raise RemoteError("the tar stream is garbled (bad header checksum)")
            kind = hdr[156:157]
            size = _number(hdr[124:136])
            if kind in (b"L", b"K", b"x", b"g"):  # GNU long names, pax headers: metadata only
                data = src.take(size + (-size % 512))[:size]
                if kind == b"L":
                    long_name = data.split(b"\0", 1)[0]
                elif kind == b"x":
                    pax = _pax(data)
                continue
            name = long_name or pax.get(b"path") or hdr[:100].split(b"\0", 1)[0]
            if long_name is None and b"path" not in pax and hdr[257:263] == b"ustar\0":
                prefix = hdr[345:500].split(b"\0", 1)[0]
                if prefix:
                    name = prefix + b"/" + name
            if b"size" in pax:
                size = int(pax[b"size"])
            long_name, pax = None, {}
            rel, dest = self._dest(name)
            if kind in _NO_DATA:
                continue  # only regular files are pulled; nothing to skip
            if kind not in _REGULAR:
                self._skip(src, size + (-size % 512))
                continue
            if size > _SMALL:
                self._write(src, rel, dest, size)
                self._skip(src, -size % 512)
                continue
            self._batch.append((rel, dest, src.take(size)))
            self._skip(src, -size % 512)
            if len(self._batch) >= _BATCH:
                self._submit()

    def _submit(self) -> None:
        if self._errors:
            raise self._errors[0]
        if not self._batch:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_WRITERS, thread_name_prefix="lambdabench-pull")
        self._slots.acquire()
        self._pool.submit(self._write_small, self._batch)
        self._batch = []

    def _write_small(self, batch: list[tuple[str, str, bytes]]) -> None:
        """Write small files (in a pool thread); errors are raised later by the parser."""
        try:
            for rel, dest, data in batch:
                try:
                    fd = os.open(dest, _OPEN_FLAGS, 0o644)
                    try:
                        view = memoryview(data)
                        while view:
                            view = view[os.write(fd, view) :]
                        mtime_ns = os.fstat(fd).st_mtime_ns
                    finally:
                        os.close(fd)
                except OSError as exc:
                    raise RemoteError(f"cannot write {dest}: {exc.strerror}", "free space in the run folder") from exc
                digest = hashlib.sha256(data).hexdigest()
                self.got[rel] = (len(data), digest)
                self.state.record(rel, len(data), digest, mtime_ns)
        except BaseException as exc:
            self._errors.append(exc)
        finally:
            self._slots.release()

    def wait(self) -> None:
        """Let the writers finish; the first error any of them hit is raised here."""
        with contextlib.suppress(RemoteError):
            self._submit()  # a pending error is raised below, after the writers stop
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._errors:
            raise self._errors[0]

    def _skip(self, src: _Source, n: int) -> None:
        while n:
            if src.pos == src.end and not src.fill():
                raise _Truncated
            step = min(n, src.end - src.pos)
            src.pos += step
            n -= step

    def _write(self, src: _Source, rel: str, dest: str, size: int) -> None:
        target = dest + ".part"
        try:
            fd = os.open(target, _OPEN_FLAGS, 0o644)
        except OSError as exc:
            raise RemoteError(f"cannot write {dest}: {exc.strerror}") from exc
        h = hashlib.sha256()
        left = size
        try:
            while left:
                if src.pos == src.end and not src.fill():
                    raise _Truncated
                step = min(left, src.end - src.pos)
                chunk = src.mv[src.pos : src.pos + step]
                h.update(chunk)
                while chunk:
                    chunk = chunk[os.write(fd, chunk) :]
                src.pos += step
                left -= step
            mtime_ns = os.fstat(fd).st_mtime_ns
        except OSError as exc:
            raise RemoteError(f"cannot write {dest}: {exc.strerror}", "free space in the run folder") from exc
        finally:
            os.close(fd)
        if target != dest:
            try:
                os.replace(target, dest)
            except OSError as exc:
                raise RemoteError(f"cannot write {dest}: {exc.strerror}") from exc
        digest = h.hexdigest()
        self.got[rel] = (size, digest)
        self.state.record(rel, size, digest, mtime_ns)


def _pax(data: bytes) -> dict[bytes, bytes]:
    out = {}
    pos = 0
    while pos < len(data):
        length, _, rest = data[pos:].partition(b" ")
        if not length.isdigit():
            break
        record = data[pos : pos + int(length)]
        key, _, value = record.partition(b" ")[2].rstrip(b"\n").partition(b"=")
        out[key] = value
        pos += int(length)
    return out


@dataclass
class _Manifest:
    """What the instance reported after the archive."""

    files: dict[str, tuple[int, str]]
    unreadable: dict[str, str]
    tar_status: int
    hash_status: int


def _rel(name: bytes) -> str:
    path = os.fsdecode(name)
    return path[2:] if path.startswith("./") else path


def _read_manifest(src: _Source) -> _Manifest:
    """The trailer: NUL padding, '#lambdabench-manifest tar=N hash=N', records, '#end'.

    Both are bounded: endless NULs or an endless manifest is a garbled stream, not RAM.
    """
    padding = 0
    while True:
        if src.pos == src.end and not src.fill():
            raise _Truncated
        head = bytes(src.mv[src.pos : src.end]).lstrip(b"\0")
        padding += src.end - src.pos - len(head)
        src.pos = src.end - len(head)
        if head:
            break
        if padding > _PADDING_MAX:
            raise RemoteError("the tar stream is garbled (NUL bytes past the archive's end, without end)")
    records = src.rest(_MANIFEST_MAX).split(b"\0")
    if not records or not records[0].startswith(_MAGIC + b" "):
        raise RemoteError("the tar stream is garbled (no manifest after the archive)")
    if b"#end" not in records:
        raise _Truncated
    fields = dict(f.split(b"=", 1) for f in records[0].split()[1:] if b"=" in f)
    files: dict[str, tuple[int, str]] = {}
    unreadable: dict[str, str] = {}
    sizes: dict[str, int] = {}
    section = b""
    for rec in records[1 : records.index(b"#end")]:
        if rec.startswith(b"#"):
            section = rec
        elif rec.startswith(b"E "):
            _, errno_text, name = rec.split(b" ", 2)
            unreadable[_rel(name)] = os.strerror(int(errno_text))
        elif section == b"#sizes":
            size, name = rec.split(b" ", 1)
            sizes[_rel(name)] = int(size)
        elif section == b"#sums":  # sha256sum --zero: "<sha>  <name>" (or "<sha> *<name>")
            path = _rel(rec[66:])
            if path in sizes:
                files[path] = (sizes[path], rec[:64].decode())
        else:
            size, digest, name = rec.split(b" ", 2)
            files[_rel(name)] = (int(size), digest.decode())
    for path in sizes.keys() - files.keys() - unreadable.keys():
        unreadable[path] = "sha256sum could not read it"
    return _Manifest(files, unreadable, int(fields.get(b"tar", 0)), int(fields.get(b"hash", 0)))


def _find_tests(include: Sequence[str] | None) -> list[str]:
    """find(1) tests equivalent to fnmatchcase(relative path, glob) for any glob."""
    if not include:
        return []
    tests: list[str] = ["("]
    for glob in include:
        # find -path is fnmatch(3) without FNM_PATHNAME ('*' crosses '/', like Python's); it reads
        # backslash as an escape and [^ as negation, Python reads both literally
        pattern = glob.replace("\\", "\\\\").replace("[^", "[\\^")
        tests += [*(["-o"] if len(tests) > 1 else []), "-path", "./" + pattern]
    return [*tests, ")"]


def _command(remote_dir: str, mode: str, hasher: str, include: Sequence[str] | None, compress: Compression) -> str:
    if hasher not in ("auto", "python", "coreutils"):
        raise ValueError(f"hasher must be auto, python or coreutils, not {hasher!r}")
    argv = ["bash", "-c", _PULL_SH, "lambdabench-pull", remote_dir, hasher, mode, _HASHER_PY]
    command = shell.join([*argv, *_find_tests(include)])
    if compress == "gzip":
        command += " | gzip -1 -c"
    elif compress == "zstd":
        command += " | zstd -1 -q -c"
    return command


def _gunzip(readinto: Callable[[memoryview], int]) -> Callable[[memoryview], int]:
    z = zlib.decompressobj(wbits=31)
    raw = bytearray(_BUF)
    pending = b""

    def read(mv: memoryview) -> int:
        nonlocal pending
        while True:
            if pending:
                data = z.decompress(pending, len(mv))
                pending = z.unconsumed_tail
            else:
                n = readinto(memoryview(raw))
                if not n:
                    return 0
                data = z.decompress(bytes(raw[:n]), len(mv))
                pending = z.unconsumed_tail
            if data:
                mv[: len(data)] = data
                return len(data)

    return read


def _pipe_reader(fd: int) -> Callable[[memoryview], int]:
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE)
    return lambda mv: os.readv(fd, [mv])


class _Stream:
    """One running pull command: its stdout as readinto, stdin for the name list, stderr, status."""

    def __init__(self, session: Transport, command: str, transport: str) -> None:
        self.session = session
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self.chan: Any = None
        self._err: list[bytes] = []
        argv = session.stream_argv(command, ["-o", f"Ciphers={_CIPHERS}"]) if transport != "paramiko" else None
        if argv is None and transport == "openssh":
            raise ConnectionLost("OpenSSH `ssh` is not installed here", "install openssh-client")
        if argv is not None:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
            )
            assert self.proc.stderr is not None and self.proc.stdout is not None
            self._drain = threading.Thread(target=self._read_stderr, daemon=True)
            self._drain.start()
            self.readinto = _pipe_reader(self.proc.stdout.fileno())
        else:
            try:
                self.chan = session.open_stream(command)
            except Exception as exc:  # paramiko.SSHException without importing it here
                raise ConnectionLost(f"cannot start a pull on {session.target.host}: {exc}") from exc
            chan = self.chan

            def readinto(mv: memoryview) -> int:
                data = chan.recv(len(mv))
                mv[: len(data)] = data
                return len(data)

            self.readinto = readinto

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := self.proc.stderr.read(65536):
            self._err.append(chunk)

    def send(self, data: bytes) -> None:
        """Write the name list and close stdin (in a thread: the command reads it before tar starts)."""

        def feed() -> None:
            with contextlib.suppress(OSError, EOFError):
                if self.proc is not None:
                    assert self.proc.stdin is not None
                    if data:
                        self.proc.stdin.write(data)
                    self.proc.stdin.close()
                else:
                    if data:
                        self.chan.sendall(data)
                    self.chan.shutdown_write()

        if data:
            threading.Thread(target=feed, daemon=True).start()
        else:
            feed()

    def finish(self) -> tuple[int, str]:
        """Wait for the command; (exit status, stderr)."""
        if self.proc is not None:
            status = self.proc.wait()
            self._drain.join(5)
            return status, b"".join(self._err).decode("utf-8", "replace")
        status = self.chan.recv_exit_status()
        err = self.chan.makefile_stderr("rb").read().decode("utf-8", "replace")
        return status, err

    def abort(self) -> str:
        """Stop the command after a failure; its stderr so far."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self._drain.join(5)
            return b"".join(self._err).decode("utf-8", "replace")
        with contextlib.suppress(Exception):
            self.chan.close()
        return ""

    def close(self) -> None:
        if self.proc is not None:
            for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                with contextlib.suppress(OSError):
                    if pipe is not None:
                        pipe.close()
        elif self.chan is not None:
            self.chan.close()


def _fetch(
    session: Transport,
    remote_dir: str,
    receiver: _Receiver,
    names: bytes,
    *,
    mode: str,
    include: Sequence[str] | None,
    compress: Compression,
    transport: str,
    hasher: str,
) -> tuple[_Manifest, str]:
    """Run one pull command: receive its archive, return the manifest and tar's stderr."""
    command = _command(remote_dir, mode, hasher, include, compress)
    stream = _Stream(session, command, transport)
    zstd: subprocess.Popen[bytes] | None = None
    try:
        stream.send(names)
        readinto = stream.readinto
        if compress == "gzip":
            readinto = _gunzip(readinto)
        elif compress == "zstd":
            zstd = subprocess.Popen(
                ["zstd", "-d", "-q", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
            )
            threading.Thread(target=_pump, args=(stream.readinto, zstd.stdin), daemon=True).start()
            assert zstd.stdout is not None
            readinto = _pipe_reader(zstd.stdout.fileno())
        src = _Source(readinto)
        try:
            if not src.fill():
                status, err = stream.finish()
                raise _failed(session, remote_dir, command, status, err)
            receiver.receive(src)
            receiver.wait()
            manifest = _read_manifest(src)
        except (_Truncated, OSError, EOFError, zlib.error) as exc:
            err = stream.abort().strip()
            what = "ended early" if isinstance(exc, _Truncated) else f"broke: {exc}"
            raise ConnectionLost(
                f"transfer from {session.target.host} {what} {err[-300:]}".strip(),
                "rerun the pull: files already received are kept and skipped",
                command=command,
            ) from exc
        except BaseException:
            stream.abort()
            raise
        status, err = stream.finish()
    finally:
        stream.close()
        if zstd is not None:
            zstd.kill()
            zstd.wait()
    if status != 0:
        raise _failed(session, remote_dir, command, status, err)
    return manifest, err


def _failed(session: Transport, remote_dir: str, command: str, status: int, err: str) -> RemoteError:
    if status == 255 or status < 0:
        return ConnectionLost(
            f"pull of {remote_dir} from {session.target.host} lost its connection: {err.strip()[-300:]}",
            "rerun the pull: files already received are kept and skipped",
            command=command,
        )
    hint = "check that the folder exists on the instance" if status == 3 else None
    return RemoteError(
        f"pull of {remote_dir} from {session.target.host} failed (exit {status}): {err.strip()[-300:]}",
        hint,
        command=command,
        exit_status=status,
        stderr_tail=err[-2000:],
    )


def _pump(readinto: Callable[[memoryview], int], dst: IO[bytes]) -> None:
    buf = bytearray(_BUF)
    mv = memoryview(buf)
    try:
        while n := readinto(mv):
            dst.write(mv[:n])
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.close()


def _names(paths: Sequence[str]) -> bytes:
    return b"".join(b"./" + os.fsencode(p) + b"\0" for p in paths)


def pull(
    session: Transport,
    remote_dir: str,
    local_dir: Path,
    include: Sequence[str] | None = None,
    *,
    compress: Compression = None,
    transport: Literal["auto", "openssh", "paramiko"] = "auto",
    hasher: str = "auto",
) -> PullResult:
    """Copy remote_dir's files (matching include globs) into local_dir; verify each against the instance.

    One remote command streams the files while the instance hashes them. Files already written by
    an earlier pull and unchanged locally are not sent again but still checked against the
    instance's sha256 (re-fetched if it changed); a file whose bytes do not match is reported in
    result.failed and never marked verified. transport "auto" uses OpenSSH `ssh` when installed
    (native speed), else the session's paramiko connection. Compression is off by default: on fast
    links it costs more CPU than it saves.
    """
    started = time.monotonic()
    local_dir.mkdir(parents=True, exist_ok=True)
    state = _State(local_dir)
    cached = {
        p: (int(state.entries[p]["size"]), sha)
        for p in state.entries
        if (sha := state.cached_sha(local_dir, p)) is not None
    }
    session.ensure_pinned()
    receiver = _Receiver(local_dir, state, {STATE_FILE})
    options: dict[str, Any] = {
        "include": include,
        "compress": compress,
        "transport": transport,
        "hasher": hasher,
    }
    try:
        manifest, err = _fetch(session, remote_dir, receiver, _names(sorted(cached)), mode="skip", **options)
        if include:  # find applied the globs; this keeps Python's fnmatch the final word
            manifest.files = {
                p: v for p, v in manifest.files.items() if any(fnmatch.fnmatchcase(p, g) for g in include)
            }
        stale = sorted(
            p for p, sha in cached.items() if p in manifest.files and p not in receiver.got and manifest.files[p] != sha
        )
        if stale:
            second, err2 = _fetch(session, remote_dir, receiver, _names(stale), mode="only", **options)
            manifest.files.update(second.files)
            manifest.unreadable.update(second.unreadable)
            manifest.tar_status = max(manifest.tar_status, second.tar_status)
            err += err2
        return _verdict(manifest, receiver.got, cached, state, err, started)
    finally:
        with contextlib.suppress(BaseException):
            receiver.wait()  # files written before a failure still reach the state file
        state.close()


def _verdict(
    manifest: _Manifest,
    got: dict[str, tuple[int, str]],
    cached: dict[str, tuple[int, str]],
    state: _State,
    err: str,
    started: float,
) -> PullResult:
    files: list[PulledFile] = []
    problems: list[str] = []
    skipped = 0
    for path in sorted(manifest.files.keys() | got.keys()):
        remote = manifest.files.get(path)
        if remote is None:
            reason = manifest.unreadable.get(path, "vanished before it was hashed")
            problems.append(f"{path}: not in the instance's manifest ({reason})")
            files.append(PulledFile(path, got[path][0], "", False))
            continue
        local = got.get(path)
        if local is None and path in cached:
            local = cached[path]
            skipped += local == remote
        ok = local == remote
        if not ok:
            problems.append(
                f"{path}: sha256 mismatch (instance {remote[1][:12]}…, local {local[1][:12] if local else 'missing'}…)"
            )
            state.forget(path)
        files.append(PulledFile(path, remote[0], remote[1], ok))
    for path, reason in sorted(manifest.unreadable.items()):
        if path not in got:
            problems.append(f"{path}: unreadable on the instance ({reason})")
    if manifest.tar_status >= 2 or manifest.hash_status != 0:
        problems.append(
            f"tar exited {manifest.tar_status} and hashing {manifest.hash_status} on the instance: {err.strip()[-300:]}"
        )
    return PullResult(
        files=files,
        bytes=sum(size for size, _ in got.values()),
        seconds=time.monotonic() - started,
        skipped=skipped,
        problems=problems,
    )
