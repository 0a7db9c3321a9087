"""`sweep --seeds 3 --repeat 2` on the simulator (issue 28.2): three benchmark passes on each instance, one
seed each, two instances per type; the report's statistics in every format, and nothing left running."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import lambdabench
from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = [needs_sshd]

# a benchmark whose figure depends on its seed (made up, by design: a known answer per pass)
LOCK_COLLECTOR = Path(lambdabench.__file__).parent / "workloads" / "env_lock.py"
SEEDY = """\
name: seedy
description: test workload, env-steps/s 1000 + 10 x seed
vars:
  seed: {type: int, default: 5}
steps:
  - name: install the workload
    run: "[ -f .installed ] || { sleep 1.5; touch .installed; }"
  - name: put the lock collector
    put: {src: "LOCK", dest: env_lock.py}
  - name: measure
    run: >-
      mkdir -p out && echo "{\\"env_steps_per_s\\": $((1000 + {{ seed }} * 10)), \\"env_steps\\": 60000}"
      > out/metrics.json && python3 env_lock.py > out/env-lock.json
  - name: pull
    get: {src: out, dest: artifacts}
"""


def test_seeds_and_repeats_give_statistics_in_every_format(simproc: SimProcess) -> None:
    (simproc.home / "playbooks").mkdir(parents=True)
    (simproc.home / "playbooks" / "seedy.yaml").write_text(SEEDY.replace("LOCK", str(LOCK_COLLECTOR)))
    dry = simproc.cli(
        "sweep", "--gpus", "a10,a100", "--playbook", "seedy", "--seeds", "3", "--repeat", "2", "--dry-run"
    )
    assert dry.returncode == 0 and "3 seeds per run" in dry.stdout, dry.stdout + dry.stderr
    out = simproc.cli(
        "sweep",
        "--gpus",
        "a10,a100",
        "--playbook",
        "seedy",
        "--seeds",
        "3",
        "--repeat",
        "2",
        "--format",
        "json",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rep = json.loads(out.stdout)
    for g in rep["groups"]:
        s = g["stats"]["env_steps_per_s"]
        assert s["n"] == 6 and s["median"] == 1060.0 and s["iqm"] == 1060.0, s  # seeds 5, 6, 7 twice
        assert 1050.0 <= s["ci95"][0] < s["mean"] < s["ci95"][1] <= 1070.0
        assert g["runs"] == 2 and g["stats"]["usd_per_million_steps"]["n"] == 6
    assert {r["seeds"] for r in rep["runs"]} == {3}
    (verdict,) = [c for c in rep["comparisons"] if c["measure"] == "env_steps_per_s"]
    assert verdict["larger_than_spread"] is False  # the same workload on both: within the spread
    ledger = Ledger(simproc.home)
    run = ledger.runs()[0]
    (row,) = ledger.series(run_id=run.id, name="seed:env_steps_per_s")
    assert [(p[1], p[2]) for p in row.points] == [(5.0, 1050.0), (6.0, 1060.0), (7.0, 1070.0)]
    run_dir = next((simproc.home / "runs").glob(f"sweep-{run.sweep_id}/run-{run.id}-*"))
    assert sorted(p.name for p in (run_dir / "seeds").iterdir()) == ["seed-5", "seed-6", "seed-7"]
    # the environment lock, collected on the simulated host: the sim's nvidia-smi, the host's own packages
    record = json.loads((run_dir / "result.json").read_text())
    lock = record["environment_lock"]
    assert lock["software"]["driver"] and lock["software"]["cuda"] and lock["software"]["kernel"]
    assert lock["gpus"][0]["power_limit_w"] and lock["gpus"][0]["max_sm_mhz"]
    assert {r["env_lock"] for r in rep["runs"]} == {lock["software_sha256"][:12]}  # one machine image: one lock
    # cold vs warm: the install step is slow on a fresh instance only (a made-up workload, by design)
    installs = {(s["group"], s["stage"]): s for s in rep["startup"]}
    for g in rep["groups"]:
        row = installs[(g["instance_type"], "install_s")]
        assert row["cold_s"] >= 1.4 and row["warm_s"] < row["cold_s"] and row["cold_usd"] > row["warm_usd"] > 0
    for fmt in ("table", "md", "html"):
        text = simproc.cli("report", "--format", fmt).stdout
        assert "95% CI (bootstrap)" in text and "Differences between types" in text, fmt
        assert "every run shares one environment lock" in text, fmt
    rows = list(csv.DictReader(io.StringIO(simproc.cli("report", "--format", "csv").stdout)))
    assert rows and all(r["env_steps_per_s_iqm"] == "1060.0" for r in rows)
    assert simproc.live() == []
    refused = simproc.cli("sweep", "--gpus", "a10", "--playbook", "gpu-probe", "--seeds", "2", "--dry-run")
    assert refused.returncode != 0 and "no `seed` variable" in refused.stderr


def test_each_seed_pass_reads_its_own_training_only(simproc: SimProcess) -> None:
    """A training playbook keeps every pass's log folder on the instance (Isaac Lab writes a new timestamped
    folder per training): pass k must read its own training, not the k trainings so far as one resumed chain."""
    out = simproc.cli(
        "sweep", "--gpus", "h100", "--playbook", "isaaclab3-train", "--set", "num_envs=16", "--set",
        "max_iterations=3", "--seeds", "2", "--format", "json", timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    one = 3 * 16 * 16  # iterations × num_steps_per_env × num_envs: one training's env-steps
    ledger = Ledger(simproc.home)
    (run,) = ledger.runs()
    (steps,) = ledger.series(run_id=run.id, name="seed:env_steps")
    assert [(p[1], p[2]) for p in steps.points] == [(42.0, one), (43.0, one)]
    metrics = {m.key: m.value for m in ledger.metrics(run_id=run.id)}  # the latest value per key
    assert metrics["env_steps"] == 2 * one
    # the run's own curve (time- and cost-to-reward, one cold sample per run) is its first pass's training
    (curve,) = ledger.series(run_id=run.id, name="reward")
    assert max(p[1] or 0.0 for p in curve.points) <= one
    rep = json.loads(out.stdout)
    assert rep["runs"][0]["env_steps"] == 2 * one
