"""Signals while instances are being ended: counted, never raised into a call in flight.

A teardown (`down`, `gc`, `launch --wait` cut short) keeps going on the first Ctrl-C, SIGTERM or
SIGHUP — stopping there would leave instances billing; the second
stops the waiting, and the caller names every instance not proven gone with the command that
finishes the job. Outside the main thread nothing is installed (signals only reach that thread).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdabench.cloud.client import LambdaCloud

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class TeardownSignals:
    """A context: while inside, SIGINT/SIGTERM/SIGHUP are counted; `give_up()` once there were two."""

    def __init__(self, notify: Callable[[str], None], *, already: int = 0, cloud: LambdaCloud | None = None) -> None:
        self.notify = notify
        self.count = already
        self.cloud = cloud  # its long waits (a capped Retry-After) stop once we give up
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> TeardownSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        if self.cloud is not None:
            self.cloud.abort = self.give_up
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        if self.cloud is not None:
            self.cloud.abort = None

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.notify(
                f"{name}: still terminating and proving every instance gone (they bill until then); "
                "Ctrl-C again to stop waiting"
            )
        elif self.count == 2:
            self.notify(f"{name} again: stopping; what is not proven gone is named next")

    def give_up(self) -> bool:
        return self.count >= 2


class SignalsAsInterrupt:
    """A context: SIGTERM and SIGHUP raise KeyboardInterrupt as Ctrl-C does (a wait then tears down)."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalsAsInterrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.received = signal.Signals(signum).name
        raise KeyboardInterrupt
