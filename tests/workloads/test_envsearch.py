"""The largest-num_envs search: doubling to a bound, stop at the first out-of-memory, bisect; the probe's OOM
recognition by error code (a real JAX out-of-memory on the CPU); the simulator's memory model; the real H100 result."""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdabench.sim.hosts.memory_model import PER_ENV_BYTES, largest_that_fits, memory_model
from lambdabench.workloads import envsearch

SCRIPT = Path(__file__).resolve().parents[2] / "lambdabench" / "workloads" / "mjx_bench.py"
H100 = Path(__file__).parent / "data" / "h100-max-envs" / "max-envs-result.json"
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")

Search = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mjx_bench_search_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_search(search: Search, start: int, bound: int, bisect: int, capacity: int) -> None:
    """The search's promises against a GPU that fits `capacity` envs."""
    probed: list[int] = []

    def probe(n: int) -> dict[str, Any]:
        probed.append(n)
        return {"fits": n <= capacity, "seconds": 0.01}

    out = search(start, bound, bisect, probe)
    doubling = [t["num_envs"] for t in out["tries"] if t["phase"] == "double"]
    assert doubling == envsearch.doubling_sizes(start, bound)[: len(doubling)]
    # the doubling stops at the first size that does not fit, and nothing larger is ever tried
    assert all(t["fits"] for t in out["tries"] if t["phase"] == "double" and t["num_envs"] != out["first_oom"])
    if out["first_oom"] is not None:
        assert doubling[-1] == out["first_oom"] and max(probed) == out["first_oom"]
        assert out["stopped"] == "oom" and out["first_oom"] > capacity
    else:
        assert out["stopped"] == "bound" and doubling[-1] == bound <= capacity
    assert len(probed) <= envsearch.max_probes(start, bound, bisect) == out["max_probes"]
    fits = [n for n in probed if n <= capacity]
    assert out["largest_fit"] == (max(fits) if fits else None)
    if out["smallest_oom"] is not None:
        assert out["largest_fit"] is None or out["largest_fit"] < out["smallest_oom"]


@given(
    start=st.integers(1, 4096),
    factor=st.integers(1, 5000),
    bisect=st.integers(0, 6),
    capacity=st.integers(0, 30_000_000),
)
def test_the_search_stops_at_the_first_oom_within_its_bound(
    start: int, factor: int, bisect: int, capacity: int
) -> None:
    check_search(envsearch.search, start, start * factor, bisect, capacity)


def test_bisecting_narrows_between_the_last_fit_and_the_oom() -> None:
    out = envsearch.search(1024, 1 << 23, 3, lambda n: {"fits": n <= 2_900_000})
    assert [t["num_envs"] for t in out["tries"]][-4:] == [4_194_304, 3_145_728, 2_621_440, 2_883_584]
    assert (out["largest_fit"], out["first_oom"], out["smallest_oom"]) == (2_883_584, 4_194_304, 3_145_728)


def test_a_probe_past_its_cap_ends_the_search() -> None:
    out = envsearch.search(1, 64, 2, lambda n: {"fits": True, "seconds": 5.0 if n == 4 else 0.1}, probe_seconds=1.0)
    assert out["stopped"] == "time" and out["largest_fit"] == 4 and len(out["tries"]) == 3


def test_each_probes_cap_grows_with_its_num_envs() -> None:
    """Start-up that grows with N (~190 s per million envs for Isaac Lab 3 on an H100): the 4,194,304-env probe's
    800 s fits its cap of 300 s + 250 s per million envs (1,349 s), where a fixed 300 s cap ended the search."""
    took = {n: 50 + 190 * n / 1e6 for n in envsearch.doubling_sizes(4096, 1 << 23)}
    fixed = envsearch.search(4096, 1 << 23, 0, lambda n: {"fits": n < 5_000_000, "seconds": took[n]}, probe_seconds=300)
    assert (fixed["stopped"], fixed["largest_fit"]) == ("time", 2_097_152)
    scaled = envsearch.search(
        4096, 1 << 23, 0, lambda n: {"fits": n < 5_000_000, "seconds": took[n]}, probe_seconds=300, per_million_envs=250
    )
    assert (scaled["stopped"], scaled["largest_fit"], scaled["first_oom"]) == ("oom", 4_194_304, 8_388_608)
    assert envsearch.probe_cap(4_194_304, 300, 250) == 300 + 250 * 4.194304


