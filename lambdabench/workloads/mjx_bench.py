"""MuJoCo MJX locomotion throughput benchmark: env-steps/s over N parallel ants, one JSON result.

Runs on an instance with plain python3: stdlib + jax + mujoco (mujoco-mjx) and its sibling
aggregate.py, no lambdabench imports. Single process, or one process per GPU under
`python3 -m torch.distributed.run --nproc_per_node=G mjx_bench.py ...`: each rank pins GPU
LOCAL_RANK before JAX starts, every timed repetition starts after a cross-rank barrier, and rank 0
writes the total as the sum of the ranks' own rates (aggregate.py).

With --find-max-envs BOUND it instead searches the largest N that fits on one GPU (envsearch.py): N doubling
from the first --envs value up to BOUND, stopping at the first out-of-memory (JAX's RESOURCE_EXHAUSTED, by its
error code), then --bisect-steps probes between the last fit and that OOM; the result's "max_envs" says what.

Exit codes: 0 ok (an OOM that ends a search too), 2 usage, 3 jax/mujoco missing, 4 benchmark or coordination
failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aggregate  # noqa: E402  (sibling file, copied with this script)
import envsearch  # noqa: E402  (sibling file, copied with this script)

FORMAT = "lambdabench-mjx-result"
FORMAT_VERSION = 1

# A quadruped in the style of the Gymnasium/Brax ant: a sphere torso and four two-segment legs,
# 8 hinge motors. Only the torso and feet touch the floor (contype/conaffinity), which keeps the
# contact set small and fixed, as MJX prefers. Solver settings follow MJX's own tutorials.
ANT_XML = """
<mujoco model="lambdabench-ant">
  <compiler angle="degree" inertiafromgeom="true"/>
  <option timestep="0.005" iterations="4" ls_iterations="8" integrator="Euler">
    <flag eulerdamp="disable"/>
  </option>
  <default>
    <joint armature="1" damping="1" limited="true"/>
    <geom contype="0" conaffinity="0" condim="3" density="5.0" friction="1 0.5 0.5" margin="0.01"/>
    <motor ctrllimited="true" ctrlrange="-1 1" gear="150"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="40 40 0.1" contype="1" conaffinity="1"/>
    <body name="torso" pos="0 0 0.75">
      <freejoint name="root"/>
      <geom name="torso_geom" type="sphere" size="0.25" contype="1"/>
      <body name="leg1" pos="0 0 0">
        <geom type="capsule" fromto="0 0 0 0.2 0.2 0" size="0.08"/>
        <body pos="0.2 0.2 0">
          <joint name="hip_1" type="hinge" axis="0 0 1" range="-30 30"/>
          <geom type="capsule" fromto="0 0 0 0.2 0.2 0" size="0.08"/>
          <body pos="0.2 0.2 0">
            <joint name="ankle_1" type="hinge" axis="-1 1 0" range="30 70"/>
            <geom name="foot_1" type="capsule" fromto="0 0 0 0.4 0.4 0" size="0.08" contype="1"/>
          </body>
        </body>
      </body>
      <body name="leg2" pos="0 0 0">
        <geom type="capsule" fromto="0 0 0 -0.2 0.2 0" size="0.08"/>
        <body pos="-0.2 0.2 0">
          <joint name="hip_2" type="hinge" axis="0 0 1" range="-30 30"/>
          <geom type="capsule" fromto="0 0 0 -0.2 0.2 0" size="0.08"/>
          <body pos="-0.2 0.2 0">
            <joint name="ankle_2" type="hinge" axis="1 1 0" range="-70 -30"/>
            <geom name="foot_2" type="capsule" fromto="0 0 0 -0.4 0.4 0" size="0.08" contype="1"/>
          </body>
        </body>
      </body>
      <body name="leg3" pos="0 0 0">
        <geom type="capsule" fromto="0 0 0 -0.2 -0.2 0" size="0.08"/>
        <body pos="-0.2 -0.2 0">
          <joint name="hip_3" type="hinge" axis="0 0 1" range="-30 30"/>
          <geom type="capsule" fromto="0 0 0 -0.2 -0.2 0" size="0.08"/>
          <body pos="-0.2 -0.2 0">
            <joint name="ankle_3" type="hinge" axis="-1 1 0" range="-70 -30"/>
            <geom name="foot_3" type="capsule" fromto="0 0 0 -0.4 -0.4 0" size="0.08" contype="1"/>
          </body>
        </body>
      </body>
      <body name="leg4" pos="0 0 0">
        <geom type="capsule" fromto="0 0 0 0.2 -0.2 0" size="0.08"/>
        <body pos="0.2 -0.2 0">
          <joint name="hip_4" type="hinge" axis="0 0 1" range="-30 30"/>
          <geom type="capsule" fromto="0 0 0 0.2 -0.2 0" size="0.08"/>
          <body pos="0.2 -0.2 0">
            <joint name="ankle_4" type="hinge" axis="1 1 0" range="30 70"/>
            <geom name="foot_4" type="capsule" fromto="0 0 0 0.4 -0.4 0" size="0.08" contype="1"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor joint="hip_1"/><motor joint="ankle_1"/>
    <motor joint="hip_2"/><motor joint="ankle_2"/>
    <motor joint="hip_3"/><motor joint="ankle_3"/>
    <motor joint="hip_4"/><motor joint="ankle_4"/>
  </actuator>
