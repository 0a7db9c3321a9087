"""Machines the user brings, beside Lambda types: a BYO SSH host and this machine (the local transport).

The BYO host is a real sshd started by the test (the simulator's host image: its nvidia-smi reports an
A10); "this machine" is the test process's own environment with that image's tools on PATH. Both run
the same playbooks, preflight and pull as launched instances; neither is ever terminated."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger
from lambdabench.simulate import Sim, needs_sshd
from lambdabench.sshkeys import ensure_local_key
from tests.reliability.conftest import simulator

pytestmark = [needs_sshd, pytest.mark.timeout(300)]
LB = [sys.executable, "-m", "lambdabench.cli"]


def _byo_host(sim: Sim, home: Path, instance_id: str = "b" * 32) -> tuple[str, Path]:
    """A real sshd of the simulator's image that no cloud knows about; its user@addr:port and state dir."""
    key = ensure_local_key(home / "keys" / "id_ed25519")
    itype = sim.core.scenario.catalog.types["gpu_1x_a10"]
    info = sim.hosts.start(instance_id, authorized_key=key.public_key, instance_type=itype)
    return f"{sim.hosts.user}@{info.ip}:{info.port}", sim.hosts.hosts_dir / instance_id


def test_a_sweep_with_two_lambda_types_and_a_byo_host(tmp_path: Path) -> None:
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        spec, _ = _byo_host(sim, home)
        env = {**sim.client_env(home)}
        dry = subprocess.run(
            [
                *LB,
                "sweep",
                "--gpus",
                "a10,a100",
                "--host",
                f"{spec},label=ws,price=0.5",
                "--playbook",
                "gpu-probe",
                "--dry-run",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert dry.returncode == 0, dry.stderr
        assert "host:ws" in dry.stdout and "never terminated" in dry.stdout
        out = subprocess.run(
            [
                *LB,
                "sweep",
                "--gpus",
                "a10,a100",
                "--host",
                f"{spec},label=ws,price=0.5",
                "--playbook",
                "gpu-probe",
                "--format",
                "json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert out.returncode == 0, out.stderr
        assert "1 × NVIDIA A10" in out.stderr  # the host's GPUs, from its own nvidia-smi
        assert [b for b in sim.core.billing() if b["status"] not in ("terminated", "terminating")] == []
        assert sim.hosts._hosts, "the BYO host was stopped"
        probe = subprocess.run(
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                f"UserKnownHostsFile={tmp_path / 'kh'}",
                "-i",
                str(home / "keys" / "id_ed25519"),
                "-p",
                spec.rsplit(":", 1)[1],
                spec.split(":")[0],
                "true",
            ],
            capture_output=True,
            timeout=30,
        )
        assert probe.returncode == 0, probe.stderr  # still up: nothing terminated it
        terminates = [r for r in sim.core.requests() if r["path"].endswith("/terminate")]
        assert terminates and all("127." not in json.dumps(r.get("body")) for r in terminates)
        with Ledger(home) as ledger:
            sweep = ledger.latest_sweep()
            assert sweep is not None
            runs = {r.instance_type: r for r in ledger.runs(sweep.id)}
            assert set(runs) == {"gpu_1x_a10", "gpu_1x_a100", "host:ws"}
            assert all(r.status == "succeeded" for r in runs.values())
            host_rows = ledger.instances(run_id=runs["host:ws"].id)
            assert [r.kind for r in host_rows] == ["host"] and host_rows[0].price_cents_per_hour == 50
            assert host_rows[0].gone is not None  # released, i.e. its time stops counting
        report = json.loads(out.stdout)
        assert "host:ws" in json.dumps(report)
        gc = subprocess.run([*LB, "gc"], env=env, capture_output=True, text=True, timeout=60)
        assert gc.returncode == 0 and "ws" not in gc.stdout


def _local_env(sim: Sim, home: Path, instance_id: str) -> dict[str, str]:
    """This process's environment made to look like the simulated image's machine (its nvidia-smi, an A10)."""
    _, state = _byo_host(sim, home, instance_id)
    session = dict(line.split("=", 1) for line in (state / "session.env").read_text().splitlines() if "=" in line)
    session = {k: v.strip("'") for k, v in session.items()}
    return {
        **sim.client_env(home),
        "LAMBDABENCH_SIM_STATE": session["LAMBDABENCH_SIM_STATE"],
        "LAMBDABENCH_SIM_PYTHON": session["LAMBDABENCH_SIM_PYTHON"],
        "JAX_PLATFORMS": "cpu",
        "PATH": session["LAMBDABENCH_SIM_PATH"] + os.pathsep + os.environ.get("PATH", ""),
    }


def test_this_machine_through_the_local_transport(tmp_path: Path) -> None:
    """`--local`: the playbooks run here with no SSH (this test's machine looks like a simulated A10); `-v`
    streams their output as it does from an instance."""
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        env = _local_env(sim, home, "c" * 32)
        out = subprocess.run(
            [*LB, "-v", "sweep", "--local", "--playbook", "gpu-probe", "--format", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert out.returncode == 0, out.stderr
        assert "\ngpu_count=1\n" in out.stderr  # the gpu-probe step's own output, streamed by -v
        assert "ssh" not in out.stderr.lower().replace("ssh ready", "")
        assert sim.core.requests() == [] or not [r for r in sim.core.requests() if r["path"].endswith("/launch")]
        with Ledger(home) as ledger:
            run = ledger.runs(ledger.latest_sweep().id)[0]  # type: ignore[union-attr]
            assert run.instance_type == "local" and run.status == "succeeded"
            assert [r.kind for r in ledger.instances(run_id=run.id)] == ["local"]
            gpu = {m.key: m.value for m in ledger.metrics(run_id=run.id)}
            assert gpu.get("gpu_count") == 1
        assert (home / "local" / "home").is_dir()  # its playbooks' files stayed out of the real $HOME


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None or importlib.util.find_spec("mujoco") is None,
    reason="jax and mujoco-mjx are not installed (bash .ci/setup installs the [mjx] extra)",
)
@pytest.mark.slow  # default-suite time (issue rule: ~15 min on 2 cores); a sibling covers the core path
def test_an_earlier_runs_files_on_a_machine_you_bring_are_not_this_runs(tmp_path: Path) -> None:
    """A machine you bring is not fresh: what an earlier run left in the benchmark's folder must not be
    pulled as this run's. Seen on the real H200 (bench/device/run_lambdabench_h200.sh, 2026-12-02): the
    second sweep on the same host pulled a telemetry.csv that began with the first sweep's samples, and
    its GPU energy came out 14.4 Wh against 5.0 Wh for the same benchmark."""
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        env = _local_env(sim, home, "d" * 32)
        stale = home / "local" / "home" / "lambdabench-mjx" / "results"
        stale.mkdir(parents=True)
        (stale / "telemetry.csv").write_text(
            "timestamp, index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W], "
            "clocks.current.sm [MHz], temperature.gpu\n"
            "2020/01/01 00:00:00.000, 0, NVIDIA A10, 100 %, 1 MiB, 24000 MiB, 150.00 W, 1695 MHz, 60\n"
        )
        (stale / "mjx-partial-rank7.json").write_text("{}")
        left = subprocess.Popen(["sleep", "600"], start_new_session=True)  # a sampler an interrupted run left
        (stale.parent / "sampler.pid").write_text(f"{left.pid}\n")
        try:
            out = subprocess.run(
                [*LB, "sweep", "--local", "--set", "cpu_envs=16", "--format", "json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            assert out.returncode == 0, out.stderr[-3000:]
            pulled = next((home / "runs").glob("sweep-*/run-*/results"))
            assert not (pulled / "mjx-partial-rank7.json").exists()
            telemetry = (pulled / "telemetry.csv").read_text()
            assert "2020/01/01" not in telemetry and "NVIDIA A10" in telemetry  # this run's samples, and only those
            assert left.wait(timeout=30) is not None  # stopped, not left writing into a deleted file
            record = json.loads((pulled.parent / "result.json").read_text())
            resources = record["resources"]
            # the timed windows' figures (empty on the real H200 before they existed) and the machine's size
            assert resources["timed_utilization_pct"] is not None and resources["wh_per_million_steps"] > 0
            assert record["hardware"]["vcpus"] == os.cpu_count()
        finally:
            left.kill()
