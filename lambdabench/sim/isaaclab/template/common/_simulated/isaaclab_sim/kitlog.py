"""The simulated Isaac Sim's Kit log: where Kit writes it, in its line format, with the RTX shader-compile wait.

Real facts (lambdabench/metrics/kitlog.py cites each): the log is <isaac-sim>/kit/logs/Kit/<app.name>/<major.minor>/
kit_<YYYYMMDD>_<HHMMSS>.log, app.name "Isaac-Sim" in Isaac Lab's experience files (the fork's
source/apps/isaaclab.python.headless.kit:16); a line is `<stamp> [<ms>ms] [<Level>] [<channel>] <message>`, the stamp
`2025-02-24 02:57:19` on Isaac Sim 4.x and `2025-11-15T04:42:56Z` on 5.x; with info logging, Kit repeats
`Waiting for RtPso async group async compilation: N seconds so far` while the RTX renderer compiles its pipelines
(isaac-sim/IsaacLab #4020: ~120 s on Isaac Sim 5.0).

Guesses, labelled: the file log holds warnings only unless Kit is given --/log/level and --/log/fileLogLevel at
info (or --info / --verbose); the wait line's channel and its 5 s interval; the shader cache lives in the
isaac-cache-kit volume (kit/cache), so a restored volume (--cache) or a second start in the same container is warm
and waits for nothing; a second log in the same second gets a `_<n>` suffix. The stand-in does not wait: its log
says it did.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

KIT_APP = "Isaac-Sim"
COLD_WAIT_S = 120  # isaac-sim/IsaacLab #4020: the RtPso wait on Isaac Sim 5.0
REPORT_EVERY_S = 5  # a guess (field notes)
CACHE_FILE = "lambdabench-simulated-pso-cache.txt"
INFO_LEVELS = {"info", "verbose"}


def isaacsim_root() -> Path | None:
    """Isaac Sim's folder in the container (DOCKER_ISAACSIM_ROOT_PATH, from docker/.env.base), host-mapped."""
    value = os.environ.get("DOCKER_ISAACSIM_ROOT_PATH")
    if value:
        return Path(value)
    root = os.environ.get("LAMBDABENCH_SIM_ROOTFS")
    return Path(root) / "isaac-sim" if root else None


def kit_settings(args: Any) -> dict[str, str]:
    """The `--/path=value` Kit settings this process was given through AppLauncher's --kit_args."""
    out: dict[str, str] = {}
    for word in (getattr(args, "kit_args", "") or "").split():
        key, eq, value = word.partition("=")
        if eq and key.startswith("--/"):
            out[key[2:]] = value.lower()
    return out


def info_in_file(args: Any) -> bool:
    """Whether Kit's file log takes info lines: the global level and the file's level both at info or below."""
    if getattr(args, "info", False) or getattr(args, "verbose", False):
        return True
    s = kit_settings(args)
    return s.get("/log/level") in INFO_LEVELS and s.get("/log/fileLogLevel", s.get("/log/level")) in INFO_LEVELS


class _Writer:
    def __init__(self, sim_version: str) -> None:
        self.iso = not sim_version.startswith("4.")
        self.t0 = time.time()
        self.lines: list[str] = []

    def line(self, ms: int, level: str, channel: str, message: str) -> None:
        t = time.gmtime(self.t0 + ms / 1000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ" if self.iso else "%Y-%m-%d %H:%M:%S", t)
        self.lines.append(f"{stamp} [{ms:,}ms] [{level}] [{channel}] {message}\n")


def write_kit_log(args: Any, sim_version: str) -> Path | None:
    """Write this start's Kit log; on a cold shader cache, the RtPso wait lines (info level), then fill the cache."""
    root = isaacsim_root()
    if root is None:
        return None
    cache = root / "kit" / "cache"
    cold = not (cache / CACHE_FILE).exists()
    w = _Writer(sim_version)
    w.line(0, "Warning", "lambdabench.sim", "simulated Isaac Sim: no Kit, no renderer; this log follows Kit's format")
    info = info_in_file(args)
    ms = 3_000
    if info:
        w.line(ms, "Info", "omni.kit.app._impl", "app ready")
    if cold and info:
        for waited in range(REPORT_EVERY_S, COLD_WAIT_S + 1, REPORT_EVERY_S):
            w.line(
                ms + waited * 1000,
                "Info",
                "rtx",
                f"*** Waiting for RtPso async group async compilation: {waited} seconds so far",
            )
        ms += COLD_WAIT_S * 1000
    if info:
        w.line(ms + 400, "Info", "omni.kit.app._impl", "Simulation App Startup Complete")
    folder = root / "kit" / "logs" / "Kit" / KIT_APP / ".".join(sim_version.split(".")[:2])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        name = time.strftime("kit_%Y%m%d_%H%M%S", time.gmtime(w.t0))
        path, n = folder / f"{name}.log", 0
        while path.exists():
            n += 1
            path = folder / f"{name}_{n}.log"
        path.write_text("".join(w.lines))
        if cold:
            cache.mkdir(parents=True, exist_ok=True)
            (cache / CACHE_FILE).write_text("the simulated Isaac Sim's pretend RTX pipeline cache\n")
    except OSError:
        return None
    return path
