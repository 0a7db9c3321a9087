"""isaaclab.sh of the simulated Isaac Lab: -p (python, incl. -m torch.distributed.run), -i (install)."""

from __future__ import annotations

import ast
import contextlib
import importlib.abc
import importlib.machinery
import json
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import time
import types
from datetime import datetime
from pathlib import Path
from typing import Any

import isaaclab_sim as app

# The RL library a requirement installs (the rest are plain dependencies).
LIBRARY_OF = {
    "rl-games": "rl_games", "rsl-rl": "rsl_rl", "rsl-rl-lib": "rsl_rl", "skrl": "skrl",
    "stable-baselines3": "sb3", "robomimic": "robomimic",
}  # fmt: skip
# rsl_rl tags whose setup.py still names the project `rsl_rl` (leggedrobotics/rsl_rl v1.0.2, v2.0.0,
# v2.0.1: setup.py:3/7); from v2.1.1 pyproject.toml:6 names it `rsl-rl-lib`
RSL_RL_OLD_NAME_REFS = {"v1.0.2", "v2.0.0", "v2.0.1"}
_RSL_GIT = re.compile(r"rsl-rl@git\+https://github\.com/leggedrobotics/rsl_rl(?:\.git)?(?:@(?P<ref>[\w.\-]+))?")
# skrl's releases on PyPI from 1.2.0 (https://pypi.org/pypi/skrl/json, read 2026-12-05; rc releases left
# out): what an extra such as the fork's `skrl>=1.2.0` or 2.x's `skrl>=1.4.2` resolves to today (2.1.1).
# Requires-Python: 1.2.0-1.4.2 >=3.6, 1.4.3 >=3.8, 2.0.0 (2026-04-08) and later >=3.10: every one fits
# the images' 3.10/3.11, so it plays no part here
SKRL_RELEASES = ("1.2.0", "1.3.0", "1.4.0", "1.4.1", "1.4.2", "1.4.3", "2.0.0", "2.1.0", "2.1.1")
# names skrl 1.2-1.4 export that 2.x does not (skrl 2.1.1 wheel: agents/torch/ppo/__init__.py exports
# PPO, PPO_CFG, PPO_RNN; utils/model_instantiators/torch/__init__.py has no Shape; 1.4.3 has both)
GONE_IN_SKRL_2 = {"skrl.agents.torch.ppo": {"PPO_DEFAULT_CONFIG"}, "skrl.utils.model_instantiators.torch": {"Shape"}}
_SPEC = re.compile(r"(>=|<=|==|!=|<|>)\s*([\d.]+)")
USAGE = """usage: isaaclab.sh [-h] [-i] [-f] [-p] [-s] [-t] [-o] [-v] [-d] [-c] -- Utility to manage Isaac Lab.

optional arguments:
\t-h, --help           Display the help content.
\t-i, --install [LIB]  Install the extensions inside Isaac Lab and learning frameworks as extra dependencies. Default is 'all'.
\t-p, --python         Run the python executable provided by Isaac Sim or virtual environment (if active).
\t-s, --sim            Run the simulator executable (isaac-sim.sh) provided by Isaac Sim.
(simulated by lambdabench: -p and -i are implemented; the rest are not)
"""


def _python_missing() -> int:
    path = app.isaaclab_path() / "_isaac_sim" / "python.sh"
    sys.stderr.write(
        f"[ERROR] Unable to find any Python executable at path: '{path}'\n"
        "\tThis could be due to the following reasons:\n"
        "\t1. Conda environment is not activated.\n"
        "\t2. Isaac Sim pip package 'isaacsim-rl' is not installed.\n"
        f"\t3. Python executable is not available at the default path: {path}\n"
    )
    return 1


def _setup_data(setup_py: Path) -> dict[str, Any]:
    """The stand-in setup.py's literal NAME, MODULE, INSTALL_REQUIRES, EXTRAS_REQUIRE, ALIASES."""
    data: dict[str, Any] = {}
    for node in ast.parse(setup_py.read_text()).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and value is not None:
            with contextlib.suppress(ValueError):
                data[target.id] = ast.literal_eval(value)
    return data


