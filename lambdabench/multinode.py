"""Multi-node runs: one training across N instances through torchrun's c10d rendezvous.

A sweep run with `nodes > 1` becomes a cluster: N instances of one type launched in ONE region (all
or none: a short group is terminated and the next region tried), one firewall ruleset created for
the run and attached at launch (its rules, filled in once the nodes' addresses are known, open only
the rendezvous and NCCL ports, only from the nodes; deleted after teardown), every node set up in
parallel, then the benchmark step started on every node with the same environment contract
(`contract_env`) and `torch.distributed.run --nnodes=N --node_rank=i --rdzv_backend=c10d ...`.
When one node's step fails or its node is lost, the others' steps are stopped and the run fails
naming that node; artifacts come from rank 0, step logs from every node. See docs/multinode.md.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lambdabench.errors import LambdabenchError, RemoteError, UsageError
from lambdabench.remote import shell
from lambdabench.remote.ssh import ConnectionLost

if TYPE_CHECKING:
    from lambdabench.cloud.client import LambdaCloud
    from lambdabench.cloud.models import Instance, InstanceType
    from lambdabench.context import Context
    from lambdabench.instances import Launched
    from lambdabench.ledger import Ledger
    from lambdabench.remote.playbook import Playbook, PlaybookResult
    from lambdabench.remote.ssh import Session
    from lambdabench.sweep import PlannedRun, RunContext, SweepPlan, SweepRunner

RDZV_PORT = 29400  # torchrun's c10d default; LAMBDABENCH_MASTER_PORT is the next one
EPHEMERAL_PORTS = (32768, 60999)  # Linux's default ip_local_port_range: where NCCL/gloo listeners bind
JOIN_TIMEOUT_S = 600.0  # torchrun's own default: every node must join the rendezvous within this
LAUNCHER = re.compile(r"(torch\.distributed\.run|torchrun)\b")
_SINGLE_NODE = re.compile(r"--nnodes[= ]1\b(?!:)|--standalone\b")
PER_RANK_LIBRARIES = ("skrl", "rsl_rl", "sb3")  # their TensorBoard rate counts rank 0's envs only

Notify = Callable[[str], None]


# ---------------------------------------------------------------------------------------------
# the contract


@dataclass(frozen=True)
class Cluster:
    """The nodes of one multi-node run, in rank order, and everything derived from them."""

    run_key: str  # the rendezvous id
    addrs: tuple[str, ...]  # rank order (string order: torch's c10d ranks nodes by --local_addr)
    gpus_per_node: int
    port: int = RDZV_PORT
    join_timeout: float = JOIN_TIMEOUT_S
    output_dir: str = ".lambdabench/outputs"

    @property
    def nnodes(self) -> int:
        return len(self.addrs)

    @property
    def master_addr(self) -> str:
        return self.addrs[0]

    @property
    def master_port(self) -> int:
        return self.port + 1

    @property
    def rdzv_endpoint(self) -> str:
        return f"{self.master_addr}:{self.port}"

    def rdzv_conf(self, rank: int) -> str:
        # is_host pins the store to node 0: on one machine (the simulator) every address is local
        return f"join_timeout={self.join_timeout:g},is_host={'true' if rank == 0 else 'false'}"

    def env(self, rank: int) -> dict[str, str]:
        """The environment every step of the multi-node playbook sees on node `rank`."""
        return {
            "LAMBDABENCH_NODE_RANK": str(rank),
            "LAMBDABENCH_NNODES": str(self.nnodes),
            "LAMBDABENCH_NODE_ADDR": self.addrs[rank],
            "LAMBDABENCH_NODE_ADDRS": ",".join(self.addrs),
            "LAMBDABENCH_MASTER_ADDR": self.master_addr,
            "LAMBDABENCH_MASTER_PORT": str(self.master_port),
            "LAMBDABENCH_GPUS_PER_NODE": str(self.gpus_per_node),
            "LAMBDABENCH_RDZV_ENDPOINT": self.rdzv_endpoint,
            "LAMBDABENCH_RDZV_ID": self.run_key,
            "LAMBDABENCH_OUTPUT_DIR": self.output_dir,
        }

    def facts(self, rank: int) -> dict[str, Any]:
        """The same values as playbook facts (`{{ facts.node_rank }}` ...)."""
        return {
            "node_rank": rank,
            "nnodes": self.nnodes,
            "node_addr": self.addrs[rank],
            "node_addrs": ",".join(self.addrs),
            "master_addr": self.master_addr,
            "master_port": self.master_port,
            "gpus_per_node": self.gpus_per_node,
            "rdzv_endpoint": self.rdzv_endpoint,
            "rdzv_id": self.run_key,
            "rdzv_conf": self.rdzv_conf(rank),
            "output_dir": self.output_dir,
        }

    def torchrun_args(self, rank: int, nproc_per_node: int | None = None) -> list[str]:
        """torch.distributed.run's launcher flags for node `rank`."""
        return [
            f"--nnodes={self.nnodes}",
            f"--node_rank={rank}",
            f"--nproc_per_node={nproc_per_node or self.gpus_per_node}",
            "--rdzv_backend=c10d",
            f"--rdzv_endpoint={self.rdzv_endpoint}",
            f"--rdzv_id={self.run_key}",
            f"--rdzv_conf={self.rdzv_conf(rank)}",
            f"--local_addr={self.addrs[rank]}",
            "--max_restarts=0",
        ]

    def torchrun_command(self, rank: int, program: Sequence[str], *, python: str = "python3",
                         nproc_per_node: int | None = None) -> str:
        """One shell line: `python3 -m torch.distributed.run <flags> <program...>`, every word quoted."""
        return shell.join([python, "-m", "torch.distributed.run", *self.torchrun_args(rank, nproc_per_node),
                           *program])


