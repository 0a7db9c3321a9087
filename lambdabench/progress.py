"""Progress on stderr for the CLI: the run wing's events as lines, and on a terminal rich's live board below.

The board shows, per run, what it waits for now (the latest thing said of it: booting with the
type's typical range, a playbook with its usual minutes) and for how long. It is drawn by rich's
live display only on a terminal that can move the cursor (not piped, not TERM=dumb), each row cut
to the terminal's width with an ellipsis so a narrow window never wraps it, dimmed only without
NO_COLOR, and erased when the command ends. rich is imported only when a board is drawn, so
`--help`, `--version` and piped runs never pay for it (bench/startup.py).

While the board is drawn, whatever this process writes to sys.stderr (remote output with `-v`, a
warning) goes above it a whole line at a time, each thread's lines kept whole: a write straight to
the terminal would be erased or repeated by the board's next redraw. The cursor is never hidden: no
code runs after a `kill -9`, so a hidden cursor would stay hidden in the user's shell.

Writing can fail — a closed terminal (SIGHUP), `| head`, a `tee` killed by the same Ctrl-C — and
nothing here may take a teardown down with it: the first failed write turns this renderer off.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.constrain import Constrain
    from rich.live import Live

    from lambdabench.run.sweep import Event


def _elapsed(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class _Guarded:
    """The stream as rich and the line writer see it: the first failed write marks it dead, later ones are dropped."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.dead = False

    def write(self, text: str) -> int:
        if not self.dead:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                self.dead = True  # the terminal or pipe is gone: teardown goes on without us
        return len(text)

    def flush(self) -> None:
        pass  # every write is flushed as it is made

    def isatty(self) -> bool:
        return False if self.dead else _isatty(self.stream)

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"


class _AboveBoard:
    """sys.stderr while a board is drawn: what is written goes to Progress.write_above, a line at a time."""

    def __init__(self, progress: Progress, original: TextIO) -> None:
        self.progress = progress
        self.original = original

    def write(self, text: str) -> int:
        self.progress.write_above(text)
        return len(text)

    def flush(self) -> None:
        pass  # a partial line waits for its end: flushed, it would be torn by the next line of another run

    def isatty(self) -> bool:
        return _isatty(self.original)

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.original, "encoding", None) or "utf-8"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)  # the rest of a stream (closed, errors, buffer …): a caller never fails


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


PARTIAL_MAX = 4096  # characters of a stderr line held back for its end while the board is drawn


