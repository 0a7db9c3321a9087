"""Run the real entry point (with its error boundary) under Click's CliRunner."""

from __future__ import annotations

from collections.abc import Mapping

import click
from click.testing import CliRunner, Result

from lambdabench.cli import main


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def entry(args: tuple[str, ...]) -> None:
    main(list(args))


def run(args: list[str], env: Mapping[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(entry, args, env=dict(env or {}), input=input, catch_exceptions=False)


def assert_one_line_error(result: Result, *needles: str) -> str:
    assert result.exit_code != 0, result.output
    err = result.stderr.strip()
    assert err.startswith("error: "), err
    assert "\n" not in err, f"more than one line: {err!r}"
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle.lower() in err.lower(), err
    return err
