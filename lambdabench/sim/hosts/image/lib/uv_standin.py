"""The simulated instance's uv, CPython 3.12 and pip (stdlib only): what Isaac Lab 3's install needs.

Lambda Stack on Ubuntu 22.04 has Python 3.10 and no uv; Isaac Lab 3.0.0 wants CPython 3.12
(`Requires-Python: <3.13,>=3.12`, isaaclab-3.0.0.dist-info/METADATA). On a real box the playbook
installs uv (astral.sh's installer, served by lib/curl_standin.py here), lets uv fetch a 3.12, makes
a venv and installs the wheel. This file plays those parts, run by the simulator's Python:

  uv_standin.py uv ARGS...                  `uv` (installed into ~/.local/bin by the installer)
  uv_standin.py python PREFIX ARGV0 ARGS... an interpreter (a venv's or a uv-managed bin/python*)
  uv_standin.py pip PREFIX ARGS...          a venv's bin/pip (venvs made with `python -m venv`)
  uv_standin.py system NAME -m venv|pip ... the image's own python3 (lib/system-python.sh): Ubuntu's venv
                                            and pip, present only with python3.X-venv / python3-pip

The interpreter answers `--version` as CPython 3.12 and runs everything else on the simulator's own
Python with the prefix's site-packages first on sys.path (so `python -c`, `-m isaaclab` and scripts
work; `sys.version` stays the simulator's: the playbooks read `--version`). "Installing" a
distribution writes its dist-info (name, version, INSTALLER, RECORD) so `importlib.metadata` and
`pip list` see the real closure; only `isaaclab` and `tensorboard` bring code: lambdabench's stand-in
packages in lambdabench/sim/isaaclab/isaaclab3/site (a numpy cart-pole, not Newton; a small HTTP server
over the logdir, not TensorBoard's app). What resolves comes from
lambdabench/sim/isaaclab/isaaclab3/index.json (pip's real resolution of isaaclab 3.0.0 for x86_64/py3.12).

No network: the index is always "reachable" unless the host's state has a file `network`
containing `off` (tests use that for the no-network path); `--no-index --find-links DIR` then
installs only what DIR holds as wheel files. Versions of uv and of the 3.12 patch release are
guesses (no real source fixes them for this image).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simhost  # noqa: E402

UV_VERSION = "0.11.15"  # guess
PY_VERSION = "3.12.12"  # guess: the 3.12 patch release uv installs in late 2026
SIM_ROOT = Path(__file__).resolve().parents[3]  # lambdabench/sim
INDEX = SIM_ROOT / "isaaclab" / "isaaclab3" / "index.json"
SITE_SOURCE = SIM_ROOT / "isaaclab" / "isaaclab3" / "site"
NVIDIA_INDEX = "pypi.nvidia.com"

WRAPPER = """#!/bin/sh
# lambdabench's simulated CPython {version} ({what}): lambdabench/sim/hosts/image/lib/uv_standin.py
exec "${{LAMBDABENCH_SIM_PYTHON:-python3}}" "${{LAMBDABENCH_SIM_IMAGE:?not a simulated instance}}/lib/uv_standin.py" python {prefix} "$0" "$@"
"""
PIP_WRAPPER = """#!/bin/sh
# lambdabench's simulated pip of the venv {prefix}: lambdabench/sim/hosts/image/lib/uv_standin.py
exec "${{LAMBDABENCH_SIM_PYTHON:-python3}}" "${{LAMBDABENCH_SIM_IMAGE:?not a simulated instance}}/lib/uv_standin.py" pip {prefix} "$@"
"""
CONSOLE_SCRIPT = """#!/bin/sh
# console script of {dist} (entry point {entry}), installed by lambdabench's simulated {installer}
exec {python} -m {module} "$@"
"""


def die(message: str, code: int = 1) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.write(message.rstrip("\n") + "\n")
    raise SystemExit(code)


OFFLINE = False  # uv's --offline


def online() -> bool:
    """The simulated box reaches its package indexes unless the test switched the network off."""
    if OFFLINE:
        return False
    try:
        return (simhost.state_dir() / "network").read_text().strip() != "off"
    except OSError:
        return True


def machine() -> str:
    return "aarch64" if simhost.gpu_spec().get("arch") in ("arm64", "aarch64") else "x86_64"


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def quote(path: Path | str) -> str:
    import shlex

    return shlex.quote(str(path))


# ---- interpreters and environments ----------------------------------------------------------


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.environ.get("HOME", "."), ".local", "share")
    return Path(base) / "uv"


def managed_key() -> str:
    return f"cpython-{PY_VERSION}-linux-{machine()}-gnu"


def managed_python() -> Path | None:
    exe = data_dir() / "python" / managed_key() / "bin" / "python3.12"
    return exe if exe.exists() else None


def write_wrapper(path: Path, prefix: Path, what: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(WRAPPER.format(version=PY_VERSION, what=what, prefix=quote(prefix)))
    path.chmod(0o755)


def install_managed() -> Path:
    """`uv python install 3.12`: a managed interpreter under ~/.local/share/uv/python/."""
    prefix = data_dir() / "python" / managed_key()
    exe = prefix / "bin" / "python3.12"
    write_wrapper(exe, prefix, "uv-managed")
    for alias in ("python3", "python"):
        link = prefix / "bin" / alias
        if not link.exists():
            link.symlink_to("python3.12")
    (prefix / "lib" / "python3.12" / "site-packages").mkdir(parents=True, exist_ok=True)
    # uv marks its interpreters externally managed (PEP 668): pip installs go into venvs
    (prefix / "lib" / "python3.12" / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError=This Python installation is managed by uv and should not be modified.\n"
    )
    return exe


def interpreter_version(exe: str) -> str | None:
    """X.Y.Z of an interpreter path, asked the way uv asks (by running it)."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Python (\d+\.\d+\.\d+)", out.stdout + out.stderr)
    return match.group(1) if out.returncode == 0 and match else None


