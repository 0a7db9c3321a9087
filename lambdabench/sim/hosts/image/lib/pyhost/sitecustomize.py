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


class _Open:
    """open() with the os-release paths sent to the host's file.

    An object, not a function: a function stored as a class attribute binds as a method, and Python 3.10's
    pathlib keeps `open = io.open` on its accessor class and calls `self._accessor.open(self, mode, ...)` (CPython
    v3.10.13 Lib/pathlib.py:286, :1119), so a patched function would get the accessor as its file and every
    Path.open()/read_text() would fail.
    """

    def __init__(self, real: Any) -> None:
        self._real = real

    def __call__(self, file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) in _PATHS:
            file = _host_file
        return self._real(file, *args, **kwargs)


if _host_file and os.path.isfile(_host_file):
    builtins.open = io.open = _Open(io.open)
