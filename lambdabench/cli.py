"""The command line: each command parses, makes one library call, renders. One error boundary in main()."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from lambdabench.context import Context

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _ctx(click_ctx: click.Context) -> Context:
    """Build Settings and the Context on first use (so --help never reads files or imports much)."""
    obj = click_ctx.find_root().obj
    if obj.get("ctx") is None:
        from lambdabench.config import Settings
        from lambdabench.context import Context

        settings = Settings.load(env_file=obj.get("env_file"))
        obj["ctx"] = Context(settings, verbose=obj.get("verbose", False))
    ctx: Context = obj["ctx"]
    return ctx


def _out(data: Any, as_json: bool, headers: list[str] | None = None, rows: list[list[Any]] | None = None) -> None:
    from lambdabench import render

    if as_json:
        click.echo(render.to_json(data))
    elif headers is not None and rows is not None:
        click.echo(render.table(headers, rows) if rows else "(none)")


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option("-v", "--verbose", is_flag=True, help="Stream remote output to the terminal.")
@click.option("--env-file", type=click.Path(path_type=Path), help="Read settings from this file instead of ./.env.")
@click.version_option(package_name="lambdabench", message="lambdabench %(version)s")
@click.pass_context
def cli(click_ctx: click.Context, verbose: bool, env_file: Path | None) -> None:
    """Benchmark Isaac Sim / Isaac Lab across Lambda Cloud GPUs, and know what every run cost."""
    click_ctx.ensure_object(dict)
    click_ctx.obj.update(verbose=verbose, env_file=env_file)


@cli.command()
@click.option("--available", is_flag=True, help="Only types with capacity somewhere now.")
@click.option("--gpu", help="Only this GPU (e.g. a10, 8xh100, gpu_1x_h100_sxm5).")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@click.pass_context
def types(click_ctx: click.Context, available: bool, gpu: str | None, as_json: bool) -> None:
    """GPU types, prices and live availability."""
    from lambdabench import ops

    rows = ops.type_rows(_ctx(click_ctx), available=available, gpu=gpu)
    _out(rows, as_json, ["NAME", "SHORT", "GPUS", "VCPU", "RAM", "$/H", "REGIONS WITH CAPACITY"],
         [[r["name"], r["short"], r["gpus"], r["vcpus"], f"{r['memory_gib']}G", f"{r['price_per_hour']:.2f}",
           ",".join(r["regions"]) or "-"] for r in rows])


@cli.command("ls")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@click.pass_context
def ls_(click_ctx: click.Context, as_json: bool) -> None:
    """Instances on the account, with age and cost so far."""
    from lambdabench import ops, render

    rows = ops.instance_rows(_ctx(click_ctx))
    _out(rows, as_json, ["ID", "NAME", "STATUS", "TYPE", "REGION", "IP", "AGE", "COST"],
         [[r["id"], r["name"] or "", r["status"], r["type"], r["region"], r["ip"] or "-",
           render.duration(r["age_s"]) if r["age_s"] is not None else "?",
           f"${r['cost_so_far']:.2f}" if r["cost_so_far"] is not None else "?"] for r in rows])


@cli.command()
@click.option("--gpu", required=True, help="GPU type (a10, a100, h100, 8xh100, gh200, or a full type name).")
@click.option("--region", help="Region; default: the first with capacity.")
@click.option("--name", "label", help="A label in the instance name (lambdabench-<label>-<random>).")
@click.option("--wait/--no-wait", default=False, help="Wait until the instance is active.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def launch(click_ctx: click.Context, gpu: str, region: str | None, label: str | None, wait: bool, as_json: bool) -> None:
    """Launch one instance (recorded in the ledger before the call)."""
    from dataclasses import asdict

    from lambdabench import ops

    res = ops.launch(_ctx(click_ctx), gpu, region=region, label=label, wait=wait)
    if as_json:
        _out(asdict(res), True)
    else:
        click.echo(f"{res.name}  {res.id}  {res.type}  {res.region}  {res.status}  {res.ip or ''}".rstrip())


@cli.command()
@click.argument("targets", nargs=-1)
@click.option("--all-mine", is_flag=True, help="Every instance this tool named (never others).")
@click.pass_context
def down(click_ctx: click.Context, targets: tuple[str, ...], all_mine: bool) -> None:
    """Terminate instances by id or name and confirm they are gone."""
    from lambdabench import ops
    from lambdabench.errors import LambdabenchError

    gone, failed = ops.down(_ctx(click_ctx), list(targets), all_mine=all_mine)
    for name in gone:
        click.echo(f"gone: {name}")
    if failed:
        raise LambdabenchError(
            f"NOT confirmed terminated: {', '.join(failed)} — they may still bill",
            "Retry `lambdabench down`, check the Lambda console; they are flagged in the ledger.",
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def keys(click_ctx: click.Context, as_json: bool) -> None:
    """The local SSH key and the keys registered on the account."""
    ctx = _ctx(click_ctx)
    local = ctx.local_key
    registered = ctx.cloud.list_ssh_keys()
    mine = local.public_key.split()[1]
    rows = [{"id": k.id, "name": k.name, "local": len(k.public_key.split()) > 1 and k.public_key.split()[1] == mine}
            for k in registered]
    if as_json:
        _out({"local_key": str(local.private_path), "fingerprint": local.fingerprint, "registered": rows}, True)
        return
    click.echo(f"local key: {local.private_path} ({local.fingerprint})")
    _out(rows, False, ["ID", "NAME", "THIS MACHINE"], [[r["id"], r["name"], "yes" if r["local"] else ""] for r in rows])


@cli.group()
def config() -> None:
    """Settings (environment > ./.env > config file)."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def config_show(click_ctx: click.Context, as_json: bool) -> None:
    """Every setting, where it came from, secrets redacted."""
    rows = _ctx(click_ctx).settings.redacted()
    _out([{"name": n, "value": v, "source": s} for n, v, s in rows], as_json,
         ["SETTING", "VALUE", "SOURCE"], [list(r) for r in rows])


