"""How much CPU the GPU telemetry sampler costs: its CPU seconds side by side with wall seconds.

Runs lambdabench/remote/telemetry_sampler.sh for a while and reads the sampler's CPU time from
/proc (its own plus that of children it has reaped). With no nvidia-smi on PATH, a stand-in that
prints the real tool's CSV format is used, so the number then measures the loop, not NVML.

    .venv/bin/python bench/telemetry_overhead.py [--seconds 10] [--interval-ms 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLER = ROOT / "lambdabench" / "remote" / "telemetry_sampler.sh"

FAKE_NVIDIA_SMI = """#!/bin/sh
loop_ms=
for arg in "$@"; do case "$arg" in --loop-ms=*) loop_ms=${arg#--loop-ms=} ;; esac; done
echo "timestamp, index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W], clocks.current.sm [MHz], temperature.gpu"
while :; do
    now=$(date '+%Y/%m/%d %H:%M:%S.%3N')
    echo "$now, 0, NVIDIA H100 80GB HBM3, 97 %, 30720 MiB, 81559 MiB, 512.31 W, 1980 MHz, 55"
    [ -n "$loop_ms" ] || exit 0
    sleep "$(awk "BEGIN { print $loop_ms / 1000 }")"
done
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of pid, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval-ms", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(os.environ)
        real = shutil.which("nvidia-smi") is not None
        if not real:
            fake = work / "bin" / "nvidia-smi"
            fake.parent.mkdir()
            fake.write_text(FAKE_NVIDIA_SMI)
            fake.chmod(0o755)
            env["PATH"] = f"{fake.parent}:{env['PATH']}"
        csv_path, pidfile = work / "gpu.csv", work / "sampler.pid"
        start = [
            "sh",
            str(SAMPLER),
            "start",
            str(csv_path),
            str(pidfile),
            str(args.interval_ms),
        ]
        subprocess.run(start, env=env, check=True, capture_output=True, timeout=30)
        pid = int(pidfile.read_text())
        began = time.monotonic()
        try:
            time.sleep(args.seconds)
            cpu = cpu_seconds(pid)
            wall = time.monotonic() - began
        finally:
            subprocess.run(
                ["sh", str(SAMPLER), "stop", str(pidfile)],
                env=env,
                capture_output=True,
                timeout=30,
            )
        rows = sum(1 for line in csv_path.read_text().splitlines() if line[:1].isdigit())

    kind = "real nvidia-smi" if real else "stand-in nvidia-smi (no GPU here)"
    print(f"sampler: {kind}, interval {args.interval_ms} ms, {rows} rows")
    print(f"sampler CPU {cpu:.3f} s  vs  wall {wall:.3f} s")
    print(f"ratio {cpu / wall:.4%} of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
