"""Issue 27 item 3: the ingest runs after the run's terminate, so an ingest that raises can neither delay
the terminate nor keep the instance; the run's status still comes from what the ingest found."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

from lambdabench.ledger import Ledger
from lambdabench.run.context import Node, PulledPass, RunContext
from lambdabench.run.env import RunEnv, Timeouts
from lambdabench.run.ingest import ingest
from lambdabench.run.plan import Benchmark, SweepRequest
from lambdabench.simulate import Sim


class PulledUnreadable:
    """A remote phase that finished its work, but left a result the ingest cannot read (a folder for a file)."""

    def __call__(self, rc: RunContext) -> None:
        (rc.run_dir / "results" / "mjx-result.json").mkdir(parents=True)
        rc.pulled = True


def test_an_ingest_that_raises_fails_the_run_after_its_terminate_and_keeps_nothing(simenv: Sim) -> None:
    lab = simenv.lab()
    plan = lab.plan(SweepRequest("a10", "gpu-probe", {}, keep_on_failure=True))
    result = lab.sweep(plan, phase=PulledUnreadable(), install_signal_handlers=False)
    assert "IsADirectoryError" in result.failed["a10#1"] and result.kept == [], result
    assert simenv.live() == [] and result.all_gone
    (run,) = lab.ledger.runs(result.sweep_id)
    (inst,) = lab.ledger.instances(sweep_id=result.sweep_id)
    (error,) = lab.ledger.errors(run_id=run.id)
    assert run.status == "failed" and error.stage == "ingest" and not inst.kept
    assert inst.terminate_called is not None and error.ts >= inst.terminate_called
    run_dir = next(lab.sweep_dir(result.sweep_id).glob("run-*"))
    assert json.loads((run_dir / "result.json").read_text())["run"]["status"] == "failed"
    lab.close()


def test_each_seed_pass_is_read_after_teardown_as_it_was_at_its_end(tmp_path: Path) -> None:
    """Two --seeds passes pulled before the terminate: each read from its kept files, with its own steps only."""
    with Ledger(tmp_path / "home") as ledger:
        sweep = ledger.create_sweep("seeds", simulated=True)
        run_id = ledger.add_run(sweep, instance_type="gpu_1x_a10", workload="gpu-probe")
        run_dir = tmp_path / "run"
        t0 = time.time() - 100
        passes = []
        for k, seed in enumerate(("5", "6")):
            start = t0 + 10 * k
            step = ledger.start_step(run_id, "seedy: install the workload", ts=start + 1)
            ledger.end_step(step, 0, ts=start + 1.5)  # 0.5 s in every pass
            out = run_dir / "seeds" / f"seed-{seed}" / "artifacts" / "out"
            out.mkdir(parents=True)
            (out / "metrics.json").write_text(json.dumps({"env_steps_per_s": 1000 + 10 * int(seed)}))
            passes.append(PulledPass(seed, start, start + 5, (t0, start + 4), {0: {"gpu_count": 1}}, []))
        rc = _context(ledger, sweep, run_id, run_dir, Benchmark.load("gpu-probe", {}), passes, pulled=False)
        assert ingest(rc, whole=False) is None  # the passes only: the run pulled nothing whole
        series = {s.name: [(p[1], round(p[2], 3)) for p in s.points] for s in ledger.series(run_id=run_id)}
        assert series["seed:env_steps_per_s"] == [(5.0, 1050.0), (6.0, 1060.0)]
        assert series["seed:install_s"] == [(5.0, 0.5), (6.0, 0.5)]  # a later pass's install is not the first's


BUNDLE = Path(__file__).parents[1] / "workloads" / "data" / "h100-il3" / "isaaclab-benchmark-training-n4096.json"


def test_isaaclab_own_figure_under_seeds_is_the_mean_of_each_pass_bundle(tmp_path: Path) -> None:
    """benchmark=isaaclab --seeds 2: Isaac Lab's total_fps over the same passes and with the same mean as ours."""
    real = json.loads(BUNDLE.read_text())  # a real H100 bundle (isaaclab 3.0.0), its total_fps set per pass
    with Ledger(tmp_path / "home") as ledger:
        sweep = ledger.create_sweep("seeds", simulated=True)
        run_id = ledger.add_run(sweep, instance_type="gpu_1x_h100_sxm5", workload="isaaclab3-train")
        run_dir = tmp_path / "run"
        t0 = time.time() - 100
        passes = []
        for k, (seed, fps) in enumerate((("42", 200_000.0), ("43", 300_000.0))):
            real["runtime"]["total_fps"]["mean"] = fps
            out = run_dir / "seeds" / f"seed-{seed}" / "artifacts" / "benchmark"
            out.mkdir(parents=True)
            (out / f"benchmark_training_Isaac-Cartpole-Direct_{seed}.json").write_text(json.dumps(real))
            passes.append(PulledPass(seed, t0 + 10 * k, t0 + 10 * k + 5, (t0, t0 + 10 * k + 4), {0: {}}, []))
        shutil.copytree(out.parent, run_dir / "artifacts")  # the run's own pull is its last pass's
        rc = _context(
            ledger, sweep, run_id, run_dir, Benchmark.load("isaaclab3-train", {"benchmark": "isaaclab"}), passes
        )
        ingest(rc)
        (series,) = ledger.series(run_id=run_id, name="seed:isaaclab_env_steps_per_s")
        assert [(p[1], p[2]) for p in series.points] == [(42.0, 200_000.0), (43.0, 300_000.0)]
        (own,) = [m for m in ledger.metrics(run_id=run_id) if m.key == "isaaclab_env_steps_per_s"]
        assert own.value == 250_000.0 and own.source == "isaaclab-bundle-1.4"  # not the last pass's 300,000


def _context(
    ledger: Ledger,
    sweep: int,
    run_id: int,
    run_dir: Path,
    benchmark: Benchmark,
    passes: list[PulledPass],
    *,
    pulled: bool = True,
) -> RunContext:
    """A one-node run's context after teardown, as the sweep hands it to ingest (no plan, no connection)."""
    return RunContext(
        sweep_id=sweep,
        run_id=run_id,
        label="run#1",
        nodes=[Node(0, "n0", "lambda", "127.0.0.2", "127.0.0.2", {"gpus": 1})],
        plan=None,  # type: ignore[arg-type]
        benchmark=benchmark,
        env=RunEnv(run_dir.parent, Timeouts()),
        ledger=ledger,
        connect=None,
        run_dir=run_dir,
        stop=threading.Event(),
        deadline=0.0,
        notify=print,
        passes=passes,
        pulled=pulled,
    )
