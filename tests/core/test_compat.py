"""compat's footprint: equivalent values key alike (issue 28.3/28.5)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from lambdabench.compat import footprint, recorded_footprint
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
    old = {"footprint": {"library": "rsl_rl", "presets": "", "task": "Isaac-Cartpole-Direct"}}
    assert recorded_footprint(old) == footprint(book, {"presets": "newton_mjwarp"})


def test_a_default_and_the_same_value_given_key_alike() -> None:
    """Library and task left at the playbook's default or given as that value: one footprint (the defaults fill in)."""
    given = {"library": "rsl_rl", "task": "Isaac-Cartpole-Direct", "presets": "newton_mjwarp"}
    assert footprint(BOOK, {}) == footprint(BOOK, given) == footprint(BOOK, {k: f" {v} " for k, v in given.items()})
    train2 = find_playbook("isaaclab-train")
    assert footprint(train2, {}) == footprint(train2, {"library": "skrl", "isaaclab_version": "1"})
