"""Ledgers for report tests, written through the Ledger API the way the run wing writes them.

The shapes follow what real runs record: rsl_rl logs Train/mean_reward once per iteration of
num_envs × num_steps_per_env steps (leggedrobotics/rsl_rl c281c32, rsl_rl/utils/logger.py:225);
nvidia-smi samples utilisation, memory and power; the portable MJX benchmark measures several
numbers of environments per run. The figures are made up for the tests (guess, by design): they
are inputs with known answers, not measurements of any GPU.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from lambdabench.ledger import Ledger, MetricKey

T0 = 1_760_000_000.0
# env-steps per env per PPO iteration: num_steps_per_env = 24 in Isaac Lab's ANYmal-D runner config
# (isaac-sim/IsaacLab f0ca71b, source/isaaclab_tasks/.../velocity/config/anymal_d/agents/rsl_rl_ppo_cfg.py:13)
STEPS_PER_ENV = 24


@dataclass(frozen=True)
class Gpu:
    """A made-up GPU type for the tests: price, training throughput, power and learning plateau."""

    name: str
    cents_per_hour: int
    env_steps_per_s: float
    watts: float
    memory_mib: float = 14_000.0
    plateau: float = 24.0


A10 = Gpu("gpu_1x_a10", 75, 40_000.0, 140.0)
A100 = Gpu("gpu_1x_a100_sxm4", 129, 95_000.0, 330.0, 22_000.0)
H100 = Gpu("gpu_1x_h100_pcie", 249, 150_000.0, 290.0, 22_000.0)


@dataclass
class Timing:
    """Seconds of each stretch of a run."""

    boot: float = 150.0
    ssh: float = 25.0
    setup: float = 240.0
    pull: float = 30.0
    teardown: float = 15.0
    gone_after: float = 40.0


@dataclass
class Made:
    """What a builder wrote, for the tests' expected values."""

    sweep_id: int
    runs: dict[int, dict[str, float]] = field(default_factory=dict)


def add_run(
    led: Ledger,
    sweep: int,
    gpu: Gpu,
    *,
    start: float,
    bench_s: float,
    repeat: int = 1,
    timing: Timing | None = None,
    name: str,
    nodes: int = 1,
    status: str = "succeeded",
    workload: str = "isaaclab-train",
    variables: dict[str, str] | None = None,
) -> tuple[int, dict[str, float]]:
    """One run with an instance per node and every lifecycle timestamp; returns (run id, times)."""
    timing = timing or Timing()
    run = led.add_run(
        sweep,
        instance_type=gpu.name,
        region="us-east-1",
        workload=workload,
        params={
            "repeat": repeat,
            **({"nodes": nodes} if nodes > 1 else {}),
            **({"vars": variables} if variables is not None else {}),
        },
    )
    led.set_run_status(run, "running", ts=start)
    times: dict[str, float] = {}
    t = start
    times["launch_requested"] = t
    times["launch_accepted"] = t + 2
    times["first_active"] = t + 2 + timing.boot
    times["ssh_ready"] = times["first_active"] + timing.ssh
    times["setup_start"] = times["ssh_ready"]
    times["setup_end"] = times["setup_start"] + timing.setup
    times["bench_start"] = times["setup_end"]
    times["bench_end"] = times["bench_start"] + bench_s
    times["pull_end"] = times["bench_end"] + timing.pull
    times["terminate_called"] = times["pull_end"] + timing.teardown
    times["gone"] = times["terminate_called"] + timing.gone_after
    for node in range(nodes):
        inst = f"{name}-n{node}" if nodes > 1 else name
        led.reserve_instance(run, inst, gpu.name, "us-east-1", gpu.cents_per_hour, ts=t)
        led.record_launch_accepted(inst, "id-" + inst, times["launch_accepted"])
        for event in (
            "first_active",
            "ssh_ready",
            "setup_start",
            "setup_end",
            "bench_start",
            "bench_end",
            "pull_end",
            "terminate_called",
            "gone",
        ):
            led.mark(inst, event, times[event] + node)  # nodes a second apart
    if nodes > 1:
        led.record_metric(run, "nodes", float(nodes), source="multinode")
    led.set_run_status(run, status, ts=times["gone"])
    return run, times