# templates the rewritten launcher flags use (facts come from Cluster.facts)
MULTINODE_FLAGS = (
    "--nnodes={{ facts.nnodes }} --node_rank={{ facts.node_rank }} --rdzv_backend=c10d "
    "--rdzv_endpoint={{ facts.rdzv_endpoint }} --rdzv_id={{ facts.rdzv_id }} "
    "--rdzv_conf={{ facts.rdzv_conf }} --local_addr={{ facts.node_addr }} --max_restarts=0"
)


def rank_order(addrs: Sequence[str]) -> list[int]:
    """Indexes of addrs in rank order: torch's c10d rendezvous ranks nodes by the string order of --local_addr."""
    return sorted(range(len(addrs)), key=lambda i: addrs[i])


@dataclass(frozen=True)
class NodeAddress:
    addr: str
    network: str  # private | public | loopback (simulator)
    warning: str | None = None


def node_address(instance: Instance, *, simulated: bool) -> NodeAddress:
    """The address the other nodes reach this one at: the private IP, else the public one with a warning."""
    private, public = instance.private_ip, instance.ip
    if private:
        if simulated and not ipaddress.ip_address(private).is_loopback and public:
            # the simulator's private_ip names no interface of this machine; its hosts share loopback
            return NodeAddress(public, "loopback")
        return NodeAddress(private, "private")
    if not public:
        raise RemoteError(f"{instance.name or instance.id} has neither a private nor a public IP")
    return NodeAddress(public, "public", f"{instance.name or instance.id} has no private_ip: the nodes talk over "
                                         f"the public network ({public}); expect slower collectives")


