"""GPU power limits in the environment lock (issue 28.1), on the simulator: two runs of one type, one box
power-capped (the simulator's power_limit fault, as `sudo nvidia-smi -pl 500`), are flagged in text and JSON;
a bundle from another home with a capped GPU is flagged pooled (--merge) and side by side."""

from __future__ import annotations

import json
from pathlib import Path

import lambdabench
from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = [needs_sshd]

LOCK_COLLECTOR = Path(lambdabench.__file__).parent / "workloads" / "env_lock.py"
# made up, by design: a fixed figure, and the lock collected on the box as mjx-locomotion does
LOCKY = """\
name: locky
description: test workload, a fixed figure and the environment lock
steps:
  - name: put the lock collector
    put: {src: "LOCK", dest: env_lock.py}
  - name: measure
    run: >-
      mkdir -p out && echo '{"env_steps_per_s": 1000, "env_steps": 60000}' > out/metrics.json
      && python3 env_lock.py > out/env-lock.json
  - name: pull
    get: {src: out, dest: artifacts}
"""
H100 = "gpu_1x_h100_sxm5"
SXM = "NVIDIA H100 80GB HBM3"
# the 1st H100 launched (the other home's) and the 3rd (one of this home's two) are capped at 500 W
SCENARIO = f"""\
name: capped
instance_faults:
  - {{match: {{type: {H100}, nth: 1}}, kind: power_limit, watts: 500}}
  - {{match: {{type: {H100}, nth: 3}}, kind: power_limit, watts: 500}}
"""


def _home(sim: SimProcess, home: Path) -> dict[str, str]:
    (home / "playbooks").mkdir(parents=True)
    (home / "playbooks" / "locky.yaml").write_text(LOCKY.replace("LOCK", str(LOCK_COLLECTOR)))
    return {"LAMBDABENCH_HOME": str(home)}


def test_a_power_capped_h100_is_flagged_in_a_sweep_and_in_a_merged_bundle(tmp_path: Path) -> None:
    (tmp_path / "capped.yaml").write_text(SCENARIO)
    sim = SimProcess(tmp_path, scenario=tmp_path / "capped.yaml")
    try:
        bob = _home(sim, tmp_path / "bob")
        theirs = sim.cli("sweep", "--gpus", "h100", "--playbook", "locky", "--format", "json", timeout=300, **bob)
        assert theirs.returncode == 0, theirs.stderr[-3000:]
        assert json.loads(theirs.stdout)["environment_locks"]["gpus_pooled"] == []  # one run: nothing pooled
        bundle = tmp_path / "bob.tar.gz"
        exported = sim.cli("export", "1", str(bundle), "--origin", "bob@elsewhere", **bob)
        assert exported.returncode == 0, exported.stderr

        alice = _home(sim, tmp_path / "alice")
        ours = sim.cli(
            "sweep", "--gpus", "h100", "--playbook", "locky", "--repeat", "2", "--format", "json", timeout=300, **alice
        )  # fmt: skip
        assert ours.returncode == 0, ours.stderr[-3000:]
        locks = json.loads(ours.stdout)["environment_locks"]
        assert locks["gpus_pooled"] == [
            {"group": H100, "gpu": SXM, "setting": "power_limit_w", "values": [500.0, 700.0]}
        ]
        (row,) = locks["gpus"]
        assert row["runs"] == 2 and row["max_sm_mhz"] == [1980.0] and row["max_memory_mhz"] == [2619.0]
        text = sim.cli("report", **alice).stdout
        assert f"WARNING: {H100} pools runs whose {SXM} GPUs differ in power limit (500 W vs 700 W)" in text, text

        merged = sim.cli("report", "--merge", str(bundle), "--format", "json", **alice)
        assert merged.returncode == 0, merged.stderr
        doc = json.loads(merged.stdout)
        (pooled,) = doc["environment_locks"]["gpus_pooled"]
        assert pooled["group"] == H100 and pooled["values"] == [500.0, 700.0]
        (h100,) = doc["environment_locks"]["gpus"]
        assert h100["runs"] == 3  # bob's capped box pooled with ours
        side = sim.cli("report", str(bundle), "--format", "json", **alice)
        assert side.returncode == 0, side.stderr
        (mixed,) = json.loads(side.stdout)["environment_locks"]["gpus_mixed"]
        assert mixed["gpu"] == SXM and mixed["setting"] == "power_limit_w"
        assert {tuple(mixed["a_values"]), tuple(mixed["b_values"])} == {(500.0, 700.0), (500.0,)}
        table = sim.cli("report", str(bundle), **alice).stdout
        assert f"compares {SXM} GPUs set differently: power limit" in table and "bob@elsewhere" in table, table
        assert sim.live() == []
    finally:
        sim.stop()
    assert sim.proc.returncode == 0
