"""A tiny DDP training (CPU/gloo or GPU/NCCL) that proves a multi-node launch really trains as one job.

    python3 -m torch.distributed.run --nnodes=2 --node_rank=I ... ddp_tiny.py --steps 5 --out DIR

Each rank trains the same small model on its own deterministic data; DDP averages gradients, so the
parameters must stay identical on every rank. At the end every rank all-gathers a SHA-256 of its
parameters and of its last gradients; rank 0 writes DIR/ddp_result.json and DIR/metrics.json (the
lambdabench metrics contract: env_steps_per_s and env_steps, here samples), every rank writes
DIR/rank-<R>.json. Exits 1 when hashes disagree. --fail-rank R makes rank R exit 1 at --fail-step.
Stdlib + torch only, so it can be copied to an instance as one file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, default=64, help="samples per rank per step")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--out", type=Path, default=Path(os.environ.get("LAMBDABENCH_OUTPUT_DIR", "outputs")))
    p.add_argument("--timeout", type=float, default=60.0, help="collective timeout, seconds")
    p.add_argument("--fail-rank", type=int, default=None, help="this rank exits 1 at --fail-step")
    p.add_argument("--fail-step", type=int, default=2)
    p.add_argument("--step-sleep", type=float, default=0.0, help="seconds to sleep per step (tests)")
    return p.parse_args(argv)


def digest(tensors: list[Any]) -> str:
    """SHA-256 over the tensors' float32 bytes, in order."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().to("cpu", dtype=_torch().float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def _torch() -> Any:
    import torch

    return torch


def main(argv: list[str] | None = None) -> int:
    """Train, compare hashes across ranks, write the results."""
    args = parse_args(argv)
    torch = _torch()
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    cuda = torch.cuda.is_available()
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=args.timeout))
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    print(
        f"[ddp_tiny] rank {rank}/{world} on {socket.gethostname()} node {os.environ.get('GROUP_RANK', '?')} "
        f"({backend}, {device})",
        flush=True,
    )
    torch.manual_seed(0)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
    model = torch.nn.Sequential(
        torch.nn.Linear(args.width, args.width), torch.nn.Tanh(), torch.nn.Linear(args.width, 1)
    )
    ddp = DistributedDataParallel(model.to(device), device_ids=[local] if cuda else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1000 + rank)  # each rank its own data: gradients differ before averaging
    started = time.perf_counter()
    for step in range(args.steps):
        if args.fail_rank == rank and step == args.fail_step:
            print(f"[ddp_tiny] rank {rank}: failing at step {step} as asked", flush=True)
            os._exit(1)
        x = torch.randn(args.batch, args.width, generator=gen).to(device)
        y = x.sum(dim=1, keepdim=True).sin()
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(ddp(x), y)
        loss.backward()
        opt.step()
        if args.step_sleep:
            time.sleep(args.step_sleep)
    elapsed = time.perf_counter() - started
    params = [p for p in model.parameters()]
    mine = {
        "rank": rank,
        "params_sha256": digest(params),
        "grads_sha256": digest([p.grad for p in params if p.grad is not None]),
        "loss": float(loss),
    }
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, mine)
    agree = len({g["params_sha256"] for g in gathered}) == 1 and len({g["grads_sha256"] for g in gathered}) == 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"rank-{rank}.json").write_text(json.dumps(mine))
    if rank == 0:
        samples = args.steps * args.batch * world
        result = {
            "world_size": world,
            "steps": args.steps,
            "agree": agree,
            "ranks": gathered,
            "samples": samples,
            "seconds": elapsed,
            "samples_per_s": samples / max(elapsed, 1e-9),
        }
        (args.out / "ddp_result.json").write_text(json.dumps(result, indent=2))
        (args.out / "metrics.json").write_text(
            json.dumps({"env_steps_per_s": result["samples_per_s"], "env_steps": samples, "world_size": world})
        )
        print(
            f"[ddp_tiny] world {world}: parameters and gradients {'AGREE' if agree else 'DISAGREE'} "
            f"across ranks; {result['samples_per_s']:.0f} samples/s",
            flush=True,
        )
    dist.barrier()
    dist.destroy_process_group()
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