def reward_curve(gpu: Gpu, *, iterations: int, num_envs: int, plateau: float, seed: int) -> list[tuple[float, float]]:
    """(env-steps, mean reward) per logged iteration: a saturating rise with a little noise."""
    rng = random.Random(seed)
    steps_per_it = num_envs * STEPS_PER_ENV
    tau = 18e6
    out = []
    for it in range(1, iterations + 1):
        steps = it * steps_per_it
        mean = plateau - (plateau + 0.6) * math.exp(-steps / tau)
        out.append((float(steps), mean + rng.gauss(0.0, 0.25)))
    return out


def training_sweep(
    led: Ledger,
    name: str = "anymal-flat",
    gpus: tuple[Gpu, ...] = (A10, H100, A100),
    *,
    repeats: int = 3,
    iterations: int = 600,
    num_envs: int = 4096,
    t0: float = T0,
    seed: int = 1,
    weak: tuple[str, int] | None = (A10.name, 3),
    telemetry: bool = True,
    simulated: bool = True,
    type_order: list[str] | None = None,
) -> Made:
    """An Isaac Lab training sweep: reward, throughput and telemetry series plus the metrics.

    weak=(type, repeat) gives that run a lower plateau, so it never reaches a 90 % target."""
    sweep = led.create_sweep(
        name,
        simulated=simulated,
        plan={
            "playbook": "isaaclab-train",
            "type_order": [g.name for g in gpus] if type_order is None else type_order,
        },
    )
    made = Made(sweep)
    rng = random.Random(seed)
    start = t0
    for gpu in gpus:
        for repeat in range(1, repeats + 1):
            rate = gpu.env_steps_per_s * rng.uniform(0.96, 1.04)
            total_steps = iterations * num_envs * STEPS_PER_ENV
            bench_s = total_steps / rate
            run, times = add_run(
                led,
                sweep,
                gpu,
                start=start,
                bench_s=bench_s,
                repeat=repeat,
                name=f"lb-{name}-{gpu.name}-{repeat}",
            )
            start += 7.0
            plateau = gpu.plateau * rng.uniform(0.98, 1.02)
            if weak == (gpu.name, repeat):
                plateau *= 0.8
            curve = reward_curve(
                gpu,
                iterations=iterations,
                num_envs=num_envs,
                plateau=plateau,
                seed=seed * 1000 + run,
            )
            b0 = times["bench_start"] + 20.0  # first iteration after the simulator starts
            per_step = (bench_s - 20.0) / total_steps
            reward = [(b0 + s * per_step, s, r) for s, r in curve[::3]]
            led.record_series(run, "reward", reward, unit="", source="tensorboard")
            led.record_series(
                run,
                "env_steps_per_s",
                [(b0 + s * per_step, s, rate * rng.uniform(0.98, 1.02)) for s, _r in curve[::10]],
                unit="steps/s",
                source="tensorboard",
            )
            led.record_metric(run, MetricKey.ENV_STEPS_PER_S, rate, unit="steps/s", source="tensorboard")
            led.record_metric(run, MetricKey.ENV_STEPS, float(total_steps), unit="steps", source="tensorboard")
            led.record_metric(run, "reward", reward[-1][2], source="tensorboard")
            led.record_metric(run, "num_envs", float(num_envs), source="tensorboard")
            if telemetry:
                util, mem, power = telemetry_series(gpu, times, seed=run)
                led.record_series(run, "gpu_util_pct", util, unit="%", source="nvidia-smi")
                led.record_series(run, "gpu_mem_mib", mem, unit="MiB", source="nvidia-smi")
                led.record_series(run, "gpu_power_w", power, unit="W", source="nvidia-smi")
                mean_util = sum(v for _t, _x, v in util) / len(util)
                energy = sum(v for _t, _x, v in power) * 5.0 / 3600.0
                led.record_metric(run, MetricKey.GPU_UTIL_PCT, mean_util, unit="%", source="nvidia-smi")
                led.record_metric(run, MetricKey.ENERGY_WH, energy, unit="Wh", source="nvidia-smi")
            made.runs[run] = {
                **times,
                "rate": rate,
                "plateau": plateau,
                "bench_s": bench_s,
                "final_reward": reward[-1][2],
                "price": gpu.cents_per_hour,
            }
    return made


Points = list[tuple[float | None, float | None, float]]