@cli.group()
def sim() -> None:
    """The built-in Lambda Cloud simulator (no account needed)."""


@sim.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="API port (0: any free port).")
@click.option("--scenario", type=click.Path(path_type=Path), help="Scenario YAML (capacity, faults).")
@click.option("--time-scale", type=click.FloatRange(min=0.001, max=10000), default=1.0,
              help="Divide every cloud duration (boots, limits) by this.")
@click.option("--env-file", "out_env", type=click.Path(path_type=Path), help="Write the environment here (0600).")
@click.option("--no-hosts", is_flag=True, help="API only: no sshd hosts.")
def sim_serve(port: int, scenario: Path | None, time_scale: float, out_env: Path | None, no_hosts: bool) -> None:
    """Serve the simulated Lambda API on loopback, with a real sshd per active instance."""
    from lambdabench.simulate import serve

    sys.exit(serve(port=port, scenario=scenario, time_scale=time_scale, env_file=out_env, hosts=not no_hosts))


@cli.command()
@click.option("--gpus", required=True, help="Comma-separated GPU types, e.g. a10,a100,8xh100.")
@click.option("--playbook", default="gpu-probe", show_default=True, help="Benchmark playbook (see `playbooks list`).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Playbook variable (repeatable).")
@click.option("--repeat", type=int, default=1, show_default=True, help="Runs per GPU type.")
@click.option("--nodes", type=int, default=1, show_default=True,
              help="Instances per run, one training across them with torchrun (docs/multinode.md).")
@click.option("--max-cost", metavar="USD", help="Never let the projected spend pass this many dollars.")
@click.option("--max-parallel", type=int, default=0, help="At most K instances at once (0: all).")
@click.option("--max-run-minutes", type=float, help="Per-run maximum duration, boot included (default 180).")
@click.option("--region", help="Only this region (default: any with capacity, with failover).")
@click.option("--keep-on-failure", is_flag=True, help="Leave failed runs' instances up for debugging.")
@click.option("--dry-run", is_flag=True, help="Print the plan and its worst-case cost; launch nothing.")
@click.option("--name", help="A name for the sweep in the ledger and report.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md", "html"]), default="table",
              show_default=True, help="Report format printed at the end.")
