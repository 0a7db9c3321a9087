"""Isaac Lab benchmark outputs: 2.x ``kpis_*.json`` and 3.x phase lists / result bundles.

2.x (``scripts/benchmarks/benchmark_*.py`` with the OmniPerf KPI backend) writes
``{"App Info": [...], "timestamp": ..., "Kit": ..., "<phase>": {"task": ..., "num_envs": ...,
"<measurement>": value}}`` with phases ``startup``, ``runtime``, ``train`` (and the benchmark's own);
the top-level non-phase keys are kept as metadata (docs/isaaclab-contract.md, 2.x "Benchmarks").
Every value is labelled "ms" whatever it is, so units come from the measurement *name*: the
start-up times are milliseconds (converted to seconds here), rewards and lengths are plain numbers.
Of the rates, "Environment step FPS" (benchmark_non_rl) counts vectorised steps (all envs at once):
env-steps/s is its "Environment step effective FPS" (× num_envs × world size). Raw values are kept.

3.x's JSON backend writes a list of phases, each ``{"measurements": [{"name", "value"|"mean"...,
"unit"}], "metadata": [{"name", "data"}]}``, measurement names possibly prefixed by
"<workflow> <phase> "; a typed bundle (nested dicts) is flattened and searched for the same names.
The 3.x shapes are read tolerantly: unknown entries land in ``raw`` rather than failing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdabench.metrics import MetricsError

__all__ = [
    "BenchmarkSummary",
    "IsaacLabBundle",
    "KpiReport",
    "load_kpi",
    "parse_kpi",
    "read_benchmark_artifacts",
    "read_isaaclab_bundle",
]

# 2.x start-up measurement names (values in ms) → our keys (seconds)
STARTUP_NAMES = {
    "App Launch Time": "app_launch_s",
    "Python Imports Time": "python_imports_s",
    "Task Creation and Start Time": "task_creation_s",
    "Scene Creation Time": "scene_creation_s",
    "Simulation Start Time": "simulation_start_s",
    "Total Start Time (Launch to Train)": "total_start_s",
    "Newton Finalize Builder Time": "newton_finalize_builder_s",
    "Newton Initialize Solver Time": "newton_initialize_solver_s",
}
TRAIN_NAMES = {
    "Max Rewards": "max_reward",
    "Last Reward": "last_reward",
    "EMA 0.95 Reward": "ema_reward",
    "Max Episode Lengths": "max_episode_length",
    "Last Episode Length": "last_episode_length",
    "EMA 0.95 Episode Length": "ema_episode_length",
}
# env-steps/s by preference: non_rl's effective FPS, rsl_rl's "Total FPS", rl_games' full-step FPS,
# then any other rate in env-steps — never non_rl's vectorised "Environment step FPS".
_TOTAL_RATE_PATTERNS = (
    re.compile(r"effective fps$", re.I),
    re.compile(r"^total fps$", re.I),
    re.compile(r"policy update fps$", re.I),
    re.compile(r"fps$", re.I),
)
VECTORISED_RATE = "Environment step FPS"
# top-level keys of the real 2.x KPI file that are not phases (OmniPerfKPIFile.finalize)
KPI_FILE_METADATA = ("App Info", "timestamp", "Kit")
_STAT = re.compile(r"^(Min|Max|Mean|Std) (.+)$")
_METADATA_KEYS = {"task", "num_envs", "seed", "max_iterations", "workflow_name", "phase"}


@dataclass
class KpiReport:
    """What an Isaac Lab benchmark reported, in named units; raw keeps every value as written."""

    source: str
    task: str | None = None
    num_envs: int | None = None
    workflow: str | None = None
    startup_s: dict[str, float] = field(default_factory=dict)
    throughput: dict[str, dict[str, float]] = field(default_factory=dict)
    train: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)

    def env_steps_per_s(self) -> dict[str, float] | None:
        """Statistics (mean/min/max/std) of the end-to-end env-steps/s, by the best name present."""
        name = self.env_steps_name()
        return self.throughput[name] if name else None

    def env_steps_name(self) -> str | None:
        """The measurement env_steps_per_s() reads (None: no env-steps rate in the file)."""
        for pattern in _TOTAL_RATE_PATTERNS:
            for name, stats in self.throughput.items():
                if name != VECTORISED_RATE and pattern.search(name) and "mean" in stats:
                    return name
        return None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _absorb(report: KpiReport, phase: str, name: str, value: Any) -> None:
    report.raw.setdefault(phase, {})[name] = value
    if name in ("task", "workflow_name") and isinstance(value, str):
        setattr(report, "task" if name == "task" else "workflow", value)
        return
    if name == "num_envs":
        number = _finite(value) if not isinstance(value, str) else _finite(_to_number(value))
        if number is not None:
            report.num_envs = int(number)
        return
    number = _finite(value)
    if number is None:
        return
    if name in STARTUP_NAMES:
        report.startup_s[STARTUP_NAMES[name]] = number / 1000.0
    elif name in TRAIN_NAMES:
        report.train[TRAIN_NAMES[name]] = number
    else:
        stat = _STAT.match(name)
        if stat and "fps" in stat.group(2).lower():
            report.throughput.setdefault(stat.group(2), {})[stat.group(1).lower()] = number


def _to_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _strip_prefix(name: str, phase: str) -> str:
    """3.x JSON names read "<workflow> <phase> <name>"."""
    marker = f" {phase} "
    return name.split(marker, 1)[1] if phase and marker in name else name


def _from_phase_list(phases: list[Any], report: KpiReport) -> None:
    for entry in phases:
        if not isinstance(entry, dict):
            continue
        metadata = {
            str(m.get("name")): m.get("data") for m in entry.get("metadata", []) if isinstance(m, dict) and "name" in m
        }
        phase = str(entry.get("phase_name") or _phase_from(metadata) or "unknown")
        for name, data in metadata.items():
            _absorb(report, phase, _strip_prefix(name, phase), data)
        for m in entry.get("measurements", []):
            if not isinstance(m, dict) or "name" not in m:
                continue
            name = _strip_prefix(str(m["name"]), phase)
            if "value" in m:
                _absorb(report, phase, name, m["value"])
            for stat in ("mean", "std", "min", "max"):
                if stat in m:
                    _absorb(report, phase, f"{stat.capitalize()} {name}", m[stat])


def _phase_from(metadata: dict[str, Any]) -> str | None:
    for name, data in metadata.items():
        if name == "phase" or name.endswith(" phase"):
            return str(data)
    return None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def parse_kpi(data: Any) -> KpiReport:
    """Read any of the known Isaac Lab benchmark output shapes."""
    if isinstance(data, list):
        report = KpiReport(source="isaaclab3-phases")
        _from_phase_list(data, report)
    elif isinstance(data, dict) and isinstance(data.get("phases"), list):
        report = KpiReport(source="isaaclab3-phases")
        _from_phase_list(data["phases"], report)
    elif _is_2x_kpi_file(data):
        report = KpiReport(source="isaaclab2-kpi")
        for phase, values in data.items():
            if not isinstance(values, dict):  # App Info, timestamp, Kit
                report.raw.setdefault("file", {})[str(phase)] = values
                continue
            for name, value in values.items():
                _absorb(report, str(phase), str(name), value)
        report.notes.append("2.x KPI values are all labelled ms; units taken from names")
    elif _is_typed_bundle(data):
        report = _from_typed_bundle(data)
    elif isinstance(data, dict):
        report = KpiReport(source="isaaclab3-bundle")
        for path, value in _flatten(data).items():
            phase, _, name = path.rpartition(".")
            parent = phase.rpartition(".")[2]
            if name in ("mean", "std", "min", "max", "peak") and parent:
                # {"total_fps": {"mean": ...}} reads like the 2.x "Mean Total FPS"
                stat = "Max" if name == "peak" else name.capitalize()
                _absorb(report, phase, f"{stat} {parent}", value)
                continue
            _absorb(report, phase or "bundle", name, value)
        report.notes.append("3.x bundle read by field names; unknown fields kept in raw")
    else:
        raise MetricsError(
            "Isaac Lab benchmark output is neither a JSON object nor a list of phases",
            "pass a kpis_*.json or a 3.x result file",
        )
    if not (report.startup_s or report.throughput or report.train or report.task):
        raise MetricsError(
            f"no known Isaac Lab benchmark measurements found ({report.source} shape)",
            "is this a benchmark script's output?",
        )
    return report


def _is_typed_bundle(data: Any) -> bool:
    """isaaclab 3.0.0's TrainingBundle/RuntimeBundle (isaaclab/benchmark/schema.py, SCHEMA_VERSION "1.4")."""
    return (
        isinstance(data, dict)
        and "schema_version" in data
        and isinstance(data.get("runtime"), dict)
        and isinstance(data["runtime"].get("total_fps"), dict)
    )