def prefix_version(prefix: Path) -> str:
    """The Python version of an environment: its pyvenv.cfg, else the stand-in's 3.12."""
    cfg = prefix / "pyvenv.cfg"
    if cfg.exists():
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version_info", "version"):
                return value.strip()
    return PY_VERSION


def site_packages(prefix: Path) -> Path:
    major_minor = ".".join(prefix_version(prefix).split(".")[:2])
    return prefix / "lib" / f"python{major_minor}" / "site-packages"


def make_venv(
    target: Path, base_exe: str, version: str, *, with_pip: bool, tool: str, system_site: bool = False
) -> None:
    """A venv: pyvenv.cfg, bin/python* (stand-in interpreters), activate, empty site-packages."""
    target = target.absolute()
    (target / "bin").mkdir(parents=True, exist_ok=True)
    home = os.path.dirname(os.path.abspath(base_exe))
    lines = [f"home = {home}", "implementation = CPython"]
    if tool == "uv":
        lines += [f"uv = {UV_VERSION}", f"version_info = {version}"]
    else:
        lines += [f"version = {version}", f"executable = {os.path.abspath(base_exe)}"]
    lines.append(f"include-system-site-packages = {'true' if system_site else 'false'}")
    (target / "pyvenv.cfg").write_text("\n".join(lines) + "\n")
    minor = ".".join(version.split(".")[:2])
    write_wrapper(target / "bin" / f"python{minor}", target, f"venv {target}")
    for alias in ("python3", "python"):
        link = target / "bin" / alias
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(f"python{minor}")
    (target / "bin" / "activate").write_text(
        f"# simulated venv activate script\nVIRTUAL_ENV={quote(target)}\nexport VIRTUAL_ENV\n"
        'PATH="$VIRTUAL_ENV/bin:$PATH"\nexport PATH\n'
    )
    (target / "lib" / f"python{minor}" / "site-packages").mkdir(parents=True, exist_ok=True)
    if with_pip:
        for name in ("pip", "pip3", f"pip{minor}"):
            path = target / "bin" / name
            path.write_text(PIP_WRAPPER.format(prefix=quote(target)))
            path.chmod(0o755)
        write_dist_info(target, "pip", "24.0", installer="pip")
    if tool == "uv":
        (target / ".gitignore").write_text("*\n")


def find_interpreter(request: str) -> tuple[str, str] | None:
    """(path, version) for a --python request: a path, or a version found managed or on PATH."""
    if "/" in request:
        version = interpreter_version(request)
        return (request, version) if version else None
    wanted = request.removeprefix("python").removeprefix("cpython").removeprefix("cp").strip("@")
    managed = managed_python()
    if managed is not None and PY_VERSION.startswith(wanted):
        return str(managed), PY_VERSION
    for name in (f"python{wanted}", "python3", "python"):
        path = shutil.which(name)
        if path:
            version = interpreter_version(path)
            if version and (version == wanted or version.startswith(wanted + ".")):
                return path, version
    return None


# ---- the package index ------------------------------------------------------------------------


def load_index() -> dict[str, Any]:
    index: dict[str, Any] = json.loads(INDEX.read_text())
    if machine() == "aarch64":
        # open3d's requirement excludes linux/aarch64 (isaaclab-3.0.0.dist-info/METADATA)
        index["distributions"] = [d for d in index["distributions"] if d["name"] != "open3d"]
    return index


def parse_requirement(text: str) -> tuple[str, list[str], str | None]:
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(?:==\s*([^\s;,]+))?", text)
    if not match:
        die(f"ERROR: Invalid requirement: '{text}'")
    extras = [norm(e) for e in (match.group(2) or "").split(",") if e.strip()]
    return norm(match.group(1)), extras, match.group(3)


def wheel_dists(folders: list[str]) -> set[tuple[str, str]]:
    """(name, version) of every wheel file in the --find-links folders."""
    found = set()
    for folder in folders:
        for path in Path(folder).glob("*.whl"):
            parts = path.name[:-4].split("-")
            if len(parts) >= 5:
                found.add((norm(parts[0]), parts[1]))
    return found


class Resolution:
    """What an install request resolves to, or the first error pip/uv would print."""

    def __init__(
        self, requests: list[str], *, indexes: set[str], find_links: list[str], tool: str, python_version: str
    ) -> None:
        self.tool = tool
        self.index = load_index()
        self.indexes = indexes
        self.wheels = wheel_dists(find_links)
        self.python_version = python_version
        self.dists: dict[str, dict[str, Any]] = {}
        self.top: list[str] = []
        for text in requests:
            self.add(text)

    def fail_missing(self, name: str, version: str | None, parent: str | None) -> NoReturn:
        spec = f"{name}=={version}" if version else name
        if self.tool == "uv":
            why = f"{parent} depends on {spec}" if parent else f"you require {spec}"
            die(
                "  × No solution found when resolving dependencies:\n"
                f"  ╰─▶ Because there is no version of {spec} and {why}, we can conclude that your "
                "requirements are unsatisfiable."
            )
        seen = "none"
        if "pypi" in self.indexes and name in self.index["pypi_versions"]:
            seen = ", ".join(self.index["pypi_versions"][name])
        origin = f" (from {parent})" if parent else ""
        die(
            f"ERROR: Could not find a version that satisfies the requirement {spec}{origin} (from versions: {seen})\n"
            f"ERROR: No matching distribution found for {spec}"
        )

    def available(self, dist: dict[str, Any]) -> bool:
        if (dist["name"], dist["version"]) in self.wheels:
            return True
        return dist["index"] in self.indexes

    def add(self, text: str) -> None:
        name, extras, version = parse_requirement(text)
        known = {d["name"]: d for d in self.index["distributions"]}
        if name not in known or (version and known[name]["version"] != version.split("+")[0]):
            self.fail_missing(name, version, None)
        dist = known[name]
        builds = sorted(i.removeprefix("pytorch-") for i in self.indexes if i.startswith("pytorch-"))
        if name in PYTORCH_PACKAGES and builds and (not version or "+" not in version or version.endswith(builds[0])):
            # the PyTorch index's build: the same release with its CUDA build as the local version (PEP 440:
            # ==2.11.0 matches 2.11.0+cu128)
            dist = {**dist, "version": f"{dist['version']}+{builds[0]}", "index": f"pytorch-{builds[0]}"}
        if name == "isaaclab":
            wanted = self.index["requires_python"]["isaaclab"]
            if not self.python_version.startswith("3.12."):
                if self.tool == "uv":
                    die(
                        "  × No solution found when resolving dependencies:\n"
                        f"  ╰─▶ Because the current Python version ({self.python_version}) does not satisfy "
                        f"Python{wanted} and isaaclab==3.0.0 depends on Python{wanted}, we can conclude that "
                        "isaaclab==3.0.0 cannot be used."
                    )
                die(
                    f"ERROR: Ignored the following versions that require a different python version: 3.0.0 "
                    f"Requires-Python {wanted}\n"
                    f"ERROR: Could not find a version that satisfies the requirement {text} (from versions: none)\n"
                    f"ERROR: No matching distribution found for {text}"
                )
            supported = self.index["extras"]["isaaclab"]
            for extra in extras:
                if extra not in supported:
                    die(
                        f"[simulated] lambdabench's package index serves isaaclab 3.0.0 with its base "
                        f"dependencies (rsl_rl included) only, not the [{extra}] extra"
                    )
            if not self.available(dist):
                self.fail_missing(name, version, None)
            for dep in self.index["distributions"]:
                if not self.available(dep):
                    self.fail_missing(dep["name"], dep["version"], "isaaclab==3.0.0")
                self.dists[dep["name"]] = dep
        else:
            if not self.available(dist):
                self.fail_missing(name, version, None)
            self.dists[name] = dist
        self.top.append(name)