def free_port(host: str) -> int:
    """A port free on host now (the simulator's nodes share this machine's ports with other runs)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# playbooks: the launcher flags and the environment contract


def is_multinode_aware(text: str) -> bool:
    return "facts.nnodes" in text or "LAMBDABENCH_NNODES" in text or "facts.rdzv_endpoint" in text


def adapt_playbook(playbook: Playbook, env: dict[str, str]) -> Playbook:
    """A copy whose torchrun steps run multi-node and whose every step sees the contract env.

    A step that launches torch.distributed.run/torchrun single-node (`--nnodes=1` or `--standalone`)
    gets the multi-node flags instead; steps already written for the contract are left as they are.
    """
    steps = []
    for step in playbook.steps:
        body = step.body
        if isinstance(body, str) and LAUNCHER.search(body) and not is_multinode_aware(body):
            stripped = _SINGLE_NODE.sub("", body)
            if "--nnodes" not in stripped:  # a single-node launch: give it the cluster's flags
                body = LAUNCHER.sub(lambda m: f"{m.group(0)} {MULTINODE_FLAGS}", stripped, count=1)
        steps.append(dataclasses.replace(step, body=body))
    return dataclasses.replace(playbook, steps=steps, env={**playbook.env, **env})


def launcher_steps(playbook: Playbook, values: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    """Names of the steps that would run and launch torchrun (or use the contract) with these facts."""
    names = playbook.namespace(values, facts)
    out = []
    for step in playbook.steps:
        if step.when is not None and not step.when.evaluate(names):
            continue
        text = str(step.body)
        if LAUNCHER.search(text) or is_multinode_aware(text):
            out.append(step.name)
    return out


def check_multinode(ctx: Context, playbook_name: str, variables: dict[str, str], types: Sequence[Any],
                    nodes: int) -> None:
    """Refuse before launch a playbook that would not start one training across the nodes."""
    if playbook_name == "gpu-probe":
        return
    from lambdabench.gpuinfo import type_facts
    from lambdabench.remote.playbook import find_playbook

    playbook = find_playbook(playbook_name)
    values = playbook.resolve_vars({k: v for k, v in variables.items() if k in playbook.vars})
    spec = Cluster("plan", tuple(f"10.0.0.{i + 1}" for i in range(nodes)), 1)
    for itype in types:
        facts = {**type_facts(itype), **spec.facts(0), "simulated": ctx.settings.simulated}
        if not launcher_steps(playbook, values, facts):
            raise UsageError(
                f"playbook {playbook_name} starts no torch.distributed.run step on {itype.name}, so --nodes "
                f"{nodes} would run {nodes} separate trainings",
                "Use a playbook with a torchrun step (e.g. torchrun, or isaaclab-train on a multi-GPU type).",
            )


# ---------------------------------------------------------------------------------------------
# firewall: one ruleset per run, attached at launch, rules filled in once the addresses are known


def create_ruleset(cloud: LambdaCloud, region: str, label: str, notify: Notify) -> str | None:
    """An empty ruleset in the region to attach at launch; None (with a warning) when the API refuses."""
    from lambdabench.cloud.errors import CloudError
    from lambdabench.instances import make_name

    try:
        return cloud.create_firewall_ruleset(make_name(f"{label}-rdzv")[:64], region, []).id
    except CloudError as exc:
        notify(f"warning: could not create a firewall ruleset in {region} ({exc.one_line()}); "
               "launching without one: the nodes may not reach each other")
        return None


def ruleset_rules(addrs: Sequence[str], port: int) -> list[Any]:
    """TCP from each node /32: the rendezvous store and master port, and the ephemeral NCCL/gloo range."""
    from lambdabench.cloud.models import FirewallRule

    rules = []
    for addr in dict.fromkeys(addrs):
        rules.append(FirewallRule("tcp", f"{addr}/32", f"lambdabench rendezvous from {addr}", (port, port + 1)))
        rules.append(FirewallRule("tcp", f"{addr}/32", f"lambdabench NCCL/gloo from {addr}", EPHEMERAL_PORTS))
    return rules


def open_ruleset(cloud: LambdaCloud, ruleset_id: str, addrs: Sequence[str], port: int, notify: Notify) -> bool:
    from lambdabench.cloud.errors import CloudError

    try:
        cloud.update_firewall_ruleset(ruleset_id, rules=ruleset_rules(addrs, port))
        return True
    except CloudError as exc:
        notify(f"warning: could not open the rendezvous ports between the nodes ({exc.one_line()})")
        return False


def delete_ruleset(cloud: LambdaCloud, ruleset_id: str, notify: Notify, *, tries: int = 10,
                   delay: float = 1.0) -> bool:
    """Delete after teardown; 'in use' while terminating instances still hold it, so retry a while."""
    from lambdabench.cloud.errors import CloudError

    for attempt in range(tries):
        try:
            cloud.delete_firewall_ruleset(ruleset_id)
            return True
        except CloudError as exc:
            if exc.code == "global/object-does-not-exist":
                return True
            if attempt == tries - 1:
                notify(f"warning: firewall ruleset {ruleset_id} not deleted ({exc.one_line()}); "
                       "delete it in the Lambda console")
                return False
            time.sleep(delay)
    return False


# ---------------------------------------------------------------------------------------------
# launching a group: all N in one region, or none


@dataclass
class LaunchedGroup:
    """N launched instances of one run, in launch order (rank order is fixed once addresses are known)."""

    nodes: list[Launched]
    region: str
    ruleset_id: str | None = None

    @property
    def name(self) -> str:
        return self.nodes[0].name

    @property
    def instance_type(self) -> InstanceType:
        return self.nodes[0].instance_type


class _GroupShort(Exception):
    """A region ran out of capacity part-way through the group."""


def launch_group(runner: SweepRunner, run: PlannedRun, *, nodes: int | None = None) -> LaunchedGroup:
    """Launch `nodes` instances of the run's type in one region; a short group is rolled back, next region."""
    from lambdabench.cloud.errors import (
        CapacityError,
        CloudError,
        ProviderError,
        RateLimitedError,
        TransportError,
    )
    from lambdabench.instances import (
        TAG_RUN,
        TAG_TOOL,
        Launched,
        capacity_regions,
        make_name,
    )

    assert run.run_id is not None and runner._key_name is not None
    count = nodes or runner.plan.nodes
    cloud, ledger, itype = runner.cloud, runner.ledger, run.itype
    def say(message: str) -> None:
        runner.progress.say(run.label, message)

    ledger.set_run_status(run.run_id, "running")
    runner.progress.stage(run.label, f"launching {count} nodes")
    preferred = [runner.plan.region] if runner.plan.region else []
    regions = [runner.plan.region] if runner.plan.region else capacity_regions(cloud, itype.name, preferred)
    if not regions:
        raise CapacityError(f"no region lists capacity for {itype.name}")
    from lambdabench import TOOL_NAME, __version__

    tags = [(TAG_TOOL, TOOL_NAME), (TAG_RUN, f"{run.run_id}"), ("lambdabench-version", __version__)]
    for region in regions:
        if runner.stop.is_set():
            raise LambdabenchError("launch cancelled")
        ruleset = create_ruleset(cloud, region, run.label.replace("#", "-"), say)
        launched: list[Launched] = []
        reserved: list[str] = []
        try:
            for i in range(count):
                if runner.stop.is_set():
                    raise LambdabenchError("launch cancelled")
                name = make_name(f"{run.label.replace('#', '-')}-n{i}")
                ledger.reserve_instance(run.run_id, name, itype.name, region, itype.price_cents_per_hour)
                reserved.append(name)
                say(f"launching node {i + 1}/{count}: {itype.name} in {region} as {name}")
                try:
                    iid = cloud.launch(instance_type=itype.name, region=region, ssh_key_name=runner._key_name,
                                       name=name, tags=tags, firewall_ruleset_ids=[ruleset] if ruleset else [])
                except CapacityError as exc:
                    ledger.record_launch_failed(name)
                    ledger.record_error("launch", "capacity", exc.one_line(), run_id=run.run_id, instance_name=name)
                    raise _GroupShort(f"{region}: capacity for {i} of {count} {itype.name}") from exc
                except (ProviderError, TransportError, RateLimitedError) as exc:
                    # outcome unknown: the rollback below (and the sweep's teardown) terminates it by name
                    ledger.record_error("launch", exc.family, exc.one_line(), run_id=run.run_id, instance_name=name)
                    ledger.set_needs_attention(name, f"launch outcome unknown: {exc.one_line()}")
                    raise
                except CloudError as exc:
                    ledger.record_launch_failed(name)
                    ledger.record_error("launch", exc.family, exc.one_line(), run_id=run.run_id, instance_name=name)
                    raise
                ledger.record_launch_accepted(name, iid)
                launched.append(Launched(name, iid, itype, region))
            return LaunchedGroup(launched, region, ruleset)
        except _GroupShort as exc:
            say(f"{exc}; terminating the {len(launched)} launched, trying the next region")
            _rollback(runner, reserved, ruleset)
            continue
        except BaseException:
            _rollback(runner, reserved, ruleset)
            raise
    raise CapacityError(f"no region had capacity for {count} × {itype.name} at once")


