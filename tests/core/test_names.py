"""One owner for each fact: the instance-name pattern lives with make_name; the API address is written once."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lambdabench.names import DEFAULT_API_URL, NAME_PREFIX
from lambdabench.run.nodes import make_name, name_pattern

PKG = Path(__file__).resolve().parents[2] / "lambdabench"


@given(st.text(max_size=60))
def test_the_pattern_finds_every_name_make_name_gives_a_label(label: str) -> None:
    name = make_name(label)
    assert name.startswith(NAME_PREFIX) and name_pattern(label).fullmatch(name)


def test_the_pattern_does_not_find_another_labels_names() -> None:
    assert not name_pattern("train").fullmatch(make_name("train-2"))
    assert not name_pattern("train").fullmatch("lambdabench-train-0123456g")


def test_the_api_address_is_written_once_in_the_library() -> None:
    owners = []
    for path in PKG.rglob("*.py"):
        if path.relative_to(PKG).parts[0] == "sim":
            continue  # the simulator serves the API; it does not call it
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and DEFAULT_API_URL in node.value:
                owners.append(f"{path.relative_to(PKG)}:{node.lineno}")
    assert [o.split(":")[0] for o in owners] == ["names.py"], owners
