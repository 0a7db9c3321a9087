"""Machines the user brings: an SSH host (`--host user@addr[:port]`, or an ~/.ssh/config alias) or this one.

They run the same playbooks, preflight, pull and report rows as launched instances, priced at the
$/h the user gives (0 by default: a machine you own). lambdabench never terminates or reaps them:
their ledger rows are of kind `host`/`local`, which gc and `down` leave alone.

Spec syntax: `[user@]addr[:port][,label=NAME][,price=USD_PER_HOUR][,key=PATH]`, or `local`.
An alias is resolved like OpenSSH does for the keys lambdabench needs (HostName, User, Port,
IdentityFile; `Host` patterns, first value wins: ssh_config(5)); ProxyJump/ProxyCommand are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from lambdabench.errors import UsageError

LOCAL = "local"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_HOSTPART = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<addr>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class HostSpec:
    """One machine the user brought, resolved: where to connect and how to show and price it."""

    spec: str  # as the user wrote it (kept for resume)
    kind: str  # host | local
    label: str
    price_cents_per_hour: int = 0
    addr: str = ""
    user: str | None = None  # None: the settings' SSH user
    port: int | None = None  # None: 22
    key_path: Path | None = None  # None: lambdabench's own key
    alias: str | None = None  # the ~/.ssh/config Host it came from

    @property
    def type_name(self) -> str:
        return LOCAL if self.kind == "local" else f"host:{self.label}"

    @property
    def gpus(self) -> int | None:
        return None  # known after the preflight's nvidia-smi

    def facts(self) -> dict[str, Any]:
        """Type facts before preflight: nothing is known, so no requirement refuses it yet."""
        return {"name": self.type_name, "gpus": None, "gpu_model": None, "vram_gb": None, "rtx": None,
                "arch": None}


def parse_hosts(specs: Sequence[str], *, local: bool = False, ssh_config: Path | None = None) -> list[HostSpec]:
    """`--host` values (and `--local`) into HostSpecs; one clear line for anything malformed."""
    out = [parse_host(s, ssh_config=ssh_config) for s in specs]
    if local and not any(h.kind == "local" for h in out):
        out.append(HostSpec(LOCAL, "local", LOCAL))
    labels = [h.label for h in out]
    dup = next((x for x in labels if labels.count(x) > 1), None)
    if dup is not None:
        raise UsageError(f"two --host entries are labelled {dup!r}", "Give each a label=NAME of its own.")
    return out


def parse_host(spec: str, *, ssh_config: Path | None = None) -> HostSpec:
    text = spec.strip()
    head, *options = [p.strip() for p in text.split(",")]
    opts: dict[str, str] = {}
    for opt in options:
        key, sep, value = opt.partition("=")
        key = key.strip()
        if not sep or key not in ("label", "price", "key"):
            raise UsageError(f"--host {spec!r}: {opt!r} is not label=, price= or key=",
                             "Write e.g. --host ubuntu@10.0.0.5:22,label=ws4090,price=0.")
        if key in opts:
            raise UsageError(f"--host {spec!r}: {key}= is given twice", f"Give {key}= once.")
        if not value.strip():
            raise UsageError(f"--host {spec!r}: {key}= is empty", f"Give a value, or leave {key}= out.")
        opts[key] = value.strip()
    price = _price(spec, opts.get("price", "0"))
    if head == LOCAL:
        if "key" in opts:
            raise UsageError(f"--host {spec!r}: this machine is reached without SSH, so key= means nothing",
                             "Leave key= out for local.")
        label = _label(spec, opts.get("label", LOCAL))
        return HostSpec(text, "local", label, price)
    m = _HOSTPART.match(head)
    if not m:
        raise UsageError(f"--host {spec!r} is not [user@]address[:port]", "Write e.g. --host ubuntu@10.0.0.5:2222.")
    user, addr, port = m["user"], m["addr"].strip("[]"), m["port"]
    alias = None
    key_path = _home_path(opts["key"], ssh_config) if opts.get("key") else None
    resolved = _ssh_config_entry(addr, ssh_config)
    if resolved:
        alias = addr
        for key, shown in (("proxyjump", "ProxyJump"), ("proxycommand", "ProxyCommand")):
            if key in resolved:
                raise UsageError(f"--host {spec!r}: ~/.ssh/config gives {alias} a {shown}, "
                                 "which lambdabench does not follow", "Give the host's own address instead.")
        addr = resolved.get("hostname", addr)
        user = user or resolved.get("user")
        port = port or resolved.get("port")
        if key_path is None and resolved.get("identityfile"):
            key_path = _home_path(resolved["identityfile"], ssh_config)
    port_n = int(port) if port else None
    if port_n is not None and not 0 < port_n < 65536:
        raise UsageError(f"--host {spec!r}: port {port_n} is not 1-65535")
    label = _label(spec, opts["label"]) if "label" in opts else _derived_label(alias or addr)
    return HostSpec(text, "host", label, price, addr, user, port_n, key_path, alias)


def _home_path(text: str, ssh_config: Path | None) -> Path:
    """`~/…` relative to the user's home (the folder above the .ssh holding their config)."""
    if text.startswith("~/") and ssh_config is not None:
        return ssh_config.parent.parent / text[2:]
    return Path(text)


def _price(spec: str, text: str) -> int:
    from lambdabench.cost import parse_dollars

    try:
        dollars = parse_dollars(text)
    except UsageError as exc:
        raise UsageError(f"--host {spec!r}: price: {exc.message}", "Give dollars per hour, e.g. price=1.29.") from None
    return int((dollars * Decimal(100)).to_integral_value())


def _label(spec: str, label: str) -> str:
    """A label the user gave: used as written, or refused."""
    if not _LABEL.match(label):
        raise UsageError(f"--host {spec!r}: label {label!r} must be 1-40 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit", "e.g. label=ws4090")
    return label


def _derived_label(addr: str) -> str:
    """A label made from the address when none is given: always valid (an IPv6 address, a long name)."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", addr).strip("-._")
    if ":" in addr:
        text = f"ipv6-{text}"
    return text[:40].rstrip("-._") or "host"


def _ssh_config_entry(name: str, path: Path | None) -> dict[str, str]:
    """The OpenSSH settings for `name` (first value wins, Host patterns as ssh_config(5)); {} if none."""
    import fnmatch

    if path is None:
        return {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    found: dict[str, str] = {}
    applies = True  # options before the first Host line apply to every host
    matched_any = False
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = _split(line)
        key = key.lower()
        if key == "host":
            pats = value.split()
            pos = [p for p in pats if not p.startswith("!")]
            neg = [p[1:] for p in pats if p.startswith("!")]
            applies = any(fnmatch.fnmatch(name, p) for p in pos) and not any(fnmatch.fnmatch(name, p) for p in neg)
            matched_any = matched_any or (applies and any(p == name for p in pos))
            continue
        if key == "match":
            applies = False  # Match blocks need evaluation we do not do
            continue
        if applies and key not in found:
            found[key] = value.strip().strip('"')
    return found if matched_any else {}


def _split(line: str) -> tuple[str, str, str]:
    m = re.match(r"^(\S+?)(?:\s*=\s*|\s+)(.*)$", line)
    if not m:
        return line, "", ""
    return m.group(1), "", m.group(2)
