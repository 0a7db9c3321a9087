"""Isaac Lab's largest num_envs that fits: each probe its own training process, the search envsearch.py's.

Stdlib only: copied beside envsearch.py and aggregate.py onto the instance and run with the training's python.

  python il_maxenvs.py search --start S --bound B --bisect-steps K --probe-seconds T
      [--probe-seconds-per-million-envs M] --out DIR --work DIR
      [--entry MODULE:FUNCTION | --script PATH] -- TRAIN_ARGS…   (TRAIN_ARGS without --num_envs)
  python il_maxenvs.py probe --num-envs N --result FILE [--entry … | --script …] -- TRAIN_ARGS…

A probe runs the training in-process, so an out-of-memory reaches it as the exception object: Isaac Lab 3 through
the `isaaclab` console script's own entry point (isaaclab 3.0.0 wheel: entry_points.txt `isaaclab =
isaaclab.__main__:main` → isaaclab/cli/__init__.py:58-62,183-226 `train()` → isaaclab_rl.entrypoints.run_train_cli,
dispatch.py:48-50; exceptions propagate: sim_launcher.py:676-694 prints and re-raises, and kitless Newton starts no
launcher that could end the process on the way, physics_manager_cfg.py:37), a fork or 2.x train script by runpy
(isaaclab-train: the driver and the probes start through `isaaclab.sh -p`, --launcher).
Whether a failure means "does not fit" is decided in one place, no_fit(), by the exception's TYPE, never its text.
The probe at N envs is killed at its cap, T + M × N / 1,000,000 s (envsearch.probe_cap): Isaac Lab's start-up grows
with num_envs (docs/report.md), so a probe past its cap says nothing of memory.

probe exits 0 fits, 3 does not fit, 4 failed otherwise (its result file says which); search exits 0 when it ended on
the first out-of-memory, the bound or a probe's cap, 4 when a probe failed otherwise (not a fit, not an OOM), 2 usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import runpy
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aggregate  # noqa: E402  (sibling file, copied with this script)
import envsearch  # noqa: E402  (sibling file, copied with this script)

FORMAT = "lambdabench-il-max-envs"
FORMAT_VERSION = 1
EXIT_FITS, EXIT_USAGE, EXIT_NO_FIT, EXIT_FAILED = 0, 2, 3, 4
ISAACLAB3_ENTRY = "isaaclab.__main__:main"  # the `isaaclab` console script (isaaclab-3.0.0.dist-info/entry_points.txt)

# Exception types that mean "this num_envs does not fit the GPU": (module, attribute, where it comes from). Each is
# looked up only in a module the failed training had already imported (this wrapper never imports torch itself).
OOM_TYPES: tuple[tuple[str, str, str], ...] = (
    # torch's CUDA caching allocator: torch._C.OutOfMemoryError(RuntimeError), exported as torch.OutOfMemoryError
    # (torch >= 2.5; checked in torch 2.13.0: torch.OutOfMemoryError.__module__ == "torch") ...
    ("torch", "OutOfMemoryError", "torch"),
    # ... and as torch.cuda.OutOfMemoryError (the same class; torch 2.13.0 torch/cuda/__init__.py:484), the only name
    # before 2.5 (pytorch.org docs: torch.cuda.OutOfMemoryError "Exception raised when device is out of memory")
    ("torch.cuda", "OutOfMemoryError", "torch"),
    # lambdabench's simulated Isaac Lab 3: its GPU-memory model said N does not fit (simulated hosts only; the model:
    # lambdabench/sim/hosts/memory_model.py). Warp's allocation failures (Newton's and mujoco_warp's arrays) have no
    # type of their own: by_warp_allocator below recognises them by where they were raised.
    ("isaaclab._standin.host", "ModelledOutOfMemory", "simulated"),
    # ... and its simulated Isaac Lab 2.x / fork container (lambdabench/sim/isaaclab/template: isaaclab_sim)
    ("isaaclab_sim", "ModelledOutOfMemory", "simulated"),
)


def _types_seen(table: tuple[tuple[str, str, str], ...]) -> list[tuple[type[BaseException], str]]:
    found = []
    for module, attribute, origin in table:
        kind = getattr(sys.modules.get(module), attribute, None)
        if isinstance(kind, type) and issubclass(kind, BaseException):
            found.append((kind, origin))
    return found


def by_type(exc: BaseException, probe: dict[str, Any]) -> dict[str, Any] | None:
    """The rule: exc, or an exception it was raised from, is one of OOM_TYPES."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        for kind, origin in _types_seen(OOM_TYPES):
            if isinstance(link, kind):
                return {"rule": "type", "modelled": origin == "simulated", "error_type": _qualified(type(link))}
        link = link.__cause__ or link.__context__
    return None


