"""Local git repositories standing in for Isaac Lab on simulated instances (no network there).

`ensure_repos(root)` builds two bare repositories from template/: the seed's fork
(RajitGhosh/IsaacLab-Fork, Isaac Lab 1.x layout, tag v1.0.0) and upstream isaac-sim/IsaacLab
(2.x layout, tag v2.1.0). Builds are cached under root by a hash of the template, are
deterministic (fixed author and dates), and are safe against concurrent callers (a lock file).
The image's `git` stand-in rewrites the GitHub URLs to these repositories (url.<path>.insteadOf),
so clones keep the GitHub URL as their origin, as on a real box.

Stdlib only: the git stand-in loads this file by path inside simulated sessions.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent / "template"
REAL_GIT = "/usr/bin/git"
FORK_URL = "https://github.com/RajitGhosh/IsaacLab-Fork.git"
UPSTREAM_URL = "https://github.com/isaac-sim/IsaacLab.git"
# url: (bare repository name, template layout, tag)
REPOS = {
    FORK_URL: ("IsaacLab-Fork.git", "v1", "v1.0.0"),
    UPSTREAM_URL: ("IsaacLab.git", "v2", "v2.1.0"),
}
LIBRARIES = ("rl_games", "rsl_rl", "skrl", "sb3")
_COMMIT_ENV = {
    "GIT_AUTHOR_NAME": "Isaac Lab (simulated)",
    "GIT_AUTHOR_EMAIL": "isaaclab-sim@lambdabench.invalid",
    "GIT_AUTHOR_DATE": "2024-06-15T12:00:00+00:00",
    "GIT_COMMITTER_NAME": "Isaac Lab (simulated)",
    "GIT_COMMITTER_EMAIL": "isaaclab-sim@lambdabench.invalid",
    "GIT_COMMITTER_DATE": "2024-06-15T12:00:00+00:00",
}


def template_hash() -> str:
    """A digest of every template file (path, mode, content) and of this builder."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(TEMPLATE_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(TEMPLATE_DIR)).encode() + b"\0")
            digest.update(b"x" if os.access(path, os.X_OK) else b"-")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_repos(root: Path) -> dict[str, Path]:
    """Build (once per template version) the bare repositories; returns {GitHub URL: bare repo}."""
    root = Path(root).absolute()
    built = root / template_hash()
    wanted = {url: built / name for url, (name, _, _) in REPOS.items()}
    if (built / ".complete").exists():
        return wanted
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".lock"):
        if (built / ".complete").exists():
            return wanted
        shutil.rmtree(built, ignore_errors=True)
        work = root / f".build-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            for url, (name, layout, tag) in REPOS.items():
                tree = work / name.removesuffix(".git")
                write_tree(tree, layout)
                _commit(tree, tag)
                _git(["clone", "--quiet", "--bare", str(tree), str(wanted[url])], cwd=root)
            (built / ".complete").write_text("")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for old in root.iterdir():  # earlier template versions
            if old.is_dir() and old != built and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
    return wanted


def git_url_env(repos: dict[str, Path]) -> dict[str, str]:
    """GIT_CONFIG_* variables that send the GitHub URLs (with or without .git) to the local repos."""
    env: dict[str, str] = {}
    for index, (url, path) in enumerate(sorted(repos.items())):
        env[f"GIT_CONFIG_KEY_{index}"] = f"url.file://{path.with_suffix('')}.insteadOf"
        env[f"GIT_CONFIG_VALUE_{index}"] = url.removesuffix(".git")
    env["GIT_CONFIG_COUNT"] = str(len(repos))
    return env


def write_tree(tree: Path, layout: str) -> None:
    """Lay out one repository's files: common + the layout's own + generated workflow scripts."""
    shutil.copytree(TEMPLATE_DIR / "common", tree, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(TEMPLATE_DIR / layout, tree, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    base = tree / ("source/standalone" if layout == "v1" else "scripts")
    workflows = base / ("workflows" if layout == "v1" else "reinforcement_learning")
    for lib in LIBRARIES:
        for mode in ("train", "play"):
            _script(
                workflows / lib / f"{mode}.py",
                f"{mode.title()} an RL agent with {lib}",
                f"from isaaclab_sim.workflows import main\n\nsys.exit(main({lib!r}, {mode!r}, __file__))",
            )
    if layout == "v2":  # scripts/benchmarks/benchmark_*.py exist from 2.0 (the fork has none)
        for kind in ("non_rl", "rsl_rl", "rlgames"):
            _script(
                base / "benchmarks" / f"benchmark_{kind}.py",
                f"Benchmark {kind} workflows in Isaac Lab",
                f"from isaaclab_sim.workflows import benchmark\n\nsys.exit(benchmark({kind!r}, __file__))",
            )
    _script(
        base / "environments" / "list_envs.py",
        "Print all environments registered in Isaac Lab",
        "from isaaclab_sim.workflows import list_envs\n\nsys.exit(list_envs())",
    )
    (tree / ".gitignore").write_text(
        "# Isaac Lab outputs\nlogs/\ndocker/artifacts/\ndocker/.container.cfg\n"
        "docker/.container.yaml\n_isaac_sim\n__pycache__/\n"
    )


def _script(path: Path, title: str, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'"""{title} (Isaac Lab as simulated by lambdabench: a numpy cart-pole workload)."""\n\nimport sys\n\n{body}\n'
    )


def _commit(tree: Path, tag: str) -> None:
    _git(["init", "--quiet", "--initial-branch=main"], cwd=tree)
    _git(["add", "--all"], cwd=tree)
    _git(["commit", "--quiet", "--no-gpg-sign", "-m", f"Isaac Lab {tag} (simulated)"], cwd=tree)
    _git(["tag", tag], cwd=tree)


def _git(args: list[str], cwd: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        **_COMMIT_ENV,
    }
    done = subprocess.run([REAL_GIT, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        from lambdabench.errors import SimulatorError

        raise SimulatorError(
            f"building the simulated Isaac Lab repository failed: git {args[0]}: {done.stderr.strip()[-300:]}",
            "check that git is installed at /usr/bin/git",
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