def _rollback(runner: SweepRunner, names: list[str], ruleset: str | None) -> None:
    """Terminate a partial group (confirmed gone), then delete its ruleset: no half-launched cluster stays up."""
    from lambdabench.instances import terminate_and_verify

    live = [n for n in names if runner.ledger.instance(n).gone is None]
    if live:
        outcome = terminate_and_verify(runner.cloud, runner.ledger, live, timeouts=runner.timeouts,
                                       notify=lambda m: None)
        if outcome.failed:
            with runner._lock:
                runner.result.not_terminated.extend(outcome.failed)
    if ruleset:
        delete_ruleset(runner.cloud, ruleset, runner.ctx.notify, delay=runner.timeouts.poll)


# ---------------------------------------------------------------------------------------------
# one cluster run (what SweepRunner._worker does for one instance, for N)


@dataclass
class Node:
    rank: int
    launched: Launched
    instance: Instance
    addr: str
    network: str

    @property
    def label(self) -> str:
        return f"node {self.rank} ({self.launched.name}, {self.addr})"


@dataclass
class ClusterContext:
    """Everything the remote phase of a multi-node run needs."""

    rc: RunContext  # rank 0's view: run id, run dir, ledger, deadline, ...
    nodes: list[Node]
    cluster: Cluster

    @property
    def label(self) -> str:
        return self.rc.label

    @property
    def deadline(self) -> float:
        return self.rc.deadline

    def node_rc(self, node: Node) -> RunContext:
        """The run context as seen from one node (its instance; its own folder below the run's)."""
        run_dir = self.rc.run_dir if node.rank == 0 else self.rc.run_dir / "nodes" / f"node-{node.rank}"
        run_dir.mkdir(parents=True, exist_ok=True)
        return dataclasses.replace(self.rc, launched=node.launched, instance=node.instance, run_dir=run_dir,
                                   notify=lambda m: self.rc.notify(f"node {node.rank}: {m}"))


class ClusterPhase(Protocol):
    def __call__(self, cc: ClusterContext) -> None: ...


def run_cluster(runner: SweepRunner, sweep_id: int, run: PlannedRun, group: LaunchedGroup) -> None:
    """Boot, run and tear down one multi-node run; the sweep's bookkeeping as for a single instance."""
    from lambdabench.instances import BootError, terminate_and_verify, wait_active
    from lambdabench.sweep import RunContext

    assert run.run_id is not None
    failed: str | None = None
    stage = "boot"
    names = [n.name for n in group.nodes]
    try:
        runner.progress.stage(run.label, f"booting {len(group.nodes)} nodes ({group.region})")
        deadline = time.monotonic() + runner.plan.max_run_seconds
        instances = [wait_active(runner.poller, runner.ledger, ln, timeouts=runner.timeouts,
                                 notify=lambda m: None, stop=runner.stop) for ln in group.nodes]
        addresses = [node_address(inst, simulated=runner.ctx.settings.simulated) for inst in instances]
        for a in addresses:
            if a.warning:
                runner.progress.say(run.label, f"warning: {a.warning}")
        order = rank_order([a.addr for a in addresses])
        nodes = [Node(rank, group.nodes[i], instances[i], addresses[i].addr, addresses[i].network)
                 for rank, i in enumerate(order)]
        runner.progress.stage(run.label, "active: " + ", ".join(f"node {n.rank} {n.addr}" for n in nodes))
        port = free_port(nodes[0].addr) if runner.ctx.settings.simulated else RDZV_PORT
        scale = runner.ctx.settings.time_scale
        cluster = Cluster(f"lambdabench-{sweep_id}-{run.run_id}", tuple(n.addr for n in nodes),
                          max(1, run.itype.gpus), port=port, join_timeout=max(30.0, JOIN_TIMEOUT_S / scale))
        if group.ruleset_id:
            open_ruleset(runner.cloud, group.ruleset_id, cluster.addrs, cluster.port,
                         lambda m: runner.progress.say(run.label, m))
        stage = "remote"
        run_dir = runner.runs_root / f"sweep-{sweep_id}" / f"run-{run.run_id}-{run.label.replace('#', '-')}"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "cluster.json").write_text(json.dumps(
            {"nodes": [{"rank": n.rank, "name": n.launched.name, "id": n.launched.id, "addr": n.addr,
                        "network": n.network} for n in nodes],
             "region": group.region, "rdzv_endpoint": cluster.rdzv_endpoint, "rdzv_id": cluster.run_key,
             "firewall_ruleset": group.ruleset_id}, indent=2))
        rc = RunContext(ctx=runner.ctx, ledger=runner.ledger, sweep_id=sweep_id, run_id=run.run_id, label=run.label,
                        launched=nodes[0].launched, instance=nodes[0].instance, plan=runner.plan, run_dir=run_dir,
                        stop=runner.stop, deadline=deadline, notify=lambda m: runner.progress.say(run.label, m))
        runner.ledger.record_metric(run.run_id, "nodes", float(len(nodes)), source="multinode")
        runner._run_remote(ClusterContext(rc, nodes, cluster))  # type: ignore[arg-type]
    except BootError as exc:
        failed = exc.one_line()
        runner.ledger.record_error(stage, "boot", failed, run_id=run.run_id, instance_name=group.name)
    except LambdabenchError as exc:
        failed = exc.one_line()
        runner.ledger.record_error(stage, type(exc).__name__, failed, run_id=run.run_id, instance_name=group.name)
    except Exception as exc:  # a bug must not skip teardown
        failed = f"internal error: {type(exc).__name__}: {exc}"
        runner.ledger.record_error(stage, "internal", failed, run_id=run.run_id, instance_name=group.name)
    finally:
        keep = failed is not None and runner.plan.keep_on_failure and not runner.stop.is_set()
        if keep:
            runner.progress.say(run.label, f"kept for debugging (--keep-on-failure): {', '.join(names)} — "
                                f"`lambdabench down NAME` each when done; they bill until then")
        else:
            runner.progress.stage(run.label, f"terminating {len(names)} nodes")
            outcome = terminate_and_verify(runner.cloud, runner.ledger, names, timeouts=runner.timeouts,
                                           notify=lambda m: None)
            if outcome.failed:
                with runner._lock:
                    runner.result.not_terminated.extend(outcome.failed)
            elif group.ruleset_id:
                delete_ruleset(runner.cloud, group.ruleset_id, lambda m: runner.progress.say(run.label, m),
                               delay=runner.timeouts.poll)
        runner._slots.release()
        runner.conclude(run, failed)


