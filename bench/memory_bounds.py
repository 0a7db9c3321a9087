"""lambdabench's memory while a machine sends far more than it should (issue 23 item 15): stays under ~300 MB RSS.

    .venv/bin/python bench/memory_bounds.py            # an attached step printing 1 GiB, an endless pull stream
    .venv/bin/python bench/memory_bounds.py --gib 0.25 # smaller, quicker

Each case runs in a fresh child process (so one case's peak is not the next one's) over the local
transport, the same shell and stream code a BYO host gets over SSH; the child reports its peak RSS
(getrusage ru_maxrss) and how long the case took. Side by side: the goal (300 MB) and, for scale, what
the output would be if it were kept (the 1 GiB case took 5.4 GB of RAM before the bound).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_MB = 300.0

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
case, gib, tmp = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
started = time.monotonic()
outcome = ""
if case == "attached-output":
    from lambdabench.remote.local import LocalSession
    s = LocalSession(home=tmp / "lb").open()
    size = int(gib * 1024**3)
    res = s.run(f"head -c {size} /dev/zero | tr '\\0' x; echo; echo done=1", log_path=tmp / "step.log")
    outcome = f"stdout kept {len(res.stdout) / 1e6:.1f} MB, log {(tmp / 'step.log').stat().st_size / 1e6:.0f} MB"
else:
    from lambdabench.errors import RemoteError
    from lambdabench.remote import transfer
    limit = int(gib * 1024**3)
    sent = [0]
    def endless(view):
        if sent[0] > limit:
            return 0
        data = transfer._MAGIC + b" tar=0 hash=0\0" if sent[0] == 0 else b"x" * len(view)
        n = min(len(view), len(data))
        view[:n] = data[:n]
        sent[0] += n
        return n
    try:
        transfer._read_manifest(transfer._Source(endless))
        outcome = f"read all {sent[0] / 1e6:.0f} MB"
    except RemoteError as exc:
        outcome = f"stopped after {sent[0] / 1e6:.0f} MB: {exc.message[:60]}"
    except Exception as exc:  # the code before the bound read the whole stream, then found no end marker
        outcome = f"read all {sent[0] / 1e6:.0f} MB, then {type(exc).__name__}"
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"case": case, "peak_rss_mb": rss_mb, "seconds": time.monotonic() - started, "outcome": outcome}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0, help="how much the machine sends per case (GiB)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lambdabench-membench-") as tmp:
        for case in ("attached-output", "endless-pull-stream"):
            folder = Path(tmp) / case
            folder.mkdir()
            t0 = time.monotonic()
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, case, str(args.gib), str(folder)],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode != 0:
                print(f"{case}: failed after {time.monotonic() - t0:.1f}s\n{out.stderr[-2000:]}", file=sys.stderr)
                return 1
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'case':<22} {'sent':>8} {'peak RSS':>10} {'goal':>8} {'ratio':>7} {'seconds':>8}  outcome")
    worst = 0.0
    for r in rows:
        ratio = r["peak_rss_mb"] / GOAL_MB
        worst = max(worst, ratio)
        print(
            f"{r['case']:<22} {args.gib:>6.2f}Gi {r['peak_rss_mb']:>8.0f}MB {GOAL_MB:>6.0f}MB {ratio:>7.2f} "
            f"{r['seconds']:>8.1f}  {r['outcome']}"
        )
    print(f"worst peak / goal: {worst:.2f} ({'within' if worst <= 1 else 'OVER'} the {GOAL_MB:.0f} MB goal)")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
