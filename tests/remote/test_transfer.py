"""Artifact pull against a real sshd: verification, corruption, resume, traversal, compression."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from lambdabench.errors import RemoteError
from lambdabench.remote.transfer import STATE_FILE, pull


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "rl_games/cartpole/2025-01-01_00-00-00/summaries/events.out.tfevents.1": os.urandom(200_000),
        "rl_games/cartpole/2025-01-01_00-00-00/nn/cartpole.pth": os.urandom(3_000_000),
        "rl_games/cartpole/2025-01-01_00-00-00/params/env.yaml": b"seed: 42\n",
        "odd names/it's a $(file);\n.txt": b"inert\n",
        "-starts-with-dash.txt": b"dash\n",
        "empty.txt": b"",
        "marked.bin": b"x" * 1000 + b"CORRUPTME" + b"y" * 1000,
        # past tar's 100-byte name field: a GNU long-name member
        "zz/" + "deep-folder-name/" * 8 + "events.jsonl": b'{"step": 1}\n' * 50,
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "link-out").symlink_to("/etc/passwd")
    return files


def check_local(local: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        assert (local / rel).read_bytes() == data, rel


@pytest.mark.parametrize(
    ("transport", "compress"),
    [("openssh", None), ("paramiko", None), ("openssh", "gzip"), ("paramiko", "zstd")],
)
def test_pull_verifies_every_file(host, session, tmp_path, transport, compress):
    files = make_tree(host.home / "logs")
    local = tmp_path / "run"
    result = pull(session, "logs", local, transport=transport, compress=compress)
    assert result.ok, result.problems
    assert sorted(f.path for f in result.files) == sorted(files)
    assert all(f.verified for f in result.files)
    for f in result.files:
        assert f.sha256 == hashlib.sha256(files[f.path]).hexdigest()
        assert f.size == len(files[f.path])
    check_local(local, files)
    assert not (local / "link-out").exists()  # symlinks on the instance are not followed
    assert result.bytes == sum(len(d) for d in files.values())


def test_include_globs_and_coreutils_hasher(host, session, tmp_path):
    files = make_tree(host.home / "logs")
    result = pull(session, "logs", tmp_path / "run", include=["*.yaml", "*/nn/*"], hasher="coreutils")
    assert result.ok, result.problems
    assert sorted(f.path for f in result.files) == sorted(p for p in files if p.endswith((".yaml", ".pth")))
    # every file, odd names included, through sha256sum --zero and stat
    everything = pull(session, "logs", tmp_path / "all", hasher="coreutils")
    assert everything.ok, everything.problems
    assert sorted(f.path for f in everything.files) == sorted(files)
    for f in everything.files:
        assert f.sha256 == hashlib.sha256(files[f.path]).hexdigest()
    check_local(tmp_path / "all", files)


def _wrap_tar(host, body: str) -> None:
    wrapper = host.bin_dir / "tar"
    wrapper.write_text("#!/bin/bash\n" + body)
    wrapper.chmod(0o755)


@pytest.mark.parametrize("transport", ["openssh", "paramiko"])
def test_corruption_in_transit_is_caught(raw_host, raw_session, tmp_path, transport):
    files = make_tree(raw_host.home / "logs")
    # flip bytes of one file inside the stream (same length, so the tar stays well-formed)
    _wrap_tar(
        raw_host,
        "/usr/bin/tar \"$@\" | LC_ALL=C sed 's/CORRUPTME/CORRUPTYO/' | head -c 100000000\n",
    )
    result = pull(raw_session, "logs", tmp_path / "run", transport=transport)
    assert [f.path for f in result.failed] == ["marked.bin"]
    assert not result.ok and "marked.bin" in result.problems[0]
    assert all(f.verified for f in result.files if f.path != "marked.bin")
    # with the link healthy again, the bad file is re-fetched and the good ones are skipped
    (raw_host.bin_dir / "tar").unlink()
    again = pull(raw_session, "logs", tmp_path / "run", transport=transport)
    assert again.ok and again.skipped == len(files) - 1
    assert again.bytes == len(files["marked.bin"])


def test_pull_resumes_after_a_drop(raw_host, raw_session, tmp_path):
    files = make_tree(raw_host.home / "logs")
    # the stream dies after the first few files (as when the link drops)
    _wrap_tar(raw_host, '/usr/bin/tar "$@" | head -c 250000\n')
    local = tmp_path / "run"
    with pytest.raises(RemoteError):
        pull(raw_session, "logs", local, transport="openssh")
    done_before = (local / STATE_FILE).read_text().count("\n")
    assert done_before >= 1
    (raw_host.bin_dir / "tar").unlink()
    result = pull(raw_session, "logs", local)
    assert result.ok, result.problems
    assert result.skipped == done_before
    check_local(local, files)
    # a local file changed since the pull is fetched again
    (local / "empty.txt").write_bytes(b"tampered")
    third = pull(raw_session, "logs", local)
    assert third.ok and third.bytes == 0 and (local / "empty.txt").read_bytes() == b""


def _tar_bytes(members: list[tarfile.TarInfo], data: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info in members:
            body = data.get(info.name)
            if body is not None:
                info.size = len(body)
            tar.addfile(info, io.BytesIO(body) if body is not None else None)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../../escaped.txt", "unsafe path"),
        ("/tmp/abs.txt", "unsafe path"),
        (STATE_FILE, "would overwrite"),
    ],
)
def test_unsafe_members_are_refused(raw_host, raw_session, tmp_path, name, message):
    make_tree(raw_host.home / "logs")
    evil = raw_host.home / "evil.tar"
    evil.write_bytes(_tar_bytes([tarfile.TarInfo(name)], {name: b"owned"}))
    _wrap_tar(raw_host, f"cat {evil}\n")
    with pytest.raises(RemoteError, match=message):
        pull(raw_session, "logs", tmp_path / "a" / "run")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "a" / "run" / STATE_FILE).exists()


def test_non_regular_members_are_skipped(raw_host, raw_session, tmp_path):
    files = {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n"}
    for rel, data in files.items():
        (raw_host.home / "logs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw_host.home / "logs" / rel).write_bytes(data)
    link = tarfile.TarInfo("./sneaky")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("./hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "a.txt"
    folder = tarfile.TarInfo("./sub")
    folder.type = tarfile.DIRTYPE
    fifo = tarfile.TarInfo("./pipe")
    fifo.type = tarfile.FIFOTYPE
    members = [tarfile.TarInfo("./a.txt"), link, hard, folder, fifo, tarfile.TarInfo("./sub/b.txt")]
    crafted = raw_host.home / "crafted.tar"
    crafted.write_bytes(_tar_bytes(members, {"./a.txt": files["a.txt"], "./sub/b.txt": files["sub/b.txt"]}))
    _wrap_tar(raw_host, f"cat {crafted}\n")
    local = tmp_path / "run"
    result = pull(raw_session, "logs", local)
    assert result.ok, result.problems
    assert sorted(f.path for f in result.files) == sorted(files)
    check_local(local, files)
    for odd in ("sneaky", "hard", "pipe"):
        assert not (local / odd).exists() and not (local / odd).is_symlink()


def test_many_small_files_then_resume_and_a_changed_file(host, session, tmp_path):
    root = host.home / "many"
    files = {f"d{i % 7}/f{i:04d}.txt": os.urandom(i % 3000) for i in range(600)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    local = tmp_path / "run"
    first = pull(session, "many", local)
    assert first.ok and len(first.files) == 600 and first.skipped == 0
    check_local(local, files)
    # nothing changed: nothing is sent, everything is re-verified against the instance
    second = pull(session, "many", local)
    assert second.ok and second.bytes == 0 and second.skipped == 600
    # a file changed on the instance: only it travels again (its old copy is stale)
    files["d3/f0003.txt"] = b"rewritten on the instance\n"
    (root / "d3/f0003.txt").write_bytes(files["d3/f0003.txt"])
    third = pull(session, "many", local)
    assert third.ok, third.problems
    assert third.bytes == len(files["d3/f0003.txt"]) and third.skipped == 599
    check_local(local, files)


def test_missing_folder_is_a_clear_error(host, session, tmp_path):
    with pytest.raises(RemoteError, match="exit 3") as info:
        pull(session, "no-such-folder", tmp_path / "run")
    assert "folder exists" in (info.value.hint or "")
