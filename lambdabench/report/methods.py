"""The report's methods sections, one source for every format: differences against spread, provenance.

Each function returns plain lines (table, markdown), an HTML fragment, or JSON-ready data; a section
with nothing to say returns nothing, so reports of sweeps without seeds or bundles read as before.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from lambdabench.report import gpus
from lambdabench.report.cells import _machine, comparison_lines, format_cell, format_mib
from lambdabench.report.model import Report
from lambdabench.report.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED

STATS_RULE = (
    "Statistics per type over every seed of every repeat (time- and cost-to-reward: one per run): median, "
    f"IQM (interquartile mean) and a 95% percentile bootstrap interval of the mean ({BOOTSTRAP_RESAMPLES} "
    f"resamples, RNG seed {BOOTSTRAP_SEED}). Two types differ by more than their spread when their 95% "
    "intervals do not overlap."
)


TAILS_RULE = (
    "Per number of envs, after warm-up: physics-step time p50 / p95 / p99 (all envs stepped together) and "
    "steady-state GPU memory (summed over the GPUs), each the mean over the type's runs."
)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.3g} ms"


def tail_lines(report: Report) -> list[str]:
    out = []
    for t in report.tails:
        mem = "—" if t.gpu_mem_mib is None else format_mib(t.gpu_mem_mib)
        out.append(
            f"{t.group} at {t.num_envs:,.0f} envs: step p50 {_ms(t.p50_s)}, p95 {_ms(t.p95_s)}, "
            f"p99 {_ms(t.p99_s)}; GPU memory {mem} ({t.runs} run(s))"
        )
    return out


def tails_json(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "group": t.group,
            "num_envs": t.num_envs,
            "runs": t.runs,
            "step_time_p50_s": t.p50_s,
            "step_time_p95_s": t.p95_s,
            "step_time_p99_s": t.p99_s,
            "gpu_mem_steady_mib": t.gpu_mem_mib,
        }
        for t in report.tails
    ]


MAX_ENVS_RULE = (
    "Largest num_envs that fits (sweep --find-max-envs): on one instance per run, N doubled from a start up to a "
    "bound, stopping at the first out-of-memory, then bisected a bounded number of steps; per type and playbook "
    "the largest N that fit on every run and the smallest N that did not. The out-of-memory is recognised by the "
    "workload's error code (MJX: JAX's RESOURCE_EXHAUSTED, or XLA's autotuner NOT_FOUND at compile) or by the "
    "exception's type (Isaac Lab: each probe a short training process, `isaaclab train` or a 2.x train.py; "
    "torch.OutOfMemoryError), or for Warp, which has no such type, by being raised in Warp's own allocator."
)


def _envs(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def max_envs_lines(report: Report) -> list[str]:
    out = []
    for m in report.max_envs:
        if m.first_oom is not None:
            ended = f"first out of memory at {_envs(m.first_oom)} ({m.evidence})"
        elif m.ended_early is None:
            ended = f"no out-of-memory up to the bound {_envs(m.bound)}"
        else:
            ended = "no out-of-memory seen"
        if m.ended_early is not None:
            ended += f"; the search ended before memory did: {m.ended_why}"
        who = f"{m.group} ({m.workload}, {m.backend})" if m.workload else m.group
        out.append(
            f"{who}: largest num_envs that fits {_envs(m.largest_fit)}"
            + (f" for {m.footprint}" if m.footprint else "")
            + f"; {ended}"
            + ("; GPU memory modelled by the simulator" if m.modelled else "")
            + f" ({m.runs} run(s))"
        )
    return out


def max_envs_json(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "group": m.group,
            "largest_fit": m.largest_fit,
            "first_oom": m.first_oom,
            "bound": m.bound,
            "oom_evidence": m.evidence or None,
            "modelled": m.modelled,
            "runs": m.runs,
            "playbook": m.workload or None,
            "backend": m.backend or None,
            "footprint": m.footprint or None,
            "ended_early_at": m.ended_early,
            "ended_early": m.ended_why or None,
        }
        for m in report.max_envs
    ]


def csv_max_envs_columns(report: Report) -> list[str]:
    """Per group: the search's largest fit and first out-of-memory (only when a run searched)."""
    return ["max_num_envs_fit", "max_num_envs_first_oom"] if report.max_envs else []