class NoDeps:
    """`pip install --no-deps WHEEL...`: exactly the wheel files given, nothing resolved (their names and
    versions from the file names, PEP 427); a missing file fails as pip's does."""

    def __init__(self, requests: list[str]) -> None:
        self.dists: dict[str, dict[str, Any]] = {}
        self.top: list[str] = []
        for text in requests:
            if not text.endswith(".whl"):
                die("ERROR: (simulated) --no-deps takes wheel files here: " + text)
            if not Path(text).is_file():
                die(
                    f"WARNING: Requirement '{text}' looks like a filename, but the file does not exist\n"
                    f"ERROR: Could not install packages due to an OSError: [Errno 2] No such file or directory: "
                    f"'{os.path.abspath(text)}'"
                )
            name, version = Path(text).name.split("-")[:2]
            self.dists[norm(name)] = {"name": norm(name), "version": version, "wheel": Path(text).name}
            self.top.append(norm(name))


def dist_info_dir(prefix: Path, name: str) -> Path | None:
    site = site_packages(prefix)
    for path in site.glob("*.dist-info"):
        if norm(path.name[: -len(".dist-info")].rsplit("-", 1)[0]) == name:
            return path
    return None


def installed(prefix: Path) -> dict[str, str]:
    out = {}
    for path in site_packages(prefix).glob("*.dist-info"):
        stem = path.name[: -len(".dist-info")]
        dist, _, version = stem.rpartition("-")
        out[norm(dist)] = version
    return out


def write_dist_info(prefix: Path, name: str, version: str, *, installer: str, files: list[str] | None = None) -> None:
    site = site_packages(prefix)
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    summary = (
        "lambdabench stand-in (a numpy cart-pole, not Newton)"
        if name == "isaaclab"
        else ("simulated install: metadata only (lambdabench's instance image)")
    )
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n")
    (folder / "INSTALLER").write_text(installer + "\n")
    (folder / "RECORD").write_text("".join(f"{f},,\n" for f in [*(files or []), f"{folder.name}/METADATA"]))


# the distributions that come with code (the rest are metadata only): package under SITE_SOURCE, console
# script, entry point. isaaclab 3.0.0: its entry_points.txt; tensorboard 2.21.0 (isaaclab's METADATA line
# 34 requires it): entry_points.txt `tensorboard = tensorboard.main:run_main`
STANDIN_CODE = {
    "isaaclab": ("isaaclab", "isaaclab.__main__:main", "isaaclab"),
    "tensorboard": ("tensorboard", "tensorboard.main:run_main", "tensorboard.main"),
}