def _requirement_problem(requirement: str) -> str | None:
    """pip's error for a requirement that cannot install today (docs/isaaclab-contract.md), else None."""
    text = requirement.replace(" ", "")
    if text == "flatdict==4.0.1":
        # an sdist whose setup.py imports pkg_resources; build isolation brings setuptools >= 82
        return (
            "Collecting flatdict==4.0.1\n  Downloading flatdict-4.0.1.tar.gz (8.3 kB)\n"
            "  Installing build dependencies: finished with status 'done'\n"
            "  Getting requirements to build wheel: finished with status 'error'\n"
            "  error: subprocess-exited-with-error\n\n"
            "  ModuleNotFoundError: No module named 'pkg_resources'\n"
            "ERROR: Failed to build 'flatdict' when getting requirements to build wheel"
        )
    match = _RSL_GIT.fullmatch(text)
    if match and match.group("ref") not in RSL_RL_OLD_NAME_REFS:
        return (
            "Collecting rsl-rl@ git+https://github.com/leggedrobotics/rsl_rl.git\n"
            "  Cloning https://github.com/leggedrobotics/rsl_rl.git\n"
            "WARNING: Generating metadata for package rsl-rl produced metadata for project name "
            "rsl-rl-lib. Fix your #egg=rsl-rl fragments.\n"
            "Discarding git+https://github.com/leggedrobotics/rsl_rl.git: Requested rsl-rl-lib from "
            "git+https://github.com/leggedrobotics/rsl_rl.git has inconsistent name: expected 'rsl-rl', "
            "but metadata has 'rsl-rl-lib'\n"
            "ERROR: Could not find a version that satisfies the requirement rsl-rl (unavailable)\n"
            "ERROR: No matching distribution found for rsl-rl (unavailable)"
        )
    return None


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def resolve_skrl(requirement: str) -> str | None:
    """The newest skrl release a requirement such as `skrl>=1.2.0,<1.5` admits (what pip picks)."""
    ops = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
           "!=": lambda a, b: a != b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}  # fmt: skip
    specs = [(op, _release(v)) for op, v in _SPEC.findall(requirement.partition("skrl")[2])]
    fits = [r for r in SKRL_RELEASES if all(ops[op](_release(r), v) for op, v in specs)]
    return fits[-1] if fits else None


