"""The progress board in a real terminal (issue 24 item 7): `lambdabench demo` inside tmux, its screen read back.

Each case runs the demo's one-A10 sweep (gpu-probe; time x60, so the boot is a wait of 3–5 s, long
enough for the clock to tick twice) in a 60-column tmux pane, stdout into a file as `sweep > report.txt`
would have it, and reads the pane a few times a second: a colour terminal shows a dimmed board whose rows never wrap and whose
clocks tick; NO_COLOR shows it without any colour or attribute; TERM=dumb and a piped stderr show
lines only. At the end the board is gone from the screen and every line was said once.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambdabench.simulate import needs_sshd
from tests.e2e.conftest import LB

pytestmark = [
    needs_sshd,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = 60
BOARD_ROW = re.compile(r"^  a10#1  +(?P<what>\S.*?)  +(?P<clock>\d+s|\d+m\d\ds)$")
LONE_CLOCK = re.compile(r"^\s*(\d+s|\d+m\d\ds)$")  # what is left of a row the terminal wrapped
BOOT_LINE = "[a10#1] booting (us-east-1; typically 3–5 min)"  # the A10's typical boot, as said and shown
SGR = re.compile(r"\x1b\[[0-9;]*m")


CASES: dict[str, tuple[dict[str, str], bool]] = {
    "colour": ({"TERM": "xterm-256color"}, False),
    "no_color": ({"TERM": "xterm-256color", "NO_COLOR": "1"}, False),
    "dumb": ({"TERM": "dumb"}, False),
    "piped": ({"TERM": "xterm-256color"}, True),
}


@dataclass
class Seen:
    frames: list[str]  # every distinct screen, with tmux's SGR codes
    history: str  # the whole scrollback at the end, wrapped lines joined
    report: str  # what the command wrote to stdout


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Seen]:
    """The four cases side by side (each demo has its own simulator and hosts), in 60×30 panes."""
    tmp = tmp_path_factory.mktemp("terminal")
    tmux = ["tmux", "-S", str(tmp / "tmux.sock"), "-f", "/dev/null"]
    # the pane's size is the terminal's, never an exported COLUMNS/LINES: readline, once loaded in this
    # process, exports COLUMNS=80 LINES=24 into the C environment, which a child inherits unless told
    scrub = ("COLUMNS", "LINES", "LAMBDA_API_KEY", "NGC_API_KEY")
    clean = {k: v for k, v in os.environ.items() if k not in scrub and not k.startswith("LAMBDABENCH_")}
    for case, (env, pipe) in CASES.items():
        out = tmp / f"{case}.txt"
        assigns = " ".join(f"{k}={v}" for k, v in env.items())
        demo = f"{sys.executable} -m lambdabench.cli demo --gpus a10 --playbook gpu-probe --time-scale 60"
        demo += f" 2>&1 > {out} | cat" if pipe else f" > {out}"  # piped: stderr into the pipe, stdout to the file
        command = f"cd {ROOT} && env LAMBDABENCH_HOME={tmp / case} {assigns} {demo}; echo EXIT=$?; sleep 600"
        size = ["-x", str(COLUMNS), "-y", "30"]
        subprocess.run([*tmux, "new-session", "-d", "-s", case, *size, "sh", "-c", command], env=clean, check=True)
    frames: dict[str, list[str]] = {case: [] for case in CASES}
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not all(f and "EXIT=" in f[-1] for f in frames.values()):
            for case, seen in frames.items():
                screen = subprocess.run(
                    [*tmux, "capture-pane", "-p", "-e", "-t", case], capture_output=True, text=True, check=True
                ).stdout
                if not seen or seen[-1] != screen:
                    seen.append(screen)
            time.sleep(0.1)
        histories = {
            case: subprocess.run(
                [*tmux, "capture-pane", "-p", "-J", "-S", "-", "-t", case], capture_output=True, text=True, check=True
            ).stdout
            for case in CASES
        }
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)
    return {case: Seen(frames[case], histories[case], (tmp / f"{case}.txt").read_text()) for case in CASES}


def _screen(tmux: list[str]) -> str:
    """What the pane shows now."""
    return subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout


def _history(tmux: list[str]) -> str:
    """The pane's whole scrollback, wrapped lines joined."""
    return subprocess.run([*tmux, "capture-pane", "-p", "-J", "-S", "-"], capture_output=True, text=True).stdout


