"""lambdabench: benchmark Isaac Sim / Isaac Lab across Lambda Cloud GPUs and know what every run cost.

The public face (imported lazily, so `lambdabench --help` stays near bare-Python start-up):

    from lambdabench import Lab, SweepRequest
    with Lab() as lab:
        result = lab.sweep(SweepRequest(gpus="a10,h100", playbook="mjx-locomotion", max_cost="5"))
        print(lab.report([result.sweep_id]))

Errors: every failure is a LambdabenchError (UsageError, ConfigError, BudgetError, RemoteError,
PlaybookError, LedgerError, Cancelled, and CloudError from the API) with `.one_line()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdabench.names import NAME_PREFIX, TOOL_NAME
from lambdabench.names import VERSION as __version__

__all__ = [
    "NAME_PREFIX",
    "TOOL_NAME",
    "__version__",
    "BudgetError",
    "Cancelled",
    "CloudError",
    "ConfigError",
    "Lab",
    "LambdabenchError",
    "LedgerError",
    "PlaybookError",
    "RemoteError",
    "Report",
    "Settings",
    "SweepPlan",
    "SweepRequest",
    "SweepResult",
    "UsageError",
]

_WHERE = {
    "Lab": "lambdabench.lab",
    "Settings": "lambdabench.config",
    "SweepRequest": "lambdabench.run.plan",
    "SweepPlan": "lambdabench.run.plan",
    "SweepResult": "lambdabench.run.sweep",
    "Report": "lambdabench.report",
    "CloudError": "lambdabench.cloud.errors",
    "LambdabenchError": "lambdabench.errors",
    "UsageError": "lambdabench.errors",
    "ConfigError": "lambdabench.errors",
    "BudgetError": "lambdabench.errors",
    "RemoteError": "lambdabench.errors",
    "PlaybookError": "lambdabench.errors",
    "LedgerError": "lambdabench.errors",
    "Cancelled": "lambdabench.errors",
}

if TYPE_CHECKING:
    from lambdabench.cloud.errors import CloudError
    from lambdabench.config import Settings
    from lambdabench.errors import (
        BudgetError,
        Cancelled,
        ConfigError,
        LambdabenchError,
        LedgerError,
        PlaybookError,
        RemoteError,
        UsageError,
    )
    from lambdabench.lab import Lab
    from lambdabench.report import Report
    from lambdabench.run.plan import SweepPlan, SweepRequest
    from lambdabench.run.sweep import SweepResult


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'lambdabench' has no attribute {name!r}")
