"""Every key of the JSON report is named in docs/report.md (issue 28: every figure documented with where it
comes from): a report with every section filled is walked key by key, beside every table column."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lambdabench.ledger import Ledger, MetricKey
from lambdabench.report import build_report, render
from lambdabench.report.cells import GROUP_COLUMNS, RUN_COLUMNS
from tests.report import ledgers as L
from tests.report.test_max_envs import H100 as MAX_ENVS_RESULT
from tests.report.test_max_envs import _search_run
from tests.report.test_reference import _sweep as reference_sweep
from tests.report.test_stats import _seeded_sweep
from tests.report.test_tails import H200, _h200_run

DOCS = Path(__file__).parents[2] / "docs" / "report.md"
# maps whose keys are data (lock ids and type names; Isaac Lab's own start-up stages), not report fields
DATA_KEYED = (".environment_locks.by_lock", ".isaaclab_benchmark[].isaaclab_startup_s")


def _full_ledger(led: Ledger) -> None:
    """One ledger whose report fills every section: training, scaling, seeds, tails, a num_envs search,
    a published reference, start-up stages, environment locks and Isaac Lab's own benchmark figure."""
    L.training_sweep(led, repeats=2, iterations=60)
    L.scaling_sweep(led)
    runs = _seeded_sweep(led)
    a10 = runs[L.A10.name][0]
    led.record_series(a10, "seed:compile_s", [(None, 0.0, 50.0), (None, 1.0, 10.0)], source="seeds")
    led.record_metric(a10, MetricKey.CONTAINER_START_S, 30.0, source="steps")
    led.record_metric(a10, "env_lock_id", 1234.0, source="env-lock")
    # GPU settings from the lock: two A10 columns' runs differ in power limit (pooled, and compared side by side)
    trained = next(r.id for r in led.runs() if r.instance_type == L.A10.name and r.id != a10)
    for run, watts in ((a10, 150.0), (runs[L.A10.name][1], 125.0), (trained, 150.0)):
        led.record_metric(run, "env_lock_gpus", 1.0, source="env-lock")
        led.record_metric(run, "gpu0_power_limit_w", watts, unit="W", source="env-lock: NVIDIA A10")
    led.record_metric(runs[L.A10.name][1], "env_lock_gpus", 2.0, source="env-lock")  # one GPU said N/A
    led.record_metric(a10, "isaaclab_env_steps_per_s", 1000.0, source="isaaclab-bundle-1.4")
    led.record_metric(a10, "isaaclab_startup_app_launch_s", 12.0, source="isaaclab-bundle-1.4")
    _h200_run(led, json.loads((H200 / "mjx-result.json").read_text()), [])
    search = led.create_sweep("search", plan={"type_order": ["gpu_1x_h100_sxm5"]})
    _search_run(led, search, "gpu_1x_h100_sxm5", json.loads(MAX_ENVS_RESULT.read_text()))
    reference_sweep(led, "isaaclab-benchmark", {}, 123_000.0)


def _keys(node: Any, path: str = "") -> set[tuple[str, str]]:
    """(key, where) of every object key under node, data-keyed maps' own keys left out."""
    out: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not path.startswith(DATA_KEYED):
                out.add((key, path))
            out |= _keys(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            out |= _keys(item, f"{path}[]")
    return out


def test_every_json_key_is_named_in_docs_report_md(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    _full_ledger(led)
    every = [s.id for s in led.sweeps()]
    # side by side, and pooled (--merge: columns mixing benchmarks are flagged)
    docs = [
        json.loads(render(build_report(led, every, compare=c, now=L.T0 + 30 * 86_400), "json")) for c in (True, False)
    ]
    empty = [k for k, v in docs[0].items() if isinstance(v, list) and not v and not docs[1][k]]
    empty += [
        k for k, v in docs[0]["environment_locks"].items() if v in ([], {}) and not docs[1]["environment_locks"][k]
    ]
    assert not empty, f"sections left empty by the fixture, so unchecked: {empty}"
    keys = _keys(docs[0]) | _keys(docs[1])
    keys |= {(c.key, ".groups[]") for c in GROUP_COLUMNS} | {(c.key, ".runs[]") for c in RUN_COLUMNS}
    named = set(re.findall(r"`([^`]+)`", DOCS.read_text()))
    # a key is named when it is in backticks on its own or as the last part of a path (`groups[].stats`)
    words = named | {re.split(r"[.\[\]]+", n.strip(".[]"))[-1] for n in named}
    missing = sorted(f"{where or '(top)'}: {key}" for key, where in keys if key not in words)
    assert not missing, "JSON keys docs/report.md does not name:\n" + "\n".join(missing)