# Warp 1.17.0 (isaaclab 3.0.0's pin) raises a plain RuntimeError when an allocator returns no memory: the CUDA
# allocators (warp/_src/context.py:4988 CudaDefaultAllocator, 5046 CudaMempoolAllocator, 5091 CudaManagedAllocator)
# and the host ones (4968 CpuDefaultAllocator, CpuPinnedAllocator), each from its own allocate() and each class
# naming its memory_kind (MemoryKind.CUDA_DEVICE, HOST …). So the rule is where it was raised, not what it says: the
# innermost frame is allocate() of an object with a memory_kind, in warp's context module. Newton's and mujoco_warp's
# model and data arrays are Warp arrays, so this is how a Newton scene too large for the GPU ends. A host allocator
# failing counts too: the machine, not only its GPU, cannot hold that many envs (the evidence names the memory).
WARP_ALLOCATOR_MODULE = "warp._src.context"


def by_warp_allocator(exc: BaseException, probe: dict[str, Any]) -> dict[str, Any] | None:
    """The rule: exc, or an exception it was raised from, came out of one of Warp's allocators' allocate()."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        tb = link.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        frame = tb.tb_frame if tb is not None else None
        if (
            frame is not None
            and frame.f_code.co_name == "allocate"
            and frame.f_globals.get("__name__") == WARP_ALLOCATOR_MODULE
            and hasattr(frame.f_locals.get("self"), "memory_kind")
        ):
            allocator = frame.f_locals["self"]
            memory = getattr(allocator.memory_kind, "name", str(allocator.memory_kind))
            return {
                "rule": "warp-allocator",
                "modelled": False,
                "error_type": _qualified(type(link)),
                "allocator": type(allocator).__qualname__,
                "memory": memory,
            }
        link = link.__cause__ or link.__context__
    return None


# The rules in order; a rule takes the failure and what the probe knows (num_envs, device, started_unix) and says
# "does not fit" with its evidence, or None. Another rule (e.g. the GPU's memory was full when it failed, by
# nvidia-smi sampling) is one more function here.
NO_FIT_RULES: tuple[Callable[[BaseException, dict[str, Any]], dict[str, Any] | None], ...] = (
    by_type,
    by_warp_allocator,
)


def no_fit(exc: BaseException, probe: dict[str, Any]) -> dict[str, Any] | None:
    """The one place a failed training is classified as "this num_envs does not fit"; None: any other failure."""
    for rule in NO_FIT_RULES:
        found = rule(exc, probe)
        if found is not None:
            return found
    return None


def _qualified(kind: type[BaseException]) -> str:
    return f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__


def _log(text: str) -> None:
    print(f"[il_maxenvs] {text}", file=sys.stderr, flush=True)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- one probe (its own process)


def _call_training(entry: str | None, script: str | None, argv: list[str]) -> None:
    """Isaac Lab's own entry point with argv as its command line, in this process."""
    if script is not None:
        # 2.x train scripts train inside @hydra_task_config (hydra.main): Hydra's run_and_report prints an exception
        # and calls sys.exit(1) unless HYDRA_FULL_ERROR is set, then it re-raises (hydra-core 1.3.2
        # hydra/_internal/utils.py:218-223), which the type rule needs
        os.environ["HYDRA_FULL_ERROR"] = "1"
        sys.argv = [script, *argv]
        runpy.run_path(script, run_name="__main__")
        return
    module, _, function = (entry or ISAACLAB3_ENTRY).partition(":")
    sys.argv = [module.split(".")[0], *argv]
    target = __import__(module, fromlist=[function])
    getattr(target, function)()


