"""Fault matrix: every simulator fault, for one run and a 3-type sweep; nothing left running, costs exact, one-line errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import needs_sshd
from tests.reliability.conftest import StagedPhase, assert_one_line, check_invariants, record, simulator

pytestmark = needs_sshd

A10 = "gpu_1x_a10"
SINGLE = "a10"
SWEEP = "a10,a100,h100"  # single-GPU types: boots of 3-5 cloud minutes stay ~1 s at x300
# a drop mid-command surfaces as ConnectionLost
LOST = r"lost"


@dataclass(frozen=True)
class Case:
    """A fault, what the faulted run should end as, and which remote phase meets it."""

    name: str
    scenario: dict[str, Any]
    expect: str = "ok"  # ok: every run succeeds; fail: the a10 run fails (others succeed); any: either
    message: str = ""  # regex the failed run's one-line message must match
    staged: bool = False  # StagedPhase (preflight/setup/benchmark/pull) instead of the built-in gpu-probe
    scale: float = 300.0
    check_cost: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def inst_fault(kind: str, **params: Any) -> dict[str, Any]:
    return {"instance_faults": [{"match": {"type": A10, "nth": 1}, "kind": kind, **params}]}


CASES = [
    Case(
        "429-storm",
        {
            "rate_limits": {
                "request_interval": 1.0,
                "burst": 1,
                "launch_interval": 12.0,
                "lockout_seconds": 90,
                "retry_after": False,
            },
            "faults": [
                {"endpoint": "list", "kind": "http_429", "count": 3, "after": 2},
                {"endpoint": "launch", "kind": "http_429", "count": 1},
                {"endpoint": "types", "kind": "http_429", "count": 2, "after": 1},
            ],
        },
    ),
    Case(
        "5xx",
        {
            "seed": 11,
            "faults": [
                {"endpoint": "any", "kind": "http_5xx", "status": 502, "probability": 0.1, "count": "forever"},
                {"endpoint": "list", "kind": "http_5xx", "count": 2, "after": 1},
                {"endpoint": "get", "kind": "http_5xx", "count": 2},
            ],
        },
    ),
    Case(
        "transport-timeout",
        {
            "faults": [
                {"endpoint": "list", "kind": "transport_timeout", "seconds": 60, "count": 2, "after": 1},
                {"endpoint": "launch", "kind": "transport_timeout", "mode": "hangup", "seconds": 30, "count": 1},
            ]
        },
    ),
    Case(
        "lost-launch-response",
        {
            "visibility_delay": 20,
            "faults": [
                {"endpoint": "launch", "kind": "lost_response", "count": 1},
                {"endpoint": "launch", "kind": "lost_response", "mode": "http", "status": 502, "count": 1},
            ],
        },
    ),
    Case("capacity-while-listed", {"faults": [{"endpoint": "launch", "kind": "insufficient_capacity", "count": 2}]}),
    Case(
        "quota-exceeded",
        {"faults": [{"endpoint": "launch", "kind": "quota_exceeded", "count": 1}]},
        expect="fail",
        message=r"(?i)quota",
    ),
    Case("unhealthy-boot", inst_fault("unhealthy"), expect="fail", message=r"unhealthy"),
    Case("never-active", inst_fault("never_active"), expect="fail", message=r"not active after", scale=1000.0),
    Case("id-missing-after-launch", {"visibility_delay": 40, **inst_fault("missing_from_list", seconds=40, start=0)}),
    Case("sshd-late", inst_fault("sshd_late", seconds=120)),
    Case("ssh-drop-setup", inst_fault("ssh_drop", phase="setup", after=0), expect="any", message=LOST, staged=True),
    Case(
        "ssh-drop-benchmark",
        inst_fault("ssh_drop", phase="benchmark", after=0),
        expect="any",
        message=LOST,
        staged=True,
    ),
    Case("ssh-drop-pull", inst_fault("ssh_drop", phase="pull", after=0), expect="any", message=LOST, staged=True),
    Case("cuda-802", inst_fault("cuda_802", seconds="forever"), expect="fail", message=r"802", staged=True),
    Case("disk-full-pull", inst_fault("disk_full"), expect="any", staged=True, extra={"bench_bytes": 20 * 1024 * 1024}),
    Case("terminate-global-unknown", {"faults": [{"endpoint": "terminate", "kind": "global_unknown", "count": 2}]}),
    Case(
        "terminate-failing-a-while",
        {
            "faults": [
                {"endpoint": "terminate", "kind": "http_5xx", "count": 3},
                {"endpoint": "terminate", "kind": "transport_timeout", "seconds": 30, "count": 1},
                {"endpoint": "terminate", "kind": "http_429", "count": 1},
            ]
        },
    ),
]

# sweep variants that take over 5 s here (SSH-heavy, or long back-offs) run with --long; every single run is default
SLOW_SWEEPS = {"disk-full-pull", "cuda-802", "ssh-drop-pull", "sshd-late", "terminate-failing-a-while", "429-storm"}


def matrix() -> list[Any]:
    params = []
    for case in CASES:
        for scope in ("single", "sweep"):
            marks = [pytest.mark.slow] if scope == "sweep" and case.name in SLOW_SWEEPS else []
            params.append(pytest.param(case, scope, marks=marks, id=f"{case.name}-{scope}"))
    return params


def run_case(case: Case, gpus: str, home: Path) -> tuple[Any, Any]:
    """Run one sweep under the case's fault; check every invariant; return (result, phase)."""
    with simulator(case.scenario, scale=case.scale) as sim:
        lab = sim.lab(home)
        try:
            plan = lab.plan(SweepRequest(gpus, "gpu-probe", {}))
            phase: Any = StagedPhase(**case.extra) if case.staged else None
            result = lab.sweep(plan, phase=phase, install_signal_handlers=False)
            assert not result.not_terminated, result
            verified = check_invariants(
                sim, lab, result.sweep_id, phase=phase if case.staged else None, check_cost=case.check_cost
            )
            labels = [r.label for r in plan.runs]
            if case.staged and result.succeeded:
                # every successful staged run pulled data.bin and metrics.json, checked against the instance
                assert verified >= 2 * len(result.succeeded), verified
            for why in [*result.failed.values(), *result.skipped.values()]:
                assert_one_line(why)
            a10 = next(lb for lb in labels if lb.startswith("a10"))
            others = [lb for lb in labels if lb != a10]
            if case.expect == "ok":
                assert sorted(result.succeeded) == sorted(labels), result
            elif case.expect == "fail":
                why = result.failed.get(a10) or next(iter(result.failed.values()), "")
                assert a10 not in result.succeeded, result
                assert re.search(case.message, why), why
                if case.name != "quota-exceeded":  # quota stops the sweep's other launches by design
                    assert sorted(result.succeeded) == sorted(others), result
            else:
                if a10 not in result.succeeded:
                    assert case.message == "" or re.search(case.message, result.failed[a10]), result.failed
                assert sorted(set(result.succeeded) | {a10}) == sorted(labels), result
            return result, phase
        finally:
            lab.close()


