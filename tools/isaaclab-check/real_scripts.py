"""Maintainer check: the playbooks against the REAL Isaac Lab scripts and the REAL package index.

    real_scripts.py --fork GIT_DIR --upstream GIT_DIR [--rsl-rl GIT_DIR] [--rl-games GIT_DIR]
                    [--il3-wheel WHEEL] [--index] [--only REL[,REL…]] [--keep DIR]

Offline (always), for the fork (1.x) and upstream 2.0.x, 2.1.0, 2.2.x, 2.3.x:
  scripts   every playbook step that calls isaaclab.sh runs through the checkout's real isaaclab.sh,
            whose `_isaac_sim/python.sh` is a recorder: the argv Python receives must equal the argv the
            step meant (a reference isaaclab.sh that passes "$@" gives that), and checks given as
            `-c`/files run in the real interpreter (the Isaac Lab and RL modules as empty stand-ins).
  git       each RL extra that is a git requirement names the project the repository at that ref
            declares (rsl_rl's rename to rsl-rl-lib), from local mirrors (--rsl-rl, --rl-games).
With --index (needs https://pypi.org):
  resolve   each RL extra, after setup.yaml's own patches, with `pip install --dry-run --report` for the
            image's Python (3.10: Isaac Sim 4.0/4.5; 3.11: 5.x), only wheels, with the package's pins;
  imports   the workflow's own `from <lib>… import …` lines (train.py, play.py, the fork's skrl
            wrapper) against the resolved wheel's source;
  sdists    every `==` pin of the core package that exists only as an sdist builds (flatdict 4.0.1);
  3.0.0     isaaclab 3.0.0's extras (METADATA) against what isaaclab3-setup installs per library,
            and each library's closure for Python 3.12.
Exit 0 when every check passes; each failure is one line. Needs git, bash, tabs (ncurses) and pip.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from lambdabench.remote.playbook import Playbook, check_requirements, load_playbook, render

try:  # the shipped playbooks: inside the package since the wheel carries them, else the repository's
    from lambdabench.remote.playbook import shipped_dir

    PROJECT_PLAYBOOKS = shipped_dir()
except ImportError:
    from lambdabench.remote.playbook import PROJECT_PLAYBOOKS  # type: ignore[attr-defined,no-redef]

HERE = Path(__file__).resolve().parent
# release: (source, commit, Python of the image's Isaac Sim). Upstream commits: the version bumps in
# ooctipus/IsaacLab (upstream history without tags), docs/isaaclab-contract.md "2.x"
REFS: dict[str, tuple[str, str, str]] = {
    "1": ("fork", "b24a0fa", "3.10"),  # Isaac Sim 4.0.0 (docker/.env.base:8)
    "2.0": ("upstream", "0e4b38cd", "3.10"),  # 2.0.2, Isaac Sim 4.5.0
    "2.1": ("upstream", "dcd877f0", "3.10"),  # 2.1.0, Isaac Sim 4.5.0
    "2.2": ("upstream", "0f00ca2b", "3.11"),  # 2.2.1, Isaac Sim 5.0.0
    "2.3": ("upstream", "454c3d2f", "3.11"),  # 2.3.0, Isaac Sim 5.1.0
}
LIBRARIES = ("skrl", "rl_games", "rsl_rl", "sb3")
MODULE = {"skrl": "skrl", "rl_games": "rl_games", "rsl_rl": "rsl_rl", "sb3": "stable_baselines3"}
EXTRA = {"skrl": "skrl", "rl_games": "rl-games", "rsl_rl": "rsl-rl", "sb3": "sb3"}
FACTS = {"gpus": 1, "nnodes": 1, "vulkan_icd": "present", "nvidia_gl": "installed", "vulkan_device": "check"}
A10 = {"name": "gpu_1x_a10", "gpus": 1, "gpu_model": "NVIDIA A10", "vram_gb": 24, "rtx": True, "arch": "x86_64"}
STUB_ROOTS = ("omni", "isaaclab", "isaaclab_rl", "isaaclab_tasks", "isaaclab_assets", "isaacsim", "skrl",
              "rsl_rl", "rl_games", "stable_baselines3", "torch", "gymnasium", "carb")  # fmt: skip

FAKE_PYTHON = r"""#!/usr/bin/env bash
# the Isaac Sim python.sh stand-in of tools/isaaclab-check: record argv (JSON, one line), then act
exec "$ISAACLAB_CHECK_PY" "$ISAACLAB_CHECK_DIR/fake_python.py" "$@"
"""
FAKE_PYTHON_PY = r"""
import json, os, sys
argv = sys.argv[1:]
with open(os.environ["ISAACLAB_CHECK_LOG"], "a") as log:
    log.write(json.dumps({"cwd": os.getcwd(), "argv": argv}) + "\n")
