"""Shell quoting helpers: every value that reaches a remote command line goes through here."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping

__all__ = ["quote", "join", "env_prefix", "bash_c", "in_container", "sudo"]


def quote(value: object) -> str:
    """One shell word for any value; bools render as true/false, None as an empty word."""
    if value is None:
        return "''"
    if isinstance(value, bool):
        return "true" if value else "false"
    return shlex.quote(str(value))


def join(argv: Iterable[object]) -> str:
    """A command line whose words are exactly argv."""
    return " ".join(quote(word) for word in argv)


def env_prefix(env: Mapping[str, object]) -> str:
    """`export K=V; ...` for non-secret environment values (names checked, values quoted)."""
    parts = []
    for name, value in env.items():
        if not name.isidentifier() or not name.isascii():
            raise ValueError(f"not an environment variable name: {name!r}")
        parts.append(f"export {name}={quote(value)};")
    return " ".join(parts)


def bash_c(command: str) -> str:
    """Run command under bash (the login shell may be anything) with pipefail on."""
    return join(["bash", "-c", "set -o pipefail; " + command])


def in_container(container: str, command: str, *, interactive_stdin: bool = False) -> str:
    """`docker exec <container> bash -c <command>`, nested quoting done once, here."""
    argv = ["docker", "exec"]
    if interactive_stdin:
        argv.append("-i")
    argv += [container, "bash", "-c", command]
    return join(argv)


def sudo(command: str) -> str:
    """Run command as root without a password prompt (Lambda images have passwordless sudo)."""
    return join(["sudo", "-n", "--", "bash", "-c", command])
