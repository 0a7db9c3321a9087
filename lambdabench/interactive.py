"""One live instance by hand: exec, shell, pull, run a playbook, TensorBoard tunnel, livestream, ssh-config.

Each function takes the Lab (for its cloud, ledger, settings and connector) and what the user typed;
an instance is found by id, name or `launch --name` label, through the cloud and the ledger.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdabench.errors import RemoteError, UsageError
from lambdabench.run.nodes import WEBRTC_PORTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from lambdabench.cloud.models import Instance
    from lambdabench.consent import Spend
    from lambdabench.lab import Lab
    from lambdabench.remote.ssh import Session, SshTarget


def find_instance(lab: Lab, ref: str) -> Instance:
    """An instance by id, name or label, active with an IP, or a one-line error."""
    listed = lab.cloud.list_instances()
    matches = lab.resolve(ref, listed=listed)
    by_id = {i.id: i for i in listed}
    found = [by_id[iid] for _, iid in matches if iid in by_id]
    if not found:
        raise UsageError(f"Instance {ref} is not listed by the API yet", "Wait a moment (`lambdabench ls`).")
    live = [i for i in found if not i.is_ending] or found
    inst = live[0]
    if inst.status != "active" or not inst.ip:
        raise UsageError(f"Instance {ref} is {inst.status}, not active", "Wait for it (`lambdabench ls`).")
    return inst


def target(lab: Lab, inst: Instance) -> SshTarget:
    from lambdabench.run.connect import Connect

    assert isinstance(lab.connect, Connect)
    return lab.connect.target(inst.ip or "", inst.id)


def open_session(lab: Lab, inst: Instance, *, timeout: float | None = None) -> Session:
    from lambdabench.run.connect import Connect

    assert isinstance(lab.connect, Connect)
    return lab.connect.ssh(target(lab, inst), timeout=timeout or lab.env.timeouts.ssh_ready)


def exec_command(lab: Lab, ref: str, argv: list[str], *, timeout: float | None) -> int:
    """Run argv (each word quoted) on the instance; prints its output; returns its exit status."""
    if not argv:
        raise UsageError("No command given", "Write it after --, e.g. `lambdabench exec NAME -- nvidia-smi`.")
    inst = find_instance(lab, ref)
    session = open_session(lab, inst, timeout=60)
    try:
        res = session.exec(argv, timeout=timeout, check=False, echo=False)
    finally:
        session.close()
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    return res.exit_status


def ssh_config(lab: Lab) -> str:
    """An OpenSSH Include file with one `Host lambdabench-<name>` per active instance of ours."""
    import ipaddress

    from lambdabench.remote.ssh import ssh_alias_ok, ssh_config_include
    from lambdabench.render import printable
    from lambdabench.run.nodes import is_ours

    entries = {}
    left_out: list[str] = []
    for inst in lab.cloud.list_instances():
        if inst.status == "active" and inst.ip and inst.name and is_ours(inst):
            alias = inst.name.removeprefix("lambdabench-")
            try:
                ipaddress.ip_address(inst.ip)
            except ValueError:
                left_out.append(
                    f"{printable(inst.name)} ({printable(inst.id)}): its IP {printable(inst.ip)} is no address"
                )
                continue
            if not ssh_alias_ok(alias):
                # one odd name (another tool's, a colleague's) must not cost everyone else their entries
                left_out.append(f"{printable(inst.name)} ({printable(inst.id)}): not usable as an ssh host alias")
                continue
            entries[alias] = target(lab, inst)
    text = ssh_config_include(entries, lab.env.known_hosts)
    return text + "".join(f"# left out: {line}\n" for line in left_out)


def tensorboard(lab: Lab, ref: str, *, local_port: int, remote_port: int) -> int:
    """Forward 127.0.0.1:<local> to the instance's TensorBoard until Ctrl-C."""
    from lambdabench.remote.ssh import start_tunnel

    inst = find_instance(lab, ref)
    open_session(lab, inst, timeout=60).close()  # pins the host key
    proc = start_tunnel(target(lab, inst), lab.env.known_hosts, local_port=local_port, remote_port=remote_port)
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


