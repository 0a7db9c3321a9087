"""Progress on stderr for the CLI: the run wing's events as lines, and on a terminal a live board below.

Writing can fail — a closed terminal (SIGHUP), `| head`, a `tee` killed by the same Ctrl-C — and
nothing here may take a teardown down with it: the first failed write turns this renderer off.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from lambdabench.run.sweep import Event


class Progress:
    """Per-run stage lines (stdout stays for the report); on a terminal, a board of every run's stage."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.RLock()
        self.stages: dict[str, tuple[str, float]] = {}
        try:
            tty = self.stream.isatty()
        except (OSError, ValueError):
            tty = False
        self.live = tty if live is None else live
        self._drawn = 0
        self._dead = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, event: Event) -> None:
        from lambdabench.secrets import redact

        with self._lock:
            if event.kind == "stage" and event.label:
                self.stages[event.label] = (event.message, time.monotonic())
            text = f"[{event.label}] {event.message}" if event.label else event.message
            self._erase()
            self._write(redact(text) + "\n")
            self._draw()
        if self.live and self._thread is None and not self._dead:
            self._thread = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._erase()

    def _write(self, text: str) -> None:
        if self._dead:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self._dead = True  # the terminal or pipe is gone: teardown goes on without us

    def _tick(self) -> None:
        while not self._stop.wait(1.0) and not self._dead:
            with self._lock:
                self._erase()
                self._draw()

    def _erase(self) -> None:
        if self.live and self._drawn:
            self._write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        if not self.live or self._stop.is_set() or not self.stages or self._dead:
            return
        now = time.monotonic()
        width = max(len(k) for k in self.stages)
        lines = [f"  {label.ljust(width)}  {stage[:60]:<60}  {now - since:6.0f}s"
                 for label, (stage, since) in sorted(self.stages.items())]
        self._write("\x1b[2m" + "\n".join(lines) + "\x1b[0m\n")
        self._drawn = len(lines)


def notify(stream: TextIO | None = None) -> Progress:
    """A renderer for commands other than sweep: lines only."""
    return Progress(stream, live=False)
