"""Hermetic tests: state dirs under tmp_path, no API keys or user ssh config from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the simulator's fixtures (api_sim, host_sim); the handle they yield comes from lambdabench.simulate
pytest_plugins = ["lambdabench.sim.testing"]

SHARED = Path(__file__).resolve().parents[2] / "shared"
OPENAPI = SHARED / "lambda-cloud" / "openapi.json"

_SCRUBBED = (
    "LAMBDA_API_KEY",
    "NGC_API_KEY",
    "LAMBDABENCH_API_URL",
    "LAMBDABENCH_HOME",
    "LAMBDABENCH_SSH_USER",
    "LAMBDABENCH_SSH_PORT",
    "LAMBDABENCH_SSH_KEY",
    "LAMBDABENCH_TRACEBACK",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", help="run the long fault matrices and soak tests")


def pytest_configure(config: pytest.Config) -> None:
    # generated cases: a fixed seed in CI (deterministic, so a red CI is reproducible), random
    # exploration with --long (new cases every time)
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    settings.register_profile("long", derandomize=False, print_blob=True)
    settings.load_profile("long" if config.getoption("--long") else "ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--long"):
        return
    skip = pytest.mark.skip(reason="long run: pass --long")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every state dir at tmp_path and clear secrets, so no test touches the user's files."""
    home = tmp_path / "lbhome"
    home.mkdir()
    for name in list(os.environ):
        if name in _SCRUBBED or name.startswith("LAMBDABENCH_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAMBDABENCH_HOME", str(home))
    # settings files in the user's real home must not leak in
    fake_user_home = tmp_path / "userhome"
    fake_user_home.mkdir()
    monkeypatch.setenv("HOME", str(fake_user_home))
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def openapi_spec() -> dict:
    import json

    if not OPENAPI.exists():
        pytest.skip(f"Lambda's OpenAPI spec not found at {OPENAPI}")
    return json.loads(OPENAPI.read_text())