def probe_main(args: argparse.Namespace) -> int:
    """Train once at --num-envs; the result file says fits, does not fit (and by which rule) or failed."""
    argv = [*args.train, "--num_envs", str(args.num_envs)]
    probe: dict[str, Any] = {"num_envs": args.num_envs, "started_unix": time.time(), "argv": argv}
    status, code = "fits", EXIT_FITS
    try:
        _call_training(args.entry, args.script, argv)
    except SystemExit as exc:  # the CLI's own exit: 0 (or None) is a finished training
        if exc.code not in (0, None):
            status, code = "failed", EXIT_FAILED
            probe.update(error_type="SystemExit", exit_status=exc.code)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is classified, then reported
        traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        found = no_fit(exc, probe)
        if found is not None:
            status, code = "oom", EXIT_NO_FIT
            probe.update(found, error_line=first)
        else:
            status, code = "failed", EXIT_FAILED
            probe.update(error_type=_qualified(type(exc)), error_line=first)
    probe.update(status=status, fits=status == "fits", ended_unix=time.time())
    _write_json(Path(args.result), probe)
    return code


# ---------------------------------------------------------------- the search (one probe process per size)


class ProbeEnded(Exception):
    """A probe that neither fit nor ran out of memory: it failed otherwise, or passed its cap."""

    def __init__(self, outcome: dict[str, Any]) -> None:
        super().__init__(outcome.get("status"))
        self.outcome = outcome


RUNNING: list[subprocess.Popen[bytes]] = []  # the probe now running, for the signal handler


def _stop(signum: int, _frame: object) -> None:
    """A stop for the search (lambdabench's step cap sends TERM to the job's process group, a container step INT):
    the probe runs in its own session, out of that group's reach, so it is killed here before the search ends."""
    for proc in RUNNING:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit(128 + signum)


