"""Refusals planning makes before anything launches: secrets a playbook needs, Isaac Lab task ids (#24.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdabench.cloud.models import InstanceType, Region, TypeAvailability
from lambdabench.errors import UsageError
from lambdabench.remote.playbook import load_playbook, shipped_dir
from lambdabench.remote.runner import run_playbook
from lambdabench.run.env import RunEnv, Timeouts
from lambdabench.run.plan import SweepPlan, SweepRequest, plan_sweep
from lambdabench.run.prelaunch import isaaclab_release, known_tasks

A10 = [TypeAvailability(InstanceType("gpu_1x_a10", gpus=1, price_cents_per_hour=129), (Region("us-east-1"),))]


def plan(tmp_path: Path, playbook: str, sets: dict[str, str], *, ngc: bool = True) -> SweepPlan:
    return plan_sweep(
        SweepRequest("a10", playbook, sets, max_run_minutes=30),
        availability=A10,
        regions=["us-east-1"],
        env=RunEnv(tmp_path, Timeouts.for_scale(1)),
        ngc_key_present=ngc,
    )


def test_no_ngc_key_is_refused_before_launch_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        plan(tmp_path, "isaaclab-train", {}, ngc=False)
    assert "playbook setup needs NGC_API_KEY" in str(err.value)
    assert "Nothing was launched" in str(err.value.hint) and "ngc_login=false" in str(err.value.hint)
    # the login step is the only reader: without it the plan holds
    assert plan(tmp_path, "isaaclab-train", {"ngc_login": "false"}, ngc=False).runs
    assert plan(tmp_path, "isaaclab-train", {}, ngc=True).runs


def test_run_playbook_refuses_a_missing_secret_before_any_step(tmp_path: Path) -> None:
    setup = load_playbook(shipped_dir() / "setup.yaml")
    with pytest.raises(UsageError, match="needs secret"):
        run_playbook(None, setup, {}, {}, {}, tmp_path)  # type: ignore[arg-type]  # nothing is reached


@pytest.mark.parametrize(
    ("playbook", "sets", "suggests"),
    [
        ("isaaclab-train", {"task": "Isaac-Cartpol-v0"}, "Isaac-Cartpole-v0"),
        # a 3.x id on the fork, a 1.x id on Isaac Lab 3: the other generation's spelling
        ("isaaclab-train", {"task": "Isaac-Cartpole-Direct"}, "Isaac-Cartpole-Direct-v0"),
        ("isaaclab3-train", {"task": "Isaac-Cartpole-v0"}, "Isaac-Cartpole"),
        # 2.3's Digit task is not in 2.1.0 (the default ref)
        (
            "isaaclab-train",
            {"isaaclab_version": "2", "task": "Isaac-Velocity-Flat-Digit-v0"},
            "Isaac-Velocity-Flat-H1-v0",
        ),
    ],
)
def test_unknown_task_ids_are_refused_with_close_matches(
    tmp_path: Path, playbook: str, sets: dict[str, str], suggests: str
) -> None:
    with pytest.raises(UsageError) as err:
        plan(tmp_path, playbook, sets)
    assert "has no task" in str(err.value) and suggests in str(err.value.hint)
    assert "custom_task=true" in str(err.value.hint)
    # a task of one's own passes with the explicit override
    assert plan(tmp_path, playbook, {**sets, "custom_task": "true"}).runs


def test_task_lists_follow_the_release(tmp_path: Path) -> None:
    assert isaaclab_release("isaaclab-train", {"isaaclab_version": "1"}) == "1"
    assert isaaclab_release("isaaclab-train", {"isaaclab_version": "2", "ref": ""}) == "2.1"
    assert isaaclab_release("isaaclab-train", {"isaaclab_version": "2", "ref": "v2.3.0"}) == "2.3"
    assert isaaclab_release("isaaclab-train", {"isaaclab_version": "2", "ref": "main"}) == "2"
    assert isaaclab_release("isaaclab3-train", {}) == "3.0"
    assert isaaclab_release("mjx-locomotion", {}) is None
    # the fork's own tasks; Digit arrives in 2.3; 3.0 drops -v0
    assert {"Isaac-Cart-v0", "Isaac-Swerve-v0"} <= known_tasks("1")
    assert "Isaac-Velocity-Flat-Digit-v0" in known_tasks("2.3") - known_tasks("2.1")
    assert "Isaac-Cartpole-Direct" in known_tasks("3.0") and "Isaac-Cartpole-v0" not in known_tasks("3.0")
    assert known_tasks("2") >= known_tasks("2.0") | known_tasks("2.3")
    # every shipped playbook's default task is known to its default release
    for name in ("isaaclab-train", "isaaclab-play", "isaaclab-benchmark", "isaaclab3-train", "isaaclab3-play"):
        values = load_playbook(shipped_dir() / f"{name}.yaml").resolve_vars({})
        release = isaaclab_release(name, values)
        assert release is not None and values["task"] in known_tasks(release), name
    assert plan(
        tmp_path, "isaaclab-train", {"isaaclab_version": "2", "ref": "v2.3.0", "task": "Isaac-Velocity-Flat-Digit-v0"}
    ).runs


def test_b200_is_refused_for_isaac_sim_4_checkouts() -> None:
    from lambdabench.remote.playbook import check_requirements

    b200 = {"name": "gpu_1x_b200_sxm6", "gpus": 1, "gpu_model": "B200", "vram_gb": 180, "rtx": False, "arch": "x86_64"}
    train = load_playbook(shipped_dir() / "isaaclab-train.yaml")
    for values in ({}, {"isaaclab_version": "2"}, {"isaaclab_version": "2", "ref": "v2.0.2"}):
        problems = check_requirements(train, values, b200)
        assert problems and "sm_100" in problems[0] and "v2.2.0" in str(problems[0].hint), values
    assert check_requirements(train, {"isaaclab_version": "2", "ref": "v2.2.1"}, b200) == []
    assert check_requirements(train, {}, {**b200, "gpu_model": "H100", "name": "gpu_1x_h100_sxm5"}) == []
