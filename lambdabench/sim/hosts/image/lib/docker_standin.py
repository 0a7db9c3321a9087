"""The simulated instance's `docker`: the subset Isaac Lab's scripts and our playbooks use.

Run as `python docker_standin.py ARGS...` by ../bin/docker. Every invocation appends its argv to
$LAMBDABENCH_SIM_STATE/argv.log; secrets only ever arrive on stdin (login --password-stdin).

State (all on the instance's disk, wiped with it):
  ~/.docker/config.json           registry auths, 0600, base64 "user:password" like real docker
  ~/.sim-docker/images.json       pulled and built images
  ~/.sim-docker/containers/<name> config.json, rootfs/ (the container's file system, see below)
  ~/.sim-docker/volumes/<name>    named volumes (_data)
Host state ($LAMBDABENCH_SIM_STATE):
  docker.json            settings: pull_seconds (large images, default 3), small_pull_seconds
                         (0.3), build_seconds (0.5), nvidia_runtime (default true: Lambda Stack's
                         daemon has the NVIDIA runtime; false: `--gpus` fails until docker is
                         restarted with the container toolkit installed)
  docker-timings.jsonl   one line per pull, build and container start, with its seconds
  ngc.json               the simulator's NGC key digest (written by the HostManager)
A container's rootfs holds a symlink per mount (bind: the host folder, volume: its _data) and,
for a built image, per top-level entry of the build context copied in. `exec`/`run` run the
command on the host with the container's paths (/workspace, /root, /tmp, ...) in argv, env and
cwd mapped into the rootfs, HOME=/root, and a PATH with no `python` (like the real image).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simhost  # noqa: E402

DOCKER_VERSION = "27.5.1"
DOCKER_BUILD = "27.5.1-0ubuntu3~22.04.2"
COMPOSE_VERSION = "2.27.4+ds1-0ubuntu1~22.04.1"
API_VERSION = "1.47"
SOCKET = "unix:///var/run/docker.sock"
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NVCR = "nvcr.io"
ISAAC_SIM_TAGS = {"4.0.0", "4.1.0", "4.2.0", "4.5.0", "5.0.0", "5.1.0"}
# repository: (size, layers, large, workdir, default command)
REGISTRY: dict[str, tuple[str, int, bool, str, list[str]]] = {
    "docker.io/library/ubuntu": ("78.1MB", 1, False, "/", ["/bin/bash"]),
    "docker.io/library/hello-world": ("13.3kB", 1, False, "/", ["/hello"]),
    "docker.io/nvidia/cuda": ("240MB", 5, False, "/", ["/bin/bash"]),
    "nvcr.io/nvidia/isaac-sim": ("16.7GB", 12, True, "/isaac-sim", ["/bin/bash"]),
    "nvcr.io/nvidia/isaac-lab": ("21.3GB", 14, True, "/workspace/isaaclab", ["/bin/bash"]),
}


class DockerError(Exception):
    """A failure to report on stderr with an exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# ---- state ------------------------------------------------------------------------------------


def home() -> Path:
    return Path(os.environ.get("HOME") or os.path.expanduser("~"))


def store() -> Path:
    path = home() / ".sim-docker"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _write(path: Path, data: Any, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def settings() -> dict[str, Any]:
    """docker.json in the host state, over the defaults."""
    values = {
        "pull_seconds": 3.0,
        "small_pull_seconds": 0.3,
        "build_seconds": 0.5,
        "save_seconds": 0.3,
        "load_seconds": 0.3,
    }
    values.update(simhost.load_json("docker.json", {}))
    return values


def record_timing(event: str, seconds: float, **fields: Any) -> None:
    """Append one pull/build/start duration to docker-timings.jsonl."""
    line = {"t": round(time.time(), 3), "event": event, "seconds": round(seconds, 3), **fields}
    with open(simhost.state_dir() / "docker-timings.jsonl", "a") as fh:
        fh.write(json.dumps(line) + "\n")


def _new_id() -> str:
    return hashlib.sha256(secrets.token_bytes(16)).hexdigest()


def _ago(t: float) -> str:
    seconds = max(0, int(time.time() - t))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''}"
    return "Less than a second" if seconds < 1 else f"{seconds} seconds"


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.3g}{unit}"
        size /= 1000
    return f"{size:.3g}GB"


# ---- the daemon -------------------------------------------------------------------------------


def runtime_has_gpu() -> bool:
    """Whether the running daemon registered the NVIDIA device driver (needs the toolkit at start)."""
    toolkit = "nvidia-container-toolkit" in simhost._installed()
    unit = simhost.load_json("systemd.json", {}).get("docker", {})
    if unit.get("last_restart"):
        return toolkit  # docker registers --gpus support at start when the toolkit's hook exists
    return toolkit and bool(settings().get("nvidia_runtime", True))


def daemon() -> None:
    """Fail like the client does when the daemon is down or the socket is not ours."""
    unit = simhost.load_json("systemd.json", {}).get("docker", {})
    if not unit.get("active", True):
        raise DockerError(f"Cannot connect to the Docker daemon at {SOCKET}. Is the docker daemon running?")
    if simhost.privileged() or simhost.session_user() == "root":
        return
    if "docker" not in simhost.session_groups():
        raise DockerError(
            "permission denied while trying to connect to the Docker daemon socket at "
            f'{SOCKET}: Get "http://%2Fvar%2Frun%2Fdocker.sock/v{API_VERSION}/version": '
            "dial unix /var/run/docker.sock: connect: permission denied"
        )


def _gpu_request_error(driver: str) -> str | None:
    if not runtime_has_gpu():
        return f'could not select device driver "{driver}" with capabilities: [[gpu]]'
    if int(simhost.gpu_spec().get("gpus", 0)) == 0:
        return (
            "failed to create task for container: failed to create shim task: OCI runtime create "
            "failed: runc create failed: unable to start container process: error during container "
            "init: error running hook #0: error running hook: exit status 1, stdout: , stderr: "
            "Auto-detected mode as 'legacy'\nnvidia-container-cli: initialization error: nvml "
            "error: driver not loaded: unknown"
        )
    return None


# ---- registry and images ----------------------------------------------------------------------


def parse_ref(ref: str) -> tuple[str, str, str]:
    """(full repository, tag, short name) of an image reference."""
    name, tag = ref, "latest"
    if "@" in name:
        name = name.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        full = name
    elif "/" in name:
        full = f"docker.io/{name}"
    else:
        full = f"docker.io/library/{name}"
    short = full.removeprefix("docker.io/library/").removeprefix("docker.io/")
    return full, tag, short


def images() -> dict[str, Any]:
    data: dict[str, Any] = _read(store() / "images.json", {})
    return data


def save_images(data: dict[str, Any]) -> None:
    _write(store() / "images.json", data)


def find_image(ref: str) -> dict[str, Any] | None:
    _, tag, short = parse_ref(ref)
    table = images()
    if f"{short}:{tag}" in table:
        entry: dict[str, Any] = table[f"{short}:{tag}"]
        return entry
    for entry in table.values():  # by id prefix
        if len(ref) >= 4 and entry["id"].removeprefix("sha256:").startswith(ref):
            return dict(entry)
    return None


def _logged_in(registry: str) -> bool:
    auths = _read(home() / ".docker" / "config.json", {}).get("auths", {})
    entry = auths.get(registry)
    if not entry or "auth" not in entry:
        return False
    try:
        _, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return bool(simhost.ngc_key_matches(password)) if registry == NVCR else True


