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
    assert out.exit_code == 1, out.output  # two of the three are refused
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


def _search(gpu: str, fit: float | None, oom: float | None, *, modelled: bool = True, **variables: str) -> int:
    """An earlier isaaclab3-train --find-max-envs run on this type with these --set values (made-up figures): on the
    simulator (its memory model, as ingest records it there), or on a GPU (modelled=False)."""
    led = Ledger(Path(os.environ["LAMBDABENCH_HOME"]), clock=lambda: L.T0)
    sets = {"find_max_envs": "true", **variables}
    sweep = led.create_sweep("search", plan={"playbook": "isaaclab3-train", "vars": sets})
    run_id, _ = L.add_run(
        led,
        sweep,
        L.Gpu(gpu, 75, 1.0, 1.0),
        start=L.T0,
        bench_s=60,
        name=f"lb-{gpu}-{fit}",
        workload="isaaclab3-train",
        variables=sets,
    )
    if fit is not None:
        led.record_metric(run_id, "max_num_envs_fit", fit, unit="envs", source="isaaclab3-train (modelled)")
    if oom is not None:
        led.record_metric(run_id, "max_num_envs_first_oom", oom, unit="envs", source="ModelledOutOfMemory")
    led.record_metric(run_id, "max_num_envs_modelled", float(modelled), source="made up")
    led.close()
    return run_id


IL3 = ["--playbook", "isaaclab3-train"]


def test_check_answers_how_many_envs_fit_from_the_ledgers_searches(env: dict[str, str]) -> None:
    """A search on the A10 found 1,048,576 and ran out of memory at 2,097,152 (made-up run, the simulator model's
    figures): check says so and where it comes from; more envs are refused; a type never searched says nothing."""
    run_id = _search("gpu_1x_a10", 1048576.0, 2097152.0)
    out = run(["check", "--gpus", "a10,a100", *IL3, "--set", "num_envs=2000000", "--json"], env)
    assert out.exit_code == 1, out.output
    verdicts = {v["gpu_type"]: v for v in json.loads(out.stdout)}
    a10, a100 = verdicts["gpu_1x_a10"], verdicts["gpu_1x_a100"]
    assert (a10["largest_num_envs"], a10["asks_num_envs"], a10["too_many_envs"]) == (1048576, 2000000, True)
    assert '"largest_num_envs": 1048576,' in out.stdout and '"asks_num_envs": 2000000,' in out.stdout  # counts, whole
    assert a10["answer"] == "refused" and f"run {run_id} on 2025-10-09" in a10["refused"], a10
    assert "--ignore-max-envs" in a10["hint"]
    assert (a100["largest_num_envs"], a100["too_many_envs"], a100["refused"]) == (None, False, None)
    table = run(["check", "--gpus", "a10", *IL3, "--set", "num_envs=4096"], env)
    assert table.exit_code == 0, table.output
    assert "largest num_envs that fit here: 1,048,576 (2,097,152 ran out of memory; task=" in table.stdout


def test_the_largest_num_envs_is_keyed_by_what_decides_the_footprint(env: dict[str, str]) -> None:
    """A Cartpole search answers for Cartpole only: another task, RL library or preset has its own footprint."""
    run_id = _search("gpu_1x_a10", 1048576.0, 2097152.0, task="Isaac-Cartpole-Direct")
    big = ["--set", "num_envs=2000000"]
    for other in (["--set", "task=Isaac-Ant-Direct"], ["--set", "library=skrl"], ["--set", "presets=newton_kamino"]):
        v = json.loads(run(["check", "--gpus", "a10", *IL3, *big, *other, "--json"], env).stdout)[0]
        assert (v["largest_num_envs"], v["refused"]) == (None, None), (other, v)
    (v,) = json.loads(run(["check", "--gpus", "a10", *IL3, *big, "--json"], env).stdout)  # the default task
    assert v["largest_num_envs"] == 1048576.0 and v["refused"] is not None
    assert (
        f"task=Isaac-Cartpole-Direct, presets=newton_mjwarp, library=rsl_rl, isaaclab_version=3.0.0; run {run_id}"
        in v["largest_from"]
    )


