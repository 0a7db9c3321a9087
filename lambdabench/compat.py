"""The compatibility matrix: GPU type × backend × task class, from the rules and from the ledger.

A type is refused by `refusal`, the one function the plan refuses with too, so `check` and a sweep cannot disagree:
the playbooks' own `requires` (lambdabench.remote.playbook.check_requirements), then a num_envs above the largest
that the ledger's searches (sweep --find-max-envs) measured on that type for the same resolved footprint (task,
library, presets, the Isaac Lab version and checkout ref the set-up installs; MJX: its model), of the target's kind:
the simulator's memory model for a sweep aimed at the simulator, a GPU's for the real cloud. The measurements are the
ledger's runs of that playbook on that type with that task class: how many succeeded, how many failed, and the last
failure's message.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdabench.cloud.models import InstanceType
    from lambdabench.ledger import Ledger
    from lambdabench.remote.playbook import Playbook, Problem

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
    largest_from: str | None = None  # the footprint and the search largest_num_envs comes from (MaxEnvs.words)
    first_oom: float | None = None  # the smallest N that search ran out of memory at (None: it never did)
    largest_kind: str | None = None  # "modelled" (the simulator's memory model) or "measured" (on a GPU)
    largest_set_aside: str | None = None  # searches of the other kind, not used for this target (set_aside)

    @property
    def too_many_envs(self) -> bool:
        """The values ask for more envs than a search measured to fit here (it ran out of memory above them)."""
        return None not in (self.largest_num_envs, self.asks_num_envs, self.first_oom) and (self.asks_num_envs or 0) > (
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


# What decides a largest-num_envs search's footprint besides the GPU and N: the variables a search passes to its
# probes (playbooks/isaaclab3-train.yaml and isaaclab-train.yaml, their "find the largest num_envs that fits" step:
# the task, the RL library, 3.x's presets that pick the physics), so a Cartpole maximum never answers for Ant, and
# the software the set-up installs: the isaaclab release (isaaclab3-setup's isaaclab_version, which the train declares
# too and a sweep passes on, Benchmark.vars_for), 1.x fork vs 2.x and the checkout's ref (setup.yaml's; the ref's
# docker/.env.base also picks the Isaac Sim image, ISAACSIM_VERSION, e.g. ooctipus/IsaacLab@b1907b6
# docker/.env.base:11, and isaaclab-train.yaml's isaac_sim_4), so a 3.1 or a v2.3.0 search never answers for 3.0.0
# or v2.1.0. The library because its rollout buffers live on the GPU, sized steps × num_envs × obs (e.g.
# leggedrobotics/rsl_rl@446aba7 rsl_rl/storage/rollout_storage.py:37-54). A playbook keys on those it declares.
FOOTPRINT_VARS = ("model", "task", "presets", "library", "isaaclab_version", "ref")
# The ref an empty `ref` checks out, per isaaclab_version (playbooks/setup.yaml, derived default_ref): the fork's
# default branch ("", no tag to name) or v2.1.0, so ref=v2.1.0 and ref="" are one footprint on 2.x.
DEFAULT_REF = {"1": "", "2": "v2.1.0"}
# Footprint variables added after plans began recording footprints, per playbook, with the value every run had then
# unless its --set said otherwise (the set-ups' defaults, unchanged since they shipped: isaaclab3-setup.yaml
# isaaclab_version "3.0.0", setup.yaml ref ""), so an older plan's searches still answer the default.
ADDED_LATER = {"isaaclab3-train": {"isaaclab_version": "3.0.0"}, "isaaclab-train": {"ref": ""}}
# mjx-locomotion steps one model, the script's own ant (workloads/mjx_bench.py ANT_XML, model="lambdabench-ant")
FIXED_MODEL = {"mjx-locomotion": "lambdabench-ant"}


# Isaac Lab 3's presets=A,B is a set: each name picks that alternative in every PresetCfg declaring it, two names on
# one config with different values raise, and a config no name picks keeps its `default` (isaaclab 3.0.0 wheel,
# isaaclab_tasks/utils/hydra.py:310-336), so order and repeats never matter. Deprecated names still resolve
# (isaaclab_tasks/utils/preset_target.py:62, with a FutureWarning).
PRESET_ALIASES = {"newton": "newton_mjwarp", "kamino": "newton_kamino"}
# What an empty presets runs, per task whose only PresetCfg is its physics (the 3.0.0 wheel: core/cartpole,
# core/locomotion/ant, humanoid declare no other), so presets=<that default> is the same software:
# cartpole_common.py:53, ant_common.py:67, humanoid_common.py:76 (`default: NewtonCfg = newton_mjwarp`), for the
# direct and the manager-based task alike. Other tasks (camera tasks: renderer and camera presets too) keep "".
TASK_DEFAULT_PRESETS = {
    task: "newton_mjwarp"
    for task in (
        "Isaac-Cartpole-Direct",
        "Isaac-Cartpole",
        "Isaac-Ant-Direct",
        "Isaac-Ant",
        "Isaac-Humanoid-Direct",
        "Isaac-Humanoid",
    )
}


def resolved_presets(presets: str, task: str) -> str:
    """The presets a run with these values runs: its names sorted, once, deprecated names renamed; empty: the task's
    default where known (TASK_DEFAULT_PRESETS), else empty."""
    names = {PRESET_ALIASES.get(n.strip(), n.strip()) for n in presets.split(",") if n.strip()}
    return ",".join(sorted(names)) or TASK_DEFAULT_PRESETS.get(task.strip(), "")


def resolved(pairs: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A footprint as the run resolves it, so equivalent values key alike (the one place footprints normalise)."""
    out = {name: str(pairs[name]).strip() for name in FOOTPRINT_VARS if name in pairs}
    if "presets" in out:
        out["presets"] = resolved_presets(out["presets"], out.get("task", ""))
    if "ref" in out:
        out["ref"] = out["ref"] or DEFAULT_REF.get(out.get("isaaclab_version", ""), "")
    return tuple(out.items())


