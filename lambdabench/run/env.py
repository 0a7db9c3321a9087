"""What the run wing needs from the outside world, resolved once: timeouts, SSH settings, folders.

Every cloud duration is divided by the time scale here and nowhere else (the simulator fast-forwards
the cloud; a real cloud has scale 1). Where local speed matters — logging in to a busy machine,
reattaching to a detached job, a DDP rendezvous — a floor in real seconds keeps a fast-forwarded
simulated cloud from timing out work that runs at this machine's own pace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdabench.config import Settings
    from lambdabench.secrets import Secret

DEFAULT_MAX_RUN_CLOUD_SECONDS = 3 * 3600.0  # a run cap for a benchmark whose playbooks declare no duration
LOCAL_RUN_FLOOR_SECONDS = 600.0  # set-up and benchmarks run at the local machine's pace on a simulated cloud


def run_cap_seconds(cloud_seconds: float, time_scale: float) -> float:
    """A default run cap in real seconds: scaled like the cloud, never under 10 real minutes when simulated."""
    if time_scale <= 1:
        return cloud_seconds
    return max(cloud_seconds / time_scale, LOCAL_RUN_FLOOR_SECONDS)


def run_cap_scaling(cloud_seconds: float, time_scale: float, *, floor: bool = True) -> str:
    """How a cap in cloud minutes became the one applied on a simulated cloud ("" on the real one)."""
    if time_scale <= 1:
        return ""
    scaled = cloud_seconds / time_scale
    text = f"{cloud_seconds / 60:g} cloud min ÷ the simulator's time scale {time_scale:g} = {scaled / 60:.1f} min"
    if floor and scaled < LOCAL_RUN_FLOOR_SECONDS:
        text += (
            f", raised to its {LOCAL_RUN_FLOOR_SECONDS / 60:g}-min floor (set-up and benchmarks run at this "
            "machine's pace)"
        )
    return text


@dataclass(frozen=True)
class Timeouts:
    """Per-stage limits in real seconds (cloud durations already divided by the time scale)."""

    capacity_wait: float = 1800.0  # how long a type may lack capacity before its run fails
    boot: float = 1800.0  # booting → active (8×H100 over 20 min: FIELD-NOTES "Lifecycle")
    unhealthy: float = 600.0  # unhealthy may never recover and is billed: time it out
    missing_grace: float = 120.0  # a new id may be missing from listings this long
    terminate: float = 600.0  # an id the API has not shown this long is given up on (named as may-bill)
    # one that the API shows but will not end yet (booting, refusing terminate), or an outage, is
    # waited on this long at most — past any boot (8×H100: 25 min) and a long maintenance window
    terminate_patience: float = 6 * 3600.0
    launch_lookup: float = 60.0  # an ambiguous launch answer: look the name up this long at once
    launch_reconcile: float = 600.0  # ...and at teardown, this long before giving up on the name
    poll: float = 5.0
    ssh_ready: float = 600.0  # sshd lags `active`
    ssh_first_delay: float = 1.0
    ssh_max_delay: float = 15.0
    reattach: float = 300.0  # a dropped SSH session during a detached step
    playbook_poll: float = 2.0
    rendezvous_join: float = 600.0  # torchrun's own default join timeout
    stop_grace: float = 10.0  # TERM → KILL for a step being stopped
    stop_connect: float = 30.0
    max_run_default: float = DEFAULT_MAX_RUN_CLOUD_SECONDS
    retry_base: float = 1.0  # the API client's first back-off
    retry_max_backoff: float = 60.0
    retry_after_cap: float = 60.0  # a longer Retry-After is an outage: retried this often, aloud

    @classmethod
    def for_scale(cls, time_scale: float) -> Timeouts:
        """Cloud durations divided by the scale; floors where this machine's own speed decides."""
        s = max(time_scale, 1e-9)
        base = cls()
        cloud = {
            name: getattr(base, name) / s
            for name in ("capacity_wait", "boot", "unhealthy", "missing_grace",
                         "terminate_patience", "launch_lookup", "launch_reconcile", "retry_base", "retry_max_backoff")
        }  # fmt: skip
        return replace(
            base,
            **cloud,
            poll=max(0.05, base.poll / s),
            # Retry-After counts whole seconds (RFC 9110): a cap under one second would call every 429 an outage
            retry_after_cap=max(1.0, base.retry_after_cap / s),
            # proving an instance gone takes rounds of real requests: on a loaded machine a
            # fast-forwarded cloud must not declare a slow but working teardown a failure
            terminate=max(30.0, base.terminate / s),
            # logging in to a loaded machine takes real seconds however fast the cloud runs
            ssh_ready=max(60.0, base.ssh_ready / s),
            ssh_first_delay=max(0.05, base.ssh_first_delay / s),
            ssh_max_delay=max(0.2, base.ssh_max_delay / s),
            reattach=max(60.0, base.reattach / s),
            playbook_poll=max(0.05, base.playbook_poll / s),
            rendezvous_join=max(30.0, base.rendezvous_join / s),
            stop_grace=max(1.0, base.stop_grace / s),
            stop_connect=max(2.0, base.stop_connect / s),
            max_run_default=run_cap_seconds(base.max_run_default, s),
        )


