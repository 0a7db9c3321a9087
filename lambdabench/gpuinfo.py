"""What an instance type's GPU can do, read from Lambda's own descriptions (no hard-coded catalog)."""

from __future__ import annotations

import re
from typing import Any

from lambdabench.cloud.models import InstanceType, parse_type_name

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
