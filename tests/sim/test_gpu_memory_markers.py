"""The simulated nvidia-smi's GPU memory while a modelled workload starts, claims its envs and exits.

A sample is either idle (0 or 1 MiB) or what the workload's model holds (its base, then its envs): never the random
share of the card the sampler gives a workload without a model. CI on daa1e9a read 46,861 MiB for a 1,048,576-env
Isaac Lab 3 probe the model then put at 18,480: the sampler read busy/, then found no memory marker (the stand-in's marker
was being rewritten, or already removed at exit while busy/ still named the process). The child here slows
Path.write_text (the file stays empty 50 ms) and Path.unlink (50 ms after each), widening those windows from
microseconds to what a loaded 2-core CI machine gives them, so the old writers fail this every run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from lambdabench.sim.hosts.manager import IMAGE_DIR
from lambdabench.sim.hosts.memory_model import memory_model

H100_MIB = 81559
SIM = IMAGE_DIR.parents[1]
WRITERS = {
    # the kitless Isaac Lab 3 stand-in: mark_busy (the base) then claim_gpu_memory (rl.py's order)
    "isaaclab3": (
        SIM / "isaaclab" / "isaaclab3" / "site",
        "from isaaclab._standin import host\n"
        "host.mark_busy('cuda:0'); time.sleep(0.1); host.claim_gpu_memory(1024, 'cuda:0'); time.sleep(0.1)\n",
    ),
    # Isaac Lab 2.x in the simulated container: the app launcher's _mark_busy, then the scene's claim
    "isaaclab-2.x": (
        SIM / "isaaclab" / "template" / "common" / "_simulated",
        "import isaaclab_sim as s\n"
        "s._mark_busy(0); time.sleep(0.1); s.claim_gpu_memory(1024, 'cuda:0'); time.sleep(0.1)\n",
    ),
}
SLOW_FILES = """
import pathlib, sys, time
_unlink = pathlib.Path.unlink
def _slow_write(self, data, *args, **kwargs):
    with open(self, "w") as fh:
        fh.flush(); time.sleep(0.05); fh.write(data)
    return len(data)
def _slow_unlink(self, missing_ok=False):
    _unlink(self, missing_ok=missing_ok); time.sleep(0.05)
pathlib.Path.write_text = _slow_write
pathlib.Path.unlink = _slow_unlink
sys.path.insert(0, sys.argv[1])
"""


def _nvidia_smi() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_sim_nvidia_smi", IMAGE_DIR / "lib" / "nvidia_smi.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_modelled_workload_never_reads_as_a_random_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    state = tmp_path / "state"
    (state / "busy").mkdir(parents=True)
    model = memory_model(H100_MIB)
    assert model is not None
    (state / "memory-model.json").write_text(json.dumps(model))
    (state / "gpu.json").write_text(json.dumps({"gpus": 1, "model": "NVIDIA H100 80GB HBM3", "memory_mib": H100_MIB}))
    monkeypatch.setenv("LAMBDABENCH_SIM_STATE", str(state))
    smi = _nvidia_smi()
    base = float(model["isaaclab3"]["base_mib"])
    held = base + float(model["isaaclab3"]["per_env_bytes"]) * 1024 / 2**20
    allowed = {0, 1, int(base), int(held)}
    site, body = WRITERS[writer]
    env = {**os.environ, "LAMBDABENCH_MEMORY_MODEL": str(state / "memory-model.json")}
    child = subprocess.Popen([sys.executable, "-c", SLOW_FILES + "import time\n" + body, str(site)], env=env)
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while child.poll() is None and time.monotonic() < deadline:
        seen.append(smi._sample([0])[0].memory_used)
    assert child.wait(timeout=10) == 0
    seen.append(smi._sample([0])[0].memory_used)
    odd = sorted(set(seen) - allowed)
    assert not odd, f"{writer}: {len(seen)} samples, memory.used outside the model's {sorted(allowed)}: {odd[:5]}"
    # the samples saw the whole life: the base, the envs, and idle once it ended
    assert {int(base), int(held)} <= set(seen) and seen[-1] in (0, 1), sorted(set(seen))


def test_a_workload_that_ends_between_the_samplers_reads_is_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """busy/ read while the workload ran, its memory marker read after it had gone: idle, not a random share; busy on
    the second look with still no model is a workload without one (the random share)."""
    (tmp_path / "gpu.json").write_text(
        json.dumps({"gpus": 1, "model": "NVIDIA H100 80GB HBM3", "memory_mib": H100_MIB})
    )
    monkeypatch.setenv("LAMBDABENCH_SIM_STATE", str(tmp_path))
    smi = _nvidia_smi()
    looks = iter([True, False])
    monkeypatch.setattr(smi.simhost, "gpu_busy", lambda: next(looks))
    monkeypatch.setattr(smi.simhost, "modelled_memory_mib", lambda index: None)
    assert smi._sample([0])[0].memory_used in (0, 1)
    monkeypatch.setattr(smi.simhost, "gpu_busy", lambda: True)
    assert 0.35 * H100_MIB - 1 <= smi._sample([0])[0].memory_used <= 0.62 * H100_MIB