# ---------------------------------------------------------------------------------------------
# remote phases


def _parallel(nodes: Sequence[Node], fn: Callable[[Node], Any]) -> dict[int, BaseException | None]:
    """fn on every node at once; each node's exception (or None), by rank."""
    errors: dict[int, BaseException | None] = {}

    def one(node: Node) -> None:
        try:
            fn(node)
            errors[node.rank] = None
        except BaseException as exc:  # noqa: BLE001 - reported per node
            errors[node.rank] = exc

    threads = [threading.Thread(target=one, args=(n,), name=f"node-{n.rank}", daemon=True) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _first_failure(nodes: Sequence[Node], errors: dict[int, BaseException | None], what: str) -> None:
    failed = [(n, errors[n.rank]) for n in nodes if errors.get(n.rank) is not None]
    if failed:
        node, exc = failed[0]
        msg = exc.one_line() if isinstance(exc, LambdabenchError) else f"{type(exc).__name__}: {exc}"
        raise RemoteError(f"{what} failed on {node.label}: {msg}")


class ClusterProbePhase:
    """The built-in probe on every node: SSH in, count the GPUs (the sum is recorded)."""

    def __call__(self, cc: ClusterContext) -> None:
        from lambdabench.phases import ProbePhase

        counts: dict[int, float] = {}

        def probe(node: Node) -> None:
            nrc = cc.node_rc(node)
            ProbePhase()(nrc)
            counts[node.rank] = float(node.launched.instance_type.gpus)

        _first_failure(cc.nodes, _parallel(cc.nodes, probe), "gpu-probe")
        cc.rc.ledger.record_metric(cc.rc.run_id, "gpu_count", sum(counts.values()), source="multinode")


# stop a node's unfinished detached lambdabench jobs: every process of the job's group but its
# leader (which then records the exit status, so the follower returns), TERM then KILL
_STOP_JOBS = r"""
cd "$HOME"/.lambdabench/jobs 2>/dev/null || exit 0
for sig in TERM KILL; do
  for d in */; do
    [ -f "$d/pid" ] && [ ! -f "$d/status" ] || continue
    pg=$(cat "$d/pid")
    for p in $(pgrep -g "$pg"); do [ "$p" = "$pg" ] || kill -s "$sig" "$p" 2>/dev/null; done
  done
  [ "$sig" = TERM ] && sleep GRACE
done
true
"""
# when each job of this run ended on the node (for naming the node that failed first)
_ENDED = r"""cd "$HOME"/.lambdabench/jobs 2>/dev/null || exit 0
for d in */; do [ -f "$d/status" ] && echo "$(date -r "$d/status" +%s.%N) $(cat "$d/status") ${d%/}"; done; true"""


@dataclass
class _NodeRun:
    node: Node
    session: Session | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    result: PlaybookResult | None = None
    error: BaseException | None = None
    ended_at: float | None = None
    stopped: bool = False


class ClusterPlaybookPhase:
    """A benchmark playbook across the nodes: preflight and setup everywhere, then the step on all at once."""

    def __init__(self, ctx: Context, name: str, variables: dict[str, str], *,
                 reattach_timeout: float | None = None) -> None:
        from lambdabench.remote.playbook import find_playbook

        scale = ctx.settings.time_scale
        # as for one instance: never under a minute of real time (a loaded machine is slow to log in)
        self.reattach_timeout = reattach_timeout if reattach_timeout is not None else max(60.0, 300.0 / scale)
        self.name = name
        self.variables = dict(variables)
        self.playbook = find_playbook(name)

    def __call__(self, cc: ClusterContext) -> None:
        runs = {n.rank: _NodeRun(n) for n in cc.nodes}
        try:
            _first_failure(cc.nodes, _parallel(cc.nodes, lambda n: self._prepare(cc, runs[n.rank])), "set-up")
            self._benchmark(cc, runs)
            self._collect(cc, runs[0])
        finally:
            for r in runs.values():
                if r.session is not None:
                    r.session.close()
        from lambdabench.ingest import ingest_run

        ingest_run(cc.rc, facts=runs[0].facts, library=self.variables.get("library"))
        record_user_metrics(cc.rc.ledger, cc.rc.run_id, cc.rc.run_dir)
        record_scaling(cc.rc.ledger, cc.rc.run_id, library=self.variables.get("library"))

    # -- stages -------------------------------------------------------------------------------------

    def _prepare(self, cc: ClusterContext, nr: _NodeRun) -> None:
        from lambdabench.gpuinfo import type_facts
        from lambdabench.phases import open_session, ssh_timeout

        node, rc = nr.node, cc.rc
        nr.session = open_session(rc.ctx, node.instance.ip or node.addr, node.launched.id, timeout=ssh_timeout(rc.ctx))
        rc.ledger.mark(node.launched.name, "ssh_ready")
        nr.facts = {**type_facts(node.launched.instance_type), "simulated": rc.ctx.settings.simulated}
        nr.facts.update(self._run(cc, nr, "gpu-preflight", {}))
        if self.playbook.before:
            rc.ledger.mark(node.launched.name, "setup_start")
            for before in self.playbook.before:
                nr.facts.update(self._run(cc, nr, before, self.variables))
            rc.ledger.mark(node.launched.name, "setup_end")

    def _bench_vars(self, cc: ClusterContext) -> dict[str, str]:
        out = dict(self.variables)
        if "gpus" in self.playbook.vars and "gpus" not in out:
            out["gpus"] = str(cc.cluster.gpus_per_node)
        if "simulated" in self.playbook.vars and "simulated" not in out:
            out["simulated"] = "true" if cc.rc.ctx.settings.simulated else "false"
        if "socket_ifname" in self.playbook.vars and "socket_ifname" not in out and cc.rc.ctx.settings.simulated:
            out["socket_ifname"] = "lo"  # the simulator's nodes share this machine's loopback
        return out

    def _benchmark(self, cc: ClusterContext, runs: dict[int, _NodeRun]) -> None:
        """The step on every node at once; the first failure stops the rest and names its node."""
        rc = cc.rc
        bench_vars = self._bench_vars(cc)
        done = threading.Event()
        lock = threading.Lock()

        def bench(node: Node) -> None:
            nr = runs[node.rank]
            playbook = adapt_playbook(self.playbook, cc.cluster.env(node.rank))
            try:
                nr.facts.update(cc.cluster.facts(node.rank))
                nr.result = self._run_result(cc, nr, playbook, bench_vars)
                nr.error = nr.result.error
            except BaseException as exc:  # noqa: BLE001 - decided below
                nr.error = exc
            finally:
                with lock:
                    nr.ended_at = time.time()
                if nr.error is not None:
                    done.set()

        for node in cc.nodes:
            rc.ledger.mark(node.launched.name, "bench_start")
        threads = [threading.Thread(target=bench, args=(n,), name=f"bench-node-{n.rank}", daemon=True)
                   for n in cc.nodes]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads) and not done.is_set():
            done.wait(0.2)
        if done.is_set():
            with lock:
                others = [r for r in runs.values() if r.ended_at is None]
                for r in others:
                    r.stopped = True
            first = min((r for r in runs.values() if r.error is not None), key=lambda r: r.ended_at or 0)
            rc.notify(f"{first.node.label} failed; stopping the step on {len(others)} other node(s)")
            unreachable = _parallel([r.node for r in others], lambda n: self._stop(cc, n))
            for r in others:
                exc = unreachable.get(r.node.rank)
                if isinstance(exc, ConnectionLost):
                    # the node we wanted to stop cannot be reached: it is lost, and likely the root cause
                    with lock:
                        r.error, r.stopped = exc, False
            grace = self.reattach_timeout + 10.0  # a lost node's follower gives up after its reattach window
            for t in threads:
                t.join(timeout=max(0.1, grace))
        for node in cc.nodes:
            rc.ledger.mark(node.launched.name, "bench_end")
        failed = [r for r in runs.values() if r.error is not None and not r.stopped]
        if failed:
            raise self._failure(cc, failed, [r for r in runs.values() if r.stopped])

    def _failure(self, cc: ClusterContext, failed: list[_NodeRun], stopped: list[_NodeRun]) -> RemoteError:
        """Name the node that failed first: a lost node, else the earliest job end on the nodes' clocks."""


        def lost(r: _NodeRun) -> bool:
            return isinstance(r.error, ConnectionLost) or "lost SSH" in str(getattr(r.error, "message", ""))

        ended = {r.node.rank: self._job_end(r) for r in failed if not lost(r)}
        failed.sort(key=lambda r: (not lost(r), ended.get(r.node.rank) or float("inf"), r.ended_at or 0))
        root = failed[0]
        err = root.error
        msg = err.one_line() if isinstance(err, LambdabenchError) else f"{type(err).__name__}: {err}"
        also = [f"node {r.node.rank}" for r in failed[1:]]
        extra = f" (then also failed: {', '.join(also)})" if also else ""
        extra += f"; stopped: {', '.join(f'node {r.node.rank}' for r in stopped)}" if stopped else ""
        return RemoteError(f"multi-node step failed on {root.node.label}: {msg}{extra}",
                           f"see {cc.rc.run_dir}/nodes/node-{root.node.rank}/logs (rank 0's in {cc.rc.run_dir}/logs)")

    def _job_end(self, nr: _NodeRun) -> float | None:
        """When the node's most recent failed job ended (its status file's time on the node)."""
        if nr.session is None:
            return None
        try:
            out = nr.session.run(_ENDED, timeout=30, check=False)
        except LambdabenchError:
            return None
        ends = []
        for line in out.stdout.splitlines():
            parts = line.split(" ", 2)
            try:
                if len(parts) == 3 and parts[1] != "0":
                    ends.append(float(parts[0]))
            except ValueError:
                continue
        return max(ends) if ends else None

    def _stop(self, cc: ClusterContext, node: Node) -> None:
        """Stop the node's unfinished lambdabench jobs over a fresh SSH session (the follower's is busy)."""
        from lambdabench.phases import open_session

        ctx = cc.rc.ctx
        grace = max(1.0, 10.0 / ctx.settings.time_scale)
        try:
            session = open_session(ctx, node.instance.ip or node.addr, node.launched.id,
                                   timeout=max(2.0, 30.0 / ctx.settings.time_scale))
        except LambdabenchError as exc:
            cc.rc.notify(f"could not reach {node.label} to stop its step ({exc.one_line()}); teardown will")
            raise ConnectionLost(f"lost SSH to {node.label}: {exc.message}") from exc
        try:
            session.run(_STOP_JOBS.replace("GRACE", f"{grace:g}"), timeout=60 + grace, check=False)
            if not ctx.settings.simulated:
                # a step run with `docker exec` keeps running in the container when its client dies
                for container in {s.container for s in self.playbook.steps if s.container}:
                    session.run(shell.join(["docker", "exec", container, "pkill", "-TERM", "-f",
                                            "torch.distributed.run|torchrun"]) + " || true", timeout=60, check=False)
        except LambdabenchError as exc:
            cc.rc.notify(f"stopping the step on {node.label} failed ({exc.one_line()}); teardown will")
        finally:
            session.close()

    def _collect(self, cc: ClusterContext, rank0: _NodeRun) -> None:
        for after in self.playbook.after:
            self._run(cc, rank0, after, self.variables)
        cc.rc.ledger.mark(rank0.node.launched.name, "pull_end")

    # -- one playbook on one node -------------------------------------------------------------------

    def _run(self, cc: ClusterContext, nr: _NodeRun, name: str, variables: dict[str, str]) -> dict[str, Any]:
        from lambdabench.remote.playbook import find_playbook

        result = self._run_result(cc, nr, find_playbook(name), variables)
        result.raise_for_status()
        return dict(result.facts)

    def _run_result(self, cc: ClusterContext, nr: _NodeRun, playbook: Playbook,
                    variables: dict[str, str]) -> PlaybookResult:
        from lambdabench.remote.playbook import run_playbook
        from lambdabench.secrets import Secret

        rc, node = cc.rc, nr.node
        assert nr.session is not None
        secrets: dict[str, Secret] = {}
        ngc = rc.ctx.settings.ngc_api_key
        if ngc is not None and "NGC_API_KEY" in playbook.secrets:
            secrets["NGC_API_KEY"] = ngc
        log_dir = rc.run_dir / "nodes" / f"node-{node.rank}" / "logs" / playbook.name
        local_dir = rc.run_dir if node.rank == 0 else rc.run_dir / "nodes" / f"node-{node.rank}"
        rc.notify(f"node {node.rank}: playbook {playbook.name}")

        def on_step(step: Any) -> None:
            if step.skipped:
                return
            sid = rc.ledger.start_step(rc.run_id, f"node {node.rank} {playbook.name}: {step.name}",
                                       log_path=str(step.log_path) if step.log_path else None, ts=step.started)
            rc.ledger.end_step(sid, step.exit_status, ts=step.ended)
            if step.kind == "get" and step.log_path and node.rank == 0:
                for line in Path(step.log_path).read_text().splitlines():
                    parts = line.split(" ", 3)
                    if len(parts) == 4:
                        rc.ledger.record_artifact(rc.run_id, parts[3], size=int(parts[1]), sha256=parts[2],
                                                  verified=parts[0] == "ok")

        scale = rc.ctx.settings.time_scale
        values = {k: v for k, v in variables.items() if k in playbook.vars}
        return run_playbook(nr.session, playbook, values, nr.facts, secrets, log_dir, on_step, local_dir=local_dir,
                            poll_s=max(0.05, 2.0 / scale), reattach_timeout=self.reattach_timeout)


