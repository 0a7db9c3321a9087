"""Environment locks (issue 28.1): the collector's fingerprint covers the software, and the report flags every
comparison across different locks (or runs without one)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger, MetricKey
from lambdabench.report import build_report, render, render_csv
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


def test_every_pair_of_columns_shown_is_checked_not_only_those_with_statistics(hermetic_env: Path) -> None:
    """The A100 column has no figure to compare (its run recorded no env-steps/s), so the report's comparisons pair
    the A10 and the H100 only; shown beside them under another lock, it is flagged as the GPU settings are."""
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("locks", plan={"type_order": [L.A10.name, L.H100.name, L.A100.name]})
    same, other = "ab" * 32, "cd" * 32
    _run(led, sweep, L.A10, 1, same)
    _run(led, sweep, L.H100, 1, same)
    bare, _ = L.add_run(led, sweep, L.A100, start=L.T0 + 1, bench_s=60, name="lb-bare")
    led.record_metric(bare, "env_lock_id", lock_id(other), source="env-lock")
    rep = build_report(led, now=L.T0 + 86_400)
    assert {(c.a, c.b) for c in rep.comparisons} == {(L.A10.name, L.H100.name)}  # the A100: no statistics
    assert [g.label or g.instance_type for g in rep.groups] == [L.A10.name, L.H100.name, L.A100.name]
    mixed = {tuple(p) for p in json.loads(render(rep, "json"))["environment_locks"]["mixed"]}
    assert mixed == {(L.A10.name, L.A100.name), (L.H100.name, L.A100.name)}
    assert f"{L.H100.name} vs {L.A100.name} compares runs under different" in render(rep, "table")


def test_past_six_columns_every_pair_shown_is_checked_not_only_neighbours(hermetic_env: Path) -> None:
    """Seven columns: the comparisons pair neighbours only (compare_groups' max_all_pairs); the first column's other
    lock is flagged beside every column, not only its neighbour."""
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    gpus = [L.Gpu(f"gpu_1x_t{i}", 100, 1000.0 * (i + 1), 100.0) for i in range(7)]
    sweep = led.create_sweep("seven", plan={"type_order": [g.name for g in gpus]})
    for i, gpu in enumerate(gpus):
        _run(led, sweep, gpu, 1, "cd" * 32 if i == 0 else "ab" * 32)
    rep = build_report(led, now=L.T0 + 86_400)
    assert (gpus[0].name, gpus[2].name) not in {(c.a, c.b) for c in rep.comparisons}
    mixed = {tuple(p) for p in json.loads(render(rep, "json"))["environment_locks"]["mixed"]}
    assert mixed == {(gpus[0].name, g.name) for g in gpus[1:]}


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


# GPU hardware settings in the lock (issue 28.1: "GPU clocks and power limit"): the model's name as nvidia-smi
# prints it, values as env_lock.py records them (strings, `--format=csv,noheader,nounits`)
SXM = "NVIDIA H100 80GB HBM3"
H100_SXM = L.Gpu("gpu_1x_h100_sxm5", 329, 160_000.0, 600.0, 22_000.0)
H100_8X = L.Gpu("gpu_8x_h100_sxm5", 2392, 900_000.0, 4000.0, 22_000.0)


def _gpu(watts: str, name: str = SXM, sm: str = "1980", mem: str = "2619") -> dict[str, str]:
    return {"name": name, "power_limit_w": watts, "max_sm_mhz": sm, "max_memory_mhz": mem}


def _locked(led: Ledger, sweep: int, gpu: L.Gpu, k: int, gpus: list[dict[str, str]] | None, tmp: Path) -> int:
    """A run whose pulled lock lists these GPUs (None: the run recorded no lock), ingested as a run's is."""
    run = _run(led, sweep, gpu, k, None)
    if gpus is not None:
        run_dir = tmp / f"run-{run}"
        (run_dir / "results").mkdir(parents=True)
        lock = {"software_sha256": "ab" * 32, "software": {}, "gpus": gpus}
        (run_dir / "results" / "env-lock.json").write_text(json.dumps(lock))
        notes: list[str] = []
        assert record_lock(led, run, run_dir, notes) == lock and notes == []
    return run


def test_the_locks_gpu_settings_reach_the_ledger_and_the_run(hermetic_env: Path, tmp_path: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("x")
    run = _locked(led, sweep, H100_8X, 1, [_gpu("700.00"), _gpu("[N/A]", sm="[Not Supported]")], tmp_path)
    got = {
        (m.key, m.value, m.unit, m.source) for m in led.metrics(run_id=run) if m.key.startswith(("gpu", "env_lock_g"))
    }
    assert got == {
        ("env_lock_gpus", 2.0, "", "env-lock"),
        ("gpu0_power_limit_w", 700.0, "W", f"env-lock: {SXM}"),
        ("gpu0_max_sm_mhz", 1980.0, "MHz", f"env-lock: {SXM}"),
        ("gpu0_max_memory_mhz", 2619.0, "MHz", f"env-lock: {SXM}"),
        ("gpu1_max_memory_mhz", 2619.0, "MHz", f"env-lock: {SXM}"),  # N/A: not recorded, so unknown
    }
    (line,) = build_report(led, now=L.T0 + 86_400).runs
    assert [(g.index, g.model, g.power_limit_w, g.max_sm_mhz) for g in line.gpus] == [
        (0, SXM, 700.0, 1980.0),
        (1, SXM, None, None),
    ]
    assert line.gpu_settings == (
        f"1 × {SXM}: power limit 700 W, max SM clock 1980 MHz, max memory clock 2619 MHz; "
        f"1 × {SXM}: power limit unknown, max SM clock unknown, max memory clock 2619 MHz"
    )


def test_a_column_pooling_h100s_of_different_power_limits_is_flagged_in_every_format(
    hermetic_env: Path, tmp_path: Path
) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("capped", plan={"type_order": [H100_SXM.name, L.A100.name]})
    _locked(led, sweep, H100_SXM, 1, [_gpu("700.00")], tmp_path)
    _locked(led, sweep, H100_SXM, 2, [_gpu("500.00")], tmp_path)
    _locked(led, sweep, L.A100, 1, [_gpu("400.00", "NVIDIA A100-SXM4-40GB", "1410", "1215")], tmp_path)
    rep = build_report(led, now=L.T0 + 86_400)
    warning = (
        f"WARNING: {H100_SXM.name} pools runs whose {SXM} GPUs differ in power limit (500 W vs 700 W): its "
        "figures mix them"
    )
    for fmt in ("table", "md", "html"):
        text = render(rep, fmt)
        assert warning in text.replace("&#x27;", "'"), fmt
        assert text.count("WARNING") == 1, fmt  # the A100 differs from the H100s by model: no flag
    doc = json.loads(render(rep, "json"))["environment_locks"]
    assert doc["gpus_pooled"] == [
        {"group": H100_SXM.name, "gpu": SXM, "setting": "power_limit_w", "values": [500.0, 700.0]}
    ]
    assert doc["gpus_mixed"] == [] and doc["gpus_unknown"] == []
    (h100,) = [g for g in doc["gpus"] if g["group"] == H100_SXM.name]
    assert h100 == {
        "group": H100_SXM.name,
        "gpu": SXM,
        "runs": 2,
        "power_limit_w": [500.0, 700.0],
        "max_sm_mhz": [1980.0],
        "max_memory_mhz": [2619.0],
    }
    rows = {r["instance_type"]: r for r in csv.DictReader(io.StringIO(render(rep, "csv")))}
    assert (
        rows[H100_SXM.name]["gpu_power_limit_w"] == "500.0;700.0" and rows[L.A100.name]["gpu_power_limit_w"] == "400.0"
    )
    runs = list(csv.DictReader(io.StringIO(render_csv(rep, level="runs"))))
    assert {r["gpu_settings"].split(": ")[1].split(",")[0] for r in runs} == {
        "power limit 700 W",
        "power limit 500 W",
        "power limit 400 W",
    }


def test_a_comparison_of_one_gpu_model_set_differently_is_flagged_and_unknown_is_no_difference(
    hermetic_env: Path, tmp_path: Path
) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    order = [H100_SXM.name, H100_8X.name, L.A100.name]
    sweep = led.create_sweep("types", plan={"type_order": order})
    _locked(led, sweep, H100_SXM, 1, [_gpu("700.00")], tmp_path)
    _locked(led, sweep, H100_SXM, 2, None, tmp_path)  # no lock: unknown, not a difference
    _locked(led, sweep, H100_8X, 1, [_gpu("500.00")] * 8, tmp_path)
    _locked(led, sweep, L.A100, 1, [_gpu("[N/A]", "NVIDIA A100-SXM4-40GB", "1410", "1215")], tmp_path)
    rep = build_report(led, now=L.T0 + 86_400)
    text = render(rep, "table")
    assert (
        f"WARNING: {H100_SXM.name} vs {H100_8X.name} compares {SXM} GPUs set differently: power limit 700 W on "
        f"{H100_SXM.name}, 500 W on {H100_8X.name}: part of the difference may be the setting, not the type"
    ) in text
    # unknown is no difference, other models differ by nature (the software lock's own warnings: the run without one)
    assert text.count("GPUs differ in") + text.count("GPUs set differently") == 1, text
    assert (
        f"{H100_SXM.name}: power limit, max SM clock, max memory clock unknown for 1 of 2 run(s) (no environment lock"
        in text
    )
    assert f"{L.A100.name}: power limit unknown for 1 of 1 run(s)" in text
    doc = json.loads(render(rep, "json"))["environment_locks"]
    assert doc["gpus_mixed"] == [
        {
            "a": H100_SXM.name,
            "b": H100_8X.name,
            "gpu": SXM,
            "setting": "power_limit_w",
            "a_values": [700.0],
            "b_values": [500.0],
        }
    ]
    assert doc["gpus_pooled"] == []
    assert {(u["group"], u["setting"], u["unknown_runs"], u["runs"]) for u in doc["gpus_unknown"]} >= {
        (H100_SXM.name, "power_limit_w", 1, 2),
        (L.A100.name, "power_limit_w", 1, 1),
    }


def test_the_answer_says_when_a_difference_may_not_be_the_gpu(hermetic_env: Path, tmp_path: Path) -> None:
    """The headline (Answer) names what the sections below warn of, where a reader starts; one shared lock: silent."""
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("locks", plan={"type_order": [L.A10.name, L.A100.name]})
    _run(led, sweep, L.A10, 1, "ab" * 32)
    _run(led, sweep, L.A100, 1, "ab" * 32)
    quiet = build_report(led, now=L.T0 + 86_400)
    assert not any("Caution" in render(quiet, fmt) for fmt in ("table", "md", "html"))
    _run(led, sweep, L.A100, 2, "cd" * 32)
    loud = build_report(led, now=L.T0 + 86_400)
    for fmt in ("table", "md", "html"):
        head = render(loud, fmt).split("Environment locks")[0]
        assert f"Caution: {L.A10.name} vs {L.A100.name} ran different or unknown software" in head, fmt
    led2 = Ledger(tmp_path / "capped", clock=lambda: L.T0)
    sweep2 = led2.create_sweep("capped", plan={"type_order": [H100_SXM.name]})
    _locked(led2, sweep2, H100_SXM, 1, [_gpu("700.00")], tmp_path)
    _locked(led2, sweep2, H100_SXM, 2, [_gpu("500.00")], tmp_path)
    head = render(build_report(led2, now=L.T0 + 86_400), "md").split("Environment locks")[0]
    assert f"Caution: {H100_SXM.name} had GPUs of one model set differently (power limit or clocks)" in head
