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
        if getattr(exc, "ctx", None) is not None:
            hint = f" — see `{exc.ctx.command_path} --help`"  # type: ignore[union-attr]
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