def install_standin_code(prefix: Path, name: str, version: str, *, installer: str) -> list[str]:
    """The stand-in's package and console script of one distribution; the files it wrote (for RECORD)."""
    site = site_packages(prefix)
    package, entry, module = STANDIN_CODE[name]
    shutil.copytree(
        SITE_SOURCE / package, site / package, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    files = [str(p.relative_to(site)) for p in (site / package).rglob("*.py")]
    script = prefix / "bin" / name
    script.write_text(
        CONSOLE_SCRIPT.format(
            dist=name, entry=entry, installer=installer, python=quote(prefix / "bin" / "python"), module=module
        )
    )
    script.chmod(0o755)
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entry_points.txt").write_text(f"[console_scripts]\n{name} = {entry}\n")
    return [*files, f"../../../bin/{name}"]


def install_dists(prefix: Path, res: Resolution, *, installer: str) -> list[str]:
    """Write the resolved distributions into the environment; returns what was newly installed."""
    have = installed(prefix)
    new = []
    for name, dist in res.dists.items():
        if have.get(name) == dist["version"]:
            continue
        old = dist_info_dir(prefix, name)
        if old is not None:
            shutil.rmtree(old)
        files: list[str] = []
        if name in STANDIN_CODE:
            files = install_standin_code(prefix, name, dist["version"], installer=installer)
        write_dist_info(prefix, name, dist["version"], installer=installer, files=files)
        new.append(name)
    return new


# ---- downloads and the package cache -------------------------------------------------------------
# What comes from an index is downloaded once into the installer's cache (uv: $UV_CACHE_DIR, else
# ~/.cache/uv; pip: $PIP_CACHE_DIR, else ~/.cache/pip: docs.astral.sh/uv/concepts/cache, pip.pypa.io
# "Caching"); a later install finds it there. Marker files stand in for the wheels. Download time is
# a setting, uv.json in the host's state or in all hosts' folder: download_seconds and cached_seconds
# per package (default 0: tests stay fast); bench/warm_starts.py sets them from a rate it states.


def download_settings() -> dict[str, float]:
    values = {"download_seconds": 0.0, "cached_seconds": 0.0}
    fleet = simhost.state_dir().parent / "uv.json"
    if fleet.is_file():
        values.update(json.loads(fleet.read_text()))
    values.update(simhost.load_json("uv.json", {}))
    return values


def fetch(prefix: Path, res: Resolution, *, tool: str) -> None:
    """Download what is to be installed and is not in the cache yet; say how much came from where."""
    env = "UV_CACHE_DIR" if tool == "uv" else "PIP_CACHE_DIR"
    root = Path(os.environ.get(env) or Path.home() / ".cache" / ("uv" if tool == "uv" else "pip"))
    have = installed(prefix)
    wanted = [d for n, d in res.dists.items() if have.get(n) != d["version"]]
    marks = root / "lambdabench-sim-wheels"
    cached = [d for d in wanted if (marks / d["wheel"]).is_file()]
    fresh = [d for d in wanted if d not in cached]
    settings = download_settings()
    seconds = len(fresh) * float(settings["download_seconds"]) + len(cached) * float(settings["cached_seconds"])
    if seconds > 0:
        time.sleep(seconds)
    try:
        marks.mkdir(parents=True, exist_ok=True)
        for d in fresh:
            (marks / d["wheel"]).write_text(d["version"] + "\n")
    except OSError as exc:  # a cache that cannot be written is not an install failure (pip and uv warn)
        sys.stderr.write(f"warning: the cache {root} is not writable ({exc}); continuing without it\n")
    sys.stderr.write(f"Downloaded {len(fresh)} packages, {len(cached)} from the cache {root}\n")
    line = {
        "t": round(time.time(), 3),
        "event": "fetch",
        "tool": tool,
        "downloaded": len(fresh),
        "cached": len(cached),
        "seconds": round(seconds, 3),
        "cache": str(root),
    }
    with open(simhost.state_dir() / "uv-timings.jsonl", "a") as fh:
        fh.write(json.dumps(line) + "\n")


# ---- pip ---------------------------------------------------------------------------------------


def parse_install(args: list[str]) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "reqs": [],
        "find_links": [],
        "index_urls": [],
        "extra_urls": [],
        "no_index": False,
        "quiet": False,
        "python": None,
        "unknown": [],
    }
    valued = {
        "--find-links": "find_links",
        "-f": "find_links",
        "--index-url": "index_urls",
        "-i": "index_urls",
        "--extra-index-url": "extra_urls",
        "--python": "python",
        "-p": "python",
        "--index-strategy": None,
        "--torch-backend": None,
        "--reinstall-package": None,
        "--overrides": None,
        "-c": None,
        "--constraint": None,
        "--prerelease": None,
    }
    i = 0
    while i < len(args):
        arg = args[i]
        key, eq, value = arg.partition("=")
        if key in valued and key.startswith("--") or arg in valued:
            if not eq:
                i += 1
                value = args[i] if i < len(args) else ""
            target = valued[key]
            if target == "python":
                opts["python"] = value
            elif target:
                opts[target].append(value)
        elif arg == "--no-index":
            opts["no_index"] = True
        elif arg in ("-q", "--quiet", "-qq"):
            opts["quiet"] = True
        elif arg in ("-r", "--requirement"):
            i += 1
            opts["reqs"] += [
                line.split("#")[0].strip()
                for line in Path(args[i]).read_text().splitlines()
                if line.split("#")[0].strip()
            ]
        elif arg.startswith("-"):
            opts["unknown"].append(arg)  # --upgrade, --no-cache-dir, --pre, ...: no effect here
        else:
            opts["reqs"].append(arg)
        i += 1
    return opts


# PyTorch's own indexes (https://download.pytorch.org/whl/<build>) serve torch 2.11.0 and torchvision 0.26.0 as
# local versions (2.11.0+cu130): cu130 is the one Isaac Lab's install CI takes (install_ci/utils.py:189-204,
# docs/isaaclab-contract.md), cu128 the CUDA 12.8 build issue #25 names for R570 drivers; that other builds
# lack torch 2.11.0 is a guess (download.pytorch.org was not reachable to check)
PYTORCH_INDEX = re.compile(r"download\.pytorch\.org/whl/(cu\d+)/?$")
PYTORCH_BUILDS = ("cu128", "cu130")
PYTORCH_PACKAGES = ("torch", "torchvision")


def indexes_of(opts: dict[str, Any]) -> set[str]:
    if opts["no_index"]:
        return set()
    urls = (opts["index_urls"] or ["https://pypi.org/simple"]) + opts["extra_urls"]
    found = set()
    for url in urls:
        if "pypi.org" in url or "files.pythonhosted.org" in url:
            found.add("pypi")
        if NVIDIA_INDEX in url:
            found.add("nvidia")
        torch_index = PYTORCH_INDEX.search(url)
        if torch_index and torch_index.group(1) in PYTORCH_BUILDS:
            found.add(f"pytorch-{torch_index.group(1)}")
    return found


def offline_failure(tool: str, first: str) -> NoReturn:
    name = parse_requirement(first)[0]
    if tool == "uv":
        die(
            f"error: Failed to fetch: `https://pypi.org/simple/{name}/`\n"
            "  Caused by: Request failed after 3 retries\n"
            "  Caused by: error sending request for url (https://pypi.org/simple/{name}/)\n"
            "  Caused by: dns error: failed to lookup address information: Temporary failure in name resolution".replace(
                "{name}", name
            ),
            2,
        )
    die(
        "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection "
        "broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object>: Failed to "
        f"establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/{name}/\n"
        f"ERROR: Could not find a version that satisfies the requirement {first} (from versions: none)\n"
        f"ERROR: No matching distribution found for {first}"
    )