def pull(ref: str, *, quiet: bool = False, out: Any = None) -> dict[str, Any]:
    """Pull an image from the simulated registries (nvcr.io needs a login); returns its entry."""
    out = out or sys.stdout
    full, tag, short = parse_ref(ref)
    known = REGISTRY.get(full)
    registry = full.split("/", 1)[0]
    if registry == NVCR and not _logged_in(NVCR):
        raise DockerError(
            f'Error response from daemon: Head "https://{NVCR}/v2/{full.split("/", 1)[1]}/manifests/'
            f'{tag}": unauthorized: authentication required'
        )
    if known is None:
        if registry == "docker.io":
            raise DockerError(
                f"Error response from daemon: pull access denied for {short}, repository does not "
                "exist or may require 'docker login': denied: requested access to the resource is denied"
            )
        raise DockerError(
            f"Error response from daemon: manifest for {short}:{tag} not found: manifest unknown: manifest unknown"
        )
    if full == "nvcr.io/nvidia/isaac-sim" and tag not in ISAAC_SIM_TAGS:
        raise DockerError(
            f"Error response from daemon: manifest for {short}:{tag} not found: manifest unknown: manifest unknown"
        )
    size, layers, large, workdir, command = known
    digest = "sha256:" + hashlib.sha256(f"{full}:{tag}".encode()).hexdigest()
    existing = find_image(f"{short}:{tag}")
    repo_path = full.split("/", 1)[1] if registry != "docker.io" else short
    if not quiet:
        print(f"{tag}: Pulling from {repo_path.removeprefix('library/')}", file=out, flush=True)
    if existing is not None:
        if not quiet:
            print(f"Digest: {digest}\nStatus: Image is up to date for {short}:{tag}", file=out)
            print(f"{short}:{tag}", file=out, flush=True)
        return existing
    seconds = float(settings()["pull_seconds" if large else "small_pull_seconds"])
    started = time.monotonic()
    layer_ids = [hashlib.sha256(f"{digest}{i}".encode()).hexdigest()[:12] for i in range(layers)]
    if not quiet:
        for layer in layer_ids:
            print(f"{layer}: Pulling fs layer", file=out)
        out.flush()
    for layer in layer_ids:
        time.sleep(seconds / layers)
        if not quiet:
            print(f"{layer}: Pull complete", file=out, flush=True)
    entry = {
        "ref": f"{short}:{tag}",
        "repository": short,
        "tag": tag,
        "id": "sha256:" + hashlib.sha256(digest.encode()).hexdigest(),
        "digest": digest,
        "created": time.time() - 86400 * 30,
        "size": size,
        "workdir": workdir,
        "command": command,
        "env": {"PATH": CONTAINER_PATH},
        "copies": [],
    }
    table = images()
    table[entry["ref"]] = entry
    save_images(table)
    record_timing("pull", time.monotonic() - started, image=entry["ref"])
    if not quiet:
        print(f"Digest: {digest}\nStatus: Downloaded newer image for {short}:{tag}", file=out)
        print(f"{short}:{tag}", file=out, flush=True)
    return entry


# ---- templates (--format) ---------------------------------------------------------------------


def render(template: str, obj: Any) -> str:
    """The Go-template subset scripts use: {{.A.B}}, {{json .A}}, {{json .}}, table prefix, \\t."""
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    if template.startswith("table "):
        template = template[6:]

    def lookup(path: str) -> Any:
        value = obj
        for part in [p for p in path.split(".") if p]:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def replace(match: re.Match[str]) -> str:
        value = lookup(match.group(2))
        if match.group(1):
            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return "<no value>"
        if isinstance(value, dict):
            return "map[" + " ".join(f"{k}:{v}" for k, v in value.items()) + "]"
        if isinstance(value, list):
            return "[" + " ".join(map(str, value)) + "]"
        return str(value)

    return re.sub(r"\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}", replace, template)


# ---- option parsing ---------------------------------------------------------------------------


def parse_opts(
    args: list[str], flags: set[str], valued: set[str], *, interspersed: bool = True
) -> tuple[dict[str, list[str]], list[str]]:
    """Flags and positionals; run/exec/compose stop at their first positional (IMAGE, CONTAINER)."""
    opts: dict[str, list[str]] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            if not interspersed:
                break
            positional.append(arg)
            i += 1
            continue
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name in flags:
                opts.setdefault(name, []).append(value if eq else "true")
            elif name in valued:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise DockerError(f"flag needs an argument: {name}", 125)
                    value = args[i]
                opts.setdefault(name, []).append(value)
            else:
                raise DockerError(f"unknown flag: {name}\nSee 'docker --help'.", 125)
            i += 1
            continue
        j = 1
        while j < len(arg):
            short = "-" + arg[j]
            if short in flags:
                opts.setdefault(short, []).append("true")
                j += 1
            elif short in valued:
                value = arg[j + 1 :]
                if not value:
                    i += 1
                    if i >= len(args):
                        raise DockerError(f"flag needs an argument: '{arg[j]}' in {short}", 125)
                    value = args[i]
                opts.setdefault(short, []).append(value)
                break
            else:
                raise DockerError(f"unknown shorthand flag: '{arg[j]}' in {arg}\nSee 'docker --help'.", 125)
        i += 1
    return opts, positional + args[i:]


def _opt(opts: dict[str, list[str]], *names: str) -> list[str]:
    return [v for n in names for v in opts.get(n, [])]


# ---- containers -------------------------------------------------------------------------------


def containers_dir() -> Path:
    path = store() / "containers"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_container(name_or_id: str) -> dict[str, Any] | None:
    name_or_id = name_or_id.lstrip("/")
    direct = containers_dir() / name_or_id / "config.json"
    if direct.exists():
        data: dict[str, Any] = _read(direct, None)
        return data
    for path in containers_dir().glob("*/config.json"):
        data = _read(path, None)
        if data and len(name_or_id) >= 4 and data["id"].startswith(name_or_id):
            return data
    return None


def all_containers() -> list[dict[str, Any]]:
    found = [_read(p, None) for p in containers_dir().glob("*/config.json")]
    return sorted((c for c in found if c), key=lambda c: c["created"], reverse=True)


def save_container(c: dict[str, Any]) -> None:
    _write(containers_dir() / c["name"] / "config.json", c)


def rootfs(c: dict[str, Any]) -> Path:
    return containers_dir() / c["name"] / "rootfs"


def volume_dir(name: str) -> Path:
    return store() / "volumes" / name / "_data"


def _materialize(root: Path, path: Path) -> None:
    """Make every folder from root down to path a real folder (splitting symlinked ones)."""
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            target = Path(os.readlink(current))
            current.unlink()
            current.mkdir()
            if target.is_dir():
                for child in target.iterdir():
                    (current / child.name).symlink_to(child)
        elif not current.exists():
            current.mkdir()


