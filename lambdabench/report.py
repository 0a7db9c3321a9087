"""Reports: ledger rows + metrics → one Report → table | json | csv | md | html.

build_report() is the only part that reads the ledger; every render_* function is pure (a Report
in, text out), so the CLI does ``print(render(build_report(ledger, [sweep_id]), "table"))``.

Per GPU type (side by side): runs, failures, billed minutes, cost (policy estimate and upper
bound), $/run, effective $/h, throughput (env-steps/s), wall time, $ per million env-steps,
set-up time (boot, SSH wait, setup with image pull and container start) against benchmark time,
and GPU utilisation/energy when telemetry was recorded. Simulated runs are labelled in every format.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import mimetypes
import re
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lambdabench.cost import RunCost, format_dollars, run_cost
from lambdabench.errors import UsageError
from lambdabench.ledger import InstanceRow, MetricKey, RunRow, iso_utc

if TYPE_CHECKING:
    from lambdabench.ledger import Ledger, MetricRow

FORMATS = ("table", "json", "csv", "md", "html")
SIMULATED_NOTE = (
    "SIMULATED: these runs used the built-in Lambda Cloud simulator; times and costs are not real."
)
COST_NOTE = (
    "Cost: policy estimate bills first active → terminate (current Lambda docs); upper bound bills"
    " launch accepted → gone. Per-minute, rounded up, at the price captured at launch."
)

_REMOTE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:)?//")
Kind = Literal["text", "int", "money", "small_money", "rate", "seconds", "pct", "pct_ratio", "float", "wh", "bool"]


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


# --------------------------------------------------------------------------------------------------
# building from the ledger


def _span(start: float | None, end: float | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return end - start


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(present) if present else None


def _latest_metrics(metrics: Iterable[MetricRow]) -> dict[int, dict[str, float]]:
    """Per run, the most recently recorded value of each key (whatever its source)."""
    out: dict[int, dict[str, tuple[float, int, float]]] = {}
    for m in metrics:
        seen = out.setdefault(m.run_id, {})
        if m.key not in seen or (m.recorded, m.id) > seen[m.key][:2]:
            seen[m.key] = (m.recorded, m.id, m.value)
    return {run: {k: v[2] for k, v in keys.items()} for run, keys in out.items()}


def build_run_report(
    run: RunRow,
    instances: Sequence[InstanceRow],
    metrics: dict[str, float],
    *,
    errors: int = 0,
    now: float | None = None,
) -> RunReport:
    """One run's line from its ledger rows (pure)."""
    steps = metrics.get(MetricKey.ENV_STEPS)
    cost: RunCost = run_cost(run.id, run.instance_type, instances, env_steps=steps, now=now)
    billed = [i for i, c in zip(instances, cost.instances, strict=True) if not c.failed_launch]
    inst = billed[-1] if billed else None
    wall = _span(run.started, run.ended)
    if wall is None and instances:
        wall = _span(instances[0].launch_requested, instances[-1].gone)
    nodes = int(metrics.get("nodes") or 1)

    def slowest(start: str, end: str) -> float | None:
        # a multi-node run waits for its slowest node
        spans = [_span(getattr(i, start), getattr(i, end)) for i in billed[-nodes:]]
        known = [x for x in spans if x is not None]
        return max(known) if known else None

    return RunReport(
        run_id=run.id,
        sweep_id=run.sweep_id,
        instance_type=run.instance_type if nodes <= 1 else f"{run.instance_type} ×{nodes} nodes",
        region=inst.region if inst else run.region,
        workload=run.workload,
        status=run.status,
        simulated=bool(run.simulated or any(i.simulated for i in instances)),
        instances=len(instances),
        failed_launches=cost.totals.failed_launches,
        billed_minutes=cost.totals.policy_minutes,
        upper_minutes=cost.totals.upper_minutes,
        cost_usd=cost.policy_dollars,
        upper_cost_usd=cost.upper_dollars,
        failed_launch_upper_usd=cost.totals.failed_upper_dollars,
        price_usd_per_hour=cost.dollars_per_hour,
        still_billing=cost.totals.open > 0,
        env_steps=steps,
        env_steps_per_s=metrics.get(MetricKey.ENV_STEPS_PER_S),
        usd_per_million_steps=cost.dollars_per_million_steps,
        wall_s=wall,
        boot_s=slowest("launch_accepted", "first_active"),
        ssh_wait_s=slowest("first_active", "ssh_ready"),
        setup_s=slowest("setup_start", "setup_end"),
        image_pull_s=metrics.get(MetricKey.IMAGE_PULL_S),
        container_start_s=metrics.get(MetricKey.CONTAINER_START_S),
        bench_s=slowest("bench_start", "bench_end"),
        pull_s=slowest("bench_end", "pull_end"),
        gpu_util_pct=metrics.get(MetricKey.GPU_UTIL_PCT),
        energy_wh=metrics.get(MetricKey.ENERGY_WH),
        errors=errors,
        nodes=nodes,
        env_steps_per_s_per_node=metrics.get("env_steps_per_s_per_node"),
        scaling_efficiency=metrics.get("scaling_efficiency"),
        reward=metrics.get("reward"),
    )