checkout = os.environ["ISAACLAB_PATH"]
if argv[:2] == ["-m", "pip"]:
    sys.exit(0)  # installs are the index part's business
if argv[:2] == ["-m", "torch.distributed.run"]:
    script = next((a for a in argv[2:] if a.endswith(".py")), None)
    sys.exit(0 if script and os.path.isfile(script) else 2)
if argv and argv[0].endswith(".py") and os.path.abspath(argv[0]).startswith(checkout):
    # an Isaac Lab script: it needs Isaac Sim; that it exists is what can be checked here
    sys.exit(0 if os.path.isfile(argv[0]) else 2)
os.environ["PYTHONPATH"] = os.environ["ISAACLAB_CHECK_STUBS"]
os.execv(sys.executable, [sys.executable, *argv])
"""
STUB_FINDER = rf"""
import importlib.abc, importlib.machinery, sys, types
ROOTS = set({STUB_ROOTS!r})
class Stub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        return importlib.machinery.ModuleSpec(name, self, is_package=True) if name.split(".")[0] in ROOTS else None
    def create_module(self, spec):
        m = types.ModuleType(spec.name); m.__path__ = []; return m
    def exec_module(self, module):
        module.__getattr__ = lambda n: (_ for _ in ()).throw(AttributeError(n)) if n.startswith("__") else types.SimpleNamespace()
sys.meta_path.insert(0, Stub())
"""
REFERENCE_SH = r"""#!/usr/bin/env bash
# reference isaaclab.sh: what the step meant, "$@" after -p kept as the step's words
if [ "$1" = -p ] || [ "$1" = --python ]; then shift
  "$ISAACLAB_CHECK_PY" -c 'import json, os, sys; open(os.environ["ISAACLAB_CHECK_LOG"], "a").write(json.dumps({"argv": sys.argv[1:]}) + "\n")' "$@"
fi
exit 0
"""


class Report:
    """ok/FAIL lines; echo=False holds them (a ref checked in parallel prints when it is done, in order)."""

    def __init__(self, echo: bool = True) -> None:
        self.failed = 0
        self.lines: list[str] = []
        self.echo = echo

    def ok(self, what: str) -> None:
        self.say(f"  ok    {what}")

    def fail(self, what: str) -> None:
        self.failed += 1
        self.say(f"  FAIL  {what}")

    def say(self, line: str) -> None:
        self.lines.append(line)
        if self.echo:
            print(line, flush=True)

    def add(self, other: Report) -> None:
        """other's lines and failures, printed now where other held them."""
        self.failed += other.failed
        if other.echo:
            self.lines += other.lines
        else:
            for line in other.lines:
                self.say(line)


def git(git_dir: str, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, **kw)


def checkout(git_dir: str, commit: str, dest: Path) -> Path:
    """The parts of a checkout the scripts and setup need, exported at commit (no .git: a clone's files)."""
    dest.mkdir(parents=True)
    listed = git(git_dir, "ls-tree", "--name-only", commit).stdout.decode().split()
    wanted = [p for p in ("isaaclab.sh", "VERSION", "source", "scripts", "docker", "tools") if p in listed]
    tar = git(git_dir, "archive", commit, *wanted).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest


