#!/usr/bin/env python3
"""Isaac Lab 2.x docker/container.py as simulated by lambdabench: start|enter|config|copy|stop [profile].

It behaves as isaac-sim/IsaacLab v2.1.0 (dcd877f0) docker/container.py and docker/utils/ do
(docs/isaaclab-contract.md, "2.x"): the X11 answer lives in docker/.container.cfg, section [X11], key
X11_FORWARDING_ENABLED (x11_utils.py:82-104), asked with input() when absent (an EOFError without a
terminal); start builds isaac-lab-base, then `compose up --detach --build`, both with check=False, so
start exits 0 even when they fail (container_interface.py:96-130); stop runs `compose down --volumes`
(:161), deleting the logs volume; copy deletes the old artifacts first (:199-201).
"""

from __future__ import annotations

import argparse
import configparser
import shutil
import subprocess
import sys
from pathlib import Path

DOCKER_DIR = Path(__file__).resolve().parent
STATEFILE = DOCKER_DIR / ".container.cfg"
CONTAINER_ISAACLAB = "/workspace/isaaclab"


def x11_enabled() -> bool:
    """The saved X11 answer, or ask for one (input() raises EOFError without a terminal)."""
    config = configparser.ConfigParser()
    config.read(STATEFILE)
    value = config.get("X11", "X11_FORWARDING_ENABLED", fallback=None)
    if value is None:
        print("[INFO] X11 forwarding from the Isaac Lab container is disabled by default.")
        print(
            "[INFO] It will fail if there is no display, or this script is being run via ssh without "
            "proper configuration."
        )
        value = "1" if input("Would you like to enable it? (y/N) ").lower() == "y" else "0"
        if not config.has_section("X11"):
            config.add_section("X11")
        config.set("X11", "X11_FORWARDING_ENABLED", value)
        with STATEFILE.open("w") as fh:
            config.write(fh)
    else:
        print(f"[INFO] X11 Forwarding is configured as '{value}' in '.container.cfg'.")
    return value == "1"


def compose(profile: str, env_files: list[str], *args: str) -> None:
    """One `docker compose` command for the profile, its failure ignored (check=False, as the real one)."""
    envs = [a for name in [".env.base", *env_files] for a in ("--env-file", name)]
    cmd = ["docker", "compose", "--file", "docker-compose.yaml", "--profile", profile, *envs, *args]
    subprocess.run(cmd, check=False, cwd=DOCKER_DIR)


def is_running(name: str) -> bool:
    """True when the container exists and runs."""
    done = subprocess.run(
        ["docker", "container", "inspect", "-f", "{{.State.Status}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() == "running"


def main() -> int:
    """Parse the command and drive docker."""
    parser = argparse.ArgumentParser(description="Utility for using Docker with Isaac Lab.")
    parser.add_argument("command", choices=["start", "enter", "config", "copy", "stop"])
    parser.add_argument("profile", nargs="?", default="base")
    parser.add_argument("--files", nargs="*", default=None)
    parser.add_argument("--env-files", nargs="*", default=None)
    args = parser.parse_args()
    profile = "base" if args.profile == "isaaclab" else args.profile
    name = f"isaac-lab-{profile}"
    env_files = args.env_files or ([f".env.{profile}"] if profile != "base" else [])
    if args.command == "start":
        x11 = x11_enabled()
        print(f"[INFO] Building the docker image and starting the container '{name}' in the background...\n")
        subprocess.run(
            [
                "docker",
                "compose",
                "--file",
                "docker-compose.yaml",
                "--env-file",
                ".env.base",
                "build",
                "isaac-lab-base",
            ],
            check=False,
            cwd=DOCKER_DIR,
        )
        compose(profile, env_files, "up", "--detach", "--build", "--remove-orphans")
        if x11:
            print("[INFO] X11 forwarding is enabled.")
        return 0
    if args.command == "config":
        compose(profile, env_files, "config")
        return 0
    if not is_running(name):
        raise RuntimeError(f"The container '{name}' is not running.")
    if args.command == "enter":
        print(f"[INFO] Entering the existing '{name}' container in a bash session...\n")
        subprocess.run(["docker", "exec", "--interactive", "--tty", name, "bash"], check=False)
    elif args.command == "copy":
        artifacts = DOCKER_DIR / "artifacts"
        paths = {f"{CONTAINER_ISAACLAB}/logs": artifacts / "logs",
                 f"{CONTAINER_ISAACLAB}/docs/_build": artifacts / "docs" / "_build",
                 f"{CONTAINER_ISAACLAB}/data_storage": artifacts / "data_storage"}  # fmt: skip
        print(f"[INFO] Copying artifacts from the '{name}' container...\n")
        for host in paths.values():
            shutil.rmtree(host, ignore_errors=True)
            host.parent.mkdir(parents=True, exist_ok=True)
        for inside, host in paths.items():
            print(f"\t - {inside} -> {host}")
            subprocess.run(["docker", "cp", f"{name}:{inside}", str(host)], check=False)
        print("\n[INFO] Finished copying the artifacts from the container.")
    elif args.command == "stop":
        print(f"[INFO] Stopping the launched docker container '{name}'...\n")
        compose(profile, env_files, "down", "--volumes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
