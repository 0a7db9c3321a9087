"""GPU telemetry: nvidia-smi CSV written by remote/telemetry_sampler.sh, summarised per run."""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lambdabench.metrics import MetricsError

__all__ = [
    "QUERY_FIELDS",
    "GpuSample",
    "TelemetrySummary",
    "load_telemetry",
    "nvidia_smi_command",
    "parse_nvidia_smi_csv",
    "per_million_steps",
    "summarize",
]

# The order the sampler asks for; also the column order of a header-less (noheader) CSV.
QUERY_FIELDS = (
    "timestamp",
    "index",
    "name",
    "utilization.gpu",
    "memory.used",
    "memory.total",
    "power.draw",
    "clocks.sm",
    "temperature.gpu",
)
# nvidia-smi prints some query names differently in the header
_HEADER_ALIASES = {"clocks.current.sm": "clocks.sm"}
_MISSING = re.compile(r"^\[?(N/A|Not Supported|Unknown Error|GPU requires reset|Insufficient Permissions)\]?$", re.I)
_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(%|MiB|W|MHz|C)?\s*$")
_TIMESTAMP_FORMATS = ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S")


def nvidia_smi_command(interval_ms: int = 1000) -> list[str]:
    """The argv the sampler runs (kept here so parser and sampler agree on the columns)."""
    return [
        "nvidia-smi",
        f"--query-gpu={','.join(QUERY_FIELDS)}",
        "--format=csv",
        f"--loop-ms={interval_ms}",
    ]


@dataclass(frozen=True)
class GpuSample:
    """One nvidia-smi row: one GPU at one instant; None where the tool said [N/A]."""

    time_s: float
    index: int
    name: str
    utilization_pct: float | None
    memory_used_mib: float | None
    memory_total_mib: float | None
    power_w: float | None
    sm_clock_mhz: float | None
    temperature_c: float | None


def _value(text: str) -> float | None:
    text = text.strip()
    if not text or _MISSING.match(text):
        return None
    match = _NUMBER.match(text)
    if not match:
        raise ValueError(f"not a number: {text[:40]!r}")
    value = float(match.group(1))
    return value if math.isfinite(value) else None


def _timestamp(text: str) -> float:
    text = text.strip()
    for fmt in _TIMESTAMP_FORMATS:
        try:
            # local time without zone on the instance; only differences are used
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise ValueError(f"bad timestamp {text[:40]!r}")


def _column_name(header: str) -> str:
    name = header.strip().split(" [", 1)[0].strip()
    return _HEADER_ALIASES.get(name, name)


@dataclass
class ParsedTelemetry:
    """Samples plus how many rows could not be read (e.g. a line cut off when the sampler stopped)."""

    samples: list[GpuSample]
    skipped_rows: int = 0


def parse_nvidia_smi_csv(text: str) -> ParsedTelemetry:
    """Parse `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]` output."""
    columns: list[str] = list(QUERY_FIELDS)
    parsed = ParsedTelemetry(samples=[])
    for line in text.replace("\0", "").splitlines():
        # row by row, so one damaged line (cut off when the sampler stopped) costs only itself
        try:
            row = next(csv.reader(io.StringIO(line)), [])
        except csv.Error:
            parsed.skipped_rows += 1
            continue
        if not row or all(not cell.strip() for cell in row):
            continue
        if row[0].strip().startswith("timestamp"):
            # a header (repeated if the sampler was restarted onto the same file)
            columns = [_column_name(cell) for cell in row]
            continue
        fields = dict(zip(columns, row, strict=False))
        try:
            sample = GpuSample(
                time_s=_timestamp(fields["timestamp"]),
                index=int(fields["index"].strip()),
                name=fields.get("name", "").strip(),
                utilization_pct=_value(fields.get("utilization.gpu", "")),
                memory_used_mib=_value(fields.get("memory.used", "")),
                memory_total_mib=_value(fields.get("memory.total", "")),
                power_w=_value(fields.get("power.draw", "")),
                sm_clock_mhz=_value(fields.get("clocks.sm", "")),
                temperature_c=_value(fields.get("temperature.gpu", "")),
            )
        except (KeyError, ValueError, OverflowError):
            parsed.skipped_rows += 1
            continue
        parsed.samples.append(sample)
    return parsed


