"""`lambdabench check` (issue 28.5): before launch, per GPU type, the rules' answer (the very refusal a sweep
gives) and what the ledger measured; the report's compatibility section from the same runs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger
from lambdabench.report import build_report, render
from lambdabench.simulate import simulator
from tests.core.clihelp import assert_one_line_error, run
from tests.report import ledgers as L

SCALE = 600.0
TYPES = ("gpu_1x_a10", "gpu_1x_a100", "gpu_1x_gh200")


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    with simulator(scale=SCALE, retry_budget=3) as sim:
        # a made-up NGC key: the dry run must get past the secret check to reach the GPU rules
        yield {**sim.env, "NGC_API_KEY": "nvapi-test-not-a-key"}


def _ledger_with_results() -> None:
    """An earlier sweep's video runs on an A10: one succeeded, one failed (made-up, by design)."""
    led = Ledger(Path(os.environ["LAMBDABENCH_HOME"]), clock=lambda: L.T0)
    sweep = led.create_sweep("earlier", plan={"playbook": "isaaclab-train", "vars": {"video": "true"}})
    ok, _ = L.add_run(led, sweep, L.Gpu("gpu_1x_a10", 75, 1.0, 1.0), start=L.T0, bench_s=60, name="lb-a")
    bad, _ = L.add_run(
        led, sweep, L.Gpu("gpu_1x_a10", 75, 1.0, 1.0), start=L.T0 + 9, bench_s=60, name="lb-b", status="failed"
    )
    led.record_error("bench", "RemoteError", "Vulkan: no RTX device for the video recorder", run_id=bad)
    led.close()


def test_check_agrees_with_the_sweeps_refusals_and_reads_the_ledger(env: dict[str, str]) -> None:
    _ledger_with_results()
    args = ["--playbook", "isaaclab-train", "--set", "video=true"]
    out = run(["check", "--gpus", ",".join(TYPES), *args, "--json"], env)
    assert out.exit_code == 0, out.output
    verdicts = {v["gpu_type"]: v for v in json.loads(out.stdout)}
    for name in TYPES:
        dry = run(["sweep", "--gpus", name, *args, "--dry-run"], env)
        v = verdicts[name]
        assert v["backend"] == "Isaac Sim PhysX container" and v["task_class"] == "video"
        if v["refused"]:
            err = assert_one_line_error(dry)
            assert v["refused"] in err, (v, err)  # the same rule, the same words
        else:
            assert dry.exit_code == 0, dry.output
    assert verdicts["gpu_1x_a100"]["answer"] == "refused" and "RT cores" in verdicts["gpu_1x_a100"]["refused"]
    assert verdicts["gpu_1x_gh200"]["answer"] == "refused"
    a10 = verdicts["gpu_1x_a10"]
    assert a10["answer"] == "ran, and failed too" and (a10["succeeded"], a10["failed"]) == (1, 1)
    assert "Vulkan" in a10["last_error"]
    table = run(["check", "--gpus", "a10,a100", *args], env)
    assert "refused" in table.stdout and "last failure: Vulkan" in table.stdout
    state = json.loads(run(["check", "--gpus", "a10", "--playbook", "isaaclab-train", "--json"], env).stdout)
    assert state[0]["task_class"] == "state" and state[0]["answer"] == "allowed by the rules, not measured yet"
    assert_one_line_error(run(["check", "--gpus", "a10", "--set", "nope=1"], env), "no variable 'nope'")


def test_the_report_has_the_measured_matrix_in_every_format() -> None:
    _ledger_with_results()
    led = Ledger(Path(os.environ["LAMBDABENCH_HOME"]))
    rep = build_report(led, now=L.T0 + 86_400)
    (cell,) = rep.compat
    assert (cell.gpu_type, cell.backend, cell.task_class, cell.succeeded, cell.failed) == (
        "gpu_1x_a10",
        "Isaac Sim PhysX container",
        "video",
        1,
        1,
    )
    for fmt in ("table", "md", "html"):
        text = render(rep, fmt)
        assert "Compatibility" in text and "gpu_1x_a10 · Isaac Sim PhysX container · video" in text, fmt
    doc = json.loads(render(rep, "json"))
    assert doc["compatibility"][0]["last_error"].startswith("Vulkan")


def test_check_answers_how_many_envs_fit_from_the_ledgers_searches(env: dict[str, str]) -> None:
    """A search on the A10 found 786,432 (made-up run, the simulator model's figure): check says so per type,
    and flags values that ask for more; a type never searched says nothing about it."""
    led = Ledger(Path(os.environ["LAMBDABENCH_HOME"]), clock=lambda: L.T0)
    sweep = led.create_sweep("search", plan={"playbook": "mjx-locomotion", "vars": {"find_max_envs": "true"}})
    a10 = L.Gpu("gpu_1x_a10", 75, 1.0, 1.0)
    run_id, _ = L.add_run(led, sweep, a10, start=L.T0, bench_s=60, name="lb-s", workload="mjx-locomotion")
    led.record_metric(run_id, "max_num_envs_fit", 786432.0, unit="envs", source="mjx (modelled)")
    led.close()
    out = run(["check", "--gpus", "a10,a100", "--set", "envs=1024,1048576", "--json"], env)
    assert out.exit_code == 0, out.output
    verdicts = {v["gpu_type"]: v for v in json.loads(out.stdout)}
    a10, a100 = verdicts["gpu_1x_a10"], verdicts["gpu_1x_a100"]
    assert (a10["largest_num_envs"], a10["asks_num_envs"], a10["too_many_envs"]) == (786432.0, 1048576.0, True)
    assert (a100["largest_num_envs"], a100["too_many_envs"]) == (None, False)
    table = run(["check", "--gpus", "a10", "--set", "envs=4096"], env)
    assert "largest num_envs that fit here: 786,432" in table.stdout and "too many" not in table.stdout


def test_the_compatibility_section_follows_the_order_the_user_gave() -> None:
    """Like every other section: the demo's `a10,a100,8xh100` listed the 8×H100 first (it launches first, the
    slowest boot), the A10 and A100 after it."""
    led = Ledger(Path(os.environ["LAMBDABENCH_HOME"]), clock=lambda: L.T0)
    order = ["gpu_1x_a10", "gpu_1x_a100", "gpu_8x_h100_sxm5"]
    sweep = led.create_sweep("demo", plan={"playbook": "isaaclab-train", "type_order": order})
    for k, name in enumerate(reversed(order)):  # launched slowest boot first
        L.add_run(led, sweep, L.Gpu(name, 100, 1.0, 1.0), start=L.T0 + k, bench_s=60, name=f"lb-{k}")
    rep = build_report(led, now=L.T0 + 86_400)
    assert [c.gpu_type for c in rep.compat] == order
    assert [c["gpu_type"] for c in json.loads(render(rep, "json"))["compatibility"]] == order