def patch(repo: Path, version: str) -> str:
    """setup.yaml's own "patch known image-build breakers" step, rendered and run on the checkout."""
    book = load_playbook(PROJECT_PLAYBOOKS / "setup.yaml")
    names = book.namespace(book.resolve_vars({"isaaclab_version": version, "repo_dir": str(repo)}), {})
    step = next(s for s in book.steps if s.name == "patch known image-build breakers")
    done = subprocess.run(
        ["bash", "-c", render(str(step.body), names)], cwd=repo.parent, capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else f"patch step failed: {done.stderr.strip()}"


# ---- scripts: the real isaaclab.sh --------------------------------------------------------------


def calls_isaaclab_sh(body: str) -> bool:
    return any("isaaclab.sh" in line for line in body.splitlines() if not line.lstrip().startswith("#"))


def step_cases(version: str) -> list[tuple[Playbook, dict[str, str], str]]:
    """(playbook, vars, step name) for every step that calls isaaclab.sh, per library where it matters."""
    names = ["setup", "isaaclab-train", "isaaclab-play", "list-envs"] + (
        ["isaaclab-benchmark"] if version != "1" else []
    )
    out = []
    for name in names:
        book = load_playbook(PROJECT_PLAYBOOKS / f"{name}.yaml")
        variants: list[dict[str, str]] = [{}]
        if "library" in book.vars:
            variants = [{"library": lib} for lib in book.vars["library"].choices if lib != "none"]
        if "benchmark" in book.vars:
            variants = [
                {"benchmark": b, "library": {"rlgames": "rl_games"}.get(b, b if b != "non_rl" else "none")}
                for b in book.vars["benchmark"].choices
            ]
        for extra in variants:
            values = {"isaaclab_version": version, **extra}
            if "checkpoint" in book.vars:
                values["checkpoint"] = "/workspace/isaaclab/logs/run/2026-01-01_00-00-00/model_5.pt"
            values = {k: v for k, v in values.items() if k in book.vars}
            if check_requirements(book, values, A10):
                continue  # refused before launch: never reaches a box
            out += [(book, values, s.name) for s in book.steps if calls_isaaclab_sh(str(s.body))]
    return out


def run_scripts(report: Report, rel: str, repo: Path, work: Path) -> None:
    version = "1" if rel == "1" else "2"
    (repo / "_isaac_sim").mkdir(exist_ok=True)
    (repo / "_isaac_sim" / "python.sh").write_text(FAKE_PYTHON)
    (repo / "_isaac_sim" / "python.sh").chmod(0o755)
    (work / "fake_python.py").write_text(FAKE_PYTHON_PY)
    stubs = work / "stubs"
    stubs.mkdir(exist_ok=True)
    (stubs / "sitecustomize.py").write_text(STUB_FINDER)
    reference = work / "reference" / "isaaclab.sh"
    reference.parent.mkdir(exist_ok=True)
    reference.write_text(REFERENCE_SH)
    reference.chmod(0o755)
    release = (repo / "VERSION").read_text().strip() if (repo / "VERSION").exists() else "unknown"
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    for book, values, step_name in step_cases(version):
        step = next(s for s in book.steps if s.name == step_name)
        names = book.namespace(book.resolve_vars(values), {**FACTS, "isaaclab_release": release})
        if step.when is not None and not step.when.evaluate(names):
            continue
        body = render(str(step.body), names).replace("/tmp/", f"{tmp}/")
        label = f"{book.name}: {step.name}" + (f" [{values['library']}]" if values.get("library") else "")
        logs = []
        for which, root in (("real", repo), ("reference", reference.parent)):
            log = work / f"{which}.log"
            log.write_text("")
            # TERM: the fork's isaaclab.sh runs `tabs 4` under set -e (isaaclab.sh:13-16)
            env = {
                "PATH": os.environ["PATH"],
                "HOME": str(work),
                "LANG": "C.UTF-8",
                "TERM": "xterm",
                "ISAACLAB_CHECK_PY": sys.executable,
                "ISAACLAB_CHECK_DIR": str(work),
                "ISAACLAB_CHECK_LOG": str(log),
                "ISAACLAB_CHECK_STUBS": str(stubs),
            }
            text = body.replace("/workspace/isaaclab/isaaclab.sh", f"{root}/isaaclab.sh")
            text = text.replace("./isaaclab.sh", f"{root}/isaaclab.sh").replace("/workspace/isaaclab", str(repo))
            try:
                done = subprocess.run(
                    ["bash", "-c", text],
                    cwd=repo,
                    env=env,
                    capture_output=True,
                    text=True,
                    stdin=subprocess.DEVNULL,
                    timeout=120,
                )
            except subprocess.TimeoutExpired:
                done = subprocess.CompletedProcess(
                    text, 124, "", f"timed out after 120 s through the {which} isaaclab.sh"
                )
            calls = [json.loads(line)["argv"] for line in log.read_text().splitlines()]
            logs.append((done, calls))
        (real, real_calls), (_, meant) = logs
        python_calls = [c for c in real_calls if c[:2] != ["-m", "pip"] and not str(c[0]).endswith("setup_vscode.py")]
        if real.returncode != 0:
            tail = (real.stderr.strip().splitlines() or real.stdout.strip().splitlines() or [""])[-1]
            report.fail(f"{label}: exit {real.returncode} through the real isaaclab.sh: {tail[:160]}")
        elif "-i " in body and not any(c[:3] == ["-m", "pip", "install"] for c in real_calls):
            report.fail(f"{label}: isaaclab.sh -i ran no pip install")
        elif meant and python_calls != meant:
            report.fail(f"{label}: Python got {python_calls[-1] if python_calls else None} for {meant[-1]}")
        else:
            report.ok(f"{label}" + (f": Python got {len(meant[-1])} words as meant" if meant else ""))


# ---- git requirements ----------------------------------------------------------------------------

GIT_REQ = re.compile(
    r"^\s*(?P<name>[\w.\-]+)\s*@\s*git\+https://github\.com/(?P<repo>[\w.\-]+/[\w.\-]+?)(?:\.git)?(?:@(?P<ref>[\w.\-/]+))?\s*$"
)


def setup_literals(path: Path) -> dict[str, Any]:
    """INSTALL_REQUIRES and EXTRAS_REQUIRE of a setup.py (the literal dict plus `X["a"] = X["b"]` aliases)."""
    out: dict[str, Any] = {"INSTALL_REQUIRES": [], "EXTRAS_REQUIRE": {}}
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.Assign):
            continue
        target = node.targets[0]
        if isinstance(target, ast.Name) and target.id in out:
            with contextlib.suppress(ValueError):
                out[target.id] = ast.literal_eval(node.value)
        elif (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and target.value.id == "EXTRAS_REQUIRE"
            and isinstance(node.value, ast.Subscript)
        ):
            key, src = ast.literal_eval(target.slice), ast.literal_eval(node.value.slice)
            if src in out["EXTRAS_REQUIRE"]:
                out["EXTRAS_REQUIRE"][key] = out["EXTRAS_REQUIRE"][src]
    return out


