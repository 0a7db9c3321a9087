"""After a run's teardown: its metrics into the ledger (figures and whole curves), and its run record.

The outputs were pulled and verified before the terminate (`rc.pulled`); nothing here needs the
instance, so none of it is billed. `ingest` reads each `--seeds` pass's kept files, then the run's:
the MJX result, a training run's TensorBoard events, a workload's metrics.json, every node's GPU
telemetry, and the set-up steps' durations (`ingest_run`). write_record (once) adds the final cost
and writes result.json. A crash between the terminate and the ingest leaves `PENDING` in the run
folder, from which `resume` ingests the run (`load_pending`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdabench.ledger import MetricKey

if TYPE_CHECKING:
    from lambdabench.ledger import Ledger
    from lambdabench.run.context import PulledPass, RunContext


def ingest(rc: RunContext, *, whole: bool = True) -> dict[str, Any] | None:
    """After teardown: each finished `--seeds` pass, then (`whole`: the run finished its work) the run's own
    figures; returns what the run record needs (None: the run pulled nothing whole)."""
    seeds = _SeedPasses(rc)
    for p in list(rc.passes):
        seeds.record(p)
    if not (whole and rc.pulled):
        return None
    started = time.time()
    parts = seeds.cold_startup(ingest_run(rc))
    # read after the accepted terminate: not billed (`ingest_s`, which the report counts as billed, is not written)
    rc.ledger.record_metric(rc.run_id, "ingest_after_teardown_s", time.time() - started, unit="s", source="overhead")
    seeds.summarize()
    return parts


# the run's start-up split and what explains it (metric keys, and those starting with ISAACLAB_STARTUP or
# KPI_STARTUP); under --seeds each is its first (cold) pass's, the later passes' kept as warm figures (seed:<key>)
STARTUP_KEYS = frozenset(
    {
        "image_pull_s",
        "container_start_s",
        "install_s",
        "compile_s",
        "shader_compile_s",
        "first_step_s",
        "scene_creation_s",
        "simulation_start_s",
        "startup_s",
        "warp_cache_cold",
        "shader_compile_unknown",
        "shader_compile_not_applicable",
        "first_step_unknown",
    }
)
ISAACLAB_STARTUP = "isaaclab_startup_"  # Isaac Lab's own StartupTime phases from its TrainingBundle
KPI_STARTUP = "startup_"  # Isaac Lab 2.x benchmark scripts' start-up phases from their KPI file (metrics.kpi)


def startup_metric(key: str) -> bool:
    """Whether a metric is part of the run's start-up split (a stage, or what explains one)."""
    return key in STARTUP_KEYS or key.startswith((ISAACLAB_STARTUP, KPI_STARTUP))


class _SeedPasses:
    """`--seeds`: each pass's figures as ledger series "seed:<key>" (x = the seed), read from its kept files."""

    ISAACLAB = "isaaclab_env_steps_per_s"  # Isaac Lab's own figure (benchmark=isaaclab): each pass's bundle
    KEYS = (
        "env_steps_per_s",
        "env_steps",
        "reward",
        "install_s",
        "compile_s",
        "first_step_s",
        "scene_creation_s",
        "simulation_start_s",
        "shader_compile_s",
        "startup_s",
        "warp_cache_cold",
        ISAACLAB,
    )

    def __init__(self, rc: RunContext) -> None:
        self.rc = rc
        self.points: dict[str, list[tuple[float | None, float | None, float]]] = {k: [] for k in self.KEYS}
        self.isaaclab_row: tuple[str, str] = ("", "")  # its unit and source (the bundle's schema), as recorded
        self.cold: tuple[str, dict[str, Any], list[tuple[str, float, str, str]]] | None = None  # the first pass's

    def record(self, p: PulledPass) -> None:
        """Ingest one pass as it was at its end (its files, facts, window and notes) and keep its figures."""
        rc = self.rc
        began = time.time()
        first = self.cold is None
        view = dataclasses.replace(
            rc,
            run_dir=rc.run_dir / "seeds" / f"seed-{p.seed}",
            facts=p.facts,
            wall_window=p.wall_window,
            notes=list(p.notes),
            # the first pass is the cold start: the set-up's install steps before it are its own
            pass_started=None if first else p.started,
            pass_ended=p.ended,
        )
        parts = ingest_run(view)
        fresh: dict[str, tuple[float, int, float]] = {}
        startup: list[tuple[str, float, str, str]] = []
        for m in rc.ledger.metrics(run_id=rc.run_id):  # what this pass's ingest recorded (a key again: replaced)
            if m.recorded >= began and startup_metric(m.key):
                startup.append((m.key, m.value, m.unit, m.source))
            if (
                m.key in self.points
                and m.recorded >= began
                and (m.key not in fresh or (m.recorded, m.id) > fresh[m.key][:2])
            ):
                fresh[m.key] = (m.recorded, m.id, m.value)
                if m.key == self.ISAACLAB:
                    self.isaaclab_row = (m.unit, m.source)
        if first:
            self.cold = (p.seed, parts, startup)
        for key, (_, _, value) in fresh.items():
            self.points[key].append((None, float(p.seed), value))
            rc.ledger.record_series(rc.run_id, f"seed:{key}", self.points[key], source="seeds")
        rate = fresh.get("env_steps_per_s")
        rc.notify(f"seed {p.seed}: " + (f"{rate[2]:,.0f} env-steps/s" if rate else "no env-steps/s recorded"))

    def cold_startup(self, parts: dict[str, Any]) -> dict[str, Any]:
        """The run's start-up is its first (cold) pass's: what the user paid. The whole run's ingest read the last
        pass's files (a warm start), so the first pass's start-up metrics are recorded again (latest wins), and its
        record's start-up, Isaac Lab benchmark section (beside the record's throughput, also the first pass's) and
        their notes replace the last pass's."""
        if self.cold is None:
            return parts
        seed, cold, metrics = self.cold
        for key, value, unit, source in metrics:
            self.rc.ledger.record_metric(self.rc.run_id, key, value, unit=unit, source=source)
        last = set(parts.get("first_pass_notes") or ())
        notes = [n for n in parts.get("notes") or [] if n not in last] + list(cold.get("first_pass_notes") or [])
        notes.append(
            f"start-up: the first pass's (seed {seed}, cold); the later passes' stages are warm figures "
            "(series seed:<stage>)"
        )
        out = {**parts, "startup": cold.get("startup") or {}, "notes": notes}
        if cold.get("isaaclab_benchmark"):
            out["isaaclab_benchmark"] = cold["isaaclab_benchmark"]
            notes.append(
                f"isaaclab_benchmark: the first pass's bundle (seed {seed}); the metric isaaclab_env_steps_per_s "
                "is the mean over the passes (series seed:isaaclab_env_steps_per_s)"
            )
        return out

    def summarize(self) -> None:
        """The run's own figures over its passes: mean env-steps/s (ours and Isaac Lab's), total env-steps (recorded
        last, so they win)."""
        rates = [p[2] for p in self.points["env_steps_per_s"]]
        steps = [p[2] for p in self.points["env_steps"]]
        if len(rates) > 1:
            self.rc.ledger.record_metric(
                self.rc.run_id, "env_steps_per_s", sum(rates) / len(rates), unit="steps/s", source="seeds"
            )
        if len(steps) > 1:
            self.rc.ledger.record_metric(self.rc.run_id, "env_steps", sum(steps), unit="steps", source="seeds")
        if len(rates) > 1:
            self.rc.ledger.record_metric(self.rc.run_id, "seeds", float(len(rates)), source="seeds")
        # Isaac Lab's own figure is compared with ours: the same passes, the same mean (not the last pass's bundle)
        own = [p[2] for p in self.points[self.ISAACLAB]]
        if len(own) > 1:
            unit, source = self.isaaclab_row
            self.rc.ledger.record_metric(self.rc.run_id, self.ISAACLAB, sum(own) / len(own), unit=unit, source=source)