def create_container(
    name: str,
    image: dict[str, Any],
    *,
    mounts: list[tuple[str, str]],
    env: dict[str, str],
    gpus: bool,
    command: list[str],
    project: str | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    """Lay out the container's rootfs: image copies, then mounts (shallow first), then bin/."""
    folder = containers_dir() / name
    shutil.rmtree(folder, ignore_errors=True)
    root = folder / "rootfs"
    for sub in ("root", "tmp", "workspace", "isaac-sim"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for source, dest in image.get("copies", []):
        target = root / dest.lstrip("/")
        _materialize(root, target)
        for child in sorted(Path(source).iterdir()):
            if child.name != ".git":
                link = target / child.name
                if not link.exists() and not link.is_symlink():
                    link.symlink_to(child)
    for dest, source in sorted(mounts, key=lambda m: m[0].count("/")):
        target = root / dest.lstrip("/")
        _materialize(root, target.parent)
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        Path(source).mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)
    if image.get("installed"):  # what the image's RUN steps installed (pip packages)
        (folder / "installed.json").write_text(json.dumps(image["installed"]))
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    if gpus:  # the NVIDIA container toolkit mounts the driver's tools into GPU containers
        tool = bin_dir / "nvidia-smi"
        tool.write_text(f'#!/bin/sh\nexec "{simhost.BIN / "nvidia-smi"}" "$@"\n')
        tool.chmod(0o755)
    c = {
        "id": _new_id(),
        "name": name,
        "image": image["ref"],
        "image_id": image["id"],
        "created": time.time(),
        "started": time.time(),
        "state": "running",
        "exit_code": 0,
        "gpus": gpus,
        "env": env,
        "workdir": image.get("workdir", "/"),
        "command": command,
        "mounts": [list(m) for m in mounts],
        "project": project,
        "service": service,
    }
    save_container(c)
    return c


def to_host(c: dict[str, Any], text: str) -> str:
    """Map container paths inside one argument (or env value) to the rootfs on the host."""
    root = rootfs(c)
    if text == "/":
        return str(root)
    tops = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    if not tops:
        return text
    pattern = r"(?<![\w.~/$-])/(?:" + "|".join(map(re.escape, tops)) + r")(?=/|$|[\s'\";:|&<>()=,])"
    return re.sub(pattern, lambda m: str(root) + m.group(0), text)


def container_env(c: dict[str, Any], extra: list[str], tty: bool) -> dict[str, str]:
    """The process environment inside the container (plus the simulator's plumbing)."""
    folder = containers_dir() / c["name"]
    env = {
        "PATH": CONTAINER_PATH,
        "HOSTNAME": c["id"][:12],
        "HOME": str(rootfs(c) / "root"),
        "TMPDIR": str(rootfs(c) / "tmp"),
        "LANG": "C.UTF-8",
    }
    if tty:
        env["TERM"] = "xterm"
    for key, value in c.get("env", {}).items():
        env[key] = to_host(c, value)
    for item in extra:
        key, eq, value = item.partition("=")
        if eq:
            env[key] = to_host(c, value)
        elif key in os.environ:
            env[key] = os.environ[key]
    for key, value in os.environ.items():
        if key.startswith("LAMBDABENCH_SIM_") and key not in ("LAMBDABENCH_SIM_GROUPS",):
            env[key] = value  # plumbing: the host's state and python, and the kill marker
    # the toolkit's injected tools (nvidia-smi) sit before the image's own PATH
    env["PATH"] = f"{folder / 'bin'}:{env.get('PATH') or CONTAINER_PATH}"
    env["LAMBDABENCH_SIM_CONTAINER"] = str(folder)
    env["LAMBDABENCH_SIM_ROOTFS"] = str(rootfs(c))
    return env


def _resolve(c: dict[str, Any], program: str, env: dict[str, str]) -> str:
    if "/" in program:
        path = to_host(c, program) if program.startswith("/") else program
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    else:
        found = shutil.which(program, path=env["PATH"])
        if found:
            return found
    raise DockerError(
        "OCI runtime exec failed: exec failed: unable to start container process: exec: "
        f'"{program}": executable file not found in $PATH: unknown',
        127,
    )


def _prepare(
    c: dict[str, Any], command: list[str], env_items: list[str], workdir: str | None, tty: bool
) -> tuple[str, list[str], dict[str, str], str]:
    env = container_env(c, env_items, tty)
    cwd_in = workdir or c.get("workdir") or "/"
    cwd = to_host(c, cwd_in) if cwd_in.startswith("/") else cwd_in
    if not os.path.isdir(cwd):
        raise DockerError(
            "OCI runtime exec failed: exec failed: unable to start container process: chdir to "
            f'cwd ("{cwd_in}") set in config.json failed: no such file or directory: unknown',
            126,
        )
    argv = [to_host(c, a) for a in command]
    program = _resolve(c, command[0], env)
    return program, argv, env, cwd


def container_pids(c: dict[str, Any]) -> list[int]:
    """Live processes started inside the container (they carry its marker in their environment)."""
    marker = f"LAMBDABENCH_SIM_CONTAINER={containers_dir() / c['name']}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0") and simhost._pid_alive(int(name)):
                    found.append(int(name))
        except OSError:
            continue
    return found


def stop_container(c: dict[str, Any], grace: float = 2.0) -> None:
    """SIGTERM the container's processes, SIGKILL what is left after the grace period."""
    pids = container_pids(c)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [p for p in pids if simhost._pid_alive(p)]
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    c["state"] = "exited"
    c["exit_code"] = 137 if pids else 0
    c["finished"] = time.time()
    save_container(c)


def remove_container(c: dict[str, Any]) -> None:
    shutil.rmtree(containers_dir() / c["name"], ignore_errors=True)


def _require(name: str) -> dict[str, Any]:
    c = load_container(name)
    if c is None:
        raise DockerError(f"Error response from daemon: No such container: {name}")
    return c


# ---- commands ---------------------------------------------------------------------------------


def cmd_version(args: list[str]) -> int:
    if args[:1] == ["--format"] or (args and args[0].startswith("--format")):
        print(DOCKER_VERSION)
        return 0
    print(
        f"Client:\n Version:           {DOCKER_VERSION}\n API version:       {API_VERSION}\n"
        f" Go version:        go1.22.2\n OS/Arch:           linux/amd64\n\n"
        f"Server:\n Engine:\n  Version:          {DOCKER_VERSION}\n  API version:      {API_VERSION} "
        "(minimum version 1.24)\n (simulated by lambdabench)"
    )
    return 0


def _info_obj() -> dict[str, Any]:
    daemon_json = _read(Path(simhost.sysroot_path(simhost.DAEMON_JSON)), {})
    runtimes = {"io.containerd.runc.v2": {"path": "runc"}, "runc": {"path": "runc"}}
    if runtime_has_gpu():
        runtimes["nvidia"] = {"path": "nvidia-container-runtime"}
    cgroup = "cgroupfs" if "native.cgroupdriver=cgroupfs" in daemon_json.get("exec-opts", []) else "systemd"
    cs = all_containers()
    return {
        "ServerVersion": DOCKER_VERSION,
        "Containers": len(cs),
        "ContainersRunning": sum(c["state"] == "running" for c in cs),
        "ContainersStopped": sum(c["state"] != "running" for c in cs),
        "Images": len(images()),
        "Driver": "overlay2",
        "CgroupDriver": cgroup,
        "CgroupVersion": "2",
        "Runtimes": runtimes,
        "DefaultRuntime": daemon_json.get("default-runtime", "runc"),
        "DockerRootDir": "/var/lib/docker",
        "OperatingSystem": "Ubuntu 22.04.5 LTS (simulated)",
        "NCPU": int(simhost.gpu_spec().get("vcpus", 0) or os.cpu_count() or 1),
        "Name": "sim-" + os.environ.get("LAMBDABENCH_SIM_INSTANCE", "instance")[:8],
    }


def cmd_info(args: list[str]) -> int:
    daemon()
    opts, _ = parse_opts(args, set(), {"--format", "-f"})
    info = _info_obj()
    fmt = _opt(opts, "--format", "-f")
    if fmt:
        print(json.dumps(info) if fmt[0].strip() in ("json", "{{json .}}") else render(fmt[0], info))
        return 0
    print(
        f"Client:\n Version:    {DOCKER_VERSION}\n Context:    default\n Debug Mode: false\n\n"
        f"Server:\n Containers: {info['Containers']}\n  Running: {info['ContainersRunning']}\n"
        f"  Paused: 0\n  Stopped: {info['ContainersStopped']}\n Images: {info['Images']}\n"
        f" Server Version: {DOCKER_VERSION}\n Storage Driver: overlay2\n Logging Driver: json-file\n"
        f" Cgroup Driver: {info['CgroupDriver']}\n Cgroup Version: 2\n"
        f" Runtimes: {' '.join(sorted(info['Runtimes']))}\n Default Runtime: {info['DefaultRuntime']}\n"
        f" Operating System: {info['OperatingSystem']}\n CPUs: {info['NCPU']}\n"
        f" Name: {info['Name']}\n Docker Root Dir: /var/lib/docker\n"
    )
    return 0


