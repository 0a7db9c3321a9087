"""Sweep wall time against its lower bound on the simulator (scaled time), and API requests per sweep.

Lower bound: the unavoidable waits — launch pacing and boot times. With launches paced L seconds apart
and instance i booting B_i seconds (read afterwards from the simulator's own timestamps), no schedule
finishes before max_i(slot_i · L + B_i), minimised by launching the slowest boots first. The goal is a
sweep within 5 % + 2 s of that bound, for 3 types and for 16 instances.

Usage: python bench/sweep_overhead.py [--time-scale 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def lower_bound(boots: list[float], launch_interval: float) -> float:
    ordered = sorted(boots, reverse=True)
    return max(i * launch_interval + b for i, b in enumerate(ordered))


def one_sweep(gpus: str, repeat: int, scale: float) -> tuple[float, float, int, int]:
    from lambdabench import Lab, Settings, SweepRequest
    from lambdabench.simulate import Scenario, running_simulator

    home = Path(tempfile.mkdtemp(prefix="lb-bench-"))
    # ample capacity in one region: the bench measures our overhead, not waiting for stock
    capacity = {t: {"us-east-1": 32} for t in ("gpu_1x_a10", "gpu_1x_a100", "gpu_1x_h100_sxm5", "gpu_8x_h100_sxm5")}
    with running_simulator(scenario=Scenario.from_dict({"capacity": capacity}), time_scale=scale) as sim:
        env = {**os.environ, **sim.env, "LAMBDABENCH_HOME": str(home)}
        lab = Lab(Settings.load(env=env, cwd=home))  # no events: progress goes nowhere
        plan = lab.plan(SweepRequest(gpus, "gpu-probe", {}, repeat=repeat))
        t0 = time.monotonic()
        result = lab.sweep(plan, name="bench")
        wall = time.monotonic() - t0
        assert not result.failed, result.failed
        bills = sim.core.billing()
        boots = [b["first_active_at"] - b["launch_accepted_at"] for b in bills]
        interval = lab.settings.launch_interval
        requests = len(sim.core.requests())
        lab.close()
    return wall, lower_bound(boots, interval), requests, len(bills)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-scale", type=float, default=60.0)
    args = ap.parse_args()
    cases = [("3 types", "a10,a100,8xh100", 1), ("16 instances", "a10,a100,h100,8xh100", 4)]
    print(f"time scale x{args.time_scale:g} (cloud durations divided by it)")
    print(
        f"{'sweep':<14} {'instances':>9} {'wall s':>8} {'bound s':>8} {'ratio':>6} {'over s':>7} {'API req':>8}  goal"
    )
    ok = True
    for label, gpus, repeat in cases:
        wall, bound, requests, n = one_sweep(gpus, repeat, args.time_scale)
        met = wall <= bound * 1.05 + 2.0
        ok &= met
        print(
            f"{label:<14} {n:>9} {wall:>8.2f} {bound:>8.2f} {wall / bound:>6.3f} {wall - bound:>7.2f} "
            f"{requests:>8}  {'met' if met else 'NOT met'} (≤ 1.05×bound + 2 s)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
