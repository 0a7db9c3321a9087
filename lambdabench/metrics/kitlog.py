"""Isaac Sim's own Kit log: the shader-compile stage of start-up, read by line structure.

Where and what (each fact read in a real source):
- Kit writes its log to ``<isaac-sim>/kit/logs/Kit/<app.name>/<major.minor>/kit_<YYYYMMDD>_<HHMMSS>.log``
  and says so on its first line (``[Info] [carb] Logging to file: /isaac-sim/kit/logs/Kit/Isaac-Sim/5.0/
  kit_20251115_042942.log``: isaac-sim/IsaacLab #4020's log). Isaac Lab's compose file keeps that folder in the
  ``isaac-carb-logs`` volume (isaac-sim/IsaacLab docker/docker-compose.yaml:27-28, the same in the 1.x fork).
- A line is ``<stamp> [<ms since start>ms] [<Level>] [<channel>] <message>``; the stamp is
  ``2025-02-24 02:57:19`` on Isaac Sim 4.5 and ``2025-11-15T04:42:56Z`` on 5.x, the milliseconds may carry
  thousands separators (``[18,643ms]``, #4020).
- While the RTX renderer compiles its ray-tracing pipelines Kit repeats, at info level,
  ``Waiting for RtPso async group async compilation: N seconds so far`` (#4020 on Isaac Sim 5.0: between
  "App Ready" and "Simulation App Startup Complete", ~120 s on every start there; seen only with info logging).
  Field notes quote it with a ``*** `` prefix; its channel was not found in a real excerpt, so any is taken.
- SimulationApp ends its start-up with ``print_and_log("Simulation App Startup Complete")`` (Isaac Sim's
  simulation_app.py); that it reaches the file log at info level is a guess.

The stage is the largest N Kit reported (to within its reporting interval, not read in a source). A log at
info level that completed start-up with no wait line: 0 (Kit compiled nothing it had to wait for, or less
than its first report). Anything else is unknown, never 0: no log, a log below info level, a log that ends
before start-up completed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KitLog", "SHADER_UNKNOWN", "parse_kit_log", "read_kit_logs", "shader_compile"]

LINE = re.compile(
    r"^(?P<stamp>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}Z?) \[(?P<ms>[\d,]+)ms\] "
    r"\[(?P<level>[A-Za-z]+)\] \[(?P<channel>[^\]]+)\] (?P<message>.*)$"
)
RTPSO_WAIT = re.compile(r"^(?:\*+ )?waiting for rtpso async group async compilation: (?P<n>\d+(?:\.\d+)?) seconds")
STARTUP_COMPLETE = "Simulation App Startup Complete"

# why a run's shader compile is unknown (the metric shader_compile_unknown holds the code)
SHADER_UNKNOWN: dict[int, str] = {
    1: "no Kit log of the run was pulled",
    2: "the Kit log has no info lines (its file log level is below info; the 1.x fork cannot raise it)",
    3: "the Kit log ends before Simulation App Startup Complete",
}


@dataclass(frozen=True)
class KitLog:
    """What one Kit log says about start-up: its info lines, the longest RtPso wait, start-up completed."""

    lines: int
    info_lines: int
    waits: int
    longest_wait_s: float | None
    startup_complete: bool

    @property
    def shader_compile_s(self) -> float | None:
        """The shader-compile seconds this log shows, or None where it cannot tell (see unknown_code)."""
        if self.longest_wait_s is not None:
            return self.longest_wait_s
        return 0.0 if self.info_lines and self.startup_complete else None

    @property
    def unknown_code(self) -> int | None:
        """SHADER_UNKNOWN's code when shader_compile_s is None."""
        if self.shader_compile_s is not None:
            return None
        return 2 if not self.info_lines else 3


def parse_kit_log(text: Iterable[str]) -> KitLog:
    """Read one Kit log's lines; lines of another shape (console prints, wrapped text) are skipped."""
    lines = info = waits = 0
    longest: float | None = None
    complete = False
    for raw in text:
        m = LINE.match(raw.rstrip("\r\n"))
        if m is None:
            continue
        lines += 1
        if m["level"].lower() != "info":
            continue
        info += 1
        message = m["message"].strip()
        wait = RTPSO_WAIT.match(message.lower())
        if wait is not None:
            waits += 1
            longest = max(longest or 0.0, float(wait["n"]))
        elif message == STARTUP_COMPLETE:
            complete = True
    return KitLog(lines, info, waits, longest, complete)


def read_kit_logs(paths: Iterable[Path]) -> list[KitLog]:
    """Each readable Kit log file (one per Isaac Sim process of the run), in path order."""
    out = []
    for path in sorted(paths):
        try:
            with path.open(encoding="utf-8", errors="replace") as fh:
                out.append(parse_kit_log(fh))
        except OSError:
            continue
    return out


def shader_compile(logs: list[KitLog]) -> tuple[float | None, int | None]:
    """The run's shader compile (the longest over its processes' logs, which start together) or the code of why
    it is unknown: every log must tell, else the stage is unknown."""
    if not logs:
        return None, 1
    codes = [log.unknown_code for log in logs if log.unknown_code is not None]
    if codes:
        return None, max(codes)
    return max(log.shader_compile_s or 0.0 for log in logs), None