def shell(
    lab: Lab,
    *,
    ref: str | None,
    gpu: str | None,
    keep: bool,
    setup: bool,
    command: str | None = None,
    confirm: Callable[[Spend], None] | None = None,
) -> ShellOutcome:
    """An interactive shell on an instance; one launched here is terminated on exit unless --keep.

    SIGHUP (a closed terminal or SSH session) and SIGTERM end the session like an exit: the launched
    instance is still terminated and proven gone.
    """
    import signal

    from lambdabench.cost import dollars as cent_minutes_to_dollars
    from lambdabench.cost import format_dollars, instance_cost
    from lambdabench.remote.ssh import openssh_argv
    from lambdabench.run.nodes import TerminateTarget, terminate_and_verify

    if (ref is None) == (gpu is None):
        raise UsageError("Give either an INSTANCE or --gpu", "e.g. `lambdabench shell --gpu a10`.")
    launched: tuple[str, str] | None = None
    status = 1
    previous: dict[signal.Signals, Any] = {}
    proc: subprocess.Popen[bytes] | None = None

    def hangup(signum: int, frame: Any) -> None:
        if proc is not None and proc.poll() is None:
            proc.terminate()
        raise KeyboardInterrupt

    try:
        for signum in (signal.SIGHUP, signal.SIGTERM):
            previous[signum] = signal.signal(signum, hangup)
        if gpu is not None:
            res = lab.launch(
                gpu, label="shell", wait=True, keep=keep, confirm=confirm
            )  # not kept: it ends with the session
            launched = (res.name, res.id)
            inst = find_instance(lab, res.id)
        else:
            inst = find_instance(lab, ref or "")
        session = open_session(lab, inst)
        if launched:
            lab.ledger.mark(launched[0], "ssh_ready")
        if setup:
            run_named_playbook(lab, session, "setup", {}, inst, lab.env.runs_root / "shell")
        session.close()
        argv = openssh_argv(
            target(lab, inst), lab.env.known_hosts, command, tty=command is None and sys.stdin.isatty(), batch=False
        )
        proc = subprocess.Popen(argv)
        status = proc.wait()
    except KeyboardInterrupt:
        status = 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        cost_line = None
        if launched and not keep:
            terminate_and_verify(
                lab.cloud, lab.ledger, [TerminateTarget(*launched)], timeouts=lab.env.timeouts, notify=lab.notify
            )
            c = instance_cost(lab.ledger.instance(launched[0]))
            cost_line = (
                f"{launched[0]} terminated; this session cost "
                f"{format_dollars(cent_minutes_to_dollars(c.policy_cent_minutes))} "
                f"({c.policy_minutes} billed min, at most "
                f"{format_dollars(cent_minutes_to_dollars(c.upper_cent_minutes))})"
            )
            lab.notify(cost_line)
        elif launched:
            lab.notify(f"{launched[0]} kept running (--keep): it bills until `lambdabench down {launched[0]}`")
    return ShellOutcome(status, launched[0] if launched else None, keep, cost_line)


