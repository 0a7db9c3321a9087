"""One process-wide pacer: every thread takes a slot before it calls the API."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

LOUD_WAIT_S = 10.0  # a wait this long or longer is announced, and counted down every this many seconds
MAX_HOLD_S = 3600.0  # no lock-out is held longer than this, whatever a server asks (the client caps far lower)


class Pacer:
    """Spaces requests at least `request_interval` apart and launches `launch_interval` apart.

    Slots are handed out under a lock and slept on outside it, so many threads queue fairly and a
    429 lock-out (`hold`) pushes every later slot back at once.
    """

    def __init__(
        self,
        request_interval: float = 1.0,
        launch_interval: float = 12.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.request_interval = max(0.0, request_interval)
        self.launch_interval = max(0.0, launch_interval)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_request = 0.0
        self._next_launch = 0.0
        self.requests = 0
        self.launches = 0
        self.waited = 0.0

    def acquire(
        self, launch: bool = False, notify: Callable[[str], None] | None = None, abort: Callable[[], bool] | None = None
    ) -> float:
        """Block until this caller may send; returns the seconds waited (a long wait counts down aloud).

        `abort` is asked between the countdown's slices: true stops the wait (Cancelled), so a repeated
        Ctrl-C in a teardown never sits out a long lock-out.
        """
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_request)
            if launch:
                slot = max(slot, self._next_launch)
                self._next_launch = slot + self.launch_interval
                self.launches += 1
            self._next_request = slot + self.request_interval
            self.requests += 1
        wait = slot - now
        if wait > 0:
            if notify is not None and wait >= LOUD_WAIT_S:
                # never a silent hold: say how long, and again every slice, until it is over
                left = wait
                while left > 0:
                    if abort is not None and abort():
                        from lambdabench.errors import Cancelled

                        raise Cancelled("stopped while waiting for the Lambda API")
                    notify(f"waiting for the Lambda API: next request in {left:.0f}s")
                    step = min(left, LOUD_WAIT_S)
                    self._sleep(step)
                    left -= step
            else:
                self._sleep(wait)
            with self._lock:
                self.waited += wait
        return max(0.0, wait)

    def hold(self, seconds: float) -> None:
        """Nobody sends for `seconds` (a rate-limit lock-out applies to the whole account)."""
        if not math.isfinite(seconds):
            seconds = 0.0
        with self._lock:
            until = self._clock() + min(max(0.0, seconds), MAX_HOLD_S)
            self._next_request = max(self._next_request, until)

    def next_launch_in(self) -> float:
        with self._lock:
            return max(0.0, self._next_launch - self._clock())


_shared: dict[tuple[float, float], Pacer] = {}
_shared_lock = threading.Lock()


def shared_pacer(request_interval: float, launch_interval: float) -> Pacer:
    """The process-wide pacer for these limits (one per configuration, shared by all clients)."""
    key = (request_interval, launch_interval)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Pacer(request_interval, launch_interval)
        return _shared[key]