def _rows(frame: str) -> list[re.Match[str]]:
    return [m for line in SGR.sub("", frame).splitlines() if (m := BOARD_ROW.match(line.rstrip()))]


def _said_once_in_order(history: str) -> None:
    assert "EXIT=0" in history, history
    lines = [line.rstrip() for line in history.splitlines()]
    assert lines.count(BOOT_LINE) == 1, history
    said = [line for line in lines if line.startswith("[a10#1] ")]
    assert said[0] == "[a10#1] launching" and said[-1] == "[a10#1] done", history
    assert not [line for line in lines if BOARD_ROW.match(line) or LONE_CLOCK.match(line)], history


def test_at_60_columns_the_board_shows_the_wait_its_clock_and_typical_range_without_wrapping(
    seen: dict[str, Seen],
) -> None:
    frames, history, report = seen["colour"].frames, seen["colour"].history, seen["colour"].report
    for frame in frames:
        plain = SGR.sub("", frame).splitlines()
        assert len(_rows(frame)) <= 1, frame  # one run, one row: never a row repeated by a missed erase
        assert not [line for line in plain if LONE_CLOCK.match(line)], frame  # never a wrapped row
    boot = [m for f in frames for m in _rows(f) if m["what"] == "booting (us-east-1; typically 3–5 min)"]
    assert boot, "the board never showed the boot and its typical range:\n" + "\n".join(frames)
    assert len({m["clock"] for m in boot}) >= 2, boot  # the elapsed time ticks while the boot is waited for
    assert any("\x1b[2m" in f for f in frames if _rows(f))  # dimmed on a colour terminal
    _said_once_in_order(history)
    assert "gpu_1x_a10" in report and "\x1b" not in report  # stdout is the report's alone


def test_no_color_shows_the_board_without_colour_or_attributes(seen: dict[str, Seen]) -> None:
    frames, history = seen["no_color"].frames, seen["no_color"].history
    assert any(_rows(f) for f in frames), "NO_COLOR should keep the board:\n" + "\n".join(frames)
    assert not [f for f in frames if SGR.search(f)], [f for f in frames if SGR.search(f)][:1]
    _said_once_in_order(history)


def test_a_dumb_terminal_gets_lines_only(seen: dict[str, Seen]) -> None:
    frames, history = seen["dumb"].frames, seen["dumb"].history
    assert not [f for f in frames if _rows(f)], [f for f in frames if _rows(f)][:1]
    _said_once_in_order(history)


def test_a_piped_stderr_gets_lines_only(seen: dict[str, Seen]) -> None:
    frames, history = seen["piped"].frames, seen["piped"].history
    assert not [f for f in frames if _rows(f)], [f for f in frames if _rows(f)][:1]
    assert not [f for f in frames if SGR.search(f)]  # a pipe gets no colour either
    _said_once_in_order(history)


def test_closing_the_terminal_under_the_live_board_still_tears_everything_down(tmp_path: Path) -> None:
    """SIGHUP with rich's board on screen: every later write fails (EIO), the teardown goes on to its proof."""
    from lambdabench.ledger import Ledger
    from lambdabench.sim.testing import simulator

    home, pid_file, sock = tmp_path / "home", tmp_path / "pid", tmp_path / "tmux.sock"
    tmux = ["tmux", "-S", str(sock), "-f", "/dev/null"]
    with simulator(hosts=True, scale=120) as sim:
        env = {k: v for k, v in sim.client_env(home).items() if k not in ("COLUMNS", "LINES")}
        sweep = f"{sys.executable} -m lambdabench.cli sweep --gpus a10 --playbook gpu-probe --yes"
        command = f"cd {ROOT} && echo $$ > {pid_file} && exec env TERM=xterm-256color {sweep} > {tmp_path / 'out'}"
        size = ["-x", str(COLUMNS), "-y", "30"]
        subprocess.run([*tmux, "new-session", "-d", *size, "sh", "-c", command], env=env, check=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                screen = _screen(tmux)
                if any(m["what"].startswith("booting") for m in _rows(screen)):
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("the board never showed the boot")
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)  # the terminal closes: SIGHUP
        pid = int(pid_file.read_text())
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.2)
        assert not Path(f"/proc/{pid}").exists(), "the sweep never ended after SIGHUP"
        assert sim.settle(30) == [], sim.live()
        with Ledger(home) as ledger:
            rows = ledger.instances()
            assert rows and all(r.gone is not None for r in rows), rows  # proven gone, not just asked
        log = "".join(p.read_text() for p in (home / "logs").glob("sweep-*.log"))
        assert "SIGHUP: stopping" in log and "terminate accepted" in log, log  # the hang-up came under the board


