"""The benchmark machine's environment lock, as canonical JSON on stdout (stdlib only: it runs on the box).

`software`: what decides the figures and should match between runs that are compared: the Python and
every installed distribution with its version (importlib.metadata of the interpreter that runs the
benchmark), the NVIDIA driver and CUDA version (nvidia-smi), the machine image (/etc/os-release) and a
container image when given, the kernel (uname -r). `gpus`: each GPU's model, power limit and maximum
SM and memory clocks (nvidia-smi --query-gpu), which differ between GPU types by nature. `software_sha256`
is the SHA-256 of the canonical `software` JSON: two runs had the same software exactly when it matches.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
import sys
from importlib import metadata
from typing import Any

QUERY = "name,power.limit,clocks.max.sm,clocks.max.memory"


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _os_image() -> str | None:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def collect(container_image: str = "") -> dict[str, Any]:
    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    header = _run(["nvidia-smi"])
    cuda = re.search(r"CUDA Version:\s*([0-9.]+)", header)
    driver = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]).strip().splitlines()
    gpus = []
    for line in _run(["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"]).splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4:
            gpus.append(
                {"name": parts[0], "power_limit_w": parts[1], "max_sm_mhz": parts[2], "max_memory_mhz": parts[3]}
            )
    software = {
        "python": platform.python_version(),
        "packages": dict(sorted(packages.items())),
        "driver": driver[0] if driver else None,
        "cuda": cuda.group(1) if cuda else None,
        "image": _os_image(),
        "container_image": container_image or None,
        "kernel": platform.release(),
    }
    canonical = json.dumps(software, sort_keys=True, separators=(",", ":"))
    return {
        "schema_version": 1,
        "software": software,
        "gpus": gpus,
        "software_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
    }


if __name__ == "__main__":
    json.dump(collect(sys.argv[1] if len(sys.argv) > 1 else ""), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
