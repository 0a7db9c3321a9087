"""The house's import rules, read from the code itself (docs/architecture.md draws the floors).

Every module of the library sits on a floor (placed by its longest matching prefix); a module never
imports one on a higher floor, the run wing never imports the face, the CLI or the simulator, only the
simulator's door (`simulate`, typed) is imported from outside `sim/`, only `cli` imports click, and
there is no import cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "lambdabench"

# highest floor first; a module is placed by its longest matching prefix
FLOORS: list[tuple[str, ...]] = [
    ("cli",),
    # the simulator's door and its test handle hand out a Lab pointed at the simulator
    ("interactive", "demo", "__init__", "simulate", "sim.testing"),
    ("lab", "progress"),
    ("run", "report"),
    ("cost", "consent", "sshkeys", "compat"),
    ("cloud", "ledger", "remote", "metrics", "config", "export", "sim", "workloads", "bundle"),
    ("errors", "secrets", "render", "names"),
]


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def floor_of(mod: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching prefix, its floor)
    for depth, names in enumerate(FLOORS):
        for name in names:
            if (mod == name or mod.startswith(name + ".")) and (best is None or len(name) > best[0]):
                best = (len(name), len(FLOORS) - depth)
    return best[1] if best else None


def library_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        # scripts run on (simulated) instances under whatever python is there, not library code
        if rel.parts[:3] in (
            ("sim", "hosts", "image"),
            ("sim", "isaaclab", "template"),
            ("sim", "isaaclab", "isaaclab3"),
        ):
            continue
        found[module_name(path)] = path
    return found


def imports_of(path: Path) -> set[str]:
    """Every lambdabench module this file imports, at any depth (lazy imports inside functions too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lambdabench"):
                    out.add(alias.name.removeprefix("lambdabench").lstrip("."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lambdabench":
                out.update(alias.name for alias in node.names if floor_of(alias.name) is not None)
            elif node.module.startswith("lambdabench."):
                base = node.module.removeprefix("lambdabench.")
                for alias in node.names:
                    # `from lambdabench.report import svg` imports the submodule, not the package
                    sub = PKG.joinpath(*base.split("."), alias.name)
                    out.add(f"{base}.{alias.name}" if sub.with_suffix(".py").exists() or sub.is_dir() else base)
    out.discard("")
    return out


def third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_every_module_has_a_floor() -> None:
    unplaced = sorted(m for m in library_modules() if floor_of(m) is None)
    assert not unplaced, f"place these modules on a floor in FLOORS (and docs/architecture.md): {unplaced}"


def test_no_module_imports_a_higher_floor() -> None:
    arrows_up = []
    for mod, path in library_modules().items():
        own = floor_of(mod)
        for target in imports_of(path):
            theirs = floor_of(target)
            if own is not None and theirs is not None and theirs > own:
                arrows_up.append(f"{mod} (floor {own}) imports {target} (floor {theirs})")
    assert not arrows_up, "\n".join(sorted(arrows_up))


def test_run_wing_never_imports_the_face_the_cli_or_the_simulator() -> None:
    bad = []
    for mod, path in library_modules().items():
        if mod.split(".")[0] != "run":
            continue
        for target in imports_of(path):
            if target.split(".")[0] in ("lab", "cli", "sim", "simulate", "demo", "interactive"):
                bad.append(f"{mod} imports {target}")
    assert not bad, "\n".join(bad)


def test_only_the_simulators_door_is_imported_from_outside_it() -> None:
    bad = []
    for mod, path in library_modules().items():
        if mod.split(".")[0] in ("sim", "simulate"):
            continue
        for target in imports_of(path):
            if target.split(".")[0] == "sim":
                bad.append(f"{mod} imports {target} (use lambdabench.simulate)")
    assert not bad, "\n".join(bad)


def test_the_simulators_door_is_typed() -> None:
    """The door lists what it offers (`__all__`); every function and public method there is fully annotated."""
    import inspect

    import lambdabench.simulate as door

    assert getattr(door, "__all__", None), "lambdabench/simulate.py has no __all__"
    bare = []
    for name in door.__all__:
        obj = getattr(door, name)
        if inspect.isclass(obj):
            funcs = [
                f for n, f in vars(obj).items() if inspect.isfunction(f) and (not n.startswith("_") or n == "__init__")
            ]
        elif inspect.isfunction(obj):
            funcs = [obj]
        else:
            continue
        for func in funcs:
            sig = inspect.signature(func)
            missing = [
                p for p in sig.parameters if p != "self" and sig.parameters[p].annotation is inspect.Parameter.empty
            ]
            if missing or sig.return_annotation is inspect.Signature.empty:
                bare.append(f"{name}.{func.__name__}: {missing or 'return'}")
    assert not bare, bare


def test_only_the_cli_imports_click() -> None:
    users = sorted(m for m, p in library_modules().items() if "click" in third_party(p))
    assert users == ["cli"], users


def test_no_import_cycle() -> None:
    mods = library_modules()
    graph = {m: {t for t in imports_of(p) if t in mods} for m, p in mods.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t) :] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_a_room_can_sit_on_its_own_floor() -> None:
    """The longest matching prefix places a module: the test handle sits above the simulator's rooms."""
    assert (
        floor_of("sim.testing") == floor_of("simulate") > floor_of("lab") > floor_of("sim.api.core") == floor_of("sim")
    )


@pytest.mark.parametrize("rule", ["up", "run", "sim", "click"])
def test_the_rules_can_fail(tmp_path: Path, rule: str) -> None:
    """Each rule, fed a module that breaks it, names the break (a check that cannot fail is no check)."""
    src = {
        "up": "from lambdabench.lab import Lab\n",
        "run": "from lambdabench.cli import main\n",
        "sim": "from lambdabench.sim.api.core import SimCloud\n",
        "click": "import click\n",
    }[rule]
    bad = tmp_path / "bad.py"
    bad.write_text(src)
    if rule == "click":
        assert "click" in third_party(bad)
    else:
        targets = imports_of(bad)
        assert targets and next(iter(targets)).split(".")[0] in ("lab", "cli", "sim")
        if rule == "up":
            assert floor_of(next(iter(targets))) > floor_of("cloud.client")  # type: ignore[operator]