def group_runs(runs: Sequence[RunReport]) -> tuple[GroupReport, ...]:
    """Fold run lines into one line per GPU type, in first-seen order."""
    by_type: dict[str, list[RunReport]] = {}
    for r in runs:
        by_type.setdefault(r.instance_type, []).append(r)
    groups = []
    for itype, rs in by_type.items():
        cost = sum((r.cost_usd for r in rs), Decimal(0))
        minutes = sum(r.billed_minutes for r in rs)
        with_steps = [r for r in rs if r.env_steps]
        steps_total = sum(r.env_steps or 0.0 for r in with_steps)
        steps_cost = sum((r.cost_usd for r in with_steps), Decimal(0))
        groups.append(
            GroupReport(
                instance_type=itype,
                simulated=any(r.simulated for r in rs),
                runs=len(rs),
                succeeded=sum(1 for r in rs if r.status == "succeeded"),
                failures=sum(1 for r in rs if r.status == "failed"),
                failed_launches=sum(r.failed_launches for r in rs),
                billed_minutes=minutes,
                upper_minutes=sum(r.upper_minutes for r in rs),
                cost_usd=cost,
                upper_cost_usd=sum((r.upper_cost_usd for r in rs), Decimal(0)),
                usd_per_run=cost / len(rs) if rs else None,
                usd_per_hour=cost * 60 / minutes if minutes else None,
                env_steps_per_s=_mean(r.env_steps_per_s for r in rs),
                usd_per_million_steps=(
                    steps_cost * 1_000_000 / Decimal(repr(steps_total)) if steps_total > 0 else None
                ),
                wall_s=_mean(r.wall_s for r in rs),
                boot_s=_mean(r.boot_s for r in rs),
                ssh_wait_s=_mean(r.ssh_wait_s for r in rs),
                setup_s=_mean(r.setup_s for r in rs),
                image_pull_s=_mean(r.image_pull_s for r in rs),
                container_start_s=_mean(r.container_start_s for r in rs),
                bench_s=_mean(r.bench_s for r in rs),
                pull_s=_mean(r.pull_s for r in rs),
                nodes=max(r.nodes for r in rs),
                env_steps_per_s_per_node=_mean(r.env_steps_per_s_per_node for r in rs),
                scaling_efficiency=_mean(r.scaling_efficiency for r in rs),
                reward=_mean(r.reward for r in rs),
                gpu_util_pct=_mean(r.gpu_util_pct for r in rs),
                energy_wh=_mean(r.energy_wh for r in rs),
            )
        )
    return tuple(groups)


