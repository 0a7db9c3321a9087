"""The report's data: one line per run, one per GPU type, and the Report that holds them."""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from lambdabench.errors import UsageError

FORMATS = ("table", "json", "csv", "md", "html")
SIMULATED_NOTE = (
    "SIMULATED: these runs used the built-in Lambda Cloud simulator; times and costs are not real."
)
COST_NOTE = (
    "Cost: policy estimate bills first active → terminate (current Lambda docs); upper bound bills"
    " launch accepted → gone. Per-minute, rounded up, at the price captured at launch."
)

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
# rows


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
    reward: float | None = None


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

    @property
    def simulated(self) -> bool:
        return any(r.simulated for r in self.runs)

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
