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
    lock = env_lock.collect()
    canonical = json.dumps(lock["software"], sort_keys=True, separators=(",", ":"))
    assert lock["software_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert env_lock.collect()["software_sha256"] == lock["software_sha256"]
    assert lock["software"]["packages"] and lock["software"]["kernel"] and "container" not in lock


def test_a_containers_lock_compares_its_base_image_and_checkout_never_its_local_image() -> None:
    """The Isaac Sim playbooks: --packages runs in the container, the host's lock takes its Python and packages,
    the pulled base image's digest and the checkout's commit; the image built on the box is recorded apart."""
    inside = {"python": "3.11.13", "packages": {"isaacsim": "4.5.0", "torch": "2.5.1"}}
    output = f"[Isaac Sim] banner\n{env_lock.MARKER}{json.dumps(inside)}\nwarning: a trailing line\n"
    found = env_lock.read_environment(output)
    facts = {
        "base_image": "nvcr.io/nvidia/isaac-sim:4.5.0@sha256:" + "a" * 64,
        "base_image_pinned_by": "registry digest",
        "isaaclab_commit": "c" * 40,
        "image": "isaac-lab-base@sha256:" + "1" * 64,
        "checkout": "/home/ubuntu/IsaacLab",
    }
    lock = env_lock.collect(found, facts)
    assert lock["software"]["packages"] == inside["packages"] and lock["software"]["python"] == "3.11.13"
    assert lock["software"]["base_image"] == facts["base_image"] and lock["software"]["isaaclab_commit"] == "c" * 40
    assert lock["container"] == facts and "container_image" not in lock["software"]
    # another box builds the same software into another image id, from another checkout folder: the same lock
    elsewhere = {**facts, "image": "isaac-lab-base@sha256:" + "2" * 64, "checkout": "/home/ubuntu/other"}
    assert env_lock.collect(found, elsewhere)["software_sha256"] == lock["software_sha256"]
    for key, other in (("base_image", facts["base_image"].replace("a" * 64, "b" * 64)), ("isaaclab_commit", "d" * 40)):
        assert env_lock.collect(found, {**facts, key: other})["software_sha256"] != lock["software_sha256"], key
    assert lock["software_sha256"] != env_lock.collect(None, facts)["software_sha256"]  # the host's packages
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
