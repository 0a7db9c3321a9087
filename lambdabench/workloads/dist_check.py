"""Multi-GPU path check: a tiny DDP training under torch.distributed.run, one process per GPU.

    python3 -m torch.distributed.run --standalone --nproc_per_node=N dist_check.py [--out DIR]

NCCL on GPUs (each rank on its own GPU, checked by device index, PCI bus id and UUID), gloo on
CPU. Prints per-rank and total samples/s (total = sum of each rank's own rate over one
barrier-synchronised window), checks that parameters and gradients agree across ranks, and with
--fail-rank K makes rank K fail mid-run so the launch must fail fast instead of hanging.
Stdlib + torch only, plus the sibling aggregate.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

# NVLink multicast (NVLS) can take a shared host's GPUs out of service; this check never needs it
os.environ["NCCL_NVLS_ENABLE"] = "0"
os.environ["TORCH_SYMM_MEM_DISABLE_MULTICAST"] = "1"

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aggregate  # noqa: E402  (sibling file, copied with this script)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["auto", "nccl", "gloo"], default="auto")
    p.add_argument("--steps", type=int, default=50, help="timed training steps")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    p.add_argument("--batch", type=int, default=512, help="samples per rank per step")
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=120.0, help="collective timeout, seconds")
    p.add_argument("--out", type=Path, default=None, help="folder for dist-check.json (rank 0)")
    p.add_argument("--fail-rank", type=int, default=None, help="this rank exits 1 mid-run")
    args = p.parse_args(argv)
    if args.steps <= 0 or args.batch <= 0 or args.warmup < 0:
        p.error("--steps and --batch must be positive, --warmup non-negative")
    return args


def _log(rank: int, message: str) -> None:
    print(f"[dist_check rank {rank}] {message}", flush=True)


def device_identity(torch: Any, index: int | None) -> dict[str, Any]:
    """Index, name, PCI bus id and UUID of a CUDA device (CPU: all None but the name)."""
    if index is None:
        return {"index": None, "name": "cpu", "pci_bus_id": None, "uuid": None}
    props = torch.cuda.get_device_properties(index)
    pci = None
    if hasattr(props, "pci_bus_id"):
        pci = f"{getattr(props, 'pci_domain_id', 0):04x}:{props.pci_bus_id:02x}:" + (
            f"{getattr(props, 'pci_device_id', 0):02x}"
        )
    uuid = getattr(props, "uuid", None)
    return {
        "index": index,
        "name": props.name,
        "pci_bus_id": pci,
        "uuid": str(uuid) if uuid else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Train, time, aggregate, verify; rank 0 writes the summary."""
    args = parse_args(argv)
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    backend = args.backend
    if backend == "auto":
        usable = torch.cuda.is_available() and torch.cuda.device_count() >= local_world
        backend = "nccl" if usable else "gloo"
    if backend == "nccl":
        if torch.cuda.device_count() <= local_rank:
            raise RuntimeError(f"rank {rank}: LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s)")
        torch.cuda.set_device(local_rank)
        if torch.cuda.current_device() != local_rank:
            raise RuntimeError(f"rank {rank}: current_device {torch.cuda.current_device()}")
        device = torch.device("cuda", local_rank)
    else:
        torch.set_num_threads(1)  # several ranks share the CPU cores
        device = torch.device("cpu")
    init: dict[str, Any] = {"backend": backend, "timeout": timedelta(seconds=args.timeout)}
    if backend == "nccl":
        init["device_id"] = device
    dist.init_process_group(**init)
    ident = device_identity(torch, local_rank if backend == "nccl" else None)
    _log(rank, f"backend={backend} world={world} device={ident}")

    def sync() -> None:
        if backend == "nccl":
            torch.cuda.synchronize(device)

    def barrier() -> None:
        if backend == "nccl":
            dist.barrier(device_ids=[local_rank])
        else:
            dist.barrier()

    # every rank's device identity, so duplicates are caught before timing anything
    identities: list[Any] = [None] * world
    dist.all_gather_object(identities, ident)
    aggregate.check_distinct_devices({r: (i["uuid"] or i["pci_bus_id"]) for r, i in enumerate(identities)})

    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(256, args.width),
        torch.nn.ReLU(),
        torch.nn.Linear(args.width, args.width),
        torch.nn.ReLU(),
        torch.nn.Linear(args.width, 10),
    ).to(device)
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if backend == "nccl" else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator(device=device).manual_seed(args.seed * 1000 + rank)
    x = torch.randn(args.batch, 256, device=device, generator=gen)
    y = torch.randint(0, 10, (args.batch,), device=device, generator=gen)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(ddp(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    for _ in range(args.warmup):
        train_step()
    sync()
    barrier()
    t0 = time.perf_counter()
    for step in range(args.steps):
        if args.fail_rank == rank and step == args.steps // 2:
            # a crash mid-run: the others are inside a collective and must not wait forever. os._exit, not SystemExit:
            # the interpreter's teardown with the gloo group still up now and then aborted (SIGABRT) instead of
            # exiting 1 (CI under load, 2026-12-05), and a crash runs no teardown anyway
            print(
                f"rank {rank}: --fail-rank {rank} set, exiting 1 at step {step} (unix time {time.time():.3f})",
                file=sys.stderr,
                flush=True,
            )
            sys.stdout.flush()
            os._exit(1)
        loss = train_step()
    sync()
    seconds = time.perf_counter() - t0
    barrier()
    rate = args.batch * args.steps / seconds

    rates: list[Any] = [None] * world
    dist.all_gather_object(rates, rate)
    total = aggregate.sum_rank_rates(dict(enumerate(rates)), world)

    # parameters and gradients must agree after DDP's averaging: all-reduce each rank's checksum
    # into its own slot, then compare the slots
    with torch.no_grad():
        sums = torch.zeros(2, world, dtype=torch.float64, device=device)
        sums[0, rank] = sum(p.double().sum() for p in model.parameters())
        sums[1, rank] = sum(p.grad.double().sum() for p in model.parameters() if p.grad is not None)
        dist.all_reduce(sums)
    params, grads = sums[0].tolist(), sums[1].tolist()
    spread = max(max(params) - min(params), max(grads) - min(grads))
    agree = spread <= 1e-9 * max(1.0, max(abs(v) for v in params + grads))
    _log(rank, f"{rate:.1f} samples/s over {seconds:.3f}s, loss {loss:.4f}")
    if rank == 0:
        summary = {
            "backend": backend,
            "world_size": world,
            "batch_per_rank": args.batch,
            "steps": args.steps,
            "per_rank": [{"rank": r, "samples_per_s": rates[r], "device": identities[r]} for r in range(world)],
            "total_samples_per_s": total,
            "rule": "total = sum of each rank's own samples/s over one barrier-synchronised window",
            "param_checksums": params,
            "grad_checksums": grads,
            "replicas_agree": agree,
            "nccl_nvls_enable": os.environ.get("NCCL_NVLS_ENABLE"),
        }
        print("DIST_CHECK " + json.dumps(summary, sort_keys=True), flush=True)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "dist-check.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    # every rank tears down together: a rank that closes its connections while rank 0 still writes the
    # summary can leave gloo's pending I/O on rank 0 to abort (SIGABRT after a complete run, seen under load)
    barrier()
    dist.destroy_process_group()
    if not agree:
        _log(rank, f"replicas disagree: params {params} grads {grads}")
        return 5
    return 0


if __name__ == "__main__":
    sys.exit(main())
