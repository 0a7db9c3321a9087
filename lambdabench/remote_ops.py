"""The library calls behind the commands that reach into an instance: exec, shell, tensorboard, ssh-config."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lambdabench.cloud.models import Instance
from lambdabench.context import Context
from lambdabench.errors import UsageError


def find_instance(ctx: Context, ref: str) -> Instance:
    """An instance by id or name, active with an IP, or a one-line error."""
    listed = ctx.cloud.list_instances()
    match = [i for i in listed if i.id == ref or i.name == ref]
    if not match:
        raise UsageError(f"No instance with id or name {ref!r}", "List them with `lambdabench ls`.")
    live = [i for i in match if not i.is_ending] or match
    inst = live[0]
    if inst.status != "active" or not inst.ip:
        raise UsageError(f"Instance {ref} is {inst.status}, not active", "Wait for it (`lambdabench ls`).")
    return inst


def exec_command(ctx: Context, ref: str, argv: list[str], *, timeout: float | None) -> int:
    """Run argv (each word quoted) on the instance; streams output; returns its exit status."""
    from lambdabench.phases import open_session

    if not argv:
        raise UsageError("No command given", "Write it after --, e.g. `lambdabench exec NAME -- nvidia-smi`.")
    inst = find_instance(ctx, ref)
    session = open_session(ctx, inst.ip or "", inst.id, timeout=60)
    try:
        res = session.exec(argv, timeout=timeout, check=False, echo=False)
    finally:
        session.close()
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    return res.exit_status


def ssh_config(ctx: Context) -> str:
    """An OpenSSH Include file with one `Host lambdabench-<name>` per active instance of ours."""
    from lambdabench.instances import is_ours
    from lambdabench.phases import known_hosts_path, ssh_target
    from lambdabench.remote.ssh import ssh_config_include

    entries = {}
    for inst in ctx.cloud.list_instances():
        if inst.status == "active" and inst.ip and inst.name and is_ours(inst):
            entries[inst.name.removeprefix("lambdabench-")] = ssh_target(ctx, inst.ip, inst.id)
    return ssh_config_include(entries, known_hosts_path(ctx))


def tensorboard(ctx: Context, ref: str, *, local_port: int, remote_port: int) -> int:
    """Forward 127.0.0.1:<local> to the instance's TensorBoard until Ctrl-C."""
    from lambdabench.phases import known_hosts_path, open_session, ssh_target
    from lambdabench.remote.ssh import start_tunnel

    inst = find_instance(ctx, ref)
    open_session(ctx, inst.ip or "", inst.id, timeout=60).close()  # pins the host key
    proc = start_tunnel(ssh_target(ctx, inst.ip or "", inst.id), known_hosts_path(ctx),
                        local_port=local_port, remote_port=remote_port)
    print(f"TensorBoard of {inst.name or inst.id}: http://localhost:{local_port}  (Ctrl-C to close)", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=5)


@dataclass
class ShellOutcome:
    exit_status: int
    launched: str | None
    kept: bool
    cost_line: str | None


def shell(ctx: Context, *, ref: str | None, gpu: str | None, keep: bool, setup: bool,
          command: str | None = None) -> ShellOutcome:
    """An interactive shell on an instance; one launched here is terminated on exit unless --keep."""
    from lambdabench import ops
    from lambdabench.cost import dollars as cent_minutes_to_dollars
    from lambdabench.cost import format_dollars, instance_cost
    from lambdabench.instances import terminate_and_verify
    from lambdabench.phases import known_hosts_path, open_session, ssh_target, ssh_timeout
    from lambdabench.remote.ssh import openssh_argv

    if (ref is None) == (gpu is None):
        raise UsageError("Give either an INSTANCE or --gpu", "e.g. `lambdabench shell --gpu a10`.")
    launched_name = None
    try:
        if gpu is not None:
            res = ops.launch(ctx, gpu, region=None, label="shell", wait=True)
            launched_name = res.name
            inst = find_instance(ctx, res.id)
        else:
            inst = find_instance(ctx, ref or "")
        session = open_session(ctx, inst.ip or "", inst.id, timeout=ssh_timeout(ctx))
        if launched_name:
            ctx.ledger.mark(launched_name, "ssh_ready")
        if setup:
            from lambdabench.phases import run_named_playbook

            run_named_playbook(ctx, session, "setup", {}, inst, Path(ctx.settings.home / "runs" / "shell"))
        session.close()
        argv = openssh_argv(ssh_target(ctx, inst.ip or "", inst.id), known_hosts_path(ctx), command,
                            tty=command is None and sys.stdin.isatty(), batch=False)
        status = subprocess.run(argv, check=False).returncode
    finally:
        cost_line = None
        if launched_name and not keep:
            terminate_and_verify(ctx.cloud, ctx.ledger, [launched_name], timeouts=ctx.timeouts, notify=ctx.notify)
            row = ctx.ledger.instance(launched_name)
            c = instance_cost(row)
            cost_line = (f"{launched_name} terminated; this session cost "
                         f"{format_dollars(cent_minutes_to_dollars(c.policy_cent_minutes))} "
                         f"({c.policy_minutes} billed min, at most "
                         f"{format_dollars(cent_minutes_to_dollars(c.upper_cent_minutes))})")
            ctx.notify(cost_line)
        elif launched_name:
            ctx.notify(f"{launched_name} kept running (--keep): it bills until `lambdabench down {launched_name}`")
    return ShellOutcome(status, launched_name, keep, cost_line)


