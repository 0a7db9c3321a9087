"""The report's data: one line per run, one per GPU type, and the Report that holds them."""

from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from lambdabench.errors import UsageError
from lambdabench.report.reference import ReferenceFigure
from lambdabench.report.stats import Stats

FORMATS = ("table", "json", "csv", "md", "html")
SIMULATED_NOTE = "SIMULATED: these runs used the built-in Lambda Cloud simulator; times and costs are not real."
COST_NOTE = (
    "Cost: policy estimate bills first active → terminate (current Lambda docs); upper bound bills"
    " launch accepted → gone. Per-minute, rounded up, at the price the instance carries (the catalog's"
    " at launch until the API showed it). Excludes sales tax, which Lambda adds by billing address."
)

# the package's render(): lambdabench/report/__init__.py sets it (the renderers import this module)
RENDERER: Callable[..., str] | None = None
_REMOTE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:)?//")
Kind = Literal[
    "text",
    "int",
    "money",
    "small_money",
    "rate",
    "seconds",
    "pct",
    "pct_ratio",
    "float",
    "wh",
    "bool",
]


# --------------------------------------------------------------------------------------------------
# curves: what build_report() derives from the ledger's series table


@dataclass(frozen=True)
class Spread:
    """One measure over a group's runs: count, mean, sample std (None below two runs), min, max."""

    n: int
    mean: float
    std: float | None
    lo: float
    hi: float


@dataclass(frozen=True)
class RewardPoint:
    """One point of a learning curve, placed on the buyer's axes."""

    elapsed_s: float | None  # since the run's billing start (its first instance active)
    usd: Decimal | None  # what the run had been billed had it stopped here (cost.py's rules)
    env_steps: float | None
    reward: float
    # dollars accrued by the second at the run's price (no per-minute rounding): the charts' dollars axis
    usd_accrued: float | None = None


@dataclass(frozen=True)
class Phase:
    """A stretch of a run's billed time, in seconds since its billing start."""

    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Track:
    """One telemetry curve of a run over time since billing start."""

    name: str
    unit: str
    points: tuple[tuple[float, float], ...]  # (elapsed_s, value)


@dataclass(frozen=True)
class RunCurves:
    """A run's recorded curves, on time since billing start, for the charts."""

    run_id: int
    group: str
    repeat: int | None
    reward: tuple[RewardPoint, ...] = ()
    by_num_envs: tuple[tuple[float, float], ...] = ()  # (number of envs, env-steps/s)
    telemetry: tuple[Track, ...] = ()
    phases: tuple[Phase, ...] = ()
    billed_s: float | None = None  # billing start to billing end (None while still up)


@dataclass(frozen=True)
class RewardTarget:
    """The reward that time- and cost-to-reward are measured to, and how it was chosen."""

    value: float
    rule: str  # one sentence for the report
    given: bool  # set by the user rather than derived from the runs


@dataclass(frozen=True)
class ScalingPoint:
    """Throughput at one x (number of envs, or GPUs) over the runs that measured it."""

    x: float
    rate: Spread


@dataclass(frozen=True)
class ScalingCurve:
    """env-steps/s against number of envs (per group) or GPU count (per GPU model)."""

    label: str
    points: tuple[ScalingPoint, ...]
    peak: float  # the highest mean rate
    saturates_at: float | None  # smallest x whose mean reaches the report's fraction of peak


# --------------------------------------------------------------------------------------------------
# rows


LOCK_GPUS = "env_lock_gpus"  # ingest's metric: how many GPUs a run's environment lock lists
# a GPU's hardware settings from its environment lock: key → (words, unit); ingest records each as gpu<i>_<key>
GPU_SETTINGS: Mapping[str, tuple[str, str]] = {
    "power_limit_w": ("power limit", "W"),
    "max_sm_mhz": ("max SM clock", "MHz"),
    "max_memory_mhz": ("max memory clock", "MHz"),
}


@dataclass(frozen=True)
class GpuSetting:
    """One GPU of a run as its environment lock recorded it; None: unknown (nvidia-smi answered N/A)."""

    index: int
    model: str  # nvidia-smi's name, "" when the lock gave none
    power_limit_w: float | None = None
    max_sm_mhz: float | None = None
    max_memory_mhz: float | None = None

    def value(self, key: str) -> float | None:
        found = getattr(self, key)
        return None if found is None else float(found)


