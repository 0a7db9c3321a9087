"""GPU hardware settings in the environment lock: each run's GPUs' power limit and max clocks, and where a column
or a comparison mixes GPUs of one model set differently (a box capped with `nvidia-smi -pl`, other clocks).

GPUs of different models differ by nature and are never flagged; a setting nobody could read (no lock, or
nvidia-smi answered N/A) is said as unknown, never as a difference.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdabench.report.model import GPU_SETTINGS, LOCK_GPUS, GpuSetting, Report

if TYPE_CHECKING:
    from lambdabench.ledger import MetricRow

_KEY = re.compile(r"^gpu(\d+)_(" + "|".join(GPU_SETTINGS) + r")$")
_SOURCE = "env-lock: "


def run_gpus(rows: Iterable[MetricRow]) -> dict[int, tuple[GpuSetting, ...]]:
    """Per run, its GPUs from metrics gpu<i>_<setting> (the model in the source) and env_lock_gpus (how many)."""
    found: dict[int, dict[int, dict[str, Any]]] = {}
    count: dict[int, int] = {}
    for m in rows:
        if m.key == LOCK_GPUS and m.source == "env-lock":
            count[m.run_id] = int(m.value)
            continue
        hit = _KEY.match(m.key)
        if hit is None or not m.source.startswith(_SOURCE):
            continue
        gpu = found.setdefault(m.run_id, {}).setdefault(int(hit.group(1)), {})
        gpu[hit.group(2)] = m.value
        gpu["model"] = m.source[len(_SOURCE) :]
    out = {}
    for run in set(found) | set(count):
        gpus = found.get(run, {})
        n = max(count.get(run, 0), max(gpus, default=-1) + 1)
        out[run] = tuple(GpuSetting(index=i, **{"model": "", **gpus.get(i, {})}) for i in range(n))
    return out


@dataclass(frozen=True)
class GroupGpus:
    """One column's GPUs of one model: each setting's distinct known values over its runs."""

    group: str
    model: str
    runs: int
    values: dict[str, tuple[float, ...]]  # setting → distinct known values, ascending


def _by_group(report: Report) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {g.label or g.instance_type: [] for g in report.groups}
    for r in report.runs:
        out.setdefault(r.group or r.instance_type, []).append(r)
    return out


def group_gpus(report: Report) -> list[GroupGpus]:
    """Per column and GPU model, each setting's values over the column's runs (none when no run recorded GPUs)."""
    if not any(r.gpus for r in report.runs):
        return []
    out = []
    for group, runs in _by_group(report).items():
        models: dict[str, dict[str, set[float]]] = {}
        counts: dict[str, int] = {}
        for r in runs:
            for model in dict.fromkeys(g.model for g in r.gpus if g.model):
                counts[model] = counts.get(model, 0) + 1
            for g in r.gpus:
                if g.model:
                    seen = models.setdefault(g.model, {k: set() for k in GPU_SETTINGS})
                    for k in GPU_SETTINGS:
                        if g.value(k) is not None:
                            seen[k].add(float(g.value(k) or 0.0))
        for model, seen in models.items():
            out.append(GroupGpus(group, model, counts[model], {k: tuple(sorted(v)) for k, v in seen.items()}))
    return out


def unknown(report: Report) -> list[tuple[str, str, int, int]]:
    """(column, setting, runs it is unknown for, runs) where some run's GPUs could not say it: no lock, a lock
    without GPUs, or nvidia-smi's N/A."""
    if not any(r.gpus for r in report.runs):
        return []
    out = []
    for group, runs in _by_group(report).items():
        for k in GPU_SETTINGS:
            missing = sum(1 for r in runs if not r.gpus or any(g.value(k) is None or not g.model for g in r.gpus))
            if missing:
                out.append((group, k, missing, len(runs)))
    return out


def pooled(report: Report) -> list[tuple[GroupGpus, dict[str, tuple[float, ...]]]]:
    """Columns whose runs' GPUs of one model differ in a setting: per column and model, the differing settings."""
    out = []
    for row in group_gpus(report):
        differ = {k: v for k, v in row.values.items() if len(v) > 1}
        if differ:
            out.append((row, differ))
    return out


