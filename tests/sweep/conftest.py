"""The sweep tests' simulator: `simenv` is the API alone at time x600 (`api_sim`, a `lambdabench.simulate.Sim`)."""

from __future__ import annotations

import pytest

from lambdabench.simulate import Sim


@pytest.fixture
def simenv(api_sim: Sim) -> Sim:
    return api_sim