def ingest_run(rc: RunContext) -> dict[str, Any]:
    """Record env-steps/s, steps, reward, curves, utilisation, energy and start-up times; keep the record body."""
    ledger, run_id, run_dir = rc.ledger, rc.run_id, rc.run_dir
    library = rc.benchmark.values.get("library")
    notes: list[str] = list(rc.notes)  # the remote phase's first (a telemetry pull that failed)
    training = None
    mjx_stats: dict[str, Any] | None = None
    env_steps: float | None = None
    source = ""
    mjx = run_dir / "results" / "mjx-result.json"
    mjx_doc: dict[str, Any] = {}
    searched: dict[str, Any] | None = None
    if mjx.exists():
        try:
            mjx_doc = json.loads(mjx.read_bytes())
            if not isinstance(mjx_doc, dict):
                raise TypeError(f"a JSON {type(mjx_doc).__name__}, not an object")
            mjx_stats, env_steps = _mjx(ledger, run_id, mjx_doc)
            record_max_envs(ledger, run_id, mjx_doc)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            # a malformed result is a run whose figures are unknown, never a traceback
            why = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
            notes.append(f"results/mjx-result.json unreadable ({why}): its figures are unknown")
            mjx_doc, mjx_stats, env_steps = {}, None, None
        source = "mjx"
    elif (searched := _il_max_envs(rc, notes)) is not None:
        source = "max-envs"  # a search trains only probes: no training figures to read
    elif _kpi(rc, notes):
        source = "kpi"
    else:
        training, env_steps, source = _training(rc, library, notes)
    if env_steps:
        ledger.record_metric(run_id, MetricKey.ENV_STEPS, env_steps, unit="steps", source=source or "unknown")
    telemetry, samples = _telemetry(rc, notes)
    if searched is not None:
        record_probe_memory(ledger, run_id, searched, samples)
    timed = _mjx_timed(rc, mjx_doc, samples, notes) if mjx_stats is not None else {}
    if mjx_stats is not None:
        record_tails(ledger, run_id, _mjx_runs(mjx_doc), samples, notes)
    lock = record_lock(ledger, run_id, run_dir, notes)
    if training is not None:
        timed = _training_timed(rc, training, samples, notes)
    gpu_count = sum(int(f.get("gpu_count") or 0) for f in rc.facts.values())
    if gpu_count:
        ledger.record_metric(run_id, "gpu_count", float(gpu_count), source="nvidia-smi")
    _user_metrics(ledger, run_id, run_dir)
    startup: dict[str, float | None] = {}
    install = 0.0
    installed = False
    for step in ledger.steps(run_id):
        if rc.pass_ended is not None and step.started is not None and step.started > rc.pass_ended:
            continue  # a later --seeds pass's step
        if step.name.endswith("start the container") and step.ended and step.started:
            seconds = step.ended - step.started
            startup["container_start"] = seconds
            ledger.record_metric(run_id, MetricKey.CONTAINER_START_S, seconds, unit="s", source="steps")
        # install steps of this pass only (with --seeds the earlier passes' steps are in the ledger too)
        name = step.name.rsplit(": ", 1)[-1]
        if (
            name.startswith("install")
            and step.ended
            and step.started
            and (rc.pass_started is None or step.started >= rc.pass_started)
        ):
            install += step.ended - step.started
            installed = True
    if installed:
        startup["install"] = install
        ledger.record_metric(run_id, "install_s", install, unit="s", source="steps")
    # notes on the start-up and Isaac Lab's own figures: under --seeds the run's are its first pass's (cold_startup)
    first_pass_notes: list[str] = []
    if training is not None:
        startup.update(_training_startup(rc, training, first_pass_notes))
    if searched is None and source != "kpi" and rc.benchmark.name in ISAACLAB_TRAINING:
        startup.update(record_console_startup(rc, library, training, first_pass_notes))
    shader = record_shader_compile(rc, first_pass_notes)
    if shader is not None:
        startup["shader_compile"] = shader
    isaaclab = _isaaclab_bundle(rc, training, first_pass_notes)
    notes.extend(first_pass_notes)
    if len(rc.nodes) > 1:
        record_scaling(ledger, run_id)
    if env_steps and mjx_stats is not None and math.isfinite(env_steps):
        mjx_stats["total_env_steps"] = int(env_steps)
    notes.extend(ledger.unknown_figures(run_id))  # NaN or ±inf: not stored, said here
    rc_record = {
        "training": training,
        "telemetry": telemetry,
        "startup": startup,
        "notes": notes,
        "first_pass_notes": first_pass_notes,
        "mjx_stats": mjx_stats,
        "mjx_timed": timed,
        "mjx_hardware": mjx_doc.get("hardware") or {},
        "environment_lock": lock,
        "isaaclab_benchmark": isaaclab,
    }
    return rc_record


def _mjx_runs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per N: the cross-rank totals of a multi-GPU result, else the single rank's runs."""
    return (doc.get("aggregate") or {}).get("runs") or doc.get("runs") or []


