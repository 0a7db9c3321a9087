"""The error tree: every failure the user sees is one LambdabenchError, printed as one line.

Callers tell failures apart by class, never by message text. The tree (exit code in brackets):

    LambdabenchError [1]
    ├── UsageError [2]              bad input: a flag, a name, a value
    │   └── NotInLedger             an id given (a sweep) that the ledger does not hold
    ├── ConfigError [2]             missing or malformed settings
    ├── PlaybookError [2]           an invalid playbook file (names the file and line)
    ├── BudgetError [3]             a cost cap would be passed
    ├── Cancelled [130]             Ctrl-C, SIGTERM, SIGHUP: resumable, not a failure
    ├── LedgerError                 the ledger cannot be read or written
    ├── SimulatorError              the built-in simulator cannot start or run
    ├── RemoteError                 a command or transfer on a machine failed
    │   ├── RemoteTimeout           a command, step or wait ran past its time limit
    │   ├── StepFailed              a playbook step failed; `.cause` is the step's own error
    │   ├── remote.transport.ConnectionLost     the connection dropped (or could not be made)
    │   ├── remote.ssh.HostKeyChanged           the host's key is not the pinned one
    │   └── remote.ssh.AuthFailed               sshd refused our key
    ├── metrics.MetricsError        an artifact cannot be read
    ├── export.ExportError          an upload to S3 failed
    ├── run.nodes.BootError         an instance did not become active
    └── cloud.errors.CloudError     the Lambda Cloud API said no (its own tree: cloud/errors.py)

A programmer's mistake (a status the code itself made up) is a ValueError, not a LambdabenchError.
"""

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


class NotInLedger(UsageError):
    """An id the user gave (a sweep) that the ledger does not hold: bad input like any other."""


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


class RemoteTimeout(RemoteError):
    """A command, a step or a wait on a machine ran past its time limit."""


class StepFailed(RemoteError):
    """A playbook step failed; `cause` is the step's own error, its class kept (ConnectionLost, RemoteTimeout, …)."""

    def __init__(self, message: str, hint: str | None = None, *, cause: RemoteError) -> None:
        super().__init__(
            message, hint, command=cause.command, exit_status=cause.exit_status, stderr_tail=cause.stderr_tail
        )
        self.cause = cause
        self.__cause__ = cause


class PlaybookError(LambdabenchError):
    """A playbook file is invalid; names the file and line."""

    exit_code = 2


class LedgerError(LambdabenchError):
    """The run ledger cannot be read or written."""


class SimulatorError(LambdabenchError):
    """The built-in simulator cannot start or run."""