def build_report(
    ledger: Ledger,
    sweep_ids: Sequence[int] | None = None,
    *,
    title: str | None = None,
    videos: Sequence[Video] = (),
    now: float | None = None,
) -> Report:
    """Read sweeps (default: the latest) from the ledger into a Report; instances still up are costed to now."""
    now = time.time() if now is None else now
    if sweep_ids is None:
        latest = ledger.latest_sweep()
        sweep_ids = [] if latest is None else [latest.id]
    lines: list[RunReport] = []
    names: list[str] = []
    for sweep_id in sweep_ids:
        sweep = ledger.sweep(sweep_id)
        names.append(sweep.name or f"sweep {sweep.id}")
        metrics = _latest_metrics(ledger.metrics(sweep_id=sweep_id))
        by_run: dict[int, list[InstanceRow]] = {}
        for inst in ledger.instances(sweep_id=sweep_id):
            by_run.setdefault(inst.run_id, []).append(inst)
        error_counts: dict[int, int] = {}
        for err in ledger.errors(sweep_id=sweep_id):
            if err.run_id is not None:
                error_counts[err.run_id] = error_counts.get(err.run_id, 0) + 1
        for run in ledger.runs(sweep_id):
            lines.append(
                build_run_report(
                    run,
                    by_run.get(run.id, []),
                    metrics.get(run.id, {}),
                    errors=error_counts.get(run.id, 0),
                    now=now,
                )
            )
    return Report(
        title=title or ("lambdabench: " + ", ".join(names) if names else "lambdabench: no sweeps"),
        generated_at=now,
        sweep_ids=tuple(sweep_ids),
        groups=group_runs(lines),
        runs=tuple(lines),
        videos=tuple(videos),
    )


# --------------------------------------------------------------------------------------------------
# columns and cell formatting


@dataclass(frozen=True)
class Column:
    """One field of a row: its key (attribute), label for people, and how to format it."""

    key: str
    label: str
    kind: Kind


GROUP_COLUMNS: tuple[Column, ...] = (
    Column("instance_type", "GPU type", "text"),
    Column("runs", "runs", "int"),
    Column("succeeded", "succeeded", "int"),
    Column("failures", "failures", "int"),
    Column("failed_launches", "failed launches", "int"),
    Column("billed_minutes", "billed minutes", "int"),
    Column("cost_usd", "cost (policy)", "money"),
    Column("upper_cost_usd", "cost (upper bound)", "money"),
    Column("usd_per_run", "$/run", "money"),
    Column("usd_per_hour", "$/h", "money"),
    Column("env_steps_per_s", "env-steps/s", "rate"),
    Column("env_steps_per_s_per_node", "  per node", "rate"),
    Column("scaling_efficiency", "  scaling efficiency", "pct_ratio"),
    Column("usd_per_million_steps", "$/M env-steps", "small_money"),
    Column("reward", "final reward", "float"),
    Column("wall_s", "wall time", "seconds"),
    Column("boot_s", "boot", "seconds"),
    Column("ssh_wait_s", "SSH wait", "seconds"),
    Column("setup_s", "set-up", "seconds"),
    Column("image_pull_s", "  image pull", "seconds"),
    Column("container_start_s", "  container start", "seconds"),
    Column("bench_s", "benchmark", "seconds"),
    Column("pull_s", "artifact pull", "seconds"),
    Column("gpu_util_pct", "GPU util", "pct"),
    Column("energy_wh", "GPU energy", "wh"),
    Column("simulated", "simulated", "bool"),
)

