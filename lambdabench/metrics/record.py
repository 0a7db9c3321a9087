"""The per-run result record (schema_version 1), modelled on Isaac Lab 3's result bundle.

A record is plain JSON: run identity, versions, hardware, start-up breakdown, throughput after
warm-up, resources, cost, and whether the run was simulated. RECORD_SCHEMA is the contract;
validate_record() checks a record against it (jsonschema is imported only there; validate_or_note()
keeps a record, with a note, where jsonschema is missing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lambdabench.metrics import MetricsError, Series, ThroughputStats, throughput_stats
from lambdabench.metrics.telemetry import TelemetrySummary, per_million_steps

if TYPE_CHECKING:
    from lambdabench.metrics.training import TrainingResult

__all__ = [
    "RECORD_SCHEMA",
    "SCHEMA_VERSION",
    "billed_minutes",
    "build_record",
    "cost_section",
    "validate_or_note",
    "validate_record",
]

SCHEMA_VERSION = 1

_num = {"type": ["number", "null"]}
_int = {"type": ["integer", "null"], "minimum": 0}
_str = {"type": ["string", "null"]}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


RECORD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://lambdabench.dev/schemas/run-record-1.json",
    "title": "lambdabench run record",
    "type": "object",
    "required": [
        "schema_version",
        "simulated",
        "run",
        "versions",
        "hardware",
        "startup_s",
        "throughput",
        "resources",
        "cost",
    ],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "simulated": {"type": "boolean"},
        "run": _object(
            {
                "run_id": {"type": "string", "minLength": 1},
                "sweep_id": _str,
                "instance_id": _str,
                "instance_type": _str,
                "gpu_type": _str,
                "region": _str,
                "playbook": _str,
                "vars": {"type": "object"},
                "task": _str,
                "library": {"enum": ["rl_games", "rsl_rl", "skrl", "sb3", None]},
                "num_envs": _int,
                "status": _str,
                "started_at": _str,
                "finished_at": _str,
            },
            ["run_id"],
        ),
        "versions": _object(
            {
                "driver": _str,
                "cuda": _str,
                "image": _str,
                "isaaclab_repo": _str,
                "isaaclab_ref": _str,
                "library": _str,
            }
        ),
        "hardware": _object(
            {
                "gpu_model": _str,
                "gpu_count": _int,
                "gpu_memory_mib": _num,
                "vcpus": _int,
                "ram_gib": _num,
            }
        ),
        # seconds per start-up stage: image_pull, container_start, first_step, plus any Isaac
        # Lab reports (app_launch_s ... from its KPI file, without the _s suffix)
        "startup_s": {"type": "object", "additionalProperties": _num},
        "throughput": _object(
            {
                "unit": {"const": "env_steps_per_s"},
                "mean": _num,
                "std": _num,
                "peak": _num,
                "samples": _int,
                "dropped": _int,
                "warmup_rule": _str,
                "total_env_steps": _int,
                "source": {"enum": ["tensorboard", "console", "kpi", "mjx", None]},
            },
            ["unit", "mean"],
        ),
        "resources": _object(
            {
                "gpu_count": _int,
                "samples": _int,
                "mean_utilization_pct": _num,
                "peak_memory_mib": _num,
                "memory_total_mib": _num,
                "energy_wh": _num,
                "wh_per_million_steps": _num,
                "timed_utilization_pct": _num,
            }
        ),
        "cost": _object(
            {
                "price_cents_per_hour": _num,
                "billing_policy": _str,
                "billed_minutes_policy": _int,
                "billed_minutes_upper": _int,
                "usd_policy": _num,
                "usd_upper_bound": _num,
                "usd_per_million_steps": _num,
            }
        ),
        # where each training figure came from (metrics.training.read_training); optional, so
        # records written before it stay valid schema_version 1 records
        "training": _object(
            {
                "library": {"enum": ["rl_games", "rsl_rl", "skrl", "sb3", None]},
                "library_version": _str,
                "world_size": {"type": "integer", "minimum": 1},
                "runs": {"type": "array", "items": {"type": "string"}},
                "env_steps": _int,
                "env_steps_per_s": _num,
                "library_reported_env_steps_per_s": _num,
                "final_reward": _num,
                "reward_points": _int,
                "rate_points": _int,
                "provenance": {
                    "type": "array",
                    "items": _object(
                        {
                            "figure": {"type": "string"},
                            "tag": _str,
                            "file": _str,
                            "library": _str,
                            "library_version": _str,
                            "rule": {"type": "string"},
                        },
                        ["figure", "rule"],
                    ),
                },
                "unknown": {"type": "object", "additionalProperties": {"type": "string"}},
                "skipped": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            ["library", "env_steps", "env_steps_per_s", "provenance", "unknown"],
        ),
        # Isaac Lab 3's own TrainingBundle figures (isaaclab3-train benchmark=isaaclab), beside throughput
        "isaaclab_benchmark": _object(
            {
                "file": {"type": "string"},
                "schema_version": {"type": "string"},
                "provenance": {"type": "string"},
                "env_steps_per_s": _num,
                "env_steps_per_s_std": _num,
                "env_steps_per_s_peak": _num,
                "collection_env_steps_per_s": _num,
                "iteration_time_s": _num,
                "iterations": _int,
                "startup_s": {"type": "object", "additionalProperties": _num},
                "versions": {"type": "object", "additionalProperties": {"type": "string"}},
                "lambdabench_env_steps_per_s": _num,
            },
            ["file", "schema_version", "provenance", "env_steps_per_s"],
        ),
        "notes": {"type": "array", "items": {"type": "string"}},
        # the machine's environment lock (lambdabench/workloads/env_lock.py), when the playbook collected one
        "environment_lock": {
            "type": "object",
            "properties": {"software_sha256": _str, "software": {"type": "object"}, "gpus": {"type": "array"}},
        },
    },
}


def validate_record(record: Mapping[str, Any]) -> None:
    """Raise MetricsError naming the first problem if record does not match RECORD_SCHEMA."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(RECORD_SCHEMA)
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise MetricsError(
            f"run record invalid at {where}: {first.message[:200]}",
            f"{len(errors)} problem(s); the record must follow schema_version {SCHEMA_VERSION}",
        )