def load_telemetry(path: Path) -> ParsedTelemetry:
    """Read the sampler's CSV file."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise MetricsError(
            f"cannot read GPU telemetry {path}: {exc.strerror}",
            "was the telemetry sampler started on the instance?",
        ) from exc
    return parse_nvidia_smi_csv(text)


@dataclass(frozen=True)
class GpuSummary:
    """One GPU over the run."""

    index: int
    name: str
    samples: int
    mean_utilization_pct: float | None
    peak_memory_mib: float | None
    memory_total_mib: float | None
    energy_wh: float
    mean_power_w: float | None
    max_gap_s: float


@dataclass(frozen=True)
class TelemetrySummary:
    """Per-run resources: utilisation, memory, energy (trapezoid over power, summed over GPUs)."""

    gpu_count: int
    gpu_names: list[str]
    samples: int
    skipped_rows: int
    duration_s: float
    mean_utilization_pct: float | None
    peak_memory_mib: float | None
    memory_total_mib: float | None
    energy_wh: float
    per_gpu: list[GpuSummary] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _peak(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _energy_wh(samples: list[GpuSample]) -> float:
    joules = 0.0
    for a, b in zip(samples, samples[1:], strict=False):
        if a.power_w is None or b.power_w is None:
            continue  # no reading on one side: that interval is left out rather than guessed
        dt = b.time_s - a.time_s
        if dt > 0:
            joules += (a.power_w + b.power_w) / 2.0 * dt
    return joules / 3600.0


def summarize(
    telemetry: ParsedTelemetry | list[GpuSample],
    *,
    start_s: float | None = None,
    end_s: float | None = None,
) -> TelemetrySummary:
    """Summarise samples, optionally only those within [start_s, end_s] (same clock as the CSV)."""
    if isinstance(telemetry, ParsedTelemetry):
        samples, skipped = telemetry.samples, telemetry.skipped_rows
    else:
        samples, skipped = telemetry, 0
    samples = [s for s in samples if (start_s is None or s.time_s >= start_s) and (end_s is None or s.time_s <= end_s)]
    by_gpu: dict[int, list[GpuSample]] = {}
    for sample in samples:
        by_gpu.setdefault(sample.index, []).append(sample)
    per_gpu: list[GpuSummary] = []
    for index in sorted(by_gpu):
        rows = sorted(by_gpu[index], key=lambda s: s.time_s)
        gaps = [b.time_s - a.time_s for a, b in zip(rows, rows[1:], strict=False)]
        per_gpu.append(
            GpuSummary(
                index=index,
                name=rows[-1].name,
                samples=len(rows),
                mean_utilization_pct=_mean(r.utilization_pct for r in rows),
                peak_memory_mib=_peak(r.memory_used_mib for r in rows),
                memory_total_mib=_peak(r.memory_total_mib for r in rows),
                energy_wh=_energy_wh(rows),
                mean_power_w=_mean(r.power_w for r in rows),
                max_gap_s=max(gaps, default=0.0),
            )
        )
    times = [s.time_s for s in samples]
    return TelemetrySummary(
        gpu_count=len(per_gpu),
        gpu_names=sorted({g.name for g in per_gpu}),
        samples=len(samples),
        skipped_rows=skipped,
        duration_s=(max(times) - min(times)) if times else 0.0,
        mean_utilization_pct=_mean(s.utilization_pct for s in samples),
        peak_memory_mib=_peak(g.peak_memory_mib for g in per_gpu),
        memory_total_mib=_peak(g.memory_total_mib for g in per_gpu),
        energy_wh=sum(g.energy_wh for g in per_gpu),
        per_gpu=per_gpu,
    )


@dataclass(frozen=True)
class TimedWindow:
    """One timed region of a benchmark on the telemetry clock, and the env-steps it ran."""

    start_s: float
    end_s: float
    env_steps: float
    label: float  # what tells the windows apart, e.g. the number of envs


@dataclass(frozen=True)
class WindowFigures:
    """GPU utilisation and energy per env-step inside timed windows only (compile, warm-up left out)."""

    utilization_pct: float | None
    wh_per_million_steps: float | None
    by_window: tuple[tuple[float, float], ...]  # (label, Wh per million env-steps), windows with power only


def _window_samples(samples: list[GpuSample], start_s: float, end_s: float) -> list[GpuSample]:
    """Each GPU's samples inside [start_s, end_s]; a GPU with fewer than two there also gets the nearest
    sample on each side (a window shorter than the sampling interval would otherwise hold none)."""
    by_gpu: dict[int, list[GpuSample]] = {}
    for sample in samples:
        by_gpu.setdefault(sample.index, []).append(sample)
    out: list[GpuSample] = []
    for rows in by_gpu.values():
        rows.sort(key=lambda s: s.time_s)
        inside = [s for s in rows if start_s <= s.time_s <= end_s]
        if len(inside) < 2:
            before = [s for s in rows if s.time_s < start_s][-1:]
            after = [s for s in rows if s.time_s > end_s][:1]
            inside = before + inside + after
        out += inside
    return out


def in_windows(samples: list[GpuSample], windows: Iterable[TimedWindow]) -> WindowFigures:
    """Utilisation: the mean of the samples inside the windows. Energy: each window's GPUs' mean power
    times its length (a window shorter than a few samples would lose its edges to a trapezoid sum);
    a window where some GPU had no power reading is left out of the energy rather than guessed."""
    util: list[float] = []
    curve: list[tuple[float, float]] = []
    joules_total = steps_total = 0.0
    for w in windows:
        if w.end_s <= w.start_s or w.env_steps <= 0:
            continue
        chosen = _window_samples(samples, w.start_s, w.end_s)
        if not chosen:
            continue
        summary = summarize(chosen)
        util += [s.utilization_pct for s in chosen if s.utilization_pct is not None]
        powers = [g.mean_power_w for g in summary.per_gpu]
        if any(p is None for p in powers):
            continue
        joules = sum(p for p in powers if p is not None) * (w.end_s - w.start_s)
        curve.append((w.label, joules / 3600.0 / w.env_steps * 1_000_000))
        joules_total += joules
        steps_total += w.env_steps
    return WindowFigures(
        utilization_pct=sum(util) / len(util) if util else None,
        wh_per_million_steps=joules_total / 3600.0 / steps_total * 1_000_000 if curve else None,
        by_window=tuple(sorted(curve)),
    )


def per_million_steps(value: float | None, env_steps: int | None) -> float | None:
    """value (dollars, Wh) per million env-steps; None when either side is unknown or zero steps."""
    if value is None or not env_steps or env_steps <= 0:
        return None
    return value / env_steps * 1_000_000
