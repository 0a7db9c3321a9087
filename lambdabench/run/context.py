"""One run as the remote phase sees it: its N ≥ 1 nodes, folders, deadline, and how to reach each node."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lambdabench.ledger import InstanceKind, Ledger
    from lambdabench.remote.transport import Transport
    from lambdabench.run.cluster import Cluster
    from lambdabench.run.env import RunEnv
    from lambdabench.run.plan import Benchmark, SweepPlan
    from lambdabench.secrets import Secret


@dataclass
class Node:
    """One machine of a run, in rank order: an instance launched here, a BYO SSH host, or this machine."""

    rank: int
    name: str  # the ledger's instance name
    kind: InstanceKind
    address: str  # where lambdabench connects to it
    peer_addr: str  # where the other nodes reach it (the private IP where there is one)
    facts: dict[str, Any]  # type facts (name, gpus, gpu_model, vram_gb, rtx, arch) before preflight
    instance_id: str | None = None
    network: str = "private"
    ssh_user: str | None = None  # a BYO host's own (else the settings')
    ssh_port: int | None = None
    ssh_key: Path | None = None

    @property
    def gpus(self) -> int:
        return int(self.facts.get("gpus") or 0)

    @property
    def label(self) -> str:
        return f"node {self.rank} ({self.name}, {self.peer_addr})"


class Connector(Protocol):
    """Opens a session to a node: SSH (instances, BYO hosts) or a local transport; waits for readiness."""

    def __call__(self, node: Node, *, timeout: float) -> Transport: ...


@dataclass
class PulledPass:
    """One `--seeds` pass whose outputs are local (under seeds/seed-<s>/): what its ingest reads after teardown."""

    seed: str
    started: float  # when the pass began (its own start-up steps are the ones after it)
    ended: float  # when its files were kept (the steps after it are later passes')
    wall_window: tuple[float, float] | None  # this pass's benchmark step: its start and end
    facts: dict[int, dict[str, Any]]  # per rank, as they were at this pass's end
    notes: list[str]


@dataclass
class RunContext:
    """Everything the remote phase of one run needs; nodes[0] is rank 0."""

    sweep_id: int
    run_id: int
    label: str
    nodes: list[Node]
    plan: SweepPlan
    benchmark: Benchmark
    env: RunEnv
    ledger: Ledger
    connect: Connector
    run_dir: Path
    stop: threading.Event
    deadline: float  # monotonic time by which the run must be done
    notify: Callable[[str], None]
    secrets: dict[str, Secret] = field(default_factory=dict)
    cluster: Cluster | None = None  # set when N > 1, once the rendezvous is known
    on_rendezvous: Callable[[Cluster], None] | None = None  # the sweep opens the run's firewall ruleset
    wall_window: tuple[float, float] | None = None  # the benchmark step's start and end (--seeds: the first pass's)
    facts: dict[int, dict[str, Any]] = field(default_factory=dict)  # per rank, after preflight/setup
    target_name: str = ""  # the instance type's name, or host:<label> / local
    region: str | None = None
    pass_started: float | None = None  # --seeds: when the current benchmark pass began (its own start-up steps)
    pass_ended: float | None = None  # --seeds: when the pass being read ended (None: the run's last)
    passes: list[PulledPass] = field(default_factory=list)  # --seeds: every finished pass, ingested after teardown
    pulled: bool = False  # the remote phase pulled and verified every output: ingest (after teardown) may read them
    setup_facts: dict[int, dict[str, Any]] | None = None  # per rank, once preflight and set-up finished
    reused_from: RunContext | None = None  # --reuse: the run whose instance (and set-up) this one runs on
    cache_dir: str | None = None  # --cache: the cache folder on the nodes (None: this run runs cold)
    cache_note: str = ""  # why there is no cache, when there is none
    notes: list[str] = field(default_factory=list)  # what the remote phase could not do, for the run's notes
    ended: threading.Event = field(default_factory=threading.Event)  # the run is over: start no more steps
    phase_thread: threading.Thread | None = None  # the remote phase, still running when the run ended early

    def should_stop(self) -> bool:
        """Interrupted, or the run ended (past its cap): the remote phase starts nothing more."""
        return self.stop.is_set() or self.ended.is_set()

    def tag(self, node: Node) -> str | None:
        """What the run's processes on a machine you bring carry (lambdabench.run.hostjobs); None on instances."""
        return node.name if node.kind != "lambda" else None

    @property
    def rank0(self) -> Node:
        return self.nodes[0]

    def node_dir(self, node: Node) -> Path:
        """Where a node's pulled files land: rank 0's in the run folder; other ranks' under nodes/node-<rank>/."""
        return self.run_dir if node.rank == 0 else self.run_dir / "nodes" / f"node-{node.rank}"

    def log_dir(self, node: Node) -> Path:
        """Where a node's step logs go: <run>/logs for one node; nodes/node-<rank>/logs for every rank of N > 1."""
        return (self.run_dir / "nodes" / f"node-{node.rank}" if len(self.nodes) > 1 else self.run_dir) / "logs"


class RemotePhase(Protocol):
    """What happens on the nodes between active and teardown (SSH, preflight, setup, benchmark, pull)."""

    def __call__(self, rc: RunContext) -> None: ...
