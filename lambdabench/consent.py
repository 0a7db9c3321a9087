"""Consent before spending: what a command may cost, and whether to go on, ask (y/N) or refuse.

On a terminal anything that may spend shows its worst case and $/h and asks; `--yes` skips the
question. Without a terminal a budget (`--max-cost`) or `--yes` is the consent; otherwise the command
refuses in one line. The built-in simulator's money is not real, so it never asks: "simulated" is
both the simulator's own setting and an API address on loopback, so a real API URL always asks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from lambdabench.errors import UsageError

Decision = Literal["go", "ask", "refuse"]


@dataclass(frozen=True)
class Spend:
    """What a command is about to spend on the account."""

    what: str  # "a sweep of 2 runs (gpu_1x_a100, gpu_1x_h100_sxm5)", "1 × gpu_1x_h100_sxm5"
    cents_per_hour: int  # everything it launches, together
    worst_case_cents: int | None  # None: no bound (an instance kept until `lambdabench down`)

    def line(self) -> str:
        """One line for the question and the refusal."""
        rate = f"${self.cents_per_hour / 100:.2f}/h"
        if self.worst_case_cents is None:
            return f"{self.what}: {rate}, billed per minute until you run `lambdabench down`"
        return f"{self.what}: {rate}, worst case ${self.worst_case_cents / 100:.2f}"


def is_loopback(url: str) -> bool:
    """The API address is this machine (the built-in simulator, or a test double)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_money(*, simulated: bool, api_url: str) -> bool:
    """Spending here costs nothing real: the simulator, served on loopback."""
    return simulated and is_loopback(api_url)


def decide(spend: Spend, *, free: bool, yes: bool, budget_given: bool, interactive: bool) -> Decision:
    """Go on, ask on the terminal, or refuse (no terminal, no --yes, no budget)."""
    if free or yes or spend.cents_per_hour == 0:
        return "go"
    if interactive:
        return "ask"
    if budget_given and spend.worst_case_cents is not None:
        return "go"
    return "refuse"


def refusal(spend: Spend, *, budget_flag: bool) -> UsageError:
    """The one line a command without a terminal says instead of spending unasked."""
    how = "--yes (or --max-cost USD)" if budget_flag else "--yes"
    return UsageError(
        f"this may spend money and there is no terminal to ask: {spend.line()}",
        f"Pass {how} to agree, or run it in a terminal.",
    )