@click.option("--export", "export_uri", metavar="S3_URI", help="Upload artifacts, records and report to s3://bucket/prefix.")
@click.pass_context
def sweep(click_ctx: click.Context, gpus: str, playbook: str, sets: tuple[str, ...], repeat: int, nodes: int,
          max_cost: str | None, max_parallel: int, max_run_minutes: float | None, region: str | None,
          keep_on_failure: bool, dry_run: bool, name: str | None, fmt: str, export_uri: str | None) -> None:
    """Benchmark several GPU types side by side; every instance is torn down, whatever happens."""
    from lambdabench import sweep_ops
    from lambdabench.errors import LambdabenchError, UsageError

    ctx = _ctx(click_ctx)
    if max_parallel < 0:
        raise UsageError(f"--max-parallel {max_parallel} is negative", "Use 0 (all at once) or more.")
    if max_run_minutes is not None and not 0 < max_run_minutes <= 7 * 24 * 60:
        raise UsageError(f"--max-run-minutes {max_run_minutes:g} is out of range", "Use more than 0, at most a week.")
    req = sweep_ops.SweepRequest(gpus, playbook, sweep_ops.parse_sets(sets), repeat, max_cost, max_parallel,
                                 keep_on_failure, region, max_run_minutes, name, nodes=nodes)
    plan = sweep_ops.plan_sweep(ctx, req)
    if export_uri:
        from lambdabench.export import parse_s3_uri

        parse_s3_uri(export_uri)
    _print_plan(plan, dry_run)
    if dry_run:
        return
    result = sweep_ops.run_sweep(ctx, plan, name=name)
    _print_report(ctx, [result.sweep_id], fmt)
    if export_uri:
        from lambdabench import export_ops

        export_ops.export_sweep(ctx, result.sweep_id, export_uri)
    if result.not_terminated:
        raise LambdabenchError(f"{len(result.not_terminated)} instance(s) NOT confirmed terminated: "
                               f"{', '.join(result.not_terminated)}", "Run `lambdabench gc` now.")
    if result.interrupted:
        raise LambdabenchError("sweep interrupted; every instance was terminated",
                               f"Continue with `lambdabench resume {result.sweep_id}`.")
    if result.failed:
        raise LambdabenchError(f"{len(result.failed)} of {len(plan.runs)} runs failed: "
                               + "; ".join(f"{k}: {v}" for k, v in result.failed.items()),
                               "See the report above and `lambdabench report --format json`.")


def _print_plan(plan: Any, dry_run: bool) -> None:
    from lambdabench import render

    rows = plan.describe()
    out = click.echo if dry_run else (lambda m: click.echo(m, err=True))
    out(render.table(["#", "RUN", "TYPE", "$/H", "BOOT~MIN", "MAX MIN", "WORST CASE"],
                     [[r["order"], r["run"], r["type"], f"{r['price_per_hour']:.2f}", r["expected_boot_min"],
                       r["max_minutes"], f"${r['worst_case']:.2f}"] for r in rows]))
    cap = f" (cap ${plan.max_cost_cents / 100:.2f})" if plan.max_cost_cents is not None else ""
    out(f"worst case: ${plan.total_worst_case_cents / 100:.2f} for {len(rows)} run(s){cap}; "
        f"playbook {plan.playbook}; at most {plan.max_parallel} at once")
    if plan.max_cost_cents is not None and plan.total_worst_case_cents > plan.max_cost_cents:
        out("note: runs whose worst case would pass --max-cost are not launched")


