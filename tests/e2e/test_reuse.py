"""--reuse over real SSH (issue 29 item 3): one instance for a type's repeats; preflight and set-up run once."""

from __future__ import annotations

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = needs_sshd


def test_reuse_runs_the_repeats_on_one_instance_and_preflights_once(simproc: SimProcess) -> None:
    out = simproc.cli("sweep", "--gpus", "a10", "--playbook", "gpu-probe", "--repeat", "2", "--reuse")
    assert out.returncode == 0, out.stderr
    assert "a10#2 (on a10#1)" in out.stderr and "reusing a10#1's instance" in out.stderr
    assert simproc.live() == []
    with Ledger(simproc.home) as ledger:
        assert len(ledger.instances()) == 1 and ledger.instances()[0].gone
        runs = sorted(ledger.runs(), key=lambda r: r.params["repeat"])
        assert [r.status for r in runs] == ["succeeded", "succeeded"]
        steps = [[s.name for s in ledger.steps(r.id)] for r in runs]
        assert any(s.startswith("gpu-preflight") for s in steps[0])
        assert not any(s.startswith("gpu-preflight") for s in steps[1]) and any("gpu-probe" in s for s in steps[1])
        assert ledger.integrity_check() == []