def run_named_playbook(
    lab: Lab, session: Session, name: str, variables: dict[str, str], instance: Any, log_root: Path
) -> dict[str, Any]:
    """One playbook on an open session (for `run` and `shell --setup`); returns its facts."""
    from lambdabench.cloud.gpus import type_facts
    from lambdabench.remote.playbook import find_playbook
    from lambdabench.remote.runner import run_playbook

    playbook = find_playbook(name)
    facts: dict[str, Any] = {}
    if instance is not None and instance.instance_type is not None:
        facts.update(type_facts(instance.instance_type))
    secrets = {k: v for k, v in lab._secrets().items() if k in playbook.secrets}
    variables = dict(variables)
    if "gpus" in playbook.vars and "gpus" not in variables and facts.get("gpus"):
        variables["gpus"] = str(facts["gpus"])

    def on_step(step: Any) -> None:
        state = "skipped" if step.skipped else ("ok" if step.ok else f"FAILED ({step.error or step.exit_status})")
        lab.notify(f"  {name}: {step.name}: {state}")

    t = lab.env.timeouts
    result = run_playbook(
        session,
        playbook,
        {k: v for k, v in variables.items() if k in playbook.vars},
        facts,
        secrets,
        log_root / "logs" / name,
        on_step,
        local_dir=log_root,
        poll_s=t.playbook_poll,
        reattach_timeout=t.reattach,
    )
    result.raise_for_status()
    return dict(result.facts)


def _adhoc_dir(lab: Lab, inst: Instance, what: str) -> Path:
    return lab.env.adhoc_dir(inst.name or inst.id, what, time.strftime("%Y%m%d-%H%M%S"))


def run_playbook_on(lab: Lab, ref: str, name: str, variables: dict[str, str]) -> tuple[Path, dict[str, object]]:
    """`lambdabench run INSTANCE PLAYBOOK`: requirements checked first, then every step, logs kept locally."""
    from lambdabench.cloud.gpus import type_facts
    from lambdabench.remote.playbook import check_requirements, find_playbook

    playbook = find_playbook(name)
    unknown = sorted(set(variables) - set(playbook.vars))
    if unknown:
        raise UsageError(
            f"playbook {name} has no variable {unknown[0]!r}",
            f"Its variables: {', '.join(sorted(playbook.vars)) or '(none)'}.",
        )
    playbook.resolve_vars(variables)
    inst = find_instance(lab, ref)
    if inst.instance_type is not None:
        problems = check_requirements(playbook, variables, type_facts(inst.instance_type))
        if problems:
            raise UsageError(problems[0], f"Nothing was run. {problems[0].hint}")
    out_dir = _adhoc_dir(lab, inst, name)
    session = open_session(lab, inst)
    try:
        facts = run_named_playbook(lab, session, name, variables, inst, out_dir)
    finally:
        session.close()
    return out_dir, facts


def pull(lab: Lab, ref: str, *, src: str | None, include: list[str], dest: Path | None) -> tuple[Path, int, int]:
    """`lambdabench pull`: Isaac Lab logs copied out of the container first (or SRC), then pulled, verified."""
    from lambdabench.remote.transfer import pull as pull_dir

    inst = find_instance(lab, ref)
    out_dir = dest or _adhoc_dir(lab, inst, "pull")
    session = open_session(lab, inst)
    try:
        if src is None:
            src = _default_pull_src(lab, session, inst, out_dir)
        result = pull_dir(session, src, out_dir / "artifacts", include=include or None)
    finally:
        session.close()
    if not result.ok:
        raise RemoteError(
            f"{len(result.failed)} file(s) failed verification: {', '.join(f.display_path for f in result.failed[:5])}",
            "Run `lambdabench pull` again: verified files are skipped, the rest re-fetched.",
        )
    return out_dir / "artifacts", len(result.files), result.bytes


def _default_pull_src(lab: Lab, session: Session, inst: Any, out_dir: Path) -> str:
    """Isaac Lab's logs: copied out of its container (1.x/2.x), or Isaac Lab 3's work folder (kitless: no
    container, so no `docker cp`); the names are the collect playbooks' own defaults."""
    from lambdabench.remote import shell as sh
    from lambdabench.remote.playbook import default_dirs, find_playbook

    dirs = default_dirs(lab.settings.home)
    collect, kitless = find_playbook("collect", dirs), find_playbook("isaaclab3-collect", dirs)
    container = str(collect.vars["container"].default)
    work_logs = f"{kitless.vars['work_dir'].default}/logs"
    probe = session.run(
        f"if docker inspect --type container {sh.quote(container)} >/dev/null 2>&1; then echo container; "
        f"elif [ -d {sh.quote(work_logs)} ]; then echo kitless; fi",
        timeout=60,
        check=False,
    )
    found = probe.stdout.strip()
    if found == "container":
        run_named_playbook(lab, session, "collect", {"pull": "false"}, inst, out_dir)
        return f"{collect.vars['host_dir'].default}/logs"
    if found == "kitless":
        return work_logs
    raise UsageError(
        f"{inst.name}: no Isaac Lab container ({container}) and no Isaac Lab 3 work folder "
        f"(~/{work_logs}) to pull from",
        "Give the folder with --src.",
    )