def rl_setup(repo: Path, version: str) -> Path:
    return repo / (
        "source/extensions/omni.isaac.lab_tasks/setup.py" if version == "1" else "source/isaaclab_rl/setup.py"
    )


def project_name(git_dir: str, ref: str) -> str | None:
    """The project name a repository declares at ref (pyproject [project] name, else setup(name=…))."""
    for path, pattern in (
        ("pyproject.toml", r'(?m)^name\s*=\s*"([^"]+)"'),
        ("setup.py", r"name\s*=\s*['\"]([^'\"]+)['\"]"),
    ):
        try:
            text = git(git_dir, "show", f"{ref}:{path}").stdout.decode()
        except subprocess.CalledProcessError:
            continue
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return None


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_git_requirements(report: Report, rel: str, repo: Path, mirrors: dict[str, str]) -> None:
    version = "1" if rel == "1" else "2"
    extras = setup_literals(rl_setup(repo, version))["EXTRAS_REQUIRE"]
    for lib in LIBRARIES:
        for req in extras.get(EXTRA[lib], []):
            match = GIT_REQ.match(req)
            if not match:
                continue
            mirror = mirrors.get(match.group("repo").lower())
            if mirror is None:
                report.say(f"  skip  {rel} {lib}: {req} (no local mirror of {match.group('repo')})")
                continue
            ref = match.group("ref") or "HEAD"
            try:
                declared = project_name(mirror, ref)
            except subprocess.CalledProcessError:
                declared = None
            if declared is None:
                report.fail(f"{rel} {lib}: {req}: no ref {ref} (or no project name) in {match.group('repo')}")
            elif canonical(declared) != canonical(match.group("name")):
                report.fail(
                    f"{rel} {lib}: {req}: {match.group('repo')}@{ref} declares {declared!r}; pip: inconsistent name"
                )
            else:
                report.ok(f"{rel} {lib}: {req} declares {declared}")


# ---- the index -----------------------------------------------------------------------------------


# --cache: released files on the index never change under their name, so downloads are kept across runs
CACHE: Path | None = None
INDEX_LIBRARIES = LIBRARIES  # --libraries: the ones the index part resolves
TIMEOUT = 900  # seconds for one pip call (--timeout)


class Timeout(Exception):
    """A pip call ran past TIMEOUT; its text names what it was doing."""


