"""`demo --playbook mjx-locomotion` runs MJX on lambdabench's own Python: without JAX it is refused up front."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# this Python as a wheel installed without the mjx extra sees it: no jax (find_spec gives None, import fails)
NO_JAX = "import sys; sys.modules['jax'] = None; from lambdabench.cli import main; main(sys.argv[1:])"


def test_the_mjx_demo_without_jax_is_refused_before_the_simulator_starts(tmp_path: Path) -> None:
    env = {**os.environ, "LAMBDABENCH_HOME": str(tmp_path / "home")}
    ran = subprocess.run(
        [sys.executable, "-c", NO_JAX, "demo", "--gpus", "a10", "--playbook", "mjx-locomotion", "--time-scale", "600"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert ran.returncode == 2, ran.stderr[-2000:]
    err = ran.stderr.strip()
    assert err.startswith("error: the demo runs mjx-locomotion") and "\n" not in err, err
    assert "has no jax" in err and "mjx extra" in err and "'.[mjx]'" in err
    assert not (tmp_path / "home").exists()  # nothing started, nothing written