def validate_or_note(record: dict[str, Any]) -> None:
    """validate_record, or, where jsonschema cannot be imported, a note that the record went unchecked.

    jsonschema is a runtime dependency, but a record is the run's data: an environment that lacks it (an
    H200 image without it, field report 2026-12-02) keeps the record rather than lose it to an ImportError."""
    try:
        validate_record(record)
    except ImportError as exc:
        record.setdefault("notes", []).append(f"record not checked against its schema ({exc})")


def billed_minutes(seconds: float | None) -> int | None:
    """Lambda bills per started minute."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return math.ceil(seconds / 60.0)


def cost_section(
    price_cents_per_hour: float | None,
    *,
    policy_seconds: float | None,
    upper_seconds: float | None,
    env_steps: int | None,
    billing_policy: str = "per minute from first active to terminate",
) -> dict[str, Any]:
    """Cost by the documented policy and its upper bound (launch accepted → gone), and $/M steps."""
    policy_min, upper_min = billed_minutes(policy_seconds), billed_minutes(upper_seconds)

    def dollars(minutes: int | None) -> float | None:
        if price_cents_per_hour is None or minutes is None:
            return None
        return price_cents_per_hour / 100.0 * minutes / 60.0

    usd_policy = dollars(policy_min)
    return {
        "price_cents_per_hour": price_cents_per_hour,
        "billing_policy": billing_policy,
        "billed_minutes_policy": policy_min,
        "billed_minutes_upper": upper_min,
        "usd_policy": usd_policy,
        "usd_upper_bound": dollars(upper_min),
        "usd_per_million_steps": per_million_steps(usd_policy, env_steps),
    }


def _throughput(
    series: Series | None, stats: ThroughputStats | None, training: TrainingResult | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"unit": "env_steps_per_s", "mean": None}
    if stats is not None:
        out.update(
            mean=stats.mean,
            std=stats.std,
            peak=stats.peak,
            samples=stats.samples,
            dropped=stats.dropped,
            warmup_rule=stats.warmup_rule,
        )
    if series is not None:
        out.update(total_env_steps=series.total_env_steps, source=series.source)
    if training is not None:
        # the headline is Σ env-steps / Σ seconds after warm-up: per-interval means overweight
        # short intervals; std and peak stay per interval
        out.update(mean=training.rate, total_env_steps=training.env_steps, source="tensorboard")
    return out


def build_record(
    *,
    run: Mapping[str, Any],
    simulated: bool,
    versions: Mapping[str, Any] | None = None,
    hardware: Mapping[str, Any] | None = None,
    startup_s: Mapping[str, float | None] | None = None,
    series: Series | None = None,
    warmup_samples: int | None = None,
    warmup_fraction: float = 0.1,
    telemetry: TelemetrySummary | None = None,
    cost: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
    training: TrainingResult | None = None,
) -> dict[str, Any]:
    """Assemble and validate a record; throughput comes from training (or series) after warm-up.

    With training (metrics.training.read_training) the throughput mean is its time-weighted rate,
    env-steps its derived total, and its provenance goes into the record's "training" part.
    """
    if training is not None:
        series = training.series()
    stats = (
        throughput_stats(series.throughput(), warmup_samples=warmup_samples, warmup_fraction=warmup_fraction)
        if series is not None and training is None
        else (training.throughput if training is not None else None)
    )
    env_steps = series.total_env_steps if series is not None else None
    if training is not None:
        env_steps = training.env_steps
    resources: dict[str, Any] = {}
    if telemetry is not None:
        resources = {
            "gpu_count": telemetry.gpu_count,
            "samples": telemetry.samples,
            "mean_utilization_pct": telemetry.mean_utilization_pct,
            "peak_memory_mib": telemetry.peak_memory_mib,
            "memory_total_mib": telemetry.memory_total_mib,
            "energy_wh": telemetry.energy_wh,
            "wh_per_million_steps": per_million_steps(telemetry.energy_wh, env_steps),
        }
    cost_fields = dict(cost or {})
    if "usd_per_million_steps" in cost_fields and cost_fields["usd_per_million_steps"] is None and env_steps:
        cost_fields["usd_per_million_steps"] = per_million_steps(cost_fields.get("usd_policy"), env_steps)
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "simulated": simulated,
        "run": dict(run),
        "versions": dict(versions or {}),
        "hardware": dict(hardware or {}),
        "startup_s": dict(startup_s or {}),
        "throughput": _throughput(series, stats, training),
        "resources": resources,
        "cost": cost_fields,
        "notes": list(notes or []) + (list(series.notes) if series is not None else []),
    }
    if training is not None:
        record["training"] = training.record_section()
    validate_or_note(record)
    return record