# schema.py StartupTime's fields (seconds already) → our keys
_BUNDLE_STARTUP = {
    "app_launch": "app_launch_s",
    "python_imports": "python_imports_s",
    "task_config": "task_config_s",
    "env_creation": "env_creation_s",
    "first_step": "first_step_s",
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _stats(value: Any) -> dict[str, float]:
    """schema.py MeanStd {mean, std, peak} → our {mean, std, max}."""
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for key, ours in (("mean", "mean"), ("std", "std"), ("peak", "max")):
            number = _finite(value.get(key))
            if number is not None:
                out[ours] = number
    return out


def _from_typed_bundle(data: dict[str, Any]) -> KpiReport:
    """Read the typed bundle by its schema: env-steps/s is runtime.total_fps (end to end, with the policy
    update: the scripts' "Total FPS"), not collection_fps (rollout only); start-up phases in seconds."""
    report = KpiReport(source=f"isaaclab3-bundle-{data.get('schema_version')}")
    runtime = data["runtime"]
    run = _dict(data.get("run"))
    report.task = run.get("task") if isinstance(run.get("task"), str) else None
    report.workflow = "training" if "learning" in data else "runtime"
    num_envs = _finite(run.get("num_envs"))
    report.num_envs = int(num_envs) if num_envs is not None else None
    for key, ours in _BUNDLE_STARTUP.items():
        number = _finite(_dict(runtime.get("startup_time_s")).get(key))
        if number is not None:
            report.startup_s[ours] = number
    for name, key in (("Total FPS", "total_fps"), ("Collection FPS", "collection_fps")):
        stats = _stats(runtime.get(key))
        if stats:
            report.throughput[name] = stats
    iteration = _stats(runtime.get("iteration_time_s"))
    if "mean" in iteration:
        report.train["iteration_time_s"] = iteration["mean"]
    reward = _dict(_dict(data.get("learning")).get("reward"))
    for key, ours in (("final_raw", "last_reward"), ("final_ema", "ema_reward")):
        number = _finite(reward.get(key))
        if number is not None:
            report.train[ours] = number
    util = _stats(_dict(data.get("resources")).get("gpu_util_pct"))
    if "mean" in util:
        report.train["gpu_util_pct"] = util["mean"]
    report.raw = {"bundle": data}
    return report


def _is_2x_kpi_file(data: Any) -> bool:
    """2.x's OmniPerf KPI file: phase dicts (startup/runtime/train) beside optional App Info/timestamp/Kit."""
    if not isinstance(data, dict) or not ({"startup", "runtime", "train"} & set(data)):
        return False
    return all(isinstance(v, dict) or k in KPI_FILE_METADATA for k, v in data.items())


def load_kpi(path: Path) -> KpiReport:
    """Read a kpis_*.json or a 3.x result file."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise MetricsError(f"cannot read {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetricsError(f"{path} is not valid JSON", "was the benchmark cut off?") from exc
    return parse_kpi(data)


@dataclass
class BenchmarkSummary:
    """What the KPI files in a pulled artifacts folder say, for the ledger (one run, one or more files)."""

    files: list[Path]
    reports: list[KpiReport]
    env_steps_per_s: float | None = None  # mean, from the file with the best env-steps measure
    env_steps_source: str | None = None  # "<file name>: <measurement>"
    vectorised_steps_per_s: float | None = None  # non_rl's "Environment step FPS" (all envs at once)
    startup_s: dict[str, float] = field(default_factory=dict)
    task: str | None = None
    num_envs: int | None = None

    def metrics(self) -> list[tuple[str, float, str]]:
        """(name, value, unit) rows for Ledger.record_metric."""
        rows: list[tuple[str, float, str]] = []
        if self.env_steps_per_s is not None:
            rows.append(("env_steps_per_s", self.env_steps_per_s, "env-steps/s"))
        if self.vectorised_steps_per_s is not None:
            rows.append(("vectorised_steps_per_s", self.vectorised_steps_per_s, "steps/s"))
        rows += [(f"startup_{k}", v, "s") for k, v in sorted(self.startup_s.items())]
        if self.num_envs is not None:
            rows.append(("num_envs", float(self.num_envs), ""))
        return rows


BUNDLE_NAME = re.compile(r"^benchmark_(training|runtime)_.+\.json$")


@dataclass
class IsaacLabBundle:
    """Isaac Lab 3's own figures from its TrainingBundle, beside (never instead of) lambdabench's wall clock."""

    file: str  # relative to the folder searched
    schema_version: str
    report: KpiReport
    iterations: int | None
    versions: dict[str, Any]

    @property
    def provenance(self) -> str:
        """How the report names the figure: 'Isaac Lab benchmark total_fps, schema 1.4'."""
        return f"Isaac Lab benchmark total_fps, schema {self.schema_version}"

    def metrics(self) -> list[tuple[str, float, str]]:
        """(name, value, unit) rows for the ledger, every key prefixed isaaclab_."""
        rows: list[tuple[str, float, str]] = []
        for name, key in (("Total FPS", "env_steps_per_s"), ("Collection FPS", "collection_env_steps_per_s")):
            stats = self.report.throughput.get(name, {})
            if "mean" in stats:
                rows.append((f"isaaclab_{key}", stats["mean"], "env-steps/s"))
        if "iteration_time_s" in self.report.train:
            rows.append(("isaaclab_iteration_time_s", self.report.train["iteration_time_s"], "s"))
        rows += [(f"isaaclab_startup_{k}", v, "s") for k, v in sorted(self.report.startup_s.items())]
        return rows

    def record_section(self) -> dict[str, Any]:
        """The run record's "isaaclab_benchmark" part."""
        total = self.report.throughput.get("Total FPS", {})
        return {
            "file": self.file,
            "schema_version": self.schema_version,
            "provenance": self.provenance,
            "env_steps_per_s": total.get("mean"),
            "env_steps_per_s_std": total.get("std"),
            "env_steps_per_s_peak": total.get("max"),
            "collection_env_steps_per_s": self.report.throughput.get("Collection FPS", {}).get("mean"),
            "iteration_time_s": self.report.train.get("iteration_time_s"),
            "iterations": self.iterations,
            "startup_s": dict(self.report.startup_s),
            "versions": dict(self.versions),
        }


def read_isaaclab_bundle(folder: Path) -> IsaacLabBundle | None:
    """The newest TrainingBundle (schema.py, `isaaclab benchmark training`) under folder; None when there is none."""
    found: list[tuple[str, Path, dict[str, Any]]] = []
    for path in sorted(Path(folder).rglob("benchmark_training_*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if BUNDLE_NAME.match(path.name) and _is_typed_bundle(data) and "learning" in data:
            found.append((str(_dict(data.get("run")).get("end_time_utc") or ""), path, data))
    if not found:
        return None
    _, path, data = max(found, key=lambda item: (item[0], item[1].name))
    iterations = _finite(data["runtime"].get("iterations_completed"))
    versions = {k: v for k, v in _dict(data.get("versions")).items() if isinstance(v, str) and v}
    return IsaacLabBundle(
        file=str(path.relative_to(folder)),
        schema_version=str(data.get("schema_version")),
        report=_from_typed_bundle(data),
        iterations=int(iterations) if iterations is not None else None,
        versions=versions,
    )


def read_benchmark_artifacts(folder: Path, *, bundles: bool = True) -> BenchmarkSummary | None:
    """Every ``kpis_*.json`` and 3.x benchmark bundle under folder (e.g. a run's pulled artifacts/); None when there is none.

    Files that do not parse are skipped (their problem is in the summary's report notes only when
    at least one other file parsed); env-steps/s comes from the best measure across the files.
    bundles=False: 2.x KPI files only (3.x bundles are read beside the training: read_isaaclab_bundle).
    """
    # 2.x kpis_*.json; 3.x `isaaclab benchmark training|runtime` bundles (benchmark_<workflow>_<task>_<time>_<id>.json)
    files = sorted(
        p
        for p in Path(folder).rglob("*.json")
        if p.is_file() and (p.name.startswith("kpis_") or (bundles and BUNDLE_NAME.match(p.name)))
    )
    if not files:
        return None
    summary = BenchmarkSummary(files=files, reports=[])
    for path in files:
        try:
            report = load_kpi(path)
        except MetricsError:
            continue
        summary.reports.append(report)
        summary.task = summary.task or report.task
        summary.num_envs = summary.num_envs or report.num_envs
        for key, value in report.startup_s.items():
            summary.startup_s.setdefault(key, value)
        vectorised = report.throughput.get(VECTORISED_RATE, {}).get("mean")
        if vectorised is not None and summary.vectorised_steps_per_s is None:
            summary.vectorised_steps_per_s = vectorised
        name = report.env_steps_name()
        if name is not None and summary.env_steps_per_s is None:
            summary.env_steps_per_s = report.throughput[name]["mean"]
            summary.env_steps_source = f"{path.name}: {name}"
    return summary if summary.reports else None
