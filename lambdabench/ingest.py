"""After a run's pull: read its metrics (TensorBoard, MJX results, telemetry) into the ledger and a run record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdabench.ledger import MetricKey

if TYPE_CHECKING:
    from lambdabench.sweep import RunContext


def _telemetry_csv(run_dir: Path) -> Path | None:
    found = sorted(run_dir.rglob("telemetry.csv"))
    return found[0] if found else None


def _train_dirs(artifacts: Path) -> list[Path]:
    """Run folders holding TensorBoard event files, newest last (Isaac Lab names them by timestamp)."""
    from lambdabench.metrics.tensorboard import find_event_files

    dirs: dict[Path, float] = {}
    for ev in find_event_files(artifacts):
        folder = ev.parent
        # rl_games keeps events in <run>/summaries, sb3 in <run>/PPO_1: the run is one level up
        if folder.name == "summaries" or folder.name.startswith("PPO_"):
            folder = folder.parent
        if "/videos/" in str(folder) or "play" in folder.name:
            continue
        dirs[folder] = max(dirs.get(folder, 0.0), ev.stat().st_mtime)
    return [d for d, _ in sorted(dirs.items(), key=lambda kv: kv[1])]


def ingest_run(rc: RunContext, *, facts: dict[str, Any], library: str | None = None) -> dict[str, Any]:
    """Record env-steps/s, steps, reward, utilisation, energy and start-up times; write result.json."""
    from lambdabench.metrics import MetricsError, throughput_stats

    ledger, run_id, run_dir = rc.ledger, rc.run_id, rc.run_dir
    notes: list[str] = []
    series = None
    mjx_stats: dict[str, Any] | None = None
    env_steps: float | None = None
    source = ""
    mjx = run_dir / "results" / "mjx-result.json"
    if mjx.exists():
        doc = json.loads(mjx.read_text())
        runs = (doc.get("aggregate") or {}).get("runs") or doc.get("runs") or []
        if runs:
            best = max(runs, key=lambda r: r.get("num_envs_total", r.get("num_envs", 0)))
            rate = best["env_steps_per_s"]
            stats_doc = {"mean": rate["mean"], "std": rate.get("std", 0.0), "peak": rate.get("peak", rate["mean"]),
                         "samples": rate.get("samples"), "source": "mjx",
                         "warmup_rule": doc.get("warmup_rule")}
            env_steps = float(sum(r.get("total_env_steps", 0) for r in runs))
            ledger.record_metric(run_id, MetricKey.ENV_STEPS_PER_S, float(stats_doc["mean"]), unit="steps/s",
                                 source="mjx")
            mjx_stats = stats_doc
            ledger.record_metric(run_id, "num_envs", float(best.get("num_envs_total", best.get("num_envs", 0))),
                                 source="mjx")
            compile_s = (doc.get("startup_s") or {}).get("compile")
            if compile_s is not None:
                ledger.record_metric(run_id, "compile_s", float(compile_s), unit="s", source="mjx")
            source = "mjx"
    else:
        for folder in reversed(_train_dirs(run_dir / "artifacts")):
            try:
                from lambdabench.metrics.tensorboard import load_series

                series = load_series(folder, library=library)
            except MetricsError as exc:
                notes.append(f"{folder.name}: {exc.message}")
                continue
            stats = throughput_stats(series.throughput())
            env_steps = float(series.total_env_steps) if series.total_env_steps else None
            source = "tensorboard"
            if stats is not None:
                ledger.record_metric(run_id, MetricKey.ENV_STEPS_PER_S, stats.mean, unit="steps/s",
                                     source=source)
            rewards = [p.reward for p in series.points if p.reward is not None]
            if rewards:
                ledger.record_metric(run_id, "reward", float(rewards[-1]), source=source)
            break
    if env_steps:
        ledger.record_metric(run_id, MetricKey.ENV_STEPS, env_steps, unit="steps", source=source or "unknown")
    telemetry = None
    csv = _telemetry_csv(run_dir)
    if csv is not None:
        from lambdabench.metrics.telemetry import load_telemetry, summarize

        try:
            telemetry = summarize(load_telemetry(csv))
        except MetricsError as exc:
            notes.append(f"telemetry: {exc.message}")
        if telemetry is not None:
            if telemetry.mean_utilization_pct is not None:
                ledger.record_metric(run_id, MetricKey.GPU_UTIL_PCT, telemetry.mean_utilization_pct, unit="%",
                                     source="nvidia-smi")
            ledger.record_metric(run_id, MetricKey.ENERGY_WH, telemetry.energy_wh, unit="Wh", source="nvidia-smi")
            if telemetry.peak_memory_mib is not None:
                ledger.record_metric(run_id, "peak_memory_mib", telemetry.peak_memory_mib, unit="MiB",
                                     source="nvidia-smi")
    startup: dict[str, float | None] = {}
    for step in ledger.steps(run_id):
        if step.name.endswith("start the container") and step.ended and step.started:
            seconds = step.ended - step.started
            startup["container_start"] = seconds
            ledger.record_metric(run_id, MetricKey.CONTAINER_START_S, seconds, unit="s", source="steps")
    if env_steps and mjx_stats is not None:
        mjx_stats["total_env_steps"] = int(env_steps)
    return _write_record(rc, facts, series, telemetry, startup, notes, mjx_stats)


def _iso(ts: float | None) -> str | None:
    from lambdabench.ledger import iso_utc

    return iso_utc(ts)


def _write_record(rc: RunContext, facts: dict[str, Any], series: Any, telemetry: Any,
                  startup: dict[str, float | None], notes: list[str],
                  mjx_stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run record (lambdabench.metrics.record schema v1), written to <run dir>/result.json."""
    from lambdabench.cloud.gpus import short_name
    from lambdabench.metrics.record import build_record, validate_record

    itype = rc.launched.instance_type
    variables = dict(rc.plan.variables)
    library = variables.get("library")
    num_envs = variables.get("num_envs")
    row = rc.ledger.run(rc.run_id)
    run = {
        "run_id": str(rc.run_id),
        "sweep_id": str(rc.sweep_id),
        "instance_id": rc.launched.id,
        "instance_type": itype.name,
        "gpu_type": short_name(itype),
        "region": rc.launched.region,
        "playbook": rc.plan.playbook,
        "vars": variables,
        "task": variables.get("task"),
        "library": library if library in ("rl_games", "rsl_rl", "skrl", "sb3") else None,
        "num_envs": int(num_envs) if num_envs and str(num_envs).isdigit() else None,
        "status": row.status,
        "started_at": _iso(row.started),
        "finished_at": _iso(row.ended),
    }
    versions = {
        "driver": facts.get("driver_version"),
        "cuda": facts.get("cuda_version"),
        "isaaclab_repo": variables.get("repo") or None,
        "isaaclab_ref": facts.get("isaaclab_commit") or variables.get("ref") or None,
        "library": library,
    }
    hardware = {
        "gpu_model": facts.get("gpu_name") or itype.gpu_description or None,
        "gpu_count": itype.gpus,
        "gpu_memory_mib": (facts.get("vram_gb") or 0) * 1024 or None,
        "vcpus": itype.vcpus or None,
        "ram_gib": itype.memory_gib or None,
    }
    try:
        record = build_record(run=run, simulated=rc.ctx.settings.simulated, versions=versions, hardware=hardware,
                              startup_s=startup, series=series, telemetry=telemetry, cost=_cost_section(rc),
                              notes=notes)
        if mjx_stats is not None:
            record["throughput"].update(mjx_stats)
            validate_record(record)
    except Exception as exc:  # noqa: BLE001 - a record problem must not fail a finished run
        record = {"schema_version": 1, "simulated": rc.ctx.settings.simulated, "run": run,
                  "error": f"{type(exc).__name__}: {exc}"}
    (rc.run_dir / "result.json").write_text(json.dumps(record, indent=2, default=str))
    return record


def _cost_section(rc: Any) -> dict[str, Any]:
    from lambdabench.cost import run_cost

    rows = rc.ledger.instances(run_id=rc.run_id)
    steps = [m.value for m in rc.ledger.metrics(run_id=rc.run_id) if m.key == MetricKey.ENV_STEPS]
    itype = rows[-1].instance_type if rows else ""
    return run_cost(rc.run_id, itype, rows, env_steps=max(steps) if steps else None).record_section()


def finalize_record(rc: Any) -> None:
    """After teardown: the record's cost section from the final ledger timestamps."""
    from lambdabench.metrics.record import validate_record

    path = rc.run_dir / "result.json"
    if not path.exists():
        return
    record = json.loads(path.read_text())
    if "error" in record:
        return
    record["cost"] = _cost_section(rc)
    record["run"]["status"] = rc.ledger.run(rc.run_id).status
    record["run"]["finished_at"] = _iso(rc.ledger.run(rc.run_id).ended)
    validate_record(record)
    path.write_text(json.dumps(record, indent=2, default=str))