def test_launch_wait_shows_the_boot_its_clock_and_typical_range(tmp_path: Path) -> None:
    """`launch --wait` used to say "booting" once and nothing more for the whole boot (~24 min on 8×H100)."""
    from lambdabench.sim.testing import simulator

    home, sock = tmp_path / "home", tmp_path / "tmux.sock"
    tmux = ["tmux", "-S", str(sock), "-f", "/dev/null"]
    row = re.compile(r"^  a10  +booting \(us-east-1; typically 3–5 min\)  +(\d+s)$")
    with simulator(scale=60) as sim:
        env = {k: v for k, v in sim.client_env(home).items() if k not in ("COLUMNS", "LINES")}
        launch = f"{sys.executable} -m lambdabench.cli launch --gpu a10 --region us-east-1 --wait --yes"
        command = f"cd {ROOT} && env TERM=xterm-256color {launch}; echo EXIT=$?; sleep 600"  # stdout on the terminal
        size = ["-x", str(COLUMNS), "-y", "30"]
        subprocess.run([*tmux, "new-session", "-d", *size, "sh", "-c", command], env=env, check=True)
        clocks: set[str] = set()
        try:
            deadline = time.monotonic() + 60
            screen = ""
            while time.monotonic() < deadline and "EXIT=" not in screen:
                screen = _screen(tmux)
                clocks |= {m[1] for line in screen.splitlines() if (m := row.match(line.rstrip()))}
                time.sleep(0.1)
            history = _history(tmux)
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)
        subprocess.run([*LB, "down", "--all-mine"], env=env, capture_output=True, timeout=120)
    assert "EXIT=0" in history, history
    assert len(clocks) >= 2, f"the boot's row and its ticking clock were not shown: {clocks}\n{history}"
    assert not [line for line in history.splitlines() if row.match(line.rstrip())], history  # erased at the end
    result = [line.split() for line in history.splitlines() if re.match(r"lambdabench-\S+ +[0-9a-f]{32} ", line)]
    assert len(result) == 1 and result[0][2:5] == ["gpu_1x_a10", "us-east-1", "active"], history  # after the board


CHATTY = """
name: chatty
expected_minutes: 1  # a guess: ten lines in about a second
steps:
  - name: talk
    timeout: 60
    run: for i in 1 2 3 4 5; do echo "remote line $i of the talk step"; sleep 0.1; done
  - name: bench
    detach: true
    timeout: 60
    run: for i in 1 2 3 4 5; do echo "remote line $i of the bench step"; sleep 0.1; done
"""


def test_verbose_remote_output_goes_above_the_board_which_stays_whole(tmp_path: Path) -> None:
    """`-v` under the board: the remote lines appear once each, whole, and the board is never torn (its row is
    never repeated, nor left behind in the scrollback, nor glued to a remote line)."""
    from lambdabench.sim.testing import simulator

    home, sock, book = tmp_path / "home", tmp_path / "tmux.sock", tmp_path / "chatty.yaml"
    book.write_text(CHATTY)
    tmux = ["tmux", "-S", str(sock), "-f", "/dev/null"]
    with simulator(hosts=True, scale=300) as sim:
        env = {k: v for k, v in sim.client_env(home).items() if k not in ("COLUMNS", "LINES")}
        sweep = f"{sys.executable} -m lambdabench.cli -v sweep --gpus a10 --playbook {book} --yes"
        command = f"cd {ROOT} && env TERM=xterm-256color {sweep} > {tmp_path / 'out'}; echo EXIT=$?; sleep 600"
        subprocess.run([*tmux, "new-session", "-d", "-x", str(COLUMNS), "-y", "30", "sh", "-c", command], env=env)
        frames: list[str] = []
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not (frames and "EXIT=" in frames[-1]):
                screen = _screen(tmux)
                if not frames or frames[-1] != screen:
                    frames.append(screen)
                time.sleep(0.05)
            history = _history(tmux)
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)
        assert sim.settle(30) == [], sim.live()
    assert "EXIT=0" in history, history
    lines = [line.rstrip() for line in history.splitlines()]
    for step in ("talk", "bench"):
        for i in range(1, 6):
            assert lines.count(f"remote line {i} of the {step} step") == 1, history  # once each, whole, alone
    assert any(len(_rows(f)) == 1 and "remote line 3 of the talk step" in f for f in frames), frames  # both at once
    for frame in frames:
        assert len(_rows(frame)) <= 1, frame  # one run, one row
        assert not [line for line in frame.splitlines() if "a10#1  " in line and "remote line" in line], frame
    assert not [line for line in lines if BOARD_ROW.match(line) or LONE_CLOCK.match(line)], history


