"""`lambdabench demo`: the main job end to end on the built-in simulator, no cloud account needed."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from lambdabench.errors import LambdabenchError, UsageError

DEMO_SETS = {"isaaclab-train": {"library": "skrl", "task": "Isaac-Cartpole-v0", "max_iterations": "20"}}
# the simulated instance's python3 is this Python (sim/hosts/image/lib/system-python.sh): MJX runs on it, and
# the simulator never installs into it (its pip stand-in refuses), so without these the run fails after boot
NEEDS_HERE = {"mjx-locomotion": ("jax", "mujoco")}


def run_demo(*, gpus: str, playbook: str | None, time_scale: float, fmt: str, home: Path | None = None) -> int:
    """Simulator up → sweep → report (and an HTML file) → simulator down; returns the exit code."""
    from lambdabench.config import Settings, default_home
    from lambdabench.lab import Lab
    from lambdabench.progress import Progress
    from lambdabench.report import render
    from lambdabench.run.plan import SweepRequest
    from lambdabench.simulate import running_simulator

    base = Path(os.environ["LAMBDABENCH_HOME"]) if os.environ.get("LAMBDABENCH_HOME") else default_home()
    home = home or base / "demo"
    playbook = playbook or "isaaclab-train"
    missing = [m for m in NEEDS_HERE.get(playbook, ()) if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"the demo runs {playbook} on this machine's CPU with lambdabench's own Python, which has no "
            f"{' or '.join(missing)}",
            "Install lambdabench with its mjx extra (from its clone: uv tool install '.[mjx]', pipx install "
            "'.[mjx]' or pip install '.[mjx]'), or leave out --playbook for the default isaaclab-train.",
        )
    say = Progress()
    print(f"demo: starting the simulated Lambda Cloud (time x{time_scale:g}); state in {home}", file=sys.stderr)
    with running_simulator(time_scale=time_scale) as sim:
        env = {**sim.env, "LAMBDABENCH_HOME": str(home), "HOME": os.environ.get("HOME", str(Path.home()))}
        with Lab(Settings.load(env=env, cwd=home), events=say) as lab:
            plan = lab.plan(SweepRequest(gpus, playbook, dict(DEMO_SETS.get(playbook, {})), max_cost="50"))
            print(
                f"demo: sweep {gpus} with playbook {playbook}; worst case "
                f"${plan.total_worst_case_cents / 100:.2f} (simulated money)",
                file=sys.stderr,
            )
            result = lab.sweep(plan, name=f"demo {gpus}")
            say.close()
            print(render(lab.report([result.sweep_id]), fmt).rstrip("\n"))
            html = lab.write_reports(result.sweep_id)[2]
            live = [b for b in sim.core.billing() if b["status"] not in ("terminated", "terminating")]
            print(
                f"demo: {len(result.succeeded)} run(s) succeeded, {len(result.failed)} failed; "
                f"{len(live)} simulated instance(s) still running; {result.api_requests} API requests",
                file=sys.stderr,
            )
            print(
                f"demo: report with charts: {html} (or `LAMBDABENCH_HOME={home} lambdabench report "
                f"{result.sweep_id} --format html -o report.html`)",
                file=sys.stderr,
            )
            if result.failed or live or not result.all_gone:
                raise LambdabenchError("the demo sweep did not finish cleanly", "See the lines above.")
    print("demo: simulator stopped; nothing left running", file=sys.stderr)
    return 0