def _print_report(ctx: Context, sweep_ids: list[int] | None, fmt: str, out_file: Path | None = None) -> None:
    from lambdabench.report import build_report, render

    videos = []
    if fmt == "html":
        from lambdabench.export_ops import sweep_videos

        videos = sweep_videos(ctx, sweep_ids, relative_to=out_file.parent if out_file else Path.cwd())
    text = render(build_report(ctx.ledger, sweep_ids, videos=videos), fmt)
    if out_file:
        out_file.write_text(text)
        click.echo(f"report written to {out_file}", err=True)
    else:
        click.echo(text.rstrip("\n"))


@cli.command()
@click.argument("sweeps", nargs=-1, type=int)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md", "html"]), default="table",
              show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to a file instead of stdout.")
@click.pass_context
def report(click_ctx: click.Context, sweeps: tuple[int, ...], fmt: str, output: Path | None) -> None:
    """Cost-per-run report of sweeps (default: the latest), per GPU type side by side."""
    _print_report(_ctx(click_ctx), list(sweeps) or None, fmt, output)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only show what would be terminated.")
@click.pass_context
def gc(click_ctx: click.Context, dry_run: bool) -> None:
    """Terminate instances this tool named that no live lambdabench process owns (never others)."""
    from lambdabench import sweep_ops
    from lambdabench.errors import LambdabenchError

    res = sweep_ops.gc(_ctx(click_ctx), dry_run=dry_run)
    verb = "would terminate" if dry_run else "terminated"
    for name in res.terminated:
        click.echo(f"{verb}: {name}")
    for name in res.skipped_owned:
        click.echo(f"owned by a running lambdabench, left alone: {name}")
    for name in res.foreign:
        click.echo(f"named by lambdabench but not in this machine's ledger, left alone: {name}")
    for name in res.closed:
        click.echo(f"deleted leftover firewall ruleset: {name}")
    if not (res.terminated or res.skipped_owned or res.foreign or res.closed):
        click.echo("nothing to clean up")
    if res.failed:
        raise LambdabenchError(f"NOT confirmed terminated: {', '.join(res.failed)}", "Retry `lambdabench gc`.")


@cli.command()
@click.argument("sweep_id", type=int)
@click.option("--force", is_flag=True, help="Take over even if the owner may live on another host.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md", "html"]), default="table")
@click.pass_context
def resume(click_ctx: click.Context, sweep_id: int, force: bool, fmt: str) -> None:
    """Continue a crashed or interrupted sweep without redoing finished runs."""
    from lambdabench import sweep_ops

    ctx = _ctx(click_ctx)
    sweep_ops.resume(ctx, sweep_id, force=force)
    _print_report(ctx, [sweep_id], fmt)


@cli.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("instance")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.option("--timeout", type=float, help="Seconds before the command is abandoned.")
@click.pass_context
def exec_(click_ctx: click.Context, instance: str, command: tuple[str, ...], timeout: float | None) -> None:
    """Run a command on an instance: `lambdabench exec NAME -- nvidia-smi -L` (every word quoted)."""
    from lambdabench import remote_ops

    sys.exit(remote_ops.exec_command(_ctx(click_ctx), instance, list(command), timeout=timeout))


@cli.command()
@click.argument("instance", required=False)
@click.option("--gpu", help="Launch one of this type for the session (terminated on exit).")
@click.option("--setup", is_flag=True, help="Run the setup playbook first (docker group, NGC login, Isaac Lab).")
@click.option("--keep", is_flag=True, help="Leave a launched instance running on exit.")
@click.pass_context
def shell(click_ctx: click.Context, instance: str | None, gpu: str | None, setup: bool, keep: bool) -> None:
    """An interactive shell on an instance; what it launched is terminated on exit unless --keep."""
    from lambdabench import remote_ops

    out = remote_ops.shell(_ctx(click_ctx), ref=instance, gpu=gpu, keep=keep, setup=setup)
    sys.exit(out.exit_status)