def pip_install(prefix: Path, args: list[str], *, tool: str) -> int:
    opts = parse_install(args)
    if not opts["reqs"]:
        die(
            'ERROR: You must give at least one requirement to install (see "pip help install")'
            if tool == "pip"
            else "error: the following required arguments were not provided:\n  <PACKAGE|--requirements <REQUIREMENTS>|--editable <EDITABLE>>",
            2,
        )
    indexes = indexes_of(opts)
    if indexes and not online():
        offline_failure(tool, opts["reqs"][0])
    if "--no-deps" in opts["unknown"] and all(r.endswith(".whl") for r in opts["reqs"]):
        res: Any = NoDeps(opts["reqs"])
    else:
        res = Resolution(
            opts["reqs"],
            indexes=indexes,
            find_links=opts["find_links"],
            tool=tool,
            python_version=prefix_version(prefix),
        )
    started = time.monotonic()
    if indexes:
        fetch(prefix, res, tool=tool)
    new = install_dists(prefix, res, installer=tool)
    if tool == "uv":
        took = time.monotonic() - started
        sys.stderr.write(f"Resolved {len(res.dists)} packages in {took:.2f}s\n")
        if new:
            sys.stderr.write(
                f"Prepared {len(new)} packages in {took:.2f}s\nInstalled {len(new)} packages in {took:.2f}s\n"
            )
            sys.stderr.write("".join(f" + {n}=={res.dists[n]['version']}\n" for n in sorted(new)))
        else:
            sys.stderr.write(f"Audited {len(res.dists)} packages in {took:.2f}s\n")
        return 0
    if not opts["quiet"]:
        for name in res.top:
            dist = res.dists[name]
            if name in new:
                print(f"Collecting {name}=={dist['version']}\n  Using cached {dist['wheel']}")
            else:
                print(f"Requirement already satisfied: {name}=={dist['version']} in {site_packages(prefix)}")
        if new:
            print("Installing collected packages: " + ", ".join(sorted(new)))
            print("Successfully installed " + " ".join(f"{n}-{res.dists[n]['version']}" for n in sorted(new)))
    return 0


def pip_list(prefix: Path, *, freeze: bool) -> int:
    rows = sorted(installed(prefix).items())
    if freeze:
        print("\n".join(f"{n}=={v}" for n, v in rows))
        return 0
    width = max([len("Package"), *(len(n) for n, _ in rows)])
    print(f"{'Package'.ljust(width)} Version\n{'-' * width} -------")
    print("\n".join(f"{n.ljust(width)} {v}" for n, v in rows))
    return 0


def pip_main(prefix: Path, args: list[str], *, tool: str = "pip") -> int:
    simhost.log_argv(tool if tool == "pip" else "uv-pip", args)
    # pip's general options before the command (pip's own rule: --python must come before it,
    # pip/_internal/cli/main_parser.py); --python runs the command for that interpreter's environment
    while tool == "pip" and args and args[0] in ("--disable-pip-version-check", "--isolated", "-q", "--python"):
        if args[0] == "--python" and len(args) > 1:
            prefix = Path(args[1]).absolute().parent.parent
            args = args[2:]
        else:
            args = args[1:]
    if not args or args[0] in ("-h", "--help"):
        print("Usage:\n  pip <command> [options]\n\n(simulated by lambdabench: install, list, freeze, show)")
        return 0
    if args[0] in ("-V", "--version"):
        print(f"pip 24.0 from {site_packages(prefix)}/pip (python {'.'.join(prefix_version(prefix).split('.')[:2])})")
        return 0
    command, rest = args[0], args[1:]
    if command == "install":
        return pip_install(prefix, rest, tool=tool)
    if command in ("list", "freeze"):
        return pip_list(prefix, freeze=command == "freeze")
    if command == "show":
        have = installed(prefix)
        for name in (norm(n) for n in rest if not n.startswith("-")):
            if name not in have:
                sys.stderr.write(f"WARNING: Package(s) not found: {name}\n")
                return 1
            print(f"Name: {name}\nVersion: {have[name]}\nLocation: {site_packages(prefix)}")
        return 0
    die(f'ERROR: unknown command "{command}" (simulated by lambdabench: install, list, freeze, show)')


# ---- the interpreter ----------------------------------------------------------------------------


def python_main(prefix: Path, argv0: str, args: list[str]) -> int:
    simhost.log_argv("python", [argv0, *args])
    version = prefix_version(prefix)
    rest = list(args)
    while rest and rest[0] in ("-u", "-B", "-E", "-s", "-I", "-O", "-q"):
        rest.pop(0)
    if rest and rest[0] in ("-V", "--version"):
        print(f"Python {version}")
        return 0
    if len(rest) >= 2 and rest[0] == "-m":
        module, margs = rest[1], rest[2:]
        if module == "venv":
            targets = [a for a in margs if not a.startswith("-")]
            if not targets:
                die(
                    "usage: venv [-h] [--system-site-packages] [--symlinks | --copies] [--clear] [--upgrade] "
                    "[--without-pip] [--prompt PROMPT] [--upgrade-deps] ENV_DIR [ENV_DIR ...]\n"
                    "venv: error: the following arguments are required: ENV_DIR",
                    2,
                )
            # venv builds on sys._base_executable: from a venv's python, the BASE interpreter (its
            # pyvenv.cfg `home`), so --system-site-packages means the base's packages, not that venv's
            base_exe = argv0
            cfg = prefix / "pyvenv.cfg"
            home = re.search(r"^home\s*=\s*(.+)$", cfg.read_text(), re.M) if cfg.exists() else None
            if home:
                base_exe = str(Path(home.group(1).strip()) / f"python{'.'.join(version.split('.')[:2])}")
            for target in targets:
                if "--clear" in margs and Path(target).exists():
                    shutil.rmtree(target)
                make_venv(
                    Path(target),
                    base_exe,
                    version,
                    with_pip="--without-pip" not in margs,
                    tool="venv",
                    system_site="--system-site-packages" in margs,
                )
            return 0
        if module == "pip":
            if not (prefix / "pyvenv.cfg").exists():
                die(
                    "error: externally-managed-environment\n\n× This environment is externally managed\n"
                    "╰─> This Python installation is managed by uv and should not be modified."
                )
            if "pip" not in installed(prefix):  # a venv made --without-pip, or by uv without --seed
                die(f"{argv0}: No module named pip")
            return pip_main(prefix, margs)
        if module in ("torch.distributed.run", "torch.distributed.launch"):
            if "torch" not in installed(prefix):
                die(
                    f"{argv0}: Error while finding module specification for '{module}' "
                    "(ModuleNotFoundError: No module named 'torch')"
                )
            return torchrun(argv0, margs)
    env = dict(os.environ)
    site = str(site_packages(prefix))
    env["PYTHONPATH"] = os.pathsep.join([site, *extra_paths(prefix)]) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env["LAMBDABENCH_SIM_PY_PREFIX"] = str(prefix)
    env["LAMBDABENCH_SIM_PY_EXE"] = os.path.abspath(argv0) if "/" in argv0 else argv0
    os.execve(sys.executable, [sys.executable, *args], env)
    return 127