</mujoco>
"""


class BenchError(RuntimeError):
    """A benchmark or coordination failure; the message names the rank."""


def _log(message: str) -> None:
    print(f"[mjx_bench rank {os.environ.get('RANK', '0')}] {message}", file=sys.stderr, flush=True)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text}") from exc
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"need positive integers: {text}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", type=_int_list, default=[1024, 4096, 16384], help="N sweep, per rank")
    p.add_argument("--steps-per-call", type=int, default=100, help="K steps per jitted lax.scan")
    p.add_argument("--warmup-calls", type=int, default=2, help="untimed calls after compile")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions per N")
    p.add_argument("--rep-seconds", type=float, default=1.0, help="target length of one rep")
    p.add_argument("--max-calls-per-rep", type=int, default=1000)
    p.add_argument("--out", type=Path, default=Path("results"), help="folder for the JSON files")
    p.add_argument("--run-id", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds any rank waits at a barrier")
    p.add_argument("--coord", choices=["auto", "gloo", "file"], default="auto")
    p.add_argument("--compile-cache", type=Path, default=None, help="JAX persistent cache dir")
    p.add_argument("--fail-rank", type=int, default=None, help="testing: this rank fails mid-run")
    p.add_argument(
        "--launch",
        type=int,
        default=None,
        metavar="P",
        help="start P ranks of this script (no torch needed; file barriers) and wait for them",
    )
    p.add_argument(
        "--find-max-envs",
        type=int,
        default=None,
        metavar="BOUND",
        help="search the largest N that fits (doubling from the first --envs up to BOUND), one process",
    )
    p.add_argument("--bisect-steps", type=int, default=2, help="search: probes between the last fit and the OOM")
    p.add_argument("--probe-seconds", type=float, default=300.0, help="search: a probe past this ends the search")
    args = p.parse_args(argv)
    if args.find_max_envs is not None and not 0 < args.envs[0] <= args.find_max_envs:
        p.error(f"--find-max-envs {args.find_max_envs} must be at least the first --envs value ({args.envs[0]})")
    if args.find_max_envs is not None and args.launch is not None:
        p.error("--find-max-envs runs one process: drop --launch")
    if args.bisect_steps < 0 or args.probe_seconds <= 0:
        p.error("--bisect-steps must be non-negative and --probe-seconds positive")
    if args.steps_per_call <= 0 or args.reps <= 0 or args.warmup_calls < 0:
        p.error("--steps-per-call and --reps must be positive, --warmup-calls non-negative")
    return args


# ---------------------------------------------------------------- distributed coordination


class Coordinator:
    """Barrier and all-gather across ranks; a single process needs neither."""

    rank = 0
    world_size = 1

    def barrier(self, name: str) -> None:
        """Wait until every rank has reached the barrier called name."""

    def allgather(self, name: str, value: Any) -> list[Any]:
        """Every rank's value, indexed by rank."""
        return [value]

    def fail(self, message: str) -> None:
        """Tell the other ranks this one failed, so they stop waiting."""

    def close(self) -> None:
        """Release resources."""


