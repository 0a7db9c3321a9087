"""The simulated instance's small system tools (sudo, usermod, systemctl, ...); stdlib only.

Run as `python simhost.py <tool> [args...]` by the shell wrappers in ../bin. Each tool records its
argv to $LAMBDABENCH_SIM_STATE/argv.log (JSON lines) so tests can prove what reached a command line.
State lives in files under $LAMBDABENCH_SIM_STATE, never in the real system:
  gpu.json        the instance type's GPUs (written by the HostManager)
  faults.json     host faults with absolute deadlines (cuda_802)
  groups/<user>   supplementary groups added with usermod, one per line
  systemd.json    unit states and restart counts
  packages.json   installed packages (absent: the image defaults)
  sysroot/        where sudo and nvidia-ctk put system config (/etc/docker/daemon.json, ...)
  busy/           a file here (optionally holding a live pid) marks a GPU workload as running
  gpu-memory/     <name>: "<pid> <MiB> <GPU index>", a running workload's modelled GPU memory (nvidia-smi shows it)
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

IMAGE = Path(__file__).resolve().parent.parent
BIN = IMAGE / "bin"
# System config paths that sudo and nvidia-ctk redirect into the host state's sysroot, so a
# simulated `sudo tee /etc/docker/daemon.json` never writes the real machine's /etc.
SYSTEM_PATHS = (
    "/etc/docker",
    "/etc/nvidia-container-runtime",
    "/etc/nvidia-container-toolkit",
    "/etc/systemd/system",
)
DAEMON_JSON = "/etc/docker/daemon.json"
CTK_VERSION = "1.17.8"
SUDO_VERSION = "1.9.9"
KNOWN_UNITS = ("docker", "containerd", "nvidia-persistenced", "ssh", "cron")
# name: (version, description, installed by default on the Lambda Stack image)
PACKAGES: dict[str, tuple[str, str, bool]] = {
    "nvidia-container-toolkit": (f"{CTK_VERSION}-1", "NVIDIA Container toolkit", True),
    "nvidia-container-toolkit-base": (f"{CTK_VERSION}-1", "NVIDIA Container Toolkit Base", True),
    "libnvidia-container1": (f"{CTK_VERSION}-1", "NVIDIA container runtime library", True),
    "libnvidia-container-tools": (
        f"{CTK_VERSION}-1",
        "NVIDIA container runtime library (command-line tools)",
        True,
    ),
    "docker.io": ("27.5.1-0ubuntu3~22.04.2", "Linux container runtime", True),
    "docker-compose-v2": (
        "2.27.4+ds1-0ubuntu1~22.04.1",
        "tool for running multi-container apps",
        True,
    ),
    "nvidia-driver-580-server": (
        "580.95.05-0ubuntu0.22.04.1",
        "NVIDIA Server Driver metapackage",
        True,
    ),
    "git": ("1:2.34.1-1ubuntu1.15", "fast, scalable, distributed revision control system", True),
    "rsync": (
        "3.2.7-0ubuntu0.22.04.4",
        "fast, versatile, remote (and local) file-copying tool",
        True,
    ),
    "tmux": ("3.2a-4ubuntu0.2", "terminal multiplexer", True),
    # guess: the driver's graphics userspace (Vulkan ICD, GLX/EGL) on Lambda Stack; a box without it
    # is simulated by a packages.json that leaves it out (Isaac Sim then finds no Vulkan device)
    "libnvidia-gl-580-server": (
        "580.95.05-0ubuntu0.22.04.1",
        "NVIDIA OpenGL/GLX/EGL/GLES GLVND libraries and Vulkan ICD",
        True,
    ),
    "jq": ("1.6-2.1ubuntu3.1", "lightweight and flexible command-line JSON processor", False),
    # not on a fresh box (the fork's container.sh needs it; docs/isaaclab-contract.md "yq");
    # version: Debian bookworm's, assumed for jammy (guess)
    "yq": ("3.1.0-3", "Command-line YAML processor - jq wrapper for YAML documents", False),
    "nvtop": ("1.2.2-1", "Interactive NVIDIA GPU process monitor", False),
}
# packages whose presence depends on the image (the host's image-packages.json says which it has and which
# are installed from the start, lambdabench/sim/api/catalog.py DEFAULT_RELEASES). Ubuntu's python3.X-venv holds
# ensurepip (without it venv fails; Ubuntu's python3.12 packaging, debian/patches: "ensurepip is not
# available"); python3-pip gives the system python a pip. Versions: the releases' python3.10 3.10.12 and
# python3.12 3.12.3 and pip 22.0.2 / 24.0; the Ubuntu revision suffixes are guesses.
IMAGE_PACKAGES: dict[str, tuple[str, str]] = {
    "python3.10-venv": (
        "3.10.12-1~22.04.10",
        "Interactive high-level object-oriented language (pyvenv binary, version 3.10)",
    ),
    "python3.12-venv": (
        "3.12.3-1ubuntu0.8",
        "Interactive high-level object-oriented language (pyvenv binary, version 3.12)",
    ),
    "python3-pip": ("24.0+dfsg-1ubuntu1.2", "Python package installer"),
}


# ---- shared helpers (the docker stand-in imports these too) ----------------------------------


def state_dir() -> Path:
    """The host's state folder, from the session environment."""
    value = os.environ.get("LAMBDABENCH_SIM_STATE")
    if not value:
        sys.stderr.write("simulated instance: LAMBDABENCH_SIM_STATE is not set (not in a sim session)\n")
        raise SystemExit(127)
    return Path(value)