def footprint_of(playbook: str, values: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """What decides this playbook's GPU memory at a given N besides the GPU: (name, value) of the FOOTPRINT_VARS in
    values (its defaults filled in), resolved; MJX: its model. `check`, the plan and the report key searches by it."""
    if playbook in FIXED_MODEL:
        return (("model", FIXED_MODEL[playbook]),)
    return resolved({name: str(values[name]) for name in FOOTPRINT_VARS if name in values})


def footprint(book: Playbook, variables: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """footprint_of these --set values over the playbook's defaults."""
    values = {name: "" if spec.default is None else spec.default for name, spec in book.vars.items()}
    return footprint_of(book.name, {**values, **{k: v for k, v in variables.items() if k in book.vars}})


def recorded_footprint(plan: Any, playbook: str) -> tuple[tuple[str, str], ...] | None:
    """The footprint a sweep's plan recorded at launch (SweepPlan.to_json), resolved as today's are, so a later change
    of a playbook's defaults never re-keys its searches; a variable added since (ADDED_LATER) is the plan's --set
    value or the value it had then. None for a sweep recorded before plans recorded one."""
    found = plan.get("footprint") if isinstance(plan, dict) else None
    if not isinstance(found, dict):
        return None
    given = plan.get("vars") if isinstance(plan.get("vars"), dict) else {}
    then = ADDED_LATER.get(playbook, {})
    found = {**{k: given.get(k, v) for k, v in then.items()}, **found}
    return resolved({name: str(found[name]) for name in FOOTPRINT_VARS if name in found})  # the ledger sorts keys


def footprint_words(key: tuple[tuple[str, str], ...]) -> str:
    """e.g. "task=Isaac-Cartpole-Direct, library=rsl_rl" (an empty value: "(default)")."""
    return ", ".join(f"{k}={v or '(default)'}" for k, v in key)


@dataclass(frozen=True)
class MaxEnvs:
    """The largest num_envs a type fits for one footprint, from the ledger's largest-num_envs searches."""

    largest_fit: float  # 0: not even the search's first size fit
    first_oom: float | None  # None: no search ran out of memory (the bound fit, or a probe ran past its cap)
    run_id: int  # the search this answer comes from
    day: str  # the UTC date it ended
    footprint: str  # footprint_words of the key
    modelled: bool  # the simulator's memory model, not a GPU

    def words(self) -> str:
        """Where the answer comes from and its kind, e.g. "task=…, library=rsl_rl; run 3 on 2026-12-05, measured"."""
        return f"{self.footprint}; run {self.run_id} on {self.day}, {kind_words(self.modelled)}"


def kind_words(modelled: bool) -> str:
    """The kind of a search's answer: its GPU memory was the simulator's model, or a GPU's."""
    return "the simulator's memory model" if modelled else "measured on a GPU"


def max_envs_searches(ledger: Ledger, book: Playbook, gpu_type: str, key: tuple[tuple[str, str], ...]) -> list[MaxEnvs]:
    """Every largest-num_envs search the ledger holds for this playbook, type and footprint, of either kind."""
    found: list[MaxEnvs] = []
    plans: dict[int, Any] = {}
    for run in ledger.runs():
        if run.workload != book.name or run.instance_type != gpu_type or run.status != "succeeded":
            continue
        if run.sweep_id not in plans:
            plans[run.sweep_id] = ledger.sweep(run.sweep_id).plan
        params = run.params if isinstance(run.params, dict) else {}
        if (recorded_footprint(plans[run.sweep_id], book.name) or footprint(book, params.get("vars") or {})) != key:
            continue
        got = {m.key: m.value for m in ledger.metrics(run_id=run.id) if m.key.startswith("max_num_envs_")}
        if "max_num_envs_fit" not in got and "max_num_envs_first_oom" not in got:
            continue
        day = time.strftime("%Y-%m-%d", time.gmtime(run.ended or run.created))
        # the search says whether its memory was modelled (ingest's max_num_envs_modelled); else the run's record
        modelled = bool(got.get("max_num_envs_modelled", run.simulated))
        fit, oom = got.get("max_num_envs_fit", 0.0), got.get("max_num_envs_first_oom")
        found.append(MaxEnvs(fit, oom, run.id, day, footprint_words(key), modelled))
    return found


def largest_num_envs(
    ledger: Ledger, book: Playbook, gpu_type: str, key: tuple[tuple[str, str], ...], *, simulator: bool
) -> MaxEnvs | None:
    """The ledger's answer for this playbook, type and footprint, from searches of the target's kind only (modelled
    ones for a sweep aimed at the simulator, measured ones for the real cloud): of those that ran out of memory, the
    one with the smallest fit (a measured maximum); else, of those that did not, the one with the largest fit."""
    same = [m for m in max_envs_searches(ledger, book, gpu_type, key) if m.modelled == simulator]
    # measured maxima first, the smallest of them; else the largest that fit; the latest run on a tie
    return min(
        same,
        key=lambda m: (m.first_oom is None, m.largest_fit if m.first_oom is not None else -m.largest_fit, -m.run_id),
        default=None,
    )


def over_max_envs(asks: float | None, gpu_type: str, found: MaxEnvs | None) -> Problem | None:
    """Values that ask more envs than a search measured to fit on this type (it ran out of memory above), or None."""
    from lambdabench.remote.playbook import Problem

    if asks is None or found is None or found.first_oom is None or asks <= found.largest_fit:
        return None
    if not found.largest_fit and asks < found.first_oom:
        return None  # nothing fit, and nothing this small was tried
    fit = f"{found.largest_fit:,.0f}" if found.largest_fit else "none"
    lower = f"to at most {fit}" if found.largest_fit else f"below {found.first_oom:,.0f}"
    return Problem(
        f"{asks:,.0f} envs is above the largest num_envs that fit on {gpu_type}: {fit} "
        f"({found.first_oom:,.0f} ran out of memory; {found.words()})",
        f"Lower num_envs (mjx-locomotion: envs) {lower} on {gpu_type}, or pass "
        "--ignore-max-envs to launch it anyway (re-measure with --find-max-envs).",
    )


def refusal(
    book: Playbook,
    values: Mapping[str, Any],
    facts: Mapping[str, Any],
    found: MaxEnvs | None,
    *,
    ignore_max_envs: bool = False,
) -> Problem | None:
    """Why a run of this playbook with these values is refused on this type before launch (None: it is not): the
    playbook's rules first, then more envs than the ledger's searches found to fit. `check` and the plan both ask."""
    from lambdabench.remote.playbook import check_requirements

    problems = check_requirements(book, values, facts)
    if problems:
        return problems[0]
    if ignore_max_envs:
        return None
    return over_max_envs(asks_num_envs(book, values), str(facts.get("name") or ""), found)


def asks_num_envs(book: Playbook, values: Mapping[str, Any]) -> float | None:
    """The most envs a run with these values steps at once per GPU; None for a largest-num_envs search."""
    resolved = book.resolve_vars({k: v for k, v in values.items() if k in book.vars})
    return None if _true(resolved.get("find_max_envs")) else asked_num_envs(resolved)


def asked_num_envs(values: Mapping[str, Any]) -> float | None:
    """The most envs a run with these values steps at once: `num_envs`, or the largest of `envs` ("1024,4096")."""
    sizes = [str(values.get("num_envs") or ""), *str(values.get("envs") or "").split(",")]
    numbers = [float(x) for x in sizes if x.strip().isdigit()]
    return max(numbers, default=None)


def check(
    book: Playbook,
    values: Mapping[str, Any],
    types: Sequence[InstanceType],
    ledger: Ledger | None,
    *,
    simulator: bool,
) -> list[Verdict]:
    """Before anything launches: per type, the plan's refusal (compat.refusal) and what the ledger measured; a sweep
    aimed at the simulator reads its modelled searches only, one aimed at the real cloud its measured ones only."""
    from lambdabench.cloud.gpus import type_facts

    klass = task_class(book.resolve_vars(values))
    asks, key = asks_num_envs(book, values), footprint(book, values)
    out = []
    for itype in types:
        found = largest_num_envs(ledger, book, itype.name, key, simulator=simulator) if ledger is not None else None
        searched = max_envs_searches(ledger, book, itype.name, key) if ledger is not None else []
        others = [m.run_id for m in searched if m.modelled != simulator]
        problem = refusal(book, values, type_facts(itype), found)
        ok, bad, last = measured(ledger, book.name, itype.name, klass) if ledger is not None else (0, 0, None)
        out.append(
            Verdict(
                itype.name,
                backend_of(book.name),
                klass,
                None if problem is None else str(problem),
                None if problem is None else problem.hint,
                ok,
                bad,
                last,
                found.largest_fit if found else None,
                asks,
                found.words() if found else None,
                found.first_oom if found else None,
                None if found is None else ("modelled" if found.modelled else "measured"),
                set_aside(others, simulator=simulator),
            )
        )
    return out


def set_aside(run_ids: Sequence[int], *, simulator: bool) -> str | None:
    """The searches of the other kind that a check does not use, and why, in one phrase (None: there are none)."""
    if not run_ids:
        return None
    runs = ", ".join(str(r) for r in sorted(run_ids))
    aimed = "the simulator" if simulator else "the real Lambda Cloud"
    return f"run(s) {runs} ({kind_words(not simulator)}) not used: this is aimed at {aimed}"
