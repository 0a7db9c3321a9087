"""The dry-run plan's worst-case sentence in plain English on the simulator, whose time scale makes the slow-teardown
allowance one minute ("1 minute", not "1 minutes")."""

from __future__ import annotations

import re

from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = needs_sshd


def test_the_slow_teardown_allowance_reads_in_plain_english(simproc: SimProcess) -> None:
    dry = simproc.cli("sweep", "--gpus", "a10", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    said = re.search(r"plus (\d+) (minutes?) for a slow teardown", dry.stdout)
    assert said, dry.stdout
    assert said.group(2) == ("minute" if said.group(1) == "1" else "minutes"), said.group(0)