def _requirement_name(requirement: str) -> str:
    return re.split(r"[@=<>!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def install(args: list[str]) -> int:
    """`-i [LIB]`: pip-install every extension, then the RL extras (what the real isaaclab.sh does).

    A failing extension install is ignored (the real script installs them from `find -exec`, whose
    status it never checks); a failing RL-extras install stops the script (`set -e`).
    """
    folder = app.container_dir()
    if folder is None:
        return _python_missing()
    installed = set(app.installed_libraries())
    gen = app.generation()
    root = app.isaaclab_path() / ("source/extensions" if gen == "1" else "source")
    print("[INFO] Installing extensions inside the Isaac Lab repository...", flush=True)
    extensions = {p.parent.name: _setup_data(p) for p in sorted(root.glob("*/setup.py"))}
    for name, meta in extensions.items():
        problem = next(filter(None, map(_requirement_problem, meta.get("INSTALL_REQUIRES", []))), None)
        if problem:
            sys.stderr.write(problem + "\n")
            continue
        installed.add(str(meta.get("MODULE", name)))
        print(f"Successfully installed {meta.get('NAME', name)}-0.0.0", flush=True)
    choice = args[0] if args and not args[0].startswith("-") else "all"
    print("[INFO] Installing extra requirements such as learning frameworks...")
    if choice == "none":
        print("[INFO] No rl-framework will be installed.")
        _save_installed(folder, installed)
        return 0
    print("[INFO] Installing all rl-frameworks..." if choice == "all" else f"[INFO] Installing rl-framework: {choice}")
    rl = extensions.get("omni.isaac.lab_tasks" if gen == "1" else "isaaclab_rl", {})
    extras: dict[str, list[str]] = dict(rl.get("EXTRAS_REQUIRE", {}))
    for alias, target in rl.get("ALIASES", {}).items():
        extras[alias] = extras.get(target, [])
    extras["all"] = sorted({r for reqs in list(extras.values()) for r in reqs})
    if choice not in extras:
        sys.stderr.write(f"WARNING: {rl.get('NAME', 'isaaclab_rl')} does not provide the extra '{choice}'\n")
        _save_installed(folder, installed)
        return 0
    time.sleep(0.05 * len(extras[choice]))
    for requirement in extras[choice]:
        problem = _requirement_problem(requirement)
        if problem:
            sys.stderr.write(problem + "\n")
            _save_installed(folder, installed)
            return 1
    libraries = {LIBRARY_OF[n] for n in map(_requirement_name, extras[choice]) if n in LIBRARY_OF}
    # the version installed where it decides what imports (skrl: 2.x dropped names the fork uses)
    versions = {f"skrl=={v}" for r in extras[choice] if _requirement_name(r) == "skrl" and (v := resolve_skrl(r))}
    print("Successfully installed " + " ".join(sorted(libraries | versions)))
    installed = {i for i in installed if not (versions and i.startswith("skrl=="))}
    _save_installed(folder, installed | libraries | versions)
    return 0


def _save_installed(folder: Path, installed: set[str]) -> None:
    (folder / "installed.json").write_text(json.dumps(sorted(installed)))


class _SimulatedPackages(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`import isaaclab` and friends for `-p -c`: empty modules where installed, ImportError where not."""

    def __init__(self, installed: set[str]) -> None:
        skrl = next((m.partition("==")[2] for m in installed if m.startswith("skrl==")), "")
        self.gone = GONE_IN_SKRL_2 if _release(skrl)[:1] >= (2,) else {}
        modules = {app.MODULE_OF.get(m, m) for m in installed if "==" not in m}
        self.modules = modules
        self.present = modules | {".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 1)}
        self.known = set(app.SIMULATED_MODULES) | set(app.MODULE_OF.values())

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        parent, _, last = name.rpartition(".")
        if last in self.gone.get(parent, ()):  # `from pkg import Name` tries pkg.Name as a submodule too
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        # an installed package's submodules too (`from skrl.agents.torch.ppo import PPO`)
        if name in self.present or any(name.startswith(m + ".") for m in self.modules):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        if name in self.known:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name, "(simulated by lambdabench)")
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        gone = self.gone.get(module.__name__, set())

        def attribute(name: str) -> Any:  # `from lib.x import Name`: present unless this release lacks it
            if name in gone or name.startswith("__"):
                raise AttributeError(name)
            return types.SimpleNamespace(__name__=name)

        module.__getattr__ = attribute  # type: ignore[method-assign]


def _torchrun(args: list[str]) -> int:
    """`-m torch.distributed.run`: start one copy per rank with the rendezvous environment."""
    opts: dict[str, str] = {}
    rest = list(args)
    while rest and rest[0].startswith("--"):
        arg = rest.pop(0)
        key, eq, value = arg[2:].partition("=")
        if not eq and key not in ("standalone",):
            value = rest.pop(0) if rest else ""
        opts[key.replace("-", "_")] = value
    if not rest:
        sys.stderr.write("torchrun: error: the following arguments are required: training_script\n")
        return 2
    nproc = int(opts.get("nproc_per_node", "1"))
    nnodes = int(opts.get("nnodes", "1").split(":")[-1])
    node_rank = int(opts.get("node_rank", "0"))
    script, script_args = rest[0], rest[1:]
    master, run_id = "127.0.0.1", "none"
    if nnodes > 1:
        joined = _rendezvous(opts, nnodes, node_rank)
        if joined is None:
            return 1
        master, port, run_id = joined
    else:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = opts.get("master_port") or str(sock.getsockname()[1])
    procs = []
    for local in range(nproc):
        rank = node_rank * nproc + local
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(local),
            WORLD_SIZE=str(nproc * nnodes),
            LOCAL_WORLD_SIZE=str(nproc),
            GROUP_RANK=str(node_rank),
            MASTER_ADDR=master,
            MASTER_PORT=port,
            TORCHELASTIC_RUN_ID=run_id,
        )
        procs.append(subprocess.Popen([sys.executable, script, *script_args], env=env))
    failed: tuple[int, int] | None = None
    try:
        while any(p.poll() is None for p in procs):
            for rank, proc in enumerate(procs):
                if failed is None and proc.returncode not in (None, 0):
                    failed = (rank, proc.returncode)
                    for other in procs:
                        if other.poll() is None:
                            other.send_signal(signal.SIGTERM)
            time.sleep(0.05)
    except KeyboardInterrupt:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            proc.wait()
        return 130
    if failed is None:
        failed = next(((r, p.returncode) for r, p in enumerate(procs) if p.returncode != 0), None)
    if failed is None:
        return 0
    rank, code = failed
    sys.stderr.write(
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
        + "=" * 60 + f"\n{script} FAILED\n" + "-" * 60 + "\nFailures:\n  <NO_OTHER_FAILURES>\n"
        + "-" * 60 + "\nRoot Cause (first observed failure):\n[0]:\n"
        + f"  time      : {datetime.now():%Y-%m-%d_%H:%M:%S}\n  host      : {socket.gethostname()}\n"
        + f"  rank      : {node_rank * nproc + rank} (local_rank: {rank})\n  exitcode  : {code} (pid: {procs[rank].pid})\n"
        + "=" * 60 + "\n"
    )  # fmt: skip
    return 1


def _rendezvous(opts: dict[str, str], nnodes: int, node_rank: int) -> tuple[str, str, str] | None:
    """c10d rendezvous, simulated: node 0 (or is_host) listens on the endpoint until every node has joined."""
    if opts.get("rdzv_backend", "static") != "c10d" or not opts.get("rdzv_endpoint"):
        sys.stderr.write(
            "torchrun: error: --nnodes > 1 needs --rdzv_backend=c10d --rdzv_endpoint=HOST:PORT (simulated)\n"
        )
        return None
    host, _, port_text = opts["rdzv_endpoint"].rpartition(":")
    conf = dict(kv.partition("=")[::2] for kv in opts.get("rdzv_conf", "").split(",") if kv)
    timeout = float(conf.get("join_timeout", "600"))
    is_host = conf.get("is_host", str(node_rank == 0)).lower() in ("1", "true", "yes")
    run_id = opts.get("rdzv_id", "none")
    deadline = time.monotonic() + timeout
    print(f"[simulated torchrun] node {node_rank}/{nnodes}: rendezvous {run_id} at {host}:{port_text}", flush=True)
    try:
        if is_host:
            with socket.socket() as server:
                server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                server.bind((host, int(port_text)))
                server.listen(nnodes)
                peers = []
                while len(peers) < nnodes - 1:
                    server.settimeout(max(0.01, deadline - time.monotonic()))
                    conn, _ = server.accept()
                    conn.settimeout(max(0.01, deadline - time.monotonic()))
                    if conn.recv(256).decode().strip().split(" ")[0] != run_id:
                        conn.close()
                        continue
                    peers.append(conn)
                for conn in peers:
                    conn.sendall(b"go\n")
                    conn.close()
        else:
            while True:
                try:
                    with socket.create_connection((host, int(port_text)), timeout=2) as conn:
                        conn.sendall(f"{run_id} {node_rank}\n".encode())
                        conn.settimeout(max(0.01, deadline - time.monotonic()))
                        if conn.recv(16).strip() == b"go":
                            break
                except OSError:  # not listening yet, or reset: try again until the deadline
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError
                time.sleep(0.1)
    except OSError as exc:
        sys.stderr.write(
            "torch.distributed.elastic.rendezvous.api.RendezvousTimeoutError: (simulated) "
            f"rendezvous {run_id} at {host}:{port_text} did not complete in {timeout:g}s ({exc or 'timeout'})\n"
        )
        return None
    print(f"[simulated torchrun] node {node_rank}: all {nnodes} nodes joined", flush=True)
    return host, str(int(port_text) + 1), run_id


def python(args: list[str]) -> int:
    """`-p ...`: the container's Python with the stand-in's packages importable."""
    if app.container_dir() is None:
        return _python_missing()
    if not args:
        os.execv(sys.executable, [sys.executable])
    if args[0] == "-c":
        sys.meta_path.insert(0, _SimulatedPackages(app.installed_libraries()))
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1] if len(args) > 1 else "", "<string>", "exec"), {"__name__": "__main__"})
        return 0
    if args[0] == "-m":
        module, rest = (args[1] if len(args) > 1 else ""), args[2:]
        if module in ("torch.distributed.run", "torch.distributed.launch"):
            return _torchrun(rest)
        if module.startswith("torch") or module.startswith("tensorboard"):
            sys.stderr.write(f"{sys.executable}: No module named {module} (simulated: not provided)\n")
            return 1
        sys.argv = [module, *rest]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    script = args[0]
    if not Path(script).resolve().is_relative_to(app.isaaclab_path().resolve()):
        # a script of one's own (a check file): the stand-in's packages importable, as for -c
        sys.meta_path.insert(0, _SimulatedPackages(app.installed_libraries()))
    if not Path(script).is_file():
        sys.stderr.write(
            f"{sys.executable}: can't open file '{app.shown(script)}': [Errno 2] No such file or directory\n"
        )
        return 2
    sys.argv = [script, *args[1:]]
    sys.path.insert(0, str(Path(script).parent))
    runpy.run_path(script, run_name="__main__")
    return 0


def main(argv: list[str]) -> int:
    """Dispatch isaaclab.sh's options."""
    if not argv:
        sys.stderr.write("[Error] No arguments provided.\n" + USAGE)
        return 1
    option, rest = argv[0], argv[1:]
    if option in ("-p", "--python"):
        return python(rest)
    if option in ("-i", "--install"):
        return install(rest)
    if option in ("-h", "--help"):
        print(USAGE)
        return 0
    sys.stderr.write(f"[Error] Invalid argument provided: {option} (simulated: only -p and -i)\n" + USAGE)
    return 1


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.exit(code)