def _mjx(ledger: Ledger, run_id: int, doc: dict[str, Any]) -> tuple[dict[str, Any] | None, float | None]:
    runs = _mjx_runs(doc)
    if not runs:
        return None, None
    best = max(runs, key=lambda r: r.get("num_envs_total", r.get("num_envs", 0)))
    rate = best["env_steps_per_s"]
    stats = {
        "mean": rate["mean"],
        "std": rate.get("std", 0.0),
        "peak": rate.get("peak", rate["mean"]),
        "samples": rate.get("samples"),
        "source": "mjx",
        "warmup_rule": doc.get("warmup_rule"),
    }
    ledger.record_metric(run_id, MetricKey.ENV_STEPS_PER_S, float(stats["mean"]), unit="steps/s", source="mjx")
    ledger.record_metric(run_id, "num_envs", float(best.get("num_envs_total", best.get("num_envs", 0))), source="mjx")
    # the scaling curve: env-steps/s for every N the benchmark measured
    curve = sorted(
        (float(r.get("num_envs_total", r.get("num_envs", 0))), float(r["env_steps_per_s"]["mean"]))
        for r in runs
        if r.get("env_steps_per_s")
    )
    ledger.record_series(
        run_id, "env_steps_per_s_by_num_envs", [(None, n, v) for n, v in curve], unit="steps/s", source="mjx"
    )
    compile_s = (doc.get("startup_s") or {}).get("compile")
    if compile_s is not None:
        ledger.record_metric(run_id, "compile_s", float(compile_s), unit="s", source="mjx")
    first = min(runs, key=lambda r: r.get("num_envs_total", r.get("num_envs", 0)))
    if isinstance(first.get("first_call_s"), int | float):
        # the first compiled call at the first N: what a cold start waits for before steady stepping
        ledger.record_metric(run_id, "first_step_s", float(first["first_call_s"]), unit="s", source="mjx")
    return stats, float(sum(r.get("total_env_steps", 0) for r in runs))


MAX_ENVS_METRICS = ("max_num_envs_fit", "max_num_envs_first_oom", "max_num_envs_bound")
MAX_ENVS_ENDED = "max_num_envs_ended_early"  # the N whose probe ended the search before memory did; source: why


def _ended(found: dict[str, Any]) -> str:
    """Why a search ended before an out-of-memory or its bound, from its last probe (the metric's source)."""
    last = found["tries"][-1]
    n, cap = int(last["num_envs"]), last.get("cap_seconds") or found.get("probe_seconds")
    if found.get("stopped") == "time":
        past = f"the probe at {n:,} envs ran past its {cap:.0f} s cap" if cap else f"the probe at {n:,} envs timed out"
        return past + " (raise probe_seconds or probe_seconds_per_million_envs to go further)"
    return f"the probe at {n:,} envs failed (exit status {last.get('exit_status')}, not an out-of-memory)"


def record_max_envs(ledger: Ledger, run_id: int, doc: dict[str, Any]) -> dict[str, Any] | None:
    """The largest-num_envs search of an MJX result (its "max_envs"): the largest size that fit, the first that did
    not (the error's type, code and stage as the metric's source), the bound, and every probe as a series."""
    found = doc.get("max_envs")
    if not isinstance(found, dict):
        return None
    model = "modelled GPU memory (simulator)" if found.get("memory_model") else "measured"
    oom = found.get("oom_error") or {}
    workload = str(doc.get("workload") or "mjx")  # the MJX result names none
    said = (oom.get("error_type"), oom.get("error_code"), "at", oom.get("error_stage")) if oom else ()
    evidence = " ".join(str(x) for x in (workload, *said) if x)
    for key, field_name, source in zip(
        MAX_ENVS_METRICS,
        ("largest_fit", "first_oom", "bound"),
        (f"{workload} ({model})", evidence, workload),
        strict=True,
    ):
        if isinstance(found.get(field_name), int | float):
            ledger.record_metric(run_id, key, float(found[field_name]), unit="envs", source=source)
    ledger.record_metric(run_id, "max_num_envs_modelled", 1.0 if found.get("memory_model") else 0.0, source="mjx")
    tries = [t for t in found.get("tries") or [] if isinstance(t.get("num_envs"), int | float)]
    if found.get("stopped") in ("time", "error") and tries:
        ledger.record_metric(run_id, MAX_ENVS_ENDED, float(tries[-1]["num_envs"]), unit="envs", source=_ended(found))
    # a probe that passed its cap or failed neither fit nor ran out of memory: not in the series
    tries = [t for t in tries if t.get("status") not in ("time", "failed")]
    if tries:
        points = [(None, float(t["num_envs"]), 1.0 if t.get("fits") else 0.0) for t in tries]
        ledger.record_series(run_id, "max_envs_probe_fits", points, unit="1 fits, 0 out of memory", source=model)
    return found


IL_MAX_ENVS = "max-envs-result.json"  # il_maxenvs.py's result, pulled from the work folder's logs/max-envs/


def _il_max_envs(rc: RunContext, notes: list[str]) -> dict[str, Any] | None:
    """An Isaac Lab largest-num_envs search's result (artifacts/**/max-envs-result.json), into the ledger."""
    found = sorted((rc.run_dir / "artifacts").glob(f"**/{IL_MAX_ENVS}"))
    if not found:
        return None
    try:
        doc = json.loads(found[0].read_bytes())
        if not isinstance(doc, dict) or not isinstance(doc.get("max_envs"), dict):
            raise TypeError("no max_envs object")
        record_max_envs(rc.ledger, rc.run_id, doc)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        why = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
        notes.append(f"{found[0].name} unreadable ({why}): the search's figures are unknown")
        return None
    if doc.get("error"):
        notes.append(f"largest-num_envs search: {doc['error']}")
    return doc


def record_probe_memory(ledger: Ledger, run_id: int, doc: dict[str, Any], samples: list[Any]) -> None:
    """Each probe's peak GPU memory (nvidia-smi's memory.used on GPU 0, the probes' device, sampled inside the probe's
    window; none there: unknown), as a series by num_envs."""
    from lambdabench.workloads.aggregate import telemetry_window

    points = []
    for probe in doc["max_envs"].get("tries") or []:
        span = telemetry_window(probe) if isinstance(probe, dict) else None
        if span is None or not isinstance(probe.get("num_envs"), int | float):
            continue
        used = [
            s.memory_used_mib
            for s in samples
            if s.index == 0 and span[0] <= s.time_s <= span[1] and s.memory_used_mib is not None
        ]
        if used:
            points.append((None, float(probe["num_envs"]), max(used)))
    if points:
        source = f"nvidia-smi in each probe's window ({doc.get('workload')})"
        ledger.record_series(run_id, "max_envs_probe_gpu_mem_mib", points, unit="MiB", source=source)


