"""Installed as a tool: the built wheel in a fresh venv, run from another folder, is a complete lambdabench.

One test by default (about a minute: pip's cache makes the dependency install fast after the first run):
the wheel holds every file the package and the playbooks need, and the installed tool, without the source
tree on its path, lists the playbooks, plans a dry run, a check and each largest-num_envs search against its
own simulator, runs the demo, and exports and merges the demo's sweep and writes its reports. With --long the
same on Python 3.10 (the oldest supported), its demo Isaac Lab 3's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from lambdabench.config import parse_env_file
from lambdabench.simulate import needs_sshd

ROOT = Path(__file__).resolve().parents[2]


def _source_files() -> list[str]:
    """The repository's files as a fresh clone has them (tracked and new, never ignored build output)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    return [f for f in out if f and (ROOT / f).is_file()]


def _clean_env(home: Path) -> dict[str, str]:
    keep = {
        "PATH",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
        "PIP_CONFIG_FILE",
        "PIP_CACHE_DIR",
        "XDG_CACHE_HOME",
        "HOME",
    }
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["LAMBDABENCH_HOME"] = str(home)
    return env


def _python310() -> str | None:
    """A Python 3.10 on this machine (lambdabench's oldest; the dev venv is 3.11), if one runs."""
    for exe in ["python3.10", *map(str, sorted(Path.home().glob(".pyenv/versions/3.10*/bin/python3.10")))]:
        try:
            if subprocess.run([exe, "--version"], capture_output=True, timeout=30).returncode == 0:
                return exe
        except OSError:
            continue
    return None


PYTHON310 = _python310()  # at collection, before a test's HOME is swapped


@needs_sshd
def test_wheel_in_a_fresh_venv_is_a_complete_tool(tmp_path: Path) -> None:
    _walk_the_first_hour(tmp_path, sys.executable, demo_playbook=None)


@needs_sshd
@pytest.mark.slow
def test_wheel_on_python_3_10_runs_the_isaaclab3_demo(tmp_path: Path) -> None:
    if PYTHON310 is None:
        pytest.skip("no Python 3.10 on this machine")
    # Isaac Lab 3's set-up reads files with pathlib on the simulated hosts (3.10's pathlib: sitecustomize)
    _walk_the_first_hour(tmp_path, PYTHON310, demo_playbook="isaaclab3-train")


def _walk_the_first_hour(tmp_path: Path, python: str, *, demo_playbook: str | None) -> None:
    """Build the wheel, install it with its dependencies into a fresh venv of python, and use it from elsewhere."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to copy the source tree as a clone has it")
    src = tmp_path / "src"
    files = _source_files()
    for rel in files:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("lambdabench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        f if f.startswith("lambdabench/") else "lambdabench/_playbooks/" + f.removeprefix("playbooks/")
        for f in files
        if f.startswith(("lambdabench/", "playbooks/"))
    }
    assert sorted(wanted - names) == []

    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    installed = time.monotonic() - started

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env(tmp_path / "home")
    tool = str(venv / "bin" / "lambdabench")

    def lb(*args: str, extra: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tool, *args], cwd=elsewhere, env={**env, **(extra or {})}, capture_output=True, text=True, timeout=timeout
        )

    where = subprocess.run(
        [str(py), "-c", "import lambdabench; print(lambdabench.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where

    listed = lb("playbooks", "list")
    assert listed.returncode == 0, listed.stderr
    for name in ("mjx-locomotion", "isaaclab-train", "setup", "gpu-preflight"):
        assert name in listed.stdout

    # the installed tool's own simulator (a packaged scenario by name), and a dry run of the headline command
    env_file = elsewhere / "sim.env"
    sim = subprocess.Popen(
        [tool, "sim", "serve", "--time-scale", "300", "--scenario", "default", "--env-file", str(env_file)],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists():
            assert sim.poll() is None and time.monotonic() < deadline, sim.stderr.read() if sim.stderr else ""
            time.sleep(0.1)
        time.sleep(0.1)
        on_sim = parse_env_file(env_file)
        dry = lb("sweep", "--gpus", "a100,h100", "--dry-run", extra=on_sim)
        assert dry.returncode == 0, dry.stderr
        assert "mjx-locomotion" in dry.stdout + dry.stderr
        check = lb("check", "--gpus", "a10,h100", "--playbook", "isaaclab3-train", extra=on_sim)
        assert check.returncode == 0 and "allowed by the rules" in check.stdout, check.stderr
        for playbook in ("mjx-locomotion", "isaaclab3-train", "isaaclab-train"):
            search = lb("sweep", "--gpus", "a10", "--playbook", playbook, "--find-max-envs", "--dry-run", extra=on_sim)
            assert search.returncode == 0 and "largest-num_envs search" in search.stdout + search.stderr, search.stderr
    finally:
        sim.terminate()
        sim.wait(timeout=30)

    demo = lb("demo", "--gpus", "a10", *(("--playbook", demo_playbook) if demo_playbook else ()), timeout=300)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "1 run(s) succeeded, 0 failed; 0 simulated instance(s) still running" in demo.stderr

    # the demo's home: a results bundle, merged back where it came from (its runs once), and the reports
    at_demo = {"LAMBDABENCH_HOME": str(tmp_path / "home" / "demo")}
    bundle = elsewhere / "mine.tar.gz"
    assert lb("export", "1", str(bundle), extra=at_demo).returncode == 0
    merged = lb("report", "--merge", str(bundle), "--format", "json", extra=at_demo)
    assert merged.returncode == 0, merged.stderr
    assert [g["runs"] for g in json.loads(merged.stdout)["groups"]] == [1]
    for fmt in ("csv", "md", "html"):
        assert lb("report", "--format", fmt, "-o", str(elsewhere / f"r.{fmt}"), extra=at_demo).returncode == 0
    assert "<html" in (elsewhere / "r.html").read_text()
    print(f"wheel built and installed in {installed:.1f} s")
