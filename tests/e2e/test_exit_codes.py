"""Issue 23 item 17: `sweep` and `resume` exit non-zero unless every planned run ran and succeeded."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess
from tests.e2e.test_byo_hosts import _local_env
from tests.e2e.test_host_stop import LB
from tests.reliability.conftest import simulator


def test_a_type_left_out_by_max_cost_is_a_non_zero_exit(simproc: SimProcess) -> None:
    # worst cases: the A10 about $0.24, the 8×H100 about $6: a $1 cap leaves the 8×H100 out
    out = simproc.cli("sweep", "--gpus", "a10,8xh100", "--playbook", "gpu-probe", "--max-cost", "1")
    assert out.returncode == 1, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-2:]
    assert any("1 of 2 runs not run" in line and "--max-cost" in line for line in last), last
    assert "Traceback" not in out.stderr


FAILS_WHEN_RESUMED = """
name: fails-when-resumed
steps:
  - name: bench
    detach: true
    timeout: 600
    run: if [ -f once ]; then echo broken >&2; exit 3; fi; touch once; exec sleep 300
"""


def test_resume_exits_non_zero_when_a_resumed_run_fails(tmp_path: Path) -> None:
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        env = _local_env(sim, home, "7" * 32)
        book = tmp_path / "book.yaml"
        book.write_text(FAILS_WHEN_RESUMED)
        proc = subprocess.Popen(
            [*LB, "sweep", "--local", "--playbook", str(book)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            work = home / "local" / "home"
            while not (work / "once").exists() and proc.poll() is None:
                subprocess.run(["sleep", "0.1"])
            proc.kill()
            proc.wait(timeout=30)
        finally:
            proc.kill()
        with Ledger(home) as ledger:
            sweep = ledger.latest_sweep()
            assert sweep is not None
        out = subprocess.run([*LB, "resume", str(sweep.id)], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 1, out.stderr[-2000:]
        assert "1 of 1 runs failed" in out.stderr and "Traceback" not in out.stderr