def _mjx_timed(rc: RunContext, doc: dict[str, Any], samples: list[Any], notes: list[str]) -> dict[str, float]:
    """GPU utilisation and energy per million env-steps inside the benchmark's timed windows.

    Each N's window is on the telemetry clock (mjx_bench writes it in nvidia-smi's local-time format).
    Whole-run telemetry also holds JAX's compile and the warm-up calls: on the real H200 (driver
    580.159.04, mjx-locomotion, N 1,024…65,536) the whole run read 36% utilisation and 0.044 Wh per
    million env-steps, the timed windows 96% and 0.022 (tests/workloads/data/h200-lambdabench-local).
    """
    from lambdabench.metrics.telemetry import TimedWindow, in_windows
    from lambdabench.workloads.aggregate import telemetry_window

    if not samples:
        return {}
    windows = []
    for run in _mjx_runs(doc):
        span, steps = telemetry_window(run), run.get("total_env_steps")
        if span is not None and steps:
            windows.append(
                TimedWindow(span[0], span[1], float(steps), float(run.get("num_envs_total", run.get("num_envs", 0))))
            )
    figures = in_windows(samples, windows)
    out: dict[str, float] = {}
    ledger, run_id = rc.ledger, rc.run_id
    if figures.utilization_pct is not None:
        out["gpu_util_timed_pct"] = figures.utilization_pct
        ledger.record_metric(run_id, "gpu_util_timed_pct", figures.utilization_pct, unit="%", source="nvidia-smi+mjx")
    if figures.wh_per_million_steps is not None:
        out["wh_per_million_steps"] = figures.wh_per_million_steps
        ledger.record_metric(
            run_id, "wh_per_million_steps", figures.wh_per_million_steps, unit="Wh/M steps", source="nvidia-smi+mjx"
        )
        ledger.record_series(
            run_id,
            "wh_per_million_steps_by_num_envs",
            [(None, n, v) for n, v in figures.by_window],
            unit="Wh/M steps",
            source="nvidia-smi+mjx",
        )
        notes.append(
            "Wh per million env-steps and timed utilisation: inside the timed windows only "
            "(compile and warm-up left out); GPU energy and utilisation are the whole run's"
        )
    return out


# playbooks that start Isaac Sim (Kit, its RTX renderer) in the container; collect gathers their Kit logs
ISAAC_SIM_PLAYBOOKS = frozenset({"isaaclab-train", "isaaclab-play", "isaaclab-benchmark"})
KITLESS_PREFIX = "isaaclab3-"  # Isaac Lab 3 from PyPI: no Kit, no RTX renderer on its state tasks


def record_shader_compile(rc: RunContext, notes: list[str]) -> float | None:
    """The run's shader compile from the Kit logs collect pulled (artifacts/**/kit/kit_*.log): its seconds, or
    why it is unknown (metric shader_compile_unknown, SHADER_UNKNOWN's code); kitless runs: it does not apply."""
    from lambdabench.metrics.kitlog import SHADER_UNKNOWN, read_kit_logs, shader_compile

    ledger, run_id, name = rc.ledger, rc.run_id, rc.benchmark.name
    if name.startswith(KITLESS_PREFIX):
        ledger.record_metric(run_id, "shader_compile_not_applicable", 1.0, source="kitless")
        return None
    if name not in ISAAC_SIM_PLAYBOOKS:
        return None
    logs = read_kit_logs(kit_log_files(rc.run_dir))
    seconds, why = shader_compile(logs)
    if seconds is None:
        code = why or 1
        ledger.record_metric(run_id, "shader_compile_unknown", float(code), source="kit-log")
        notes.append(f"shader compile unknown: {SHADER_UNKNOWN[code]}")
        return None
    ledger.record_metric(run_id, "shader_compile_s", seconds, unit="s", source="kit-log")
    return seconds


def kit_log_files(run_dir: Path) -> list[Path]:
    """The Kit logs of the run's last collect: collect puts each collect's in kit/<UTC time>/, and a --seeds pass's
    pulled folder keeps the earlier passes' too (per node: each node's artifacts have their own kit/)."""
    out: list[Path] = []
    for kit in run_dir.glob("artifacts/**/kit"):
        stamps = sorted(p for p in kit.iterdir() if p.is_dir())
        if stamps:
            out += stamps[-1].glob("kit_*.log")
    return out


LOCK_FILE = "env-lock.json"


def lock_id(software_sha256: str) -> float:
    """The lock's first 12 hex digits as a number: the ledger keeps it as a metric (48 bits: exact as a float)."""
    return float(int(software_sha256[:12], 16))


def record_lock(ledger: Ledger, run_id: int, run_dir: Path, notes: list[str]) -> dict[str, Any] | None:
    """The environment lock the playbook pulled (results/ or artifacts/), into the ledger as metric env_lock_id."""
    found = sorted(run_dir.glob(f"results/{LOCK_FILE}")) or sorted(run_dir.glob(f"artifacts/**/{LOCK_FILE}"))
    if not found:
        return None
    try:
        lock = json.loads(found[0].read_text())
        digest = str(lock["software_sha256"])
        ledger.record_metric(run_id, "env_lock_id", lock_id(digest), source="env-lock")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        notes.append(f"environment lock unreadable ({type(exc).__name__}): not recorded")
        return None
    if isinstance(lock.get("gpus"), list):
        record_gpu_settings(ledger, run_id, [g if isinstance(g, dict) else {} for g in lock["gpus"]])
    return lock if isinstance(lock, dict) else None


def lock_number(text: Any) -> float | None:
    """A lock's nvidia-smi value as a number; None for what nvidia-smi could not say ([N/A], [Not Supported],
    [Unknown Error]: Quake4/MindMiner#627) or a missing field."""
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def record_gpu_settings(ledger: Ledger, run_id: int, gpus: list[dict[str, Any]]) -> None:
    """Each GPU's power limit and max clocks as metrics gpu<i>_<setting>, the GPU model in the source
    ("env-lock: NVIDIA H100 80GB HBM3"); a value nvidia-smi could not say is not recorded: unknown."""
    from lambdabench.report.model import GPU_SETTINGS, LOCK_GPUS

    ledger.record_metric(run_id, LOCK_GPUS, float(len(gpus)), source="env-lock")
    for i, gpu in enumerate(gpus):
        for key, (_, unit) in GPU_SETTINGS.items():
            value = lock_number(gpu.get(key))
            if value is not None:
                source = f"env-lock: {' '.join(str(gpu.get('name') or '').split())}"
                ledger.record_metric(run_id, f"gpu{i}_{key}", value, unit=unit, source=source)


TAIL_KEYS = ("step_time_p50_s", "step_time_p95_s", "step_time_p99_s")
MEMORY_KEY = "gpu_mem_steady_mib"


