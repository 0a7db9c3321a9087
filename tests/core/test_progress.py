"""Progress (issue 24 item 7): each wait says what it waits for, for how long and the typical range;
the board fits 60 columns, honours NO_COLOR and TERM=dumb, draws nothing when piped; an unreachable
API is said at once, not after a silent minute of retries."""

from __future__ import annotations

import errno
import io
import re
import subprocess
import sys
import threading
import time

import pytest

from lambdabench.cloud.client import LambdaCloud, RetryPolicy
from lambdabench.cloud.errors import TransportError
from lambdabench.progress import Progress
from lambdabench.run.sweep import Event

SGR = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _boot(progress: Progress) -> None:
    progress(Event("stage", "launching", "8xh100-sxm5#1"))
    progress(Event("stage", "booting (us-west-3; typically 15–25 min)", "8xh100-sxm5#1"))
    progress(Event("say", "playbook setup (usually ~25 min) with a long tail of words to wrap", "a10#1"))
    progress(Event("stage", "booting (us-east-1; typically 3–5 min)", "a10#1"))
    progress(Event("say", "playbook setup (usually ~25 min) and a long tail of words that would wrap", "a10#1"))


def test_the_board_fits_60_columns_and_says_what_each_run_waits_for() -> None:
    out = Tty()
    progress = Progress(out, environ={"TERM": "xterm"}, width=60)
    _boot(progress)
    board = progress.board()
    progress.close()
    assert len(board) == 2 and all(len(line) <= 59 for line in board)
    assert board[0].startswith("  8xh100-sxm5#1  booting (us-west-3; typically 15–25 m")
    assert board[1].startswith("  a10#1          playbook setup (usually ~25 min)") and board[1].endswith("0s")
    assert "\x1b[2m" in out.getvalue()  # dimmed on a colour terminal


def test_no_color_and_dumb_terminals_and_pipes() -> None:
    plain = Tty()
    progress = Progress(plain, environ={"TERM": "xterm", "NO_COLOR": "1"}, width=60)
    _boot(progress)
    progress.close()
    assert "\x1b[2m" not in plain.getvalue() and "\x1b[" in plain.getvalue()  # the board, uncoloured
    for stream, env in ((Tty(), {"TERM": "dumb"}), (io.StringIO(), {"TERM": "xterm"})):
        progress = Progress(stream, environ=env, width=60)
        _boot(progress)
        progress.close()
        assert "\x1b" not in stream.getvalue()  # lines only: no cursor movement, no colour
        assert stream.getvalue().splitlines()[1] == "[8xh100-sxm5#1] booting (us-west-3; typically 15–25 min)"


RICH_LOADED = """
import io, sys
import lambdabench.cli
from lambdabench.progress import Progress
from lambdabench.run.sweep import Event

def rich() -> bool:
    return any(m == "rich" or m.startswith("rich.") for m in sys.modules)

for args in (["--help"], ["--version"], ["types", "--help"], ["sweep", "--help"]):
    try:
        lambdabench.cli.cli.main(args, prog_name="lambdabench", standalone_mode=False)
    except SystemExit:
        pass
piped = Progress(io.StringIO(), environ={"TERM": "xterm"})
piped(Event("stage", "booting", "a10#1"))
piped.close()
before = rich()
live = Progress(io.StringIO(), live=True, environ={"TERM": "xterm"}, width=60)
live(Event("stage", "booting", "a10#1"))
live.close()
print(before, rich())
"""