def csv_max_envs_values(report: Report, group: Any) -> list[str]:
    if not report.max_envs:
        return []
    row = next((m for m in report.max_envs if m.group == (group.label or group.instance_type)), None)
    return ["" if v is None else repr(v) for v in ((row.largest_fit, row.first_oom) if row else (None, None))]


STARTUP_RULE = (
    "Each start-up stage per type: cold is a run's first benchmark pass on a fresh instance, warm the mean of "
    "its later passes on the same instance (sweep --seeds N), each from that pass's own files and named with its "
    "passes and seeds; each priced at the run's $/h (seconds × $/h ÷ 3600)."
)


def startup_lines(report: Report) -> list[str]:
    from lambdabench.report.build import STARTUP_STAGES
    from lambdabench.report.cells import format_seconds, format_small_dollars

    def priced(s: float | None, usd: float | None, origin: str) -> str:
        if s is None:
            return "—"
        said = [format_small_dollars(Decimal(repr(usd)))] if usd is not None else []
        if origin.startswith("pass"):  # --seeds: which pass(es); a run's only pass goes unsaid
            said.append(origin)
        return format_seconds(s) + (f" ({'; '.join(said)})" if said else "")

    return [
        f"{r.group} · {STARTUP_STAGES[r.stage]}: "
        + (
            r.note
            if r.note
            else f"cold {priced(r.cold_s, r.cold_usd, r.cold_from)}"
            + (f", warm {priced(r.warm_s, r.warm_usd, r.warm_from)}" if r.warm_s is not None else "")
        )
        for r in report.startup
    ]


def startup_json(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "group": r.group,
            "stage": r.stage,
            "cold_s": r.cold_s,
            "cold_usd": r.cold_usd,
            "warm_s": r.warm_s,
            "warm_usd": r.warm_usd,
            "cold_from": r.cold_from or None,
            "warm_from": r.warm_from or None,
            "runs": r.runs,
            "note": r.note or None,
        }
        for r in report.startup
    ]


# the start-up stages the CSV gives per type (each only when some run has the stage): cold, warm, why no figure, passes
CSV_STAGES = ("shader_compile_s", "scene_creation_s", "simulation_start_s", "first_step_s")
CSV_STAGE_PARTS = ("cold_s", "warm_s", "note", "cold_from", "warm_from")


def _csv_stages(report: Report) -> list[str]:
    return [stage for stage in CSV_STAGES if any(r.stage == stage for r in report.startup)]


def csv_shader_columns(report: Report) -> list[str]:
    """Per group: each CSV start-up stage, cold and warm, or why there is no figure (only when a run has the stage)."""
    return [f"{stage.removesuffix('_s')}_{part}" for stage in _csv_stages(report) for part in CSV_STAGE_PARTS]


def csv_shader_values(report: Report, group: Any) -> list[str]:
    name = group.label or group.instance_type
    out: list[str] = []
    for stage in _csv_stages(report):
        row = next((r for r in report.startup if r.stage == stage and r.group == name), None)
        if row is None:
            out += [""] * len(CSV_STAGE_PARTS)
            continue
        out += ["" if v is None else repr(v) for v in (row.cold_s, row.warm_s)] + [
            row.note,
            row.cold_from,
            row.warm_from,
        ]
    return out


ISAACLAB_RULE = (
    "Two env-steps/s per run, never mixed: lambdabench wall clock is Σ env-steps / Σ wall seconds between the RL "
    "library's logged iterations after warm-up (TensorBoard events); Isaac Lab benchmark total_fps is the mean of "
    "its per-iteration rates (steps ÷ collection + learning time) from `isaaclab benchmark training`'s "
    "TrainingBundle (isaaclab/benchmark/schema.py), which leaves out the time between iterations."
)


