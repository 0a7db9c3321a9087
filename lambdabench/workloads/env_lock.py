"""The benchmark machine's environment lock, as canonical JSON on stdout (stdlib only: it runs on the box).

`software`: what decides the figures and should match between runs that are compared: the Python and
every installed distribution with its version (importlib.metadata of the interpreter that runs the
benchmark), the NVIDIA driver and CUDA version (nvidia-smi), the machine image (/etc/os-release) and a
container image when given, the kernel (uname -r). `gpus`: each GPU's model, power limit and maximum
SM and memory clocks (nvidia-smi --query-gpu), which differ between GPU types by nature. `software_sha256`
is the SHA-256 of the canonical `software` JSON: two runs had the same software exactly when it matches.

In a container (the Isaac Sim playbooks) the benchmark's interpreter is the container's: `env_lock.py --packages`
runs there (isaaclab.sh -p) and prints its Python and packages on one MARKER line, and the host's
`env_lock.py --environment FILE IMAGE` takes them from that output, with the driver, CUDA, kernel and GPUs the host
sees and the container's image (its reference and image id).
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
MARKER = "LAMBDABENCH_ENV_LOCK "  # the line of --packages output that carries the JSON (banners may surround it)


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


def interpreter() -> dict[str, Any]:
    """This interpreter's Python version and installed distributions (names normalised, PEP 503)."""
    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    return {"python": platform.python_version(), "packages": dict(sorted(packages.items()))}


def read_environment(text: str) -> dict[str, Any]:
    """The MARKER line's JSON in --packages output; ValueError when there is none."""
    for line in text.splitlines():
        if line.startswith(MARKER):
            found = json.loads(line[len(MARKER) :])
            if isinstance(found, dict) and isinstance(found.get("packages"), dict):
                return found
    raise ValueError("no environment line in the output")


def collect(container_image: str = "", environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lock; environment (a container's interpreter()) replaces this interpreter's Python and packages."""
    env = environment if environment is not None else interpreter()
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
        "python": env.get("python"),
        "packages": dict(sorted(env["packages"].items())),
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


def main(argv: list[str]) -> int:
    """`--packages`: this interpreter's line; `[--environment FILE] [IMAGE]`: the lock as JSON on stdout."""
    if argv[:1] == ["--packages"]:
        print(MARKER + json.dumps(interpreter(), sort_keys=True, separators=(",", ":")))
        return 0
    environment = None
    if argv[:1] == ["--environment"] and len(argv) >= 2:
        with open(argv[1], encoding="utf-8", errors="replace") as f:
            environment = read_environment(f.read())
        argv = argv[2:]
    json.dump(collect(argv[0] if argv else "", environment), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