class FileCoordinator(Coordinator):
    """Barriers through files in a shared folder (one host); a failed rank leaves a marker."""

    def __init__(self, folder: Path, rank: int, world_size: int, timeout: float) -> None:
        self.folder, self.rank, self.world_size, self.timeout = folder, rank, world_size, timeout
        folder.mkdir(parents=True, exist_ok=True)

    def _check_failures(self) -> None:
        for marker in sorted(self.folder.glob("failed-rank*")):
            raise BenchError(f"rank {marker.name[11:]} failed: {marker.read_text().strip()[:300]}")

    def allgather(self, name: str, value: Any) -> list[Any]:
        """Write this rank's value, then wait for every rank's, failing fast on a marker."""
        path = self.folder / f"{name}.rank{self.rank}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(path)
        deadline = time.monotonic() + self.timeout
        while True:
            self._check_failures()
            paths = [self.folder / f"{name}.rank{r}.json" for r in range(self.world_size)]
            if all(p.exists() for p in paths):
                return [json.loads(p.read_text()) for p in paths]
            if time.monotonic() > deadline:
                missing = [r for r, p in enumerate(paths) if not p.exists()]
                raise BenchError(
                    f"timed out after {self.timeout:.0f}s at barrier {name!r} waiting for rank(s) {missing}"
                )
            time.sleep(0.002)

    def barrier(self, name: str) -> None:
        """A barrier is an all-gather of nothing."""
        self.allgather(name, None)

    def fail(self, message: str) -> None:
        """Leave the marker the other ranks look for."""
        with contextlib.suppress(OSError):
            (self.folder / f"failed-rank{self.rank}").write_text(message)


class GlooCoordinator(Coordinator):
    """Barriers through torch.distributed's gloo backend (the torchrun rendezvous), with timeout."""

    def __init__(self, rank: int, world_size: int, timeout: float) -> None:
        from datetime import timedelta

        import torch.distributed as dist

        self.dist, self.rank, self.world_size = dist, rank, world_size
        self.timeout = timedelta(seconds=timeout)
        dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=self.timeout)

    def barrier(self, name: str) -> None:
        """monitored_barrier names the ranks that did not arrive when it times out."""
        try:
            self.dist.monitored_barrier(timeout=self.timeout, wait_all_ranks=True)
        except RuntimeError as exc:
            raise BenchError(f"barrier {name!r} failed: {str(exc).splitlines()[0][:300]}") from exc

    def allgather(self, name: str, value: Any) -> list[Any]:
        """all_gather_object over gloo."""
        out: list[Any] = [None] * self.world_size
        try:
            self.dist.all_gather_object(out, value)
        except RuntimeError as exc:
            raise BenchError(f"all-gather {name!r} failed: {str(exc).splitlines()[0][:300]}") from exc
        return out

    def close(self) -> None:
        """Tear the process group down."""
        with contextlib.suppress(Exception):  # best effort at exit
            self.dist.destroy_process_group()


def dist_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's variables; (0, 0, 1) when absent."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    if world < 1 or not 0 <= rank < world:
        raise BenchError(f"bad RANK={rank} / WORLD_SIZE={world}")
    return rank, local, world


def pin_gpu(local_rank: int) -> str:
    """Make GPU local_rank the only one this process sees; must run before jax is imported."""
    # nvidia-smi numbers GPUs by PCI bus id; make CUDA agree so telemetry index == pinned GPU
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        choices = [v.strip() for v in visible.split(",") if v.strip()]
        if local_rank >= len(choices):
            raise BenchError(f"LOCAL_RANK {local_rank} but CUDA_VISIBLE_DEVICES lists {len(choices)} device(s)")
        chosen = choices[local_rank]
    else:
        chosen = str(local_rank)
    os.environ["CUDA_VISIBLE_DEVICES"] = chosen
    return chosen


def make_coordinator(args: argparse.Namespace, rank: int, world: int) -> Coordinator:
    """Gloo when torch is importable (or asked for), else files in the output folder."""
    if world == 1:
        return Coordinator()
    use_gloo = args.coord == "gloo"
    if args.coord == "auto":
        import importlib.util

        use_gloo = importlib.util.find_spec("torch") is not None and "MASTER_ADDR" in os.environ
    if use_gloo:
        return GlooCoordinator(rank, world, args.timeout)
    run_key = (
        os.environ.get("TORCHELASTIC_RUN_ID") or os.environ.get("LAMBDABENCH_LAUNCH_ID") or args.run_id or "default"
    )
    return FileCoordinator(args.out / f".barrier-{run_key}", rank, world, args.timeout)