def log_argv(tool: str, argv: list[str]) -> None:
    """Append one JSON line for this invocation to the host's argv.log."""
    record = {
        "t": round(time.time(), 3),
        "tool": tool,
        "argv": [tool, *argv],
        "pid": os.getpid(),
        "sudo": privileged(),
    }
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(state_dir() / "argv.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def load_json(name: str, default: Any) -> Any:
    """Read a JSON file from the host state, or the default when it is absent."""
    try:
        return json.loads((state_dir() / name).read_text())
    except FileNotFoundError:
        return default


def save_json(name: str, data: Any) -> None:
    """Write a JSON file into the host state atomically."""
    path = state_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def privileged() -> bool:
    """True inside `sudo` (the simulated login user is an ordinary user like Lambda's ubuntu)."""
    return os.environ.get("LAMBDABENCH_SIM_SUDO") == "1"


def session_user() -> str:
    """The SSH login user of this session."""
    return os.environ.get("LAMBDABENCH_SIM_USER") or os.environ.get("USER") or "ubuntu"


def sysroot_path(path: str) -> str:
    """Map a system config path (/etc/docker/...) into the host's sysroot; others unchanged."""
    for prefix in SYSTEM_PATHS:
        if path == prefix or path.startswith(prefix + "/"):
            return str(state_dir() / "sysroot") + path
    return path


def gpu_spec() -> dict[str, Any]:
    """The instance's GPU description written by the HostManager."""
    spec: dict[str, Any] = load_json("gpu.json", {"gpus": 0})
    return spec


def gpu_busy() -> bool:
    """True while a simulated GPU workload runs: any file in busy/ whose pid (if any) is alive."""
    busy = state_dir() / "busy"
    try:
        entries = list(busy.iterdir())
    except FileNotFoundError:
        return False
    for entry in entries:
        try:
            text = entry.read_text().strip()
        except OSError:
            continue
        if not text.isdigit():
            return True
        if _pid_alive(int(text)):
            return True
    return False


def modelled_memory_mib(index: int) -> float | None:
    """The GPU memory the running workloads' models say they hold on GPU index (gpu-memory/, live pids only);
    None: no model there."""
    total, found = 0.0, False
    try:
        entries = list((state_dir() / "gpu-memory").iterdir())
    except FileNotFoundError:
        return None
    for entry in entries:
        try:
            pid, mib, gpu = entry.read_text().split()
            mine = int(gpu) == index and _pid_alive(int(pid))
        except (OSError, ValueError):
            continue
        if mine:
            total, found = total + float(mib), True
    return total if found else None


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def cuda_802_active() -> bool:
    """True while the cuda_802 host fault holds (until its deadline, or forever)."""
    fault = load_json("faults.json", {}).get("cuda_802")
    if not fault:
        return False
    until = fault.get("until")
    return until is None or time.time() < float(until)


def ngc_key_matches(candidate: str) -> bool | None:
    """Check a key read from stdin against the simulator's NGC key (None: no key configured)."""
    import hashlib

    ref = load_json("ngc.json", None)
    if not ref:
        return None
    digest = hashlib.sha256((ref["salt"] + candidate).encode()).hexdigest()
    return bool(digest == ref["sha256"])


def session_groups() -> list[str]:
    """Groups of this session, fixed when it opened (a new group needs a new login)."""
    value = os.environ.get("LAMBDABENCH_SIM_GROUPS")
    if value is not None:
        return value.split()
    return current_groups(session_user())


def current_groups(user: str) -> list[str]:
    """Groups of a user as /etc/group says now: the real ones plus those usermod added."""
    import grp
    import pwd

    names: list[str] = []
    try:
        pw = pwd.getpwnam(user)
        names.append(grp.getgrgid(pw.pw_gid).gr_name)
        names += [g.gr_name for g in grp.getgrall() if user in g.gr_mem]
    except KeyError:
        names.append(user)
    try:
        extra = (state_dir() / "groups" / user).read_text().split()
    except FileNotFoundError:
        extra = []
    return list(dict.fromkeys(names + extra))


def known_user(user: str) -> bool:
    """Users that exist on the simulated box: the login user, root and ubuntu."""
    import pwd

    if user in ("root", "ubuntu", session_user()):
        return True
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _gid(name: str) -> int:
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return 999 if name == "docker" else 1000 + sum(map(ord, name)) % 1000


def err(text: str, code: int) -> int:
    """Print to stderr and return an exit code."""
    sys.stderr.write(text.rstrip("\n") + "\n")
    return code


# ---- sudo -----------------------------------------------------------------------------------

_SUDO_FLAGS = set("nESHkKbiPsvlAV")
_SUDO_VALUED = set("ugpCDhrtTU")
_SUDO_LONG = {
    "--non-interactive": "n",
    "--stdin": "S",
    "--preserve-env": "E",
    "--set-home": "H",
    "--login": "i",
    "--shell": "s",
    "--validate": "v",
    "--list": "l",
    "--reset-timestamp": "k",
    "--remove-timestamp": "K",
    "--background": "b",
    "--version": "V",
    "--user": "u",
    "--group": "g",
    "--prompt": "p",
}


def cmd_sudo(args: list[str]) -> int:
    """Passwordless sudo that runs the command as the same real user, with a sudo environment."""
    flags: set[str] = set()
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name.startswith("--preserve-env"):
                flags.add("E")
                i += 1
                continue
            short = _SUDO_LONG.get(name)
            if short is None:
                return err(f"sudo: unrecognized option '{arg}'", 1)
            if short in _SUDO_VALUED:
                if not eq:
                    i += 1
                    value = args[i] if i < len(args) else ""
                values[short] = value
            else:
                flags.add(short)
            i += 1
            continue
        j = 1
        while j < len(arg):
            ch = arg[j]
            if ch in _SUDO_FLAGS:
                flags.add(ch)
                j += 1
            elif ch in _SUDO_VALUED:
                rest = arg[j + 1 :]
                if not rest:
                    i += 1
                    rest = args[i] if i < len(args) else ""
                values[ch] = rest
                break
            else:
                return err(f"sudo: invalid option -- '{ch}'", 1)
        i += 1
    command = args[i:]
    if "V" in flags:
        print(f"Sudo version {SUDO_VERSION}")
        return 0
    target = values.get("u", "root")
    if not known_user(target.lstrip("#")):
        return err(f"sudo: unknown user {target}", 1)
    if "l" in flags:
        user = session_user()
        print(f"User {user} may run the following commands on this host:\n    (ALL : ALL) NOPASSWD: ALL")
        return 0
    if "v" in flags or (not command and ("k" in flags or "K" in flags)):
        return 0
    shell = "/bin/bash"
    if "i" in flags or "s" in flags:
        # sudo -s/-i run the command through the target's shell, each argument escaped
        command = [shell, "-c", " ".join(_shell_escape(a) for a in command)] if command else [shell]
    if not command:
        return err(
            "usage: sudo -h | -K | -k | -V\nusage: sudo [-AbEHknPS] [-u user] [command [arg ...]]",
            1,
        )
    env = dict(os.environ)
    user = session_user()
    env.update(
        SUDO_USER=user,
        SUDO_UID=str(os.getuid()),
        SUDO_GID=str(os.getgid()),
        SUDO_COMMAND=" ".join(command),
        USER=target,
        LOGNAME=target,
        LAMBDABENCH_SIM_SUDO="1" if target in ("root", "#0") else "",
    )
    env["LAMBDABENCH_SIM_GROUPS"] = " ".join(current_groups(target)) if target != "root" else "root"
    program = command[0]
    # an absolute path to a tool the image stands in for must not reach the real system tool
    if program.startswith("/") and (BIN / os.path.basename(program)).is_file():
        program = str(BIN / os.path.basename(program))
    argv = [program] + [_remap_arg(a) for a in command[1:]]
    try:
        os.execvpe(program, argv, env)
    except FileNotFoundError:
        return err(f"sudo: {command[0]}: command not found", 1)
    except PermissionError:
        return err(f"sudo: unable to execute {command[0]}: Permission denied", 1)


def _shell_escape(arg: str) -> str:
    return re.sub(r"([^\w@%+=:,./-])", r"\\\1", arg) if arg else "''"


_SYSTEM_PATH_RE = re.compile(r"(?<![\w/.~-])(" + "|".join(re.escape(p) for p in SYSTEM_PATHS) + r")(?=/|\b|$)")


def _remap_arg(arg: str) -> str:
    """Point system config paths inside one argument (a path, or a `sh -c` script) at sysroot."""
    if not any(p in arg for p in SYSTEM_PATHS):
        return arg
    root = str(state_dir() / "sysroot")
    for prefix in SYSTEM_PATHS:
        (state_dir() / "sysroot" / prefix.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return _SYSTEM_PATH_RE.sub(lambda m: root + m.group(1), arg)


# ---- users and groups -----------------------------------------------------------------------


def cmd_usermod(args: list[str]) -> int:
    """`usermod -aG group[,group] user`: records the new membership in the host state."""
    append = False
    groups: list[str] | None = None
    user: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-a", "--append"):
            append = True
        elif arg in ("-G", "--groups"):
            i += 1
            groups = args[i].split(",") if i < len(args) else []
        elif arg.startswith("--groups="):
            groups = arg.split("=", 1)[1].split(",")
        elif re.fullmatch(r"-a?G.*|-Ga", arg):
            append = append or "a" in arg[: arg.index("G")] or arg == "-Ga"
            rest = arg[arg.index("G") + 1 :].lstrip("a") if arg != "-Ga" else ""
            if not rest:
                i += 1
                rest = args[i] if i < len(args) else ""
            groups = rest.split(",")
        elif arg.startswith("-"):
            return err(f"usermod (simulated): option {arg} is not simulated", 2)
        else:
            user = arg
        i += 1
    if user is None or groups is None:
        return err("Usage: usermod [options] LOGIN\n  -a, --append  -G, --groups GROUPS", 2)
    if not privileged():
        return err("usermod: Permission denied.\nusermod: cannot lock /etc/passwd; try again later.", 1)
    if not known_user(user):
        return err(f"usermod: user '{user}' does not exist", 6)
    for group in groups:
        if not group or not _group_exists(group):
            return err(f"usermod: group '{group}' does not exist", 6)
    path = state_dir() / "groups" / user
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text().split() if path.exists() and append else []
    path.write_text("\n".join(dict.fromkeys(existing + groups)) + "\n")
    return 0


def _group_exists(name: str) -> bool:
    import grp

    if name in ("docker", "sudo", "adm", "video", "render", "lxd", "plugdev"):
        return True
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def cmd_groups(args: list[str]) -> int:
    """`groups` (this session's groups) or `groups USER...` (membership as recorded now)."""
    if not args:
        print(" ".join(session_groups()))
        return 0
    code = 0
    for user in args:
        if not known_user(user):
            code = err(f"groups: '{user}': no such user", 1)
            continue
        print(f"{user} : {' '.join(current_groups(user))}")
    return code


def cmd_id(args: list[str]) -> int:
    """`id -nG`, `id -G`, `id -un` and friends; the groups follow the session, like the real one."""
    opts = ""
    users: list[str] = []
    for arg in args:
        if arg.startswith("--"):
            opts += {
                "--groups": "G",
                "--name": "n",
                "--user": "u",
                "--group": "g",
                "--real": "r",
            }.get(arg, "?")
        elif arg.startswith("-") and len(arg) > 1:
            opts += arg[1:]
        else:
            users.append(arg)
    if "?" in opts or set(opts) - set("Gnugr") or len(users) > 1:
        os.execv("/usr/bin/id", ["id", *args])
    user = users[0] if users else session_user()
    if users and not known_user(user):
        return err(f"id: '{user}': no such user", 1)
    groups = current_groups(user) if users else session_groups()
    if "G" in opts:
        print(" ".join(groups) if "n" in opts else " ".join(str(_gid(g)) for g in groups))
        return 0
    if "u" in opts or "g" in opts:
        os.execv("/usr/bin/id", ["id", *args])
    import pwd

    try:
        pw = pwd.getpwnam(user)
        uid, gid = pw.pw_uid, pw.pw_gid
    except KeyError:
        uid = gid = 1000
    listed = ",".join(f"{_gid(g)}({g})" for g in groups)
    print(f"uid={uid}({user}) gid={gid}({groups[0] if groups else user}) groups={listed}")
    return 0


def cmd_newgrp(args: list[str]) -> int:
    """`newgrp GROUP`: a new shell whose session groups include GROUP, if the user is a member."""
    group = args[-1] if args and args[-1] != "-" else None
    groups = session_groups()
    if group is not None:
        if group not in current_groups(session_user()):
            return err("Password: \nInvalid password.", 1)
        groups = [group] + [g for g in current_groups(session_user()) if g != group]
    env = dict(os.environ, LAMBDABENCH_SIM_GROUPS=" ".join(groups))
    os.execve("/bin/bash", ["bash"], env)


# ---- services and packages ------------------------------------------------------------------


def _unit_name(arg: str) -> str:
    return arg.removesuffix(".service").removesuffix(".socket")


def cmd_systemctl(args: list[str]) -> int:
    """Units of the simulated box: restart/stop/start/enable record state; is-active/status read it."""
    words = [a for a in args if not a.startswith("-")]
    quiet = "-q" in args or "--quiet" in args
    if not words:
        return err("systemctl (simulated): list-units is not simulated", 1)
    verb, units = words[0], [_unit_name(u) for u in words[1:]]
    state = load_json("systemd.json", {})
    for name in KNOWN_UNITS:
        state.setdefault(name, {"active": True, "enabled": True, "restarts": 0})
    mutating = {
        "start",
        "stop",
        "restart",
        "reload",
        "try-restart",
        "reload-or-restart",
        "enable",
        "disable",
    }
    if verb == "daemon-reload":
        if not privileged():
            return err("Failed to reload daemon: Interactive authentication required.", 1)
        state["_daemon_reloads"] = int(state.get("_daemon_reloads", 0)) + 1
        save_json("systemd.json", state)
        return 0
    for unit in units:
        if unit not in state:
            return err(
                f"Failed to {verb} {unit}.service: Unit {unit}.service not found.",
                5 if verb in mutating else 4,
            )
    if verb in mutating:
        if not units:
            return err("Too few arguments.", 1)
        if not privileged():
            return err(
                f"Failed to {verb} {units[0]}.service: Interactive authentication required.\n"
                f"See system logs and 'systemctl status {units[0]}.service' for details.",
                1,
            )
        for unit in units:
            entry = state[unit]
            if verb in ("stop",):
                entry["active"] = False
            elif verb in ("enable", "disable"):
                entry["enabled"] = verb == "enable"
                if "--now" in args:
                    entry["active"] = verb == "enable"
            else:
                entry["active"] = True
                entry["restarts"] = int(entry.get("restarts", 0)) + (verb != "start")
                entry["last_restart"] = round(time.time(), 3)
                if unit == "docker":
                    # what the docker daemon would have loaded: the stand-in decides GPU access on it
                    daemon = Path(sysroot_path(DAEMON_JSON))
                    entry["daemon_json"] = json.loads(daemon.read_text()) if daemon.exists() else None
        save_json("systemd.json", state)
        return 0
    if verb == "is-active":
        code = 0
        for unit in units:
            active = state[unit]["active"]
            if not quiet:
                print("active" if active else "inactive")
            code = code or (0 if active else 3)
        return code
    if verb == "is-enabled":
        for unit in units:
            if not quiet:
                print("enabled" if state[unit]["enabled"] else "disabled")
        return 0 if all(state[u]["enabled"] for u in units) else 1
    if verb == "status":
        code = 0
        for unit in units:
            entry = state[unit]
            word = "active (running)" if entry["active"] else "inactive (dead)"
            print(
                f"● {unit}.service - {unit} (simulated)\n     Loaded: loaded (/lib/systemd/system/{unit}.service; "
                f"{'enabled' if entry['enabled'] else 'disabled'}; vendor preset: enabled)\n     Active: {word}"
            )
            code = code or (0 if entry["active"] else 3)
        return code
    return err(f"systemctl (simulated): '{verb}' is not simulated", 1)


def cmd_nvidia_ctk(args: list[str]) -> int:
    """`nvidia-ctk runtime configure --runtime=docker [--set-as-default] [--config=PATH]`."""
    if args[:1] in (["--version"], ["-v"], ["version"]):
        print(f"NVIDIA Container Toolkit CLI version {CTK_VERSION}\ncommit: 4b2ccb4d2c1b2a6e0e7b2b5a0ed4a3e5f6d7c8b9")
        return 0
    words = [a for a in args if not a.startswith("-")]
    if words[:2] != ["runtime", "configure"]:
        return err(
            f"nvidia-ctk (simulated): only `runtime configure` is simulated, not {' '.join(args)}",
            1,
        )
    opts: dict[str, str] = {}
    rest = iter(args[2:])
    for arg in rest:
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            opts[key] = value
        elif arg in ("--runtime", "--config", "--nvidia-runtime-path"):
            opts[arg[2:]] = next(rest, "")
        elif arg.startswith("--"):
            opts[arg[2:]] = "true"
    runtime = opts.get("runtime", "docker")
    if runtime != "docker":
        return err(f"level=error msg=\"unrecognized runtime '{runtime}'\" (simulated: docker only)", 1)
    shown = opts.get("config", DAEMON_JSON)
    real = Path(sysroot_path(shown)) if shown.startswith("/etc/") else Path(shown)
    if str(state_dir() / "sysroot") in shown:
        shown = shown.replace(str(state_dir() / "sysroot"), "", 1)
    if not privileged() and shown.startswith("/etc/"):
        return err(
            f"ERRO[0000] unable to flush config: unable to open {shown} for writing: open {shown}: permission denied",
            1,
        )
    sys.stderr.write(f"INFO[0000] Loading config from {shown}\n")
    config = json.loads(real.read_text()) if real.exists() and real.read_text().strip() else {}
    config.setdefault("runtimes", {})["nvidia"] = {
        "args": [],
        "path": opts.get("nvidia-runtime-path", "nvidia-container-runtime"),
    }
    if opts.get("set-as-default") == "true":
        config["default-runtime"] = "nvidia"
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_text(json.dumps(config, indent=4) + "\n")
    sys.stderr.write(
        f"INFO[0000] Wrote updated config to {shown}\nINFO[0000] It is recommended that docker daemon be restarted.\n"
    )
    return 0


# files a package installs that the playbooks look for (`dpkg -S`); the real machine's copies are
# not the simulated box's
PACKAGE_FILES = {"/usr/share/vulkan/icd.d/nvidia_icd.json": "libnvidia-gl-580-server"}


def catalogue() -> dict[str, tuple[str, str, bool]]:
    """Every package this host's apt knows: name -> (version, description, installed from the start)."""
    out = dict(PACKAGES)
    for name, default in load_json("image-packages.json", {}).items():
        version, description = IMAGE_PACKAGES[name]
        if name == "python3-pip" and load_json("image.json", {}).get("version_id") == "22.04":
            version = "22.0.2+dfsg-1ubuntu0.5"
        out[name] = (version, description, bool(default))
    return out


def catalogue_installed() -> dict[str, str]:
    """Installed packages (name -> version) as dpkg would list them."""
    return _installed()


def _installed() -> dict[str, str]:
    known = catalogue()
    names = load_json("packages.json", None)
    if names is None:
        names = [n for n, (_, _, default) in known.items() if default]
    return {n: known[n][0] for n in names if n in known}


def _codename() -> str:
    return str(load_json("image.json", {}).get("codename", "jammy"))


def _arch() -> str:
    return "arm64" if gpu_spec().get("arch") in ("arm64", "aarch64") else "amd64"


def cmd_dpkg(args: list[str]) -> int:
    """`dpkg -l [pattern...]` and `dpkg -s pkg`, as far as the container-toolkit check needs."""
    if args[:1] in (["-l"], ["--list"]):
        return _dpkg_list(args[1:])
    if args[:1] in (["-s"], ["--status"]):
        return _dpkg_status(args[1:])
    if args[:1] in (["-S"], ["--search"]):
        return _dpkg_search(args[1:])
    if args[:1] == ["--print-architecture"]:
        print(_arch())
        return 0
    return err("dpkg (simulated): only -l, -s, -S and --print-architecture are simulated", 2)


def _dpkg_search(paths: list[str]) -> int:
    installed = _installed()
    code = 0
    for path in paths:
        owner = PACKAGE_FILES.get(path)
        if owner is None or owner not in installed:
            code = err(f"dpkg-query: no path found matching pattern {path}", 1)
            continue
        print(f"{owner}: {path}")
    return code


def cmd_yq(args: list[str]) -> int:
    """yq once `apt-get install yq` ran: the machine's own yq when it has one, else the subset
    Isaac Lab 1.x's container.sh uses (`.KEY`, `-i '.["K"] = "V"'`, `-i 'del(.K)'`)."""
    if "yq" not in _installed():
        return err("yq: command not found", 127)
    for real in ("/usr/bin/yq", "/usr/local/bin/yq"):
        if os.access(real, os.X_OK):
            os.execv(real, [real, *args])
    in_place = bool(args) and args[0] in ("-i", "--in-place")
    rest = args[1:] if in_place else args
    if len(rest) != 2:
        return err("yq (simulated): usage: yq [-i] EXPRESSION FILE", 2)
    expr, path = rest
    lines = Path(path).read_text().splitlines() if Path(path).exists() else []
    data = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            data[key.strip()] = value.strip().strip('"')
    set_m = re.fullmatch(r'\.\["([^"]+)"\]\s*=\s*"([^"]*)"', expr.strip())
    del_m = re.fullmatch(r"del\(\.([\w.]+)\)", expr.strip())
    get_m = re.fullmatch(r"\.([\w]+)", expr.strip())
    if in_place and set_m:
        data[set_m.group(1)] = set_m.group(2)
    elif in_place and del_m:
        data.pop(del_m.group(1), None)
    elif not in_place and get_m:
        print(data.get(get_m.group(1), "null"))
        return 0
    else:
        return err(f"yq (simulated): expression not simulated: {expr}", 2)
    Path(path).write_text("".join(f'{k}: "{v}"\n' for k, v in data.items()))
    return 0


def _dpkg_list(patterns: list[str]) -> int:
    import fnmatch

    installed = _installed()
    names = (
        sorted(installed)
        if not patterns
        else sorted(n for n in catalogue() if any(fnmatch.fnmatch(n, p) for p in patterns))
    )
    missing = [p for p in patterns if not any(fnmatch.fnmatch(n, p) for n in names)]
    if names:
        print(
            "Desired=Unknown/Install/Remove/Purge/Hold\n"
            "| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend\n"
            "|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)\n"
            "||/ Name                          Version                      Architecture Description\n"
            "+++-=============================-============================-============-"
            "==============================================="
        )
        for name in names:
            version, description, _ = catalogue()[name]
            mark = "ii" if name in installed else "un"
            shown = version if name in installed else "<none>"
            print(f"{mark}  {name:<29} {shown:<28} {_arch():<12} {description}")
    for pattern in missing:
        sys.stderr.write(f"dpkg-query: no packages found matching {pattern}\n")
    return 1 if missing else 0


def _dpkg_status(names: list[str]) -> int:
    installed = _installed()
    code = 0
    for name in names:
        if name not in installed:
            code = err(f"dpkg-query: package '{name}' is not installed and no information is available", 1)
            continue
        version, description, _ = catalogue()[name]
        print(
            f"Package: {name}\nStatus: install ok installed\nArchitecture: {_arch()}\n"
            f"Version: {version}\nDescription: {description}\n"
        )
    return code


def cmd_dpkg_query(args: list[str]) -> int:
    """`dpkg-query -W [-f=FORMAT] pkg...` and `dpkg-query -l`."""
    if args[:1] in (["-l"], ["--list"]):
        return _dpkg_list(args[1:])
    if args[:1] in (["-s"], ["--status"]):
        return _dpkg_status(args[1:])
    fmt = "${Package}\t${Version}\n"
    names: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in ("-W", "--show"):
            continue
        if arg in ("-f", "--showformat"):
            fmt = next(it, fmt)
        elif arg.startswith(("-f=", "--showformat=")):
            fmt = arg.split("=", 1)[1]
        elif arg.startswith("-f"):
            fmt = arg[2:]
        else:
            names.append(arg)
    installed = _installed()
    code = 0
    for name in names:
        if name not in catalogue():
            code = err(f"dpkg-query: no packages found matching {name}", 1)
            continue
        fields = {
            "Package": name,
            "Version": installed.get(name, ""),
            "Status": "install ok installed" if name in installed else "unknown ok not-installed",
            "db:Status-Abbrev": "ii " if name in installed else "un ",
            "Architecture": _arch(),
        }
        out = _fill(fmt, fields)
        sys.stdout.write(out.encode().decode("unicode_escape"))
    return code


def _fill(fmt: str, fields: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: fields.get(m.group(1), ""), fmt)


def cmd_apt_get(args: list[str]) -> int:
    """`apt-get update` and `apt-get install [-y] pkg...` against the image's small catalogue."""
    words = [a for a in args if not a.startswith("-")]
    if not words:
        return err("E: Invalid operation", 100)
    verb, names = words[0], words[1:]
    if verb not in ("update", "install"):
        return err(f"apt-get (simulated): '{verb}' is not simulated", 100)
    if not privileged():
        return err(
            "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\n"
            "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), are you root?",
            100,
        )
    if verb == "update":
        print(
            f"Hit:1 http://archive.ubuntu.com/ubuntu {_codename()} InRelease\n"
            "Hit:2 https://nvidia.github.io/libnvidia-container/stable/deb/amd64  InRelease\n"
            "Reading package lists... Done"
        )
        return 0
    print("Reading package lists... Done\nBuilding dependency tree... Done")
    unknown = [n for n in names if n.split("=")[0] not in catalogue()]
    if unknown:
        return err(f"E: Unable to locate package {unknown[0]}", 100)
    installed = _installed()
    new = [n.split("=")[0] for n in names if n.split("=")[0] not in installed]
    for name in names:
        base = name.split("=")[0]
        if base in installed:
            print(f"{base} is already the newest version ({installed[base]}).")
    if new:
        print(f"The following NEW packages will be installed:\n  {' '.join(new)}")
        save_json("packages.json", sorted(set(installed) | set(new)))
    print(f"0 upgraded, {len(new)} newly installed, 0 to remove and 0 not upgraded.")
    return 0


# ---- GPU and fault helpers ------------------------------------------------------------------


def cmd_cuda_init(args: list[str]) -> int:
    """The CUDA-init check (what `torch.cuda.init()` proves on a real box); fails while cuda_802 holds."""
    spec = gpu_spec()
    count = int(spec.get("gpus", 0))
    if count == 0:
        return err("CUDA error 100: no CUDA-capable device is detected", 1)
    if cuda_802_active():
        return err("CUDA error 802: system not yet initialized", 1)
    print(
        f"CUDA OK: {count} device(s), {spec.get('model', 'GPU')}, driver {spec.get('driver', '')}, "
        f"CUDA {spec.get('cuda', '')}"
    )
    return 0


def cmd_throttle(args: list[str]) -> int:
    """Copy stdin to stdout at no more than RATE bytes per second (the slow_disk fault)."""
    rate = max(1, int(args[0]))
    chunk = max(1, min(65536, rate // 20))
    start = time.monotonic()
    sent = 0
    # unbuffered ends: each chunk leaves as soon as the rate allows
    source = os.fdopen(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=0, closefd=False)
    read = source.read
    while True:
        data = read(chunk)
        if not data:
            return 0
        sent += len(data)
        ahead = sent / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
        try:
            view = memoryview(data)
            while view:
                view = view[out.write(view) :]
        except BrokenPipeError:
            return 1


TOOLS: dict[str, Callable[[list[str]], int]] = {
    "sudo": cmd_sudo,
    "usermod": cmd_usermod,
    "groups": cmd_groups,
    "id": cmd_id,
    "newgrp": cmd_newgrp,
    "systemctl": cmd_systemctl,
    "nvidia-ctk": cmd_nvidia_ctk,
    "dpkg": cmd_dpkg,
    "yq": cmd_yq,
    "dpkg-query": cmd_dpkg_query,
    "apt-get": cmd_apt_get,
    "apt": cmd_apt_get,
    "sim-cuda-init": cmd_cuda_init,
    "sim-throttle": cmd_throttle,
}


def main(argv: list[str]) -> int:
    """Dispatch `simhost.py TOOL ARGS...` to one tool."""
    if not argv or argv[0] not in TOOLS:
        return err(f"simhost: unknown tool {argv[:1]}; one of {', '.join(TOOLS)}", 2)
    tool, args = argv[0], argv[1:]
    if tool != "sim-throttle":  # the throttle sits in every slow_disk pipe; not a user command
        log_argv(tool, args)
    try:
        return TOOLS[tool](args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
