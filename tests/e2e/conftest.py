"""End to end: the CLI as a subprocess against `lambdabench sim serve` (`simproc`, a `lambdabench.simulate.SimProcess`)."""

from __future__ import annotations

import subprocess
import sys
import time

LB = [sys.executable, "-m", "lambdabench.cli"]


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> list[str]:
    """Read proc's stderr until a line contains needle."""
    import selectors

    assert proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(timeout=0.5):
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if needle in line:
                return lines
    raise AssertionError(f"{needle!r} never appeared; got: {''.join(lines)[-2000:]}")
