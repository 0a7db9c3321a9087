"""The compatibility matrix: GPU type × backend × task class, from the rules and from the ledger.

The rules are the playbooks' own `requires` (lambdabench.remote.playbook.check_requirements), the same
function the plan refuses with, so `check` and a sweep's refusal cannot disagree. The measurements are
the ledger's runs of that playbook on that type with that task class: how many succeeded, how many
failed, and the last failure's message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdabench.cloud.models import InstanceType
    from lambdabench.ledger import Ledger
    from lambdabench.remote.playbook import Playbook

_CAMERA_WORDS = ("Camera", "RGB", "Depth", "Vision", "Visuomotor")


def backend_of(playbook: str | None) -> str:
    """The simulation backend a playbook runs: MJX, kitless Newton (Isaac Lab 3), or Isaac Sim's PhysX container."""
    name = playbook or ""
    if name.startswith("mjx"):
        return "MJX"
    if name.startswith("isaaclab3"):
        return "kitless Newton"
    if name.startswith(("isaaclab", "list-envs")):
        return "Isaac Sim PhysX container"
    return name or "unknown"


def _true(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def task_class(variables: Mapping[str, Any]) -> str:
    """video (a recorded video), camera (a camera task or cameras on), or state (everything else)."""
    if _true(variables.get("video", False)):
        return "video"
    task = str(variables.get("task") or "")
    if _true(variables.get("enable_cameras", False)) or any(w in task for w in _CAMERA_WORDS):
        return "camera"
    return "state"


@dataclass(frozen=True)
class Verdict:
    """One cell of the matrix: what the rules say and what the ledger measured."""

    gpu_type: str
    backend: str
    task_class: str
    refused: str | None  # the rule's one-line reason, None when the rules allow it
    hint: str | None
    succeeded: int
    failed: int
    last_error: str | None
    largest_num_envs: float | None = None  # the ledger's largest-num_envs searches here: what fit on every run
    asks_num_envs: float | None = None  # the most envs these values ask for (num_envs, or the largest of envs)

    @property
    def too_many_envs(self) -> bool:
        """The values ask for more envs than the ledger's searches found to fit on this type."""
        return None not in (self.largest_num_envs, self.asks_num_envs) and (self.asks_num_envs or 0) > (
            self.largest_num_envs or 0
        )

    @property
    def answer(self) -> str:
        if self.refused is not None:
            return "refused"
        if self.succeeded:
            return "ran" if not self.failed else "ran, and failed too"
        if self.failed:
            return "failed"
        return "allowed by the rules, not measured yet"


def measured(ledger: Ledger, playbook: str, gpu_type: str, klass: str) -> tuple[int, int, str | None]:
    """(succeeded, failed, last error) of the ledger's runs of this playbook on this type with this task class."""
    ok = bad = 0
    last: str | None = None
    plans: dict[int, Any] = {}
    for run in ledger.runs():
        if run.workload != playbook or run.instance_type != gpu_type or run.status not in ("succeeded", "failed"):
            continue
        if run.sweep_id not in plans:
            plans[run.sweep_id] = ledger.sweep(run.sweep_id).plan
        plan = plans[run.sweep_id]
        variables = plan.get("vars") if isinstance(plan, dict) else None
        if task_class(variables or {}) != klass:
            continue
        if run.status == "succeeded":
            ok += 1
        else:
            bad += 1
            errors = ledger.errors(run_id=run.id)
            last = errors[-1].message if errors else last
    return ok, bad, last


def largest_num_envs(ledger: Ledger, playbook: str, gpu_type: str) -> float | None:
    """The smallest "largest num_envs that fit" over the ledger's searches of this playbook on this type."""
    found = [
        m.value
        for run in ledger.runs()
        if run.workload == playbook and run.instance_type == gpu_type and run.status == "succeeded"
        for m in ledger.metrics(run_id=run.id)
        if m.key == "max_num_envs_fit"
    ]
    return min(found, default=None)


def asked_num_envs(values: Mapping[str, Any]) -> float | None:
    """The most envs a run with these values steps at once: `num_envs`, or the largest of `envs` ("1024,4096")."""
    sizes = [str(values.get("num_envs") or ""), *str(values.get("envs") or "").split(",")]
    numbers = [float(x) for x in sizes if x.strip().isdigit()]
    return max(numbers, default=None)


def check(
    book: Playbook, values: Mapping[str, Any], types: Sequence[InstanceType], ledger: Ledger | None
) -> list[Verdict]:
    """Before anything launches: per type, the rules' verdict on this playbook and what the ledger measured."""
    from lambdabench.cloud.gpus import type_facts
    from lambdabench.remote.playbook import check_requirements

    resolved = book.resolve_vars(values)
    klass = task_class(resolved)
    asks = None if _true(resolved.get("find_max_envs")) else asked_num_envs(resolved)
    out = []
    for itype in types:
        problems = check_requirements(book, values, type_facts(itype))
        ok, bad, last = measured(ledger, book.name, itype.name, klass) if ledger is not None else (0, 0, None)
        out.append(
            Verdict(
                itype.name,
                backend_of(book.name),
                klass,
                str(problems[0]) if problems else None,
                problems[0].hint if problems else None,
                ok,
                bad,
                last,
                largest_num_envs(ledger, book.name, itype.name) if ledger is not None else None,
                asks,
            )
        )
    return out