def _percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default rule); one value is its own percentile."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def record_tails(
    ledger: Ledger, run_id: int, runs: list[dict[str, Any]], samples: list[Any], notes: list[str]
) -> dict[float, dict[str, float]]:
    """Per N: step-time p50/p95/p99 after warm-up and steady-state GPU memory, as series "<key>_by_num_envs".

    The benchmark's own keys when its result has them (step_time_p50_s …, gpu_mem_steady_mib); else step
    time from its timed repetitions (each rep's seconds per physics step of all envs: the percentiles of a
    few rep means, narrower than per-step tails, and said so in the notes), and memory as the median of
    each GPU's memory.used samples inside that N's timed window, summed over the GPUs.
    """
    from lambdabench.metrics.telemetry import _window_samples
    from lambdabench.workloads.aggregate import telemetry_window

    out: dict[float, dict[str, float]] = {}
    derived_tails = derived_memory = False
    for run in runs:
        n = float(run.get("num_envs_total", run.get("num_envs", 0)))
        figures: dict[str, float] = {
            k: float(run[k]) for k in (*TAIL_KEYS, MEMORY_KEY) if isinstance(run.get(k), int | float)
        }
        per_step = [
            float(r["seconds"]) / (int(run.get("calls_per_rep") or 1) * int(run.get("steps_per_call") or 1))
            for r in run.get("reps") or []
            if isinstance(r.get("seconds"), int | float)
        ]
        if per_step and not all(k in figures for k in TAIL_KEYS):
            derived_tails = True
            for key, q in zip(TAIL_KEYS, (0.50, 0.95, 0.99), strict=True):
                figures.setdefault(key, _percentile(per_step, q))
        span = telemetry_window(run)
        if MEMORY_KEY not in figures and span is not None and samples:
            by_gpu: dict[int, list[float]] = {}
            for sample in _window_samples(samples, span[0], span[1]):
                if sample.memory_used_mib is not None:
                    by_gpu.setdefault(sample.index, []).append(sample.memory_used_mib)
            if by_gpu:
                derived_memory = True
                figures[MEMORY_KEY] = sum(_percentile(v, 0.5) for v in by_gpu.values())
        if figures and n:
            out[n] = figures
    for key in (*TAIL_KEYS, MEMORY_KEY):
        points = [(None, n, f[key]) for n, f in sorted(out.items()) if key in f]
        if points:
            ledger.record_series(
                run_id, f"{key}_by_num_envs", points, unit="MiB" if key == MEMORY_KEY else "s", source="mjx"
            )
    if derived_tails:
        notes.append(
            "step-time percentiles from the timed repetitions (seconds per physics step of all envs, "
            "per repetition): the benchmark's result gave no per-step percentiles"
        )
    if derived_memory:
        notes.append("steady-state GPU memory: median memory.used inside each N's timed window, summed over GPUs")
    return out


def utc_offset_s(facts: dict[str, Any]) -> float:
    """The instance's UTC offset (`date +%z`, gpu-preflight's utc_offset): nvidia-smi stamps local time."""
    text = str(facts.get("utc_offset") or "")
    match = re.fullmatch(r"([+-])(\d\d)(\d\d)", text.strip())
    if not match:
        return 0.0  # unknown: take UTC (the GPU machine and Lambda's images run on UTC)
    sign = -1.0 if match.group(1) == "-" else 1.0
    return sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)


def _training_timed(rc: RunContext, training: Any, samples: list[Any], notes: list[str]) -> dict[str, float]:
    """GPU utilisation and energy per million env-steps over the training iterations the rate counts.

    Whole-run telemetry also holds start-up: on a real H100 (Isaac Lab 3, Cartpole, measured) a cold Warp
    compile takes ~90 s of a ~2 min benchmark step, and the whole-run utilisation reads 3 %. The window is
    on the events' (epoch) clock; nvidia-smi's samples are local time, hence the instance's UTC offset.
    """
    from lambdabench.metrics.telemetry import TimedWindow, in_windows

    if not samples or training.timed_window is None:
        return {}
    start, end, steps = training.timed_window
    offset = utc_offset_s({**rc.rank0.facts, **rc.facts.get(0, {})})
    num_envs = rc.benchmark.values.get("num_envs")
    figures = in_windows(samples, [TimedWindow(start + offset, end + offset, float(steps), float(num_envs or 0))])
    out: dict[str, float] = {}
    ledger, run_id = rc.ledger, rc.run_id
    if figures.utilization_pct is not None:
        out["gpu_util_timed_pct"] = figures.utilization_pct
        ledger.record_metric(
            run_id, "gpu_util_timed_pct", figures.utilization_pct, unit="%", source="nvidia-smi+tensorboard"
        )
    if figures.wh_per_million_steps is not None:
        out["wh_per_million_steps"] = figures.wh_per_million_steps
        ledger.record_metric(
            run_id,
            "wh_per_million_steps",
            figures.wh_per_million_steps,
            unit="Wh/M steps",
            source="nvidia-smi+tensorboard",
        )
    if out:
        out["timed_window_s"] = end - start
        notes.append(
            f"GPU utilisation and Wh per million env-steps: over the {end - start:.1f} s of training "
            "iterations the rate counts (start-up, kernel compile and warm-up left out); GPU energy and "
            "utilisation are the whole run's"
        )
    return out


def _training_startup(rc: RunContext, training: Any, notes: list[str]) -> dict[str, float]:
    """Seconds from the benchmark step's start to the first training iteration (imports, scene, JIT/compile)."""
    facts = {**rc.rank0.facts, **rc.facts.get(0, {})}
    out: dict[str, float] = {}
    state = facts.get("il3_warp_cache_state")
    if state in ("cold", "warm"):
        rc.ledger.record_metric(rc.run_id, "warp_cache_cold", 1.0 if state == "cold" else 0.0, source="facts")
        notes.append(
            f"Warp kernel cache {facts.get('il3_warp_cache')}: {state} at the start "
            f"({facts.get('il3_warp_cache_modules_before', '?')} compiled modules there)"
        )
    if rc.wall_window is None or training.first_interval_start is None:
        return out
    seconds = training.first_interval_start - rc.wall_window[0]
    if seconds >= 0:
        out["to_first_iteration"] = seconds
        rc.ledger.record_metric(rc.run_id, "startup_s", seconds, unit="s", source="steps+tensorboard")
    return out


ISAACLAB_TRAINING = frozenset({"isaaclab-train", "isaaclab3-train"})  # the training console is the benchmark step's


def record_console_startup(rc: RunContext, library: str | None, training: Any, notes: list[str]) -> dict[str, float]:
    """Isaac Lab's scene creation and simulation start, and the first step (the first training iteration), from the
    pass's own training console (rank 0's benchmark step logs), else the first iteration its TensorBoard events time
    (rsl_rl, rl_games); one neither gives is unknown (metric first_step_unknown, FIRST_STEP_UNKNOWN's code), never 0."""
    from lambdabench.metrics.console import FIRST_STEP_UNKNOWN, isaaclab_startup

    ledger, run_id = rc.ledger, rc.run_id
    said = [isaaclab_startup(text) for text in _benchmark_console(rc)]
    out: dict[str, float] = {}
    scene = [s.scene_creation_s for s in said if s.scene_creation_s is not None]
    start = [s.simulation_start_s for s in said if s.simulation_start_s is not None]
    first = [s.first_iteration_s for s in said if s.first_iteration_s is not None]
    # several processes (ranks) in one console: the slowest timer; the first iteration the first of them printed
    for key, figure in (
        ("scene_creation", max(scene, default=None)),
        ("simulation_start", max(start, default=None)),
        ("first_step", first[0] if first else None),
    ):
        if figure is not None:
            out[key] = figure
            ledger.record_metric(run_id, f"{key}_s", figure, unit="s", source="console")
    tensorboard = getattr(training, "first_iteration_s", None)
    if "first_step" not in out and tensorboard is not None:
        out["first_step"] = tensorboard
        ledger.record_metric(run_id, "first_step_s", tensorboard, unit="s", source="tensorboard")
        notes.append(f"first step: {training.library}'s first iteration as its TensorBoard events time it")
    if "first_step" not in out:
        code = 1 if not said else 2 if (library or "rsl_rl") == "rsl_rl" else 3
        ledger.record_metric(run_id, "first_step_unknown", float(code), source="console")
        notes.append(f"first step unknown: {FIRST_STEP_UNKNOWN[code]}")
    return out