def gpu_words(gpus: tuple[GpuSetting, ...]) -> str | None:
    """A run's GPUs for people: "1 × NVIDIA H100 80GB HBM3: power limit 500 W, …"; None when none were recorded."""
    if not gpus:
        return None
    alike: dict[str, int] = {}
    for g in gpus:
        text = f"{g.model or 'unknown model'}: " + ", ".join(
            f"{words} {'unknown' if g.value(k) is None else f'{g.value(k):g} {unit}'}"
            for k, (words, unit) in GPU_SETTINGS.items()
        )
        alike[text] = alike.get(text, 0) + 1
    return "; ".join(f"{n} × {text}" for text, n in alike.items())


@dataclass(frozen=True)
class RunReport:
    """One run's line: what it cost, how fast it ran, where the time went."""

    run_id: int
    sweep_id: int
    instance_type: str
    region: str | None
    workload: str | None
    status: str
    simulated: bool
    instances: int
    failed_launches: int
    billed_minutes: int
    upper_minutes: int
    cost_usd: Decimal
    upper_cost_usd: Decimal
    failed_launch_upper_usd: Decimal
    price_usd_per_hour: Decimal | None
    still_billing: bool
    env_steps: float | None
    env_steps_per_s: float | None
    usd_per_million_steps: Decimal | None
    wall_s: float | None
    boot_s: float | None
    ssh_wait_s: float | None
    setup_s: float | None
    image_pull_s: float | None
    container_start_s: float | None
    bench_s: float | None
    pull_s: float | None
    gpu_util_pct: float | None
    energy_wh: float | None
    errors: int
    nodes: int = 1
    env_steps_per_s_per_node: float | None = None
    scaling_efficiency: float | None = None
    reward: float | None = None  # final mean reward: the curve's last point, else the metric
    base_type: str = ""  # the Lambda type name alone (instance_type may add "×N nodes")
    group: str = ""  # the group this run is folded into (its column in the report)
    sweep_name: str | None = None
    repeat: int | None = None
    gpu_count: int | None = None  # all GPUs of the run, every node
    num_envs: float | None = None
    reward_reached: bool | None = None  # None: no reward curve, or no target
    time_to_reward_s: float | None = None
    cost_to_reward_usd: Decimal | None = None
    steps_to_reward: float | None = None
    gpu_util_timed_pct: float | None = None  # mean GPU utilisation inside the timed windows (MJX)
    wh_per_million_steps: float | None = None  # GPU energy per million env-steps, timed windows (MJX)
    seeds: int = 1  # benchmark passes on this run's instance (--seeds)
    # per measure, one value per seed when the run measured several (ledger series "seed:<key>")
    seed_samples: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    provenance: str = ""  # where the figures came from: this ledger, or a merged bundle's origin
    # the benchmark it ran: playbook and values (--set over the shipped playbook's defaults), the seed left out
    benchmark: Mapping[str, str] = field(default_factory=dict)
    # what lambdabench itself added to the bill (SSH wait after active, preflight, ingest and
    # the gap to the terminate call), the cache's state at set-up, and the run whose instance this one reused
    tool_added_s: float | None = None
    cache: str | None = None  # warm | cold (None: no --cache)
    reused_from: int | None = None  # run id
    reuse_runs: int = 1  # runs on this run's instance (--reuse), this one included
    env_lock: str | None = None  # the environment lock's software SHA-256, first 12 hex digits
    gpus: tuple[GpuSetting, ...] = ()  # each GPU's power limit and max clocks, from the environment lock
    # Isaac Lab 3's own figure (isaaclab3-train benchmark=isaaclab): its TrainingBundle's total_fps mean
    isaaclab_env_steps_per_s: float | None = None

    @property
    def gpu_settings(self) -> str | None:
        """The run's GPUs' power limit and max clocks, in words (the run column `gpu_settings`)."""
        return gpu_words(self.gpus)