@given(
    start=st.integers(1, 4096),
    factor=st.integers(1, 5000),
    bisect=st.integers(0, 6),
    capacity=st.integers(0, 30_000_000),
    fixed=st.floats(1, 1000),
    per_million=st.floats(0, 1000),
)
def test_no_search_takes_longer_than_the_plan_prices(
    start: int, factor: int, bisect: int, capacity: int, fixed: float, per_million: float
) -> None:
    """Every probe at its cap, whichever sizes fit: never more than worst_case_seconds (what the plan prices)."""
    bound = start * factor
    probed: list[int] = []

    def probe(n: int) -> dict[str, Any]:
        probed.append(n)
        return {"fits": n <= capacity, "seconds": envsearch.probe_cap(n, fixed, per_million)}

    envsearch.search(start, bound, bisect, probe, probe_seconds=fixed, per_million_envs=per_million)
    spent = sum(envsearch.probe_cap(n, fixed, per_million) for n in probed)
    assert spent <= envsearch.worst_case_seconds(start, bound, bisect, fixed, per_million) * (1 + 1e-9)
    if not per_million:  # a fixed cap (MJX): the plan's price is max_probes × the cap, as before
        worst = envsearch.worst_case_seconds(start, bound, bisect, fixed, 0.0)
        assert math.isclose(worst, envsearch.max_probes(start, bound, bisect) * fixed)