def test_a_kill_9_under_the_board_leaves_the_cursor_visible(tmp_path: Path) -> None:
    """No code runs after SIGKILL, so the board never hides the cursor: the shell's prompt comes back with it."""
    from lambdabench.sim.testing import simulator

    home, pid_file, sock = tmp_path / "home", tmp_path / "pid", tmp_path / "tmux.sock"
    tmux = ["tmux", "-S", str(sock), "-f", "/dev/null"]
    with simulator(scale=60) as sim:
        env = {k: v for k, v in sim.client_env(home).items() if k not in ("COLUMNS", "LINES")}
        launch = f"{sys.executable} -m lambdabench.cli launch --gpu a10 --region us-east-1 --wait --yes"
        inner = f"echo $$ > {pid_file}; exec env TERM=xterm-256color {launch}"  # its pid is the command's
        command = f"cd {ROOT} && sh -c '{inner}'; sleep 600"  # the pane's shell outlives the kill
        subprocess.run([*tmux, "new-session", "-d", "-x", str(COLUMNS), "-y", "30", "sh", "-c", command], env=env)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                screen = _screen(tmux)
                if re.search(r"^  a10  +booting", screen, re.M):
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the board never showed the boot")
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
            time.sleep(0.3)
            cursor = subprocess.run([*tmux, "display", "-p", "#{cursor_flag}"], capture_output=True, text=True)
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)
            subprocess.run([*LB, "down", "--all-mine"], env=env, capture_output=True, timeout=120)
    assert cursor.stdout.strip() == "1", "the cursor is hidden after the kill -9"


def test_ctrl_c_under_the_board_leaves_no_row_of_it_behind(tmp_path: Path) -> None:
    """The terminal echoes `^C` at the cursor: past a full row it wrapped, and the board's top row stayed behind."""
    from lambdabench.sim.testing import simulator

    home, sock = tmp_path / "home", tmp_path / "tmux.sock"
    tmux = ["tmux", "-S", str(sock), "-f", "/dev/null"]
    with simulator(scale=60) as sim:
        env = {k: v for k, v in sim.client_env(home).items() if k not in ("COLUMNS", "LINES")}
        sweep = f"{sys.executable} -m lambdabench.cli sweep --gpus a10 --playbook gpu-probe --yes"
        # a trap (not an ignore, which the sweep would inherit) keeps the pane's shell past the Ctrl-C
        command = f"trap : INT; cd {ROOT} && env TERM=xterm-256color {sweep} > {tmp_path / 'out'}; echo EXIT=$?"
        size = ["-x", str(COLUMNS), "-y", "30"]
        subprocess.run([*tmux, "new-session", "-d", *size, "sh", "-c", command + "; sleep 600"], env=env, check=True)
        try:
            deadline, screen, sent = time.monotonic() + 60, "", False
            while time.monotonic() < deadline and "EXIT=" not in screen:
                screen = _screen(tmux)
                if not sent and any(m["what"].startswith("booting") for m in _rows(screen)):
                    subprocess.run([*tmux, "send-keys", "C-c"], check=True)
                    sent = True
                time.sleep(0.05)
            history = _history(tmux)
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)
        assert sim.settle(30) == [], sim.live()
    assert sent and "EXIT=130" in history and "SIGINT: stopping" in history, history
    assert not [line for line in history.splitlines() if line.startswith("  a10#1  ")], history  # a row, even torn