def test_rich_is_imported_only_when_a_board_is_drawn() -> None:
    """--help, --version and lines-only progress never import rich (the start-up budget); a board does."""
    out = subprocess.run([sys.executable, "-c", RICH_LOADED], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split()[-2:] == ["False", "True"], out.stdout + out.stderr


class Hangup(Tty):
    """A terminal that closes (SIGHUP) after `ok` writes: every later write fails with EIO."""

    def __init__(self, ok: int) -> None:
        super().__init__()
        self.ok = ok
        self.failed = 0

    def write(self, text: str) -> int:
        if self.ok <= 0:
            self.failed += 1
            raise OSError(errno.EIO, "Input/output error")
        self.ok -= 1
        return super().write(text)


def _hang_up_after(ok: int) -> Hangup:
    out = Hangup(ok)
    progress = Progress(out, environ={"TERM": "xterm"}, width=60)
    _boot(progress)
    progress(Event("alert", "SIGHUP: stopping; every instance of this sweep will be terminated"))
    progress.close()
    return out


def test_the_first_failed_write_turns_the_renderer_off_and_nothing_raises() -> None:
    writes = 1000 - _hang_up_after(1000).ok
    assert writes >= 6
    for ok in range(writes):  # the terminal goes at each point: before the board, while drawing it, between lines
        out = _hang_up_after(ok)
        assert out.failed == 1, ok  # one failed write, then silence: nothing raised into the run wing
    out = Hangup(1000)
    progress = Progress(out, environ={"TERM": "xterm"}, width=60)
    _boot(progress)
    ticker = progress._thread
    assert ticker is not None and "rich" in sys.modules  # the live board is rich's
    out.ok = 0  # gone between two ticks: the ticker's redraw fails and the ticker ends
    ticker.join(timeout=5)
    assert not ticker.is_alive() and out.failed == 1
    progress(Event("say", "terminate accepted for lambdabench-a10-1", "a10#1"))
    progress.close()
    assert out.failed == 1


def test_an_unreachable_api_is_said_at_the_first_failure() -> None:
    said: list[tuple[float, str]] = []
    start = time.monotonic()
    # nothing listens on this loopback port: every connect is refused at once
    cloud = LambdaCloud(
        "secret_key_x",
        "http://127.0.0.1:9/api/v1",
        retry=RetryPolicy(attempts=3, budget_s=600, base_s=0.01, max_backoff_s=0.02),
    )
    cloud.on_wait = lambda message: said.append((time.monotonic() - start, message))
    try:
        cloud.list_instance_types()
    except TransportError:
        pass
    else:
        raise AssertionError("an unreachable API answered")
    assert said, "an unreachable API went unsaid"
    when, message = said[0]
    assert when < 10
    assert message.startswith("Could not reach the Lambda API at http://127.0.0.1:9/api/v1")
    assert "retrying for up to 600s (Ctrl-C to stop)" in message and "secret_key_x" not in message


def test_stderr_lines_written_while_the_board_is_drawn_go_above_it_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """-v's remote output (sys.stderr) under the board: each thread's lines kept whole, what a terminal shows of
    carriage returns, a line with no end said at the end; stderr is the terminal's again once the board is gone."""
    terminal = Tty()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = Progress(environ={"TERM": "xterm"}, width=60)
    _boot(progress)
    assert sys.stderr is not terminal and sys.stderr.closed is False  # still a whole stream to its callers
    sys.stderr.write("the first run says one ")
    other = threading.Thread(target=lambda: sys.stderr.write("the other run says its line\n"))
    other.start()
    other.join()
    sys.stderr.write("whole line\ndownload 10%\rdownload 90%\rdownload done\r\nno end in sight")
    progress.close()
    assert sys.stderr is terminal
    shown = [SGR.sub("", line).strip() for line in re.split(r"\r\n|\n|\r|\x1b\[2K", terminal.getvalue())]
    said = [line for line in shown if line.startswith(("the", "download", "no end"))]
    assert said == [
        "the other run says its line",
        "the first run says one whole line",
        "download done",
        "no end in sight",
    ], terminal.getvalue()
    assert "\x1b[?25l" not in terminal.getvalue()  # the cursor is never hidden: a kill -9 cannot show it again


def test_a_watch_ends_at_the_first_failed_write_on_a_terminal_or_a_pipe() -> None:
    from lambdabench.progress import watch

    def frame() -> tuple[str, bool]:
        return "sweep 1: running\nRUN  TYPE\n  1  gpu_1x_a10", True  # a sweep that never ends

    for live in (True, False):
        for ok in range(4):
            out = Hangup(ok)
            assert watch(frame, out, live=live, environ={"TERM": "xterm"}, width=60, sleep=lambda s: None) == "gone"
            assert out.failed == 1, (live, ok)
