"""The multi-node contract, pure: torchrun flags, the environment every node sees, rank order.

A run with N > 1 nodes trains once across them through torch.distributed.run's c10d rendezvous:
`--nnodes=N --node_rank=i --rdzv_backend=c10d --rdzv_endpoint=<rank 0>:<port>`. Every step of the
benchmark playbook sees `LAMBDABENCH_*` variables (Cluster.env) and `facts.*` (Cluster.facts); a step
that launches torchrun single-node is given the cluster's flags (adapt_playbook). docs/multinode.md.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdabench.errors import RemoteError
from lambdabench.remote import shell

if TYPE_CHECKING:
    from lambdabench.cloud.models import Instance
    from lambdabench.remote.playbook import Playbook

RDZV_PORT = 29400  # torchrun's c10d default; LAMBDABENCH_MASTER_PORT is the next one
JOIN_TIMEOUT_S = 600.0  # torchrun's own default: every node must join the rendezvous within this
LAUNCHER = re.compile(r"(torch\.distributed\.run|torchrun)\b")
_SINGLE_NODE = re.compile(r"--nnodes[= ]1\b(?!:)|--standalone\b")


@dataclass(frozen=True)
class Cluster:
    """The nodes of one multi-node run, in rank order, and everything derived from them."""

    run_key: str  # the rendezvous id
    addrs: tuple[str, ...]  # rank order (string order: torch's c10d ranks nodes by --local_addr)
    gpus_per_node: int
    port: int = RDZV_PORT
    join_timeout: float = JOIN_TIMEOUT_S
    output_dir: str = ".lambdabench/outputs"
    ifnames: tuple[str, ...] = ()  # per rank: the interface that reaches rank 0 (NCCL/GLOO_SOCKET_IFNAME)

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
        # is_host pins the store to node 0 (when the nodes share one machine every address is local)
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
            "LAMBDABENCH_SOCKET_IFNAME": self.ifname(rank),
        }

    def ifname(self, rank: int) -> str:
        return self.ifnames[rank] if rank < len(self.ifnames) else ""

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
            "socket_ifname": self.ifname(rank),
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

    def torchrun_command(
        self, rank: int, program: Sequence[str], *, python: str = "python3", nproc_per_node: int | None = None
    ) -> str:
        """One shell line: `python3 -m torch.distributed.run <flags> <program...>`, every word quoted."""
        return shell.join([python, "-m", "torch.distributed.run", *self.torchrun_args(rank, nproc_per_node), *program])


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
    network: str  # private | public
    warning: str | None = None


def node_address(instance: Instance) -> NodeAddress:
    """The address the other nodes reach this one at: the private IP, else the public one with a warning."""
    private, public = instance.private_ip, instance.ip
    if private:
        return NodeAddress(private, "private")
    if not public:
        raise RemoteError(f"{instance.name or instance.id} has neither a private nor a public IP")
    return NodeAddress(
        public,
        "public",
        f"{instance.name or instance.id} has no private_ip: the nodes talk over "
        f"the public network ({public}); expect slower collectives",
    )


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


# On a node: a free TCP port pair for the rendezvous store and master (a port busy there — another
# job, or another simulated node on the same machine — moves the rendezvous instead of failing it)
FREE_PORT_PAIR = (
    "python3 -c 'import socket\n"
    "for p in range(29400, 29800, 2):\n"
    "  try:\n"
    '    a, b = socket.socket(), socket.socket(); a.bind(("", p)); b.bind(("", p + 1))\n'
    "  except OSError: continue\n"
    "  finally:\n"
    "    a.close(); b.close()\n"
    "  print(p); break'"
)
# On a node: the interface its traffic to rank 0 leaves by (for GLOO/NCCL_SOCKET_IFNAME); empty if unknown
IFNAME_TOWARDS = "ip -o route get {addr} 2>/dev/null | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p' | head -n 1"