def run_probe(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """One probe process at n envs under its cap (envsearch.probe_cap); its outcome as envsearch.search reads it."""
    work = Path(args.work) / f"n{n}"
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    result, log = out / "probes" / f"n{n}.json", out / "probes" / f"n{n}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    result.unlink(missing_ok=True)
    launcher = args.launcher or [sys.executable]
    command = [*launcher, str(Path(__file__).resolve()), "probe", "--num-envs", str(n), "--result", str(result)]
    command += ["--entry", args.entry] if args.entry else []
    command += ["--script", args.script] if args.script else []
    cap = envsearch.probe_cap(n, args.probe_seconds, args.probe_seconds_per_million_envs)
    started = time.time()
    _log(f"probe N={n} (cap {cap:.0f} s): {' '.join(command[1:])} -- …")
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [*command, "--", *args.train], cwd=work, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        RUNNING.append(proc)
        try:
            exit_status: int | None = proc.wait(timeout=cap)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the training and anything it started
            proc.wait()
            exit_status = None
        finally:
            RUNNING.remove(proc)
    ended = time.time()
    outcome: dict[str, Any] = {
        "seconds": ended - started,
        "cap_seconds": cap,
        "exit_status": exit_status,
        "window_start_local": aggregate.local_stamp(started),
        "window_end_local": aggregate.local_stamp(ended),
        "log": f"probes/{log.name}",
    }
    try:
        outcome["probe"] = json.loads(result.read_text())
    except (OSError, ValueError):
        outcome["probe"] = None
    reported = (outcome["probe"] or {}).get("status")
    if exit_status is None:
        outcome.update(status="time", fits=False)
    elif exit_status == EXIT_FITS and reported == "fits":
        outcome.update(status="fits", fits=True)
    elif exit_status == EXIT_NO_FIT and reported == "oom":
        found = outcome["probe"]
        outcome.update(
            status="oom",
            fits=False,
            error_type=found.get("error_type"),
            error_code=" ".join(str(x) for x in ("by", found.get("rule"), found.get("memory")) if x),
        )
        outcome.update(error_stage="train", modelled=bool(found.get("modelled")))
    else:  # a crash before the wrapper could write (a signal, os._exit) is a failure too, never a fit
        outcome.update(status="failed", fits=False)
    _log(f"probe N={n}: {outcome['status']} ({outcome['seconds']:.1f}s)")
    if outcome["status"] not in ("fits", "oom"):
        raise ProbeEnded(dict(outcome, num_envs=n))
    return outcome


def _ended_early(args: argparse.Namespace, tries: list[dict[str, Any]], last: dict[str, Any]) -> dict[str, Any]:
    """envsearch.search's result shape for a search a probe ended (past its cap, or failed otherwise)."""
    fits = [int(t["num_envs"]) for t in tries if t.get("fits")]
    ooms = [int(t["num_envs"]) for t in tries if t.get("status") == "oom"]
    return {
        "start": args.start,
        "bound": args.bound,
        "bisect_steps": args.bisect_steps,
        "max_probes": envsearch.max_probes(args.start, args.bound, args.bisect_steps),
        "probe_seconds": args.probe_seconds,
        "largest_fit": max(fits, default=None),
        "first_oom": min(ooms, default=None),
        "smallest_oom": min(ooms, default=None),
        "stopped": "time" if last["status"] == "time" else "error",
        "oom_error": None,
        "tries": tries,
    }


def past_cap(found: dict[str, Any]) -> str | None:
    """What a search that a probe's cap ended says: that probe's size and cap, and that it measured start-up time, not
    memory (neither a fit nor an out-of-memory); None when no probe passed its cap."""
    if found.get("stopped") != "time" or not found.get("tries"):
        return None
    last = found["tries"][-1]
    fit = found.get("largest_fit")
    below = f"{fit:,} envs fit, a lower bound of the GPU's limit" if fit else "nothing fit before it"
    return (
        f"the probe at {int(last['num_envs']):,} envs passed its cap of {float(last.get('cap_seconds') or 0):.0f} s: "
        f"Isaac Lab's start-up at that size, not an out-of-memory ({below}); raise probe_seconds or "
        "probe_seconds_per_million_envs (--set) to search further"
    )


def memory_model() -> dict[str, Any] | None:
    """The simulated host's GPU-memory model of Isaac Lab 3 ($LAMBDABENCH_MEMORY_MODEL's "isaaclab3"), recorded with
    the result so a modelled maximum is never read as a measured one; None on a real box."""
    path = os.environ.get("LAMBDABENCH_MEMORY_MODEL")
    try:
        doc = json.loads(Path(path).read_text()) if path else None
    except (OSError, ValueError):
        return None
    part = doc.get("isaaclab3") if isinstance(doc, dict) else None
    return part if isinstance(part, dict) else None


def search_main(args: argparse.Namespace) -> int:
    """The bounded search; writes <out>/max-envs-result.json (its "max_envs" in envsearch.search's shape)."""
    tries: list[dict[str, Any]] = []

    def probe(n: int) -> dict[str, Any]:
        try:
            outcome = run_probe(n, args)
        except ProbeEnded as ended:
            tries.append(ended.outcome)
            raise
        tries.append(dict(outcome, num_envs=n))
        return outcome

    error = None
    try:
        found = envsearch.search(
            args.start,
            args.bound,
            args.bisect_steps,
            probe,
            probe_seconds=args.probe_seconds,
            per_million_envs=args.probe_seconds_per_million_envs,
        )
    except ProbeEnded as ended:
        found = _ended_early(args, tries, ended.outcome)
        if ended.outcome["status"] == "failed":
            probe_doc = ended.outcome.get("probe") or {}
            error = (
                f"the probe at {ended.outcome['num_envs']} envs failed ({probe_doc.get('error_type') or 'no result'}"
                f"{': ' + str(probe_doc['error_line']) if probe_doc.get('error_line') else ''}; exit status "
                f"{ended.outcome['exit_status']}): not an out-of-memory, so the search ends (log: {ended.outcome['log']})"
            )
    found["probe_seconds_per_million_envs"] = args.probe_seconds_per_million_envs
    found["probe_iterations"] = args.probe_iterations
    found["memory_model"] = memory_model()
    found["past_cap"] = past_cap(found)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "status": "error" if error else "ok",
        "error": error,
        "simulated": os.environ.get("LAMBDABENCH_SIMULATED", "") not in ("", "0", "false"),
        "workload": args.workload,
        "train_args": args.train,
        "max_envs": found,
    }
    _write_json(Path(args.out) / "max-envs-result.json", doc)
    _log(
        error
        or found["past_cap"]
        or f"largest num_envs that fits: {found['largest_fit']} (stopped: {found['stopped']})"
    )
    return EXIT_FAILED if error else 0


