"""Issue 23, items 11-12: a run on a machine you bring (`--host`, `--local`) leaves nothing running there,
and following a step's log never fails the step. Over the local transport (no SSH): the same shell
commands a BYO host gets."""

from __future__ import annotations

import time
from pathlib import Path

from lambdabench.remote.local import LocalSession
from lambdabench.remote.playbook import load_playbook, run_playbook

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

    res = run_playbook(session, load_playbook(book), {}, {}, {}, tmp_path / "logs", poll_s=0.5, sleep=sleep,
                       local_dir=tmp_path / "run")
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
    res = run_playbook(session, load_playbook(book), {}, {}, {}, tmp_path / "logs", poll_s=0.2,
                       local_dir=tmp_path / "run")
    assert not res.ok and res.error is not None and "'bench'" in res.error.message
    assert (tmp_path / "run" / "results" / "r.txt").read_text() == "partial\n"
    assert not (session.home / "never-ran").exists()
    assert [s.name for s in res.steps] == ["bench", "pull"] and res.steps[1].ok and res.steps[1].pulled