def cmd_login(args: list[str]) -> int:
    opts, rest = parse_opts(args, {"--password-stdin"}, {"-u", "--username", "-p", "--password"})
    server = rest[0] if rest else "https://index.docker.io/v1/"
    registry = server.removeprefix("https://").removeprefix("http://").rstrip("/")
    username = (_opt(opts, "-u", "--username") or [None])[-1]
    password = (_opt(opts, "-p", "--password") or [None])[-1]
    if password is not None:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if "--password-stdin" in opts:
        if password is not None:
            raise DockerError("--password and --password-stdin are mutually exclusive")
        if not username:
            raise DockerError("Must provide --username with --password-stdin")
        password = sys.stdin.read()
        password = password.removesuffix("\n").removesuffix("\r")
    if password is None or username is None:
        if not os.isatty(0):
            raise DockerError("Error: Cannot perform an interactive login from a non TTY device")
        if username is None:
            sys.stderr.write("Username: ")
            sys.stderr.flush()
            username = sys.stdin.readline().strip()
        import getpass

        password = getpass.getpass("Password: ")
    daemon()
    if registry == NVCR:
        ok = username == "$oauthtoken" and bool(simhost.ngc_key_matches(password))
        endpoint = f"https://{NVCR}/v2/"
    else:
        ok, endpoint = False, "https://registry-1.docker.io/v2/"
    if not ok:
        raise DockerError(f'Error response from daemon: Get "{endpoint}": unauthorized')
    config_path = home() / ".docker" / "config.json"
    config_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = _read(config_path, {})
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config.setdefault("auths", {})[registry] = {"auth": auth}
    _write(config_path, config, mode=0o600)
    os.chmod(config_path, 0o600)
    sys.stderr.write(
        f"WARNING! Your password will be stored unencrypted in {config_path}.\n"
        "Configure a credential helper to remove this warning. See\n"
        "https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n\n"
    )
    print("Login Succeeded")
    return 0


def cmd_logout(args: list[str]) -> int:
    registry = (args[0] if args else "https://index.docker.io/v1/").removeprefix("https://").rstrip("/")
    config_path = home() / ".docker" / "config.json"
    config = _read(config_path, {})
    if registry in config.get("auths", {}):
        print(f"Removing login credentials for {registry}")
        del config["auths"][registry]
        _write(config_path, config, mode=0o600)
    else:
        print(f"Not logged in to {registry}")
    return 0


def cmd_pull(args: list[str]) -> int:
    opts, rest = parse_opts(args, {"-q", "--quiet", "-a", "--all-tags"}, {"--platform"})
    if not rest:
        raise DockerError('"docker pull" requires exactly 1 argument.')
    daemon()
    entry = pull(rest[0], quiet=bool(_opt(opts, "-q", "--quiet")))
    if _opt(opts, "-q", "--quiet"):
        print(entry["ref"])
    return 0


def cmd_images(args: list[str]) -> int:
    opts, rest = parse_opts(
        args, {"-q", "--quiet", "-a", "--all", "--no-trunc", "--digests"}, {"--format", "-f", "--filter"}
    )
    daemon()
    rows = sorted(images().values(), key=lambda e: -e["created"])
    if rest:
        _, tag, short = parse_ref(rest[0])
        rows = [r for r in rows if r["repository"] == short and (":" not in rest[0] or r["tag"] == tag)]
    if _opt(opts, "-q", "--quiet"):
        for row in rows:
            print(row["id"].removeprefix("sha256:")[:12])
        return 0
    objs = [
        {
            "Repository": r["repository"], "Tag": r["tag"], "ID": r["id"].removeprefix("sha256:")[:12],
            "CreatedSince": _ago(r["created"]) + " ago", "Size": r["size"], "Digest": r.get("digest", "<none>"),
            "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(r["created"])),
        }
        for r in rows
    ]  # fmt: skip
    fmt = _opt(opts, "--format", "-f")
    if fmt:
        for obj in objs:
            print(json.dumps(obj) if fmt[0] == "json" else render(fmt[0], obj))
        return 0
    print(f"{'REPOSITORY':<28}{'TAG':<10}{'IMAGE ID':<15}{'CREATED':<16}SIZE")
    for obj in objs:
        print(f"{obj['Repository']:<28}{obj['Tag']:<10}{obj['ID']:<15}{obj['CreatedSince']:<16}{obj['Size']}")
    return 0


# `docker save -o FILE IMAGE...` and `docker load -i FILE`: the archive here is JSON, not a tar (nothing
# reads it but this stand-in); a file that is not one of ours fails as a truncated tar does in real docker
# ("Error processing tar file(exit status 1): unexpected EOF", docs.docker.com/reference/cli/docker/image/load).
# save_seconds and load_seconds (docker.json) stand for copying the image to or from the disk: guesses.
ARCHIVE_KEY = "lambdabench-sim-image-archive"


def cmd_save(args: list[str]) -> int:
    opts, rest = parse_opts(args, set(), {"-o", "--output", "--platform"})
    out = _opt(opts, "-o", "--output")
    if not rest:
        raise DockerError('"docker save" requires at least 1 argument.')
    if not out:
        raise DockerError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    daemon()
    entries = []
    for ref in rest:
        entry = find_image(ref)
        if entry is None:
            raise DockerError(f"Error response from daemon: reference does not exist: {ref}")
        entries.append(entry)
    started = time.monotonic()
    time.sleep(float(settings()["save_seconds"]))
    Path(out[0]).write_text(json.dumps({ARCHIVE_KEY: 1, "images": entries}))
    record_timing("save", time.monotonic() - started, images=[e["ref"] for e in entries])
    return 0


def cmd_load(args: list[str]) -> int:
    opts, _ = parse_opts(args, {"-q", "--quiet"}, {"-i", "--input", "--platform"})
    src = _opt(opts, "-i", "--input")
    if not src:
        raise DockerError("requested load from stdin, but stdin is empty")
    daemon()
    started = time.monotonic()
    try:
        doc = json.loads(Path(src[0]).read_text())
        entries = [e for e in doc["images"] if isinstance(e, dict) and isinstance(e.get("ref"), str)]
        assert doc[ARCHIVE_KEY] == 1 and entries
    except FileNotFoundError:
        raise DockerError(f"open {src[0]}: no such file or directory") from None
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise DockerError("Error processing tar file(exit status 1): unexpected EOF") from None
    time.sleep(float(settings()["load_seconds"]))
    table = images()
    for entry in entries:
        entry.pop("digest", None)  # `docker load` keeps the image id, not its registry digest (moby/moby#22011)
        table[entry["ref"]] = entry
        if not _opt(opts, "-q", "--quiet"):
            print(f"Loaded image: {entry['ref']}")
    save_images(table)
    record_timing("load", time.monotonic() - started, images=[e["ref"] for e in entries])
    return 0


def cmd_image(args: list[str]) -> int:
    sub, rest = (args[0] if args else ""), args[1:]
    if sub in ("ls", "list"):
        return cmd_images(rest)
    if sub == "pull":
        return cmd_pull(rest)
    if sub == "inspect":
        return cmd_inspect(["--type", "image", *rest])
    if sub == "rm":
        return cmd_rmi(rest)
    raise DockerError(f"docker image {sub}: not simulated")


def cmd_rmi(args: list[str]) -> int:
    _, rest = parse_opts(args, {"-f", "--force"}, set())
    daemon()
    table = images()
    for ref in rest:
        entry = find_image(ref)
        if entry is None:
            raise DockerError(f"Error response from daemon: No such image: {ref}")
        del table[entry["ref"]]
        print(f"Untagged: {entry['ref']}\nDeleted: {entry['id']}")
    save_images(table)
    return 0


