"""Machines the user brings: an SSH host (`--host user@addr[:port]`, or an ~/.ssh/config alias) or this one.

They run the same playbooks, preflight, pull and report rows as launched instances, priced at the
$/h the user gives (0 by default: a machine you own). lambdabench never terminates or reaps them:
their ledger rows are of kind `host`/`local`, which gc and `down` leave alone.

Spec syntax: `[user@]addr[:port][,label=NAME][,price=USD_PER_HOUR][,key=PATH]`, or `local`.
An alias is resolved like OpenSSH does for the keys lambdabench needs (HostName, User, Port,
IdentityFile), through Include and Match, tokens expanded (remote/sshconfig.py; `ssh -G` where only
ssh can tell); ProxyJump/ProxyCommand are refused, and so is a private key that cannot be used
(missing, a folder, unreadable, not a key, passphrase-protected) — at plan time, not after the SSH window.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from lambdabench.errors import UsageError

LOCAL = "local"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_HOSTPART = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<addr>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d{1,5}))?$"
)


@dataclass(frozen=True)
class HostSpec:
    """One machine the user brought, resolved: where to connect and how to show and price it."""

    spec: str  # as the user wrote it (kept for resume)
    kind: Literal["host", "local"]  # the ledger kinds (InstanceKind) of a machine the user brought
    label: str
    price_cents_per_hour: int = 0
    addr: str = ""
    user: str | None = None  # None: the settings' SSH user
    port: int | None = None  # None: 22
    key_path: Path | None = None  # None: lambdabench's own key
    alias: str | None = None  # the ~/.ssh/config Host it came from
    key_from: str | None = None  # where key_path came from: "key=" or "~/.ssh/config"

    @property
    def type_name(self) -> str:
        return LOCAL if self.kind == "local" else f"host:{self.label}"

    @property
    def gpus(self) -> int | None:
        return None  # known after the preflight's nvidia-smi

    def facts(self) -> dict[str, Any]:
        """Type facts before preflight: nothing is known, so no requirement refuses it yet."""
        return {"name": self.type_name, "gpus": None, "gpu_model": None, "vram_gb": None, "rtx": None, "arch": None}


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
            raise UsageError(
                f"--host {spec!r}: {opt!r} is not label=, price= or key=",
                "Write e.g. --host ubuntu@10.0.0.5:22,label=ws4090,price=0.",
            )
        if key in opts:
            raise UsageError(f"--host {spec!r}: {key}= is given twice", f"Give {key}= once.")
        if not value.strip():
            raise UsageError(f"--host {spec!r}: {key}= is empty", f"Give a value, or leave {key}= out.")
        opts[key] = value.strip()
    price = _price(spec, opts.get("price", "0"))
    if head == LOCAL:
        if "key" in opts:
            raise UsageError(
                f"--host {spec!r}: this machine is reached without SSH, so key= means nothing",
                "Leave key= out for local.",
            )
        label = _label(spec, opts.get("label", LOCAL))
        return HostSpec(text, "local", label, price)
    m = _HOSTPART.match(head)
    if not m:
        raise UsageError(f"--host {spec!r} is not [user@]address[:port]", "Write e.g. --host ubuntu@10.0.0.5:2222.")
    user, addr, port = m["user"], m["addr"].strip("[]"), m["port"]
    alias = None
    key_path = _home_path(opts["key"], ssh_config) if opts.get("key") else None
    key_from = "key=" if key_path is not None else None
    resolved = _ssh_config_entry(spec, addr, ssh_config)
    if resolved:
        alias = addr
        for key, shown in (("proxyjump", "ProxyJump"), ("proxycommand", "ProxyCommand")):
            if key in resolved:
                raise UsageError(
                    f"--host {spec!r}: ~/.ssh/config gives {alias} a {shown}, which lambdabench does not follow",
                    "Give the host's own address instead.",
                )
        addr = resolved.get("hostname", addr)
        user = user or resolved.get("user")
        port = port or resolved.get("port")
        if key_path is None and resolved.get("identityfile"):
            key_path, key_from = Path(resolved["identityfile"]), "~/.ssh/config"
    if port and not str(port).isdigit():
        raise UsageError(f"--host {spec!r}: ~/.ssh/config gives port {port!r}, not a number", "Fix its Port line.")
    port_n = int(port) if port else None
    if port_n is not None and not 0 < port_n < 65536:
        raise UsageError(f"--host {spec!r}: port {port_n} is not 1-65535")
    label = _label(spec, opts["label"]) if "label" in opts else _derived_label(alias or addr)
    return HostSpec(text, "host", label, price, addr, user, port_n, key_path, alias, key_from)


def check_host_keys(hosts: Sequence[HostSpec]) -> None:
    """Every private key a host names can be used as it is: else one line now, not a 10-minute SSH retry."""
    for host in hosts:
        if host.key_path is not None:
            _check_key(host)


def _check_key(host: HostSpec) -> None:
    import paramiko

    path = host.key_path
    assert path is not None
    what = f"--host {host.spec!r}: the private key {path} (from {host.key_from or 'key='})"
    fix = "Give key=PATH to a private key without a passphrase (or leave key= out: lambdabench's own key)."
    if not path.exists():
        raise UsageError(f"{what} does not exist", fix)
    if path.is_dir():
        raise UsageError(f"{what} is a folder, not a key file", fix)
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise UsageError(f"{what} cannot be read: {exc.strerror}", "Check its owner and mode (chmod 600).") from None
    encrypted = False
    # the key classes paramiko's client tries for key_filename (the connector's own path to it)
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            cls.from_private_key_file(str(path))
            return
        except paramiko.PasswordRequiredException:
            encrypted = True
        except (paramiko.SSHException, ValueError, TypeError, IndexError, UnicodeError):
            continue
    if encrypted:
        raise UsageError(
            f"{what} is protected by a passphrase, which lambdabench cannot type (it uses no agent)",
            "Use a key without a passphrase for this host (ssh-keygen -t ed25519 -N '').",
        )
    raise UsageError(f"{what} is not an Ed25519, ECDSA or RSA private key", fix)


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
        raise UsageError(
            f"--host {spec!r}: label {label!r} must be 1-40 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            "e.g. label=ws4090",
        )
    return label


def _derived_label(addr: str) -> str:
    """A label made from the address when none is given: always valid (an IPv6 address, a long name)."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", addr).strip("-._")
    if ":" in addr:
        text = f"ipv6-{text}"
    return text[:40].rstrip("-._") or "host"