def pip(
    *args: str, what: str, cwd: Path | None = None, python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    """pip against https://pypi.org only: --isolated keeps this machine's pip.conf (local indexes) out."""
    cache = ["--cache-dir", str(CACHE / "pip")] if CACHE else []
    try:
        return subprocess.run(
            [python, "-m", "pip", "--isolated", "--disable-pip-version-check", *cache, *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise Timeout(f"pip {what} timed out after {TIMEOUT} s (--timeout)") from None


def download(folder: Path, pattern: str, what: str, *args: str) -> list[Path]:
    """Files matching pattern in folder, downloaded by `pip download *args` where none is there yet.

    Parallel-safe: pip writes into a private folder, whose files are then renamed into place (atomic).
    """
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob(pattern))
    if found:
        return found
    private = Path(tempfile.mkdtemp(prefix=".part-", dir=folder))
    try:
        pip("download", "--no-deps", "-d", str(private), *args, what=what)
        for path in private.iterdir():
            os.replace(path, folder / path.name)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return sorted(folder.glob(pattern))


# the images' glibc: Ubuntu 22.04 (2.35) under Isaac Sim 4.x/5.x; every older manylinux tag fits too (pip
# matches tags exactly: nvidia-cudnn-cu13 9.19.0.56, in torch 2.11.0's closure, is manylinux_2_27 only)
PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(35, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
)
# what pip names when a project has no usable wheel: no distribution at all, or a conflict with a
# dependency it could only build (rl-games 1.6.1 -> wandb 0.12 -> pathtools, an sdist)
NO_WHEEL = re.compile(r"(?:No matching distribution found for|depends on) ([A-Za-z0-9][A-Za-z0-9._-]*)")


def platform_args() -> list[str]:
    return [w for p in PLATFORMS for w in ("--platform", p)]


def interpreter(python: str) -> str | None:
    """A local CPython of that version (PATH, then pyenv), to resolve with sdists allowed."""
    pyenv = sorted(
        Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"), "versions").glob(f"{python}.*/bin/python")
    )
    if pyenv:
        return str(pyenv[-1])
    found = shutil.which(f"python{python}")
    return found if found and "/shims/" not in found else None  # a pyenv shim may name a version it lacks


def resolve(reqs: list[str], python: str, platform: str, work: Path) -> tuple[dict[str, str] | None, str]:
    """name -> version pip picks for reqs for the image's Python, or None and pip's error.

    First wheels only for the image's platform (`--python-version --only-binary :all:`, metadata only).
    Where a requirement has no wheel (rl-games 1.6.1 and gym 0.26 are sdists) and a local CPython of that
    version exists, again with it, sdists allowed for exactly those projects and built as pip on the box
    would; every other project stays wheels-only (sdists everywhere let pip backtrack into building old
    releases for many minutes).
    """
    out = work / "report.json"
    work.mkdir(parents=True, exist_ok=True)
    what = f"resolve of {' '.join(reqs)} for Python {python}"
    target = ["--python-version", python, *platform_args(), "--target", str(work / "target")]
    dry_run = ["install", "--dry-run", "--ignore-installed", "--report", str(out), "--quiet", "--only-binary", ":all:"]
    done = pip(*dry_run, *target, *reqs, what=what)
    note = ""
    sdists: list[str] = []
    local = interpreter(python)
    # pip names the projects without a usable wheel only in its messages
    for _ in range(6):
        new = [n for n in map(canonical, NO_WHEEL.findall(done.stderr)) if n not in sdists]
        if done.returncode == 0 or local is None or not new:
            break
        sdists += sorted(set(new))
        note = f" (sdists of {', '.join(sdists)}, resolved with {Path(local).name} {python})"
        done = pip(*dry_run, "--no-binary", ",".join(sdists), *reqs, what=f"{what}{note}", python=local)
    if done.returncode != 0 and local is not None:
        note = f" (sdists allowed, resolved with {Path(local).name} {python})"
        dry_run[-2:] = ["--prefer-binary"]
        done = pip(*dry_run, *reqs, what=f"{what}{note}", python=local)
    if done.returncode != 0:
        err = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")] or done.stderr.splitlines()[-1:]
        return None, (" / ".join(err) + note)[:300]
    data = json.loads(out.read_text())
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in data["install"]}, note


def workflow_imports(repo: Path, version: str, lib: str) -> list[tuple[str, str, str]]:
    """(module, name, where) of every `from <lib>… import name` the workflow's scripts make (torch side)."""
    base = repo / ("source/standalone/workflows" if version == "1" else "scripts/reinforcement_learning") / lib
    files = [base / "train.py", base / "play.py"]
    if version == "1" and lib == "skrl":
        files.append(repo / "source/extensions/omni.isaac.lab_tasks/omni/isaac/lab_tasks/utils/wrappers/skrl.py")
    out = []
    for path in files:
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0] == MODULE[lib]
                and ".jax" not in node.module
            ):
                out += [(node.module, a.name, f"{path.relative_to(repo)}:{node.lineno}") for a in node.names]
    return out


# the agent classes a skrl workflow calls methods on (PPO, the default algorithm, over its base class)
SKRL_AGENT_CLASSES = (("skrl/agents/torch/base.py", "Agent"), ("skrl/agents/torch/ppo/ppo.py", "PPO"))


def agent_calls(repo: Path, version: str) -> list[tuple[str, ast.Call, str]]:
    """(method, call, where) of every `agent.m(…)` / `runner.agent.m(…)` in the skrl workflow's train/play."""
    base = repo / ("source/standalone/workflows" if version == "1" else "scripts/reinforcement_learning") / "skrl"
    out = []
    for path in (base / "train.py", base / "play.py"):
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = ast.unparse(node.func.value)
            if owner in ("agent", "runner.agent"):
                out.append((node.func.attr, node, f"{path.relative_to(repo)}:{node.lineno}"))
    return out


def agent_methods(files: dict[str, str]) -> dict[str, ast.FunctionDef]:
    """The methods of skrl's torch PPO agent (its own over its base class's) in a release's sources."""
    methods: dict[str, ast.FunctionDef] = {}
    for path, cls in SKRL_AGENT_CLASSES:
        for node in ast.walk(ast.parse(files.get(path, ""))):
            if isinstance(node, ast.ClassDef) and node.name == cls:
                methods |= {f.name: f for f in node.body if isinstance(f, ast.FunctionDef)}
    return methods


