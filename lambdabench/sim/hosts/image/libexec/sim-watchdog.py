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


def marked_pids(root: str) -> list[int]:
    """Our processes: environment marker (sessions, detached work), sshd config path under root
    (sshd rewrites its environ block for its process title), and all their descendants."""
    marker = f"LAMBDABENCH_SIM_ROOT={root}".encode()
    config = f"{root.rstrip('/')}/".encode()
    parents: dict[int, int] = {}
    found: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        pid = int(name)
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
            parents[pid] = int(stat[stat.rfind(b")") + 2 :].split()[1])
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmdline = fh.read()
            with open(f"/proc/{name}/environ", "rb") as fh:
                environ = fh.read()
        except (OSError, ValueError, IndexError):
            continue
        if marker in environ.split(b"\0") or (b"sshd" in cmdline and config in cmdline):
            found.add(pid)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return sorted(found)


def sweep(root: str) -> None:
    """Kill marked processes until none are left (bounded), then lazily unmount disks under root."""
    for _ in range(20):
        pids = marked_pids(root)
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