def test_a_sweep_above_the_measured_maximum_is_refused_before_launch() -> None:
    """The sweep asks the same function as `check`: more envs than a search measured to fit is refused in one line
    (every refused type named), nothing launched or recorded; --ignore-max-envs launches it anyway."""
    with simulator(scale=SCALE, retry_budget=3) as sim:
        run_id = _search("gpu_1x_a10", 1048576.0, 2097152.0)
        _search("gpu_1x_a100", 2097152.0, 4194304.0)
        _search("gpu_1x_gh200", 524288.0, None)  # reached its bound: nothing measured above it
        args = ["--gpus", "a10,a100,gh200", *IL3, "--set", "num_envs=3000000"]
        check = json.loads(run(["check", *args, "--json"], sim.env).stdout)
        refused = [v["refused"] for v in check if v["refused"]]
        assert len(refused) == 2 and f"run {run_id} on 2025-10-09" in refused[0]
        sweeps = len(Ledger(Path(os.environ["LAMBDABENCH_HOME"])).sweeps())
        err = assert_one_line_error(
            run(["sweep", *args, "-y"], sim.env), "refused on 2 of 3 type(s): gpu_1x_a10: ", "nothing was launched"
        )
        assert all(r in err for r in refused), err  # the same words as check
        assert sim.core.billing() == [] and len(Ledger(Path(os.environ["LAMBDABENCH_HOME"])).sweeps()) == sweeps
        assert run(["sweep", *args, "--ignore-max-envs", "--dry-run"], sim.env).exit_code == 0
        assert run(["sweep", *args[:-1], "num_envs=1048576", "--dry-run"], sim.env).exit_code == 0


def test_check_exits_1_when_any_type_is_refused_and_0_when_all_can_run(env: dict[str, str]) -> None:
    assert run(["check", "--gpus", "a10,a100", "--playbook", "isaaclab-train", "--json"], env).exit_code == 0
    some = run(["check", "--gpus", "a10,a100", "--playbook", "isaaclab-train", "--set", "video=true"], env)
    assert some.exit_code == 1 and "refused on 1 of 2 type(s): gpu_1x_a100" in some.stderr, some.output
    assert "gpu_1x_a10 " in some.stdout  # the table is still printed


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


def test_a_refused_sweep_names_every_refused_type_in_checks_words(env: dict[str, str]) -> None:
    """Video on an A10, an A100 and a GH200: the A100 has no RT cores, the GH200 is arm64; one line names both."""
    args = ["--gpus", ",".join(TYPES), "--playbook", "isaaclab-train", "--set", "video=true"]
    verdicts = json.loads(run(["check", *args, "--json"], env).stdout)
    refused = [v["refused"] for v in verdicts if v["refused"]]
    err = assert_one_line_error(run(["sweep", *args, "--dry-run"], env), "refused on 2 of 3 type(s): gpu_1x_a100: ")
    assert len(refused) == 2 and all(r in err for r in refused), (refused, err)


def test_a_search_is_keyed_by_the_footprint_its_plan_recorded_not_todays_defaults(env: dict[str, str]) -> None:
    """A search launched when the default task was Ant (its plan recorded the footprint; no --set task): it answers
    for Ant, not for today's default, Cartpole."""
    led = Ledger(Path(os.environ["LAMBDABENCH_HOME"]), clock=lambda: L.T0)
    recorded = {"task": "Isaac-Ant-Direct", "presets": "", "library": "rsl_rl"}
    plan = {"playbook": "isaaclab3-train", "vars": {"find_max_envs": "true"}, "footprint": recorded}
    sweep = led.create_sweep("search", plan=plan)
    run_id, _ = L.add_run(
        led,
        sweep,
        L.Gpu("gpu_1x_a10", 75, 1.0, 1.0),
        start=L.T0,
        bench_s=60,
        name="lb-ant",
        workload="isaaclab3-train",
        variables=plan["vars"],
    )
    led.record_metric(run_id, "max_num_envs_fit", 262144.0, unit="envs", source="made up")
    led.record_metric(run_id, "max_num_envs_first_oom", 524288.0, unit="envs", source="made up")
    led.record_metric(run_id, "max_num_envs_modelled", 1.0, source="made up")  # on the simulator, as checked here
    led.close()
    big = ["check", "--gpus", "a10", *IL3, "--set", "num_envs=300000", "--json"]
    (cartpole,) = json.loads(run(big, env).stdout)
    assert (cartpole["largest_num_envs"], cartpole["refused"]) == (None, None), cartpole
    (ant,) = json.loads(run([*big, "--set", "task=Isaac-Ant-Direct"], env).stdout)
    assert ant["largest_num_envs"] == 262144.0 and ant["refused"] is not None, ant