LIVESTREAM_PORTS = {  # Isaac Sim's native streaming client (1) and WebRTC (2)
    "1": [
        ("tcp", 47995, 48012),
        ("udp", 47995, 48012),
        ("tcp", 49000, 49007),
        ("udp", 49000, 49007),
        ("tcp", 49100, 49100),
    ],
    # WebRTC: the browser client on 8211, and the ports a run's --livestream 2 opens (cited where defined)
    "2": [("tcp", 8211, 8211), ("udp", 8211, 8211), *WEBRTC_PORTS],
}


def stream(lab: Lab, ref: str, *, mode: str, script: str, container: str, until: object = None) -> str:
    """Livestream on an RTX instance: firewall opened for the caller's address only, closed afterwards."""
    from lambdabench.cloud.gpus import type_facts
    from lambdabench.cloud.models import FirewallRule
    from lambdabench.remote import shell as sh

    inst = find_instance(lab, ref)
    facts = type_facts(inst.instance_type) if inst.instance_type else {"rtx": False, "name": "?"}
    if not facts["rtx"]:
        raise UsageError(
            f"{inst.instance_type.name if inst.instance_type else ref} has no RT cores: Isaac Sim cannot livestream there",
            "Use an RTX type such as a10 (train on any type, then play back on an RTX one).",
        )
    session = open_session(lab, inst, timeout=60)
    # the instance sees our public address as the SSH client: no third-party lookup needed
    caller = session.run('printf %s "${SSH_CLIENT%% *}"', timeout=30).stdout.strip()
    if not caller:
        raise UsageError("could not tell this machine's address as the instance sees it")
    description = f"lambdabench-stream {inst.id}"
    before = lab.cloud.list_firewall_rules()
    ours = [FirewallRule(proto, f"{caller}/32", description, (lo, hi)) for proto, lo, hi in LIVESTREAM_PORTS[mode]]
    lab.cloud.set_firewall_rules([*before, *ours])
    lab.notify(f"firewall: opened {len(ours)} livestream rule(s) for {caller}/32 only")
    try:
        cmd = f"/workspace/isaaclab/isaaclab.sh -p {sh.quote(script)} --livestream {sh.quote(mode)} --headless"
        # 2.2+: livestream 1 is WebRTC over the public network and needs PUBLIC_IP (else 127.0.0.1, which
        # no client reaches: upstream fd805c27 app_launcher.py:532-541); harmless for older releases
        public = f"export PUBLIC_IP={sh.quote(inst.ip or '')}; " if mode == "1" else ""
        session.run(
            sh.in_container(container, f'{public}setsid nohup {cmd} > "$HOME"/livestream.log 2>&1 &'), timeout=120
        )
        lab.notify(
            f"livestream starting on {inst.ip}: connect your Omniverse Streaming Client to {inst.ip} "
            "(Ctrl-C here stops it and closes the firewall)"
        )
        if callable(until):
            until()
        else:
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        try:
            session.run(sh.in_container(container, "pkill -INT -f -- '--livestream' || true"), timeout=60, check=False)
        finally:
            session.close()
            current = lab.cloud.list_firewall_rules()
            lab.cloud.set_firewall_rules([r for r in current if r.description != description])
            lab.notify("firewall: livestream rules removed")
    return caller