class Progress:
    """Per-run stage lines (stdout stays for the report); on a terminal, a live board of every run's stage."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        live: bool | None = None,
        environ: dict[str, str] | None = None,
        width: int | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self._environ = dict(os.environ if environ is None else environ)
        self._lock = threading.RLock()
        self.stages: dict[str, tuple[str, float]] = {}
        dumb = self._environ.get("TERM") == "dumb"
        self.live = (_isatty(self.stream) and not dumb) if live is None else live
        self.color = "NO_COLOR" not in self._environ and not dumb
        self._width = width
        self._out = _Guarded(self.stream)
        self._console: Console | None = None
        self._board: Live | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._partial: dict[int, str] = {}  # per thread: the start of a stderr line whose end is still to come

    @property
    def _dead(self) -> bool:
        return self._out.dead

    def __call__(self, event: Event) -> None:
        from lambdabench.secrets import redact

        with self._lock:
            if event.label and (event.kind == "stage" or event.label in self.stages):
                # what a run waits for now: its stage, or the latest thing said of it (a playbook, SSH)
                self.stages[event.label] = (event.message, time.monotonic())
            text = redact(f"[{event.label}] {event.message}" if event.label else event.message)
            if self.live and self._board is None and self.stages and not self._stop.is_set() and not self._dead:
                self._start()
            if self._board is not None:
                self._above_board(text)
            else:
                self._out.write(text + "\n")
            if self._dead:
                self._end_board()

    def close(self) -> None:
        """Erase the board and stop drawing it; later events are still said as lines."""
        self._stop.set()
        with self._lock:
            self._end_board()

    def write_above(self, text: str) -> None:
        """stderr text while the board is drawn: each whole line above it (as the terminal would show a line
        that ends in carriage returns: its last part), a partial one kept for its thread until its end."""
        with self._lock:
            thread = threading.get_ident()
            pending = self._partial.pop(thread, "") + text
            if self._board is None:  # the board is gone: say it as it comes
                self._out.write(pending)
                return
            *lines, rest = pending.split("\n")
            if len(rest) > PARTIAL_MAX:  # a line with no end in sight (a progress bar) is said in pieces
                lines, rest = [*lines, rest], ""
            if rest:
                self._partial[thread] = rest
            for line in lines:
                shown = line.rstrip("\r").rsplit("\r", 1)[-1]
                if self._board is not None:
                    self._above_board(shown)
                else:  # the board turned itself off on the way
                    self._out.write(shown + "\n")

    def board(self) -> list[str]:
        """The board's rows as the terminal shows them, each cut to its width (never wrapped)."""
        console = self._console or self._make_console()
        lines = console.render_lines(self._table(console), console.options, pad=False)
        return ["".join(seg.text for seg in line if not seg.control).rstrip() for line in lines]

    def _make_console(self) -> Console:
        return make_console(self._out, color=self.color, width=self._width, environ=self._environ)

    def _table(self, console: Console) -> Constrain:
        """One row per run: label, what it waits for (cut with …), elapsed; one column spare at the right edge."""
        from rich.constrain import Constrain
        from rich.table import Table

        from lambdabench.secrets import redact

        now = time.monotonic()
        rows = [(label, redact(stage), _elapsed(now - since)) for label, (stage, since) in sorted(self.stages.items())]
        label_w = max(len(label) for label, _, _ in rows)
        clock_w = max(len(clock) for _, _, clock in rows)
        room = max(8, console.width - 1 - (2 + label_w) - (2 + clock_w) - 2)
        table = Table.grid(padding=(0, 0, 0, 2), pad_edge=True)
        table.add_column(no_wrap=True, overflow="ellipsis")
        table.add_column(no_wrap=True, overflow="ellipsis", width=2 + room)  # a width counts its padding
        table.add_column(no_wrap=True, overflow="ellipsis", justify="right")
        for label, stage, clock in rows:
            table.add_row(label, stage, clock, style="dim" if self.color else None)
        return Constrain(table, console.width - 1)

    def _renderable(self) -> Group:
        """The board and an empty line for the cursor: a Ctrl-C's echoed `^C` lands there, not past a full row
        (where it wrapped, and the next redraw, one line short, left the board's top row behind)."""
        from rich.console import Group

        with self._lock:
            return Group(self._table(cast("Console", self._console)), "")

    def _start(self) -> None:
        try:
            from rich.live import Live

            self._console = self._make_console()
            self._board = Live(
                console=self._console,
                get_renderable=self._renderable,
                auto_refresh=False,  # our own ticker: it stops at the first failed write
                transient=True,
                redirect_stdout=False,  # stdout is the report's
                redirect_stderr=False,
            )
            self._board.start()
        except Exception:  # a renderer's fault never reaches the run wing: the board is off, lines go on
            self._board = None
            self.live = False
            return
        if sys.stderr is self.stream:  # lines that other code writes to stderr go above the board
            sys.stderr = cast(TextIO, _AboveBoard(self, self.stream))
        self._thread = threading.Thread(target=self._tick, name="progress", daemon=True)
        self._thread.start()

    def _above_board(self, text: str) -> None:
        board = cast("Live", self._board)
        try:
            with board.console:  # one write: the line above, then the board as it is now (not as at the last tick)
                board.refresh()
                board.console.print(text, soft_wrap=True)  # the terminal wraps it: copy-paste stays intact
        except Exception:  # a renderer's fault never reaches the run wing: the board is off, lines go on
            self._fall_back()
            self._out.write(text + "\n")

    def _tick(self) -> None:
        while not self._stop.wait(1.0) and not self._dead:
            with self._lock:
                if self._board is None:
                    return
                try:
                    self._board.refresh()
                except Exception:  # a renderer's fault never reaches the run wing: the board is off
                    self._fall_back()
                    return
        with self._lock:
            if self._dead:
                self._end_board()

    def _end_board(self) -> None:
        board, self._board = self._board, None
        if isinstance(sys.stderr, _AboveBoard) and sys.stderr.progress is self:
            sys.stderr = self.stream
        if board is not None:
            try:
                board.stop()
            except Exception:  # a renderer's fault never reaches the run wing
                self._fall_back()
        partial, self._partial = self._partial, {}
        for rest in partial.values():
            self._out.write(rest + "\n")  # the command is over: a line that never ended is said as it is

    def _fall_back(self) -> None:
        self._board = None
        self.live = False
        if isinstance(sys.stderr, _AboveBoard) and sys.stderr.progress is self:
            sys.stderr = self.stream


