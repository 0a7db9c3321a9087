"""Progress on stderr for the CLI: the run wing's events as lines, and on a terminal a live board below.

The board shows, per run, what it waits for now (the latest thing said of it: booting with the
type's typical range, a playbook with its usual minutes) and for how long. It is drawn only on a
terminal that can move the cursor (not piped, not TERM=dumb), each line cut to the terminal's
width so a narrow window never wraps it (a wrapped line is one the redraw cannot erase), and dimmed
only without NO_COLOR. The hand-drawn board stays: rich's live display would add an import the
CLI's start-up budget (bench/startup.py) has no room for.

Writing can fail — a closed terminal (SIGHUP), `| head`, a `tee` killed by the same Ctrl-C — and
nothing here may take a teardown down with it: the first failed write turns this renderer off.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from lambdabench.run.sweep import Event


def _elapsed(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    """Per-run stage lines (stdout stays for the report); on a terminal, a board of every run's stage."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        live: bool | None = None,
        environ: dict[str, str] | None = None,
        width: int | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        env = os.environ if environ is None else environ
        self._lock = threading.RLock()
        self.stages: dict[str, tuple[str, float]] = {}
        try:
            tty = self.stream.isatty()
        except (OSError, ValueError):
            tty = False
        self.live = (tty and env.get("TERM") != "dumb") if live is None else live
        self.color = "NO_COLOR" not in env and env.get("TERM") != "dumb"
        self._width = width
        self._drawn = 0
        self._dead = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, event: Event) -> None:
        from lambdabench.secrets import redact

        with self._lock:
            if event.label and (event.kind == "stage" or event.label in self.stages):
                # what a run waits for now: its stage, or the latest thing said of it (a playbook, SSH)
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

    def board(self) -> list[str]:
        """The board's lines, each cut to the terminal's width (never wrapped)."""
        from lambdabench.secrets import redact

        now = time.monotonic()
        cols = self._width or shutil.get_terminal_size((80, 24)).columns
        width = max(len(k) for k in self.stages)
        lines = []
        for label, (stage, since) in sorted(self.stages.items()):
            clock = _elapsed(now - since)
            room = max(8, cols - 1 - (2 + width + 2) - (2 + len(clock)))
            what = redact(stage)
            what = what if len(what) <= room else what[: room - 1] + "…"
            lines.append(f"  {label.ljust(width)}  {what.ljust(room)}  {clock}"[: cols - 1].rstrip())
        return lines

    def _draw(self) -> None:
        if not self.live or self._stop.is_set() or not self.stages or self._dead:
            return
        lines = self.board()
        text = "\n".join(lines)
        self._write(("\x1b[2m" + text + "\x1b[0m\n") if self.color else text + "\n")
        self._drawn = len(lines)


def notify(stream: TextIO | None = None) -> Progress:
    """A renderer for commands other than sweep: lines only."""
    return Progress(stream, live=False)