def call_problem(call: ast.Call, fn: ast.FunctionDef) -> str | None:
    """Why Python would refuse call against fn's signature (a TypeError), or None where it binds."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None  # *args / **kwargs at the call: not decidable here
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args][1:]  # without self
    required = params[: len(params) - len(fn.args.defaults)]
    given = {k.arg for k in call.keywords if k.arg}
    if len(call.args) > len(params) and fn.args.vararg is None:
        return f"takes {len(params)} positional arguments, {len(call.args)} given"
    missing = [p for p in required[len(call.args) :] if p not in given]
    missing += [
        a.arg for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True) if d is None and a.arg not in given
    ]
    if missing:
        return "missing " + ", ".join(missing)
    known = set(params) | {a.arg for a in fn.args.kwonlyargs}
    unknown = sorted(given - known) if fn.args.kwarg is None else []
    return f"no parameter {', '.join(unknown)}" if unknown else None


def agent_call_problems(repo: Path, version: str, files: dict[str, str]) -> list[str]:
    """The skrl workflow's calls on its agent that the resolved skrl's PPO cannot take (play.py's eval mode)."""
    methods = agent_methods(files)
    if not methods:
        return []
    problems = []
    for name, call, where in agent_calls(repo, version):
        fn = methods.get(name)
        why = "no such method" if fn is None else call_problem(call, fn)
        if why:
            problems.append(f"agent.{name}() ({where}): {why}")
    return problems


def defined_names(files: dict[str, str], module: str, seen: set[str] | None = None) -> set[str] | None:
    """Top-level names of module in a wheel's files (following `from x import *`); None: no such module."""
    seen = seen or set()
    path = module.replace(".", "/")
    text = files.get(f"{path}/__init__.py", files.get(f"{path}.py"))
    if text is None or module in seen:
        return None
    seen.add(module)
    names = {
        p.split("/")[-1].removesuffix(".py")
        for p in files
        if p.startswith(path + "/") and p.count("/") == path.count("/") + 1
    }
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.AnnAssign,)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.name == "*" and node.module:
                    src = (
                        node.module
                        if node.level == 0
                        else ".".join(module.split(".")[: len(module.split(".")) - node.level + 1] + [node.module])
                    )
                    names |= defined_names(files, src, seen) or set()
                else:
                    names.add(a.asname or a.name)
    return names


def wheel_files(name: str, version: str, python: str, platform: str, work: Path) -> dict[str, str] | None:
    """The .py files of name==version's wheel for the image's Python (its sdist's where it has no wheel)."""
    wheels = download(
        (CACHE or work) / "wheels" / f"py{python}" / canonical(name),
        f"*-{version}-*.whl",
        f"download of the {name} {version} wheel for Python {python}",
        "--only-binary",
        ":all:",
        "--python-version",
        python,
        *platform_args(),
        f"{name}=={version}",
    )
    if not wheels:
        return sdist_files(name, version, (CACHE or work) / "sdists" / canonical(name))
    with zipfile.ZipFile(wheels[-1]) as zf:
        return {n: zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith(".py")}


def sdist_files(name: str, version: str, folder: Path) -> dict[str, str] | None:
    """The .py files of a release that is only an sdist (paths without the archive's top folder)."""
    # pip may fail preparing metadata with this machine's Python; the archive is downloaded first
    archives = download(
        folder,
        f"*-{version}.tar.gz",
        f"download of the {name} {version} sdist",
        "--no-binary",
        ":all:",
        "--ignore-requires-python",
        f"{name}=={version}",
    )
    if not archives:
        return None
    with tarfile.open(archives[0]) as tf:
        return {
            m.name.split("/", 1)[1]: (tf.extractfile(m) or io.BytesIO()).read().decode("utf-8", "replace")
            for m in tf.getmembers()
            if m.isfile() and m.name.endswith(".py") and "/" in m.name
        }


def git_files(git_dir: str, ref: str) -> dict[str, str]:
    names = git(git_dir, "ls-tree", "-r", "--name-only", ref).stdout.decode().split()
    return {n: git(git_dir, "show", f"{ref}:{n}").stdout.decode("utf-8", "replace") for n in names if n.endswith(".py")}


def check_index(report: Report, rel: str, repo: Path, python: str, mirrors: dict[str, str], work: Path) -> None:
    """Each library's extra resolved for the image's Python, its import lines (and skrl's agent calls) checked."""
    version = "1" if rel == "1" else "2"
    data = setup_literals(rl_setup(repo, version))
    # pip resolves the package's own requirements with the extra (torch==2.5.1, numpy<2 …)
    base = [r for r in data["INSTALL_REQUIRES"] if not GIT_REQ.match(r) and "://" not in r]
    for lib in INDEX_LIBRARIES:
        try:
            check_library(
                report, rel, repo, python, lib, data["EXTRAS_REQUIRE"].get(EXTRA[lib], []), base, mirrors, work
            )
        except Timeout as timeout:
            report.fail(f"{rel} {lib}: {timeout}")
    try:
        check_core_sdists(report, rel, repo, python, work)
    except Timeout as timeout:
        report.fail(f"{rel} core: {timeout}")


