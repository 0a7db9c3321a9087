"""Per-node folders live on RunContext: the logs are written where the failure hint sends the user."""

from __future__ import annotations

import threading
from pathlib import Path

from lambdabench.errors import RemoteError
from lambdabench.run.context import Node, RunContext
from lambdabench.run.env import RunEnv, Timeouts
from lambdabench.run.phases import PlaybookPhase, _NodeRun


def _rc(tmp_path: Path, nodes: int) -> RunContext:
    node_list = [Node(i, f"n{i}", "lambda", f"127.0.0.{i + 2}", f"127.0.0.{i + 2}", {}) for i in range(nodes)]
    return RunContext(
        sweep_id=1,
        run_id=1,
        label="x#1",
        nodes=node_list,
        plan=None,  # type: ignore[arg-type]
        benchmark=None,
        env=RunEnv(tmp_path, Timeouts()),
        ledger=None,  # type: ignore[arg-type]
        connect=None,
        run_dir=tmp_path / "run",
        stop=threading.Event(),
        deadline=0.0,  # type: ignore[arg-type]
        notify=print,
    )


def test_one_node_logs_in_the_run_folder_every_rank_of_many_under_its_own(tmp_path: Path) -> None:
    one = _rc(tmp_path, 1)
    assert one.log_dir(one.nodes[0]) == tmp_path / "run" / "logs"
    many = _rc(tmp_path, 2)
    assert [many.log_dir(n) for n in many.nodes] == [tmp_path / "run" / "nodes" / f"node-{r}" / "logs" for r in (0, 1)]


def test_a_multi_node_failure_points_to_the_failed_nodes_own_logs(tmp_path: Path) -> None:
    """Rank 0's logs of an N > 1 run are under nodes/node-0/logs: the hint sent the user to <run>/logs too."""
    rc = _rc(tmp_path, 2)
    for root in rc.nodes:
        failed = [_NodeRun(root, error=RemoteError("boom"), ended_at=1.0)]
        err = PlaybookPhase()._failure(rc, failed, [])
        assert err.hint == f"see {rc.log_dir(root)}", err.hint