def extra_paths(prefix: Path) -> list[str]:
    """What CPython's site module adds after a venv's site-packages: its .pth lines that name folders,
    then, with include-system-site-packages = true, the base interpreter's site-packages (site.py's venv
    handling; the base is the prefix above pyvenv.cfg's `home`)."""
    out: list[str] = []
    site = site_packages(prefix)
    for pth in sorted(site.glob("*.pth")):
        for line in pth.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "import")) and Path(line).is_dir():
                out.append(line)
    cfg = prefix / "pyvenv.cfg"
    text = cfg.read_text() if cfg.exists() else ""
    if re.search(r"^include-system-site-packages\s*=\s*true", text, re.M):
        home = re.search(r"^home\s*=\s*(.+)$", text, re.M)
        if home:
            out.append(str(site_packages(Path(home.group(1).strip()).parent)))
    return out


# ---- torch.distributed.run (only where torch is "installed": the workers are the stand-ins) ------


def torchrun(python: str, args: list[str]) -> int:
    """A single- or multi-node launch: one worker per rank with torchrun's environment variables.

    Static rendezvous across nodes (`--master_addr/--master_port`, the default backend): node 0
    listens on the master address until every node has reported; the workers do not exchange data
    (they are numpy stand-ins), they only learn their ranks.
    """
    opts: dict[str, str] = {}
    rest = list(args)
    flags = {"standalone", "no_python", "run_path", "module"}
    while rest and rest[0].startswith("--"):
        key, eq, value = rest.pop(0)[2:].partition("=")
        key = key.replace("-", "_")
        if not eq and key not in flags:
            value = rest.pop(0) if rest else ""
        opts[key] = value
    if not rest:
        die("torchrun: error: the following arguments are required: training_script, training_script_args", 2)
    gpus = int(simhost.gpu_spec().get("gpus", 0))
    nproc_text = opts.get("nproc_per_node", "1")
    # torch.distributed.run's --nproc_per_node: an integer, or gpu / cpu / auto
    if nproc_text == "gpu":
        if gpus == 0:
            die("ValueError: Cuda is not available.")
        nproc = gpus
    elif nproc_text == "cpu":
        nproc = os.cpu_count() or 1
    elif nproc_text == "auto":
        nproc = gpus or os.cpu_count() or 1
    else:
        nproc = int(nproc_text)
    nnodes = int(opts.get("nnodes", "1").split(":")[-1])
    node_rank = int(opts.get("node_rank", "0"))
    master, port = opts.get("master_addr", "127.0.0.1"), opts.get("master_port", "")
    if nnodes > 1:
        if opts.get("rdzv_backend", "static") != "static" or not port:
            die(
                "[simulated torchrun] multi-node launches need the static rendezvous "
                "(--master_addr/--master_port, --node_rank); c10d is not simulated here",
                1,
            )
        if not static_rendezvous(master, int(port), nnodes, node_rank):
            return 1
    elif not port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = str(sock.getsockname()[1])
    shown = opts.get("local_ranks_filter")
    script, script_args = rest[0], rest[1:]
    procs = []
    for local in range(nproc):
        env = dict(
            os.environ,
            RANK=str(node_rank * nproc + local),
            LOCAL_RANK=str(local),
            WORLD_SIZE=str(nproc * nnodes),
            LOCAL_WORLD_SIZE=str(nproc),
            GROUP_RANK=str(node_rank),
            MASTER_ADDR=master,
            MASTER_PORT=port,
            TORCHELASTIC_RUN_ID=opts.get("rdzv_id", "none"),
        )
        quiet = shown is not None and str(local) not in shown.split(",")
        out = subprocess.DEVNULL if quiet else None
        procs.append(subprocess.Popen([python, script, *script_args], env=env, stdout=out, stderr=out))
    stop = {"signal": 0}

    def forward(signum: int, _frame: Any) -> None:
        stop["signal"] = signum
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    failed: tuple[int, int] | None = None
    while any(p.poll() is None for p in procs):
        for local, proc in enumerate(procs):
            if failed is None and proc.returncode not in (None, 0):
                failed = (local, proc.returncode)
                for other in procs:
                    if other.poll() is None:
                        other.send_signal(signal.SIGTERM)
        time.sleep(0.05)
    if failed is None:
        failed = next(((r, p.returncode) for r, p in enumerate(procs) if p.returncode != 0), None)
    if failed is None:
        return 0
    local, code = failed
    sys.stderr.write(
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
        + "=" * 60
        + f"\n{script} FAILED\n"
        + "-" * 60
        + "\nRoot Cause (first observed failure):\n[0]:\n"
        + f"  rank      : {node_rank * nproc + local} (local_rank: {local})\n  exitcode  : {code} (pid: {procs[local].pid})\n"
        + "=" * 60
        + "\n"
    )
    return 1