def _container_obj(c: dict[str, Any]) -> dict[str, Any]:
    running = c["state"] == "running"
    status = (
        f"Up {_ago(c['started'])}"
        if running
        else f"Exited ({c.get('exit_code', 0)}) {_ago(c.get('finished', c['created']))} ago"
    )
    return {
        "Id": c["id"], "ID": c["id"][:12], "Name": "/" + c["name"], "Names": c["name"],
        "Image": c["image"], "Command": '"' + " ".join(c.get("command", []))[:20] + '"',
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(c["created"])),
        "RunningFor": _ago(c["created"]) + " ago", "Status": status, "Ports": "",
        "State": {"Status": c["state"], "Running": running, "ExitCode": c.get("exit_code", 0),
                  "Pid": 0, "StartedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c["started"]))},
        "Config": {"Image": c["image"], "WorkingDir": c.get("workdir", "/"),
                   "Env": [f"{k}={v}" for k, v in c.get("env", {}).items()],
                   "Labels": {"com.docker.compose.project": c.get("project") or "",
                              "com.docker.compose.service": c.get("service") or ""}},
        "Mounts": [{"Destination": d, "Source": s} for d, s in c.get("mounts", [])],
        "HostConfig": {"DeviceRequests": [{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}] if c.get("gpus") else None},
        "Labels": "com.docker.compose.project=" + (c.get("project") or ""),
    }  # fmt: skip


def cmd_ps(args: list[str]) -> int:
    opts, _ = parse_opts(
        args, {"-a", "--all", "-q", "--quiet", "--no-trunc", "-s"}, {"--format", "-f", "--filter", "-n"}
    )
    daemon()
    rows = [c for c in all_containers() if _opt(opts, "-a", "--all") or c["state"] == "running"]
    for flt in _opt(opts, "-f", "--filter"):
        key, _, value = flt.partition("=")
        if key == "name":
            rows = [c for c in rows if value.lstrip("^").rstrip("$") in c["name"]]
        elif key == "status":
            rows = [c for c in rows if c["state"] == value]
    if _opt(opts, "-q", "--quiet"):
        for c in rows:
            print(c["id"][:12])
        return 0
    fmt = _opt(opts, "--format")
    if fmt:
        for c in rows:
            obj = _container_obj(c)
            obj["State"] = c["state"]
            print(json.dumps(obj) if fmt[0] == "json" else render(fmt[0], obj))
        return 0
    print(f"{'CONTAINER ID':<15}{'IMAGE':<20}{'COMMAND':<22}{'CREATED':<20}{'STATUS':<22}{'PORTS':<8}NAMES")
    for c in rows:
        o = _container_obj(c)
        print(
            f"{o['ID']:<15}{o['Image']:<20}{o['Command']:<22}{o['RunningFor']:<20}{o['Status']:<22}{'':<8}{o['Names']}"
        )
    return 0


def cmd_inspect(args: list[str]) -> int:
    opts, rest = parse_opts(args, {"-s", "--size"}, {"-f", "--format", "--type"})
    daemon()
    kind = (_opt(opts, "--type") or [""])[0]
    fmt = (_opt(opts, "-f", "--format") or [None])[0]
    objs, code = [], 0
    for name in rest:
        c = load_container(name) if kind in ("", "container") else None
        if c is not None:
            objs.append(_container_obj(c))
            continue
        entry = find_image(name) if kind in ("", "image") else None
        if entry is not None:
            # RepoDigests: the registry digest a pull recorded; a built image has none, nor a loaded one (the
            # digest is lost on `docker load`: moby/moby#22011)
            digests = [f"{entry['repository']}@{entry['digest']}"] if entry.get("digest") else []
            objs.append({"Id": entry["id"], "RepoTags": [entry["ref"]], "RepoDigests": digests, "Size": entry["size"],
                         "Config": {"WorkingDir": entry.get("workdir", "/"), "Env": [f"{k}={v}" for k, v in entry.get("env", {}).items()]}})  # fmt: skip
            continue
        sys.stderr.write(f"Error response from daemon: No such {kind or 'object'}: {name}\n")
        code = 1
    if fmt is not None:
        for obj in objs:
            print(render(fmt, obj))
    else:
        print(json.dumps(objs, indent=4))
    return code


def cmd_container(args: list[str]) -> int:
    sub, rest = (args[0] if args else ""), args[1:]
    table = {"inspect": lambda a: cmd_inspect(["--type", "container", *a]), "ls": cmd_ps, "list": cmd_ps,
             "ps": cmd_ps, "stop": cmd_stop, "rm": cmd_rm, "exec": cmd_exec, "run": cmd_run, "cp": cmd_cp}  # fmt: skip
    if sub not in table:
        raise DockerError(f"docker container {sub}: not simulated")
    return table[sub](rest)


_RUN_FLAGS = {"-d", "--detach", "-i", "--interactive", "-t", "--tty", "--rm", "--privileged", "--init", "-P"}
_RUN_VALUED = {
    "--gpus", "-e", "--env", "--env-file", "-v", "--volume", "-w", "--workdir", "--name", "--entrypoint",
    "--runtime", "--network", "--net", "--ipc", "--shm-size", "--ulimit", "-u", "--user", "--mount",
    "-p", "--publish", "--device", "--cap-add", "--security-opt", "--hostname", "-h", "--label", "-l",
    "--platform", "--pull", "--restart", "--memory", "-m", "--cpus",
}  # fmt: skip