def telemetry_series(gpu: Gpu, times: dict[str, float], *, seed: int) -> tuple[Points, Points, Points]:
    """nvidia-smi every 5 s from the sampler's start (ssh ready) to the pull: idle through set-up,
    busy through the benchmark."""
    rng = random.Random(seed)
    util: Points = []
    mem: Points = []
    power: Points = []
    t = times["ssh_ready"]
    while t <= times["pull_end"]:
        busy = times["bench_start"] + 15 <= t <= times["bench_end"]
        util.append((t, None, min(100.0, rng.gauss(94, 2.5)) if busy else max(0.0, rng.gauss(2, 1))))
        mem.append((t, None, gpu.memory_mib * rng.uniform(0.97, 1.0) if busy else 480.0))
        power.append((t, None, gpu.watts * rng.uniform(0.92, 1.02) if busy else 55.0 + rng.uniform(0, 6)))
        t += 5.0
    return util, mem, power


def scaling_sweep(
    led: Ledger,
    name: str = "mjx-scaling",
    *,
    t0: float = T0 + 86_400,
    repeats: int = 2,
    seed: int = 7,
    simulated: bool = True,
) -> Made:
    """The portable MJX benchmark: env-steps/s at several numbers of envs per run, saturating
    at a different N per type; plus one H100 SXM model at 1, 8 and 16 GPUs."""
    gpus = {  # type: (peak env-steps/s, N at half the peak)
        "gpu_1x_a10": (2.0e6, 256.0),
        "gpu_1x_h100_pcie": (9.0e6, 2048.0),
    }
    sweep = led.create_sweep(
        name,
        simulated=simulated,
        plan={
            "playbook": "mjx-locomotion",
            "type_order": [*gpus, "gpu_1x_h100_sxm5", "gpu_8x_h100_sxm5"],
        },
    )
    made = Made(sweep)
    rng = random.Random(seed)
    prices = {
        "gpu_1x_a10": 75,
        "gpu_1x_h100_pcie": 249,
        "gpu_1x_h100_sxm5": 329,
        "gpu_8x_h100_sxm5": 2392,
    }
    start = t0
    for itype, (peak, half) in gpus.items():
        for repeat in range(1, repeats + 1):
            gpu = Gpu(itype, prices[itype], peak, 200.0)
            run, _ = add_run(
                led,
                sweep,
                gpu,
                start=start,
                bench_s=180.0,
                repeat=repeat,
                name=f"lb-{name}-{itype}-{repeat}",
            )
            start += 5.0
            points = []
            for n in (256, 1024, 4096, 16384, 65536):
                rate = peak * n / (n + half) * rng.uniform(0.97, 1.03)
                points.append((None, float(n), rate))
            led.record_series(run, "env_steps_per_s_by_num_envs", points, unit="steps/s", source="mjx")
            best = points[-1]
            led.record_metric(run, MetricKey.ENV_STEPS_PER_S, best[2], unit="steps/s", source="mjx")
            led.record_metric(run, MetricKey.ENV_STEPS, best[2] * 120.0, unit="steps", source="mjx")
            led.record_metric(run, "num_envs", 65536.0, source="mjx")
            made.runs[run] = {"peak": peak, "half": half}
    # one model at three GPU counts: 1×, 8× one node, 8× two nodes
    for itype, nodes, per_gpu_eff in (
        ("gpu_1x_h100_sxm5", 1, 1.0),
        ("gpu_8x_h100_sxm5", 1, 0.93),
        ("gpu_8x_h100_sxm5", 2, 0.85),
    ):
        gpu = Gpu(itype, prices[itype], 0.0, 600.0)
        run, _ = add_run(
            led,
            sweep,
            gpu,
            start=start,
            bench_s=180.0,
            nodes=nodes,
            name=f"lb-{name}-{itype}-{nodes}",
        )
        start += 5.0
        gpus_total = int(itype.split("_")[1].rstrip("x")) * nodes
        rate = 11.0e6 * gpus_total * per_gpu_eff
        led.record_metric(run, "gpu_count", float(gpus_total), source="multinode")
        led.record_metric(run, MetricKey.ENV_STEPS_PER_S, rate, unit="steps/s", source="mjx")
        made.runs[run] = {"gpus": float(gpus_total), "rate": rate}
    return made
