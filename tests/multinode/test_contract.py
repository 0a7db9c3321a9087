"""Without torch: the torchrun flags, the environment contract, rank order, playbook rewriting, refusals."""

from __future__ import annotations

import shlex

import pytest

from lambdabench.cloud.models import Instance
from lambdabench.errors import UsageError
from lambdabench.remote.expr import render
from lambdabench.remote.playbook import find_playbook
from lambdabench.run.cluster import Cluster, adapt_playbook, node_address, rank_order
from lambdabench.run.nodes import ruleset_rules
from lambdabench.run.plan import Benchmark, SweepRequest, Target, check_multinode
from lambdabench.simulate import Sim


def test_torchrun_command_and_contract_per_rank() -> None:
    c = Cluster("lambdabench-3-7", ("10.0.0.5", "10.0.0.9"), 8, port=29400, join_timeout=120)
    words = shlex.split(c.torchrun_command(1, ["train.py", "--task", "it's"]))
    assert words[:3] == ["python3", "-m", "torch.distributed.run"]
    assert words[3:12] == [
        "--nnodes=2",
        "--node_rank=1",
        "--nproc_per_node=8",
        "--rdzv_backend=c10d",
        "--rdzv_endpoint=10.0.0.5:29400",
        "--rdzv_id=lambdabench-3-7",
        "--rdzv_conf=join_timeout=120,is_host=false",
        "--local_addr=10.0.0.9",
        "--max_restarts=0",
    ]
    assert words[12:] == ["train.py", "--task", "it's"]
    assert "is_host=true" in c.torchrun_args(0)[6]
    env0, env1 = c.env(0), c.env(1)
    assert env1 == {
        "LAMBDABENCH_NODE_RANK": "1",
        "LAMBDABENCH_NNODES": "2",
        "LAMBDABENCH_NODE_ADDR": "10.0.0.9",
        "LAMBDABENCH_NODE_ADDRS": "10.0.0.5,10.0.0.9",
        "LAMBDABENCH_MASTER_ADDR": "10.0.0.5",
        "LAMBDABENCH_MASTER_PORT": "29401",
        "LAMBDABENCH_GPUS_PER_NODE": "8",
        "LAMBDABENCH_RDZV_ENDPOINT": "10.0.0.5:29400",
        "LAMBDABENCH_RDZV_ID": "lambdabench-3-7",
        "LAMBDABENCH_OUTPUT_DIR": ".lambdabench/outputs",
        "LAMBDABENCH_SOCKET_IFNAME": "",
    }
    # only the node's own rank and address differ between nodes
    assert {k for k in env0 if env0[k] != env1[k]} == {"LAMBDABENCH_NODE_RANK", "LAMBDABENCH_NODE_ADDR"}


def test_rank_order_is_torchs_string_order_of_addresses() -> None:
    # torch's c10d rendezvous sorts nodes by (local_addr, pid, id): string order, not numeric
    assert rank_order(["10.0.0.9", "10.0.0.10", "10.0.0.5"]) == [1, 2, 0]


def test_private_ip_preferred_public_fallback_warns() -> None:
    both = Instance(id="a", status="active", ip="203.0.113.5", private_ip="10.19.0.2", name="n0")
    assert node_address(both).addr == "10.19.0.2"
    public = Instance(id="b", status="active", ip="203.0.113.6", private_ip=None, name="n1")
    got = node_address(public)
    assert got.addr == "203.0.113.6" and got.network == "public" and "no private_ip" in (got.warning or "")
    # no branch for the simulator: its hosts report their loopback address as the private IP
    sim_lo = Instance(id="d", status="active", ip="127.0.0.7", private_ip="127.0.0.7", name="n3")
    assert node_address(sim_lo).addr == "127.0.0.7"


def test_ruleset_opens_only_the_rendezvous_and_nccl_ports_from_each_node() -> None:
    rules = ruleset_rules(["10.0.0.5", "10.0.0.9"], 29400)
    assert {(r.source_network, r.port_range) for r in rules} == {
        ("10.0.0.5/32", (29400, 29401)),
        ("10.0.0.5/32", (32768, 60999)),
        ("10.0.0.9/32", (29400, 29401)),
        ("10.0.0.9/32", (32768, 60999)),
    }
    assert all(r.protocol == "tcp" for r in rules)


def test_isaaclab_train_multi_gpu_step_becomes_multi_node() -> None:
    c = Cluster("rid", ("127.0.0.2", "127.0.0.3"), 8, port=41000, join_timeout=30)
    playbook = find_playbook("isaaclab-train")
    adapted = adapt_playbook(playbook, c.env(1))
    step = next(s for s in adapted.steps if s.name == "train (multi-GPU)")
    values = adapted.resolve_vars({})
    line = render(step.body, adapted.namespace(values, {"gpus": 8, **c.facts(1)}))
    words = shlex.split(line)
    assert "--nnodes=1" not in words
    for flag in c.torchrun_args(1):
        if not flag.startswith("--nproc_per_node"):
            assert flag in words, (flag, line)
    assert "--nproc_per_node=8" in words and "--distributed" in words
    assert adapted.env["LAMBDABENCH_NODE_RANK"] == "1" and adapted.env["LAMBDABENCH_PHASE"] == "benchmark"
    # the single-node step and the original playbook are untouched
    assert (
        next(s for s in adapted.steps if s.name == "train").body
        == next(s for s in playbook.steps if s.name == "train").body
    )
    assert "--nnodes=1" in next(s for s in playbook.steps if s.name == "train (multi-GPU)").body
    # a playbook written for the contract is not rewritten
    torchrun = find_playbook("torchrun")
    assert [s.body for s in adapt_playbook(torchrun, c.env(0)).steps] == [s.body for s in torchrun.steps]


def test_plan_refuses_a_playbook_that_would_not_train_across_nodes(api_sim: Sim) -> None:
    lab = api_sim.lab(NGC_API_KEY="nvapi-simulated-test-key")  # isaaclab-train: setup logs in to nvcr.io
    types = {a.instance_type.name: Target(a.instance_type) for a in lab.cloud.list_instance_types()}

    def check(playbook: str, sets: dict[str, str], target: str) -> None:
        check_multinode(Benchmark.load(playbook, sets), [types[target]], 2)

    # isaaclab-train distributes across nodes even of 1-GPU types (one process per node)...
    check("isaaclab-train", {}, "gpu_1x_a10")
    check("isaaclab-train", {}, "gpu_8x_h100_sxm5")
    # ...unless told not to, or with a library that cannot (sb3): then --nodes would be N separate trainings
    with pytest.raises(UsageError, match="no torch.distributed.run step on gpu_1x_a10"):
        check("isaaclab-train", {"multi_gpu": "off"}, "gpu_1x_a10")
    check("torchrun", {"script": "t.py"}, "gpu_1x_a10")
    with pytest.raises(UsageError, match="--nodes 17 is out of range"):
        lab.plan(SweepRequest("a10", "gpu-probe", {}, nodes=17))
    plan = lab.plan(SweepRequest("8xh100", "isaaclab-train", {}, nodes=2))
    single = lab.plan(SweepRequest("8xh100", "isaaclab-train", {}))
    assert plan.nodes == 2 and plan.total_worst_case_cents == 2 * single.total_worst_case_cents
    lab.close()