def _ssh_config_entry(spec: str, name: str, path: Path | None) -> dict[str, str]:
    """The OpenSSH settings for `name` when the config names it (an alias), IdentityFile expanded; {} if not."""
    from lambdabench.remote import sshconfig

    if path is None or not path.is_file():
        return {}
    home = path.parent.parent
    try:
        res = sshconfig.resolve(name, path, home=home)
        if not res.named:
            return {}
        out = {k: v for k, v in res.options.items() if k != "identityfile"}
        if res.identityfiles:
            out["identityfile"] = str(sshconfig.identity_path(res.identityfiles[0], name, res, home=home))
        return out
    except sshconfig.NeedsSsh as exc:
        try:
            found = _from_ssh_g(name, path, home)
        except sshconfig.ConfigProblem as problem:
            raise UsageError(f"--host {spec!r}: {problem}", "Fix ~/.ssh/config, or give the host's address.") from None
        if found is None:
            raise UsageError(
                f"--host {spec!r}: ~/.ssh/config uses {exc}, which only ssh evaluates, and no ssh binary is installed",
                "Give the host's own address (user@addr:port,key=PATH).",
            ) from None
        return found
    except sshconfig.ConfigProblem as exc:
        raise UsageError(
            f"--host {spec!r}: ~/.ssh/config: {exc}", "Fix the file, or give the host's address."
        ) from None


def _from_ssh_g(name: str, path: Path, home: Path) -> dict[str, str] | None:
    """What `ssh -G` says differs from its defaults for `name` (None: no ssh binary)."""
    import os

    from lambdabench.remote import sshconfig

    given = sshconfig.ssh_g(name, path)
    defaults = sshconfig.ssh_g(name, Path(os.devnull))
    if given is None or defaults is None:
        return None
    out: dict[str, str] = {
        k: given[k][0] for k in ("hostname", "user", "port") if k in given and given[k] != defaults.get(k)
    }
    for k in ("proxyjump", "proxycommand"):
        if k in given and given[k][0].lower() != "none":
            out[k] = given[k][0]
    extra = [f for f in given.get("identityfile", []) if f not in defaults.get("identityfile", [])]
    if extra:
        out["identityfile"] = str(home) + extra[0][1:] if extra[0].startswith("~") else extra[0]
    return out