RUN_COLUMNS: tuple[Column, ...] = (
    Column("run_id", "run", "int"),
    Column("instance_type", "GPU type", "text"),
    Column("region", "region", "text"),
    Column("workload", "workload", "text"),
    Column("status", "status", "text"),
    Column("instances", "instances", "int"),
    Column("failed_launches", "failed launches", "int"),
    Column("billed_minutes", "billed min", "int"),
    Column("upper_minutes", "upper min", "int"),
    Column("cost_usd", "cost (policy)", "money"),
    Column("upper_cost_usd", "cost (upper)", "money"),
    Column("failed_launch_upper_usd", "failed-launch cost (upper)", "money"),
    Column("price_usd_per_hour", "$/h", "money"),
    Column("still_billing", "still billing", "bool"),
    Column("env_steps", "env-steps", "rate"),
    Column("env_steps_per_s", "env-steps/s", "rate"),
    Column("nodes", "nodes", "int"),
    Column("env_steps_per_s_per_node", "env-steps/s per node", "rate"),
    Column("scaling_efficiency", "scaling efficiency", "pct_ratio"),
    Column("usd_per_million_steps", "$/M env-steps", "small_money"),
    Column("reward", "final reward", "float"),
    Column("wall_s", "wall", "seconds"),
    Column("boot_s", "boot", "seconds"),
    Column("ssh_wait_s", "SSH wait", "seconds"),
    Column("setup_s", "set-up", "seconds"),
    Column("image_pull_s", "image pull", "seconds"),
    Column("container_start_s", "container start", "seconds"),
    Column("bench_s", "benchmark", "seconds"),
    Column("pull_s", "artifact pull", "seconds"),
    Column("gpu_util_pct", "GPU util", "pct"),
    Column("energy_wh", "GPU energy", "wh"),
    Column("errors", "errors", "int"),
    Column("simulated", "simulated", "bool"),
)

# summary rows that only add noise when no run recorded them
_OPTIONAL = {
    "reward",
    "env_steps_per_s_per_node",
    "scaling_efficiency",
    "nodes",
    "image_pull_s",
    "container_start_s",
    "gpu_util_pct",
    "energy_wh",
    "ssh_wait_s",
    "pull_s",
}


def format_seconds(value: float) -> str:
    """42.0s, 3m05s, 1h02m."""
    if value < 60:
        return f"{value:.1f}s"
    total = int(round(value))
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{(total % 3600) // 60:02d}m"


def format_small_dollars(amount: Decimal) -> str:
    """Amounts like $ per million steps can be far below a cent: keep 3 significant digits there."""
    if amount == 0 or abs(amount) >= Decimal("0.01"):
        return format_dollars(amount)
    places = min(10, 2 - amount.adjusted())  # adjusted(): exponent of the leading digit
    return format_dollars(amount, places)


def format_cell(value: Any, kind: Kind) -> str:
    """A value as people read it; '—' for missing."""
    if value is None:
        return "—"
    if kind == "money":
        return format_dollars(value)
    if kind == "small_money":
        return format_small_dollars(value)
    if kind == "int":
        return f"{value:,}"
    if kind == "rate":
        return f"{value:,.0f}"
    if kind == "seconds":
        return format_seconds(value)
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "pct_ratio":
        return f"{value * 100:.1f}%"
    if kind == "float":
        return f"{value:,.3g}"
    if kind == "wh":
        return f"{value:,.1f} Wh"
    if kind == "bool":
        return "yes" if value else "no"
    return str(value)


def _machine(value: Any) -> Any:
    """A value for JSON: money rounded to 6 decimals (exact sums, rounded once here)."""
    if isinstance(value, Decimal):
        return float(value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))
    return value


def _machine_text(value: Any) -> str:
    """A value for CSV: Decimal as plain text (no exponent), None as empty."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _visible_group_columns(report: Report) -> list[Column]:
    cols = []
    for col in GROUP_COLUMNS:
        if col.key in _OPTIONAL and all(getattr(g, col.key) is None for g in report.groups):
            continue
        cols.append(col)
    return cols


def _summary_lines(report: Report) -> list[str]:
    lines = [
        f"policy estimate {format_dollars(report.cost_usd)},"
        f" upper bound {format_dollars(report.upper_cost_usd)}"
        f" over {len(report.runs)} runs",
    ]
    failed = sum(r.failed_launches for r in report.runs)
    if failed:
        old_policy = report.failed_launch_upper_usd
        lines.append(
            f"failed launches: {failed}, not billed under the current policy"
            + (f" (up to {format_dollars(old_policy)} under the old one)" if old_policy else "")
        )
    if report.still_billing:
        lines.append(
            f"{report.still_billing} run(s) still have instances up: costed to {iso_utc(report.generated_at)}"
        )
    return lines


def _money_places(values: Sequence[Any]) -> int:
    """One number of decimals for a row of amounts: 4 if any is below $1, so the row lines up."""
    present = [v for v in values if v is not None and v != 0]
    return 4 if any(abs(v) < 1 for v in present) else 2


def _transposed(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header and rows with one column per GPU type (side by side), one row per measure."""
    header = ["", *(g.instance_type for g in report.groups)]
    rows = []
    for col in _visible_group_columns(report)[1:]:
        values = [getattr(g, col.key) for g in report.groups]
        if col.kind == "money":
            places = _money_places(values)
            cells = ["—" if v is None else format_dollars(v, places) for v in values]
        else:
            cells = [format_cell(v, col.kind) for v in values]
        rows.append([col.label, *cells])
    return header, rows


