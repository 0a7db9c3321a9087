"""Published reference points (issue 28.6): a run with the same task, number of envs and backend as a cited
published figure gets it beside its own, marked as a reference with its source; no other run does."""

from __future__ import annotations

import json
from pathlib import Path

from lambdabench.ledger import Ledger, MetricKey
from lambdabench.report import build_report, render
from tests.report import ledgers as L


def _sweep(led: Ledger, playbook: str, variables: dict[str, str], rate: float) -> None:
    sweep = led.create_sweep(playbook, plan={"playbook": playbook, "vars": variables})
    run = led.add_run(sweep, instance_type=L.A10.name, region="us-east-1", workload=playbook, params={"repeat": 1})
    led.set_run_status(run, "succeeded", ts=L.T0)
    led.record_metric(run, MetricKey.ENV_STEPS_PER_S, rate, source="kpi")


def test_the_cartpole_benchmark_gets_the_published_4090_and_l40_rows(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    _sweep(led, "isaaclab-benchmark", {}, 123_000.0)  # its defaults: Isaac-Cartpole-Direct-v0, 4096 envs
    rep = build_report(led, now=L.T0 + 60)
    refs = {p.figure.gpu: p for p in rep.references}
    assert set(refs) == {"RTX 4090", "L40"}
    assert refs["RTX 4090"].figure.step_inference_train_fps == 510_000 and refs["L40"].figure.step_fps == 620_000
    assert refs["L40"].measured == 123_000.0 and "performance-benchmarks" in refs["L40"].figure.source
    for fmt in ("table", "md", "html"):
        text = render(rep, fmt)
        assert "Published reference points" in text and "REFERENCE RTX 4090, Isaac-Cartpole-Direct-v0" in text, fmt
    doc = json.loads(render(rep, "json"))
    assert all(r["reference"] is True and r["source"] for r in doc["references"])


def test_no_reference_without_a_published_match(hermetic_env: Path) -> None:
    led = Ledger(hermetic_env, clock=lambda: L.T0)
    _sweep(led, "isaaclab-benchmark", {"num_envs": "2048"}, 1.0)  # nothing published at 2,048 envs
    _sweep(led, "mjx-locomotion", {}, 1.0)  # nothing published for MJX
    _sweep(led, "isaaclab3-train", {"task": "Isaac-Cartpole-Direct", "num_envs": "4096"}, 1.0)  # kitless Newton
    rep = build_report(led, [1, 2, 3], now=L.T0 + 60)
    assert rep.references == () and "Published reference points" not in render(rep, "table")