def test_a_search_whose_first_size_ran_out_of_memory_refuses_every_size_from_it(env: dict[str, str]) -> None:
    """Nothing fit (the first probe, 4,096, ran out of memory): 4,096 and more are refused, said as "none"; less was
    never tried, so it is not."""
    _search("gpu_1x_a10", None, 4096.0)
    (v,) = json.loads(run(["check", "--gpus", "a10", *IL3, "--json"], env).stdout)  # the default 4,096
    assert v["refused"].startswith("4,096 envs is above the largest num_envs that fit on gpu_1x_a10: none"), v
    assert "below 4,096" in v["hint"]
    (small,) = json.loads(run(["check", "--gpus", "a10", *IL3, "--set", "num_envs=1024", "--json"], env).stdout)
    assert small["refused"] is None  # never tried: not known to run out of memory
    table = run(["check", "--gpus", "a10", *IL3, "--set", "num_envs=1024"], env)
    assert table.exit_code == 0 and "largest num_envs that fit here: none (4,096 ran out of memory" in table.stdout


def _recorded_search(
    gpu: str, footprint: dict[str, str] | None, fit: float, oom: float, playbook: str = "isaaclab3-train", **sets: str
) -> int:
    """A search whose plan recorded this footprint (None: a plan from before plans recorded one)."""
    led = Ledger(Path(os.environ["LAMBDABENCH_HOME"]), clock=lambda: L.T0)
    variables = {"find_max_envs": "true", **sets}
    plan: dict[str, object] = {"playbook": playbook, "vars": variables}
    if footprint is not None:
        plan["footprint"] = footprint
    sweep = led.create_sweep("search", plan=plan)
    run_id, _ = L.add_run(
        led, sweep, L.Gpu(gpu, 75, 1.0, 1.0), start=L.T0, bench_s=60, name=f"lb-{gpu}-{fit}",
        workload=playbook, variables=variables,
    )  # fmt: skip
    led.record_metric(run_id, "max_num_envs_fit", fit, unit="envs", source="made up")
    led.record_metric(run_id, "max_num_envs_first_oom", oom, unit="envs", source="made up")
    led.record_metric(run_id, "max_num_envs_modelled", 1.0, source="made up")  # on the simulator, as checked here
    led.close()
    return run_id


@pytest.mark.parametrize("recorded", [{"task": "Isaac-Cartpole-Direct", "presets": "", "library": "rsl_rl"}, None])
def test_a_search_with_the_default_presets_answers_the_explicit_default_and_back(
    env: dict[str, str], recorded: dict[str, str] | None
) -> None:
    """Empty presets runs Cartpole's own default physics, newton_mjwarp: a search with the default (its plan recorded
    presets="" before footprints were resolved, or recorded none) answers `--set presets=newton_mjwarp` (or the
    deprecated name newton, order and repeats aside), and refuses above it, as check and as the sweep."""
    run_id = _recorded_search("gpu_1x_a10", recorded, 1048576.0, 2097152.0)
    big = ["--gpus", "a10", *IL3, "--set", "num_envs=2000000"]
    for presets in ("newton_mjwarp", " newton_mjwarp,newton ", ""):
        (v,) = json.loads(run(["check", *big, "--set", f"presets={presets}", "--json"], env).stdout)
        assert v["largest_num_envs"] == 1048576.0 and v["refused"] is not None, (presets, v)
        assert f"presets=newton_mjwarp, library=rsl_rl, isaaclab_version=3.0.0; run {run_id}" in v["largest_from"], v
    err = assert_one_line_error(run(["sweep", *big, "--set", "presets=newton_mjwarp", "--dry-run"], env))
    assert f"run {run_id} on 2025-10-09" in err, err
    (kamino,) = json.loads(run(["check", *big, "--set", "presets=newton_kamino", "--json"], env).stdout)
    assert (kamino["largest_num_envs"], kamino["refused"]) == (None, None), kamino  # other physics: not answered


def test_an_explicit_preset_search_answers_the_default(env: dict[str, str]) -> None:
    """The other way: a search launched today with `--set presets=newton_mjwarp` answers a check left at the default."""
    recorded = {"task": "Isaac-Ant-Direct", "presets": "newton_mjwarp", "library": "rsl_rl"}
    _recorded_search("gpu_1x_a10", recorded, 262144.0, 524288.0)
    base = ["check", "--gpus", "a10", *IL3, "--set", "num_envs=300000", "--set", "task=Isaac-Ant-Direct", "--json"]
    (v,) = json.loads(run(base, env).stdout)
    assert v["largest_num_envs"] == 262144.0 and v["refused"] is not None, v