def _benchmark_console(rc: RunContext) -> list[str]:
    """The text of rank 0's benchmark step logs in the pass's window (each --seeds pass logs to its own files)."""
    texts = []
    for step in rc.ledger.steps(rc.run_id):
        name = step.name.removeprefix("node 0 ")
        if not name.startswith(f"{rc.benchmark.name}: ") or not step.log_path:
            continue
        if rc.wall_window is not None and not rc.wall_window[0] <= step.started <= rc.wall_window[1]:
            continue
        try:
            texts.append(Path(step.log_path).read_text(errors="replace"))
        except OSError:
            continue  # a log that is gone: its figures are unknown (said as such)
    return texts


def _kpi(rc: RunContext, notes: list[str]) -> bool:
    """Isaac Lab's own benchmark scripts (isaaclab-benchmark): their KPI files, when the run wrote any."""
    from lambdabench.metrics.kpi import read_benchmark_artifacts

    artifacts = rc.run_dir / "artifacts"
    # 2.x KPI files only: a 3.x TrainingBundle goes beside the training's own figures (_isaaclab_bundle)
    summary = read_benchmark_artifacts(artifacts, bundles=False) if artifacts.is_dir() else None
    if summary is None:
        return False
    for name, value, unit in summary.metrics():
        rc.ledger.record_metric(rc.run_id, name, value, unit=unit, source="kpi")
    if summary.env_steps_source:
        notes.append(f"env-steps/s from Isaac Lab's KPI file {summary.env_steps_source}")
    return summary.env_steps_per_s is not None


def _isaaclab_bundle(rc: RunContext, training: Any, notes: list[str]) -> dict[str, Any] | None:
    """Isaac Lab 3's own TrainingBundle (isaaclab3-train benchmark=isaaclab): its figures under isaaclab_* keys,
    beside lambdabench's wall-clock env-steps/s (which stays the run's env_steps_per_s)."""
    from lambdabench.metrics.kpi import read_isaaclab_bundle

    artifacts = rc.run_dir / "artifacts"
    bundle = read_isaaclab_bundle(artifacts) if artifacts.is_dir() else None
    if bundle is None:
        if rc.benchmark.values.get("benchmark") == "isaaclab":
            notes.append(
                "benchmark=isaaclab but no Isaac Lab TrainingBundle was pulled: Isaac Lab's own figure is unknown"
            )
        return None
    source = f"isaaclab-bundle-{bundle.schema_version}"
    for name, value, unit in bundle.metrics():
        rc.ledger.record_metric(rc.run_id, name, value, unit=unit, source=source)
    section = bundle.record_section()
    section["lambdabench_env_steps_per_s"] = getattr(training, "rate", None)
    ours = (
        "unknown"
        if section["lambdabench_env_steps_per_s"] is None
        else f"{section['lambdabench_env_steps_per_s']:,.0f}"
    )
    theirs = section["env_steps_per_s"]
    notes.append(
        f"{bundle.provenance} ({bundle.file}): {'unknown' if theirs is None else f'{theirs:,.0f}'} env-steps/s "
        f"(mean of per-iteration rates); lambdabench wall clock: {ours} env-steps/s"
    )
    return section


def world_size(rc: RunContext) -> int:
    """Training processes of the job: one per GPU over every node when the playbook trains distributed."""
    book = rc.benchmark.playbook
    facts0 = {**rc.rank0.facts, **rc.facts.get(0, {})}
    if not book.namespace(rc.benchmark.values, facts0).get("distributed"):
        return 1
    return max(1, sum(int(rc.facts.get(n.rank, {}).get("gpu_count") or n.gpus or 1) for n in rc.nodes))


def _training(rc: RunContext, library: str | None, notes: list[str]) -> tuple[Any, float | None, str]:
    """A training run's TensorBoard events, read by each library's own semantics (metrics.training)."""
    from lambdabench.metrics import MetricsError
    from lambdabench.metrics.training import read_training

    ledger, run_id = rc.ledger, rc.run_id
    artifacts = rc.run_dir / "artifacts"
    if not artifacts.is_dir():
        return None, None, ""
    num_envs = rc.benchmark.values.get("num_envs")
    try:
        tr = read_training(
            artifacts,
            library=library,
            num_envs=int(num_envs) if num_envs else None,
            world_size=world_size(rc),
            wall_window=rc.wall_window,
        )
    except MetricsError as exc:
        notes.append(f"training: {exc.message}")
        return None, None, ""
    notes.extend(f"{what}: unknown ({why})" for what, why in tr.unknown.items())
    notes.extend(f"{folder}: not this run ({why})" for folder, why in tr.skipped.items())
    if tr.rate is not None:
        ledger.record_metric(run_id, MetricKey.ENV_STEPS_PER_S, tr.rate, unit="steps/s", source="tensorboard")
    if tr.final_reward is not None:
        ledger.record_metric(run_id, "reward", tr.final_reward, source="tensorboard")
    if tr.reward_curve:
        ledger.record_series(run_id, "reward", tr.reward_curve, source="tensorboard")
    if tr.rate_curve:
        ledger.record_series(run_id, "env_steps_per_s", tr.rate_curve, unit="steps/s", source="tensorboard")
    return tr, float(tr.env_steps) if tr.env_steps else None, "tensorboard"


