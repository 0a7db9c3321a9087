"""The command line: each command parses, makes one Lab call, renders. One error boundary in main()."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from lambdabench.compat import Verdict
    from lambdabench.consent import Spend
    from lambdabench.lab import Lab
    from lambdabench.run.listing import SweepStatus
    from lambdabench.run.plan import SweepPlan
    from lambdabench.run.sweep import SweepResult

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
FORMATS = ["table", "json", "csv", "md", "html"]


def _lab(click_ctx: click.Context, *, progress: bool = False) -> Lab:
    """Build Settings and the Lab on first use (so --help never reads files or imports much)."""
    obj = click_ctx.find_root().obj
    if obj.get("lab") is None:
        from lambdabench.config import Settings
        from lambdabench.lab import Lab
        from lambdabench.progress import Progress

        settings = Settings.load(env_file=obj.get("env_file"))
        obj["progress"] = Progress()
        obj["lab"] = Lab(settings, verbose=obj.get("verbose", False), events=obj["progress"])
    lab: Lab = obj["lab"]
    return lab


def _out(data: Any, as_json: bool, headers: list[str] | None = None, rows: list[list[Any]] | None = None) -> None:
    from lambdabench import render

    if as_json:
        click.echo(render.to_json(data))
    elif headers is not None and rows is not None:
        click.echo(render.table(headers, rows) if rows else "(none)")


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")(f)


@click.group(context_settings=CONTEXT_SETTINGS, invoke_without_command=True)
@click.option("-v", "--verbose", is_flag=True, help="Stream remote output to the terminal.")
@click.option("--env-file", type=click.Path(path_type=Path), help="Read settings from this file instead of ./.env.")
@click.version_option(package_name="lambdabench", message="lambdabench %(version)s")
@click.pass_context
def cli(click_ctx: click.Context, verbose: bool, env_file: Path | None) -> None:
    """Benchmark Isaac Sim / Isaac Lab across Lambda Cloud GPUs, and know what every run cost."""
    if click_ctx.invoked_subcommand is None:  # bare `lambdabench`: the usage, and success
        click.echo(click_ctx.get_help())
        click_ctx.exit(0)
    click_ctx.ensure_object(dict)
    click_ctx.obj.update(verbose=verbose, env_file=env_file)
    click_ctx.call_on_close(lambda: _close(click_ctx.obj))


def _close(obj: dict[str, Any]) -> None:
    if obj.get("progress") is not None:
        obj["progress"].close()
    if obj.get("lab") is not None:
        obj["lab"].close()


@cli.command()
@click.option("--available", is_flag=True, help="Only types with capacity somewhere now.")
@click.option("--gpu", help="Only this GPU (e.g. a10, 8xh100, gpu_1x_h100_sxm5).")
@json_option
@click.pass_context
def types(click_ctx: click.Context, available: bool, gpu: str | None, as_json: bool) -> None:
    """GPU types, prices and live availability."""
    from dataclasses import asdict

    rows = _lab(click_ctx).types(available=available, gpu=gpu)
    _out(
        [asdict(r) for r in rows],
        as_json,
        ["NAME", "SHORT", "GPUS", "VCPU", "RAM", "$/H", "REGIONS WITH CAPACITY"],
        [
            [
                r.name,
                r.short,
                r.gpus,
                r.vcpus,
                f"{r.memory_gib}G",
                f"{r.price_per_hour:.2f}",
                ",".join(r.regions) or "-",
            ]
            for r in rows
        ],
    )


@cli.command("ls")
@json_option
@click.pass_context
def ls_(click_ctx: click.Context, as_json: bool) -> None:
    """Instances on the account, with age and cost so far."""
    from dataclasses import asdict

    from lambdabench import render

    rows = _lab(click_ctx).instances()
    _out(
        [asdict(r) for r in rows],
        as_json,
        ["ID", "NAME", "STATUS", "TYPE", "REGION", "IP", "AGE", "COST", "KEPT"],
        [
            [
                r.id,
                r.name or "",
                r.status,
                r.type,
                r.region,
                r.ip or "-",
                render.duration(r.age_s) if r.age_s is not None else "?",
                f"${r.cost_so_far:.2f}" if r.cost_so_far is not None else "?",
                "yes" if r.kept else "",
            ]
            for r in rows
        ],
    )


@cli.command()
@click.option("--gpu", required=True, help="GPU type (a10, a100, h100, 8xh100, gh200, or a full type name).")
@click.option("--region", help="Region; default: the first with capacity.")
@click.option(
    "--image",
    metavar="FAMILY",
    help="Image family to launch (e.g. lambda-stack-22-04); default: Lambda's (the latest Lambda Stack).",
)
@click.option(
    "--name", "label", help="A label: the instance is named lambdabench-<label>-<random>; `down <label>` finds it."
)
@click.option("--wait/--no-wait", default=False, help="Wait until the instance is active.")
@click.option("-y", "--yes", is_flag=True, help="Agree to spend without being asked (the worst case is still shown).")
@json_option
@click.pass_context
def launch(
    click_ctx: click.Context,
    gpu: str,
    region: str | None,
    image: str | None,
    label: str | None,
    wait: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Launch one instance (recorded in the ledger before the call); it runs until `lambdabench down`."""
    from dataclasses import asdict

    lab = _lab(click_ctx)
    res = lab.launch(gpu, region=region, label=label, wait=wait, confirm=_consent(lab, yes), image=image)
    click_ctx.find_root().obj["progress"].close()  # the board is erased before the result is printed
    if as_json:
        _out(asdict(res), True)
    else:
        click.echo(f"{res.name}  {res.id}  {res.type}  {res.region}  {res.status}  {res.ip or ''}".rstrip())


