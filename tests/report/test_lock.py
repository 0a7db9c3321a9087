"""Environment locks (issue 28.1): the collector's fingerprint covers the software, and the report flags every
comparison across different locks (or runs without one)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger, MetricKey
from lambdabench.report import build_report, render
from lambdabench.run.ingest import lock_id, record_lock
from lambdabench.workloads import env_lock
from tests.report import ledgers as L


def test_the_fingerprint_is_the_canonical_software_json() -> None:
    lock = env_lock.collect("nvcr.io/nvidia/isaac-lab:2.3.0")
    canonical = json.dumps(lock["software"], sort_keys=True, separators=(",", ":"))
    assert lock["software_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert env_lock.collect("nvcr.io/nvidia/isaac-lab:2.3.0")["software_sha256"] == lock["software_sha256"]
    assert env_lock.collect("nvcr.io/nvidia/isaac-lab:2.2.0")["software_sha256"] != lock["software_sha256"]
    assert lock["software"]["packages"] and lock["software"]["kernel"]


def test_a_containers_packages_come_from_its_own_line_amid_banners() -> None:
    """The Isaac Sim playbooks: --packages runs in the container, the host's lock takes its Python and packages."""
    inside = {"python": "3.11.13", "packages": {"isaacsim": "4.5.0", "torch": "2.5.1"}}
    output = f"[Isaac Sim] banner\n{env_lock.MARKER}{json.dumps(inside)}\nwarning: a trailing line\n"
    found = env_lock.read_environment(output)
    lock = env_lock.collect("isaac-lab-base:latest@sha256:1234", found)
    assert lock["software"]["packages"] == inside["packages"] and lock["software"]["python"] == "3.11.13"
    assert lock["software"]["container_image"] == "isaac-lab-base:latest@sha256:1234"
    assert lock["software_sha256"] != env_lock.collect("isaac-lab-base:latest@sha256:1234")["software_sha256"]
    with pytest.raises(ValueError, match="no environment line"):
        env_lock.read_environment("[Isaac Sim] banner only\n")


def _run(led: Ledger, sweep: int, gpu: L.Gpu, k: int, lock: str | None) -> int:
    run, _ = L.add_run(led, sweep, gpu, start=L.T0 + k, bench_s=60, repeat=k, name=f"lb-{gpu.name}-{k}")
    led.record_metric(run, MetricKey.ENV_STEPS_PER_S, 1000.0 * (k + 1), source="mjx")
    if lock is not None:
        led.record_metric(run, "env_lock_id", lock_id(lock), source="env-lock")
    return run


def test_comparisons_across_different_locks_are_flagged(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("locks", plan={"type_order": [L.A10.name, L.H100.name, L.A100.name]})
    same, other = "ab" * 32, "cd" * 32
    _run(led, sweep, L.A10, 1, same)
    _run(led, sweep, L.A10, 2, same)
    _run(led, sweep, L.H100, 1, same)
    _run(led, sweep, L.H100, 2, same)
    _run(led, sweep, L.A100, 1, other)
    rep = build_report(led, now=L.T0 + 86_400)
    assert {r.env_lock for r in rep.runs} == {same[:12], other[:12]}
    doc = json.loads(render(rep, "json"))
    mixed = {tuple(p) for p in doc["environment_locks"]["mixed"]}
    assert (L.A10.name, L.A100.name) in mixed and (L.H100.name, L.A100.name) in mixed
    assert (L.A10.name, L.H100.name) not in mixed
    for fmt in ("table", "md", "html"):
        text = render(rep, fmt)
        assert "Environment locks" in text and f"{L.A10.name} vs {L.A100.name} compares runs under different" in text


def test_a_pulled_lock_reaches_the_ledger_and_a_bad_one_a_note(hermetic_env: Path, tmp_path: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("x")
    run = _run(led, sweep, L.A10, 1, None)
    run_dir = tmp_path / "run"
    (run_dir / "results").mkdir(parents=True)
    lock = env_lock.collect()
    (run_dir / "results" / "env-lock.json").write_text(json.dumps(lock))
    notes: list[str] = []
    assert record_lock(led, run, run_dir, notes) == lock and notes == []
    (row,) = [m for m in led.metrics(run_id=run) if m.key == "env_lock_id"]
    assert f"{int(row.value):012x}" == lock["software_sha256"][:12]
    (run_dir / "results" / "env-lock.json").write_text("{not json")
    assert record_lock(led, run, run_dir, notes) is None and "unreadable" in notes[0]
