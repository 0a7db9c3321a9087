"""Simulated instance image: Python in a session reads the host's /etc/os-release, not this machine's.

sim-session puts this folder on PYTHONPATH; each host's os-release (its image's Ubuntu release) lives in
$LAMBDABENCH_SIM_STATE/sysroot/etc/os-release. open() of /etc/os-release or /usr/lib/os-release (the two
paths os-release(5) names, read by platform.freedesktop_os_release() and lambdabench's env_lock) is sent
there; every other path is untouched.
"""

from __future__ import annotations

import builtins
import io
import os
from typing import Any

_PATHS = ("/etc/os-release", "/usr/lib/os-release")
_state = os.environ.get("LAMBDABENCH_SIM_STATE", "")
_host_file = os.path.join(_state, "sysroot", "etc", "os-release") if _state else ""

if _host_file and os.path.isfile(_host_file):
    _real_open = io.open

    def _open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) in _PATHS:
            file = _host_file
        return _real_open(file, *args, **kwargs)

    builtins.open = _open
    io.open = _open
