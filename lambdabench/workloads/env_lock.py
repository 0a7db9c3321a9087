"""The benchmark machine's environment lock, as canonical JSON on stdout (stdlib only: it runs on the box).

`software`: what decides the figures and should match between runs that are compared: the Python and
every installed distribution with its version (importlib.metadata of the interpreter that runs the
benchmark), the NVIDIA driver and CUDA version (nvidia-smi), the machine image (/etc/os-release), the kernel
(uname -r) and, in an Isaac Sim container, the pulled base image's digest and the Isaac Lab checkout's commit.
`gpus`: each GPU's model, power limit and maximum SM and memory clocks (nvidia-smi --query-gpu), which differ
between GPU types by nature. `software_sha256` is the SHA-256 of the canonical `software` JSON: two runs had the
same software exactly when it matches.

In a container (the Isaac Sim playbooks) the benchmark's interpreter is the container's: `env_lock.py --packages`
runs there (isaaclab.sh -p) and prints its Python and packages on one MARKER line, and the host's
`env_lock.py --environment FILE --container NAME` takes them from that output, with the driver, CUDA, kernel and
GPUs the host sees and `container_facts(NAME)`. The container's own image is built on each box (`docker compose
build`), so its id differs on every box with the same software: it is recorded under `container`, never in
`software`.
"""

from __future__ import annotations

import hashlib
import json
import os
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


def _inspect(*argv: str) -> dict[str, Any]:
    """`docker inspect`'s one object, {} when docker cannot say."""
    try:
        found = json.loads(_run(["docker", *argv]) or "[]")
    except ValueError:
        return {}
    return found[0] if isinstance(found, list) and found and isinstance(found[0], dict) else {}


def container_facts(name: str) -> dict[str, Any]:
    """An Isaac Lab container's software beyond its packages, and its local image (recorded, never compared).

    The image Isaac Lab's compose file builds is `FROM ${ISAACSIM_BASE_IMAGE_ARG}:${ISAACSIM_VERSION_ARG}`
    (ooctipus/IsaacLab@08191e3 docker/Dockerfile.base:10-12), the two from docker/.env.base, which the service's
    `env_file` also puts in the container's environment (docker-compose.yaml `env_file: .env.base`); its source is
    the checkout, bind-mounted at $ISAACLAB_PATH/source (docker-compose.yaml volumes). The base image's registry
    digest is its RepoDigests entry, which only a pulled image has: a built one has none, and `docker load` loses it
    (moby/moby#22011); without one its image id stands in (content-addressed, the same for the same image).
    """
    box = _inspect("inspect", "--type", "container", name)
    config = box.get("Config") or {}
    env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
    ref = str(config.get("Image") or "")
    image = _inspect("image", "inspect", ref) if ref else {}
    base_ref = (
        f"{env['ISAACSIM_BASE_IMAGE']}:{env['ISAACSIM_VERSION']}"
        if {
            "ISAACSIM_BASE_IMAGE",
            "ISAACSIM_VERSION",
        }
        <= set(env)
        else ""
    )
    base = _inspect("image", "inspect", base_ref) if base_ref else {}
    repo = env.get("ISAACSIM_BASE_IMAGE", "")
    digests = sorted(d for d in base.get("RepoDigests") or [] if d.split("@", 1)[0] == repo)
    pin = digests[0].split("@", 1)[1] if digests else base.get("Id")
    source = f"{env.get('ISAACLAB_PATH', '/workspace/isaaclab')}/source"
    mounts = [m.get("Source") for m in box.get("Mounts") or [] if m.get("Destination") == source]
    checkout = os.path.dirname(mounts[0].rstrip("/")) if mounts and mounts[0] else ""
    commit = _run(["git", "-C", checkout, "rev-parse", "HEAD"]).strip() if checkout else ""
    return {
        "base_image": f"{base_ref}@{pin}" if base_ref and pin else None,
        "base_image_pinned_by": ("registry digest" if digests else "image id") if base_ref and pin else None,
        "isaaclab_commit": commit if re.fullmatch(r"[0-9a-f]{40,64}", commit) else None,
        "image": f"{ref}@{image['Id']}" if ref and image.get("Id") else None,
        "checkout": checkout or None,
    }


def collect(environment: dict[str, Any] | None = None, container: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lock; environment (a container's interpreter()) replaces this interpreter's Python and packages, and
    container (container_facts()) adds the base image and checkout to the software, its own image beside."""
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
        "kernel": platform.release(),
    }
    if container is not None:
        software["base_image"] = container.get("base_image")
        software["isaaclab_commit"] = container.get("isaaclab_commit")
    canonical = json.dumps(software, sort_keys=True, separators=(",", ":"))
    lock = {
        "schema_version": 2,
        "software": software,
        "gpus": gpus,
        "software_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
    }
    if container is not None:
        lock["container"] = container
    return lock


def main(argv: list[str]) -> int:
    """`--packages`: this interpreter's line; `[--environment FILE] [--container NAME]`: the lock on stdout."""
    if argv[:1] == ["--packages"]:
        print(MARKER + json.dumps(interpreter(), sort_keys=True, separators=(",", ":")))
        return 0
    environment = None
    if argv[:1] == ["--environment"] and len(argv) >= 2:
        with open(argv[1], encoding="utf-8", errors="replace") as f:
            environment = read_environment(f.read())
        argv = argv[2:]
    container = container_facts(argv[1]) if argv[:1] == ["--container"] and len(argv) >= 2 else None
    json.dump(collect(environment, container), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
