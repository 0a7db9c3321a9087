"""The opt-in on-instance failsafe (`sweep --failsafe`): an instance ends itself once its run's cap passed.

When this machine dies (power, network, kill -9) its instances bill until someone runs `gc` (dstack
#1047 asks for this; SkyPilot's autodown runs on the VM with the key copied there). With the failsafe
on, each instance gets a detached timer that, past the run's cap plus a grace, terminates that one
instance through the API. The trade-off (README): the account's API key sits on the instance, in a 0600
file of the login user, until teardown removes it (or the terminate wipes the disk) — anyone with a
shell there can use the key. Off by default.

The key reaches the instance on stdin only, never in an argv (house rule); curl reads the header from
that file (`-H @file`, curl >= 7.55), so the key is in no process's command line there either.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdabench.remote.transport import Transport
    from lambdabench.secrets import Secret

DIR = ".lambdabench/failsafe"  # under the login user's home on the instance
GRACE_S = 120.0  # cloud seconds past the cap: the client's own teardown goes first when it is alive


def arm(session: Transport, *, api_url: str, api_key: Secret, instance_id: str, after_s: float) -> None:
    """Write the key (0600) and start the detached timer that terminates `instance_id` after `after_s`."""
    from lambdabench.secrets import Secret

    url = api_url.rstrip("/") + "/instance-operations/terminate"
    body = json.dumps({"instance_ids": [instance_id]})
    header = Secret(f"Authorization: Bearer {api_key.reveal()}\n")
    session.run(f"umask 077 && mkdir -p {DIR} && cat > {DIR}/auth && chmod 600 {DIR}/auth", stdin=header, timeout=30)
    fire = (
        f"sleep {max(1, round(after_s))}; curl -sS --max-time 30 -X POST -H @$HOME/{DIR}/auth "
        f"-H 'Content-Type: application/json' --data {shlex.quote(body)} {shlex.quote(url)}"
    )
    session.run(
        f"cd {DIR} && {{ setsid nohup bash -c {shlex.quote(fire)} > log 2>&1 < /dev/null & echo $! > pid; }}",
        timeout=30,
    )


def disarm(session: Transport) -> None:
    """Stop the timer and remove the key file (teardown, before its own terminate)."""
    session.run(
        f"if [ -f {DIR}/pid ]; then kill -- -$(cat {DIR}/pid) 2>/dev/null || kill $(cat {DIR}/pid) "
        f"2>/dev/null; fi; rm -f {DIR}/auth {DIR}/pid",
        timeout=30,
        check=False,
    )