# ---------------------------------------------------------------- facts about the machine


def _run(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def gpu_facts(physical: str | None) -> dict[str, Any]:
    """Model, memory, driver, UUID and PCI bus id of the GPUs (or the pinned one) from nvidia-smi."""
    query = "index,name,memory.total,driver_version,uuid,pci.bus_id"
    argv = ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"]
    if physical is not None:
        argv += ["-i", physical]
    text = _run(argv)
    rows = []
    for line in (text or "").splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == 6:
            rows.append(dict(zip(query.split(","), cells, strict=True)))
    facts: dict[str, Any] = {"gpus": rows}
    if rows:
        facts["gpu_model"] = rows[0]["name"]
        facts["driver"] = rows[0]["driver_version"]
        try:
            facts["gpu_memory_mib"] = float(rows[0]["memory.total"])
        except ValueError:
            facts["gpu_memory_mib"] = None
    banner = _run(["nvidia-smi"]) or ""
    for token in banner.split("|"):
        if "CUDA Version:" in token:
            facts["cuda"] = token.split("CUDA Version:")[1].strip().split()[0]
    return facts


def own_gpu_uuid() -> str | None:
    """The GPU UUID nvidia-smi lists this process on (checks the pinning really held)."""
    text = _run(["nvidia-smi", "--query-compute-apps=pid,gpu_uuid", "--format=csv,noheader"])
    for line in (text or "").splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == 2 and cells[0] == str(os.getpid()):
            return cells[1]
    return None


def _ram_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)