@cli.command()
@click.argument("targets", nargs=-1)
@click.option("--all-mine", is_flag=True, help="Every instance this tool launched (never others).")
@click.pass_context
def down(click_ctx: click.Context, targets: tuple[str, ...], all_mine: bool) -> None:
    """Terminate instances by id, name or label and prove they are gone."""
    lab = _lab(click_ctx)
    res = lab.down(list(targets), all_mine=all_mine)
    for name in res.gone:
        click.echo(f"gone: {name}")
    for name in res.never_listed:
        click.echo(f"never appeared (launch outcome unknown): {name}")
    for name in res.left_alone:
        click.echo(f"another lambdabench's (running, or another machine's ledger), left alone: {name}")
    if res.failed:
        raise lab.not_proven(res.failed, "down interrupted" if res.interrupted else "down", res.auth_error)


@cli.command()
@json_option
@click.pass_context
def keys(click_ctx: click.Context, as_json: bool) -> None:
    """The local SSH key and the keys registered on the account."""
    from dataclasses import asdict

    info = _lab(click_ctx).keys()
    if as_json:
        _out(asdict(info), True)
        return
    click.echo(f"local key: {info.local_key} ({info.fingerprint})")
    _out(
        info.registered,
        False,
        ["ID", "NAME", "THIS MACHINE"],
        [[r.id, r.name, "yes" if r.local else ""] for r in info.registered],
    )


@cli.group()
def config() -> None:
    """Settings (environment > ./.env > config file)."""


@config.command("show")
@json_option
@click.pass_context
def config_show(click_ctx: click.Context, as_json: bool) -> None:
    """Every setting, where it came from, secrets redacted."""
    rows = _lab(click_ctx).settings.redacted()
    _out(
        [{"name": n, "value": v, "source": s} for n, v, s in rows],
        as_json,
        ["SETTING", "VALUE", "SOURCE"],
        [list(r) for r in rows],
    )


@cli.group()
def sim() -> None:
    """The built-in Lambda Cloud simulator (no account needed)."""


@sim.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="API port (0: any free port).")
@click.option(
    "--scenario",
    type=click.Path(path_type=Path),
    help="Scenario YAML (capacity, faults), or a packaged one's name, e.g. lost-launch (docs/scenarios.md).",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.001, max=10000),
    default=1.0,
    help="Divide every cloud duration (boots, limits) by this.",
)
@click.option("--env-file", "out_env", type=click.Path(path_type=Path), help="Write the environment here (0600).")
@click.option("--no-hosts", is_flag=True, help="API only: no sshd hosts.")
def sim_serve(port: int, scenario: Path | None, time_scale: float, out_env: Path | None, no_hosts: bool) -> None:
    """Serve the simulated Lambda API on loopback, with a real sshd per active instance."""
    from lambdabench.simulate import serve

    sys.exit(serve(port=port, scenario=scenario, time_scale=time_scale, env_file=out_env, hosts=not no_hosts))