@dataclass(frozen=True)
class GroupReport:
    """One GPU type's column: sums for counts and money, means for times and rates."""

    instance_type: str
    simulated: bool
    runs: int
    succeeded: int
    failures: int
    failed_launches: int
    billed_minutes: int
    upper_minutes: int
    cost_usd: Decimal
    upper_cost_usd: Decimal
    usd_per_run: Decimal | None
    usd_per_hour: Decimal | None  # effective: cost over billed hours
    env_steps_per_s: float | None
    usd_per_million_steps: Decimal | None  # total cost over total steps, runs with steps only
    wall_s: float | None
    boot_s: float | None
    ssh_wait_s: float | None
    setup_s: float | None
    image_pull_s: float | None
    container_start_s: float | None
    bench_s: float | None
    pull_s: float | None
    gpu_util_pct: float | None
    energy_wh: float | None
    nodes: int = 1
    env_steps_per_s_per_node: float | None = None
    scaling_efficiency: float | None = None
    reward: float | None = None
    label: str = ""  # the column heading: the type, plus the sweep when sweeps are compared
    sweep_id: int | None = None  # set when sweeps are compared side by side
    spreads: Mapping[str, Spread] = field(default_factory=dict)  # per measure, over the runs
    reward_runs: int = 0  # runs with a reward curve
    reward_reached: int = 0  # of those, runs that reached the target
    gpu_util_timed_pct: float | None = None
    wh_per_million_steps: float | None = None
    time_to_reward_s: float | None = None  # mean over the runs that reached it
    cost_to_reward_usd: Decimal | None = None
    steps_to_reward: float | None = None
    peak_env_steps_per_s: float | None = None  # highest mean over the number-of-envs sweep
    saturation_num_envs: float | None = None  # fewest envs reaching the saturation fraction of peak
    # per measure (STAT_KEYS), over every seed of every repeat: median, IQM, 95 % bootstrap interval
    stats: Mapping[str, Stats] = field(default_factory=dict)
    tool_added_s: float | None = None  # mean per run
    cache: str | None = None  # "1 of 2 warm"
    setup_cold_s: float | None = None
    setup_warm_s: float | None = None
    reuse: str | None = None  # "3 runs on 1 instance"
    saved_usd: Decimal | None = None  # estimated: set-up a warm cache skipped, boot and set-up reuse skipped
    isaaclab_env_steps_per_s: float | None = None  # Isaac Lab's own total_fps, mean over the runs that have it

    @property
    def reached_target(self) -> str | None:
        """'2 of 3' runs reached the reward target; None when no run had a reward curve."""
        return f"{self.reward_reached} of {self.reward_runs}" if self.reward_runs else None


@dataclass(frozen=True)
class ReferencePoint:
    """A published figure for the same task, number of envs and backend as a type's runs, beside their mean."""

    group: str
    figure: ReferenceFigure
    measured: float | None  # the type's mean env-steps/s over those runs


@dataclass(frozen=True)
class CompatCell:
    """One GPU type × backend × task class of the report's runs: what ran, what failed, and why."""

    gpu_type: str
    backend: str
    task_class: str
    succeeded: int
    failed: int
    last_error: str | None


@dataclass(frozen=True)
class StartupRow:
    """One start-up stage of a type: seconds and their price on a cold start, and on warm reruns (--seeds)."""

    group: str
    stage: str  # a STARTUP_STAGES key
    cold_s: float | None
    cold_usd: float | None
    warm_s: float | None  # mean over the runs' later passes on the same instance; None without --seeds
    warm_usd: float | None
    runs: int
    note: str = ""  # no figure: why (the stage is unknown, or does not apply to these runs)
    cold_from: str = ""  # which pass: "pass 1, seed 42" (--seeds), "the run's only pass"
    warm_from: str = ""  # "passes 2-3, seeds 43, 44"; empty without a warm figure


@dataclass(frozen=True)
class IsaacLabFigure:
    """One run's two env-steps/s figures, each with its provenance: Isaac Lab's own bundle and lambdabench's."""

    group: str
    run_id: int
    provenance: str  # "Isaac Lab benchmark total_fps, schema 1.4"
    isaaclab_env_steps_per_s: float
    lambdabench_env_steps_per_s: float | None  # "lambdabench wall clock"
    startup_s: tuple[tuple[str, float], ...]  # Isaac Lab's start-up phases (StartupTime), in its order
    iteration_time_s: float | None
    # --seeds: each pass's figure, the two figures above being their means (empty: one pass)
    isaaclab_passes: tuple[float, ...] = ()
    lambdabench_passes: tuple[float, ...] = ()
    startup_from: str = ""  # which pass its start-up phases are from: "pass 1, seed 42" (--seeds)


@dataclass(frozen=True)
class TailRow:
    """One type at one number of envs: step-time percentiles after warm-up, steady GPU memory (run means)."""

    group: str
    num_envs: float
    runs: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    gpu_mem_mib: float | None


@dataclass(frozen=True)
class MaxEnvsRow:
    """One type's largest-num_envs search of one playbook (sweep --find-max-envs): over its runs, the largest N that
    fit on every run, the smallest N that ran out of memory, the bound, and the out-of-memory's type, code, stage."""

    group: str
    largest_fit: float | None
    first_oom: float | None  # None: the bound fit (or the search ended on its time cap)
    bound: float | None
    evidence: str  # e.g. "mjx JaxRuntimeError RESOURCE_EXHAUSTED at run"
    modelled: bool  # the simulator's memory model, not a GPU
    runs: int
    workload: str = ""  # the playbook that searched (e.g. isaaclab3-train)
    backend: str = ""  # its simulation backend (compat.backend_of: MJX, kitless Newton, ...)
    footprint: str = ""  # what decides its GPU memory besides N (compat.footprint_of), e.g. "task=…, library=rsl_rl"
    ended_early: float | None = None  # the smallest N whose probe ended a search before memory (its cap, a failure)
    ended_why: str = ""  # e.g. "the probe at 1,048,576 envs ran past its 170 s cap"


