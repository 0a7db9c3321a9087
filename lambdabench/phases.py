"""Remote phases of a run: what happens on an instance between `active` and terminate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    """How long sshd may lag `active`: 10 cloud minutes, but never under a minute of real time (a
    loaded machine is slow to log in however fast the simulated cloud runs)."""
    return max(60.0, 600.0 / ctx.settings.time_scale)


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


SAMPLER = Path(__file__).parent / "remote" / "telemetry_sampler.sh"
REMOTE_SAMPLER = ".lambdabench/telemetry_sampler.sh"


def _declared(playbook: Any, variables: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in variables.items() if k in playbook.vars}


def check_playbook_for_types(ctx: Context, name: str, variables: dict[str, str], types: Any) -> None:
    """Refuse before launch: unknown playbook or var, bad value, or a type that cannot run it."""
    from lambdabench.errors import UsageError
    from lambdabench.gpuinfo import type_facts
    from lambdabench.remote.playbook import check_requirements, find_playbook

    playbook = find_playbook(name)
    helpers = [find_playbook(n) for n in (*playbook.before, *playbook.after)]
    known = set(playbook.vars) | {v for h in helpers for v in h.vars}
    unknown = sorted(set(variables) - known)
    if unknown:
        raise UsageError(
            f"playbook {name} has no variable {unknown[0]!r}",
            f"Its variables: {', '.join(sorted(playbook.vars))} (see `lambdabench playbooks show {name}`).",
        )
    playbook.resolve_vars(_declared(playbook, variables))  # type errors as one line, before launch
    for h in helpers:
        h.resolve_vars(_declared(h, variables))
    problems = []
    for itype in types:
        problems += check_requirements(playbook, _declared(playbook, variables), type_facts(itype))
    if problems:
        raise UsageError(problems[0], "Nothing was launched. Pick an RTX type (e.g. a10) or drop the option.")
    if playbook.secrets.get("NGC_API_KEY", {}).get("required") and not ctx.settings.ngc_api_key:
        raise UsageError(f"playbook {name} needs NGC_API_KEY", "Set it in the environment or .env.")


class PlaybookPhase:
    """A benchmark playbook as a sweep's remote phase, with the steps the seed's recipe needs around it:
    GPU preflight, (Isaac Lab) setup, telemetry, the benchmark, artifacts copied out and pulled, metrics."""

    def __init__(self, ctx: Context, name: str, variables: dict[str, str]) -> None:
        from lambdabench.remote.playbook import find_playbook

        self.name = name
        self.variables = dict(variables)
        self.playbook = find_playbook(name)
        text = " ".join(str(s.body) for s in self.playbook.steps)
        self.own_telemetry = "telemetry_sampler.sh" in text

    @classmethod
    def for_sweep(cls, ctx: Context, name: str, variables: dict[str, str]) -> PlaybookPhase:
        return cls(ctx, name, variables)

    def __call__(self, rc: RunContext) -> None:
        from lambdabench.gpuinfo import type_facts

        ip = rc.instance.ip
        if not ip:
            raise RemoteError(f"{rc.launched.name} has no IP address")
        session = open_session(rc.ctx, ip, rc.launched.id, timeout=ssh_timeout(rc.ctx))
        try:
            rc.ledger.mark(rc.launched.name, "ssh_ready")
            rc.notify("ssh ready")
            facts: dict[str, Any] = {**type_facts(rc.launched.instance_type), "simulated": rc.ctx.settings.simulated}
            facts.update(self._run(rc, session, "gpu-preflight", {}, facts))
            if self.playbook.before:
                rc.ledger.mark(rc.launched.name, "setup_start")
                for before in self.playbook.before:
                    facts.update(self._run(rc, session, before, self.variables, facts))
                rc.ledger.mark(rc.launched.name, "setup_end")
            bench_vars = dict(self.variables)
            if "gpus" in self.playbook.vars and "gpus" not in bench_vars:
                bench_vars["gpus"] = str(max(1, rc.launched.instance_type.gpus))
            if "simulated" in self.playbook.vars and "simulated" not in bench_vars:
                bench_vars["simulated"] = "true" if rc.ctx.settings.simulated else "false"
            sampling = not self.own_telemetry and rc.launched.instance_type.gpus > 0
            if sampling:
                self._sampler(session, "start")
            rc.ledger.mark(rc.launched.name, "bench_start")
            try:
                facts.update(self._run(rc, session, self.name, bench_vars, facts))
            finally:
                rc.ledger.mark(rc.launched.name, "bench_end")
                if sampling:
                    self._sampler(session, "stop")
            for after in self.playbook.after:
                self._run(rc, session, after, self.variables, facts)
            if sampling:
                from lambdabench.remote.transfer import pull

                pulled = pull(session, ".lambdabench/telemetry", rc.run_dir / "telemetry")
                self._record_files(rc, pulled.files, "telemetry")
            rc.ledger.mark(rc.launched.name, "pull_end")
        finally:
            session.close()
        from lambdabench.ingest import ingest_run

        ingest_run(rc, facts=facts, library=self.variables.get("library"))

    def _sampler(self, session: Session, action: str) -> None:
        if action == "start":
            session.run("mkdir -p .lambdabench/telemetry", timeout=60)
            session.put(SAMPLER, REMOTE_SAMPLER, 0o755)
            session.run(f"sh {REMOTE_SAMPLER} start .lambdabench/telemetry/telemetry.csv "
                        ".lambdabench/telemetry/sampler.pid 1000", timeout=60)
        else:
            session.run(f"sh {REMOTE_SAMPLER} stop .lambdabench/telemetry/sampler.pid", timeout=60, check=False)

    def _run(self, rc: RunContext, session: Session, name: str, variables: dict[str, str],
             facts: dict[str, Any]) -> dict[str, Any]:
        from lambdabench.remote.playbook import find_playbook, run_playbook
        from lambdabench.secrets import Secret

        playbook = self.playbook if name == self.name else find_playbook(name)
        secrets: dict[str, Secret] = {}
        ngc = rc.ctx.settings.ngc_api_key
        if ngc is not None and "NGC_API_KEY" in playbook.secrets:
            secrets["NGC_API_KEY"] = ngc
        log_dir = rc.run_dir / "logs" / name
        rc.notify(f"playbook {name}")
        steps: dict[int, int] = {}

        def on_step(step: Any) -> None:
            if step.skipped:
                return
            sid = rc.ledger.start_step(rc.run_id, f"{name}: {step.name}",
                                       log_path=str(step.log_path) if step.log_path else None, ts=step.started)
            rc.ledger.end_step(sid, step.exit_status, ts=step.ended)
            steps[sid] = step.exit_status or 0
            if step.kind == "get" and step.log_path:
                self._record_log(rc, step)

        scale = rc.ctx.settings.time_scale
        result = run_playbook(
            session, playbook, _declared(playbook, variables), facts, secrets, log_dir, on_step,
            local_dir=rc.run_dir, poll_s=max(0.05, 2.0 / scale), reattach_timeout=max(60.0, 300.0 / scale),
        )
        result.raise_for_status()
        return dict(result.facts)

    def _record_log(self, rc: RunContext, step: Any) -> None:
        """The verified files a `get` step pulled (its log lists `ok SIZE SHA256 PATH`)."""
        for line in Path(step.log_path).read_text().splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4 and parts[0] in ("ok", "FAILED") and parts[1].isdigit():
                verdict, size, sha, path = parts
                rc.ledger.record_artifact(rc.run_id, path, size=int(size), sha256=sha, verified=verdict == "ok")

    def _record_files(self, rc: RunContext, files: Any, prefix: str) -> None:
        for f in files:
            rc.ledger.record_artifact(rc.run_id, f"{prefix}/{f.path}", size=f.size, sha256=f.sha256,
                                      verified=f.verified)


def run_named_playbook(ctx: Context, session: Session, name: str, variables: dict[str, str],
                       instance: Any, log_root: Path) -> dict[str, Any]:
    """One playbook on an open session (for `run` and `shell --setup`); returns its facts."""
    from lambdabench.remote.playbook import find_playbook, run_playbook
    from lambdabench.secrets import Secret

    playbook = find_playbook(name)
    facts: dict[str, Any] = {"simulated": ctx.settings.simulated}
    if instance is not None and instance.instance_type is not None:
        from lambdabench.gpuinfo import type_facts

        facts.update(type_facts(instance.instance_type))
    secrets: dict[str, Secret] = {}
    if ctx.settings.ngc_api_key is not None and "NGC_API_KEY" in playbook.secrets:
        secrets["NGC_API_KEY"] = ctx.settings.ngc_api_key
    variables = dict(variables)
    if "gpus" in playbook.vars and "gpus" not in variables and facts.get("gpus"):
        variables["gpus"] = str(facts["gpus"])
    if "simulated" in playbook.vars and "simulated" not in variables:
        variables["simulated"] = "true" if ctx.settings.simulated else "false"

    def on_step(step: Any) -> None:
        state = "skipped" if step.skipped else ("ok" if step.ok else f"FAILED ({step.error or step.exit_status})")
        ctx.notify(f"  {name}: {step.name}: {state}")

    scale = ctx.settings.time_scale
    result = run_playbook(session, playbook, {k: v for k, v in variables.items() if k in playbook.vars}, facts,
                          secrets, log_root / "logs" / name, on_step, local_dir=log_root,
                          poll_s=max(0.05, 2.0 / scale), reattach_timeout=max(60.0, 300.0 / scale))
    result.raise_for_status()
    return dict(result.facts)


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
