"""Issue 23, items 11-12: a run on a machine you bring (`--host`, `--local`) leaves nothing running there,
and following a step's log never fails the step. Over the local transport (no SSH): the same shell
commands a BYO host gets."""

from __future__ import annotations

import time
from pathlib import Path

from lambdabench.remote.local import LocalSession
from lambdabench.remote.playbook import load_playbook
from lambdabench.remote.runner import run_playbook

LOUD = """
name: loud
steps:
  - name: start-up dump
    detach: true
    timeout: 120
    run: mkdir -p out && echo kept > out/r.txt && head -c 3000000 /dev/zero | tr '\\0' x && echo && echo done
  - name: pull
    get: {src: out, dest: results}
"""


def test_a_detached_step_printing_megabytes_between_two_polls_does_not_fail(tmp_path: Path) -> None:
    """`tail | head` under pipefail exited 141 once more than 1 MiB waited between two polls (item 12)."""
    session = LocalSession(home=tmp_path / "lb").open()
    book = tmp_path / "loud.yaml"
    book.write_text(LOUD)

    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, 0.5))  # the job writes its 3 MB long before the next poll

    res = run_playbook(
        session, load_playbook(book), {}, {}, {}, tmp_path / "logs", poll_s=0.5, sleep=sleep, local_dir=tmp_path / "run"
    )
    assert res.ok, res.error
    log = res.steps[0].log_path
    assert log is not None
    text = log.read_text()
    assert text.count("x") == 3_000_000 and text.endswith("done\n")
    assert (tmp_path / "run" / "results" / "r.txt").read_text() == "kept\n"


FAILING = """
name: failing
steps:
  - name: bench
    detach: true
    timeout: 120
    run: mkdir -p out && echo partial > out/r.txt && exit 3
  - name: never
    run: touch never-ran
  - name: pull
    get: {src: out, dest: results}
"""


def test_outputs_are_pulled_after_a_failed_step(tmp_path: Path) -> None:
    """A failed benchmark's outputs still come back before the machine goes; later run steps do not run."""
    session = LocalSession(home=tmp_path / "lb").open()
    book = tmp_path / "failing.yaml"
    book.write_text(FAILING)
    res = run_playbook(
        session, load_playbook(book), {}, {}, {}, tmp_path / "logs", poll_s=0.2, local_dir=tmp_path / "run"
    )
    assert not res.ok and res.error is not None and "'bench'" in res.error.message
    assert (tmp_path / "run" / "results" / "r.txt").read_text() == "partial\n"
    assert not (session.home / "never-ran").exists()
    assert [s.name for s in res.steps] == ["bench", "pull"] and res.steps[1].ok and res.steps[1].pulled


def test_an_attached_step_printing_a_lot_keeps_its_log_not_its_output_in_memory(tmp_path: Path) -> None:
    """Issue 23 item 15: 1 GB of output took 5.4 GB of RAM; what stays in memory is bounded, the log has it all."""
    from lambdabench.remote import transport

    session = LocalSession(home=tmp_path / "lb").open()
    log = tmp_path / "step.log"
    size = 3 * transport.STDOUT_KEEP
    res = session.run(f"echo first; head -c {size} /dev/zero | tr '\\0' x; echo; echo last=1", log_path=log)
    assert log.stat().st_size == len("first\n") + size + len("\nlast=1\n")
    assert len(res.stdout) < 2 * transport.STDOUT_KEEP + 70_000  # the tail is trimmed a 64 KiB chunk at a time
    assert res.stdout.startswith("first\n") and res.stdout.endswith("last=1\n") and "not kept in memory" in res.stdout


def test_a_pull_stream_that_never_ends_is_an_error_not_memory() -> None:
    """Issue 23 item 15: the trailer after the archive was read to EOF, however long (2.9 GB in 8 s)."""
    import pytest

    from lambdabench.errors import RemoteError
    from lambdabench.remote import transfer

    for prefix, chunk in ((b"", b"\0"), (transfer._MAGIC + b" tar=0 hash=0\0", b"x")):
        sent = [0]

        def endless(view: memoryview, prefix: bytes = prefix, chunk: bytes = chunk, sent: list[int] = sent) -> int:
            if sent[0] > 1024 * 1024 * 1024:
                raise AssertionError("read 1 GiB of an endless stream: the pull is not bounded")
            data = prefix if sent[0] == 0 and prefix else chunk * len(view)
            n = min(len(view), len(data))
            view[:n] = data[:n]
            sent[0] += n
            return n

        with pytest.raises(RemoteError, match="garbled|does not end"):
            transfer._read_manifest(transfer._Source(endless))
        assert sent[0] < 2 * transfer._MANIFEST_MAX
