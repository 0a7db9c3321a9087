"""compat's footprint: equivalent values key alike, other software apart (issue 28.3/28.5)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from lambdabench.compat import DEFAULT_REF, footprint, recorded_footprint
from lambdabench.remote.playbook import find_playbook

BOOK = find_playbook("isaaclab3-train")
NAMES = ("newton_mjwarp", "newton", "newton_kamino", "kamino", "newton_renderer", "rgb")


@settings(deadline=None)  # a shared CPU
@given(st.lists(st.sampled_from(NAMES), min_size=1), st.randoms(use_true_random=False), st.sampled_from(["", " "]))
def test_presets_key_as_the_set_they_select(names: list[str], rng: random.Random, pad: str) -> None:
    """presets=A,B is a set (isaaclab 3.0.0 hydra.py:310-336) and newton/kamino are the old names of newton_mjwarp/
    newton_kamino: order, repeats, spaces and old names never change the key; another set does."""
    book = BOOK
    shuffled = list(names)
    rng.shuffle(shuffled)
    again = footprint(book, {"presets": pad + f"{pad},{pad}".join(shuffled + shuffled[:1]) + pad})
    assert footprint(book, {"presets": ",".join(names)}) == again
    canon = {{"newton": "newton_mjwarp", "kamino": "newton_kamino"}.get(n, n) for n in names}
    assert dict(again)["presets"] == ",".join(sorted(canon))


def test_the_tasks_own_default_is_its_presets_by_name() -> None:
    """Empty presets resolve to the task's default physics where the wheel says it (cartpole_common.py:53,
    ant_common.py:67, humanoid_common.py:76); a task not known keeps "", and a plan recorded before resolving too."""
    book = BOOK
    for task in ("Isaac-Cartpole-Direct", "Isaac-Ant", "Isaac-Humanoid-Direct"):
        assert footprint(book, {"task": task}) == footprint(book, {"task": task, "presets": "newton_mjwarp"})
    assert dict(footprint(book, {"task": "Isaac-Cartpole-Camera-Direct"}))["presets"] == ""
    old = {"playbook": BOOK.name, "footprint": {"library": "rsl_rl", "presets": "", "task": "Isaac-Cartpole-Direct"}}
    assert recorded_footprint(old, BOOK.name) == footprint(book, {"presets": "newton_mjwarp"})


def test_a_default_and_the_same_value_given_key_alike() -> None:
    """Library and task left at the playbook's default or given as that value: one footprint (the defaults fill in)."""
    given = {"library": "rsl_rl", "task": "Isaac-Cartpole-Direct", "presets": "newton_mjwarp"}
    assert footprint(BOOK, {}) == footprint(BOOK, given) == footprint(BOOK, {k: f" {v} " for k, v in given.items()})
    train2 = find_playbook("isaaclab-train")
    assert footprint(train2, {}) == footprint(train2, {"library": "skrl", "isaaclab_version": "1"})


TRAIN2 = find_playbook("isaaclab-train")


def test_the_software_the_set_up_installs_is_in_the_footprint() -> None:
    """Isaac Lab 3: the isaaclab release isaaclab3-setup installs (the train declares it, its default the set-up's);
    2.x and the fork: the checkout's ref, empty read as the one setup.yaml checks out. The default and the same value
    given key alike; another release or ref keys apart."""
    setup3 = find_playbook("isaaclab3-setup")
    assert BOOK.vars["isaaclab_version"].default == setup3.vars["isaaclab_version"].default == "3.0.0"
    assert dict(footprint(BOOK, {}))["isaaclab_version"] == "3.0.0"
    assert footprint(BOOK, {}) == footprint(BOOK, {"isaaclab_version": " 3.0.0 "})
    assert footprint(BOOK, {"isaaclab_version": "3.1.0"}) != footprint(BOOK, {})
    setup = find_playbook("setup")
    for version in ("1", "2"):  # DEFAULT_REF is setup.yaml's derived default_ref
        assert (
            setup.namespace(setup.resolve_vars({"isaaclab_version": version}), {})["default_ref"]
            == (DEFAULT_REF[version])
        )
    v2 = {"isaaclab_version": "2"}
    assert footprint(TRAIN2, v2) == footprint(TRAIN2, {**v2, "ref": "v2.1.0"})
    assert dict(footprint(TRAIN2, v2))["ref"] == "v2.1.0"
    assert footprint(TRAIN2, {**v2, "ref": "v2.3.0"}) != footprint(TRAIN2, v2)
    assert footprint(TRAIN2, {}) == footprint(TRAIN2, {"isaaclab_version": "1", "ref": ""})
    assert footprint(TRAIN2, {"ref": "main"}) != footprint(TRAIN2, {})


def test_a_plan_recorded_before_the_software_was_keyed_answers_what_it_ran() -> None:
    """A footprint recorded without the isaaclab release (Isaac Lab 3) or the ref (2.x): the plan's --set value, else
    the value every run had then (3.0.0; empty, which is v2.1.0 on 2.x), so it keys as today's plan of it does."""
    before = {"library": "rsl_rl", "presets": "", "task": "Isaac-Cartpole-Direct"}
    plan = {"playbook": BOOK.name, "vars": {"find_max_envs": "true"}, "footprint": before}
    assert recorded_footprint(plan, BOOK.name) == footprint(BOOK, {}) == footprint(BOOK, {"isaaclab_version": "3.0.0"})
    set31 = {**plan, "vars": {"isaaclab_version": "3.1.0"}}
    assert recorded_footprint(set31, BOOK.name) == footprint(BOOK, {"isaaclab_version": "3.1.0"})
    today = {**plan, "footprint": dict(footprint(BOOK, {"isaaclab_version": "3.1.0"}))}
    assert recorded_footprint(today, BOOK.name) == footprint(BOOK, {"isaaclab_version": "3.1.0"})
    before2 = {"isaaclab_version": "2", "library": "skrl", "task": "Isaac-Cartpole-v0"}
    plan2 = {"playbook": TRAIN2.name, "vars": {"isaaclab_version": "2"}, "footprint": before2}
    v2 = {"isaaclab_version": "2", "ref": "v2.1.0"}
    assert recorded_footprint(plan2, TRAIN2.name) == footprint(TRAIN2, v2)
    ref23 = {**plan2, "vars": {"isaaclab_version": "2", "ref": "v2.3.0"}}
    assert recorded_footprint(ref23, TRAIN2.name) == footprint(TRAIN2, {**v2, "ref": "v2.3.0"})