def static_rendezvous(master: str, port: int, nnodes: int, node_rank: int, timeout: float = 900.0) -> bool:
    deadline = time.monotonic() + timeout
    try:
        if node_rank == 0:
            with socket.socket() as server:
                server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                server.bind((master, port))
                server.listen(nnodes)
                peers = []
                while len(peers) < nnodes - 1:
                    server.settimeout(max(0.01, deadline - time.monotonic()))
                    conn, _ = server.accept()
                    conn.recv(64)
                    peers.append(conn)
                for conn in peers:
                    conn.sendall(b"go\n")
                    conn.close()
            return True
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((master, port), timeout=2) as conn:
                    conn.sendall(f"node {node_rank}\n".encode())
                    conn.settimeout(max(0.01, deadline - time.monotonic()))
                    if conn.recv(8).strip() == b"go":
                        return True
            except OSError:
                time.sleep(0.1)
    except OSError as exc:
        sys.stderr.write(
            f"torch.distributed.DistNetworkError: (simulated) static rendezvous at {master}:{port}: {exc}\n"
        )
        return False
    sys.stderr.write(
        f"torch.distributed.DistStoreError: (simulated) timed out after {timeout:g}s waiting for "
        f"the store at {master}:{port}\n"
    )
    return False


# ---- uv -----------------------------------------------------------------------------------------


def uv_target(python: str | None) -> Path:
    """The environment `uv pip` acts on: --python, else $VIRTUAL_ENV, else ./.venv."""
    if python:
        path = Path(python)
        if path.is_dir():
            return path.absolute()
        if (path.parent.parent / "pyvenv.cfg").exists():
            return path.parent.parent.absolute()
        die(
            f"error: No virtual environment or system Python installation found for path `{python}`; "
            "run `uv venv` to create an environment",
            2,
        )
    if os.environ.get("VIRTUAL_ENV"):
        return Path(os.environ["VIRTUAL_ENV"])
    if (Path(".venv") / "pyvenv.cfg").exists():
        return Path(".venv").absolute()
    die(
        "error: No virtual environment found; run `uv venv` to create an environment, or pass `--system` to "
        "install into a non-virtual environment",
        2,
    )


def uv_main(args: list[str]) -> int:
    global OFFLINE
    simhost.log_argv("uv", args)
    if "--offline" in args:  # a global option: no network access for this command
        OFFLINE = True
        args = [a for a in args if a != "--offline"]
    if not args or args[0] in ("-h", "--help", "help"):
        print(
            "An extremely fast Python package manager.\n\nUsage: uv [OPTIONS] <COMMAND>\n\n"
            "(simulated by lambdabench: python install|find|list, venv, pip install|list|freeze|show)"
        )
        return 0 if args else 2
    if args[0] in ("-V", "--version") or args[:2] == ["self", "version"]:
        print(f"uv {UV_VERSION}")
        return 0
    command, rest = args[0], args[1:]
    if command == "python":
        return uv_python(rest)
    if command == "venv":
        return uv_venv(rest)
    if command == "pip":
        if not rest:
            die("error: 'uv pip' requires a subcommand", 2)
        opts = parse_install(rest[1:])
        target = uv_target(opts["python"])
        pip_args = [a for a in rest if a not in ("--python", "-p", opts["python"]) and not a.startswith("--python=")]
        return pip_main(target, pip_args, tool="uv")
    die(f"error: unrecognized subcommand '{command}' (simulated by lambdabench: python, venv, pip)", 2)


def uv_python(args: list[str]) -> int:
    sub = args[0] if args else ""
    request = next((a for a in args[1:] if not a.startswith("-")), "3.12")
    if sub == "find":
        found = find_interpreter(request)
        if found is None:
            die(f"error: No interpreter found for Python {request} in managed installations or search path", 2)
        print(found[0])
        return 0
    if sub == "install":
        if not request.startswith("3.12"):
            die(
                f"error: No download found for request: cpython-{request}-linux-{machine()}-gnu "
                "(simulated: only 3.12 is served)",
                2,
            )
        if managed_python() is not None:
            sys.stderr.write(f"Python {request} is already installed\n")
            return 0
        if not online():
            die(
                f"error: Failed to install {managed_key()}\n  Caused by: Failed to download "
                "https://github.com/astral-sh/python-build-standalone/releases/download/ (no network)"
            )
        install_managed()
        sys.stderr.write(f"Installed Python {PY_VERSION} in 1.02s\n + {managed_key()}\n")
        return 0
    if sub == "list":
        managed = managed_python()
        if managed is not None:
            print(f"{managed_key():<40} {managed}")
        return 0
    die(f"error: unrecognized subcommand '{sub}' (simulated: install, find, list)", 2)


def uv_venv(args: list[str]) -> int:
    request, target, clear, seed, system_site = None, ".venv", False, False, False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--python", "-p"):
            i += 1
            request = args[i]
        elif arg.startswith("--python="):
            request = arg.split("=", 1)[1]
        elif arg in ("--clear", "--allow-existing"):
            clear = True
        elif arg == "--seed":
            seed = True
        elif arg == "--system-site-packages":
            system_site = True
        elif not arg.startswith("-"):
            target = arg
        i += 1
    found = find_interpreter(request or "3.12")
    if found is None and (request or "3.12").startswith("3.12") and "/" not in (request or ""):
        if not online():
            die(
                f"error: No interpreter found for Python {request or '3.12'} in managed installations or search path", 2
            )
        sys.stderr.write(f"Downloading {managed_key()} (download)\n")
        found = (str(install_managed()), PY_VERSION)
    if found is None:
        die(f"error: No interpreter found for {request} in managed installations or search path", 2)
    path = Path(target)
    if path.exists() and any(path.iterdir()) and not clear:
        die(
            f"error: Failed to create virtual environment\n  Caused by: A directory already exists at: {target}\n\n"
            "hint: Use the `--clear` flag or set `UV_VENV_CLEAR=1` to replace the existing directory",
            2,
        )
    if path.exists() and clear:
        shutil.rmtree(path)
    exe, version = found
    sys.stderr.write(f"Using CPython {version} interpreter at: {exe}\nCreating virtual environment at: {target}\n")
    make_venv(path, exe, version, with_pip=seed, tool="uv", system_site=system_site)
    sys.stderr.write(f"Activate with: source {target}/bin/activate\n")
    return 0


