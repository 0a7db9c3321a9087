"""Remote phases of a run: what happens on an instance between `active` and terminate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from lambdabench.errors import RemoteError

if TYPE_CHECKING:
    from lambdabench.context import Context
    from lambdabench.remote.ssh import Session, SshTarget
    from lambdabench.sweep import RunContext


def ssh_target(ctx: Context, host: str, instance_id: str | None) -> SshTarget:
    from lambdabench.remote.ssh import SshTarget

    s = ctx.settings
    ctx.local_key  # noqa: B018 - make sure the key exists before connecting
    return SshTarget(host=host, key_path=s.ssh_key_path, user=s.ssh_user, port=s.ssh_port, instance_id=instance_id)


def known_hosts_path(ctx: Context) -> Path:
    return ctx.settings.home / "known_hosts"


def open_session(ctx: Context, host: str, instance_id: str | None, *, timeout: float) -> Session:
    """Wait for sshd (it lags `active`), pin the host key on first use, return an open session."""
    from lambdabench.remote.ssh import KnownHosts, wait_for_ssh

    target = ssh_target(ctx, host, instance_id)
    scale = ctx.settings.time_scale
    return wait_for_ssh(
        target,
        timeout=timeout,
        first_delay=max(0.05, 1.0 / scale),
        max_delay=max(0.2, 15.0 / scale),
        known_hosts=KnownHosts(known_hosts_path(ctx)),
        verbose=ctx.verbose,
    )


def ssh_timeout(ctx: Context) -> float:
    return 600.0 / ctx.settings.time_scale


class ProbePhase:
    """The smallest useful remote phase: SSH in, record the GPUs the instance really has."""

    def __call__(self, rc: RunContext) -> None:
        ip = rc.instance.ip
        if not ip:
            raise RemoteError(f"{rc.launched.name} has no IP address")
        session = open_session(rc.ctx, ip, rc.launched.id, timeout=ssh_timeout(rc.ctx))
        try:
            rc.ledger.mark(rc.launched.name, "ssh_ready")
            rc.notify("ssh ready")
            log = rc.run_dir / "logs" / "gpu-probe.log"
            step = rc.ledger.start_step(rc.run_id, "gpu-probe", log_path=str(log))
            res = session.run(
                "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader",
                timeout=60, log_path=log, check=False,
            )
            rc.ledger.end_step(step, res.exit_status)
            if res.exit_status != 0:
                raise RemoteError(f"nvidia-smi failed on {rc.launched.name} (exit {res.exit_status})")
            gpus = [line for line in res.stdout.splitlines() if line.strip()]
            rc.ledger.record_metric(rc.run_id, "gpu_count", float(len(gpus)), unit="", source="nvidia-smi")
            rc.notify(f"{len(gpus)} × {gpus[0].split(',')[0] if gpus else '?'}")
            rc.ledger.mark(rc.launched.name, "bench_start")
            rc.ledger.mark(rc.launched.name, "bench_end", time.time())
        finally:
            session.close()


def playbook_exists(name: str) -> bool:
    try:
        from lambdabench.remote.playbook import find_playbook
    except ImportError:
        return False
    try:
        find_playbook(name)
    except Exception:  # noqa: BLE001 - absent or invalid: not the demo's default
        return False
    return True
