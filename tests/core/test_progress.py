"""Progress (issue 24 item 7): each wait says what it waits for, for how long and the typical range;
the board fits 60 columns, honours NO_COLOR and TERM=dumb, draws nothing when piped; an unreachable
API is said at once, not after a silent minute of retries."""

from __future__ import annotations

import io
import time

from lambdabench.cloud.client import LambdaCloud, RetryPolicy
from lambdabench.cloud.errors import TransportError
from lambdabench.progress import Progress
from lambdabench.run.sweep import Event


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
