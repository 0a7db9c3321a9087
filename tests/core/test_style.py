"""The house style is checked where CI runs it: `ruff check` and `ruff format --check` over the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [("check", "."), ("format", "--check", ".")], ids=["lint", "format"])
def test_the_repository_keeps_the_house_style(args: tuple[str, ...]) -> None:
    out = ruff(*args)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]


def test_the_format_check_can_fail(tmp_path: Path) -> None:
    """A file ruff would reformat fails the check (the check above is no formality)."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text("x = {  'a':1 }\n")
    out = ruff("format", "--check", ".", cwd=tmp_path)
    assert out.returncode == 1 and "bad.py" in out.stdout + out.stderr
