"""An OpenSSH client config, read as `ssh` reads it, for the options lambdabench uses to reach a host.

Followed as ssh_config(5) (OpenSSH 9.x) says: first value wins; `Host` patterns (with `!`) match the
name typed; `Match` criteria host/originalhost/user/localuser/all/final/canonical, negated with `!`;
`Include` (globs, sorted; relative paths under ~/.ssh) also inside a block, which makes it conditional;
`Match final` asks for a second pass that only fills what is still unset; tokens expanded in HostName
(%h %%) and IdentityFile (%% %d %h %i %L %l %n %p %r %u, ~). What cannot be evaluated here (`Match exec`,
`localnetwork`, `tagged`, another token) raises `NeedsSsh`: the caller asks `ssh -G` (`ssh_g`), the
real reference, when the binary exists. tests/core/test_plan_checks.py compares both on the same files.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import shlex
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

WANTED = ("hostname", "user", "port", "identityfile", "proxyjump", "proxycommand")
_MAX_DEPTH = 16  # OpenSSH's READCONF_MAX_DEPTH


class NeedsSsh(Exception):
    """The config uses something only `ssh` itself evaluates (a Match exec, an unknown token)."""


class ConfigProblem(Exception):
    """The config cannot be read as OpenSSH would (an Include loop, a bad line): the text says what."""


@dataclass
class Resolved:
    """What the config gives a host: first values (identityfile: every one, in order)."""

    options: dict[str, str] = field(default_factory=dict)
    identityfiles: list[str] = field(default_factory=list)
    named: bool = False  # a Host/Match line other than a bare `*`/`all` matched this host: an alias


def _split(line: str) -> tuple[str, list[str]]:
    m = re.match(r"^(\S+?)(?:\s*=\s*|\s+)(.*)$", line)
    if not m:
        return line, []
    try:
        args = shlex.split(m.group(2), comments=True, posix=True)
    except ValueError as exc:
        raise ConfigProblem(f"cannot read {line!r}: {exc}") from None
    return m.group(1).lower(), args


def _match_list(value: str, patterns: str) -> bool:
    """OpenSSH match_pattern_list: comma-separated, `!` negates and wins."""
    hit = False
    for pat in patterns.split(","):
        pat = pat.strip()
        neg = pat.startswith("!")
        if fnmatch.fnmatchcase(value.lower(), pat[1:].lower() if neg else pat.lower()):
            if neg:
                return False
            hit = True
    return hit


class _Reader:
    def __init__(self, name: str, home: Path, local_user: str, final: bool, res: Resolved) -> None:
        self.name = name
        self.home = home
        self.local_user = local_user
        self.final = final
        self.res = res
        self.wants_final = False

    @property
    def host(self) -> str:
        """The host as Match host sees it: HostName (tokens expanded) once one applies."""
        hostname = self.res.options.get("hostname")
        return expand(hostname, self.tokens()) if hostname else self.name

    def tokens(self) -> dict[str, str]:
        return {
            "%": "%",
            "h": self.res.options.get("hostname", self.name).replace("%h", self.name),
            "n": self.name,
            "d": str(self.home),
            "u": self.local_user,
            "i": str(os.getuid()),
            "l": socket.gethostname(),
            "L": socket.gethostname().split(".")[0],
            "p": self.res.options.get("port", "22"),
            "r": self.res.options.get("user", self.local_user),
        }

    def read(self, path: Path, active: bool, never: bool, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ConfigProblem(f"Include nested more than {_MAX_DEPTH} deep at {path}")
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            return  # ssh skips an Include that does not exist; the top file's absence is the caller's
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, args = _split(line)
            if key == "host":
                active = not never and self._host(args)
            elif key == "match":
                active = not never and self._match(args, path, number)
            elif key == "include":
                for arg in args:
                    pattern = str(self.home) + arg[1:] if arg.startswith("~") else arg
                    if not os.path.isabs(pattern):
                        pattern = str(self.home / ".ssh" / pattern)
                    for found in sorted(glob.glob(pattern)):
                        self.read(Path(found), active, never or not active, depth + 1)
            elif active and key in WANTED and args:
                if key == "identityfile":
                    self.res.identityfiles.append(args[0])
                self.res.options.setdefault(key, args[0] if key != "proxycommand" else " ".join(args))

    def _host(self, patterns: list[str]) -> bool:
        if any(fnmatch.fnmatchcase(self.name, p[1:]) for p in patterns if p.startswith("!")):
            return False  # a matching negated pattern wins over the rest of the line
        hits = [p for p in patterns if not p.startswith("!") and fnmatch.fnmatchcase(self.name, p)]
        self.res.named = self.res.named or any(p != "*" for p in hits)
        return bool(hits)

    def _match(self, args: list[str], path: Path, number: int) -> bool:
        result, named, i = True, False, 0
        while i < len(args):
            word = args[i].lower()
            neg = word.startswith("!")
            word = word.lstrip("!")
            if word == "all":
                ok = True
                i += 1
            elif word in ("final", "canonical"):
                self.wants_final = True
                ok = self.final
                i += 1
            elif word in ("host", "originalhost", "user", "localuser"):
                if i + 1 >= len(args):
                    raise ConfigProblem(f"{path}:{number}: Match {word} needs a pattern")
                value = {
                    "host": self.host,
                    "originalhost": self.name,
                    "localuser": self.local_user,
                    "user": self.res.options.get("user", self.local_user),
                }[word]
                ok = _match_list(value, args[i + 1])
                named = named or word in ("host", "originalhost")
                i += 2
            else:
                raise NeedsSsh(f"{path}:{number}: Match {word}")
            if ok == neg:
                result = False
        if result and named:
            self.res.named = True
        return result


def expand(text: str, tokens: dict[str, str]) -> str:
    """%-tokens as ssh_config(5) TOKENS; an unknown one raises NeedsSsh."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in tokens:
            raise NeedsSsh(f"token %{m.group(1)} in {text!r}")
        return tokens[m.group(1)]

    return re.sub(r"%(.)", one, text)