def _version(dist_name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------- the benchmark


def build(seed: int, steps_per_call: int) -> tuple[Any, Callable[..., Any], Any]:
    """The MJX model, a batch maker (N envs) and the jitted vmapped K-step rollout."""
    import jax
    import mujoco
    from mujoco import mjx

    m = mujoco.MjModel.from_xml_string(ANT_XML)
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    mx = mjx.put_model(m)
    dx = mjx.put_data(m, d)
    nq, nu = m.nq, m.nu

    def make_batch(n: int) -> tuple[Any, Any]:
        keys = jax.random.split(jax.random.PRNGKey(seed), n + 1)

        # small random joint offsets so the N envs diverge instead of computing one trajectory
        def one(key: Any) -> Any:
            noise = jax.random.uniform(key, (nq,), minval=-0.05, maxval=0.05)
            return dx.replace(qpos=dx.qpos + noise.at[:7].set(0.0))

        return jax.jit(jax.vmap(one))(keys[1:]), jax.random.split(keys[0], n)

    def rollout(model: Any, data: Any, key: Any) -> tuple[Any, Any]:
        def body(carry: tuple[Any, Any], _: Any) -> tuple[tuple[Any, Any], None]:
            data, key = carry
            key, sub = jax.random.split(key)
            ctrl = jax.random.uniform(sub, (nu,), minval=-1.0, maxval=1.0)
            return (mjx.step(model, data.replace(ctrl=ctrl)), key), None

        (data, key), _ = jax.lax.scan(body, (data, key), None, length=steps_per_call)
        return data, key

    step = jax.jit(jax.vmap(rollout, in_axes=(None, 0, 0)), donate_argnums=(1, 2))
    return mx, make_batch, step


def _block(tree: Any) -> None:
    import jax

    jax.block_until_ready(tree)


def bench_one(
    n: int,
    args: argparse.Namespace,
    coord: Coordinator,
    parts: tuple[Any, Callable[..., Any], Any],
) -> dict[str, Any]:
    """Compile, warm up, agree on work per rep, then time args.reps barrier-started reps."""
    import jax.numpy as jnp

    mx, make_batch, step = parts
    data, keys = make_batch(n)
    _block((data, keys))

    t0 = time.perf_counter()
    compiled = step.lower(mx, data, keys).compile()
    compile_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    data, keys = compiled(mx, data, keys)
    _block(data)
    first_call_s = time.perf_counter() - t0

    call_s = first_call_s
    for _ in range(args.warmup_calls):
        t0 = time.perf_counter()
        data, keys = compiled(mx, data, keys)
        _block(data)
        call_s = time.perf_counter() - t0

    # every rank does the same work per rep: the most calls any rank needs to fill rep_seconds
    wanted = max(1, min(args.max_calls_per_rep, math.ceil(args.rep_seconds / max(call_s, 1e-6))))
    calls = int(max(coord.allgather(f"calls-n{n}", wanted)))
    steps_per_rep = n * args.steps_per_call * calls

    reps: list[dict[str, Any]] = []
    window_start = window_end = None
    for i in range(args.reps):
        coord.barrier(f"rep{i}-n{n}")
        if args.fail_rank == coord.rank and i == args.reps // 2:
            raise BenchError(f"--fail-rank {coord.rank}: failing on purpose at N={n}, rep {i}")
        start_wall = time.time()
        t0 = time.perf_counter()
        for _ in range(calls):
            data, keys = compiled(mx, data, keys)
        _block(data)
        seconds = time.perf_counter() - t0
        end_wall = time.time()
        window_start = start_wall if window_start is None else window_start
        window_end = end_wall
        reps.append(
            {
                "env_steps": steps_per_rep,
                "seconds": seconds,
                "env_steps_per_s": steps_per_rep / seconds,
            }
        )
    coord.barrier(f"end-n{n}")
    # steady-state device memory after warm-up and the timed reps (XLA_PYTHON_CLIENT_PREALLOCATE=false)
    mem_steady = _device_mem_mib()

    # tails: each call on its own (synchronised), after the timed reps so the headline rate keeps its
    # unsynchronised calls; per physics step = call time / steps_per_call
    tail_calls = max(20, min(200, calls))
    call_times: list[float] = []
    for _ in range(tail_calls):
        t0 = time.perf_counter()
        data, keys = compiled(mx, data, keys)
        _block(data)
        call_times.append(time.perf_counter() - t0)
    per_step = sorted(t / args.steps_per_call for t in call_times)

    finite = bool(jnp.all(jnp.isfinite(data.qpos)))
    assert window_start is not None and window_end is not None
    return {
        "num_envs": n,
        "steps_per_call": args.steps_per_call,
        "calls_per_rep": calls,
        "compile_s": compile_s,
        "first_call_s": first_call_s,
        "warm_call_s": call_s,
        "reps": reps,
        "env_steps_per_s": aggregate.rep_stats([r["env_steps_per_s"] for r in reps]),
        "total_env_steps": steps_per_rep * len(reps),
        "window_start_unix": window_start,
        "window_end_unix": window_end,
        "window_start_local": aggregate.local_stamp(window_start),
        "window_end_local": aggregate.local_stamp(window_end),
        "state_finite": finite,
        "step_time_p50_s": _percentile(per_step, 50),
        "step_time_p95_s": _percentile(per_step, 95),
        "step_time_p99_s": _percentile(per_step, 99),
        "step_time_samples": len(per_step),
        "gpu_mem_steady_mib": mem_steady,
    }


def _percentile(ordered: list[float], q: float) -> float | None:
    """The q-th percentile of sorted values, linear between the closest ranks."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _device_mem_mib() -> float | None:
    """Bytes the process's first JAX device has in use (its allocator's figure), in MiB; None on the CPU."""
    import jax

    try:
        stats = jax.local_devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - not every backend reports memory
        return None
    used = stats.get("bytes_in_use")
    return float(used) / 2**20 if isinstance(used, (int, float)) else None


def _device_mem_stats_mib() -> dict[str, float]:
    """The allocator's in-use, peak and limit figures of the first JAX device, in MiB (empty on the CPU)."""
    import jax

    try:
        stats = jax.local_devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - not every backend reports memory
        return {}
    names = {"bytes_in_use": "in_use_mib", "peak_bytes_in_use": "peak_mib", "bytes_limit": "limit_mib"}
    return {out: float(stats[k]) / 2**20 for k, out in names.items() if isinstance(stats.get(k), (int, float))}


# ---------------------------------------------------------------- largest num_envs that fits


