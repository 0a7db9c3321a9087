"""Issue 23 item 18: this machine's disk fills up during a pull: one clear line, never a traceback or an
"Exception in thread"; the run fails, the sweep says so, nothing else breaks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lambdabench.simulate import needs_sshd
from tests.e2e.test_byo_hosts import _local_env
from tests.e2e.test_host_stop import LB
from tests.reliability.conftest import simulator

pytestmark = [needs_sshd, pytest.mark.skipif(os.geteuid() != 0, reason="mounts a size-limited tmpfs (root only)")]

BIG_OUTPUT = """
name: big-output
steps:
  - name: bench
    run: mkdir -p out && head -c 3000000 /dev/urandom > out/big.bin && echo small > out/small.txt
  - name: pull
    get: {src: out, dest: results}
"""


def test_a_full_local_disk_during_a_pull_is_one_line(tmp_path: Path) -> None:
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        env = _local_env(sim, home, "5" * 32)
        runs = home / "runs"
        runs.mkdir(parents=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "lambdabench-test-disk", str(runs)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        try:
            book = tmp_path / "book.yaml"
            book.write_text(BIG_OUTPUT)
            out = subprocess.run(
                [*LB, "sweep", "--local", "--playbook", str(book)], env=env, capture_output=True, text=True, timeout=180
            )
        finally:
            subprocess.run(["umount", "-l", str(runs)], capture_output=True)
        assert out.returncode == 1, out.stderr[-3000:]
        assert "Traceback" not in out.stderr and "Exception in thread" not in out.stderr, out.stderr[-3000:]
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith("error: 1 of 1 runs failed") and "No space left" in last, last
        assert "report files not written" in out.stderr  # the report in the run folder could not be either
