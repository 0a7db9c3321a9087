"""The local SSH key under concurrency and damage: one key per home, the .pub always matching it."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from lambdabench.sshkeys import ensure_local_key


def _make(path: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    barrier.wait()
    out.put(ensure_local_key(Path(path)).public_key)


def test_concurrent_commands_on_a_fresh_home_get_one_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "id_ed25519"
    # spawn, not fork: a pytest worker that ran an MJX test holds JAX's threads, and a fork of a threaded process may
    # deadlock (Python 3.11's popen_fork RuntimeWarning said so in CI, 2026-12-05)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(6)
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_make, args=(str(path), barrier, out)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    keys = {out.get(timeout=5) for _ in procs}
    assert len(keys) == 1, keys  # every command launches with the key that stays on disk
    on_disk = ensure_local_key(path).public_key
    assert keys == {on_disk}
    assert (path.with_name("id_ed25519.pub").read_text().split()[:2]) == on_disk.split()[:2]
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_mismatched_public_key_is_rederived_from_the_private_key(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "id_ed25519", tmp_path / "b" / "id_ed25519"
    key_a, key_b = ensure_local_key(a), ensure_local_key(b)
    a.with_name("id_ed25519.pub").write_text(key_b.public_key + "\n")  # the broken state seen in the field
    repaired = ensure_local_key(a)
    assert repaired.public_key.split()[:2] == key_a.public_key.split()[:2]
    assert a.with_name("id_ed25519.pub").read_text().split()[:2] == key_a.public_key.split()[:2]
    a.with_name("id_ed25519.pub").unlink()
    assert ensure_local_key(a).fingerprint == key_a.fingerprint
