"""Every package the product imports is one pyproject.toml installs for users, not only for developers.

jsonschema was a dev extra while every run record was checked with it: a user's install (the H200's image,
2026-12-02) lost each record. This reads the imports of lambdabench/ (the simulator and the scripts that run
on the remote machine are left out: they have their own interpreters) and checks each against the
[project] dependencies."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
# run elsewhere: the simulator's hosts, and the workload scripts the playbooks copy to the remote machine
NOT_PRODUCT = ("lambdabench/sim/", "lambdabench/workloads/")
OPTIONAL = {"jax", "mujoco"}  # the [mjx] extra, used only where a module says it is optional


def _norm(name: str) -> str:
    return re.split(r"[<>=!~\[; (]", name.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _closure(roots: set[str]) -> set[str]:
    """The declared distributions and what they require in turn (boto3 brings botocore, paramiko cryptography)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            requires = importlib.metadata.requires(dist) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo.extend(_norm(r) for r in requires if "extra ==" not in r)
    return seen


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (never run)."""
    return {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_products_imports_are_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _closure({_norm(d) for d in project["dependencies"]})
    providers = importlib.metadata.packages_distributions()
    missing: dict[str, set[str]] = {}
    for path in sorted((ROOT / "lambdabench").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(NOT_PRODUCT):
            continue
        for name in _imports(path) - set(sys.stdlib_module_names) - {"lambdabench"} - OPTIONAL:
            dists = {_norm(d) for d in providers.get(name, [])}
            if not dists & declared:
                missing.setdefault(name, set()).add(rel)
    assert missing == {}, f"imported by the product but not in [project] dependencies: {missing}"
