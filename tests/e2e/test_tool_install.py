"""Installed as a tool: the built wheel in a fresh venv, run from another folder, is a complete lambdabench.

One test on purpose (about a minute: pip's cache makes the dependency install fast after the first run):
the wheel holds every file the package and the playbooks need, and the installed tool lists the
playbooks, plans a dry run and runs the demo without the source tree on its path.
"""

from __future__ import annotations

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


@needs_sshd
def test_wheel_in_a_fresh_venv_is_a_complete_tool(tmp_path: Path) -> None:
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
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
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

    # the installed tool's own simulator, and a dry run of the headline command against it
    env_file = elsewhere / "sim.env"
    sim = subprocess.Popen(
        [tool, "sim", "serve", "--time-scale", "300", "--env-file", str(env_file)],
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
        dry = lb("sweep", "--gpus", "a100,h100", "--dry-run", extra=parse_env_file(env_file))
        assert dry.returncode == 0, dry.stderr
        assert "mjx-locomotion" in dry.stdout + dry.stderr
    finally:
        sim.terminate()
        sim.wait(timeout=30)

    demo = lb("demo", "--gpus", "a10", timeout=300)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "1 run(s) succeeded, 0 failed; 0 simulated instance(s) still running" in demo.stderr
    print(f"wheel built and installed in {installed:.1f} s")