def mixed(report: Report) -> list[tuple[str, str, str, str, tuple[float, ...], tuple[float, ...]]]:
    """Pairs of columns shown (Report.shown_pairs) with GPUs of one model whose known settings differ: (a, b, model,
    setting, a's values, b's values). A setting unknown on one side is not a difference."""
    rows = {(r.group, r.model): r for r in group_gpus(report)}
    out = []
    for a, b in report.shown_pairs:
        for model in [m for g, m in rows if g == a and (b, m) in rows]:
            ra, rb = rows[(a, model)], rows[(b, model)]
            for k in GPU_SETTINGS:
                va, vb = ra.values[k], rb.values[k]
                if va and vb and va != vb:
                    out.append((a, b, model, k, va, vb))
    return out


def _values(key: str, values: Sequence[float]) -> str:
    unit = GPU_SETTINGS[key][1]
    return " vs ".join(f"{v:g} {unit}" for v in values) if values else "unknown"


def lines(report: Report) -> list[str]:
    """The Environment locks section's GPU lines: each column's settings, what is unknown, and the warnings."""
    out = [
        f"{row.group}: {row.model} ({row.runs} run(s)): "
        + ", ".join(f"{GPU_SETTINGS[k][0]} {_values(k, v)}" for k, v in row.values.items())
        for row in group_gpus(report)
    ]
    said: dict[tuple[str, int, int], list[str]] = {}
    for group, k, missing, runs in unknown(report):
        said.setdefault((group, missing, runs), []).append(GPU_SETTINGS[k][0])
    for (group, missing, runs), words in said.items():
        out.append(
            f"{group}: {', '.join(words)} unknown for {missing} of {runs} run(s) (no environment lock, or "
            "nvidia-smi answered N/A): not compared"
        )
    for row, differ in pooled(report):
        out.append(
            f"WARNING: {row.group} pools runs whose {row.model} GPUs differ in "
            + "; ".join(f"{GPU_SETTINGS[k][0]} ({_values(k, v)})" for k, v in differ.items())
            + ": its figures mix them; report runs of one setting apart, or set the GPUs alike"
        )
    for a, b, model, k, va, vb in mixed(report):
        out.append(
            f"WARNING: {a} vs {b} compares {model} GPUs set differently: {GPU_SETTINGS[k][0]} {_values(k, va)} "
            f"on {a}, {_values(k, vb)} on {b}: part of the difference may be the setting, not the type"
        )
    return out


def json_parts(report: Report) -> dict[str, Any]:
    """environment_locks' GPU keys: `gpus`, `gpus_unknown`, `gpus_pooled`, `gpus_mixed` (docs/report.md)."""
    return {
        "gpus": [
            {"group": r.group, "gpu": r.model, "runs": r.runs, **{k: list(v) for k, v in r.values.items()}}
            for r in group_gpus(report)
        ],
        "gpus_unknown": [{"group": g, "setting": k, "unknown_runs": n, "runs": of} for g, k, n, of in unknown(report)],
        "gpus_pooled": [
            {"group": row.group, "gpu": row.model, "setting": k, "values": list(v)}
            for row, differ in pooled(report)
            for k, v in differ.items()
        ],
        "gpus_mixed": [
            {"a": a, "b": b, "gpu": model, "setting": k, "a_values": list(va), "b_values": list(vb)}
            for a, b, model, k, va, vb in mixed(report)
        ],
    }


CSV_COLUMNS = tuple(f"gpu_{k}" for k in GPU_SETTINGS)


def csv_columns(report: Report) -> list[str]:
    """Per column: each setting's distinct known values, `;`-joined (several: the column mixes them)."""
    return list(CSV_COLUMNS) if group_gpus(report) else []


def csv_values(report: Report, group: Any) -> list[str]:
    rows = group_gpus(report)
    if not rows:
        return []
    label = group.label or group.instance_type
    mine = [r for r in rows if r.group == label]
    return [";".join(repr(v) for r in mine for v in r.values[k]) for k in GPU_SETTINGS]