def resolve(name: str, config: Path, *, home: Path, local_user: str | None = None) -> Resolved:
    """The config's options for `name`, as `ssh name` would take them (HostName expanded)."""
    user = local_user or _local_user()
    res = Resolved()
    reader = _Reader(name, home, user, False, res)
    reader.read(config, True, False, 0)
    if reader.wants_final:  # a second pass, as ssh does for `Match final`: fills only what is unset
        reader.final = True
        reader.read(config, True, False, 0)
    if "hostname" in res.options:
        res.options["hostname"] = expand(res.options["hostname"], {"%": "%", "h": name})
    return res


def identity_path(raw: str, name: str, res: Resolved, *, home: Path, local_user: str | None = None) -> Path:
    """An IdentityFile value as the path ssh opens (~ and tokens expanded)."""
    reader = _Reader(name, home, local_user or _local_user(), True, res)
    text = str(home) + raw[1:] if raw.startswith("~") else raw
    return Path(expand(text, reader.tokens()))


def ssh_g(name: str, config: Path, *, timeout: float = 15.0) -> dict[str, list[str]] | None:
    """`ssh -G` on this config (None when there is no ssh binary): every option it prints, in order."""
    ssh = shutil.which("ssh")
    if ssh is None:
        return None
    try:
        out = subprocess.run(
            [ssh, "-G", "-F", str(config), "--", name],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigProblem(f"`ssh -G {name}` did not answer: {exc}") from None
    if out.returncode != 0:
        raise ConfigProblem(f"`ssh -G {name}`: {' '.join(out.stderr.split())[:200]}")
    found: dict[str, list[str]] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        found.setdefault(key, []).append(value)
    return found


def _local_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