def isaaclab_lines(report: Report) -> list[str]:
    from lambdabench.report.cells import format_cell, format_seconds

    lines = []
    for f in report.isaaclab:
        ours = format_cell(f.lambdabench_env_steps_per_s, "rate")
        text = (
            f"{f.group} · run {f.run_id}: {f.provenance}: {format_cell(f.isaaclab_env_steps_per_s, 'rate')} "
            f"env-steps/s{_passes(f.isaaclab_passes)}; lambdabench wall clock: {ours} env-steps/s"
            f"{_passes(f.lambdabench_passes)}"
        )
        if f.startup_s:
            origin = f" ({f.startup_from}, cold)" if f.startup_from.startswith("pass") else ""  # --seeds
            text += f"; Isaac Lab start-up{origin}: " + ", ".join(f"{k} {format_seconds(v)}" for k, v in f.startup_s)
        if f.iteration_time_s is not None:
            text += f"; iteration {format_seconds(f.iteration_time_s)} mean"
        lines.append(text)
    return lines


def _passes(values: Sequence[float]) -> str:
    if not values:
        return ""
    return f" (mean of {len(values)} passes: {', '.join(format_cell(v, 'rate') for v in values)})"


def isaaclab_json(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "group": f.group,
            "run_id": f.run_id,
            "isaaclab": {
                "env_steps_per_s": f.isaaclab_env_steps_per_s,
                "provenance": f.provenance,
                "passes": list(f.isaaclab_passes),
            },
            "lambdabench": {
                "env_steps_per_s": f.lambdabench_env_steps_per_s,
                "provenance": "lambdabench wall clock",
                "passes": list(f.lambdabench_passes),
            },
            "isaaclab_startup_s": dict(f.startup_s),
            "isaaclab_startup_from": f.startup_from or None,
            "isaaclab_iteration_time_s": f.iteration_time_s,
        }
        for f in report.isaaclab
    ]


REFERENCE_RULE = (
    "Published figures for the same task, number of envs and backend, marked REFERENCE: measured by their "
    "publisher on their hardware, not by lambdabench. A training run's env-steps/s compares with the "
    "step + inference + train figure."
)


def reference_lines(report: Report) -> list[str]:
    out = []
    for p in report.references:
        f = p.figure
        here = f"{p.measured:,.0f}" if p.measured is not None else "—"
        out.append(
            f"REFERENCE {f.gpu}, {f.task}, {f.num_envs:,} envs: {f.step_inference_train_fps:,.0f} env-steps/s "
            f"step + inference + train ({f.step_fps:,.0f} env step only) — beside {p.group}: {here} "
            f"measured here. Source: {f.source}"
        )
    return out


def references_json(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "reference": True,
            "group": p.group,
            "gpu": p.figure.gpu,
            "task": p.figure.task,
            "num_envs": p.figure.num_envs,
            "backend": p.figure.backend,
            "step_fps": p.figure.step_fps,
            "step_inference_fps": p.figure.step_inference_fps,
            "step_inference_train_fps": p.figure.step_inference_train_fps,
            "measured_here": p.measured,
            "source": p.figure.source,
        }
        for p in report.references
    ]


COMPAT_RULE = (
    "GPU type × backend × task class, as measured by these runs. A combination the playbook's rules refuse "
    "never launches; `lambdabench check --gpus … --playbook …` names it, and why, before anything is launched."
)


def compat_lines(report: Report) -> list[str]:
    out = []
    for c in report.compat:
        if c.failed and not c.succeeded:
            what = f"failed ({c.failed} of {c.failed})"
        elif c.failed:
            what = f"ran ({c.succeeded} succeeded, {c.failed} failed)"
        else:
            what = f"ran ({c.succeeded} succeeded)"
        why = f": {' '.join(c.last_error.split())[:200]}" if c.last_error else ""
        out.append(f"{c.gpu_type} · {c.backend} · {c.task_class}: {what}{why}")
    return out


def compat_json(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "gpu_type": c.gpu_type,
            "backend": c.backend,
            "task_class": c.task_class,
            "succeeded": c.succeeded,
            "failed": c.failed,
            "last_error": c.last_error,
        }
        for c in report.compat
    ]


