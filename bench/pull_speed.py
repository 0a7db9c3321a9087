"""Artifact pull speed on loopback vs OpenSSH scp / scp -r / rsync -a, measured in the same run.

    .venv/bin/python bench/pull_speed.py            # 1 GiB in 4 files, 10,000 small files (~100 MB)
    .venv/bin/python bench/pull_speed.py --quick    # 64 MiB in 4 files, 1,000 small files
Goals: big files ratio (scp time / our time) >= 0.9; small files >= 3x scp -r, >= 1x rsync -a.

Every transfer starts from a cold connection: ours opens one OpenSSH connection with one session
(transport "auto"), exactly like scp and rsync, and the paramiko session the bench holds is not
used for data. Tools take turns in a rotating order for --rounds rounds; the table shows medians
(ratios are median over median) and the fastest of each. Each transfer gets a new empty folder;
they are deleted only at the end. The machine's load is printed with the results: on a shared box
it moves them a lot.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lambdabench.remote.ssh import KnownHosts, Session, SshTarget, openssh_argv  # noqa: E402
from lambdabench.remote.transfer import pull  # noqa: E402
from lambdabench.sim.hosts.manager import HostManager  # noqa: E402


def fill(root: Path, count: int, size: int) -> int:
    """count files of size random bytes (100 folders when there are many), total bytes."""
    root.mkdir(parents=True, exist_ok=True)
    chunk = os.urandom(min(size, 1 << 20))
    for i in range(count):
        path = root / f"d{i % 100:02d}" / f"f{i:05d}.bin" if count > 100 else root / f"f{i}.bin"
        path.parent.mkdir(exist_ok=True)
        with open(path, "wb") as f:
            left = size
            while left > 0:
                f.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
    return count * size


def machine_state() -> str:
    """One line: cores, load, CPU pressure (PSI), CPU model."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    psi = ""
    with open("/proc/pressure/cpu") as f:
        psi = f.readline().split(" ", 1)[1].strip()
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), load {load}, cpu pressure {psi}"