# --------------------------------------------------------------------------------------------------
# renderers (pure)


def _align(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for n, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def render_table(report: Report, *, runs: bool = False) -> str:
    """Plain aligned text: GPU types side by side; runs=True adds one line per run."""
    lines = [report.title]
    if report.simulated:
        lines.append(SIMULATED_NOTE)
    lines.append(f"generated {iso_utc(report.generated_at)}")
    lines.append("")
    if not report.groups:
        lines.append("no runs recorded")
        return "\n".join(lines) + "\n"
    header, rows = _transposed(report)
    lines.extend(_align(header, rows))
    lines.append("")
    lines.extend(_summary_lines(report))
    lines.append(COST_NOTE)
    if runs:
        cols = [c for c in RUN_COLUMNS if c.key in _RUN_TABLE_KEYS]
        lines.append("")
        run_rows = [[format_cell(getattr(r, c.key), c.kind) for c in cols] for r in report.runs]
        widths = [
            max(len(x) for x in [c.label, *(row[i] for row in run_rows)])
            for i, c in enumerate(cols)
        ]
        labels = [
            c.label.ljust(w) if c.kind == "text" else c.label.rjust(w)
            for c, w in zip(cols, widths, strict=True)
        ]
        lines.append("  ".join(labels).rstrip())
        for row in run_rows:
            cells = [
                x.ljust(w) if c.kind == "text" else x.rjust(w)
                for x, w, c in zip(row, widths, cols, strict=True)
            ]
            lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


_RUN_TABLE_KEYS = {
    "run_id",
    "instance_type",
    "workload",
    "status",
    "billed_minutes",
    "cost_usd",
    "env_steps_per_s",
    "wall_s",
    "setup_s",
    "bench_s",
}


def render_json(report: Report) -> str:
    """JSON: title, flags, totals, groups and runs with every field (money in dollars, 6 decimals)."""

    def obj(row: Any, cols: Sequence[Column]) -> dict[str, Any]:
        return {c.key: _machine(getattr(row, c.key)) for c in cols}

    doc = {
        "title": report.title,
        "generated_at": iso_utc(report.generated_at),
        "simulated": report.simulated,
        "sweep_ids": list(report.sweep_ids),
        "totals": {
            "cost_usd": _machine(report.cost_usd),
            "upper_cost_usd": _machine(report.upper_cost_usd),
            "failed_launch_upper_usd": _machine(report.failed_launch_upper_usd),
            "runs": len(report.runs),
            "still_billing": report.still_billing,
        },
        "groups": [obj(g, GROUP_COLUMNS) for g in report.groups],
        "runs": [obj(r, RUN_COLUMNS) for r in report.runs],
        "notes": [COST_NOTE, *report.notes] + ([SIMULATED_NOTE] if report.simulated else []),
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def render_csv(report: Report, *, level: Literal["types", "runs"] = "types") -> str:
    """CSV with a header row: one row per GPU type (default) or per run; machine values, no units."""
    cols = GROUP_COLUMNS if level == "types" else RUN_COLUMNS
    rows: Sequence[Any] = report.groups if level == "types" else report.runs
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.key for c in cols])
    for row in rows:
        writer.writerow([_machine_text(getattr(row, c.key)) for c in cols])
    return buf.getvalue()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report, *, runs: bool = True) -> str:
    """GitHub-flavoured markdown: GPU types side by side, then the runs."""
    out = [f"# {_md_cell(report.title)}", ""]
    if report.simulated:
        out += [f"> **{SIMULATED_NOTE}**", ""]
    out += [f"Generated {iso_utc(report.generated_at)}.", ""]
    if not report.groups:
        return "\n".join([*out, "No runs recorded.", ""])
    header, rows = _transposed(report)
    out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
    out.append("|" + "---|" + "---:|" * (len(header) - 1))
    out += ["| " + " | ".join(_md_cell(c.strip()) for c in row) + " |" for row in rows]
    out.append("")
    out += [f"- {line}" for line in _summary_lines(report)]
    out += ["", f"_{COST_NOTE}_", ""]
    if runs and report.runs:
        cols = [c for c in RUN_COLUMNS if c.key in _RUN_TABLE_KEYS]
        out += ["## Runs", ""]
        out.append("| " + " | ".join(c.label for c in cols) + " |")
        out.append("|" + "---|" * len(cols))
        for r in report.runs:
            out.append(
                "| "
                + " | ".join(_md_cell(format_cell(getattr(r, c.key), c.kind)) for c in cols)
                + " |"
            )
        out.append("")
    return "\n".join(out)


