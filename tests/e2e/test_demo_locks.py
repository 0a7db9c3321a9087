"""The demo compares Isaac Sim container runs of one software: no spurious WARNING (the environment lock
keyed on each box's locally built image id flagged every comparison)."""

from __future__ import annotations

import os
import subprocess
import sys

from lambdabench.simulate import needs_sshd

pytestmark = needs_sshd


def test_the_demo_prints_no_warning_and_one_environment_lock() -> None:
    # two types are enough to compare (the default three take longer); x600: boots of a second or so
    demo = subprocess.run(
        [sys.executable, "-m", "lambdabench.cli", "demo", "--gpus", "a10,a100", "--time-scale", "600"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "2 run(s) succeeded, 0 failed" in demo.stderr
    assert "WARNING" not in demo.stdout + demo.stderr, demo.stdout
    assert "every run shares one environment lock" in demo.stdout, demo.stdout
