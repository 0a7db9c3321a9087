"""32 simultaneously active simulated instances, each reachable over SSH; GET /instances latency under load.

Starts the simulator (API over real HTTP + one sshd per instance), launches 32 instances, waits until all
are active, checks each answers `true` over SSH, then times GET /instances (median, p95) while the 32
hosts are up — against a baseline of the same call with no instances. Goal: median < 50 ms.
Usage: python bench/sim_scale.py [--instances 32] [--samples 200]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=32)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()

    import httpx

    from lambdabench.simulate import Scenario, running_simulator
    from lambdabench.sshkeys import ensure_local_key

    key = ensure_local_key(Path(tempfile.mkdtemp()) / "id_ed25519")
    sc = Scenario.from_dict({"rate_limits": {"enabled": False}, "capacity": {"gpu_1x_a10": {"us-east-1": 100}}})
    with running_simulator(scenario=sc, time_scale=600) as sim:
        api = httpx.Client(
            base_url=sim.env["LAMBDABENCH_API_URL"],
            headers={"Authorization": f"Bearer {sim.env['LAMBDA_API_KEY']}"},
            timeout=30,
        )

        def median_ms(n: int) -> tuple[float, float]:
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                api.get("/instances").raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            return statistics.median(times), times[int(len(times) * 0.95) - 1]

        base_med, base_p95 = median_ms(args.samples)
        api.post("/ssh-keys", json={"name": "bench", "public_key": key.public_key}).raise_for_status()
        t0 = time.monotonic()
        ids = []
        for i in range(args.instances):
            r = api.post(
                "/instance-operations/launch",
                json={
                    "region_name": "us-east-1",
                    "instance_type_name": "gpu_1x_a10",
                    "ssh_key_names": ["bench"],
                    "name": f"lambdabench-scale-{i}",
                },
            )
            r.raise_for_status()
            ids.extend(r.json()["data"]["instance_ids"])
        while True:
            data = api.get("/instances").json()["data"]
            active = [d for d in data if d["status"] == "active" and d.get("ip")]
            if len(active) == len(ids):
                break
            if time.monotonic() - t0 > 120:
                print(f"only {len(active)}/{len(ids)} active after 120 s")
                return 1
            time.sleep(0.2)
        up = time.monotonic() - t0
        reachable = 0
        for d in active:
            cmd = [
                "ssh",
                "-F",
                "/dev/null",
                "-i",
                str(key.private_path),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                "-p",
                sim.env["LAMBDABENCH_SSH_PORT"],
                f"{sim.env['LAMBDABENCH_SSH_USER']}@{d['ip']}",
                "true",
            ]
            reachable += subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
        med, p95 = median_ms(args.samples)
        print(
            f"instances active: {len(active)} (all up {up:.1f}s after the first launch); reachable over SSH: {reachable}"
        )
        print(f"GET /instances with   0 instances: median {base_med:.2f} ms, p95 {base_p95:.2f} ms")
        print(
            f"GET /instances with {len(active):>3} instances: median {med:.2f} ms, p95 {p95:.2f} ms "
            f"({med / base_med:.2f}x the empty baseline)"
        )
        print(
            f"goal: median < 50 ms with {args.instances} instances: {'met' if med < 50 and reachable == len(ids) else 'NOT met'}"
        )
        api.post("/instance-operations/terminate", json={"instance_ids": ids})
    return 0


if __name__ == "__main__":
    sys.exit(main())