class ModelledOutOfMemory(RuntimeError):
    """A simulated host's stand-in for XLA's out-of-memory: its memory model (not the CPU) said N does not fit."""

    error_code_string = envsearch.OOM_CODE


def memory_model() -> dict[str, Any] | None:
    """The simulator's GPU-memory model ($LAMBDABENCH_MEMORY_MODEL, a JSON file its hosts carry); None elsewhere."""
    path = os.environ.get("LAMBDABENCH_MEMORY_MODEL")
    if not path:
        return None
    doc = json.loads(Path(path).read_text())
    return doc if isinstance(doc, dict) else None


def modelled_footprint_mib(model: dict[str, Any], n: int) -> float:
    """base + per-env bytes × N, in MiB (the model's own figures)."""
    return float(model["base_mib"]) + float(model["per_env_bytes"]) * n / 2**20


def no_fit_code(exc: BaseException, stage: str) -> str | None:
    """The error code when exc says this size does not fit (JaxRuntimeError.error_code_string, never its text):
    RESOURCE_EXHAUSTED at any stage, NOT_FOUND from the compile (XLA's autotuner out of memory); else None."""
    code = getattr(exc, "error_code_string", None)
    if code == envsearch.OOM_CODE or (code == envsearch.COMPILE_NO_FIT_CODE and stage == "compile"):
        return str(code)
    return None


def probe_envs(n: int, args: argparse.Namespace, parts: tuple[Any, Callable[..., Any], Any]) -> dict[str, Any]:
    """Allocate N envs, compile and run one call; {"fits": False, …} on an out-of-memory, other errors raise."""
    import gc

    mx, make_batch, step = parts
    model = memory_model()
    t0 = time.perf_counter()
    out: dict[str, Any] = {"fits": True}
    stage = "allocate"
    try:
        if model is not None:
            need, limit = modelled_footprint_mib(model, n), float(model["limit_mib"])
            if need > limit:
                raise ModelledOutOfMemory(
                    f"{envsearch.OOM_CODE}: out of memory (modelled): {n} envs need ~{need:.0f} MiB, "
                    f"the modelled GPU allows {limit:.0f} MiB"
                )
            # the CPU stands in for the GPU: step a few envs, report the modelled footprint
            physical = min(n, int(model.get("stand_in_envs") or 16))
            out.update(modelled=True, gpu_mem_mib=need, physical_envs=physical)
        else:
            physical = n
        data, keys = make_batch(physical)
        _block((data, keys))
        stage = "compile"
        compiled = step.lower(mx, data, keys).compile()
        stage = "run"
        data, keys = compiled(mx, data, keys)
        _block(data)
        if model is None:
            mem = _device_mem_stats_mib()
            out.update(gpu_mem_mib=mem.get("in_use_mib"), gpu_mem_peak_mib=mem.get("peak_mib"))
            out["gpu_mem_limit_mib"] = mem.get("limit_mib")
        del data, keys, compiled
    except Exception as exc:  # noqa: BLE001 - an out-of-memory is an outcome; anything else still raises
        code = no_fit_code(exc, stage)
        if code is None:
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        out = {
            "fits": False,
            "error_type": type(exc).__name__,
            "error_code": code,
            "error_stage": stage,
            "modelled": isinstance(exc, ModelledOutOfMemory),
            "error_line": first[:300],
        }
    finally:
        gc.collect()  # the failed or finished size's buffers go before the next size allocates
    out["seconds"] = time.perf_counter() - t0
    _log(f"probe N={n}: {'fits' if out['fits'] else out['error_code']} ({out['seconds']:.1f}s)")
    return out