@dataclass(frozen=True)
class Comparison:
    """Two types on one figure: how far apart their means are, and whether that beats their spread."""

    measure: str  # a STAT_KEYS key
    a: str  # group labels
    b: str
    a_mean: float
    b_mean: float
    separated: bool | None  # 95 % intervals apart (True), overlapping (False), unknown (None: < 2 samples)

    @property
    def verdict(self) -> str:
        if self.separated is None:
            return "spread unknown (fewer than 2 samples on a side)"
        if self.separated:
            return "larger than their spread (95% intervals do not overlap)"
        return "within their spread (95% intervals overlap)"


@dataclass(frozen=True)
class Video:
    """A run video for the HTML report: src is a relative path or a data: URI (never a remote URL)."""

    label: str
    src: str
    mime: str = "video/mp4"

    def __post_init__(self) -> None:
        if _REMOTE.match(self.src):
            raise UsageError(
                f"video {self.label!r} points at a remote URL",
                "give a local file: it is linked relatively or embedded",
            )


def video_from_file(
    path: Path, *, label: str | None = None, embed: bool = False, relative_to: Path | None = None
) -> Video:
    """A Video for a local file: embedded as a data: URI, or linked relative to the report's folder."""
    mime = mimetypes.guess_type(path.name)[0] or "video/mp4"
    if embed:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return Video(label or path.name, f"data:{mime};base64,{data}", mime)
    if relative_to is not None:
        import os

        src = os.path.relpath(path.resolve(), relative_to.resolve())
    else:
        src = str(path)
    return Video(label or path.name, Path(src).as_posix(), mime)


@dataclass(frozen=True)
class Report:
    """Everything a renderer needs; built once by build_report()."""

    title: str
    generated_at: float
    sweep_ids: tuple[int, ...]
    groups: tuple[GroupReport, ...]
    runs: tuple[RunReport, ...]
    videos: tuple[Video, ...] = ()
    notes: tuple[str, ...] = ()
    curves: tuple[RunCurves, ...] = ()
    reward_target: RewardTarget | None = None
    num_envs_scaling: tuple[ScalingCurve, ...] = ()  # one per group
    gpu_scaling: tuple[ScalingCurve, ...] = ()  # one per GPU model measured at several GPU counts
    saturation_fraction: float = 0.9
    compare: bool = False  # sweeps side by side: one column per (type, sweep)
    sort_by: str | None = None
    order_given: bool = False  # every sweep's plan recorded the order the user gave the types
    comparisons: tuple[Comparison, ...] = ()  # pairs of types on the STAT_KEYS figures
    tails: tuple[TailRow, ...] = ()  # per type and number of envs (the MJX benchmark's per-N figures)
    compat: tuple[CompatCell, ...] = ()  # the measured compatibility matrix of the report's runs
    startup: tuple[StartupRow, ...] = ()  # start-up stages per type, cold and warm, priced
    references: tuple[ReferencePoint, ...] = ()  # published figures matching the report's runs
    isaaclab: tuple[IsaacLabFigure, ...] = ()  # runs with Isaac Lab's own benchmark figure beside ours
    max_envs: tuple[MaxEnvsRow, ...] = ()  # per type: the largest num_envs that fits (sweep --find-max-envs)

    @property
    def simulated(self) -> bool:
        return any(r.simulated for r in self.runs)

    @property
    def shown_pairs(self) -> list[tuple[str, str]]:
        """Every pair of columns, in column order, statistics or not: side by side, each is a comparison to a reader,
        so the software-lock and GPU-settings flags both check these (the one definition)."""
        labels = [g.label or g.instance_type for g in self.groups]
        return [(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :]]

    def render(self, fmt: str = "table", **options: Any) -> str:
        """This report as text in one of FORMATS (table, json, csv, md, html)."""
        assert RENDERER is not None  # set by lambdabench.report, imported before this module
        return RENDERER(self, fmt, **options)

    def __str__(self) -> str:
        return self.render("table")

    @property
    def cost_usd(self) -> Decimal:
        return sum((g.cost_usd for g in self.groups), Decimal(0))

    @property
    def upper_cost_usd(self) -> Decimal:
        return sum((g.upper_cost_usd for g in self.groups), Decimal(0))

    @property
    def failed_launch_upper_usd(self) -> Decimal:
        return sum((r.failed_launch_upper_usd for r in self.runs), Decimal(0))

    @property
    def still_billing(self) -> int:
        return sum(1 for r in self.runs if r.still_billing)
