"""The run record: built from parsed parts, validated against its own JSON schema."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from lambdabench.metrics import MetricsError, Point, Series, throughput_stats
from lambdabench.metrics.record import (
    RECORD_SCHEMA,
    billed_minutes,
    build_record,
    cost_section,
    validate_record,
)
from lambdabench.metrics.telemetry import parse_nvidia_smi_csv, summarize

CSV = """\
timestamp, index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W], clocks.current.sm [MHz], temperature.gpu
2025/03/14 10:00:00.000, 0, NVIDIA A10, 90 %, 5000 MiB, 23028 MiB, 150.00 W, 1695 MHz, 60
2025/03/14 10:01:00.000, 0, NVIDIA A10, 94 %, 6000 MiB, 23028 MiB, 150.00 W, 1695 MHz, 61
"""


def _series() -> Series:
    # warm-up iteration at 10 k/s, then steady 100 k/s ± 10 k
    rates = [10_000.0, 90_000.0, 110_000.0, 90_000.0, 110_000.0]
    points = [Point(i, (i + 1) * 200_000, rate) for i, rate in enumerate(rates)]
    return Series("rsl_rl", "tensorboard", points, ["test series"])


def test_full_record_validates_and_is_json() -> None:
    cost = cost_section(75, policy_seconds=601, upper_seconds=900, env_steps=1_000_000)
    assert cost["billed_minutes_policy"] == 11 and cost["billed_minutes_upper"] == 15
    assert cost["usd_policy"] == pytest.approx(0.75 * 11 / 60)
    assert cost["usd_per_million_steps"] == pytest.approx(0.75 * 11 / 60)
    record = build_record(
        run={
            "run_id": "r-1",
            "sweep_id": "s-1",
            "gpu_type": "a10",
            "region": "us-east-1",
            "playbook": "isaaclab-train",
            "vars": {"task": "Isaac-Cartpole-v0"},
            "library": "rsl_rl",
            "num_envs": 4096,
        },
        simulated=True,
        versions={
            "driver": "550.54.15",
            "cuda": "12.4",
            "image": "nvcr.io/nvidia/isaac-lab:2.1.0",
            "isaaclab_repo": "https://github.com/isaac-sim/IsaacLab",
            "isaaclab_ref": "v2.1.0",
            "library": "rsl-rl-lib 2.3.1",
        },
        hardware={
            "gpu_model": "NVIDIA A10",
            "gpu_count": 1,
            "gpu_memory_mib": 23028,
            "vcpus": 30,
            "ram_gib": 200,
        },
        startup_s={"image_pull": 412.0, "container_start": 8.5, "first_step": 95.0},
        series=_series(),
        telemetry=summarize(parse_nvidia_smi_csv(CSV)),
        cost=cost,
    )
    throughput = record["throughput"]
    assert throughput["dropped"] == 1 and throughput["samples"] == 4
    assert throughput["mean"] == pytest.approx(100_000.0)
    assert throughput["std"] == pytest.approx(10_000.0)
    assert throughput["peak"] == 110_000.0 and throughput["total_env_steps"] == 1_000_000
    assert record["resources"]["energy_wh"] == pytest.approx(2.5)  # 150 W for one minute
    assert record["resources"]["wh_per_million_steps"] == pytest.approx(2.5)
    assert record["resources"]["peak_memory_mib"] == 6000
    assert "test series" in record["notes"]
    validate_record(json.loads(json.dumps(record)))
    json.dumps(RECORD_SCHEMA)  # the schema itself is plain JSON


def test_minimal_record() -> None:
    record = build_record(run={"run_id": "r-2"}, simulated=False)
    assert record["throughput"] == {"unit": "env_steps_per_s", "mean": None}


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda r: r.update(schema_version=2), "schema_version"),
        (lambda r: r.pop("simulated"), "(top level)"),
        (lambda r: r["run"].pop("run_id"), "run"),
        (lambda r: r["hardware"].update(gpu_count=-1), "hardware/gpu_count"),
        (lambda r: r["cost"].update(usd_policy="1.00"), "cost/usd_policy"),
        (lambda r: r.update(extra=1), "(top level)"),
    ],
)
def test_invalid_records_name_the_field(mutate: Callable[[dict[str, Any]], object], where: str) -> None:
    record = build_record(run={"run_id": "r-3"}, simulated=True)
    mutate(record)
    with pytest.raises(MetricsError) as info:
        validate_record(record)
    assert f"invalid at {where}" in info.value.one_line()


def test_a_record_is_kept_where_jsonschema_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The H200's image had no jsonschema (2026-12-02): every record became an error stub. It is kept now,
    with a note, and still checked where jsonschema is there."""
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import jsonschema -> ImportError
    record = build_record(run={"run_id": "r-4"}, simulated=False, series=_series())
    assert record["throughput"]["mean"] and "error" not in record
    assert any("not checked against its schema" in n for n in record["notes"])
    with pytest.raises(ImportError):
        validate_record(record)
    monkeypatch.delitem(sys.modules, "jsonschema")
    validate_record(record)  # the note is a valid record field


def test_warmup_rules() -> None:
    assert throughput_stats([]) is None
    single = throughput_stats([5.0])
    assert single is not None and single.samples == 1 and single.dropped == 0
    many = throughput_stats([1.0] * 5 + [10.0] * 45, warmup_fraction=0.1)
    assert many is not None and many.dropped == 5 and many.mean == 10.0
    explicit = throughput_stats([1.0, 1.0, 1.0, 9.0], warmup_samples=3, warmup_fraction=0.0)
    assert explicit is not None and explicit.mean == 9.0 and "3 of 4" in explicit.warmup_rule
    assert billed_minutes(0) == 0 and billed_minutes(60.001) == 2 and billed_minutes(None) is None