@pytest.mark.parametrize(("case", "scope"), matrix())
def test_fault(case: Case, scope: str, tmp_path: Path) -> None:
    run_case(case, SINGLE if scope == "single" else SWEEP, tmp_path / "home")
    record(f"fault:{case.name}:{scope}")


def test_unhealthy_boot_cost_matches_billing_truth(tmp_path: Path) -> None:
    """Lambda bills an unhealthy instance; the ledger must too (was a bug, fixed in 0dd4e90)."""
    case = next(c for c in CASES if c.name == "unhealthy-boot")
    run_case(
        Case(case.name, case.scenario, expect="fail", message="unhealthy", check_cost=True), SINGLE, tmp_path / "home"
    )


PACKAGED = [
    "rate-limit-storm",
    "lost-launch",
    "terminate-failures",
    "quota-and-keys",
    "capacity-flapping",
    "unhealthy-boot",
    "cuda-802",
    "ssh-trouble",
]


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["single", "sweep", "sweep-repeat"])
@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_scenarios(name: str, scope: str, tmp_path: Path) -> None:
    """The packaged scenario files as shipped: whatever each run's outcome, nothing leaks and costs hold."""
    import yaml

    src = Path(__file__).resolve().parents[2] / "lambdabench" / "sim" / "api" / "scenarios" / f"{name}.yaml"
    data = yaml.safe_load(src.read_text())
    gpus = {"single": SINGLE, "sweep": SWEEP, "sweep-repeat": SWEEP}[scope]
    if name == "cuda-802":
        gpus = {"single": "h100", "sweep": "a10,a100,h100", "sweep-repeat": "a10,a100,h100"}[scope]
    case = Case(name, data, expect="any", staged=name in ("cuda-802", "ssh-trouble"), check_cost=True)
    with simulator(case.scenario, scale=300.0) as sim:
        lab = sim.lab(tmp_path / "home")
        try:
            plan = lab.plan(SweepRequest(gpus, "gpu-probe", {}, repeat=2 if scope == "sweep-repeat" else 1))
            phase: Any = StagedPhase() if case.staged else None
            result = lab.sweep(plan, phase=phase, install_signal_handlers=False)
            assert not result.not_terminated
            for why in [*result.failed.values(), *result.skipped.values()]:
                assert_one_line(why)
            check_invariants(
                sim, lab, result.sweep_id, phase=phase if case.staged else None, check_cost=case.check_cost
            )
        finally:
            lab.close()
    record(f"fault:packaged-{name}:{scope}")
