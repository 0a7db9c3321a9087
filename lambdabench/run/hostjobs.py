"""What a run started on a machine you bring (`--host`, `--local`) is stopped there, however the run ends.

An instance's processes end with the instance; a machine you bring is never terminated, so a detached
benchmark or an `nvidia-smi --loop-ms` sampler left there runs (and holds its GPU) until someone notices.
Every step of a run is started with LAMBDABENCH_RUN_TAG=<the run's node name> in its environment;
its processes and their children inherit it, and stopping the run means TERM, then KILL, to every
process that carries the tag, then checking that none is left. The scan reads /proc/<pid>/environ
(Linux, the machines lambdabench benchmarks); the run's unfinished detached jobs are found by their
own pid files too, for a machine without /proc.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambdabench.errors import LambdabenchError
from lambdabench.remote import shell

if TYPE_CHECKING:
    from lambdabench.remote.transport import Transport
    from lambdabench.run.context import Connector, Node
    from lambdabench.run.env import Timeouts

# $1 the tag, $2 seconds between TERM and KILL. Prints `left=N`: processes still carrying the tag.
# grep -z reads each environ (NUL-separated) as lines; grep's own environment does not carry the tag.
# A detached job's leader does not carry it (it only records the exit status): it ends by itself.
_STOP = r"""
needle="LAMBDABENCH_RUN_TAG=$1"
pids() {
  grep -lzxF -- "$needle" /proc/[0-9]*/environ 2>/dev/null | sed 's#^/proc/##; s#/environ$##'
  for d in "$HOME"/.lambdabench/jobs/*/; do
    [ -f "$d/tag" ] && [ ! -f "$d/status" ] && [ "$(cat "$d/tag" 2>/dev/null)" = "$1" ] || continue
    pg=$(cat "$d/pid" 2>/dev/null)
    case "$pg" in '' | *[!0-9]*) continue ;; esac
    pgrep -g "$pg" 2>/dev/null | grep -vx "$pg"
  done
}
for sig in TERM KILL; do
  for p in $(pids | sort -u); do kill -s "$sig" "$p" 2>/dev/null; done
  i=0
  while [ -n "$(pids)" ] && [ "$i" -lt "$2" ]; do sleep 1; i=$((i + 1)); done
done
echo "left=$(pids | sort -u | wc -l)"
"""


@dataclass(frozen=True)
class Stopped:
    """What stopping a run's processes on one machine found: how many are left (None: not reached)."""

    node: str
    left: int | None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.left == 0


def stop_tagged(session: Transport, tag: str, *, grace: float) -> int | None:
    """TERM, then KILL, every process of the run `tag` on the session's machine; how many are left."""
    seconds = max(1, int(grace))
    out = session.run(shell.join(["bash", "-c", _STOP, "stop", tag, str(seconds)]), timeout=seconds + 60, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("left="):
            count = line.removeprefix("left=").strip()
            return int(count) if count.isdigit() else None
    return None


def stop_run_on(connect: Connector, node: Node, *, grace: float, connect_timeout: float) -> Stopped:
    """Stop everything the run (tagged with the node's name) left running on a machine you brought."""
    try:
        session = connect(node, timeout=connect_timeout)
    except LambdabenchError as exc:
        return Stopped(
            node.name, None, f"could not reach {node.name} to stop this run's processes there ({exc.one_line()})"
        )
    try:
        left = stop_tagged(session, node.name, grace=grace)
    except LambdabenchError as exc:
        left, problem = None, f"stopping this run's processes on {node.name} failed ({exc.one_line()})"
    else:
        problem = (
            ""
            if left == 0
            else (
                f"{left} process(es) of this run still running on {node.name} after TERM and KILL"
                if left is not None
                else f"could not tell whether this run's processes on {node.name} stopped"
            )
        )
    finally:
        session.close()
    return Stopped(node.name, left, problem)


def end_run_on(
    connect: Connector, nodes: Sequence[Node], phase: threading.Thread | None, timeouts: Timeouts
) -> list[str]:
    """A run on machines you brought is over: stop its processes on each, and say what could not be.

    The remote phase may still be running (Ctrl-C, the run's cap): it starts no further step once the
    run has ended, but one may have started just before, so a phase still alive is waited for after a
    first stop, and the machine swept a second time. Returns one line per machine left unclean.
    """
    ours = [n for n in nodes if n.kind != "lambda"]
    grace, reach = timeouts.stop_grace, timeouts.stop_connect
    results = {n.name: stop_run_on(connect, n, grace=grace, connect_timeout=reach) for n in ours}
    if phase is not None and phase.is_alive():
        phase.join(timeout=grace + 2 * timeouts.playbook_poll + 30)  # it notices at its next poll
        results = {n.name: stop_run_on(connect, n, grace=grace, connect_timeout=reach) for n in ours}
    return [r.problem for r in results.values() if not r.ok]