@cli.command()
@click.argument("instance")
@click.option("--port", "local_port", type=click.IntRange(1, 65535), default=16006, show_default=True)
@click.option("--remote-port", type=click.IntRange(1, 65535), default=6006, show_default=True)
@click.pass_context
def tensorboard(click_ctx: click.Context, instance: str, local_port: int, remote_port: int) -> None:
    """Forward localhost:16006 to TensorBoard on the instance (start it with the tensorboard playbook)."""
    from lambdabench import remote_ops

    sys.exit(remote_ops.tensorboard(_ctx(click_ctx), instance, local_port=local_port, remote_port=remote_port))


@cli.command("ssh-config")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here (e.g. ~/.ssh/lambdabench.conf).")
@click.pass_context
def ssh_config(click_ctx: click.Context, output: Path | None) -> None:
    """An OpenSSH Include file so `ssh lambdabench-<name>` and VS Code Remote work."""
    from lambdabench import remote_ops

    text = remote_ops.ssh_config(_ctx(click_ctx))
    if output:
        output.write_text(text)
        click.echo(f"wrote {output}; add `Include {output}` at the top of ~/.ssh/config", err=True)
    else:
        click.echo(text.rstrip("\n"))


@cli.command("run")
@click.argument("instance")
@click.argument("playbook")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Playbook variable (repeatable).")
@click.pass_context
def run_cmd(click_ctx: click.Context, instance: str, playbook: str, sets: tuple[str, ...]) -> None:
    """Run a playbook on an instance (requirements checked first; logs kept locally)."""
    from lambdabench import remote_ops, sweep_ops

    out_dir, facts = remote_ops.run_playbook_on(_ctx(click_ctx), instance, playbook, sweep_ops.parse_sets(sets))
    for key, value in sorted(facts.items()):
        click.echo(f"{key}={value}")
    click.echo(f"logs: {out_dir}", err=True)


@cli.command()
@click.argument("instance")
@click.option("--src", help="Remote folder to pull (default: Isaac Lab's logs, copied out of the container first).")
@click.option("--include", multiple=True, metavar="GLOB", help="Only files matching (repeatable), e.g. '*.mp4'.")
@click.option("--dest", type=click.Path(path_type=Path), help="Local folder (default: under LAMBDABENCH_HOME/runs).")
@click.pass_context
def pull(click_ctx: click.Context, instance: str, src: str | None, include: tuple[str, ...], dest: Path | None) -> None:
    """Pull artifacts from an instance in one stream, each file verified (size + sha256); resumable."""
    from lambdabench import remote_ops

    where, count, nbytes = remote_ops.pull(_ctx(click_ctx), instance, src=src, include=list(include), dest=dest)
    click.echo(f"{count} file(s), {nbytes:,} bytes, all verified: {where}")


@cli.command()
@click.argument("instance")
@click.option("--mode", type=click.Choice(["1", "2"]), default="1", show_default=True,
              help="1: Omniverse Streaming Client, 2: WebRTC.")
@click.option("--script", default="source/standalone/demos/quadrupeds.py", show_default=True,
              help="Isaac Lab script to stream (e.g. a play.py with --checkpoint).")
@click.option("--container", default="isaac-lab-base", show_default=True)
@click.pass_context
def stream(click_ctx: click.Context, instance: str, mode: str, script: str, container: str) -> None:
    """Livestream Isaac Sim from an RTX instance; firewall opened for your address only, closed after."""
    from lambdabench import remote_ops

    remote_ops.stream(_ctx(click_ctx), instance, mode=mode, script=script, container=container)


@cli.group()
def playbooks() -> None:
    """The YAML playbooks (shipped in playbooks/, yours in LAMBDABENCH_HOME/playbooks)."""


@playbooks.command("list")
@click.option("--json", "as_json", is_flag=True)
def playbooks_list(as_json: bool) -> None:
    """Every playbook with its description."""
    from lambdabench.remote.playbook import list_playbooks

    books = list_playbooks()
    rows = [{"name": b.name, "description": " ".join(b.description.split()), "path": str(b.path)} for b in books]
    _out(rows, as_json, ["NAME", "DESCRIPTION"], [[r["name"], r["description"][:90]] for r in rows])