def _telemetry(rc: RunContext, notes: list[str]) -> tuple[Any, list[Any]]:
    """Every node's nvidia-smi samples: one summary for the run, and utilisation/memory/power curves.

    Returns (summary or None, the samples read)."""
    from lambdabench.metrics import MetricsError
    from lambdabench.metrics.telemetry import GpuSample, load_telemetry, summarize

    samples: list[GpuSample] = []
    skipped = 0
    for rank, node in enumerate(rc.nodes):
        found = sorted(rc.node_dir(node).glob("telemetry/**/telemetry.csv")) or (
            sorted((rc.run_dir / "results").glob("telemetry.csv")) if rank == 0 else []
        )
        for csv in found[:1]:
            try:
                parsed = load_telemetry(csv)
            except MetricsError as exc:
                notes.append(f"telemetry of node {rank}: {exc.message}")
                continue
            skipped += parsed.skipped_rows
            # GPU indexes repeat across nodes: keep them apart
            samples += [s if rank == 0 else _renumber(s, rank * 1000) for s in parsed.samples]
    if not samples:
        return None, []
    try:
        telemetry = summarize(samples)
    except MetricsError as exc:
        notes.append(f"telemetry: {exc.message}")
        return None, []
    ledger, run_id = rc.ledger, rc.run_id
    if telemetry.mean_utilization_pct is not None:
        ledger.record_metric(
            run_id, MetricKey.GPU_UTIL_PCT, telemetry.mean_utilization_pct, unit="%", source="nvidia-smi"
        )
    ledger.record_metric(run_id, MetricKey.ENERGY_WH, telemetry.energy_wh, unit="Wh", source="nvidia-smi")
    if telemetry.peak_memory_mib is not None:
        ledger.record_metric(run_id, "peak_memory_mib", telemetry.peak_memory_mib, unit="MiB", source="nvidia-smi")
    by_time: dict[float, list[GpuSample]] = {}
    for s in samples:
        by_time.setdefault(round(s.time_s, 1), []).append(s)
    util, mem, power = [], [], []
    for t in sorted(by_time):
        group = by_time[t]
        u = [s.utilization_pct for s in group if s.utilization_pct is not None]
        m = [s.memory_used_mib for s in group if s.memory_used_mib is not None]
        p = [s.power_w for s in group if s.power_w is not None]
        if u:
            util.append((t, None, sum(u) / len(u)))
        if m:
            mem.append((t, None, float(sum(m))))
        if p:
            power.append((t, None, float(sum(p))))
    for name, points, unit in (("gpu_util_pct", util, "%"), ("gpu_mem_mib", mem, "MiB"), ("gpu_power_w", power, "W")):
        if points:
            ledger.record_series(run_id, name, points, unit=unit, source="nvidia-smi")
    return telemetry, samples


def _renumber(sample: Any, offset: int) -> Any:
    import dataclasses

    return dataclasses.replace(sample, index=sample.index + offset)