def find_max_envs(args: argparse.Namespace, parts: tuple[Any, Callable[..., Any], Any]) -> dict[str, Any]:
    """The bounded search (envsearch.search) over probe_envs, with the memory model it ran under."""
    result: dict[str, Any] = envsearch.search(
        args.envs[0],
        args.find_max_envs,
        args.bisect_steps,
        lambda n: probe_envs(n, args, parts),
        probe_seconds=args.probe_seconds,
    )
    model = memory_model()
    result["steps_per_call"] = args.steps_per_call
    result["memory_model"] = model
    result["allocator"] = {k: os.environ.get(k) for k in ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_CLIENT_MEM_FRACTION")}
    return result


def compile_cache_state(folder: str | None) -> dict[str, Any]:
    """The persistent JAX compilation cache before the run: its folder, entries, and cold/warm/off."""
    if not folder:
        return {"dir": None, "entries_before": 0, "state": "off"}
    path = Path(folder)
    entries = sum(1 for p in path.iterdir() if p.is_file()) if path.is_dir() else 0
    return {"dir": str(path), "entries_before": entries, "state": "warm" if entries else "cold"}


def run(args: argparse.Namespace) -> int:
    """The whole benchmark for this process; returns the exit code."""
    rank, local_rank, world = dist_env()
    physical = pin_gpu(local_rank) if world > 1 else None
    # one process per GPU must not grab 75% up front, and peak memory should mean something
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    args.out.mkdir(parents=True, exist_ok=True)
    run_id = args.run_id or os.environ.get("TORCHELASTIC_RUN_ID") or uuid.uuid4().hex[:12]
    started = _now_iso()
    coord = make_coordinator(args, rank, world)
    try:
        t0 = time.perf_counter()
        try:
            import jax
            import mujoco  # noqa: F401
            from mujoco import mjx  # noqa: F401
        except ImportError as exc:
            _log(f"cannot import jax/mujoco.mjx ({exc}); install: pip install 'jax[cuda12]' mujoco-mjx")
            coord.fail(f"import failed: {exc}")
            return 3
        # --compile-cache, else JAX's own JAX_COMPILATION_CACHE_DIR; cold vs warm is what the folder held
        cache_dir = (
            str(args.compile_cache)
            if args.compile_cache is not None
            else (os.environ.get("JAX_COMPILATION_CACHE_DIR") or None)
        )
        cache = compile_cache_state(cache_dir)
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", cache_dir)
            # JAX skips entries that compiled in under a second: keep every compile (ours take 10-16 s)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        import_s = time.perf_counter() - t0
        devices = jax.devices()
        backend = jax.default_backend()
        facts = gpu_facts(physical) if backend == "gpu" else {"gpus": []}
        gpu = facts["gpus"][0] if facts["gpus"] and world > 1 else None
        device_id = (gpu or {}).get("uuid") or (f"{backend}:{rank}" if backend == "gpu" else None)
        _log(f"backend={backend} devices={[str(d) for d in devices]} pinned={physical}")

        t0 = time.perf_counter()
        parts = build(args.seed, args.steps_per_call)
        build_s = time.perf_counter() - t0

        runs = []
        searched = find_max_envs(args, parts) if args.find_max_envs is not None else None
        for n in args.envs if searched is None else []:
            _log(f"N={n}: compiling")
            result = bench_one(n, args, coord, parts)
            s = result["env_steps_per_s"]
            _log(
                f"N={n}: compile {result['compile_s']:.1f}s, {s['mean']:.4g} env-steps/s "
                f"(std {s['std']:.3g}, peak {s['peak']:.4g}, {s['samples']} reps)"
            )
            runs.append(result)
            # a run cut off by a timeout still leaves the sizes it finished
            _write_json(args.out / f"mjx-partial-rank{rank}.json", {"runs": runs})

        seen_on = own_gpu_uuid() if backend == "gpu" else None
        if world > 1 and gpu and seen_on and seen_on != gpu.get("uuid"):
            raise BenchError(f"pinned GPU {gpu.get('uuid')} but nvidia-smi shows us on {seen_on}")

        result_doc: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "status": "ok",
            "simulated": os.environ.get("LAMBDABENCH_SIMULATED", "") not in ("", "0", "false"),
            "run": {
                "run_id": run_id,
                "playbook": "mjx-locomotion",
                "task": "mjx-ant",
                "started_at": started,
                "finished_at": _now_iso(),
                "num_envs": max(args.envs),
                "vars": {
                    "envs": args.envs,
                    "steps_per_call": args.steps_per_call,
                    "warmup_calls": args.warmup_calls,
                    "reps": args.reps,
                    "rep_seconds": args.rep_seconds,
                    "seed": args.seed,
                },
            },
            "versions": {
                "python": platform.python_version(),
                "jax": _version("jax"),
                "jaxlib": _version("jaxlib"),
                "mujoco": _version("mujoco"),
                "mujoco_mjx": _version("mujoco-mjx"),
                "jax_backend": backend,
                "cuda": facts.get("cuda"),
                "driver": facts.get("driver"),
            },
            "hardware": {
                "gpu_model": facts.get("gpu_model")
                or (getattr(devices[0], "device_kind", None) if backend == "gpu" else None),
                "gpu_count": world if backend == "gpu" else 0,
                "gpu_memory_mib": facts.get("gpu_memory_mib"),
                "vcpus": os.cpu_count(),
                "ram_gib": _ram_gib(),
                "jax_devices": [str(d) for d in devices],
                "nvidia_smi": facts["gpus"],
            },
            "startup_s": {
                "import": import_s,
                "model_build": build_s,
                "compile": sum(r["compile_s"] for r in runs),
            },
            "compile_cache": cache,
            "warmup_rule": f"compile + 1 first call + {args.warmup_calls} warm-up call(s) untimed",
            "dist": {
                "rank": rank,
                "local_rank": local_rank,
                "world_size": world,
                "pinned_gpu": physical,
                "device_id": device_id,
                "device_seen_by_nvidia_smi": seen_on,
                "coordination": type(coord).__name__,
            },
            "runs": runs,
            "notes": [],
        }
        if searched is not None:
            result_doc["max_envs"] = searched
            result_doc["run"]["vars"]["find_max_envs"] = args.find_max_envs
        name = "mjx-result.json" if world == 1 else f"mjx-rank{rank}.json"
        _write_json(args.out / name, result_doc)

        if world > 1:
            everyone = coord.allgather("results", result_doc)
            if rank == 0:
                combined = dict(result_doc)
                combined["aggregate"] = aggregate.aggregate_ranks(everyone)
                combined["ranks"] = [r["dist"] for r in everyone]
                combined["hardware"] = dict(result_doc["hardware"], gpu_count=world)
                combined["dist"] = dict(result_doc["dist"], device_id=None)
                _write_json(args.out / "mjx-result.json", combined)
                for total in combined["aggregate"]["runs"]:
                    rates = ", ".join(f"{p['env_steps_per_s']['mean']:.4g}" for p in total["per_rank"])
                    _log(
                        f"TOTAL N={total['num_envs']}x{world}: "
                        f"{total['env_steps_per_s']['mean']:.4g} env-steps/s "
                        f"(ranks: {rates}; window check {total['window_env_steps_per_s']:.4g})"
                    )
            coord.barrier("done")
        return 0
    except Exception as exc:  # noqa: BLE001 - every failure must become a non-zero exit
        message = f"rank {rank} failed: {type(exc).__name__}: {exc}"
        _log(message)
        traceback.print_exc(file=sys.stderr)
        coord.fail(message)
        return 4
    finally:
        coord.close()


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
    tmp.replace(path)