CARTPOLE_BEFORE = {"task": "Isaac-Cartpole-Direct", "presets": "newton_mjwarp", "library": "rsl_rl"}


def test_a_search_of_another_isaac_lab_release_never_answers_this_one(env: dict[str, str]) -> None:
    """The isaaclab release isaaclab3-setup installs keys the search: a 3.1.0 search (its plan recorded today) answers
    and refuses 3.1.0 only, never the default 3.0.0; one recorded before footprints held the release (it ran 3.0.0)
    answers the default and an explicit 3.0.0. check names the release."""
    today = {**CARTPOLE_BEFORE, "isaaclab_version": "3.1.0"}
    new = _recorded_search("gpu_1x_a10", today, 524288.0, 1048576.0, isaaclab_version="3.1.0")
    old = _recorded_search("gpu_1x_a100", CARTPOLE_BEFORE, 1048576.0, 2097152.0)
    big = ["--gpus", "a10", *IL3, "--set", "num_envs=800000"]
    (v,) = json.loads(run(["check", *big, "--json"], env).stdout)
    assert (v["largest_num_envs"], v["refused"]) == (None, None), v
    assert run(["sweep", *big, "--dry-run"], env).exit_code == 0
    (v31,) = json.loads(run(["check", *big, "--set", "isaaclab_version=3.1.0", "--json"], env).stdout)
    assert v31["largest_num_envs"] == 524288.0 and v31["refused"] is not None, v31
    assert f"library=rsl_rl, isaaclab_version=3.1.0; run {new}" in v31["largest_from"], v31
    err = assert_one_line_error(run(["sweep", *big, "--set", "isaaclab_version=3.1.0", "--dry-run"], env))
    assert f"run {new} on 2025-10-09" in err, err
    on_a100 = ["--gpus", "a100", *IL3, "--set", "num_envs=2000000"]
    for given in ([], ["--set", "isaaclab_version=3.0.0"]):
        (v30,) = json.loads(run(["check", *on_a100, *given, "--json"], env).stdout)
        assert v30["largest_num_envs"] == 1048576.0 and v30["refused"] is not None, (given, v30)
        assert f"library=rsl_rl, isaaclab_version=3.0.0; run {old}" in v30["largest_from"], v30
    (other,) = json.loads(run(["check", *on_a100, "--set", "isaaclab_version=3.1.0", "--json"], env).stdout)
    assert (other["largest_num_envs"], other["refused"]) == (None, None), other


def test_a_search_of_another_checkout_ref_never_answers_this_one(env: dict[str, str]) -> None:
    """isaaclab-train on 2.x: the checkout's ref keys the search (v2.1.0 and v2.3.0 are both isaaclab_version=2); an
    empty ref is setup.yaml's v2.1.0, so a search recorded before footprints held the ref answers ref=v2.1.0 too."""
    before = {"isaaclab_version": "2", "library": "skrl", "task": "Isaac-Cartpole-v0"}
    old = _recorded_search("gpu_1x_a10", before, 1048576.0, 2097152.0, "isaaclab-train", isaaclab_version="2")
    ref23 = {**before, "ref": "v2.3.0"}
    new = _recorded_search("gpu_1x_a100", ref23, 524288.0, 1048576.0, "isaaclab-train", isaaclab_version="2")
    base = ["--playbook", "isaaclab-train", "--set", "isaaclab_version=2", "--set", "num_envs=2000000", "--json"]
    for ref in ([], ["--set", "ref=v2.1.0"]):
        (v,) = json.loads(run(["check", "--gpus", "a10", *base, *ref], env).stdout)
        assert v["largest_num_envs"] == 1048576.0 and v["refused"] is not None, (ref, v)
        assert f"isaaclab_version=2, ref=v2.1.0; run {old}" in v["largest_from"], v
    (v23,) = json.loads(run(["check", "--gpus", "a10", *base, "--set", "ref=v2.3.0"], env).stdout)
    assert (v23["largest_num_envs"], v23["refused"]) == (None, None), v23
    (a100,) = json.loads(run(["check", "--gpus", "a100", *base], env).stdout)  # the v2.3.0 search: not v2.1.0's
    assert (a100["largest_num_envs"], a100["refused"]) == (None, None), a100
    (a100_23,) = json.loads(run(["check", "--gpus", "a100", *base, "--set", "ref=v2.3.0"], env).stdout)
    assert a100_23["largest_num_envs"] == 524288.0 and f"ref=v2.3.0; run {new}" in a100_23["largest_from"]


