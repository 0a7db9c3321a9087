"""The error tree: every failure the user sees is one LambdabenchError, printed as one line."""

from __future__ import annotations


class LambdabenchError(Exception):
    """Root of every error reported to the user: a message (what is wrong) and a hint (what to do)."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = " ".join(self.message.split())
        if self.hint:
            text += f" — {' '.join(self.hint.split())}"
        return text


class UsageError(LambdabenchError):
    """Bad input from the user: a flag, a name, a value."""

    exit_code = 2


class ConfigError(LambdabenchError):
    """Missing or malformed settings (API key, settings files)."""

    exit_code = 2


class BudgetError(LambdabenchError):
    """A cost cap would be passed."""

    exit_code = 3


class Cancelled(LambdabenchError):
    """The user stopped the work (Ctrl-C, SIGTERM, SIGHUP): not a failure, resumable."""

    exit_code = 130


class RemoteError(LambdabenchError):
    """A command or transfer on an instance failed."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        command: str | None = None,
        exit_status: int | None = None,
        stderr_tail: str = "",
    ) -> None:
        super().__init__(message, hint)
        self.command = command
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail


class PlaybookError(LambdabenchError):
    """A playbook file is invalid; names the file and line."""

    exit_code = 2


class LedgerError(LambdabenchError):
    """The run ledger cannot be read or written."""


class SimulatorError(LambdabenchError):
    """The built-in simulator cannot start or run."""