def test_a_search_that_does_not_stop_at_the_oom_is_caught() -> None:
    def no_stop(start: int, bound: int, bisect: int, probe: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
        out = envsearch.search(start, bound, 0, probe)
        for n in envsearch.doubling_sizes(start, bound)[len(out["tries"]) :]:
            out["tries"].append(dict(probe(n), num_envs=n, phase="double"))
        return out

    with pytest.raises(AssertionError):
        check_search(no_stop, 1024, 1 << 20, 0, 100_000)


@needs_jax
def test_a_real_jax_out_of_memory_is_a_size_that_does_not_fit(bench: ModuleType) -> None:
    import jax
    import jax.numpy as jnp

    # 2**40 float32 on the CPU: XLA's own RESOURCE_EXHAUSTED, recognised by error_code_string
    parts = (None, lambda n: (jnp.zeros((n,), jnp.float32), jnp.zeros((1,))), jax.jit(lambda m, d, k: (d, k)))
    args = bench.parse_args(["--envs", "8", "--find-max-envs", str(1 << 41), "--steps-per-call", "1"])
    assert bench.probe_envs(8, args, parts)["fits"] is True
    out = bench.probe_envs(1 << 40, args, parts)
    assert out["fits"] is False and out["modelled"] is False
    assert (out["error_type"], out["error_code"], out["error_stage"]) == (
        "JaxRuntimeError",
        "RESOURCE_EXHAUSTED",
        "allocate",
    )


class _Coded(RuntimeError):
    """An error carrying an XLA status code, as JaxRuntimeError does (error_code_string)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"{code}: stand-in")
        self.error_code_string = code


class _FailingStep:
    """A jitted step whose compile or run raises a coded error (the H100's autotuner NOT_FOUND at compile)."""

    def __init__(self, code: str, at: str) -> None:
        self.code, self.at = code, at

    def lower(self, *_: Any) -> _FailingStep:
        return self

    def compile(self) -> Callable[..., Any]:
        if self.at == "compile":
            raise _Coded(self.code)

        def run(*_: Any) -> Any:
            raise _Coded(self.code)

        return run


@needs_jax
def test_not_found_is_a_no_fit_only_from_the_compile(bench: ModuleType) -> None:
    import jax.numpy as jnp

    args = bench.parse_args(["--envs", "8", "--find-max-envs", "64"])
    batch = lambda n: (jnp.zeros((n,)), jnp.zeros((n,)))  # noqa: E731
    out = bench.probe_envs(8, args, (None, batch, _FailingStep("NOT_FOUND", "compile")))
    assert (out["fits"], out["error_code"], out["error_stage"]) == (False, "NOT_FOUND", "compile")
    with pytest.raises(_Coded):  # NOT_FOUND while running is a failure, not a size that does not fit
        bench.probe_envs(8, args, (None, batch, _FailingStep("NOT_FOUND", "run")))
    with pytest.raises(_Coded):  # nor is any other code at compile
        bench.probe_envs(8, args, (None, batch, _FailingStep("INTERNAL", "compile")))


@needs_jax
def test_a_simulated_host_raises_the_modelled_oom(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jax
    import jax.numpy as jnp

    path = tmp_path / "memory-model.json"
    path.write_text(json.dumps(memory_model(23028)))
    monkeypatch.setenv("LAMBDABENCH_MEMORY_MODEL", str(path))
    sizes: list[int] = []

    def batch(n: int) -> tuple[Any, Any]:
        sizes.append(n)
        return jnp.zeros((n,)), jnp.zeros((n,))

    args = bench.parse_args(["--envs", "8", "--find-max-envs", "64"])
    parts = (None, batch, jax.jit(lambda m, d, k: (d, k)))
    fit = bench.probe_envs(524_288, args, parts)
    assert fit["fits"] and fit["modelled"] and fit["gpu_mem_mib"] == pytest.approx(524_288 * PER_ENV_BYTES / 2**20)
    assert sizes == [16]  # the CPU steps a stand-in batch
    oom = bench.probe_envs(1_048_576, args, parts)
    assert (oom["fits"], oom["error_code"], oom["modelled"]) == (False, "RESOURCE_EXHAUSTED", True)
    assert sizes == [16]  # refused before allocating


def test_the_model_gives_each_gpu_its_own_maximum_and_agrees_with_the_real_h100() -> None:
    real = json.loads(H100.read_text())["max_envs"]
    fits = {t["num_envs"] for t in real["tries"] if t["fits"]}
    h100, a10 = largest_that_fits(81559), largest_that_fits(23028)
    assert a10 < h100 and memory_model(0) is None
    # the real H100 fit 2,883,584 and failed at 3,145,728: the model's H100 maximum lies between
    assert max(fits) <= h100 < real["smallest_oom"]
    assert math.floor(math.log2(a10 / 1024)) != math.floor(math.log2(h100 / 1024))  # doubling from 1,024 differs


def test_the_real_h100_search_reads_back() -> None:
    doc = json.loads(H100.read_text())
    assert doc["hardware"]["gpu_model"] == "NVIDIA H100 80GB HBM3" and doc["simulated"] is False
    assert (doc["versions"]["jax"], doc["versions"]["mujoco_mjx"]) == ("0.11.2", "3.17.0")
    m = doc["max_envs"]
    assert (m["largest_fit"], m["first_oom"], m["smallest_oom"], m["stopped"]) == (2883584, 4194304, 3145728, "oom")
    assert m["oom_error"] == {
        "error_type": "JaxRuntimeError",
        "error_code": "NOT_FOUND",
        "error_stage": "compile",
        "modelled": False,
    }
    assert len(m["tries"]) == m["max_probes"] - 1  # the doubling stopped at 4,194,304 of its bound 8,388,608
    assert {t["gpu_mem_limit_mib"] for t in m["tries"] if t["fits"]} == {60810.0}
    sizes = [t["num_envs"] for t in m["tries"]]
    assert sizes == [262144, 524288, 1048576, 2097152, 4194304, 3145728, 2621440, 2883584]
