"""What a command needs, built lazily from Settings: the cloud client, the ledger, timeouts, the SSH key."""

from __future__ import annotations

import sys
from functools import cached_property
from typing import TYPE_CHECKING

from lambdabench.config import Settings

if TYPE_CHECKING:
    from lambdabench.cloud.client import LambdaCloud
    from lambdabench.instances import Timeouts
    from lambdabench.ledger import Ledger
    from lambdabench.sshkeys import LocalKey


class Context:
    """Per-invocation objects; nothing costly is built until a command asks for it."""

    def __init__(self, settings: Settings, *, verbose: bool = False) -> None:
        self.settings = settings
        self.verbose = verbose

    def notify(self, message: str) -> None:
        """Progress on stderr (stdout is for data)."""
        from lambdabench.secrets import redact

        print(redact(message), file=sys.stderr, flush=True)

    @cached_property
    def cloud(self) -> LambdaCloud:
        from lambdabench.cloud.client import LambdaCloud, RetryPolicy
        from lambdabench.cloud.pacing import shared_pacer

        s = self.settings
        scale = s.time_scale
        return LambdaCloud(
            s.require_api_key(),
            s.api_url,
            pacer=shared_pacer(s.request_interval, s.launch_interval),
            retry=RetryPolicy(
                budget_s=s.retry_budget,
                rate_limit_s=s.rate_limit_backoff,
                base_s=1.0 / scale,
                max_backoff_s=60.0 / scale,
                launch_lookup_s=60.0 / scale,
            ),
        )

    @cached_property
    def ledger(self) -> Ledger:
        from lambdabench.ledger import Ledger

        return Ledger(self.settings.home)

    @cached_property
    def timeouts(self) -> Timeouts:
        from lambdabench.instances import Timeouts

        return Timeouts.scaled(self.settings.time_scale)

    @cached_property
    def local_key(self) -> LocalKey:
        from lambdabench.sshkeys import ensure_local_key

        return ensure_local_key(self.settings.ssh_key_path)

    def ssh_key_name(self) -> str:
        from lambdabench.sshkeys import register_key

        return register_key(self.cloud, self.local_key)

    def close(self) -> None:
        if "cloud" in self.__dict__:
            self.cloud.close()
        if "ledger" in self.__dict__:
            self.ledger.close()
