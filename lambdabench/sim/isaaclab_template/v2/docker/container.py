#!/usr/bin/env python3
"""Isaac Lab 2.x docker/container.py (simulated by lambdabench): start|enter|config|copy|stop [profile].

Calls docker like the real script. The first `start` asks whether to enable X11 forwarding unless
docker/.container.cfg answers it ([X11] X11_FORWARDING_ENABLED = 0).
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
    """The saved X11 answer, or ask for one (impossible without a terminal)."""
    config = configparser.ConfigParser()
    config.read(STATEFILE)
    value = config.get("X11", "X11_FORWARDING_ENABLED", fallback=None)
    if value is not None:
        return value.strip() == "1"
    print("[INFO] X11 forwarding from the Isaac Lab container is disabled by default.")
    print(
        "[INFO] It will fail if there is no display, or this script is being run via ssh without "
        "proper configuration."
    )
    if not sys.stdin.isatty():
        print("Would you like to enable it? (y/N) ", file=sys.stderr)
        sys.exit(
            "[Error] Cannot ask whether to enable X11 forwarding: stdin is not a terminal. Set "
            f"[X11] X11_FORWARDING_ENABLED = 0 in {STATEFILE} and run 'start' again."
        )
    answer = input("Would you like to enable it? (y/N) ").strip().lower() in ("y", "yes")
    if not config.has_section("X11"):
        config.add_section("X11")
    config.set("X11", "X11_FORWARDING_ENABLED", "1" if answer else "0")
    with STATEFILE.open("w") as fh:
        config.write(fh)
    return answer


def compose(profile: str, env_files: list[str], *args: str) -> None:
    """Run one `docker compose` command for the profile from the docker folder."""
    envs = [a for name in [".env.base", *env_files] for a in ("--env-file", name)]
    cmd = ["docker", "compose", "--file", "docker-compose.yaml", *envs, "--profile", profile, *args]
    subprocess.run(cmd, check=True, cwd=DOCKER_DIR)


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
    parser.add_argument("--env-files", nargs="*", default=None)
    parser.add_argument("--suffix", default=None)
    args = parser.parse_args()
    name = f"isaac-lab-{args.profile}" + (f"-{args.suffix}" if args.suffix else "")
    env_files = args.env_files or ([f".env.{args.profile}"] if args.profile != "base" else [])
    try:
        if args.command == "start":
            x11 = x11_enabled()
            print(
                f"[INFO] Building the docker image and starting the container '{name}' in the "
                "background...\n"
            )
            compose(args.profile, env_files, "up", "--detach", "--build", "--remove-orphans")
            if x11:
                print("[INFO] X11 forwarding is enabled.")
            return 0
        if args.command == "config":
            compose(args.profile, env_files, "config")
            return 0
        if not is_running(name):
            raise SystemExit(f"[Error] The '{name}' container is not running!")
        if args.command == "enter":
            print(f"[INFO] Entering the existing '{name}' container in a bash session...\n")
            subprocess.run(["docker", "exec", "--interactive", "--tty", "-e", "DISPLAY", name, "bash"], check=True)
        elif args.command == "copy":
            artifacts = DOCKER_DIR / "artifacts"
            if artifacts.exists():
                print(f"[INFO] Removing the existing artifacts folder: {artifacts}")
                shutil.rmtree(artifacts)
            artifacts.mkdir()
            print(f"[INFO] Copying artifacts from the '{name}' container...")
            for sub in ("logs",):
                print(f"\t - {CONTAINER_ISAACLAB}/{sub} -> {artifacts / sub}")
                subprocess.run(
                    ["docker", "cp", f"{name}:{CONTAINER_ISAACLAB}/{sub}", str(artifacts / sub)],
                    check=True,
                )
            print("\n[INFO] Finished copying the artifacts from the container.")
        elif args.command == "stop":
            print(f"[INFO] Stopping the launched docker container '{name}'...\n")
            compose(args.profile, env_files, "down", "--volumes")
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