def _user_metrics(ledger: Ledger, run_id: int, run_dir: Path) -> dict[str, float]:
    """Numbers from rank 0's `<output_dir>/metrics.json` (the multi-node contract's metrics file), if any."""
    found = sorted(run_dir.glob("artifacts/**/metrics.json"))
    if not found:
        return {}
    try:
        doc = json.loads(found[0].read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for key, value in doc.items() if isinstance(doc, dict) else []:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and re.match(r"^[a-z_][a-z0-9_]*$", key):
            ledger.record_metric(run_id, key, float(value), source="workload")
            out[key] = float(value)
    return out


# ---------------------------------------------------------------------------------------------
# multi-node: per-node throughput and scaling efficiency


def _latest(ledger: Ledger, run_id: int) -> dict[str, Any]:
    """Latest value per key, plus `__source_<key>`: where it came from."""
    latest: dict[str, Any] = {}
    for m in sorted(ledger.metrics(run_id=run_id), key=lambda m: (m.recorded, m.id)):
        latest[m.key] = m.value
        latest["__source_" + m.key] = m.source
    return latest


def record_scaling(ledger: Ledger, run_id: int) -> dict[str, float]:
    """Record cluster and per-node env-steps/s, and scaling efficiency against a one-node run.

    The reference is the newest succeeded one-node run of the same type, workload and vars with a
    throughput: efficiency = N-node throughput / (N × one-node throughput).
    """
    run = ledger.run(run_id)
    mine = _latest(ledger, run_id)
    nodes = int(mine.get("nodes", 1))
    out: dict[str, float] = {"nodes": float(nodes)}
    rate = mine.get(MetricKey.ENV_STEPS_PER_S)
    if rate is None:
        return out  # (already the whole job's: metrics.training applies each library's world-size rule)
    out["env_steps_per_s"] = rate
    out["env_steps_per_s_per_node"] = rate / nodes
    ledger.record_metric(run_id, "env_steps_per_s_per_node", rate / nodes, unit="steps/s", source="multinode")
    ref = one_node_reference(ledger, run)
    if ref is not None and ref[1] > 0:
        eff = rate / (nodes * ref[1])
        out["scaling_efficiency"] = eff
        out["scaling_reference_run"] = float(ref[0])
        ledger.record_metric(run_id, "scaling_efficiency", eff, unit="", source="multinode")
        ledger.record_metric(run_id, "scaling_reference_run", float(ref[0]), unit="", source="multinode")
    return out


def one_node_reference(ledger: Ledger, run: Any) -> tuple[int, float] | None:
    """(run id, whole-job env-steps/s) of the newest succeeded one-node run of the same work, if any."""
    want_vars = (run.params or {}).get("vars") or {}
    best: tuple[float, int, float] | None = None
    for other in ledger.runs():
        if other.id == run.id or other.status != "succeeded" or other.instance_type != run.instance_type:
            continue
        if other.workload != run.workload or ((other.params or {}).get("vars") or {}) != want_vars:
            continue
        m = _latest(ledger, other.id)
        if int(m.get("nodes", 1)) != 1 or m.get(MetricKey.ENV_STEPS_PER_S) is None:
            continue
        rate = m[MetricKey.ENV_STEPS_PER_S]
        key = (other.ended or other.created, other.id, rate)
        if best is None or key > best:
            best = key
    return None if best is None else (best[1], best[2])


# ---------------------------------------------------------------------------------------------
# the run record: written once, after teardown, with the final cost


def write_record(rc: RunContext, parts: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run record (lambdabench.metrics.record schema v1) from what ingest read, written to <run dir>/result.json."""
    from lambdabench.ledger import iso_utc
    from lambdabench.metrics.record import build_record, validate_or_note

    parts = parts or {}
    node0 = rc.rank0
    facts = rc.facts.get(0, node0.facts)
    variables = dict(rc.benchmark.variables)
    values = rc.benchmark.values
    library = values.get("library")
    num_envs = values.get("num_envs")
    row = rc.ledger.run(rc.run_id)
    target = rc.target_name
    run = {
        "run_id": str(rc.run_id),
        "sweep_id": str(rc.sweep_id),
        "instance_id": node0.instance_id,
        "instance_type": target,
        "gpu_type": rc.label.split("#")[0],
        "region": rc.region,
        "playbook": rc.benchmark.name,
        "vars": variables,
        "task": values.get("task"),
        "library": library if library in ("rl_games", "rsl_rl", "skrl", "sb3") else None,
        "num_envs": int(num_envs) if num_envs and str(num_envs).isdigit() else None,
        "status": row.status,
        "started_at": iso_utc(row.started),
        "finished_at": iso_utc(row.ended),
    }
    versions = {
        "driver": facts.get("driver_version"),
        "cuda": facts.get("cuda_version"),
        "isaaclab_repo": variables.get("repo") or None,
        "isaaclab_ref": facts.get("isaaclab_commit") or facts.get("il3_isaaclab") or variables.get("ref") or None,
        "library": f"{library} (rsl-rl-lib {facts['il3_rsl_rl']})" if facts.get("il3_rsl_rl") else library,
    }
    gpu_count = sum(
        int(f.get("gpu_count") or n.gpus or 0) for n, f in ((n, rc.facts.get(n.rank, n.facts)) for n in rc.nodes)
    )
    vram = facts.get("vram_gb")
    hardware = {
        "gpu_model": facts.get("gpu_name") or facts.get("gpu_model") or None,
        "gpu_count": gpu_count or None,
        "gpu_memory_mib": float(vram) * 1024 if vram else None,
        "vcpus": facts.get("vcpus") or None,
        "ram_gib": facts.get("ram_gib") or None,
    }
    _fill_from_mjx(hardware, parts.get("mjx_hardware") or {})
    notes = list(parts.get("notes") or [])
    try:
        record = build_record(
            run=run,
            simulated=rc.env.simulated,
            versions=versions,
            hardware=hardware,
            startup_s=parts.get("startup") or {},
            training=parts.get("training"),
            telemetry=parts.get("telemetry"),
            cost=_cost_section(rc),
            notes=notes,
        )
        _add_parts(record, parts)
        timed = parts.get("mjx_timed") or {}
        if parts.get("mjx_stats") is None and timed and record["resources"]:
            for key, name in (
                ("wh_per_million_steps", "wh_per_million_steps"),
                ("gpu_util_timed_pct", "timed_utilization_pct"),
            ):
                if key in timed:
                    record["resources"][name] = timed[key]
            validate_or_note(record)
        if parts.get("mjx_stats") is not None:
            record["throughput"].update(parts["mjx_stats"])
            if record["resources"] and "wh_per_million_steps" in timed:
                record["resources"]["wh_per_million_steps"] = timed["wh_per_million_steps"]
            if record["resources"] and "gpu_util_timed_pct" in timed:
                record["resources"]["timed_utilization_pct"] = timed["gpu_util_timed_pct"]
            validate_or_note(record)
    except Exception as exc:  # noqa: BLE001 - a record problem must not fail a finished run
        record = {
            "schema_version": 1,
            "simulated": rc.env.simulated,
            "run": run,
            "error": f"{type(exc).__name__}: {exc}",
        }
    path = rc.run_dir / "result.json"
    try:
        rc.run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, default=str))
    except OSError as exc:
        # a full disk here is one line, never a traceback that ends the run's thread
        from lambdabench.errors import LambdabenchError

        raise LambdabenchError(
            f"could not write the run record {path}: {exc.strerror or exc}",
            "Free space in the run folder; the ledger has the run's figures.",
        ) from None
    return record


def _add_parts(record: dict[str, Any], parts: dict[str, Any]) -> None:
    """The record's optional parts: the environment lock, Isaac Lab's own benchmark figures."""
    from lambdabench.metrics.record import validate_or_note

    if parts.get("environment_lock"):
        record["environment_lock"] = parts["environment_lock"]
    if parts.get("isaaclab_benchmark"):
        record["isaaclab_benchmark"] = parts["isaaclab_benchmark"]
        validate_or_note(record)


def _fill_from_mjx(hardware: dict[str, Any], seen: dict[str, Any]) -> None:
    """vCPUs and RAM the benchmark itself saw (mjx_bench reads os.cpu_count and /proc/meminfo), where
    the preflight facts have none (on the real H200 both were empty in the record)."""
    for key, kind in (("vcpus", int), ("ram_gib", float)):
        value = seen.get(key)
        if hardware.get(key) is None and isinstance(value, (int, float)) and not isinstance(value, bool):
            hardware[key] = kind(value)


def _cost_section(rc: RunContext) -> dict[str, Any]:
    from lambdabench.cost import run_cost

    rows = rc.ledger.instances(run_id=rc.run_id)
    steps = [m.value for m in rc.ledger.metrics(run_id=rc.run_id) if m.key == MetricKey.ENV_STEPS]
    itype = rows[-1].instance_type if rows else rc.target_name
    return run_cost(rc.run_id, itype, rows, env_steps=max(steps) if steps else None).record_section()


# ---------------------------------------------------------------------------------------------
# a run that finished its work, between its terminate and its ingest: what `resume` needs


PENDING = ".ingest-pending.json"


def save_pending(rc: RunContext, ended: float) -> None:
    """Before the terminate: what this run's ingest reads besides its files, should the process die before it."""
    doc = {
        "ended": ended,
        "label": rc.label,
        "target_name": rc.target_name,
        "region": rc.region,
        "nodes": [
            {
                "rank": n.rank,
                "name": n.name,
                "kind": n.kind,
                "address": n.address,
                "peer_addr": n.peer_addr,
                "facts": n.facts,
                "instance_id": n.instance_id,
                "network": n.network,
            }
            for n in rc.nodes
        ],
        "facts": {str(rank): f for rank, f in rc.facts.items()},
        "wall_window": rc.wall_window,
        "notes": rc.notes,
        "pass_started": rc.pass_started,
        "passes": [{**dataclasses.asdict(p), "facts": {str(k): v for k, v in p.facts.items()}} for p in rc.passes],
    }
    (rc.run_dir / PENDING).write_text(json.dumps(doc, default=str))


def load_pending(rc: RunContext) -> float | None:
    """The pulled state a dead process saved into rc (a context with the run's ids, folder and benchmark);
    returns when its work ended, or None when there is none (or it is unreadable: the run is re-run)."""
    from lambdabench.run.context import Node, PulledPass

    try:
        doc = json.loads((rc.run_dir / PENDING).read_text())
        rc.nodes = [
            Node(
                int(n["rank"]),
                str(n["name"]),
                n["kind"],
                str(n["address"]),
                str(n["peer_addr"]),
                dict(n["facts"]),
                n.get("instance_id"),
                str(n.get("network") or "private"),
            )
            for n in doc["nodes"]
        ]
        rc.label, rc.target_name, rc.region = str(doc["label"]), str(doc["target_name"]), doc.get("region")
        rc.facts = {int(k): dict(v) for k, v in doc["facts"].items()}
        window = doc.get("wall_window")
        rc.wall_window = (float(window[0]), float(window[1])) if window else None
        rc.notes, rc.pass_started = [str(n) for n in doc.get("notes") or []], doc.get("pass_started")
        rc.passes = [
            PulledPass(
                str(p["seed"]),
                float(p["started"]),
                float(p["ended"]),
                (float(p["wall_window"][0]), float(p["wall_window"][1])) if p.get("wall_window") else None,
                {int(k): dict(v) for k, v in p["facts"].items()},
                [str(n) for n in p.get("notes") or []],
            )
            for p in doc.get("passes") or []
        ]
        rc.pulled = True
        return float(doc["ended"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