@playbooks.command("show")
@click.argument("name")
def playbooks_show(name: str) -> None:
    """A playbook's variables (type, default), requirements and steps."""
    from lambdabench import render
    from lambdabench.remote.playbook import find_playbook

    b = find_playbook(name)
    click.echo(f"{b.name}: {' '.join(b.description.split())}")
    click.echo(f"file: {b.path}")
    click.echo(render.table(["VAR", "TYPE", "DEFAULT", "DESCRIPTION"],
                            [[v.name, v.type + (f" {v.choices}" if v.choices else ""), v.default, v.description]
                             for v in b.vars.values()]))
    for i, step in enumerate(b.steps, 1):
        flags = " (detached)" if step.detach else ""
        click.echo(f"{i:2d}. {step.name} [{step.kind}]{flags}")


@playbooks.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def playbooks_validate(paths: tuple[Path, ...]) -> None:
    """Check playbook files (default: every known one); errors name file and line."""
    from lambdabench.errors import PlaybookError
    from lambdabench.remote.playbook import list_playbooks, validate

    files = list(paths) or [b.path for b in list_playbooks()]
    problems = [p for f in files for p in validate(f)]
    for f in files:
        if not validate(f):
            click.echo(f"ok: {f}")
    if problems:
        raise PlaybookError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))


@cli.command("export")
@click.argument("sweep_id", type=int)
@click.argument("uri")
@click.option("--endpoint-url", help="S3-compatible endpoint (e.g. https://files.<region>.lambda.ai).")
@click.pass_context
def export_cmd(click_ctx: click.Context, sweep_id: int, uri: str, endpoint_url: str | None) -> None:
    """Upload a sweep's artifacts, run records and report to s3://bucket/prefix (idempotent)."""
    from lambdabench import export_ops

    up, skipped, nbytes = export_ops.export_sweep(_ctx(click_ctx), sweep_id, uri, endpoint_url=endpoint_url)
    click.echo(f"{up} uploaded, {skipped} already there, {nbytes:,} bytes")


@cli.command()
@click.option("--gpus", default="a10,a100,8xh100", show_default=True, help="GPU types for the demo sweep.")
@click.option("--playbook", default=None, help="Playbook (default: isaaclab-train when present, else gpu-probe).")
@click.option("--time-scale", type=click.FloatRange(min=1, max=10000), default=120.0, show_default=True,
              help="How much faster than real the simulated cloud runs.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md", "html"]), default="table")
def demo(gpus: str, playbook: str | None, time_scale: float, fmt: str) -> None:
    """Start the built-in simulator, run a sweep on it end to end, print the report, stop everything."""
    from lambdabench.demo import run_demo

    sys.exit(run_demo(gpus=gpus, playbook=playbook, time_scale=time_scale, fmt=fmt))


def main(argv: list[str] | None = None) -> None:
    """Entry point: the one place errors become one line and an exit code."""
    from lambdabench.errors import LambdabenchError

    show_tb = os.environ.get("LAMBDABENCH_TRACEBACK", "0") not in ("0", "")
    try:
        rv = cli.main(args=argv, prog_name="lambdabench", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except LambdabenchError as exc:
        if show_tb:
            raise
        from lambdabench.secrets import redact

        click.echo(f"error: {redact(exc.one_line())}", err=True)
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        code = 130
    except click.ClickException as exc:
        if show_tb:
            raise
        hint = ""
        exc_ctx = getattr(exc, "ctx", None)
        if exc_ctx is not None:
            hint = f" — see `{exc_ctx.command_path} --help`"
        click.echo(f"error: {' '.join(exc.format_message().split())}{hint}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        code = 130
    except Exception as exc:  # the boundary: never a traceback unless asked
        if show_tb:
            raise
        from lambdabench.secrets import redact

        click.echo(
            f"error: internal error: {type(exc).__name__}: {redact(' '.join(str(exc).split()))[:300]} "
            "— set LAMBDABENCH_TRACEBACK=1 for details and report it",
            err=True,
        )
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