def phase_for_cluster(ctx: Context, playbook: str, variables: dict[str, str]) -> ClusterPhase:
    """The multi-node remote phase for a playbook (or the built-in probe)."""
    if playbook == "gpu-probe":
        return ClusterProbePhase()
    return ClusterPlaybookPhase(ctx, playbook, variables)


# ---------------------------------------------------------------------------------------------
# metrics: per-node throughput and scaling efficiency


def cluster_rate(rate: float, library: str | None, world_size: int) -> float:
    """The whole job's env-steps/s from a TensorBoard rate (which counts rank 0's envs for some libraries)."""
    return rate * world_size if library in PER_RANK_LIBRARIES else rate


def record_scaling(ledger: Ledger, run_id: int, *, library: str | None = None) -> dict[str, float]:
    """Record nodes, cluster and per-node env-steps/s, and scaling efficiency against a one-node run.

    The reference is the newest succeeded one-node run of the same type, workload and vars with a
    throughput: efficiency = N-node throughput / (N × one-node throughput).
    """
    from lambdabench.ledger import MetricKey

    run = next(r for r in ledger.runs() if r.id == run_id)
    mine = _metrics(ledger, run_id)
    nodes = int(mine.get("nodes", 1))
    out: dict[str, float] = {"nodes": float(nodes)}
    itype_gpus = _gpus_of(run.instance_type)
    rate = mine.get(MetricKey.ENV_STEPS_PER_S)
    if rate is None:
        return out
    source = mine.get("__source_" + MetricKey.ENV_STEPS_PER_S)
    if source == "tensorboard" and library in PER_RANK_LIBRARIES:
        total = cluster_rate(rate, library, nodes * itype_gpus)
        ledger.record_metric(run_id, MetricKey.ENV_STEPS_PER_S, total, unit="steps/s", source="multinode")
        steps = mine.get(MetricKey.ENV_STEPS)
        if steps:
            ledger.record_metric(run_id, MetricKey.ENV_STEPS, steps * nodes * itype_gpus, unit="steps",
                                 source="multinode")
        rate = total
    out["env_steps_per_s"] = rate
    out["env_steps_per_s_per_node"] = rate / nodes
    ledger.record_metric(run_id, "env_steps_per_s_per_node", rate / nodes, unit="steps/s", source="multinode")
    ref = one_node_reference(ledger, run)
    if ref is not None:
        ref_id, ref_rate = ref
        if ref_rate > 0:
            eff = rate / (nodes * ref_rate)
            out["scaling_efficiency"] = eff
            out["scaling_reference_run"] = float(ref_id)
            ledger.record_metric(run_id, "scaling_efficiency", eff, unit="", source="multinode")
            ledger.record_metric(run_id, "scaling_reference_run", float(ref_id), unit="", source="multinode")
    return out