def tree_count(path: Path) -> tuple[int, int]:
    """(files, bytes) under path, our state file left out."""
    files = size = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            if name != ".lambdabench-pull.jsonl":
                files += 1
                size += os.lstat(os.path.join(dirpath, name)).st_size
    return files, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--big-mib", type=int, help="total size of the big-file set (default 1024)")
    parser.add_argument("--big-files", type=int, default=4)
    parser.add_argument("--small-count", type=int, help="number of small files (default 10000)")
    parser.add_argument("--small-kib", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="turns per tool (default 3)")
    parser.add_argument("--only", choices=["big", "small"], help="run one set only")
    args = parser.parse_args()
    big_mib = args.big_mib or (64 if args.quick else 1024)
    small_count = args.small_count or (1000 if args.quick else 10000)

    work = Path(tempfile.mkdtemp(prefix="pullbench-"))
    os.environ["LAMBDABENCH_HOME"] = str(work / "home")
    key = work / "home" / "id_ed25519"
    key.parent.mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    itype = SimpleNamespace(name="gpu_1x_a10", gpus=1, gpu_model="NVIDIA A10", gpu_memory_mib=24564, rtx=True)
    manager = HostManager(work / "sim")
    state_before = machine_state()
    results: list[tuple[str, int, int, dict[str, list[float]]]] = []
    try:
        info = manager.start("bench", authorized_key=Path(str(key) + ".pub").read_text(), instance_type=itype)
        disk = manager.disk_dir("bench")
        target = SshTarget(host=info.ip, port=info.port, user=manager.user, key_path=key, instance_id="bench")
        known = KnownHosts(work / "home" / "known_hosts")
        session = Session(target, known_hosts=known).open()  # pins the host key for OpenSSH
        ssh = openssh_argv(target, known.path)[:-2]  # options only, without -T and the host
        ssh_opts = [a for a in ssh[1:] if a != "-T"]
        remote = f"{target.user}@{target.host}"

        def scp(src: str, dest: Path, recursive: bool = False) -> None:
            opts = [o for o in ssh_opts if o not in ("-p", str(target.port), "-l", target.user)]
            argv = ["scp", "-q", *(["-r"] if recursive else []), "-P", str(target.port), *opts]
            subprocess.run([*argv, f"{remote}:{src}", str(dest)], check=True)

        def rsync(src: str, dest: Path) -> None:
            e = " ".join(shlex.quote(a) for a in ssh if a != "-T")
            subprocess.run(["rsync", "-a", "-e", e, f"{remote}:{src}", str(dest)], check=True)

        def ours(src: str, dest: Path) -> None:
            result = pull(session, src, dest)
            if not result.ok:
                raise SystemExit(f"pull failed verification: {result.problems[:3]}")

        def ssh_true(dest: Path) -> None:
            subprocess.run(openssh_argv(target, known.path, "true"), check=True)

        sets: list[tuple[str, str, int, int, dict[str, Callable[[Path], None]]]] = []
        if args.only != "small":
            n = fill(disk / "big", args.big_files, big_mib * (1 << 20) // args.big_files)
            tools = {
                "ours": lambda d: ours("big", d),
                "scp": lambda d: scp("big/*", d),
            }
            sets.append((f"{big_mib} MiB in {args.big_files} files", "big", args.big_files, n, tools))
        if args.only != "big":
            m = fill(disk / "small", small_count, args.small_kib * 1024)
            tools = {
                "ours": lambda d: ours("small", d),
                "scp -r": lambda d: scp("small", d, recursive=True),
                "rsync -a": lambda d: rsync("small/", d),
            }
            sets.append((f"{small_count} files of {args.small_kib} KiB", "small", small_count, m, tools))

        floor: list[float] = []
        for label, name, count, size, tools in sets:
            times: dict[str, list[float]] = {t: [] for t in tools}
            names = list(tools)
            for r in range(args.rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                for tool in order:
                    # a fresh folder; old ones are deleted at the end, since deleting thousands of
                    # files here slows the next tool's file creation (ext4 journal, discard)
                    dest = work / "out" / f"{name}-{tool.replace(' ', '')}-{r}"
                    dest.mkdir(parents=True)
                    subprocess.run(["sync"], check=True)  # writeback of the last run off the clock
                    started = time.perf_counter()
                    tools[tool](dest)
                    times[tool].append(time.perf_counter() - started)
                    got = tree_count(dest / name if tool == "scp -r" else dest)
                    if got != (count, size):
                        raise SystemExit(f"{tool} brought back {got}, expected {(count, size)}")
                started = time.perf_counter()
                ssh_true(work)
                floor.append(time.perf_counter() - started)
            results.append((label, count, size, times))
        session.close()
    finally:
        manager.close()
        shutil.rmtree(work, ignore_errors=True)

    ssh_v = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    rsync_v = subprocess.run(["rsync", "--version"], capture_output=True, text=True).stdout
    print(f"machine before: {state_before}")
    print(f"machine after:  {machine_state()}")
    print(f"{ssh_v}; {rsync_v.splitlines()[0]}; Python {platform.python_version()}")
    print(
        f"cold connections for every tool; an empty `ssh host true` took median "
        f"{statistics.median(floor):.2f}s (connection + one session on this host)"
    )
    print(f"{args.rounds} rounds; times are median (fastest); ratio = their median / ours, >1: we are faster")
    for label, _, size, times in results:
        ours_t = statistics.median(times["ours"])
        cells = [
            f"{tool} {statistics.median(ts):.2f}s ({min(ts):.2f}) ratio {statistics.median(ts) / ours_t:.2f}"
            for tool, ts in times.items()
            if tool != "ours"
        ]
        print(
            f"{label:<26} ours {ours_t:.2f}s ({min(times['ours']):.2f}) "
            f"{size / ours_t / 1e6:.0f} MB/s | " + " | ".join(cells)
        )


if __name__ == "__main__":
    main()
