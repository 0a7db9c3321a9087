"""The local SSH key: generated once (ed25519, 0600), registered under a name derived from its fingerprint."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdabench.errors import ConfigError

if TYPE_CHECKING:
    from lambdabench.cloud.client import LambdaCloud


@dataclass(frozen=True)
class LocalKey:
    private_path: Path
    public_key: str  # "ssh-ed25519 AAAA... comment"

    @property
    def blob(self) -> bytes:
        return base64.b64decode(self.public_key.split()[1])

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    @property
    def registered_name(self) -> str:
        """Same key, same name: registering is idempotent and never races on a duplicate name."""
        return "lambdabench-" + hashlib.sha256(self.blob).hexdigest()[:16]


def ensure_local_key(path: Path) -> LocalKey:
    """Load the key at `path`, generating an ed25519 pair there (0600) if absent.

    Two commands on a fresh home race here: both would generate a key, and a private key and a .pub
    from different runs make every later launch unreachable. So creation happens under an exclusive
    lock, and the .pub is always the one derived from the private key.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_path = path.with_name(f".{path.name}.lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if not path.exists():
                _generate(path)
            return _load(path)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _generate(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _load(path: Path) -> LocalKey:
    """The key pair with its public half derived from the private key (the .pub rewritten if it differs)."""
    from cryptography.hazmat.primitives import serialization

    pub_path = path.with_name(path.name + ".pub")
    try:
        private = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"SSH key {path} cannot be read ({exc})",
            "Point LAMBDABENCH_SSH_KEY at an unencrypted OpenSSH private key, or delete it to make a new one.",
        ) from None
    public = (
        private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    )
    existing = pub_path.read_text().strip() if pub_path.exists() else ""
    if existing.split()[:2] != public.split()[:2]:
        pub_text = public + " lambdabench"
        tmp = pub_path.with_name(f".{pub_path.name}.{os.getpid()}.tmp")
        tmp.write_text(pub_text + "\n")
        os.replace(tmp, pub_path)
        return LocalKey(path, pub_text)
    return LocalKey(path, existing)


def register_key(cloud: LambdaCloud, key: LocalKey) -> str:
    """Make sure Lambda knows this key; returns the name to launch with."""
    from lambdabench.cloud.errors import ConflictError, InvalidParametersError

    def find() -> str | None:
        for k in cloud.list_ssh_keys():
            parts = k.public_key.split()
            if len(parts) >= 2 and parts[1] == key.public_key.split()[1]:
                return k.name
        return None

    existing = find()
    if existing:
        return existing
    try:
        return cloud.add_ssh_key(key.registered_name, key.public_key).name
    except (ConflictError, InvalidParametersError):
        # someone registered it at the same moment (or the name exists): the list tells
        existing = find()
        if existing:
            return existing
        raise