@dataclass(frozen=True)
class RunEnv:
    """Settings the run wing reads, as plain values (nothing below reads os.environ)."""

    home: Path
    timeouts: Timeouts
    time_scale: float = 1.0
    simulated: bool = False  # only labels results; behaviour never branches on it
    # aimed at the built-in simulator: the simulated setting and an API on loopback (consent.free_money's test), so a
    # real API URL is always the real cloud; the ledger's modelled largest-num_envs searches answer only such sweeps
    simulator: bool = False
    ssh_user: str = "ubuntu"
    ssh_port: int = 22
    ssh_key_path: Path | None = None
    verbose: bool = False
    ngc_api_key: Secret | None = None
    ssh_config: Path | None = None  # the user's ~/.ssh/config, for BYO host aliases

    @classmethod
    def from_settings(cls, settings: Settings, *, verbose: bool = False) -> RunEnv:
        from lambdabench.consent import free_money

        return cls(
            home=settings.home,
            timeouts=Timeouts.for_scale(settings.time_scale),
            time_scale=settings.time_scale,
            simulated=settings.simulated,
            simulator=free_money(simulated=settings.simulated, api_url=settings.api_url),
            ssh_user=settings.ssh_user,
            ssh_port=settings.ssh_port,
            ssh_key_path=settings.ssh_key_path,
            verbose=verbose,
            ngc_api_key=settings.ngc_api_key,
            ssh_config=settings.user_home / ".ssh" / "config",
        )

    def real_seconds(self, cloud_seconds: float) -> float:
        """A duration the user gave in cloud time (--max-run-minutes), in this process's seconds."""
        return cloud_seconds / max(self.time_scale, 1e-9)

    # -- the folder layout: <home>/runs/sweep-<id>/run-<id>-<label>/ ------------------------------

    @property
    def known_hosts(self) -> Path:
        return self.home / "known_hosts"

    @property
    def runs_root(self) -> Path:
        return self.home / "runs"

    def sweep_dir(self, sweep_id: int) -> Path:
        return self.runs_root / f"sweep-{sweep_id}"

    def run_dir(self, sweep_id: int, run_id: int, label: str) -> Path:
        return self.sweep_dir(sweep_id) / f"run-{run_id}-{slug(label)}"

    def adhoc_dir(self, instance: str, what: str, stamp: str) -> Path:
        return self.runs_root / "adhoc" / slug(instance) / f"{stamp}-{slug(what)}"

    def log_dir(self) -> Path:
        return self.home / "logs"


def slug(text: str) -> str:
    """A folder-safe form of a label: lowercase letters, digits, '-', '.'."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")[:60] or "run"