@cli.command()
@click.option("--gpus", default="", help="Comma-separated GPU types, e.g. a10,a100,8xh100.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="[USER@]ADDR[:PORT][,label=..][,price=..]",
    help="A machine of yours over SSH, benchmarked beside the Lambda types (repeatable; never terminated).",
)
@click.option("--local", is_flag=True, help="This machine too (no SSH; never terminated).")
@click.option(
    "--playbook",
    default=None,
    help="Benchmark playbook (see `playbooks list`; default: mjx-locomotion, the portable MJX benchmark).",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Playbook variable (repeatable).")
@click.option("--repeat", type=int, default=1, show_default=True, help="Runs per GPU type, each on its own instance.")
@click.option(
    "--seeds",
    type=int,
    default=1,
    show_default=True,
    help="Benchmark passes per run on the same instance, one seed each (the playbook's seed, +1, …).",
)
@click.option(
    "--find-max-envs",
    is_flag=True,
    help="Instead of the N sweep or the training, find the largest num_envs that fits per type: N doubling to a "
    "bound on one instance, stopping at the first out-of-memory (mjx-locomotion, isaaclab3-train, isaaclab-train; bound "
    "and steps via --set, docs/report.md).",
)
@click.option(
    "--ignore-max-envs",
    is_flag=True,
    help="Launch even where num_envs is above the largest that an earlier --find-max-envs search measured to fit "
    "on that type for the same task (refused by default: it would run out of memory).",
)
@click.option(
    "--nodes",
    type=int,
    default=1,
    show_default=True,
    help="Instances per run, one training across them with torchrun (docs/multinode.md).",
)
@click.option("--reuse", is_flag=True, help="A type's repeats back to back on one instance: set-up paid once.")
@click.option(
    "--cache",
    metavar="NAME",
    help="Keep set-up (images, packages, compile caches) on this filesystem: "
    "made if new, reused after; runs in its region start warm (`cache ls|rm`).",
)
@click.option("--max-cost", metavar="USD", help="Never let the worst case pass this many dollars.")
@click.option("--max-parallel", type=int, default=0, help="At most K runs at once (0: all).")
@click.option(
    "--max-run-minutes", type=float, help="Per-run maximum, every billed minute: boot, set-up, benchmark, pull."
)
@click.option("--region", help="Only this region (default: any with capacity, with failover).")
@click.option(
    "--image",
    metavar="FAMILY",
    help="Image family to launch (e.g. lambda-stack-22-04); default: the playbook's, else Lambda's.",
)
@click.option("--keep-on-failure", is_flag=True, help="Leave failed runs' instances up for debugging.")
@click.option(
    "--failsafe",
    is_flag=True,
    help="Each instance terminates itself once its run's cap passed, even if "
    "this machine dies; your API key is copied to it (0600, removed at teardown; README).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and its worst-case cost; launch nothing.")
@click.option("-y", "--yes", is_flag=True, help="Agree to spend without being asked (the worst case is still shown).")
@click.option("--name", help="A name for the sweep in the ledger and report.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Report format printed at the end.",
)
@click.option(
    "--export", "export_uri", metavar="S3_URI", help="Upload artifacts, records and report to s3://bucket/prefix."
)
@click.option(
    "--notify",
    metavar="CMD",
    help="Run this shell command when the sweep ends (its one-line outcome in "
    "$LAMBDABENCH_OUTCOME, the sweep in $LAMBDABENCH_SWEEP).",
)
@click.option("--bell", is_flag=True, help="Ring the terminal bell when the sweep ends.")
@click.pass_context
def sweep(
    click_ctx: click.Context,
    gpus: str,
    hosts: tuple[str, ...],
    local: bool,
    playbook: str | None,
    sets: tuple[str, ...],
    repeat: int,
    seeds: int,
    nodes: int,
    max_cost: str | None,
    max_parallel: int,
    max_run_minutes: float | None,
    region: str | None,
    keep_on_failure: bool,
    dry_run: bool,
    name: str | None,
    fmt: str,
    export_uri: str | None,
    reuse: bool,
    cache: str | None,
    yes: bool,
    notify: str | None,
    bell: bool,
    failsafe: bool,
    image: str | None,
    find_max_envs: bool,
    ignore_max_envs: bool,
) -> None:
    """Benchmark several GPU types side by side; every instance is torn down, whatever happens."""
    from lambdabench.errors import LambdabenchError
    from lambdabench.run.plan import SweepRequest, parse_sets

    lab = _lab(click_ctx)
    req = SweepRequest(
        gpus,
        playbook,
        parse_sets(sets),
        repeat,
        max_cost,
        max_parallel,
        keep_on_failure,
        region,
        max_run_minutes,
        name,
        nodes,
        list(hosts),
        local,
        reuse=reuse,
        seeds=seeds,
        cache=cache,
        failsafe=failsafe,
        image=image,
        find_max_envs=find_max_envs,
        ignore_max_envs=ignore_max_envs,
    )
    if export_uri:  # a bad URI is refused before the cloud is asked
        from lambdabench.export import parse_s3_uri

        parse_s3_uri(export_uri)
    plan = lab.plan(req)
    _print_plan(plan, dry_run)
    if dry_run:
        return
    _consent(lab, yes, budget_flag=True)(plan.spend(), max_cost is not None)
    result = lab.sweep(plan, name=name)
    from lambdabench.run.sweep import AfterTeardown

    with AfterTeardown() as late:  # from here on a signal cuts the report short, never the verdict
        with late.printing():
            click_ctx.find_root().obj["progress"].close()
            _print_report(lab, [result.sweep_id], fmt)
            if export_uri:
                lab.export(result.sweep_id, export_uri)
            for line in lab.summary(result.sweep_id):
                click.echo(line, err=True)
        outcome = f"sweep {result.sweep_id}: {len(result.succeeded)} of {len(plan.runs)} run(s) succeeded"
        try:
            _sweep_verdict(lab, plan, result, late)
        except LambdabenchError as exc:
            outcome = f"sweep {result.sweep_id}: {exc.one_line()}"
            raise
        finally:
            _notify(notify, bell, result.sweep_id, outcome)


def _notify(command: str | None, bell: bool, sweep_id: int, outcome: str) -> None:
    """The end of a sweep, told to a command of the user's (never with the API keys) or the terminal bell."""
    if bell:
        click.echo("\a", err=True, nl=False)
    if command:
        import subprocess

        env = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_API_KEY", "NGC_API_KEY")}
        env.update(LAMBDABENCH_SWEEP=str(sweep_id), LAMBDABENCH_OUTCOME=outcome)
        try:
            subprocess.run(command, shell=True, env=env, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            click.echo(f"warning: --notify command did not finish: {exc}", err=True)


def _sweep_verdict(lab: Lab, plan: SweepPlan | None, result: SweepResult, late: Any = None) -> None:
    """The truth, in one line, with the exit code to match (a signal after teardown: said, and 128+N)."""
    from lambdabench.errors import Cancelled, LambdabenchError
    from lambdabench.run.recovery import resumable_runs

    sig = late.signal.name if late is not None and late.signal is not None else None
    cut = f" ({sig} while the report printed: see it with `lambdabench report {result.sweep_id}`)" if sig else ""
    launched = plan is None or any(r.target.launched for r in plan.runs)
    runs = (
        len(plan.runs)
        if plan is not None
        else (len(result.succeeded) + len(result.failed) + len(result.skipped) + len(result.cancelled))
    )
    proven = (
        "every instance it launched was terminated and proven gone"
        if launched
        else "it launched no instance; your machines were left as they are"
    )
    err: LambdabenchError | None = None
    if result.not_terminated:
        err = LambdabenchError(
            f"{len(result.not_terminated)} instance(s) NOT proven terminated: "
            f"{', '.join(result.not_terminated)} — they may still bill{cut}",
            "Run `lambdabench gc` now.",
        )
    elif result.never_listed:
        err = LambdabenchError(
            f"{len(result.never_listed)} launch(es) answered ambiguously never appeared: "
            f"{', '.join(result.never_listed)}{cut}",
            "Run `lambdabench gc` in a few minutes.",
        )
    elif result.interrupted:
        resumable = resumable_runs(lab.ledger, result.sweep_id)
        err = Cancelled(
            f"sweep interrupted; {proven}{cut}",
            f"Continue with `lambdabench resume {result.sweep_id}` ({len(resumable)} run(s) left)."
            if resumable
            else None,
        )
    elif result.failed:
        err = LambdabenchError(
            f"{len(result.failed)} of {runs} runs failed: "
            + "; ".join(f"{k}: {v}" for k, v in result.failed.items())
            + cut,
            "See the report above and `lambdabench report --format json`.",
        )
    elif result.skipped:
        hint = "Raise --max-cost, or sweep fewer types, to run them."
        if plan is not None and plan.left_out_for_budget():
            hint = plan.budget_hint()
        err = LambdabenchError(
            f"{len(result.skipped)} of {runs} runs not run: "
            + "; ".join(f"{k}: {v}" for k, v in result.skipped.items())
            + cut,
            hint,
        )
    elif not result.ok:
        err = LambdabenchError(f"the sweep did not finish every run{cut}", "See the report above.")
    elif sig:
        err = Cancelled(f"{sig} after the sweep ended: {len(result.succeeded)} run(s) succeeded and {proven}{cut}")
    if err is not None:
        if late is not None:
            err.exit_code = late.exit_code(err.exit_code)
        raise err


def _print_plan(plan: SweepPlan, dry_run: bool) -> None:
    from lambdabench import render

    rows = plan.describe()
    out: Callable[[str], None] = click.echo if dry_run else (lambda m: click.echo(m, err=True))
    out(
        render.table(
            ["#", "RUN", "TYPE", "NODES", "GPUS", "$/H", "BOOT~MIN", "MAX MIN", "WORST CASE"],
            [
                [
                    r["order"],
                    r["run"] + (f" (on {r['on']})" if r.get("on") else ""),
                    r["type"],
                    r["nodes"],
                    r["gpus"] or "?",
                    f"{r['price_per_hour']:.2f}",
                    r["expected_boot_min"],
                    r["max_minutes"],
                    f"${r['worst_case']:.2f}",
                ]
                for r in rows
            ],
        )
    )
    cap = f" (cap ${plan.max_cost_cents / 100:.2f})" if plan.max_cost_cents is not None else ""
    out(
        f"worst case: ${plan.total_worst_case_cents / 100:.2f} for {len(rows)} run(s){cap} — every run billed for "
        f"its whole {plan.max_minutes}-minute cap (boot, set-up, benchmark and pull all count) plus "
        f"{plan.teardown_minutes} minute{'' if plan.teardown_minutes == 1 else 's'} for a slow teardown (a terminate "
        "refused during the boot, an outage)"
        + (
            ", a kept failed run's instance counted for an hour (it bills until `lambdabench down`)"
            if plan.keep_on_failure
            else ""
        )
        + "; Lambda adds sales tax"
    )
    if plan.cap_reason:
        out(f"run cap: {plan.max_minutes} min ({plan.cap_reason})")
    search = plan.benchmark.search_bound()
    if search:
        out(
            f"largest-num_envs search: {search.words} per run, stopping at the first out-of-memory (priced in the run cap unless --max-run-minutes sets it)"
        )
    if any(r.target.launched for r in plan.runs):
        out(
            f"image: {plan.image} ({plan.image_source})"
            if plan.image
            else "image: Lambda's default (the latest Lambda Stack); pin one with --image"
        )
    out(
        f"benchmark: playbook {plan.playbook}"
        + (f" after {', '.join(b.name for b in plan.benchmark.before)}" if plan.benchmark.before else "")
        + (f", then {', '.join(b.name for b in plan.benchmark.after)}" if plan.benchmark.after else "")
        + (f"; {plan.seeds} seeds per run, one after another on its instance" if plan.seeds > 1 else "")
        + f"; at most {plan.max_parallel} at once"
    )
    byo = [r["run"] for r in rows if not r["terminated_by_lambdabench"]]
    if byo:
        out(f"your machines ({', '.join(byo)}): used as they are, never terminated or reaped by lambdabench")
    if plan.reuse:
        out(
            f"--reuse: {len(plan.leads())} instance(s) for {len(rows)} run(s); each type's repeats run one after "
            "another on its first run's instance, set-up paid once"
        )
    if plan.cache is not None:
        out(plan.cache.line())
    firewall = plan.firewall_change()
    if firewall:
        out(firewall)
    left_out = plan.left_out_for_budget()
    for run in left_out:
        out(
            f"left out: {run.label} ({run.target.name}) — its worst case ${plan.worst_case_cents(run) / 100:.2f} "
            f"would pass --max-cost {(plan.max_cost_cents or 0) / 100:.2f}"
        )
    if left_out:
        out(plan.budget_hint())


def _consent(lab: Lab, yes: bool, *, budget_flag: bool = False) -> Callable[..., None]:
    """A check to call with what a command will spend: go on, ask (y/N) on a terminal, or refuse."""

    def check(spend: Spend, budget_given: bool = False) -> None:
        from lambdabench.consent import decide, free_money, refusal
        from lambdabench.errors import LambdabenchError

        s = lab.settings
        decision = decide(
            spend,
            free=free_money(simulated=s.simulated, api_url=s.api_url),
            yes=yes,
            budget_given=budget_given,
            interactive=sys.stdin.isatty() and sys.stderr.isatty(),
        )
        if decision == "refuse":
            raise refusal(spend, budget_flag=budget_flag)
        if decision == "ask" and not click.confirm(f"{spend.line()}. Go ahead?", default=False, err=True):
            raise LambdabenchError("not confirmed: nothing was launched")

    return check


def _print_report(
    lab: Lab, sweep_ids: list[int] | None, fmt: str, out_file: Path | None = None, **options: Any
) -> None:
    from lambdabench.report import render

    html_dir = (out_file.parent if out_file else Path.cwd()) if fmt == "html" else None
    text = render(lab.report(sweep_ids, html_dir=html_dir, **options), fmt)
    if out_file:
        out_file.write_text(text)
        click.echo(f"report written to {out_file}", err=True)
    else:
        click.echo(text.rstrip("\n"))


@cli.command()
@click.option("--gpus", required=True, help="Comma-separated GPU types, e.g. a10,a100,gh200.")
@click.option("--playbook", default=None, help="Benchmark playbook (default: mjx-locomotion).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Playbook variable (repeatable).")
@json_option
@click.pass_context
def check(click_ctx: click.Context, gpus: str, playbook: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """Will it run? Per GPU type: the refusal a sweep would give (the playbook's rules, a num_envs above what the
    ledger's searches found to fit) and the ledger's results. Exit 0 when every type can run, 1 when any is refused."""
    from dataclasses import asdict

    from lambdabench.run.plan import parse_sets

    verdicts = _lab(click_ctx).check(gpus, playbook, parse_sets(sets))
    _out(
        [{**_whole_envs(asdict(v)), "answer": v.answer, "too_many_envs": v.too_many_envs} for v in verdicts],
        as_json,
        ["TYPE", "BACKEND", "TASK", "ANSWER", "WHY"],
        [[v.gpu_type, v.backend, v.task_class, v.answer, _check_why(v)] for v in verdicts],
    )
    refused = [v.gpu_type for v in verdicts if v.refused]
    if refused:
        click.echo(f"refused on {len(refused)} of {len(verdicts)} type(s): {', '.join(refused)}", err=True)
        click_ctx.exit(1)


def _whole_envs(verdict: dict[str, Any]) -> dict[str, Any]:
    """Env counts as JSON integers (1048576, not 1048576.0): the ledger keeps them as floats."""
    for key in ("largest_num_envs", "asks_num_envs"):
        value = verdict.get(key)
        if isinstance(value, float) and value.is_integer():
            verdict[key] = int(value)
    return verdict


def _check_why(v: Verdict) -> str:
    """The WHY column of `check`: the refusal, else what the ledger measured on the type."""
    if v.refused:
        return v.refused
    why = f"{v.succeeded} succeeded, {v.failed} failed" if v.succeeded or v.failed else ""
    why += f"; last failure: {v.last_error}" if v.last_error else ""
    if v.largest_num_envs is not None:
        ended = f"{v.first_oom:,.0f} ran out of memory" if v.first_oom is not None else "no search ran out of memory"
        fit = f"{v.largest_num_envs:,.0f}" if v.largest_num_envs else "none"
        why += f"; largest num_envs that fit here: {fit} ({ended}; {v.largest_from})"
    why += f"; largest-num_envs search {v.largest_set_aside}" if v.largest_set_aside else ""
    return why.lstrip("; ")


@cli.command()
@click.argument("sweeps", nargs=-1, metavar="[SWEEP|BUNDLE]...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to a file instead of stdout.")
@click.option(
    "--reward-target",
    type=float,
    help="Time- and cost-to-reward to this mean reward (default: a fraction of the best final reward in the report).",
)
@click.option(
    "--reward-fraction",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=0.9,
    show_default=True,
    help="That fraction, when no --reward-target is given.",
)
@click.option(
    "--sort",
    "sort_by",
    metavar="COLUMN",
    help="Order types by a column ('-' first: descending), e.g. "
    "-env_steps_per_s or cost_to_reward_usd (default: the order the sweep gave them).",
)
@click.option(
    "--merge",
    is_flag=True,
    help="Several sweeps or bundles: one column per type (pooled), each run "
    "keeping its provenance, instead of side by side.",
)
@click.pass_context
def report(
    click_ctx: click.Context,
    sweeps: tuple[str, ...],
    fmt: str,
    output: Path | None,
    reward_target: float | None,
    reward_fraction: float,
    sort_by: str | None,
    merge: bool,
) -> None:
    """Report of sweeps (default: the latest) and results bundles from elsewhere, per GPU type side by side."""
    from lambdabench.bundle import split_report_args

    ids, bundles = split_report_args(sweeps)
    _print_report(
        _lab(click_ctx),
        ids or None,
        fmt,
        output,
        reward_target=reward_target,
        bundles=bundles,
        reward_fraction=reward_fraction,
        sort_by=sort_by,
        compare=False if merge else None,
    )


@cli.group()
def cache() -> None:
    """Warm-start caches: Lambda filesystems `sweep --cache NAME` keeps set-up on (gc never deletes them)."""


@cache.command("ls")
@json_option
@click.pass_context
def cache_ls(click_ctx: click.Context, as_json: bool) -> None:
    """The account's filesystems: region, size, in use."""
    from lambdabench import render

    rows = _lab(click_ctx).caches()
    _out(
        [
            {
                "name": f.name,
                "id": f.id,
                "region": f.region,
                "bytes_used": f.bytes_used,
                "in_use": f.is_in_use,
                "mount_point": f.mount_point,
            }
            for f in rows
        ],
        as_json,
        ["NAME", "REGION", "USED", "IN USE", "ID"],
        [
            [
                render.printable(f.name),
                f.region,
                "?" if f.bytes_used is None else f"{f.bytes_used / 1e9:.2f} GB",
                "yes" if f.is_in_use else "no",
                f.id,
            ]
            for f in rows
        ],
    )


@cache.command("rm")
@click.argument("name")
@click.pass_context
def cache_rm(click_ctx: click.Context, name: str) -> None:
    """Delete a cache's filesystem and everything on it (refused while an instance mounts it)."""
    fs = _lab(click_ctx).remove_cache(name)
    click.echo(f"deleted filesystem {fs.name} ({fs.id}) in {fs.region}")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only show what would be terminated.")
@click.pass_context
def gc(click_ctx: click.Context, dry_run: bool) -> None:
    """Terminate what this machine launched that no live lambdabench owns (never others', never kept ones)."""
    from lambdabench import render

    lab = _lab(click_ctx)
    res = lab.gc(dry_run=dry_run)
    p = render.printable
    lines = [f"would terminate: {p(n)}" for n in res.would_terminate]
    lines += [f"terminated (terminate sent, proven gone): {p(n)}" for n in res.terminated]
    lines += [f"owned by a running lambdabench, left alone: {p(n)}" for n in res.owned]
    lines += [f"kept on purpose, left alone (`lambdabench down {p(n)}` ends it): {p(n)}" for n in res.kept]
    lines += [
        f"launched by lambdabench elsewhere (not in this machine's ledger), left alone: {p(n)}" for n in res.foreign
    ]
    lines += [f"never appeared (launch outcome unknown): {p(n)}" for n in res.never_listed]
    lines += [f"deleted leftover firewall ruleset: {p(n)}" for n in res.rulesets]
    for line in lines or ["nothing to clean up"]:
        click.echo(line)
    if res.failed:
        raise lab.not_proven(res.failed, "gc interrupted" if res.interrupted else "gc", res.auth_error)


@cli.command()
@click.argument("sweep_id", type=int)
@click.option("--force", is_flag=True, help="Take over even if the owner may live on another host.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", help="Report format printed at the end.")
@click.option("-y", "--yes", is_flag=True, help="Agree to spend without being asked (the worst case is still shown).")
@click.pass_context
def resume(click_ctx: click.Context, sweep_id: int, force: bool, fmt: str, yes: bool) -> None:
    """Continue a crashed or interrupted sweep without redoing finished runs."""
    from lambdabench.run.sweep import AfterTeardown

    lab = _lab(click_ctx)
    result = lab.resume(sweep_id, force=force, confirm=_consent(lab, yes))
    with AfterTeardown() as late:  # from here on a signal cuts the report short, never the verdict
        with late.printing():
            click_ctx.find_root().obj["progress"].close()
            _print_report(lab, [sweep_id], fmt)
            for line in lab.summary(sweep_id):
                click.echo(line, err=True)
        _sweep_verdict(lab, None, result, late)  # a failed or left-out run exits non-zero here too


@cli.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("instance")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.option("--timeout", type=float, help="Seconds before the command is abandoned.")
@click.pass_context
def exec_(click_ctx: click.Context, instance: str, command: tuple[str, ...], timeout: float | None) -> None:
    """Run a command on an instance: `lambdabench exec NAME -- nvidia-smi -L` (every word quoted)."""
    from lambdabench import interactive

    sys.exit(interactive.exec_command(_lab(click_ctx), instance, list(command), timeout=timeout))


@cli.command()
@click.argument("instance", required=False)
@click.option("--gpu", help="Launch one of this type for the session (terminated on exit).")
@click.option("--setup", is_flag=True, help="Run the setup playbook first (docker group, NGC login, Isaac Lab).")
@click.option("--keep", is_flag=True, help="Leave a launched instance running on exit.")
@click.option("-y", "--yes", is_flag=True, help="Agree to spend without being asked (the worst case is still shown).")
@click.pass_context
def shell(click_ctx: click.Context, instance: str | None, gpu: str | None, setup: bool, keep: bool, yes: bool) -> None:
    """An interactive shell on an instance; what it launched is terminated on exit unless --keep."""
    from lambdabench import interactive

    lab = _lab(click_ctx)
    out = interactive.shell(lab, ref=instance, gpu=gpu, keep=keep, setup=setup, confirm=_consent(lab, yes))
    sys.exit(out.exit_status)


@cli.command()
@click.argument("instance")
@click.option(
    "--port", "local_port", type=click.IntRange(1, 65535), default=16006, show_default=True, help="Local port."
)
@click.option(
    "--remote-port", type=click.IntRange(1, 65535), default=6006, show_default=True, help="TensorBoard's port there."
)
@click.pass_context
def tensorboard(click_ctx: click.Context, instance: str, local_port: int, remote_port: int) -> None:
    """Forward localhost:16006 to TensorBoard on the instance (start it with the tensorboard playbook)."""
    from lambdabench import interactive

    sys.exit(interactive.tensorboard(_lab(click_ctx), instance, local_port=local_port, remote_port=remote_port))


@cli.command("ssh-config")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here (e.g. ~/.ssh/lambdabench.conf).")
@click.pass_context
def ssh_config(click_ctx: click.Context, output: Path | None) -> None:
    """An OpenSSH Include file so `ssh lambdabench-<name>` and VS Code Remote work."""
    from lambdabench import interactive

    text = interactive.ssh_config(_lab(click_ctx))
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
    from lambdabench import interactive
    from lambdabench.run.plan import parse_sets

    out_dir, facts = interactive.run_playbook_on(_lab(click_ctx), instance, playbook, parse_sets(sets))
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
    from lambdabench import interactive

    where, count, nbytes = interactive.pull(_lab(click_ctx), instance, src=src, include=list(include), dest=dest)
    click.echo(f"{count} file(s), {nbytes:,} bytes, all verified: {where}")


@cli.command()
@click.argument("instance")
@click.option(
    "--mode",
    type=click.Choice(["1", "2"]),
    default="1",
    show_default=True,
    help="1: Omniverse Streaming Client, 2: WebRTC.",
)
@click.option(
    "--script", default=None, help="Isaac Lab script to stream (default: the quadrupeds demo of --isaaclab-version)."
)
@click.option(
    "--isaaclab-version",
    type=click.Choice(["1", "2"]),
    default="1",
    show_default=True,
    help="1: the seed's fork (source/standalone/...), 2: upstream 2.x (scripts/...).",
)
@click.option(
    "--container", default="isaac-lab-base", show_default=True, help="The Isaac Lab container to stream from."
)
@click.pass_context
def stream(
    click_ctx: click.Context, instance: str, mode: str, script: str | None, isaaclab_version: str, container: str
) -> None:
    """Livestream Isaac Sim from an RTX instance; firewall opened for your address only, closed after."""
    from lambdabench import interactive

    # the demos moved from source/standalone/demos (the fork, 1.x) to scripts/demos (2.x); contract 2.x
    default = "source/standalone/demos/quadrupeds.py" if isaaclab_version == "1" else "scripts/demos/quadrupeds.py"
    interactive.stream(_lab(click_ctx), instance, mode=mode, script=script or default, container=container)


@cli.group()
def playbooks() -> None:
    """The YAML playbooks (shipped in playbooks/, yours in LAMBDABENCH_HOME/playbooks)."""


@playbooks.command("list")
@json_option
@click.pass_context
def playbooks_list(click_ctx: click.Context, as_json: bool) -> None:
    """Every playbook with its description."""
    from lambdabench.remote.playbook import list_playbooks

    books = list_playbooks(_dirs(click_ctx))
    rows = [{"name": b.name, "description": " ".join(b.description.split()), "path": str(b.path)} for b in books]
    _out(rows, as_json, ["NAME", "DESCRIPTION"], [[r["name"], r["description"][:90]] for r in rows])


def _dirs(click_ctx: click.Context) -> list[Path]:
    from lambdabench.remote.playbook import default_dirs

    return default_dirs(_lab(click_ctx).settings.home)


@playbooks.command("show")
@click.argument("name")
@click.pass_context
def playbooks_show(click_ctx: click.Context, name: str) -> None:
    """A playbook's variables (type, default), requirements and steps."""
    from lambdabench import render
    from lambdabench.remote.playbook import find_playbook

    b = find_playbook(name, _dirs(click_ctx))
    click.echo(f"{b.name}: {' '.join(b.description.split())}")
    click.echo(f"file: {b.path}")
    if b.before or b.after:
        click.echo(f"as a sweep's benchmark: {' → '.join([*b.before, b.name, *b.after])}")
    click.echo(
        render.table(
            ["VAR", "TYPE", "DEFAULT", "DESCRIPTION"],
            [
                [v.name, v.type + (f" {v.choices}" if v.choices else ""), v.default, v.description]
                for v in b.vars.values()
            ],
        )
    )
    for i, step in enumerate(b.steps, 1):
        flags = " (detached)" if step.detach else ""
        click.echo(f"{i:2d}. {step.name} [{step.kind}]{flags}")


@playbooks.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def playbooks_validate(click_ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check playbook files (default: every known one); errors name file and line."""
    from lambdabench.errors import PlaybookError
    from lambdabench.remote.playbook import playbook_files, validate

    files = list(paths) or playbook_files(_dirs(click_ctx))
    problems = []
    for f in files:
        found = validate(f)
        problems += found
        if not found:
            click.echo(f"ok: {f}")
    if problems:
        raise PlaybookError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))


@cli.command("export")
@click.argument("sweep_id", type=int)
@click.argument("uri")
@click.option("--endpoint-url", help="S3-compatible endpoint (e.g. https://files.<region>.lambda.ai).")
@click.option("--origin", help="Who and where, for a results bundle's provenance (default: user@host).")
@click.pass_context
def export_cmd(click_ctx: click.Context, sweep_id: int, uri: str, endpoint_url: str | None, origin: str | None) -> None:
    """Upload a sweep to s3://bucket/prefix (idempotent), or write a results bundle to a folder or .tar.gz."""
    if not uri.startswith("s3://"):
        where, count, nbytes = _lab(click_ctx).export_bundle(sweep_id, Path(uri), origin=origin)
        click.echo(f"bundle {where}: {count} file(s), {nbytes:,} bytes (merge with `lambdabench report {where}`)")
        return
    up, skipped, nbytes = _lab(click_ctx).export(sweep_id, uri, endpoint_url=endpoint_url)
    click.echo(f"{up} uploaded, {skipped} already there, {nbytes:,} bytes")


@cli.command()
@json_option
@click.pass_context
def sweeps(click_ctx: click.Context, as_json: bool) -> None:
    """Sweeps in the ledger, newest first: id, name, started, status, types, cost so far, report."""
    from dataclasses import asdict

    found = _lab(click_ctx).sweeps()
    _out(
        [asdict(s) for s in found],
        as_json,
        ["ID", "NAME", "STARTED (UTC)", "STATUS", "TYPES", "COST", "REPORT"],
        [
            [
                s.id,
                s.name or "",
                s.started,
                s.status + (" (simulated)" if s.simulated else ""),
                ",".join(s.types),
                f"${s.cost_usd:.2f}",
                s.report or "—",
            ]
            for s in found
        ],
    )


@cli.command()
@click.argument("sweep_id", type=int, required=False)
@click.option("--watch", is_flag=True, help="Redraw every 2 s until the sweep ends (Ctrl-C stops watching only).")
@json_option
@click.pass_context
def status(click_ctx: click.Context, sweep_id: int | None, watch: bool, as_json: bool) -> None:
    """A sweep's board (default: the newest), from the ledger: works from another terminal while it runs."""
    from lambdabench import progress

    lab = _lab(click_ctx)
    board = lab.status(sweep_id)
    if not watch:
        click.echo(_status_text(board, as_json))
        return
    shown = board.sweep.id  # watched by id: a sweep started meanwhile is not switched to

    def frame() -> tuple[str, bool]:
        board = lab.status(shown)
        return _status_text(board, as_json), board.sweep.status == "running"

    outcome = progress.watch(frame, sys.stdout, live=False if as_json else None)
    if outcome == "interrupted":
        click.echo(f"stopped watching sweep {shown} (the sweep itself goes on)", err=True)
    elif outcome == "gone":
        sys.exit(1)  # stdout went away: nothing left to say


def _status_text(board: SweepStatus, as_json: bool) -> str:
    from dataclasses import asdict

    from lambdabench import render

    if as_json:
        return render.to_json(asdict(board))
    s = board.sweep
    head = (
        f"sweep {s.id}{f' ({s.name})' if s.name else ''}: {s.status}, started {s.started} UTC, "
        f"${s.cost_usd:.2f} so far" + (f"; report {s.report}" if s.report else "")
    )
    rows = [
        [
            r.run_id,
            r.instance_type,
            r.status,
            r.phase,
            "" if r.elapsed_s is None else f"{int(r.elapsed_s // 60)}m{int(r.elapsed_s % 60):02d}s",
            r.instance or "",
        ]
        for r in board.runs
    ]
    table = render.table(["RUN", "TYPE", "STATUS", "NOW", "ELAPSED", "INSTANCE"], rows) if rows else "(none)"
    return f"{head}\n{table}"


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. `eval "$(lambdabench completion bash)"` in ~/.bashrc."""
    from click.shell_completion import get_completion_class

    comp_cls = get_completion_class(shell)
    assert comp_cls is not None  # click ships all three
    click.echo(comp_cls(cli, {}, "lambdabench", "_LAMBDABENCH_COMPLETE").source())


@cli.command()
@click.option("--gpus", default="a10,a100,8xh100", show_default=True, help="GPU types for the demo sweep.")
@click.option("--playbook", default=None, help="Playbook (default: isaaclab-train).")
@click.option(
    "--time-scale",
    type=click.FloatRange(min=1, max=10000),
    default=120.0,
    show_default=True,
    help="How much faster than real the simulated cloud runs.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", help="Report format printed at the end.")
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

        _err(f"error: {redact(exc.one_line())}")
        code = exc.exit_code
    except click.exceptions.Abort:
        _err("error: interrupted")
        code = 130
    except click.ClickException as exc:
        if show_tb:
            raise
        hint = ""
        exc_ctx = getattr(exc, "ctx", None)
        if exc_ctx is not None:
            hint = f" — see `{exc_ctx.command_path} --help`"
        _err(f"error: {' '.join(exc.format_message().split())}{hint}")
        code = exc.exit_code
    except KeyboardInterrupt:
        _err("error: interrupted")
        code = 130
    except BrokenPipeError:
        code = 1  # stdout went away (`| head`): nothing left to say
    except Exception as exc:  # the boundary: never a traceback unless asked
        if show_tb:
            raise
        from lambdabench.secrets import redact

        _err(
            f"error: internal error: {type(exc).__name__}: {redact(' '.join(str(exc).split()))[:300]} "
            "— set LAMBDABENCH_TRACEBACK=1 for details and report it"
        )
        code = 1
    _quiet_exit(code)


def _err(line: str) -> None:
    import contextlib

    with contextlib.suppress(OSError):  # a closed terminal: the exit code still says it
        click.echo(line, err=True)


def _quiet_exit(code: int) -> None:
    """Exit without Python's "Exception ignored … BrokenPipeError" when stdout is already gone."""
    try:
        sys.stdout.flush()
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


if __name__ == "__main__":
    main()
