"""Artifact pull speed on loopback vs OpenSSH scp / scp -r / rsync -a, measured in the same run.

    .venv/bin/python bench/pull_speed.py            # 1 GiB in 4 files, 10,000 small files (~100 MB)
    .venv/bin/python bench/pull_speed.py --quick    # 64 MiB in 4 files, 1,000 small files
Goals: big files ratio (scp time / our time) >= 0.9; small files >= 3x scp -r, >= 1x rsync -a.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lambdabench.remote.ssh import KnownHosts, Session, SshTarget, openssh_argv  # noqa: E402
from lambdabench.remote.transfer import pull  # noqa: E402
from lambdabench.sim.hosts import HostManager  # noqa: E402


def fill(root: Path, count: int, size: int) -> int:
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


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--big-mib", type=int, help="total size of the big-file set (default 1024)")
    parser.add_argument("--big-files", type=int, default=4)
    parser.add_argument("--small-count", type=int, help="number of small files (default 10000)")
    parser.add_argument("--small-kib", type=int, default=10)
    args = parser.parse_args()
    big_mib = args.big_mib or (64 if args.quick else 1024)
    small_count = args.small_count or (1000 if args.quick else 10000)

    work = Path(tempfile.mkdtemp(prefix="pullbench-"))
    os.environ["LAMBDABENCH_HOME"] = str(work / "home")
    key = work / "home" / "id_ed25519"
    key.parent.mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    itype = SimpleNamespace(
        name="gpu_1x_a10", gpus=1, gpu_model="NVIDIA A10", gpu_memory_mib=24564, rtx=True
    )
    manager = HostManager(work / "sim")
    try:
        info = manager.start(
            "bench", authorized_key=Path(str(key) + ".pub").read_text(), instance_type=itype
        )
        disk = manager.disk_dir("bench")
        n = fill(disk / "big", args.big_files, big_mib * (1 << 20) // args.big_files)
        m = fill(disk / "small", small_count, args.small_kib * 1024)
        target = SshTarget(
            host=info.ip, port=info.port, user=manager.user, key_path=key, instance_id="bench"
        )
        known = KnownHosts(work / "home" / "known_hosts")
        session = Session(target, known_hosts=known).open()
        ssh = openssh_argv(target, known.path)[:-2]  # options only, without -T and the host
        ssh_opts = [a for a in ssh[1:] if a not in ("-T",)]
        ssh_cmd = " ".join(shlex.quote(a) for a in ssh)
        remote = f"{target.user}@{target.host}"

        def scp(src: str, dest: Path, recursive: bool = False) -> None:
            opts = [o for o in ssh_opts if o not in ("-p", str(target.port), "-l", target.user)]
            argv = [
                "scp",
                "-q",
                *(["-r"] if recursive else []),
                "-P",
                str(target.port),
                *opts,
                f"{remote}:{src}",
                str(dest),
            ]
            subprocess.run(argv, check=True)

        def fresh(name: str) -> Path:
            path = work / "out" / name
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            return path

        rows = []
        # big files: ours vs scp of the same files
        t_ours = timed(lambda: assert_ok(pull(session, "big", fresh("ours-big"))))
        t_scp = timed(lambda: scp("big/*", fresh("scp-big")))
        rows.append((f"{big_mib} MiB in {args.big_files} files", n, t_ours, {"scp": t_scp}))
        # many small files: ours vs scp -r vs rsync -a
        t_ours_s = timed(lambda: assert_ok(pull(session, "small", fresh("ours-small"))))
        t_scpr = timed(lambda: scp("small", fresh("scp-small"), recursive=True))
        t_rsync = timed(
            lambda: subprocess.run(
                [
                    "rsync",
                    "-a",
                    "-e",
                    ssh_cmd.replace(" -T", ""),
                    f"{remote}:small/",
                    str(fresh("rsync-small")),
                ],
                check=True,
            )
        )
        rows.append(
            (
                f"{small_count} files of {args.small_kib} KiB",
                m,
                t_ours_s,
                {"scp -r": t_scpr, "rsync -a": t_rsync},
            )
        )
        session.close()
    finally:
        manager.close()
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"{'set':<28}{'lambdabench pull':>18}  other tools (ratio = their time / ours; >1 means we are faster)"
    )
    for label, size, ours, others in rows:
        rate = size / ours / 1e6
        cmp = "  ".join(f"{name} {t:.2f}s (ratio {t / ours:.2f})" for name, t in others.items())
        print(f"{label:<28}{ours:>9.2f}s {rate:>6.0f}MB/s  {cmp}")


def assert_ok(result) -> None:  # type: ignore[no-untyped-def]
    if not result.ok:
        raise SystemExit(f"pull failed verification: {result.problems[:3]}")


if __name__ == "__main__":
    main()
