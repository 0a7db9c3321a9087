"""Issue 23 item 14: a telemetry pull that failed is named in the run's notes, never silently absent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lambdabench.simulate import needs_sshd
from tests.e2e.test_byo_hosts import _local_env
from tests.e2e.test_host_stop import LB
from tests.reliability.conftest import simulator

pytestmark = [needs_sshd]

# the benchmark leaves the run's telemetry folder a link to nowhere: the pull of the samples fails
BREAKS_TELEMETRY = """
name: breaks-telemetry
steps:
  - name: bench
    run: rm -rf .lambdabench/telemetry && ln -s /nonexistent-lambdabench-dir .lambdabench/telemetry
"""


def test_a_failed_telemetry_pull_is_in_the_runs_notes(tmp_path: Path) -> None:
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        env = _local_env(sim, home, "6" * 32)
        book = tmp_path / "book.yaml"
        book.write_text(BREAKS_TELEMETRY)
        out = subprocess.run(
            [*LB, "sweep", "--local", "--playbook", str(book)], env=env, capture_output=True, text=True, timeout=180
        )
        assert out.returncode == 0, out.stderr[-3000:]
        record = json.loads(next((home / "runs").glob("sweep-*/run-*/result.json")).read_text())
        assert any(n.startswith("telemetry: pulling the GPU samples failed") for n in record["notes"]), record["notes"]