def _without_launch(argv: list[str]) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--launch":
            skip = True
        elif not item.startswith("--launch="):
            out.append(item)
    return out


def launch(argv: list[str], procs: int, poll_s: float = 0.1) -> int:
    """A minimal torchrun: P ranks of this script; the first rank to fail stops the rest."""
    if procs < 1:
        _log("--launch needs at least 1 process")
        return 2
    launch_id = uuid.uuid4().hex[:12]
    children: list[subprocess.Popen[bytes]] = []
    for rank in range(procs):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(procs),
            LOCAL_WORLD_SIZE=str(procs),
            LAMBDABENCH_LAUNCH_ID=launch_id,
        )
        env.pop("MASTER_ADDR", None)  # no rendezvous: these ranks meet through files
        children.append(subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *argv], env=env))
    failed: tuple[int, int] | None = None
    while failed is None and any(c.poll() is None for c in children):
        for rank, child in enumerate(children):
            code = child.poll()
            if code not in (None, 0):
                failed = (rank, code)
                break
        time.sleep(poll_s)
    if failed is None:
        codes = [c.wait() for c in children]
        bad = [(r, c) for r, c in enumerate(codes) if c != 0]
        failed = bad[0] if bad else None
    if failed is not None:
        rank, code = failed
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        _log(f"launch failed: rank {rank} exited with code {code}; stopped the other ranks")
        return code if code > 0 else 4
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    if args.launch is not None:
        return launch(_without_launch(raw), args.launch)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