def lock_groups(report: Report) -> dict[str, dict[str, int]]:
    """lock id → group → runs under it ("none": runs that recorded no lock)."""
    out: dict[str, dict[str, int]] = {}
    for r in report.runs:
        groups = out.setdefault(r.env_lock or "none", {})
        label = r.group or r.instance_type
        groups[label] = groups.get(label, 0) + 1
    return out


def mixed_pairs(report: Report) -> list[tuple[str, str]]:
    """Pairs of columns shown (Report.shown_pairs) whose runs did not all share one environment lock."""
    by_group: dict[str, set[str]] = {}
    for r in report.runs:
        by_group.setdefault(r.group or r.instance_type, set()).add(r.env_lock or "none")
    return [(a, b) for a, b in report.shown_pairs if len(by_group.get(a, set()) | by_group.get(b, set())) > 1]


def mixed_benchmarks(report: Report) -> list[tuple[str, dict[str, list[str]]]]:
    """Columns that pool runs of different benchmarks (--merge): per column, each differing value's variants."""
    by_group: dict[str, list[Mapping[str, str]]] = {}
    for r in report.runs:
        by_group.setdefault(r.group or r.instance_type, []).append(r.benchmark)
    out = []
    for group, benches in by_group.items():
        keys = sorted({k for b in benches for k in b}, key=lambda k: (k != "playbook", k))
        differ = {k: sorted({b.get(k, "—") for b in benches}) for k in keys}
        differ = {k: v for k, v in differ.items() if len(v) > 1}
        if "playbook" in differ:  # other playbooks: their variables differ by nature, name the playbooks alone
            differ = {"playbook": differ["playbook"]}
        if differ:
            out.append((group, differ))
    return out


def mixed_benchmark_lines(report: Report) -> list[str]:
    return [
        f"WARNING: {group} pools runs of different benchmarks ("
        + "; ".join(f"{k}: {' vs '.join(v)}" for k, v in differ.items())
        + "): its figures and statistics mix them; report the sweeps side by side (without --merge)"
        for group, differ in mixed_benchmarks(report)
    ]


def lock_lines(report: Report) -> list[str]:
    """Which runs ran under which lock, and their GPUs' settings; a flag on every pair of columns shown across
    different locks, on every column pooling GPUs of one model set differently, and on every pair of such GPUs."""
    locks = lock_groups(report)
    if set(locks) <= {"none"}:
        return gpus.lines(report)
    lines = [
        f"lock {lock}: " + ", ".join(f"{g} ({n} run(s))" for g, n in groups.items())
        for lock, groups in locks.items()
        if lock != "none"
    ]
    if "none" in locks:
        lines.append("no lock recorded: " + ", ".join(f"{g} ({n} run(s))" for g, n in locks["none"].items()))
    for a, b in mixed_pairs(report):
        lines.append(
            f"WARNING: {a} vs {b} compares runs under different environment locks (software differs "
            "or is unknown): part of the difference may be software, not the GPU"
        )
    if len(locks) == 1:
        lines.append("every run shares one environment lock: the types differ in hardware only")
    return lines + gpus.lines(report)


def _sections(report: Report) -> list[tuple[str, list[str]]]:
    out = []
    if report.comparisons:
        out.append(("Differences between types", [STATS_RULE, *comparison_lines(report)]))
    if report.tails:
        out.append(("Tails and memory", [TAILS_RULE, *tail_lines(report)]))
    if report.max_envs:
        out.append(("Largest num_envs that fits", [MAX_ENVS_RULE, *max_envs_lines(report)]))
    locks = lock_lines(report)
    if locks:
        out.append(("Environment locks", locks))
    if report.startup:
        out.append(("Start-up: cold and warm", [STARTUP_RULE, *startup_lines(report)]))
    if report.isaaclab:
        out.append(("Isaac Lab's own benchmark", [ISAACLAB_RULE, *isaaclab_lines(report)]))
    if report.references:
        out.append(("Published reference points", [REFERENCE_RULE, *reference_lines(report)]))
    if report.compat:
        out.append(("Compatibility", [COMPAT_RULE, *compat_lines(report)]))
    origins = sorted({r.provenance for r in report.runs if r.provenance and r.provenance != "this ledger"})
    pooled = mixed_benchmark_lines(report)
    if origins or pooled:
        counts = {o: sum(1 for r in report.runs if r.provenance == o) for o in origins}
        local = sum(1 for r in report.runs if not r.provenance or r.provenance == "this ledger")
        lines = [f"{o}: {counts[o]} run(s)" for o in origins]
        if local and origins:
            lines.insert(0, f"this ledger: {local} run(s)")
        out.append(("Provenance", lines + pooled))
    return out