def parse(argv: list[str]) -> argparse.Namespace:
    train: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, train = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(prog="il_maxenvs.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("probe", "search"):
        s = sub.add_parser(name)
        how = s.add_mutually_exclusive_group()
        how.add_argument("--entry", help=f"MODULE:FUNCTION to call (default {ISAACLAB3_ENTRY})")
        how.add_argument("--script", help="a train script to run by runpy (Isaac Lab 2.x)")
        if name == "probe":
            s.add_argument("--num-envs", type=int, required=True)
            s.add_argument("--result", required=True)
        else:
            s.add_argument("--start", type=int, required=True)
            s.add_argument("--bound", type=int, required=True)
            s.add_argument("--bisect-steps", type=int, default=3)
            s.add_argument("--probe-seconds", type=float, required=True, help="each probe's cap: its fixed part")
            s.add_argument(
                "--probe-seconds-per-million-envs",
                type=float,
                default=0.0,
                help="each probe's cap: seconds added per million envs (start-up grows with num_envs)",
            )
            s.add_argument("--probe-iterations", type=int, default=None, help="recorded with the result")
            s.add_argument("--out", required=True, help="the result and each probe's log and result file")
            s.add_argument("--work", required=True, help="each probe's working folder (its training's logs/)")
            s.add_argument("--workload", default="isaaclab3-train", help="recorded with the result")
            s.add_argument(
                "--launcher",
                action="append",
                help="how a probe's python starts, one word per flag (e.g. --launcher=./isaaclab.sh --launcher=-p); "
                "default: this interpreter",
            )
    args = p.parse_args(argv)
    args.train = train
    for name in ("out", "work", "result"):  # each probe runs in its own folder: every path absolute
        if getattr(args, name, None):
            setattr(args, name, str(Path(getattr(args, name)).resolve()))
    if "--num_envs" in train or any(a.startswith("--num_envs=") for a in train):
        p.error("give the train arguments without --num_envs: each probe sets its own")
    if args.command == "search" and not 0 < args.start <= args.bound:
        p.error(f"need 1 <= --start <= --bound (start {args.start}, bound {args.bound})")
    if args.command == "search" and not (args.probe_seconds > 0 and math.isfinite(args.probe_seconds)):
        p.error("--probe-seconds must be a positive number")
    per_million = getattr(args, "probe_seconds_per_million_envs", 0.0)
    if args.command == "search" and not (per_million >= 0 and math.isfinite(per_million)):
        p.error("--probe-seconds-per-million-envs must be 0 or a positive number")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "probe":
        return probe_main(args)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _stop)
    return search_main(args)


if __name__ == "__main__":
    sys.exit(main())
