"""`lambdabench demo`: the main job end to end on the built-in simulator, no cloud account needed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lambdabench.errors import LambdabenchError


def _default_playbook() -> str:
    from lambdabench.phases import playbook_exists

    return "isaaclab-train" if playbook_exists("isaaclab-train") else "gpu-probe"


def run_demo(*, gpus: str, playbook: str | None, time_scale: float, fmt: str, home: Path | None = None) -> int:
    """Simulator up → sweep → report → simulator down; returns the exit code."""
    from lambdabench.config import Settings, default_home
    from lambdabench.context import Context
    from lambdabench.report import build_report, render
    from lambdabench.simulate import running_simulator
    from lambdabench.sweep_ops import SweepRequest, plan_sweep, run_sweep

    base = Path(os.environ["LAMBDABENCH_HOME"]) if os.environ.get("LAMBDABENCH_HOME") else default_home()
    home = home or base / "demo"
    playbook = playbook or _default_playbook()
    print(f"demo: starting the simulated Lambda Cloud (time x{time_scale:g}); state in {home}", file=sys.stderr)
    with running_simulator(time_scale=time_scale) as sim:
        env = {**sim.env, "LAMBDABENCH_HOME": str(home), "HOME": os.environ.get("HOME", str(Path.home()))}
        settings = Settings.load(env=env, cwd=home)
        ctx = Context(settings)
        try:
            sets = {"library": "skrl", "task": "Isaac-Cartpole-v0", "max_iterations": "20"} \
                if playbook == "isaaclab-train" else {}
            plan = plan_sweep(ctx, SweepRequest(gpus, playbook, sets, max_cost="50"))
            print(f"demo: sweep {gpus} with playbook {playbook}; worst case "
                  f"${plan.total_worst_case_cents / 100:.2f} (simulated money)", file=sys.stderr)
            result = run_sweep(ctx, plan, name=f"demo {gpus}")
            print(render(build_report(ctx.ledger, [result.sweep_id]), fmt).rstrip("\n"))
            live = [b for b in sim.core.billing() if b["status"] not in ("terminated", "terminating")]
            print(f"demo: {len(result.succeeded)} run(s) succeeded, {len(result.failed)} failed; "
                  f"{len(live)} simulated instance(s) still running; {result.api_requests} API requests",
                  file=sys.stderr)
            if result.failed or live or result.not_terminated:
                raise LambdabenchError("the demo sweep did not finish cleanly", "See the lines above.")
        finally:
            ctx.close()
    print("demo: simulator stopped; nothing left running", file=sys.stderr)
    return 0