def cmd_run(args: list[str]) -> int:
    opts, rest = parse_opts(args, _RUN_FLAGS, _RUN_VALUED, interspersed=False)
    if not rest:
        raise DockerError('"docker run" requires at least 1 argument.', 125)
    daemon()
    image = find_image(rest[0])
    if image is None:
        sys.stderr.write(f"Unable to find image '{parse_ref(rest[0])[2]}:{parse_ref(rest[0])[1]}' locally\n")
        try:
            image = pull(rest[0], out=sys.stderr)
        except DockerError as exc:
            raise DockerError(f"docker: {exc}\nRun 'docker run --help' for more information", 125) from None
    gpus = bool(_opt(opts, "--gpus")) or (_opt(opts, "--runtime") or [""])[0] == "nvidia"
    if gpus:
        problem = _gpu_request_error("")
        if problem:
            raise DockerError(
                f"docker: Error response from daemon: {problem}.\nRun 'docker run --help' for more information", 125
            )
    name = (_opt(opts, "--name") or [f"sim_{secrets.token_hex(4)}"])[0]
    if load_container(name) is not None:
        raise DockerError(
            f'docker: Error response from daemon: Conflict. The container name "/{name}" is already in use.\n'
            "Run 'docker run --help' for more information", 125,
        )  # fmt: skip
    mounts = []
    for spec in _opt(opts, "-v", "--volume"):
        parts = spec.split(":")
        if len(parts) >= 2:
            source = parts[0] if parts[0].startswith(("/", ".")) else str(volume_dir(parts[0]))
            mounts.append((parts[1], os.path.abspath(source)))
    entrypoint = _opt(opts, "--entrypoint")
    command = (entrypoint[:1] if entrypoint else []) + (
        rest[1:] or (image.get("command", ["/bin/bash"]) if not entrypoint else [])
    )
    started = time.monotonic()
    c = create_container(name, image, mounts=mounts, env=dict(image.get("env", {})), gpus=gpus, command=command)
    record_timing("start", time.monotonic() - started, container=name, image=image["ref"])
    tty = bool(_opt(opts, "-t", "--tty"))
    if tty and not os.isatty(0) and _opt(opts, "-i", "--interactive"):
        remove_container(c)
        raise DockerError("the input device is not a TTY")
    try:
        program, argv, env, cwd = _prepare(
            c, command, _opt(opts, "-e", "--env"), (_opt(opts, "-w", "--workdir") or [None])[0], tty
        )
    except DockerError as exc:
        remove_container(c)
        raise DockerError(
            str(exc).replace(
                "OCI runtime exec failed: exec failed:",
                "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed:",
            ),
            127,
        ) from None
    stdin = None if _opt(opts, "-i", "--interactive") else subprocess.DEVNULL
    if _opt(opts, "-d", "--detach"):
        subprocess.Popen(argv, executable=program, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        print(c["id"])
        return 0
    code = subprocess.run(argv, executable=program, env=env, cwd=cwd, stdin=stdin, check=False).returncode
    if _opt(opts, "--rm"):
        remove_container(c)
    else:
        c.update(state="exited", exit_code=code, finished=time.time())
        save_container(c)
    return code


def cmd_exec(args: list[str]) -> int:
    opts, rest = parse_opts(
        args, {"-d", "--detach", "-i", "--interactive", "-t", "--tty", "--privileged"},
        {"-e", "--env", "-w", "--workdir", "-u", "--user", "--env-file", "--detach-keys"},
        interspersed=False,
    )  # fmt: skip
    if len(rest) < 2:
        raise DockerError('"docker exec" requires at least 2 arguments.')
    daemon()
    c = _require(rest[0])
    if c["state"] != "running":
        raise DockerError(f"Error response from daemon: container {c['id']} is not running")
    tty = bool(_opt(opts, "-t", "--tty"))
    if tty and not os.isatty(0):
        raise DockerError("the input device is not a TTY")
    program, argv, env, cwd = _prepare(
        c, rest[1:], _opt(opts, "-e", "--env"), (_opt(opts, "-w", "--workdir") or [None])[0], tty
    )
    if _opt(opts, "-d", "--detach"):
        subprocess.Popen(argv, executable=program, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        return 0
    if not _opt(opts, "-i", "--interactive"):
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    os.chdir(cwd)
    sys.stdout.flush()
    os.execve(program, argv, env)


def _copy(src: Path, dst: Path, contents_only: bool) -> int:
    """docker cp's rules: into an existing folder, or as the new name; returns bytes copied."""
    if src.is_dir():
        if dst.is_dir():
            target = dst if contents_only else dst / src.name
        elif dst.exists():
            raise DockerError(f"Error response from daemon: cannot copy a directory into the file {dst}")
        else:
            if not dst.parent.is_dir():
                raise DockerError(f"Error response from daemon: no such directory: {dst.parent}")
            target = dst
        shutil.copytree(src, target, dirs_exist_ok=True, symlinks=False)
        return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    target = dst / src.name if dst.is_dir() else dst
    if not target.parent.is_dir():
        raise DockerError(f"Error response from daemon: no such directory: {target.parent}")
    shutil.copyfile(src, target)
    return target.stat().st_size


def cmd_cp(args: list[str]) -> int:
    opts, rest = parse_opts(args, {"-a", "--archive", "-L", "--follow-link", "-q", "--quiet"}, set())
    if len(rest) != 2:
        raise DockerError('"docker cp" requires exactly 2 arguments.')
    daemon()
    src, dst = rest
    container_side = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*):(.*)$")
    m_src, m_dst = container_side.match(src), container_side.match(dst)
    if bool(m_src) == bool(m_dst):
        raise DockerError(
            "copying between containers is not supported" if m_src else "must specify at least one container source"
        )
    match = m_src or m_dst
    assert match is not None
    c = _require(match.group(1))
    inner = match.group(2) or "/"
    root_text = str(rootfs(c))
    if inner == root_text or inner.startswith(root_text + "/"):
        # a path a process inside printed (its environment is mapped onto the host): the same file
        inner = inner[len(root_text) :] or "/"
    if not inner.startswith("/"):
        inner = (c.get("workdir") or "/").rstrip("/") + "/" + inner
    mapped = Path(str(rootfs(c)) + inner.rstrip("/.") if inner.endswith("/.") else str(rootfs(c)) + inner)
    contents_only = inner.endswith("/.")
    if m_src:
        if not mapped.exists():
            raise DockerError(
                f"Error response from daemon: Could not find the file {inner} in container {match.group(1)}"
            )
        size = _copy(mapped, Path(dst).absolute(), contents_only)
        shown = dst
    else:
        local = Path(src)
        if not local.exists():
            raise DockerError(f"lstat {local.absolute()}: no such file or directory")
        size = _copy(local.absolute(), mapped, src.endswith("/."))
        shown = f"{match.group(1)}:{inner}"
    if not _opt(opts, "-q", "--quiet"):
        sys.stderr.write(f"Successfully copied {_human(size)} to {shown}\n")
    return 0


def cmd_stop(args: list[str]) -> int:
    opts, rest = parse_opts(args, set(), {"-t", "--time", "-s", "--signal"})
    daemon()
    grace = float((_opt(opts, "-t", "--time") or ["2"])[0])
    code = 0
    for name in rest:
        c = load_container(name)
        if c is None:
            sys.stderr.write(f"Error response from daemon: No such container: {name}\n")
            code = 1
            continue
        if c["state"] == "running":
            stop_container(c, min(grace, 2.0))
        print(name)
    return code


def cmd_rm(args: list[str]) -> int:
    opts, rest = parse_opts(args, {"-f", "--force", "-v", "--volumes"}, set())
    daemon()
    code = 0
    for name in rest:
        c = load_container(name)
        if c is None:
            sys.stderr.write(f"Error response from daemon: No such container: {name}\n")
            code = 1
            continue
        if c["state"] == "running":
            if not _opt(opts, "-f", "--force"):
                sys.stderr.write(
                    f'Error response from daemon: cannot remove container "/{c["name"]}": container is running: '
                    "stop the container before removing or force remove\n"
                )
                code = 1
                continue
            stop_container(c, 0.2)
        remove_container(c)
        print(name)
    return code


def cmd_volume(args: list[str]) -> int:
    sub, rest = (args[0] if args else ""), args[1:]
    daemon()
    root = store() / "volumes"
    names = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    if sub in ("ls", "list"):
        opts, _ = parse_opts(rest, {"-q", "--quiet"}, {"--format", "-f", "--filter"})
        if _opt(opts, "-q", "--quiet"):
            print("\n".join(names)) if names else None
        else:
            print(f"{'DRIVER':<10}VOLUME NAME")
            for name in names:
                print(f"{'local':<10}{name}")
        return 0
    if sub == "rm":
        opts, rest = parse_opts(rest, {"-f", "--force"}, set())
        code = 0
        for name in rest:
            users = [
                c["id"] for c in all_containers() if any(s == str(volume_dir(name)) for _, s in c.get("mounts", []))
            ]
            if name not in names:
                sys.stderr.write(f"Error response from daemon: get {name}: no such volume\n")
                code = 1
            elif users:
                sys.stderr.write(
                    f"Error response from daemon: remove {name}: volume is in use - [{', '.join(users)}]\n"
                )
                code = 1
            else:
                shutil.rmtree(root / name)
                print(name)
        return code
    if sub == "inspect":
        out = [
            {"Driver": "local", "Mountpoint": f"/var/lib/docker/volumes/{n}/_data", "Name": n}
            for n in rest
            if n in names
        ]
        print(json.dumps(out, indent=4))
        return 0 if len(out) == len(rest) else 1
    if sub == "create":
        name = rest[-1] if rest else secrets.token_hex(32)
        volume_dir(name).mkdir(parents=True, exist_ok=True)
        print(name)
        return 0
    raise DockerError(f"docker volume {sub}: not simulated")


# ---- compose ----------------------------------------------------------------------------------


def _env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        raise DockerError(f"couldn't find env file: {path}") from None
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("\"'")
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, $VAR and $$."""

    def replace(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, default = m.group(2), m.group(3) or ""
        value = env.get(name)
        if op == ":-" and not value:
            return default
        if op == "-" and value is None:
            return default
        return value or ""

    return re.sub(r"\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}|\$(\w+)", replace, text)


def _list_env(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    out = {}
    for item in value or []:
        key, _, val = str(item).partition("=")
        out[key] = val
    return out


def _dockerfile(path: Path, build_args: dict[str, str]) -> dict[str, Any]:
    """FROM, ENV, WORKDIR, COPY and RUN of a Dockerfile (ARGs substituted; RUN on one line)."""
    args = dict(build_args)
    result: dict[str, Any] = {"from": None, "env": {}, "workdir": "/", "copies": [], "runs": []}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ARG":
            key, eq, default = rest.strip().partition("=")
            args.setdefault(key, default if eq else "")
            continue
        rest = interpolate(rest, {**args, **result["env"]})
        if word == "FROM":
            result["from"] = rest.split()[0]
        elif word == "ENV":
            key, _, value = rest.replace("=", " ", 1).partition(" ")
            result["env"][key] = value.strip()
        elif word == "WORKDIR":
            result["workdir"] = rest.strip()
        elif word == "COPY":
            parts = [p for p in rest.split() if not p.startswith("--")]
            if len(parts) == 2:
                result["copies"].append(parts)
        elif word == "RUN":
            words = rest.split()
            while words and words[0].startswith("--mount="):
                words.pop(0)  # build cache mounts change nothing here
            result["runs"].append(" ".join(words))
    return result


def _run_build_steps(name: str, entry: dict[str, Any], runs: list[str]) -> list[str]:
    """Run a Dockerfile's RUN lines in a throw-away container of the image being built, as
    `/bin/bash -c` (the base images' SHELL); returns the Python packages they installed
    (recorded in the build container's installed.json), which the image then carries."""
    if not runs:
        return list(entry.get("installed", []))
    cname = f"_build-{name}-{os.getpid()}"
    c = create_container(cname, entry, mounts=[], env=entry.get("env", {}), gpus=False, command=["/bin/bash"])
    folder = containers_dir() / cname
    if entry.get("installed"):
        (folder / "installed.json").write_text(json.dumps(entry["installed"]))
    try:
        for index, line in enumerate(runs, 1):
            sys.stderr.write(f" => [{name} {index}/{len(runs)}] RUN {line}\n")
            sys.stderr.flush()
            program, argv, env, cwd = _prepare(c, ["/bin/bash", "-c", line], [], None, False)
            done = subprocess.run(argv, executable=program, env=env, cwd=cwd, stdin=subprocess.DEVNULL, check=False)
            if done.returncode != 0:
                raise DockerError(
                    f'failed to solve: process "/bin/bash -c {line}" did not complete successfully: '
                    f"exit code: {done.returncode}",
                    1,
                )
        installed: list[str] = _read(folder / "installed.json", [])
        return installed
    finally:
        remove_container(c)


class Project:
    """One compose project: files, env, services."""

    def __init__(self, opts: dict[str, list[str]]) -> None:
        files = _opt(opts, "-f", "--file")
        if not files:
            for name in ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"):
                if Path(name).exists():
                    files = [name]
                    break
        if not files:
            raise DockerError("no configuration file provided: not found", 14)
        paths = [Path(f).absolute() for f in files]
        for path in paths:
            if not path.exists():
                raise DockerError(f"open {path}: no such file or directory", 14)
        self.dir = Path((_opt(opts, "--project-directory") or [str(paths[0].parent)])[0]).absolute()
        env: dict[str, str] = {}
        env_files = _opt(opts, "--env-file") or ([".env"] if (self.dir / ".env").exists() else [])
        for name in env_files:
            env.update(_env_file(Path(name) if Path(name).is_absolute() else Path.cwd() / name))
        env.update(os.environ)
        self.env = env
        name = (_opt(opts, "-p", "--project-name") or [env.get("COMPOSE_PROJECT_NAME") or self.dir.name])[0]
        self.name = re.sub(r"[^a-z0-9_-]", "", name.lower())
        profiles = set(_opt(opts, "--profile"))
        profiles |= {p for p in env.get("COMPOSE_PROFILES", "").split(",") if p}
        import yaml

        data: dict[str, Any] = {}
        for path in paths:
            loaded = yaml.safe_load(interpolate(path.read_text(), env)) or {}
            for key, value in loaded.items():
                if isinstance(value, dict) and isinstance(data.get(key), dict):
                    data[key].update(value)
                else:
                    data[key] = value
        self.data = data
        self.volumes = list((data.get("volumes") or {}).keys())
        self.all_services: dict[str, Any] = dict(data.get("services") or {})
        self.services = {
            n: s for n, s in self.all_services.items() if not s.get("profiles") or profiles & set(s["profiles"])
        }

    def volume_name(self, name: str) -> str:
        spec = (self.data.get("volumes") or {}).get(name) or {}
        return str(spec.get("name") or f"{self.name}_{name}")

    def mounts(self, service: dict[str, Any]) -> list[tuple[str, str]]:
        result = []
        for item in service.get("volumes") or []:
            if isinstance(item, str):
                source, _, target = item.partition(":")
                target = target.split(":")[0]
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            else:
                source, target, kind = item.get("source", ""), item["target"], item.get("type", "volume")
            if kind == "bind":
                result.append((target, str((self.dir / source).resolve())))
            else:
                result.append((target, str(volume_dir(self.volume_name(source)))))
        return result

    def service_env(self, service: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        files = service.get("env_file") or []
        for name in [files] if isinstance(files, str) else files:
            env.update(_env_file(self.dir / (name if isinstance(name, str) else name["path"])))
        env.update(_list_env(service.get("environment")))
        return env


def build(project: Project, name: str, service: dict[str, Any]) -> dict[str, Any]:
    """Build a service image: pull its base (auth as the daemon would), copy the context."""
    spec = service["build"] if isinstance(service["build"], dict) else {"context": service["build"]}
    context = (project.dir / spec.get("context", ".")).resolve()
    dockerfile = context / spec.get("dockerfile", "Dockerfile")
    tag = service.get("image") or f"{project.name}-{name}"
    started = time.monotonic()
    parsed = _dockerfile(dockerfile, _list_env(spec.get("args")))
    base_ref = parsed["from"]
    sys.stderr.write(f"[+] Building 0.0s (0/1)\n => [{name} internal] load build definition from {dockerfile.name}\n")
    base = find_image(base_ref)
    if base is None:
        try:
            base = pull(base_ref, quiet=True)
        except DockerError as exc:
            full, btag, _ = parse_ref(base_ref)
            reason = "401 Unauthorized" if "unauthorized" in str(exc) else "404 Not Found"
            raise DockerError(
                f"failed to solve: {base_ref}: failed to resolve source metadata for {base_ref}: "
                f"unexpected status from HEAD request to https://{full.split('/', 1)[0]}/v2/"
                f"{full.split('/', 1)[1]}/manifests/{btag}: {reason}", 17,
            ) from None  # fmt: skip
    time.sleep(float(settings()["build_seconds"]))
    # COPY sources cannot leave the build context: "../" is the context itself
    copies = [
        [str(context / os.path.normpath("/" + src).lstrip("/")).rstrip("/"), dst] for src, dst in parsed["copies"]
    ]
    full, itag, short = parse_ref(tag)
    entry = {
        "ref": f"{short}:{itag}", "repository": short, "tag": itag,
        "id": "sha256:" + hashlib.sha256(f"{context}{dockerfile.read_bytes()!r}{base['id']}".encode()).hexdigest(),
        "created": time.time(), "size": base["size"], "workdir": parsed["workdir"],
        "command": ["/bin/bash"], "env": {**base.get("env", {}), **parsed["env"]}, "copies": copies,
        "installed": list(base.get("installed", [])),
    }  # fmt: skip
    entry["installed"] = _run_build_steps(name, entry, parsed["runs"])
    if parsed["runs"]:  # what RUN produced is part of the image: a changed outcome is a new image
        entry["id"] = "sha256:" + hashlib.sha256(f"{entry['id']}{sorted(entry['installed'])}".encode()).hexdigest()
    table = images()
    table[entry["ref"]] = entry
    save_images(table)
    seconds = time.monotonic() - started
    record_timing("build", seconds, image=entry["ref"], base=base["ref"])
    sys.stderr.write(f"[+] Building {seconds:.1f}s (8/8) FINISHED\n => => naming to docker.io/library/{short}:{itag}\n")
    return entry


def compose_up(project: Project, opts: dict[str, list[str]], names: list[str]) -> int:
    started = time.monotonic()
    services = {n: s for n, s in project.services.items() if not names or n in names}
    if names and set(names) - set(project.services):
        raise DockerError(f"no such service: {sorted(set(names) - set(project.services))[0]}")
    if not services:
        raise DockerError("no service selected")
    for name, service in services.items():
        cname = service.get("container_name") or f"{project.name}-{name}-1"
        existing = load_container(cname)
        if service.get("build") and (_opt(opts, "--build") or find_image(service.get("image") or "") is None):
            image = build(project, name, service)
        else:
            image = find_image(service["image"]) or pull(service["image"], out=sys.stderr)
        if (
            existing is not None
            and existing["state"] == "running"
            and existing["image_id"] == image["id"]
            and not _opt(opts, "--force-recreate")
        ):
            sys.stderr.write(f"[+] Running 1/1\n ✔ Container {cname}  Running\n")
            continue
        devices = (((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get(
            "devices"
        ) or []
        gpus = any("gpu" in str(d.get("capabilities")) for d in devices) or bool(service.get("gpus"))
        if gpus:
            problem = _gpu_request_error("nvidia")
            if problem:
                raise DockerError(f"Error response from daemon: {problem}")
        if existing is not None:
            stop_container(existing, 0.5)
            remove_container(existing)
        lines = []
        for volume in project.volumes:
            vdir = volume_dir(project.volume_name(volume))
            if not vdir.exists():
                vdir.mkdir(parents=True)
                lines.append(f' ✔ Volume "{project.volume_name(volume)}"  Created')
        env = {**image.get("env", {}), **project.service_env(service)}
        command = (
            [service["entrypoint"]]
            if isinstance(service.get("entrypoint"), str)
            else list(service.get("entrypoint") or [])
        )
        create_container(
            cname, image, mounts=project.mounts(service), env=env, gpus=gpus,
            command=command or image.get("command", ["/bin/bash"]), project=project.name, service=name,
        )  # fmt: skip
        lines.append(f" ✔ Container {cname}  Started")
        sys.stderr.write(f"[+] Running {len(lines)}/{len(lines)}\n" + "\n".join(lines) + "\n")
        record_timing("start", time.monotonic() - started, container=cname, image=image["ref"])
    return 0


def compose_down(project: Project, opts: dict[str, list[str]]) -> int:
    lines = []
    for c in all_containers():
        if c.get("project") == project.name:
            if c["state"] == "running":
                stop_container(c, 1.0)
            remove_container(c)
            lines.append(f" ✔ Container {c['name']}  Removed")
    if _opt(opts, "-v", "--volumes"):
        for volume in project.volumes:
            vname = project.volume_name(volume)
            if (store() / "volumes" / vname).exists():
                shutil.rmtree(store() / "volumes" / vname)
                lines.append(f" ✔ Volume {vname}  Removed")
    sys.stderr.write(f"[+] Running {len(lines)}/{len(lines)}\n" + "\n".join(lines) + "\n")
    return 0


def cmd_compose(args: list[str]) -> int:
    opts, rest = parse_opts(
        args, {"--compatibility", "--dry-run"},
        {"-f", "--file", "--env-file", "--profile", "-p", "--project-name", "--project-directory", "--ansi", "--progress", "--parallel"},
        interspersed=False,
    )  # fmt: skip
    sub, sub_args = (rest[0] if rest else ""), rest[1:]
    if sub == "version":
        print(f"Docker Compose version {COMPOSE_VERSION}")
        return 0
    if not sub:
        raise DockerError("Usage:  docker compose [OPTIONS] COMMAND (simulated: up, down, build, ps, config, version)")
    daemon()
    project = Project(opts)
    if sub == "up":
        sopts, names = parse_opts(
            sub_args, {"-d", "--detach", "--build", "--remove-orphans", "--force-recreate", "--no-build", "--wait", "--quiet-pull"},
            {"--pull", "--timeout", "-t"},
        )  # fmt: skip
        if not _opt(sopts, "-d", "--detach"):
            raise DockerError("(simulated) compose up runs detached only: pass --detach")
        return compose_up(project, sopts, names)
    if sub == "down":
        sopts, _ = parse_opts(sub_args, {"-v", "--volumes", "--remove-orphans"}, {"--rmi", "-t", "--timeout"})
        return compose_down(project, sopts)
    if sub == "build":
        _, names = parse_opts(sub_args, {"--no-cache", "--pull", "-q", "--quiet"}, {"--build-arg", "--progress"})
        # a service named on the command line is built even when its profile is not active
        unknown = sorted(set(names) - set(project.all_services))
        if unknown:
            raise DockerError(f"no such service: {unknown[0]}")
        chosen = {n: project.all_services[n] for n in names} if names else project.services
        for name, service in chosen.items():
            if service.get("build"):
                build(project, name, service)
        return 0
    if sub == "ps":
        rows = [c for c in all_containers() if c.get("project") == project.name and c["state"] == "running"]
        print(f"{'NAME':<20}{'IMAGE':<20}{'SERVICE':<20}STATUS")
        for c in rows:
            print(f"{c['name']:<20}{c['image']:<20}{c.get('service') or '':<20}{_container_obj(c)['Status']}")
        return 0
    if sub == "config":
        import yaml

        print(
            yaml.safe_dump(
                {"name": project.name, "services": project.services, "volumes": project.data.get("volumes")},
                sort_keys=False,
            )
        )
        return 0
    raise DockerError(f"docker compose {sub}: not simulated")


COMMANDS = {
    "version": cmd_version, "info": cmd_info, "login": cmd_login, "logout": cmd_logout,
    "pull": cmd_pull, "images": cmd_images, "image": cmd_image, "rmi": cmd_rmi, "ps": cmd_ps,
    "inspect": cmd_inspect, "container": cmd_container, "run": cmd_run, "exec": cmd_exec,
    "cp": cmd_cp, "stop": cmd_stop, "rm": cmd_rm, "volume": cmd_volume, "compose": cmd_compose,
    "save": cmd_save, "load": cmd_load,
}  # fmt: skip
REAL_UNSIMULATED = {"build", "buildx", "logs", "network", "system", "start", "restart", "kill", "tag", "push", "stats", "top", "attach", "wait", "context", "plugin"}  # fmt: skip


def main(argv: list[str]) -> int:
    """Record argv, dispatch one docker command."""
    simhost.log_argv("docker", argv)
    args = list(argv)
    while args and args[0] in ("-D", "--debug", "-l", "--log-level", "-H", "--host", "--context", "-c"):
        args = args[2:] if args[0] in ("-l", "--log-level", "-H", "--host", "--context", "-c") else args[1:]
    if not args or args[0] in ("-h", "--help", "help"):
        print("Usage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers (simulated by lambdabench)")
        return 0
    if args[0] in ("-v", "--version"):
        print(f"Docker version {DOCKER_VERSION}, build {DOCKER_BUILD}")
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        if args[0] in REAL_UNSIMULATED:
            return simhost.err(f"docker {args[0]}: not simulated by lambdabench's docker stand-in", 1)
        return simhost.err(f"docker: '{args[0]}' is not a docker command.\nSee 'docker --help'", 1)
    try:
        return command(args[1:])
    except DockerError as exc:
        return simhost.err(str(exc), exc.code)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
