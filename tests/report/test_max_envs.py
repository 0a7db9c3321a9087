"""The largest num_envs that fits (issue 28.3): the MJX result's max_envs read into the ledger, per type in every
report format; the real H100 search (tests/workloads/data/h100-max-envs) read back through it."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import Any

from lambdabench.ledger import Ledger
from lambdabench.report import build_report, render
from lambdabench.run.ingest import record_max_envs
from tests.report import ledgers as L

H100 = Path(__file__).parent.parent / "workloads" / "data" / "h100-max-envs" / "max-envs-result.json"


def _search_run(led: Ledger, sweep: int, gpu: str, doc: dict[str, Any], workload: str = "mjx-locomotion") -> int:
    run, _ = L.add_run(
        led, sweep, L.Gpu(gpu, 100, 1.0, 1.0), start=L.T0, bench_s=60, name=f"lb-{gpu}-{workload}", workload=workload
    )
    record_max_envs(led, run, doc)
    return run


def test_the_real_h100_search_in_every_format(hermetic_env: Path) -> None:
    real = json.loads(H100.read_text())
    modelled = copy.deepcopy(real)
    modelled["max_envs"].update(largest_fit=786432, first_oom=1048576, memory_model={"modelled": True})
    modelled["max_envs"]["oom_error"] = {"error_type": "ModelledOutOfMemory", "error_code": "RESOURCE_EXHAUSTED"}
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("search", plan={"type_order": ["gpu_1x_h100_sxm5", "gpu_1x_a10"]})
    run = _search_run(led, sweep, "gpu_1x_h100_sxm5", real)
    _search_run(led, sweep, "gpu_1x_a10", modelled)
    probes = {p[1]: p[2] for s in led.series(run_id=run, name="max_envs_probe_fits") for p in s.points}
    assert probes[2883584.0] == 1.0 and probes[3145728.0] == 0.0 and probes[4194304.0] == 0.0
    rep = build_report(led, now=L.T0 + 86_400)
    doc = json.loads(render(rep, "json"))["max_num_envs"]
    assert doc[0] == {
        "group": "gpu_1x_h100_sxm5",
        "largest_fit": 2883584.0,
        "first_oom": 4194304.0,
        "bound": 8388608.0,
        "oom_evidence": "mjx JaxRuntimeError NOT_FOUND at compile",
        "modelled": False,
        "runs": 1,
        "playbook": "mjx-locomotion",
        "backend": "MJX",
        "footprint": "model=lambdabench-ant",
        "ended_early_at": None,
        "ended_early": None,
    }
    assert (doc[1]["largest_fit"], doc[1]["modelled"]) == (786432.0, True)
    for fmt in ("table", "md", "html"):
        text = render(rep, fmt)
        assert "Largest num_envs that fits" in text and "2,883,584" in text and "4,194,304" in text, fmt
    rows = {r["instance_type"]: r for r in csv.DictReader(io.StringIO(render(rep, "csv")))}
    assert float(rows["gpu_1x_h100_sxm5"]["max_num_envs_fit"]) == 2883584.0
    assert float(rows["gpu_1x_a10"]["max_num_envs_first_oom"]) == 1048576.0


def test_a_report_without_a_search_has_no_such_section(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("plain", plan={"type_order": ["gpu_1x_a10"]})
    L.add_run(led, sweep, L.Gpu("gpu_1x_a10", 100, 1.0, 1.0), start=L.T0, bench_s=60, name="lb-a10")
    rep = build_report(led, now=L.T0 + 86_400)
    assert rep.max_envs == () and json.loads(render(rep, "json"))["max_num_envs"] == []
    assert "max_num_envs_fit" not in render(rep, "csv") and "Largest num_envs" not in render(rep, "table")


def test_each_playbooks_search_is_its_own_row_named_with_its_backend(hermetic_env: Path) -> None:
    """An Isaac Lab 3 search (il_maxenvs.py's result) beside an MJX one on the same type: never one minimum of both."""
    mjx = json.loads(H100.read_text())
    il3 = {
        "workload": "isaaclab3-train",
        "max_envs": {
            "largest_fit": 4194304,
            "first_oom": 8388608,
            "bound": 8388608,
            "memory_model": None,
            "oom_error": {"error_type": "torch.OutOfMemoryError", "error_code": "by type", "error_stage": "train"},
            "tries": [{"num_envs": 4194304, "fits": True}, {"num_envs": 8388608, "fits": False}],
        },
    }
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("search", plan={"type_order": ["gpu_1x_h100_sxm5"]})
    _search_run(led, sweep, "gpu_1x_h100_sxm5", mjx)
    _search_run(led, sweep, "gpu_1x_h100_sxm5", il3, workload="isaaclab3-train")
    rep = build_report(led, now=L.T0 + 86_400)
    rows = {r["playbook"]: r for r in json.loads(render(rep, "json"))["max_num_envs"]}
    assert (rows["mjx-locomotion"]["largest_fit"], rows["isaaclab3-train"]["largest_fit"]) == (2883584.0, 4194304.0)
    assert rows["isaaclab3-train"]["backend"] == "kitless Newton" and rows["isaaclab3-train"]["oom_evidence"] == (
        "isaaclab3-train torch.OutOfMemoryError by type at train"
    )
    assert "gpu_1x_h100_sxm5 (isaaclab3-train, kitless Newton): largest num_envs that fits 4,194,304" in render(
        rep, "table"
    )


def test_searches_of_different_tasks_on_one_type_are_separate_rows(hermetic_env: Path) -> None:
    """Cartpole and Ant searched on the same H100 (made-up figures), pooled per type: two rows, each naming its task,
    never Ant's fit as Cartpole's (the footprint `check` and the plan key on, compat.footprint_of)."""
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    fits = {"Isaac-Cartpole-Direct": 4194304, "Isaac-Ant-Direct": 524288}
    sweeps = []
    for task, fit in fits.items():
        sweeps.append(led.create_sweep(task, plan={"playbook": "isaaclab3-train", "vars": {"task": task}}))
        doc = {"workload": "isaaclab3-train", "max_envs": {"largest_fit": fit, "first_oom": 2 * fit, "bound": 8388608}}
        run, _ = L.add_run(
            led,
            sweeps[-1],
            L.Gpu("gpu_1x_h100_sxm5", 100, 1.0, 1.0),
            start=L.T0,
            bench_s=60,
            name=f"lb-{task}",
            workload="isaaclab3-train",
        )
        record_max_envs(led, run, doc)
    rep = build_report(led, sweeps, now=L.T0 + 86_400, compare=False)  # report --merge: one column per type
    rows = json.loads(render(rep, "json"))["max_num_envs"]
    assert sorted(r["largest_fit"] for r in rows) == [524288.0, 4194304.0], rows  # not pooled into one row
    got = {r["footprint"].split(",")[0]: r["largest_fit"] for r in rows}
    assert got == {"task=Isaac-Cartpole-Direct": 4194304.0, "task=Isaac-Ant-Direct": 524288.0}, rows
    assert "largest num_envs that fits 524,288 for task=Isaac-Ant-Direct, presets=newton_mjwarp, library=rsl_rl" in (
        render(rep, "table")
    )


def test_searches_of_different_isaac_lab_releases_are_separate_rows(hermetic_env: Path) -> None:
    """One H100 searched under isaaclab 3.0.0 and 3.1.0 (made-up figures), merged, plans recording their footprints
    as a launch does: two rows, each naming its release."""
    from lambdabench.compat import footprint
    from lambdabench.remote.playbook import find_playbook

    book = find_playbook("isaaclab3-train")
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweeps = []
    for sets, fit in (({}, 4194304), ({"isaaclab_version": "3.1.0"}, 524288)):
        plan = {"playbook": book.name, "vars": sets, "footprint": dict(footprint(book, sets))}
        sweeps.append(led.create_sweep(str(fit), plan=plan))
        run, _ = L.add_run(
            led, sweeps[-1], L.Gpu("gpu_1x_h100_sxm5", 100, 1.0, 1.0), start=L.T0, bench_s=60, name=f"lb-{fit}",
            workload=book.name,
        )  # fmt: skip
        record_max_envs(led, run, {"workload": book.name, "max_envs": {"largest_fit": fit, "first_oom": 2 * fit}})
    rep = build_report(led, sweeps, now=L.T0 + 86_400, compare=False)
    rows = json.loads(render(rep, "json"))["max_num_envs"]
    got = {r["footprint"].rsplit(", ", 1)[-1]: r["largest_fit"] for r in rows}
    assert got == {"isaaclab_version=3.0.0": 4194304.0, "isaaclab_version=3.1.0": 524288.0}, rows
    words = "task=Isaac-Cartpole-Direct, presets=newton_mjwarp, library=rsl_rl, isaaclab_version=3.1.0"
    assert f"largest num_envs that fits 524,288 for {words}" in render(rep, "table")


def test_a_modelled_search_never_pools_with_a_measured_one(hermetic_env: Path) -> None:
    """One H100 searched on a GPU (4,194,304 fit) and on the simulator's memory model (524,288, made up), merged: two
    rows, each saying its kind, never the modelled fit as the measured one (as `check` keeps them apart)."""
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweeps = []
    for modelled, fit in ((False, 4194304), (True, 524288)):
        sweeps.append(led.create_sweep(f"m{modelled}", simulated=modelled, plan={"playbook": "isaaclab3-train"}))
        found = {
            "largest_fit": fit,
            "first_oom": 2 * fit,
            "bound": 8388608,
            "memory_model": {"a": 1} if modelled else None,
        }
        run, _ = L.add_run(
            led, sweeps[-1], L.Gpu("gpu_1x_h100_sxm5", 100, 1.0, 1.0), start=L.T0, bench_s=60, name=f"lb-{modelled}",
            workload="isaaclab3-train",
        )  # fmt: skip
        record_max_envs(led, run, {"workload": "isaaclab3-train", "max_envs": found})
    rep = build_report(led, sweeps, now=L.T0 + 86_400, compare=False)
    rows = json.loads(render(rep, "json"))["max_num_envs"]
    assert sorted((r["modelled"], r["largest_fit"]) for r in rows) == [(False, 4194304.0), (True, 524288.0)], rows


IL3 = Path(__file__).parent.parent / "workloads" / "data" / "h100-il3-max-envs"


def test_the_real_h100_isaac_lab_3_probes_and_a_probe_past_its_cap(hermetic_env: Path) -> None:
    """Real isaaclab 3.0.0 Cartpole probes on an H100 (bench/device/run_il3_max_envs.sh): 1,048,576 envs fit, 17,097
    MiB at peak by the run's nvidia-smi; a probe killed at its 170 s cap (scene creation alone took 136 s) neither fit
    nor ran out of memory, and the report says the search ended there, never "no out-of-memory up to the bound"."""
    from lambdabench.metrics.telemetry import load_telemetry
    from lambdabench.run.ingest import record_probe_memory

    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("il3", plan={"type_order": ["gpu_1x_h100_sxm5", "gpu_1x_h100_pcie"]})
    fit = json.loads((IL3 / "n1048576" / "max-envs-result.json").read_text())
    run = _search_run(led, sweep, "gpu_1x_h100_sxm5", fit, "isaaclab3-train")
    record_probe_memory(led, run, fit, load_telemetry(IL3 / "n1048576" / "telemetry.csv").samples)
    peaks = {p[1]: p[2] for s in led.series(run_id=run, name="max_envs_probe_gpu_mem_mib") for p in s.points}
    assert peaks == {1048576.0: 17097.0}
    cut = json.loads((IL3 / "n1048576-cap170" / "max-envs-result.json").read_text())
    assert cut["max_envs"]["stopped"] == "time" and cut["max_envs"]["tries"][0]["status"] == "time"
    cut_run = _search_run(led, sweep, "gpu_1x_h100_pcie", cut, "isaaclab3-train")
    assert not [p for s in led.series(run_id=cut_run, name="max_envs_probe_fits") for p in s.points]
    rep = build_report(led, now=L.T0 + 86_400)
    rows = {m["group"]: m for m in json.loads(render(rep, "json"))["max_num_envs"]}
    real, ended = rows["gpu_1x_h100_sxm5"], rows["gpu_1x_h100_pcie"]
    assert (real["largest_fit"], real["first_oom"], real["ended_early_at"]) == (1048576.0, None, None)
    assert (ended["largest_fit"], ended["first_oom"], ended["ended_early_at"]) == (None, None, 1048576.0)
    assert (
        ended["ended_early"]
        == "the probe at 1,048,576 envs ran past its 170 s cap (raise probe_seconds or probe_seconds_per_million_envs to go further)"
    )
    text = render(rep, "table")
    line = next(x for x in text.splitlines() if "gpu_1x_h100_pcie" in x and "largest num_envs" in x)
    assert "ran past its 170 s cap" in line and "up to the bound" not in line, line


def test_a_probe_past_a_cap_that_grows_with_num_envs_names_its_own_cap(hermetic_env: Path) -> None:
    """probe_seconds is the cap's fixed part; the probe's own cap (cap_seconds, with the per-million-envs part) is
    what it ran past."""
    cut = json.loads((IL3 / "n1048576-cap170" / "max-envs-result.json").read_text())
    cut["max_envs"]["tries"][-1]["cap_seconds"] = 170 + 250 * 1048576 / 1e6
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    sweep = led.create_sweep("il3", plan={"type_order": ["gpu_1x_h100_sxm5"]})
    run = _search_run(led, sweep, "gpu_1x_h100_sxm5", cut, "isaaclab3-train")
    source = next(m.source for m in led.metrics(run_id=run) if m.key == "max_num_envs_ended_early")
    assert source.startswith("the probe at 1,048,576 envs ran past its 432 s cap"), source
