"""A model of GPU memory for the MJX workload on simulated hosts (their JAX runs on the CPU): a model, not a reading.

The footprint of N ant envs is BASE_MIB + PER_ENV_BYTES × N. Both from real H100 runs (jax 0.11.2, mujoco-mjx
3.17.0, driver 580.159.04): tests/workloads/data/h100-mjx-cache gives steady-state memory 14.3 MiB at 1,024 envs
and 1,016.3 MiB at 65,536, ≈ 16.3 kB per env with an intercept of −1.5 MiB (nothing measurable: base 0); what
decides a fit is the peak through compile and the first call, which the search on the H100
(tests/workloads/data/h100-max-envs) measured as 43,216 MiB at 2,097,152 envs (in use after the call 28,544 MiB):
21,609 bytes per env. The limit is USABLE_FRACTION of the type's GPU memory (the catalog's nvidia-smi figure):
JAX's BFC allocator keeps its 75 % limit with XLA_PYTHON_CLIENT_PREALLOCATE=false, which the playbook sets
(docs.jax.dev gpu_memory_allocation.rst: "With the BFC allocator, this retains the default 75% memory limit"; the
H100 reported bytes_limit 60,810 MiB of 81,559). On the H100 the model admits 2,968,373 envs; the real search fit
2,883,584 and failed at 3,145,728. Other GPU types are assumed to need the same bytes per env (a guess).
"""

from __future__ import annotations

from typing import Any

PER_ENV_BYTES = round(43216.0419921875 * 2**20 / 2097152)  # peak bytes_in_use / envs, the H100 search
BASE_MIB = 0.0
USABLE_FRACTION = 0.75
STAND_IN_ENVS = 16  # what the CPU really steps for a size the model admits
SOURCE = (
    "lambdabench.sim.hosts.memory_model: peak bytes per env from the real H100 search "
    "(tests/workloads/data/h100-max-envs), limit 75% of the type's GPU memory (JAX BFC default); a model"
)


def memory_model(gpu_memory_mib: int) -> dict[str, Any] | None:
    """What a simulated host's MJX workload reads ($LAMBDABENCH_MEMORY_MODEL); None for a GPU-less type."""
    if gpu_memory_mib <= 0:
        return None
    return {
        "modelled": True,
        "gpu_memory_mib": gpu_memory_mib,
        "usable_fraction": USABLE_FRACTION,
        "limit_mib": gpu_memory_mib * USABLE_FRACTION,
        "base_mib": BASE_MIB,
        "per_env_bytes": PER_ENV_BYTES,
        "stand_in_envs": STAND_IN_ENVS,
        "source": SOURCE,
    }


def largest_that_fits(gpu_memory_mib: int) -> int:
    """The largest N the model admits on this much GPU memory."""
    model = memory_model(gpu_memory_mib)
    if model is None:
        return 0
    return int((model["limit_mib"] - BASE_MIB) * 2**20 // PER_ENV_BYTES)