def make_console(out: object, *, color: bool, width: int | None, environ: dict[str, str]) -> Console:
    """A rich console for a board on out: a terminal's, coloured unless told not, the cursor never hidden."""
    return _console_class()(
        file=cast(TextIO, out),
        force_terminal=True,
        force_interactive=True,
        no_color=not color,
        width=width,
        markup=False,
        emoji=False,
        highlight=False,
        _environ=environ,
    )


_CONSOLE: list[type[Console]] = []


def _console_class() -> type[Console]:
    """rich's Console, except that it never hides the cursor (no code runs after a `kill -9` to show it again)."""
    if not _CONSOLE:
        from rich.console import Console

        class ShownCursor(Console):
            def show_cursor(self, show: bool = True) -> bool:
                return False

        _CONSOLE.append(ShownCursor)
    return _CONSOLE[0]


def notify(stream: TextIO | None = None) -> Progress:
    """A renderer for commands other than sweep: lines only."""
    return Progress(stream, live=False)


def watch(
    frame: Callable[[], tuple[str, bool]],
    stream: TextIO | None = None,
    *,
    live: bool | None = None,
    every: float = 2.0,
    environ: dict[str, str] | None = None,
    width: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """`status --watch`: frame() (the text, and whether to go on) redrawn in place on a terminal, every line
    cut to its width with …, or said in full each time when piped or on TERM=dumb.

    Returns "ended" (frame said stop), "interrupted" (Ctrl-C) or "gone" (the first failed write: nobody reads).
    """
    stream = stream or sys.stdout
    env = dict(os.environ if environ is None else environ)
    dumb = env.get("TERM") == "dumb"
    out = _Guarded(stream)
    if not ((_isatty(stream) and not dumb) if live is None else live):
        return _watch_lines(frame, out, every, sleep)
    from rich.live import Live

    console = make_console(out, color="NO_COLOR" not in env and not dumb, width=width, environ=env)
    board = Live(console=console, auto_refresh=False, transient=False, redirect_stdout=False, redirect_stderr=False)
    outcome = "ended"
    try:
        text, more = frame()
        board.start()
        while True:
            board.update(_cut(console, text), refresh=True)
            if out.dead:
                return "gone"
            if not more:
                break
            sleep(every)
            text, more = frame()
    except KeyboardInterrupt:
        outcome = "interrupted"
    finally:
        with contextlib.suppress(Exception):  # the last frame stays on screen; a renderer's fault ends nothing
            board.stop()
    return outcome


def _watch_lines(
    frame: Callable[[], tuple[str, bool]], out: _Guarded, every: float, sleep: Callable[[float], None]
) -> str:
    try:
        while True:
            text, more = frame()
            out.write(text + "\n")
            if out.dead:
                return "gone"
            if not more:
                return "ended"
            sleep(every)
    except KeyboardInterrupt:
        return "interrupted"


def _cut(console: Console, text: str) -> Constrain:
    """text's lines, each cut with … one column short of the terminal's width (a full last column wraps on some),
    and an empty line for the cursor: the terminal's echo of a Ctrl-C (`^C`) lands there, not past a full row."""
    from rich.console import Group
    from rich.constrain import Constrain
    from rich.text import Text

    lines = [Text(line, no_wrap=True, overflow="ellipsis") for line in [*text.splitlines(), ""]]
    return Constrain(Group(*lines), console.width - 1)
