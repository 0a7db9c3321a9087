"""Models of GPU memory for the workloads on simulated hosts (they run on the CPU): models, not readings.

MJX (mjx_bench.py reads the top-level figures of $LAMBDABENCH_MEMORY_MODEL):

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

Isaac Lab 3 (kitless Newton; the simulated `isaaclab train` reads the "isaaclab3" part): the peak memory.used that
nvidia-smi sampled through real 100-iteration Isaac-Cartpole-Direct rsl_rl trainings on an H100 (isaaclab 3.0.0,
newton_mjwarp; tests/workloads/data/h100-il3/n*/telemetry.csv): 895 MiB at 1,024 envs, 949 at 4,096, 1,173 at
16,384, 1,981 at 65,536; and through real 2-iteration probes of the largest-num_envs search on an H100
(tests/workloads/data/h100-il3-max-envs): 9,015 MiB at 524,288 envs, 17,097 at 1,048,576. A least-squares line
through the six: 913.5 MiB + 16,190 bytes per env (within 56 MiB of every point; the four small runs alone gave
884.4 + 17,595, which overstated 1,048,576 envs by 8 %). The limit is the type's whole GPU memory (a guess: torch's
and Warp's allocators take memory until a CUDA allocation fails; no real probe has reached it: at 1,048,576 envs
Isaac Lab's start-up alone took 197 s); other tasks and GPU types are assumed to need the same (a guess): on the H100
the line admits ~5.2 million Cartpole envs, on the A10 ~1.43 million, neither measured.
"""

from __future__ import annotations

from typing import Any

PER_ENV_BYTES = round(43216.0419921875 * 2**20 / 2097152)  # peak bytes_in_use / envs, the H100 search
BASE_MIB = 0.0
USABLE_FRACTION = 0.75
STAND_IN_ENVS = 16  # what the CPU really steps for a size the model admits
IL3_STAND_IN_MAX_ENVS = 65536  # the most cart-poles the simulated Isaac Lab 3 steps on the CPU (larger N: modelled)
IL3_POINTS = (  # (envs, peak MiB): the H100 trainings (h100-il3), then the search's probes (h100-il3-max-envs)
    (1024, 895.0),
    (4096, 949.0),
    (16384, 1173.0),
    (65536, 1981.0),
    (524288, 9015.0),
    (1048576, 17097.0),
)
IL3_SOURCE = (
    "lambdabench.sim.hosts.memory_model: Isaac Lab 3 Cartpole's peak GPU memory per env, a line through real H100 "
    "runs (tests/workloads/data/h100-il3), limit the type's whole GPU memory (a guess); a model"
)
SOURCE = (
    "lambdabench.sim.hosts.memory_model: peak bytes per env from the real H100 search "
    "(tests/workloads/data/h100-max-envs), limit 75% of the type's GPU memory (JAX BFC default); a model"
)


def il3_line() -> tuple[float, float]:
    """(base MiB, bytes per env): the least-squares line through IL3_POINTS."""
    xs, ys = [float(n) for n, _ in IL3_POINTS], [m for _, m in IL3_POINTS]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope * 2**20


def memory_model(gpu_memory_mib: int) -> dict[str, Any] | None:
    """What a simulated host's workloads read ($LAMBDABENCH_MEMORY_MODEL); None for a GPU-less type."""
    if gpu_memory_mib <= 0:
        return None
    base, per_env = il3_line()
    return {
        "isaaclab3": {
            "modelled": True,
            "gpu_memory_mib": gpu_memory_mib,
            "limit_mib": float(gpu_memory_mib),
            "base_mib": base,
            "per_env_bytes": per_env,
            "stand_in_max_envs": IL3_STAND_IN_MAX_ENVS,
            "source": IL3_SOURCE,
        },
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


def il3_largest_that_fits(gpu_memory_mib: int) -> int:
    """The largest N the Isaac Lab 3 model admits on this much GPU memory."""
    base, per_env = il3_line()
    return max(0, int((gpu_memory_mib - base) * 2**20 // per_env))
