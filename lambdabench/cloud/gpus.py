"""Every GPU fact in one room: what users type resolved against the live type list (`a10`, `8xh100`,
`a100-80gb`, full type names), what a type's GPU can do (read from Lambda's own descriptions, no
hard-coded catalog), and how long a type takes to boot."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lambdabench.cloud.models import InstanceType, parse_type_name
from lambdabench.errors import UsageError

_SPEC = re.compile(r"^(?:(?P<n>\d+)\s*x\s*)?(?P<rest>[a-z0-9][a-z0-9_\-]*)$")


def short_name(itype: InstanceType) -> str:
    """The shortest user-facing name for a type, e.g. `8xh100-sxm5` → shown as a hint."""
    parsed = parse_type_name(itype.name)
    if not parsed or parsed.kind != "gpu":
        return itype.name
    prefix = "" if parsed.count == 1 else f"{parsed.count}x"
    variant = f"-{parsed.variant.replace('_', '-')}" if parsed.variant else ""
    return f"{prefix}{parsed.model}{variant}"


def _rank(variant_tokens: list[str]) -> tuple[int, int]:
    """Lower is preferred when a short name matches several types: bare, then SXM, then the rest."""
    if not variant_tokens:
        return (0, 0)
    has_mem = any(t.endswith("gb") for t in variant_tokens)
    sxm = any(t.startswith("sxm") for t in variant_tokens)
    return (1 + int(has_mem), 0 if sxm else 1)


def resolve_gpu(spec: str, types: Sequence[InstanceType]) -> InstanceType:
    """One user-typed name to one instance type, or a UsageError listing the valid choices."""
    raw = spec.strip().lower()
    by_name = {t.name: t for t in types}
    if raw in by_name:
        return by_name[raw]
    choices = ", ".join(sorted({short_name(t) for t in types if t.gpus > 0})) or "(no GPU types listed)"
    m = _SPEC.match(raw)
    if not raw or not m:
        raise UsageError(f"GPU name {spec!r} is not valid", f"Use one of: {choices}.")
    explicit_count = m["n"] is not None
    count = int(m["n"]) if explicit_count else 1
    tokens = [t for t in re.split(r"[-_]", m["rest"]) if t]
    if tokens and tokens[0] == "gpu" and len(tokens) > 1:
        tokens = tokens[1:]
    model, wanted = tokens[0], tokens[1:]
    candidates = _matches(types, model, wanted, count)
    if not candidates and not explicit_count:
        # `a100-80gb` when only an 8x type has that variant: take the smallest count that exists
        by_count = sorted({c for c in (_count(t) for t in types) if c})
        for other in by_count:
            candidates = _matches(types, model, wanted, other)
            if candidates:
                break
    if not candidates:
        raise UsageError(f"Unknown GPU {spec!r}", f"Use one of: {choices}.")
    candidates.sort(key=lambda c: (c[0], c[1].name))
    best = [c for c in candidates if c[0] == candidates[0][0]]
    if len(best) > 1:
        names = ", ".join(f"{short_name(t)} ({t.name})" for _, t in best)
        raise UsageError(f"GPU name {spec!r} is ambiguous", f"Say which: {names}.")
    return best[0][1]


def _count(t: InstanceType) -> int:
    parsed = parse_type_name(t.name)
    return parsed.count if parsed and parsed.kind == "gpu" else 0


def _matches(
    types: Sequence[InstanceType], model: str, wanted: list[str], count: int
) -> list[tuple[tuple[int, int], InstanceType]]:
    out = []
    for t in types:
        parsed = parse_type_name(t.name)
        if not parsed or parsed.kind != "gpu" or parsed.count != count or parsed.model != model:
            continue
        variant_tokens = [v for v in parsed.variant.split("_") if v]
        if all(w in variant_tokens for w in wanted):
            out.append((_rank(variant_tokens), t))
    return out


def parse_gpu_list(text: str) -> list[str]:
    """Split `a10,a100, 8xh100` into names; empty entries are an error."""
    items = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in items):
        raise UsageError(f"--gpus {text!r} has an empty entry", "Write a comma-separated list, e.g. a10,a100,8xh100.")
    if len(items) > 64:
        raise UsageError("--gpus lists more than 64 types", "Split the sweep.")
    return items


# GPU families with RT cores (Isaac Sim renders cameras, video and livestream with RTX);
# A100, H100, H200, B200, GH200 and V100 have none
_RTX = re.compile(r"\b(a10g?|a16|a40|a6000|rtx|l4|l40s?|quadro|t4|[2-5]0[6-9]0(?:\s*ti)?|6000)\b", re.I)
_NON_RTX = re.compile(r"\b(a100|h100|h200|b200|b300|gh200|v100)\b", re.I)
_MEM = re.compile(r"(\d+)\s*GB", re.I)


def type_facts(itype: InstanceType) -> dict[str, Any]:
    """Facts the playbooks' `requires` checks read: name, gpus, gpu_model, vram_gb, rtx, arch."""
    parsed = parse_type_name(itype.name)
    model = parsed.model if parsed else ""
    desc = f"{itype.gpu_description} {model}"
    mem = _MEM.search(itype.gpu_description or "")
    rtx = bool(_RTX.search(desc)) and not _NON_RTX.search(desc)
    if not itype.gpus:
        rtx = False
    return {
        "name": itype.name,
        "gpus": itype.gpus,
        "gpu_model": model.upper() if model else None,
        "vram_gb": float(mem.group(1)) if mem else None,
        "rtx": rtx,
        "arch": "arm64" if model == "gh200" else "x86_64",
    }


def host_facts(name: str, preflight: dict[str, Any]) -> dict[str, Any]:
    """The same facts for a machine the user brought, from its preflight (the real nvidia-smi, uname -m)."""
    model = str(preflight.get("gpu_name") or "")
    try:
        gpus = int(preflight.get("gpu_count") or 0)
    except ValueError:
        gpus = 0
    try:
        vram = float(str(preflight.get("gpu_memory_mib") or "").split()[0]) / 1024
    except (ValueError, IndexError):
        vram = None
    machine = str(preflight.get("machine") or "")
    return {
        "name": name,
        "gpus": gpus,
        "gpu_model": model or None,
        "vram_gb": round(vram, 1) if vram else None,
        "rtx": bool(model) and bool(_RTX.search(model)) and not _NON_RTX.search(model),
        "arch": "arm64" if machine in ("aarch64", "arm64") else ("x86_64" if machine else None),
    }


def expected_boot_seconds(itype: InstanceType) -> float:
    """Lambda's boot times: single GPU 3–5 min, 8×A100 ~15 min, 8×H100 over 20 min (upper ends)."""
    if itype.gpus >= 8:
        return 25 * 60.0 if "h100" in itype.name or "b200" in itype.name else 15 * 60.0
    if itype.gpus >= 2:
        return 10 * 60.0
    return 5 * 60.0


def boot_range(itype: InstanceType) -> str:
    """The typical boot of a type, as the progress board shows it beside a boot's elapsed time."""
    if itype.gpus >= 8:
        return "15–25 min" if "h100" in itype.name or "b200" in itype.name else "10–15 min"
    if itype.gpus >= 2:
        return "5–10 min"  # a guess between the single-GPU and 8-GPU figures above
    return "3–5 min"