def one_node_reference(ledger: Ledger, run: Any) -> tuple[int, float] | None:
    """(run id, whole-job env-steps/s) of the newest succeeded one-node run of the same work, if any."""
    from lambdabench.ledger import MetricKey

    want_vars = (run.params or {}).get("vars") or {}
    library = want_vars.get("library")
    best: tuple[float, int, float] | None = None
    for other in ledger.runs():
        if other.id == run.id or other.status != "succeeded" or other.instance_type != run.instance_type:
            continue
        if other.workload != run.workload or ((other.params or {}).get("vars") or {}) != want_vars:
            continue
        m = _metrics(ledger, other.id)
        if int(m.get("nodes", 1)) != 1 or m.get(MetricKey.ENV_STEPS_PER_S) is None:
            continue
        rate = m[MetricKey.ENV_STEPS_PER_S]
        if m.get("__source_" + MetricKey.ENV_STEPS_PER_S) == "tensorboard":
            rate = cluster_rate(rate, library, _gpus_of(other.instance_type))
        key = (other.ended or other.created, other.id, rate)
        if best is None or key > best:
            best = key
    return None if best is None else (best[1], best[2])


def _metrics(ledger: Ledger, run_id: int) -> dict[str, Any]:
    """Latest value per key, plus `__source_<key>`: where it came from."""
    latest: dict[str, Any] = {}
    for m in sorted(ledger.metrics(run_id=run_id), key=lambda m: (m.recorded, m.id)):
        latest[m.key] = m.value
        latest["__source_" + m.key] = m.source
    return latest


def _gpus_of(type_name: str) -> int:
    from lambdabench.cloud.models import parse_type_name

    parsed = parse_type_name(type_name)
    return max(1, parsed.count if parsed and parsed.kind == "gpu" else 1)


def record_user_metrics(ledger: Ledger, run_id: int, run_dir: Path) -> dict[str, float]:
    """Numbers from rank 0's `<output_dir>/metrics.json` (the contract's metrics file), if it wrote one."""
    found = sorted(run_dir.glob("artifacts/**/metrics.json"))
    if not found:
        return {}
    try:
        doc = json.loads(found[0].read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for key, value in doc.items() if isinstance(doc, dict) else []:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and re.match(r"^[a-z_][a-z0-9_]*$", key):
            ledger.record_metric(run_id, key, float(value), source="workload")
            out[key] = float(value)
    return out


def plan_nodes(plan: SweepPlan) -> int:
    return max(1, int(getattr(plan, "nodes", 1) or 1))
