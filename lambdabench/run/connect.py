"""How the run wing reaches a node: SSH (instances, BYO hosts) or this machine's own transport."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdabench.remote.ssh import Session, SshTarget
    from lambdabench.remote.transport import Transport
    from lambdabench.run.context import Node
    from lambdabench.run.env import RunEnv


class Connect:
    """The Connector the sweep and the interactive commands use; `ensure_key` makes the key exist first."""

    def __init__(self, env: RunEnv, *, ensure_key: object = None) -> None:
        self.env = env
        self._ensure_key = ensure_key

    def target(
        self,
        address: str,
        instance_id: str | None,
        *,
        user: str | None = None,
        port: int | None = None,
        key: Path | None = None,
    ) -> SshTarget:
        from lambdabench.remote.ssh import SshTarget

        if callable(self._ensure_key) and key is None:
            self._ensure_key()
        key_path = key or self.env.ssh_key_path
        assert key_path is not None
        return SshTarget(
            host=address,
            key_path=key_path,
            user=user or self.env.ssh_user,
            port=port or self.env.ssh_port,
            instance_id=instance_id,
        )

    def __call__(self, node: Node, *, timeout: float) -> Transport:
        if node.kind == "local":
            from lambdabench.remote.local import LocalSession

            return LocalSession(home=self.env.home, verbose=self.env.verbose).open()
        return self.ssh(
            self.target(node.address, node.instance_id, user=node.ssh_user, port=node.ssh_port, key=node.ssh_key),
            timeout=timeout,
        )

    def ssh(self, target: SshTarget, *, timeout: float) -> Session:
        """Wait for sshd (it lags `active`), pin the host key on first use, return an open session."""
        from lambdabench.remote.ssh import KnownHosts, wait_for_ssh

        t = self.env.timeouts
        return wait_for_ssh(
            target,
            timeout=timeout,
            first_delay=t.ssh_first_delay,
            max_delay=t.ssh_max_delay,
            known_hosts=KnownHosts(self.env.known_hosts),
            verbose=self.env.verbose,
        )