# Ubuntu's venv when ensurepip is missing (python3.X-venv not installed): Ubuntu's python3.12 packaging patches
# Lib/venv to print this (debian/patches/ensurepip-disabled.diff; its first sentence as users report it,
# e.g. "The virtual environment was not created successfully because ensurepip is not available.") and exit 1,
# leaving the half-made environment (no pip) behind
ENSUREPIP_MISSING = """The virtual environment was not created successfully because ensurepip is not
available.  On Debian/Ubuntu systems, you need to install the python3-venv
package using the following command.

    apt install python{minor}-venv

You may need to use sudo with that command.  After installing the python3-venv
package, recreate your virtual environment.

Failing command: {command}
"""


# `pip install` options whose next word is their value, not a requirement (pip 24.0's `pip install --help`)
PIP_VALUE_OPTIONS = {
    "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-t", "--target", "--prefix", "--root",
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--cache-dir", "--python", "--platform",
    "--python-version", "--implementation", "--abi", "--src", "--upgrade-strategy", "--progress-bar", "--log",
    "--proxy", "--retries", "--timeout", "--exists-action", "--trusted-host", "--cert", "--client-cert",
    "--config-settings", "-C", "--report", "--root-user-action", "--only-binary", "--no-binary",
}  # fmt: skip


def pip_requirement_names(args: list[str]) -> list[str]:
    """The distribution names a `pip install ARGS` asks for (extras and version specifiers dropped)."""
    names: list[str] = []
    words = iter(args)
    for word in words:
        if word in ("-r", "--requirement"):
            listed = Path(next(words, ""))
            lines = [ln.split("#")[0].strip() for ln in listed.read_text().splitlines()] if listed.is_file() else []
            names += pip_requirement_names([ln for ln in lines if ln])
        elif word in PIP_VALUE_OPTIONS:
            next(words, None)
        elif word == "install" or word.startswith("-"):
            continue
        elif word.endswith(".whl") or "/" in word:
            names.append(Path(word).name.split("-")[0])
        elif match := re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", word):
            names.append(match.group(0))
    return names


def system_pip_install(args: list[str]) -> int:
    """The image's `python3 -m pip install`: satisfied by what the simulator's own Python has, never installed.

    That python3 runs on the simulator's Python (lib/system-python.sh), the user's own lambdabench environment:
    a real install would change it and fetch from the real package index (jax[cuda12] with mujoco-mjx: ~940 MB
    in a fresh venv, 2026-12-05), so lambdabench's rule is a refusal naming what is missing. The wording of a
    satisfied requirement is pip's.
    """
    names = pip_requirement_names(args)
    missing: list[str] = []
    for name in names:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        die(
            f"ERROR: simulated instance: {', '.join(missing)} not installed in the Python this simulator runs the "
            f"image's python3 on ({sys.prefix}); the simulator never installs into it: install it there yourself "
            "(the MJX benchmark: lambdabench's mjx extra, e.g. pip install '.[mjx]' in its clone)"
        )
    site = sysconfig.get_paths()["purelib"]
    for name in names:
        print(f"Requirement already satisfied: {name} in {site}")
    return 0


def system_main(name: str, args: list[str]) -> int:
    """The image's python3 `-m venv` / `-m pip` (lib/system-python.sh): Ubuntu's, with its packages."""
    simhost.log_argv(name, args)
    version = str(simhost.load_json("image.json", {}).get("python", PY_VERSION))
    minor = ".".join(version.split(".")[:2])
    have = simhost.catalogue_installed()
    module, margs = args[1], args[2:]
    if module == "pip":
        if "python3-pip" not in have:
            die(f"/usr/bin/{name}: No module named pip")
        command = next((a for a in margs if not a.startswith("-")), "")
        if command == "install":
            return system_pip_install(margs)
        if command in ("uninstall", "download", "wheel"):
            die(f"ERROR: simulated instance: `pip {command}` of the image's python3 is not simulated")
        os.execv(sys.executable, [sys.executable, *args])  # list, show, freeze, --version: read only
    targets = [a for a in margs if not a.startswith("-")]
    if not targets:
        die(
            "usage: venv [-h] [--system-site-packages] [--symlinks | --copies] [--clear] [--upgrade] "
            "[--without-pip] [--prompt PROMPT] [--upgrade-deps] ENV_DIR [ENV_DIR ...]\n"
            "venv: error: the following arguments are required: ENV_DIR",
            2,
        )
    wants_pip = "--without-pip" not in margs
    ensurepip = f"python{minor}-venv" in have
    for target in targets:
        if "--clear" in margs and Path(target).exists():
            shutil.rmtree(target)
        make_venv(
            Path(target),
            f"/usr/bin/python{minor}",
            version,
            with_pip=wants_pip and ensurepip,
            tool="venv",
            system_site="--system-site-packages" in margs,
        )
        if wants_pip and not ensurepip:
            sys.stdout.write(ENSUREPIP_MISSING.format(minor=minor, command=f"{Path(target).absolute()}/bin/{name}"))
            return 1
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        die("usage: uv_standin.py uv|python|pip ...", 2)
    mode, rest = argv[0], argv[1:]
    if mode == "uv":
        return uv_main(rest)
    if mode == "python":
        return python_main(Path(rest[0]), rest[1], rest[2:])
    if mode == "pip":
        return pip_main(Path(rest[0]), rest[1:])
    if mode == "system":
        return system_main(rest[0], rest[1:])
    die(f"uv_standin.py: unknown mode {mode}", 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
