"""isaaclab.sh of the simulated Isaac Lab: -p (python, incl. -m torch.distributed.run), -i (install)."""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import isaaclab_sim as app

INSTALLABLE = {"rl_games": "1.6.1", "rsl_rl": "2.0.2", "skrl": "1.1.0", "sb3": "2.3.2", "robomimic": "0.3.0"}
PACKAGE = {"rl_games": "rl-games", "rsl_rl": "rsl-rl-lib", "skrl": "skrl", "sb3": "stable-baselines3", "robomimic": "robomimic"}
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


def install(args: list[str]) -> int:
    """`-i [LIB]`: record the RL libraries as installed in this container's Python."""
    folder = app.container_dir()
    if folder is None:
        return _python_missing()
    choice = args[0] if args and not args[0].startswith("-") else "all"
    if choice == "none":
        names: list[str] = []
    elif choice == "all":
        names = list(INSTALLABLE)
    elif choice in INSTALLABLE:
        names = [choice]
    else:
        sys.stderr.write(
            f"[ERROR] Invalid RL framework: '{choice}'. Supported values are: "
            f"all, none, {', '.join(INSTALLABLE)}.\n"
        )
        return 1
    print("[INFO] Installing extensions inside the Isaac Lab repository...")
    print("[INFO] Installing extra requirements such as learning frameworks...")
    installed = app.installed_libraries() | set(names)
    time.sleep(0.05 * len(names))
    for name in names:
        print(f"Collecting {PACKAGE[name]}\n  Using cached {PACKAGE[name]}-{INSTALLABLE[name]}-py3-none-any.whl")
    if names:
        print("Successfully installed " + " ".join(f"{PACKAGE[n]}-{INSTALLABLE[n]}" for n in names))
    (folder / "installed.json").write_text(json.dumps(sorted(installed)))
    return 0


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
        sys.stderr.write("torchrun: error: --nnodes > 1 needs --rdzv_backend=c10d --rdzv_endpoint=HOST:PORT (simulated)\n")
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
    if not Path(script).is_file():
        sys.stderr.write(f"{sys.executable}: can't open file '{app.shown(script)}': [Errno 2] No such file or directory\n")
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