def check_library(
    report: Report,
    rel: str,
    repo: Path,
    python: str,
    lib: str,
    reqs: list[str],
    base: list[str],
    mirrors: dict[str, str],
    work: Path,
) -> None:
    version = "1" if rel == "1" else "2"
    platform = "manylinux2014_x86_64"
    git_reqs = [r for r in reqs if GIT_REQ.match(r)]
    index_reqs = [r for r in reqs if not GIT_REQ.match(r)]
    sources: dict[str, str] | None = None
    for req in git_reqs:
        match = GIT_REQ.match(req)
        assert match is not None
        mirror = mirrors.get(match.group("repo").lower())
        if canonical(match.group("name")) in (canonical(MODULE[lib]), canonical(lib), "rsl-rl", "rl-games") and mirror:
            try:
                sources = git_files(mirror, match.group("ref") or "HEAD")
            except subprocess.CalledProcessError:
                sources = None
    resolved, err = resolve(index_reqs + base, python, platform, work / lib) if index_reqs else ({}, "")
    if resolved is None:
        report.fail(f"{rel} {lib}: {' '.join(index_reqs + base)} does not resolve for Python {python}: {err}")
        return
    library_pkg = next(
        (n for n in resolved if n in (canonical(MODULE[lib]), canonical(lib), "rsl-rl-lib", "stable-baselines3")),
        None,
    )
    if library_pkg is not None:
        sources = wheel_files(library_pkg, resolved[library_pkg], python, platform, work)
        got = f"{library_pkg} {resolved[library_pkg]}"
    else:
        got = "from git" if sources is not None else "unresolved"
    if sources is None:
        report.say(f"  skip  {rel} {lib}: imports not checked ({got})")
        return
    missing = []
    for module, name, where in workflow_imports(repo, version, lib):
        names = defined_names(sources, module)
        if names is None or name not in names:
            missing.append(f"{name} from {module} ({where})")
    if lib == "skrl":
        missing += agent_call_problems(repo, version, sources)
    calls = " and takes its agent calls" if lib == "skrl" else ""
    if missing:
        report.fail(f"{rel} {lib}: {got} (Python {python}{err}) lacks " + "; ".join(missing))
    else:
        report.ok(f"{rel} {lib}: {got} for Python {python} has every name the workflow imports{calls}{err}")


def check_core_sdists(report: Report, rel: str, repo: Path, python: str, work: Path) -> None:
    """Core `==` pins with no wheel for the image must build in pip's isolated build env (flatdict 4.0.1)."""
    version = "1" if rel == "1" else "2"
    core = repo / ("source/extensions/omni.isaac.lab/setup.py" if version == "1" else "source/isaaclab/setup.py")
    for req in setup_literals(core)["INSTALL_REQUIRES"] if core.exists() else []:
        name, _, pinned = req.replace(" ", "").partition("==")
        if not pinned or ";" in pinned:
            continue
        # metadata only (no multi-GB torch download): is there a wheel for the image?
        has_wheel = pip(
            "install",
            "--dry-run",
            "--no-deps",
            "--ignore-installed",
            "--quiet",
            "--only-binary",
            ":all:",
            "--python-version",
            python,
            *platform_args(),
            "--target",
            str(work / "target"),
            req,
            what=f"wheel look-up of {req} for Python {python}",
        )
        if has_wheel.returncode == 0:
            continue
        built = pip(
            "wheel", "--no-deps", "--no-binary", name, "-w", str(work / "built"), req, what=f"sdist build of {req}"
        )
        if built.returncode != 0:
            why = [ln.strip() for ln in built.stdout.splitlines() + built.stderr.splitlines() if "Error" in ln]
            report.fail(f"{rel} core: {req} is an sdist that does not build: {(why or ['?'])[-1][:160]}")
        else:
            report.ok(f"{rel} core: {req} (sdist) builds")