_RULED = {
    "Differences between types",
    "Tails and memory",
    "Compatibility",
    "Start-up: cold and warm",
    "Isaac Lab's own benchmark",
    "Published reference points",
    "Largest num_envs that fits",
}  # sections whose first line states the rule


def text_lines(report: Report) -> list[str]:
    """The sections as plain text (the table format)."""
    lines: list[str] = []
    for title, body in _sections(report):
        lines += ["", title, *(f"  {b}" for b in body)]
    return lines


def markdown_lines(report: Report) -> list[str]:
    lines: list[str] = []
    for title, body in _sections(report):
        lines += [f"## {title}", "", f"_{body[0]}_" if title in _RULED else f"- {body[0]}"]
        lines += ["- " + b.replace("|", "\\|") for b in body[1:]]
        lines.append("")
    return lines


def html_fragment(report: Report) -> str:
    parts = []
    for title, body in _sections(report):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if title in _RULED:
            parts.append(f'<p class="muted">{html.escape(body[0])}</p>')
            body = body[1:]
        parts.append("<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in body) + "</ul>")
    return "\n".join(parts)


def group_stats_json(stats: Any) -> dict[str, Any]:
    """A group's statistics for JSON: per figure, iqm and ci95 beside its mean."""
    return {
        key: {
            "n": s.n,
            "mean": _machine(s.mean),
            "median": s.median,
            "iqm": s.iqm,
            "ci95": None if s.ci95 is None else [s.ci95[0], s.ci95[1]],
        }
        for key, s in stats.items()
    }


def comparisons_json(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "measure": c.measure,
            "a": c.a,
            "b": c.b,
            "a_mean": c.a_mean,
            "b_mean": c.b_mean,
            "larger_than_spread": c.separated,
            "verdict": c.verdict,
        }
        for c in report.comparisons
    ]


CSV_STAT_PARTS = (
    "samples",
    "mean",
    "median",
    "iqm",
    "ci95_low",
    "ci95_high",
    "larger_than_spread_vs",
    "within_spread_vs",
)


def csv_stat_columns(report: Report) -> list[str]:
    """Extra CSV columns per group: each figure's samples, mean, median, IQM and interval, the types it differs
    from by more than their spread and those within it, and where its runs came from."""
    from lambdabench.report.build import STAT_KEYS

    return [f"{k}_{part}" for k in STAT_KEYS.values() for part in CSV_STAT_PARTS] + ["provenance"]


def csv_stat_values(report: Report, group: Any) -> list[str]:
    from lambdabench.report.build import STAT_KEYS

    label = group.label or group.instance_type
    out = []
    for key in STAT_KEYS.values():
        s = group.stats.get(key)
        if s is None:
            out += [""] * len(CSV_STAT_PARTS)
            continue
        lo, hi = (repr(s.ci95[0]), repr(s.ci95[1])) if s.ci95 is not None else ("", "")
        versus: dict[bool, list[str]] = {True: [], False: []}
        for c in report.comparisons:
            if c.measure == key and label in (c.a, c.b) and c.separated is not None:
                versus[c.separated].append(c.b if c.a == label else c.a)
        out += [str(s.n), repr(s.mean), repr(s.median), repr(s.iqm), lo, hi, ";".join(versus[True])]
        out.append(";".join(versus[False]))
    sources = dict.fromkeys(r.provenance for r in report.runs if (r.group or r.instance_type) == label)
    return [*out, "; ".join(p for p in sources if p)]