def _real(env: dict[str, str]) -> dict[str, str]:
    """The same loopback API, not marked as the simulator: lambdabench takes it for the real cloud (as consent does)."""
    return {**env, "LAMBDABENCH_SIMULATED": "0"}


def test_a_search_on_the_simulators_memory_model_never_refuses_the_real_cloud(env: dict[str, str]) -> None:
    """A modelled search (max_num_envs_modelled 1) answers and refuses only what is aimed at the simulator: aimed at
    the real cloud, the sweep is not refused, and check neither answers nor refuses from it but says it set it aside."""
    run_id = _search("gpu_1x_a10", 1048576.0, 2097152.0)  # on the simulator
    big = ["--gpus", "a10", *IL3, "--set", "num_envs=2000000"]
    assert run(["sweep", *big, "--dry-run"], _real(env)).exit_code == 0
    real = run(["check", *big, "--json"], _real(env))
    assert real.exit_code == 0, real.output
    (v,) = json.loads(real.stdout)
    assert (v["largest_num_envs"], v["refused"]) == (None, None), v
    aside = f"run(s) {run_id} (the simulator's memory model) not used: this is aimed at the real Lambda Cloud"
    assert (v["largest_kind"], v["largest_set_aside"]) == (None, aside), v
    table = run(["check", *big], _real(env))
    assert table.exit_code == 0 and aside in table.stdout, table.output
    assert_one_line_error(run(["sweep", *big, "--dry-run"], env), "2,000,000 envs is above")
    (sim,) = json.loads(run(["check", *big, "--json"], env).stdout)
    assert sim["refused"] is not None and sim["largest_kind"] == "modelled", sim
    assert "the simulator's memory model" in sim["refused"] and sim["largest_set_aside"] is None


def test_a_search_on_a_gpu_answers_the_real_cloud_and_modelled_ones_never_override_it(env: dict[str, str]) -> None:
    """A real A10 search (1,048,576 fit) and a later modelled one with a smaller maximum (524,288) on the same
    footprint: the real cloud gets the real answer, named "measured on a GPU"; the simulator gets the modelled one."""
    real_id = _search("gpu_1x_a10", 1048576.0, 2097152.0, modelled=False)
    model_id = _search("gpu_1x_a10", 524288.0, 1048576.0)
    big = ["--gpus", "a10", *IL3, "--set", "num_envs=800000"]
    assert run(["sweep", *big, "--dry-run"], _real(env)).exit_code == 0
    (real,) = json.loads(run(["check", *big, "--json"], _real(env)).stdout)
    assert (real["largest_num_envs"], real["refused"]) == (1048576.0, None), real
    assert real["largest_from"].endswith(f"run {real_id} on 2025-10-09, measured on a GPU"), real
    assert real["largest_kind"] == "measured", real
    assert f"run(s) {model_id} (the simulator's memory model) not used" in real["largest_set_aside"]
    (sim,) = json.loads(run(["check", *big, "--json"], env).stdout)
    assert (sim["largest_num_envs"], sim["largest_kind"]) == (524288.0, "modelled") and sim["refused"], sim
    assert f"run(s) {real_id} (measured on a GPU) not used: this is aimed at the simulator" == sim["largest_set_aside"]
    over = ["--gpus", "a10", *IL3, "--set", "num_envs=2000000"]
    err = assert_one_line_error(run(["sweep", *over, "--dry-run"], _real(env)), "2,000,000 envs is above")
    assert f"run {real_id} on 2025-10-09, measured on a GPU" in err, err


def test_only_the_simulator_on_loopback_is_the_simulator(tmp_path: Path) -> None:
    """The simulated setting with a real API URL is the real cloud (consent.free_money's test); nothing is called."""
    from lambdabench.config import Settings
    from lambdabench.run.env import RunEnv

    def aimed(**env: str) -> bool:
        settings = Settings.load(env={"HOME": str(tmp_path), "LAMBDABENCH_HOME": str(tmp_path), **env}, cwd=tmp_path)
        return RunEnv.from_settings(settings).simulator

    assert aimed(LAMBDABENCH_SIMULATED="1", LAMBDABENCH_API_URL="http://127.0.0.1:8080/api/v1")
    assert not aimed(LAMBDABENCH_SIMULATED="1", LAMBDABENCH_API_URL="https://cloud.lambda.ai/api/v1")
    assert not aimed(LAMBDABENCH_SIMULATED="0", LAMBDABENCH_API_URL="http://127.0.0.1:8080/api/v1")
    assert not aimed()
