"""Results others can merge (issue 28.6): a bundle exported on one home merges into another's report,
each figure keeping its provenance; a damaged bundle is refused in one line."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

from lambdabench.ledger import Ledger, MetricKey
from lambdabench.report import build_report, render
from tests.core.clihelp import assert_one_line_error, run
from tests.report import ledgers as L
from tests.report.test_stats import _seeded_sweep


def _home_with_sweep(home: Path) -> int:
    led = Ledger(home, clock=lambda: L.T0)
    runs = _seeded_sweep(led)
    sweep = led.runs()[0].sweep_id
    run_dir = home / "runs" / f"sweep-{sweep}" / f"run-{runs[L.A10.name][0]}-a10-1"
    (run_dir / "results").mkdir(parents=True)
    (run_dir / "results" / "mjx-result.json").write_text('{"runs": []}\n')
    (run_dir / "telemetry.csv").write_text("timestamp, utilization.gpu [%]\n")
    led.close()
    return sweep


def _other_home(home: Path) -> None:
    led = Ledger(home, clock=lambda: L.T0)
    sweep = led.create_sweep("bob's", simulated=True, plan={"type_order": [L.A10.name]})
    run, _ = L.add_run(led, sweep, L.A10, start=L.T0, bench_s=600, name="lb-bob-a10-1")
    led.record_metric(run, MetricKey.ENV_STEPS_PER_S, 41_000.0, source="mjx")
    led.close()


def test_a_bundle_from_one_home_merges_into_anothers_report(tmp_path: Path) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    sweep = _home_with_sweep(alice)
    _other_home(bob)
    bundle = tmp_path / "alice.tar.gz"
    out = run(["export", str(sweep), str(bundle), "--origin", "alice@lab-a"], {"LAMBDABENCH_HOME": str(alice)})
    assert out.exit_code == 0, out.output
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        doc = json.load(tar.extractfile("bundle.json"))  # type: ignore[arg-type]
    assert doc["schema"] == "lambdabench-bundle" and doc["origin"] == "alice@lab-a"
    assert any(n.endswith("results/mjx-result.json") for n in names) and any(n.endswith("telemetry.csv") for n in names)
    assert doc["tables"]["sweeps"][0]["plan_json"] and len(doc["tables"]["runs"]) == 6
    assert all("owner_host" not in row for row in doc["tables"]["instances"])  # this machine's processes stay here
    folder = tmp_path / "alice-folder"
    assert (
        run(["export", str(sweep), str(folder), "--origin", "alice@lab-a"], {"LAMBDABENCH_HOME": str(alice)}).exit_code
        == 0
    )
    for where in (bundle, folder):
        merged = run(["report", "--merge", str(where), "--format", "json"], {"LAMBDABENCH_HOME": str(bob)})
        assert merged.exit_code == 0, merged.output
        rep = json.loads(merged.stdout)
        provenance = {r["provenance"] for r in rep["runs"]}
        assert "this ledger" in provenance
        assert any(p.startswith("alice@lab-a, sweep 1") for p in provenance), provenance
        a10 = next(g for g in rep["groups"] if g["instance_type"] == L.A10.name)
        assert a10["runs"] == 3 and a10["stats"]["env_steps_per_s"]["n"] == 7  # bob's 1 + alice's 2 × 3 seeds
        assert {g["instance_type"] for g in rep["groups"]} == {L.A10.name, L.H100.name, L.A100.name}
    merged_csv = run(["report", "--merge", str(bundle), "--format", "csv"], {"LAMBDABENCH_HOME": str(bob)}).stdout
    sources = {r["instance_type"]: r["provenance"] for r in csv.DictReader(io.StringIO(merged_csv))}
    assert sources[L.A10.name].startswith("this ledger; alice@lab-a, sweep 1"), sources  # pooled: both sources
    assert sources[L.H100.name].startswith("alice@lab-a, sweep 1"), sources
    table = run(["report", str(bundle)], {"LAMBDABENCH_HOME": str(bob)})
    assert table.exit_code == 0 and "Provenance" in table.stdout and "alice@lab-a" in table.stdout


def test_a_damaged_or_foreign_bundle_is_refused_in_one_line(tmp_path: Path) -> None:
    alice = tmp_path / "alice"
    sweep = _home_with_sweep(alice)
    folder = tmp_path / "b"
    assert run(["export", str(sweep), str(folder)], {"LAMBDABENCH_HOME": str(alice)}).exit_code == 0
    again = run(["export", str(sweep), str(folder)], {"LAMBDABENCH_HOME": str(alice)})
    assert_one_line_error(again, "already exists")
    victim = next((folder / "files").rglob("mjx-result.json"))
    victim.write_text('{"runs": [{"env_steps_per_s": {"mean": 1e12}}]}\n')
    env = {"LAMBDABENCH_HOME": str(alice)}
    assert_one_line_error(run(["report", str(folder)], env), "sha-256")
    (tmp_path / "junk").mkdir()
    assert_one_line_error(run(["report", str(tmp_path / "junk")], env), "not a lambdabench bundle")
    assert_one_line_error(run(["report", "no-such-thing"], env), "neither a sweep id nor a bundle")


def test_a_sweep_is_never_pooled_with_its_own_bundle(tmp_path: Path) -> None:
    alice = tmp_path / "alice"
    sweep = _home_with_sweep(alice)
    env = {"LAMBDABENCH_HOME": str(alice)}
    bundle, copy = tmp_path / "mine.tar.gz", tmp_path / "mine"
    for where in (bundle, copy):
        assert run(["export", str(sweep), str(where)], env).exit_code == 0
    # on the exporting home, the latest sweep (taken by default) is the bundle's own: counted once
    merged = run(["report", "--merge", str(bundle), "--format", "json"], env)
    assert merged.exit_code == 0, merged.output
    a10 = next(g for g in json.loads(merged.stdout)["groups"] if g["instance_type"] == L.A10.name)
    assert a10["runs"] == 2 and a10["stats"]["env_steps_per_s"]["n"] == 6  # 2 repeats x 3 seeds, not twice that
    # named twice, side by side or pooled: refused before anything is built
    for args in ([str(sweep), str(bundle)], [str(bundle), str(copy)], ["--merge", str(sweep), str(copy)]):
        assert_one_line_error(run(["report", *args], env), "hold the same runs", "give each sweep once")


def test_pooling_runs_of_different_benchmarks_is_flagged(hermetic_env: Path) -> None:
    """--merge pools every run of a type into one statistic: runs of different benchmarks (another playbook, or
    other values than the seed) would make a mean and interval of unlike things, so the report says so."""
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    plans = [{"envs": "1024"}, {"envs": "4096"}, {"envs": "1024", "seed": "7"}]
    for k, variables in enumerate(plans):
        sweep = led.create_sweep(f"s{k}", plan={"playbook": "mjx-locomotion", "vars": variables})
        run, _ = L.add_run(led, sweep, L.A10, start=L.T0 + k, bench_s=60, name=f"lb-{k}", workload="mjx-locomotion")
        led.record_metric(run, MetricKey.ENV_STEPS_PER_S, 1000.0 * (k + 1), source="mjx")
    mixed = build_report(led, [1, 2], compare=False, now=L.T0 + 86_400)
    doc = json.loads(render(mixed, "json"))
    assert doc["mixed_benchmarks"] == [{"group": L.A10.name, "differences": {"envs": ["1024", "4096"]}}]
    for fmt in ("table", "md", "html"):
        assert f"WARNING: {L.A10.name} pools runs of different benchmarks (envs: 1024 vs 4096)" in render(mixed, fmt)
    same = build_report(led, [1, 3], compare=False, now=L.T0 + 86_400)  # only the seed differs: one benchmark
    assert json.loads(render(same, "json"))["mixed_benchmarks"] == []
    assert "pools runs of different benchmarks" not in render(same, "table")
    side = build_report(led, [1, 2], now=L.T0 + 86_400)  # side by side: nothing pooled
    assert json.loads(render(side, "json"))["mixed_benchmarks"] == []
