"""Reaper of a HostManager's hosts: when the simulator process ends (its pipe to us closes, even on
SIGKILL) kill every process carrying the manager's marker and unmount the hosts' disks.

Usage: python sim-watchdog.py HOSTS_DIR   (stdin: the pipe whose writer is the simulator)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time


def marked_pids(marker: bytes) -> list[int]:
    """Pids whose environment holds the marker (sshd daemons, sessions, detached user processes)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue
    return found


def sweep(root: str) -> None:
    """Kill marked processes until none are left (bounded), then lazily unmount disks under root."""
    marker = f"LAMBDABENCH_SIM_ROOT={root}".encode()
    for _ in range(20):
        pids = marked_pids(marker)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    try:
        with open("/proc/self/mounts") as fh:
            points = [line.split()[1].replace("\\040", " ") for line in fh]
    except OSError:
        points = []
    for point in reversed(points):
        if point.startswith(root.rstrip("/") + "/"):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def main() -> int:
    root = sys.argv[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C for the simulator is not ours to die of
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    sweep(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