def check_isaaclab3(report: Report, wheel: Path | None, index: bool, work: Path) -> None:
    """isaaclab 3.0.0's extras against what isaaclab3-setup installs for each library it is not refused."""
    if wheel is None:
        report.say("  skip  3.0: no --il3-wheel")
        return
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        extras = set(re.findall(r"(?m)^Provides-Extra: (\S+)", zf.read(meta).decode()))
    setup = load_playbook(PROJECT_PLAYBOOKS / "isaaclab3-setup.yaml")
    train = load_playbook(PROJECT_PLAYBOOKS / "isaaclab3-train.yaml")
    for lib in [c for c in setup.vars["library"].choices if c in INDEX_LIBRARIES]:
        if "library" in train.vars and lib in train.vars["library"].choices:
            problems = check_requirements(train, {"library": lib}, A10)
            if problems:
                report.ok(f"3.0 {lib}: refused before launch ({problems[0][:80]})")
                continue
        names = setup.namespace(setup.resolve_vars({"library": lib}), {})
        wanted = re.findall(r"[\w-]+", str(names.get("extra") or ""))
        unknown = [e for e in wanted if e not in extras]
        if unknown:
            report.fail(
                f"3.0 {lib}: isaaclab3-setup installs isaaclab[{','.join(unknown)}]; 3.0.0 has no such extra "
                f"(pip only warns; its extras: {', '.join(sorted(extras & {'sb3', 'skrl', 'rsl-rl', 'rl-games', 'all'}))})"
            )
            continue
        if index:
            spec = f"isaaclab[{','.join(wanted)}]==3.0.0" if wanted else "isaaclab==3.0.0"
            resolved, err = resolve([spec], "3.12", "manylinux_2_34_x86_64", work)
            if resolved is None:
                report.fail(f"3.0 {lib}: {spec} does not resolve for Python 3.12: {err}")
                continue
            need = {"skrl": "skrl", "sb3": "stable-baselines3", "rsl_rl": "rsl-rl-lib", "rl_games": "rl-games"}[lib]
            if need not in resolved:
                report.fail(f"3.0 {lib}: {spec} brings no {need}")
                continue
            report.ok(f"3.0 {lib}: {spec} resolves for Python 3.12 with {need} {resolved[need]}")
        else:
            report.ok(
                f"3.0 {lib}: "
                + (f"isaaclab[{','.join(wanted)}]: a 3.0.0 extra" if wanted else "isaaclab (no extra needed)")
            )


def main(argv: list[str] | None = None) -> int:
    global PROJECT_PLAYBOOKS, CACHE, TIMEOUT, INDEX_LIBRARIES
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--fork", required=True, help="git dir of RajitGhosh/IsaacLab-Fork")
    parser.add_argument(
        "--upstream", required=True, help="git dir holding upstream Isaac Lab's history (ooctipus/IsaacLab)"
    )
    parser.add_argument("--rsl-rl", help="git dir of leggedrobotics/rsl_rl")
    parser.add_argument("--rl-games", help="git dir of isaac-sim/rl_games")
    parser.add_argument("--il3-wheel", type=Path, help="isaaclab-3.0.0-py3-none-any.whl")
    parser.add_argument("--index", action="store_true", help="also resolve against https://pypi.org")
    parser.add_argument("--only", default="", help="releases to check (1,2.0,2.1,2.2,2.3,3.0)")
    parser.add_argument("--libraries", default="", help="libraries the index part checks (default: all four)")
    parser.add_argument("--keep", type=Path, help="keep the work folder here")
    parser.add_argument("--playbooks", type=Path, help="the playbooks folder to check (default: the shipped ones)")
    parser.add_argument(
        "--cache", type=Path, default=HERE / ".cache", help="downloads kept here across runs (default: %(default)s)"
    )
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help="seconds for one pip call (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, help="releases checked at once (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.playbooks:
        PROJECT_PLAYBOOKS = args.playbooks.resolve()
    CACHE, TIMEOUT = args.cache.resolve(), args.timeout
    wanted = set(filter(None, args.libraries.split(",")))
    if wanted - set(LIBRARIES):
        parser.error(
            f"--libraries: unknown {', '.join(sorted(wanted - set(LIBRARIES)))}; pick from {', '.join(LIBRARIES)}"
        )
    INDEX_LIBRARIES = tuple(lib for lib in LIBRARIES if lib in wanted) or LIBRARIES
    only = set(filter(None, args.only.split(","))) or {*REFS, "3.0"}
    mirrors = {
        k: v
        for k, v in {
            "leggedrobotics/rsl_rl": args.rsl_rl,
            "isaac-sim/rl_games": args.rl_games,
            "kellyguo11/rl_games": args.rl_games,
        }.items()
        if v
    }
    report = Report()
    work = Path(tempfile.mkdtemp(prefix="isaaclab-check-"))

    def one(rel: str) -> Report:
        source, commit, python = REFS[rel]
        out = Report(echo=args.jobs <= 1)
        out.say(f"Isaac Lab {rel} ({source} {commit}, Python {python})")
        repo = checkout(args.fork if source == "fork" else args.upstream, commit, work / rel / "IsaacLab")
        out.say(f"  patches: {patch(repo, '1' if rel == '1' else '2')}")
        run_scripts(out, rel, repo, work / rel)
        check_git_requirements(out, rel, repo, mirrors)
        if args.index:
            check_index(out, rel, repo, python, mirrors, work / rel)
        return out

    try:
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            for done in [pool.submit(one, rel) for rel in REFS if rel in only]:
                report.add(done.result())
        if "3.0" in only:
            report.say("Isaac Lab 3.0.0 (PyPI wheel)")
            try:
                check_isaaclab3(report, args.il3_wheel, args.index, work / "3.0")
            except Timeout as timeout:
                report.fail(f"3.0: {timeout}")
    finally:
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    report.say("PASS" if report.failed == 0 else f"FAIL ({report.failed})")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