def _adhoc_dir(ctx: Context, inst: Instance, what: str) -> Path:
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return ctx.settings.home / "runs" / "adhoc" / (inst.name or inst.id) / f"{stamp}-{what}"


def run_playbook_on(ctx: Context, ref: str, name: str, variables: dict[str, str]) -> tuple[Path, dict[str, object]]:
    """`lambdabench run INSTANCE PLAYBOOK`: requirements checked first, then every step, logs kept locally."""
    from lambdabench.gpuinfo import type_facts
    from lambdabench.phases import open_session, run_named_playbook, ssh_timeout
    from lambdabench.remote.playbook import check_requirements, find_playbook

    playbook = find_playbook(name)
    unknown = sorted(set(variables) - set(playbook.vars))
    if unknown:
        raise UsageError(f"playbook {name} has no variable {unknown[0]!r}",
                         f"Its variables: {', '.join(sorted(playbook.vars)) or '(none)'}.")
    playbook.resolve_vars(variables)
    inst = find_instance(ctx, ref)
    if inst.instance_type is not None:
        problems = check_requirements(playbook, variables, type_facts(inst.instance_type))
        if problems:
            raise UsageError(problems[0], "Nothing was run.")
    out_dir = _adhoc_dir(ctx, inst, name)
    session = open_session(ctx, inst.ip or "", inst.id, timeout=ssh_timeout(ctx))
    try:
        facts = run_named_playbook(ctx, session, name, variables, inst, out_dir)
    finally:
        session.close()
    return out_dir, facts


def pull(ctx: Context, ref: str, *, src: str | None, include: list[str], dest: Path | None) -> tuple[Path, int, int]:
    """`lambdabench pull`: Isaac Lab logs copied out of the container first (or SRC), then pulled, verified."""
    from lambdabench.errors import RemoteError
    from lambdabench.phases import open_session, run_named_playbook, ssh_timeout
    from lambdabench.remote.transfer import pull as pull_dir

    inst = find_instance(ctx, ref)
    out_dir = dest or _adhoc_dir(ctx, inst, "pull")
    session = open_session(ctx, inst.ip or "", inst.id, timeout=ssh_timeout(ctx))
    try:
        if src is None:
            run_named_playbook(ctx, session, "collect", {"pull": "false"}, inst, out_dir)
            src = "lambdabench-artifacts/logs"
        result = pull_dir(session, src, out_dir / "artifacts", include=include or None)
    finally:
        session.close()
    if not result.ok:
        raise RemoteError(f"{len(result.failed)} file(s) failed verification: {', '.join(f.path for f in result.failed[:5])}",
                          "Run `lambdabench pull` again: verified files are skipped, the rest re-fetched.")
    return out_dir / "artifacts", len(result.files), result.bytes


LIVESTREAM_PORTS = {  # Isaac Sim's native streaming client (1) and WebRTC (2)
    "1": [("tcp", 47995, 48012), ("udp", 47995, 48012), ("tcp", 49000, 49007), ("udp", 49000, 49007),
          ("tcp", 49100, 49100)],
    "2": [("tcp", 8211, 8211), ("udp", 8211, 8211), ("tcp", 49100, 49100)],
}


def stream(ctx: Context, ref: str, *, mode: str, script: str, container: str, until: object = None) -> str:
    """Livestream on an RTX instance: firewall opened for the caller's address only, closed afterwards."""
    from lambdabench.cloud.models import FirewallRule
    from lambdabench.gpuinfo import type_facts
    from lambdabench.phases import open_session
    from lambdabench.remote import shell as sh

    inst = find_instance(ctx, ref)
    facts = type_facts(inst.instance_type) if inst.instance_type else {"rtx": False, "name": "?"}
    if not facts["rtx"]:
        raise UsageError(
            f"{inst.instance_type.name if inst.instance_type else ref} has no RT cores: Isaac Sim cannot livestream there",
            "Use an RTX type such as a10 (train on any type, then play back on an RTX one).",
        )
    session = open_session(ctx, inst.ip or "", inst.id, timeout=60)
    # the instance sees our public address as the SSH client: no third-party lookup needed
    caller = session.run('printf %s "${SSH_CLIENT%% *}"', timeout=30).stdout.strip()
    if not caller:
        raise UsageError("could not tell this machine's address as the instance sees it")
    description = f"lambdabench-stream {inst.id}"
    before = ctx.cloud.list_firewall_rules()
    ours = [FirewallRule(proto, f"{caller}/32", description, (lo, hi)) for proto, lo, hi in LIVESTREAM_PORTS[mode]]
    ctx.cloud.set_firewall_rules([*before, *ours])
    ctx.notify(f"firewall: opened {len(ours)} livestream rule(s) for {caller}/32 only")
    try:
        cmd = (f"/workspace/isaaclab/isaaclab.sh -p {sh.quote(script)} --livestream {sh.quote(mode)} --headless")
        session.run(sh.in_container(container, f"setsid nohup {cmd} > \"$HOME\"/livestream.log 2>&1 &"), timeout=120)
        ctx.notify(f"livestream starting on {inst.ip}: connect your Omniverse Streaming Client to {inst.ip} "
                   "(Ctrl-C here stops it and closes the firewall)")
        if callable(until):
            until()
        else:
            import time

            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        try:
            session.run(sh.in_container(container, "pkill -INT -f -- '--livestream' || true"), timeout=60, check=False)
        finally:
            session.close()
            current = ctx.cloud.list_firewall_rules()
            ctx.cloud.set_firewall_rules([r for r in current if r.description != description])
            ctx.notify("firewall: livestream rules removed")
    return caller
