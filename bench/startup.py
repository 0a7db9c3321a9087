"""Cold start of `lambdabench --help` and `lambdabench types --help`, as ratios to `python -c pass`.

Also times SkyPilot's `sky --help` and dstack's `dstack --help` when they are installed in the same
environment (pip install skypilot dstack), so every figure comes from the same run on the same machine.
Usage: python bench/startup.py [--runs 15] [--peers-bin /path/to/venv-with-skypilot-and-dstack/bin]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_ms(argv: list[str], runs: int) -> float:
    subprocess.run(argv, capture_output=True, check=False)  # warm the page cache once
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--peers-bin", help="a bin folder holding sky and dstack (e.g. a venv of its own)")
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    lb = str(bindir / "lambdabench")
    base = median_ms([sys.executable, "-c", "pass"], args.runs)
    rows = [("python -c pass", base)]
    rows.append(("lambdabench --help", median_ms([lb, "--help"], args.runs)))
    rows.append(("lambdabench types --help", median_ms([lb, "types", "--help"], args.runs)))
    for tool in ("sky", "dstack"):
        exe = (
            (shutil.which(tool, path=args.peers_bin) if args.peers_bin else None)
            or shutil.which(tool, path=str(bindir))
            or shutil.which(tool)
        )
        if exe:
            rows.append((f"{tool} --help", median_ms([exe, "--help"], max(3, args.runs // 3))))
        else:
            rows.append((f"{tool} --help", float("nan")))
    print(f"{'command':<28} {'median ms':>10} {'× python':>9}")
    for name, ms in rows:
        if ms != ms:
            print(f"{name:<28} {'not installed':>10}")
        else:
            print(f"{name:<28} {ms:>10.1f} {ms / base:>9.2f}")
    lb_ms = rows[1][1]
    for name, ms in rows[3:]:
        if ms == ms:
            print(f"lambdabench --help is {ms / lb_ms:.1f}x faster than {name}")
    goal = 150.0
    print(f"goal: lambdabench --help median <= {goal:.0f} ms: {'met' if lb_ms <= goal else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