# -- HTML and SVG ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart: one bar per label; stacked segments when several series are given."""

    title: str
    labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]  # (series name, one value per label)
    format_value: Callable[[float], str] = field(default=lambda v: f"{v:,.2f}")


_PALETTE = ("#3b6fb6", "#e39b3a", "#5aa469", "#b6463b", "#7a5ab6")


def svg_bar_chart(chart: Chart, *, width: int = 560) -> str:
    """An inline <svg> bar chart (no scripts, no external references)."""
    esc = html.escape
    label_w, value_w, bar_h, gap, top = 170, 90, 22, 8, 30
    legend = len(chart.series) > 1
    rows = len(chart.labels)
    height = top + rows * (bar_h + gap) + (24 if legend else 4)
    totals = [sum(s[1][i] or 0.0 for s in chart.series) for i in range(rows)]
    peak = max(totals, default=0.0)
    plot_w = width - label_w - value_w
    parts = [
        f'<svg class="chart" role="img" aria-label="{esc(chart.title)}" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}">',
        f'<text x="0" y="18" class="chart-title">{esc(chart.title)}</text>',
    ]
    if peak <= 0:
        parts.append(f'<text x="{label_w}" y="{top + 14}" class="muted">no data</text>')
    for i, label in enumerate(chart.labels):
        y = top + i * (bar_h + gap)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{esc(label)}</text>'
        )
        x = float(label_w)
        for s_idx, (name, values) in enumerate(chart.series):
            v = values[i]
            if not v or peak <= 0:
                continue
            w = max(1.0, plot_w * v / peak)
            color = _PALETTE[s_idx % len(_PALETTE)]
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}">'
                f"<title>{esc(name)}: {esc(chart.format_value(v))}</title></rect>"
            )
            x += w
        shown = "—" if all(s[1][i] is None for s in chart.series) else chart.format_value(totals[i])
        parts.append(f'<text x="{x + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{esc(shown)}</text>')
    if legend:
        y = height - 8
        x = float(label_w)
        for s_idx, (name, _values) in enumerate(chart.series):
            color = _PALETTE[s_idx % len(_PALETTE)]
            parts.append(f'<rect x="{x:.1f}" y="{y - 10}" width="10" height="10" fill="{color}"/>')
            parts.append(f'<text x="{x + 14:.1f}" y="{y}">{esc(name)}</text>')
            x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def report_charts(report: Report) -> list[Chart]:
    """The charts of the HTML report, one per comparison."""
    labels = tuple(g.instance_type for g in report.groups)

    def money(v: float) -> str:
        return format_dollars(Decimal(repr(v)))

    def series(key: str) -> tuple[float | None, ...]:
        return tuple(
            None if getattr(g, key) is None else float(getattr(g, key)) for g in report.groups
        )

    return [
        Chart("Cost per run (policy estimate)", labels, (("$/run", series("usd_per_run")),), money),
        Chart(
            "Throughput (env-steps/s)",
            labels,
            (("env-steps/s", series("env_steps_per_s")),),
            lambda v: f"{v:,.0f}",
        ),
        Chart(
            "Cost per million env-steps",
            labels,
            (("$/M steps", series("usd_per_million_steps")),),
            lambda v: format_small_dollars(Decimal(repr(v))),
        ),
        Chart(
            "Where the time went (mean per run)",
            labels,
            (
                ("boot", series("boot_s")),
                ("SSH wait", series("ssh_wait_s")),
                ("set-up", series("setup_s")),
                ("benchmark", series("bench_s")),
                ("pull", series("pull_s")),
            ),
            format_seconds,
        ),
    ]


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}
.banner{background:#fff3cd;border:1px solid #e0b84a;padding:.6rem .9rem;border-radius:6px;font-weight:600;margin:1rem 0}
.muted{color:#777;fill:#777}
table{border-collapse:collapse;margin:1rem 0;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:right;white-space:nowrap}
th.t,td.t{text-align:left}
thead th{background:#f4f6f8}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}
svg.chart{font-size:12px;fill:#222}
svg .chart-title{font-weight:600;font-size:13px}
video{max-width:100%;border-radius:6px}
figure{margin:0 0 1.5rem 0}
.scroll{overflow-x:auto}
"""


def _html_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: Sequence[int] = (0,)
) -> str:
    esc = html.escape

    def cls(i: int) -> str:
        return ' class="t"' if i in text_columns else ""

    head = "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{esc(c.strip())}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def render_html(report: Report) -> str:
    """One self-contained HTML file: inline CSS, inline SVG charts, videos as data: URIs or relative links."""
    esc = html.escape
    title = esc(report.title)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f'<p class="muted">Generated {esc(iso_utc(report.generated_at) or "")}</p>',
    ]
    if report.simulated:
        parts.append(f'<div class="banner">{esc(SIMULATED_NOTE)}</div>')
    if not report.groups:
        parts.append("<p>No runs recorded.</p></body></html>")
        return "\n".join(parts) + "\n"
    header, rows = _transposed(report)
    parts.append("<h2>By GPU type</h2>")
    parts.append(_html_table(header, rows))
    parts.append(
        "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in _summary_lines(report)) + "</ul>"
    )
    parts.append(f'<p class="muted">{esc(COST_NOTE)}</p>')
    parts.append('<h2>Charts</h2><div class="charts">')
    parts.extend(svg_bar_chart(chart) for chart in report_charts(report))
    parts.append("</div>")
    parts.append("<h2>Runs</h2>")
    cols = [c for c in RUN_COLUMNS if c.key != "simulated"]
    parts.append(
        _html_table(
            [c.label for c in cols],
            [[format_cell(getattr(r, c.key), c.kind) for c in cols] for r in report.runs],
            [i for i, c in enumerate(cols) if c.kind == "text"],
        )
    )
    if report.videos:
        parts.append("<h2>Videos</h2>")
        for video in report.videos:
            parts.append(
                f'<figure><video controls preload="metadata"><source src="{esc(video.src, quote=True)}"'
                f' type="{esc(video.mime, quote=True)}"></video>'
                f"<figcaption>{esc(video.label)}</figcaption></figure>"
            )
    for note in report.notes:
        parts.append(f'<p class="muted">{esc(note)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render(report: Report, fmt: str, **options: Any) -> str:
    """Render in one of FORMATS (table, json, csv, md, html); options go to that renderer."""
    renderers: dict[str, Callable[..., str]] = {
        "table": render_table,
        "json": render_json,
        "csv": render_csv,
        "md": render_markdown,
        "markdown": render_markdown,
        "html": render_html,
    }
    if fmt not in renderers:
        raise UsageError(f"unknown report format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    return renderers[fmt](report, **options)
