"""`status --watch` in a real terminal: `lambdabench status --watch` inside tmux, its screen read back.

The sweep is written straight into a ledger (a running sweep owned by this test's process, two runs whose
header and rows are wider than the 60-column pane), so no simulator is needed: the board is redrawn in
place with every line cut with … at the pane's width, its clocks tick, NO_COLOR draws it without colour,
TERM=dumb and a piped stdout get plain lines; when the ledger says the sweep ended the watch ends by itself
with the last board on screen, and Ctrl-C ends the watch alone, with one line and exit status 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = 60
NAME = "a name for the sweep that is longer than the sixty-column pane"
HEAD = "sweep 1 (" + NAME
ROW = re.compile(r"^ +(?P<run>[12])  gpu_\S+ +running +launching +(?P<clock>\d+m\d\ds) +\S+$")
SGR = re.compile(r"\x1b\[[0-9;]*m")

CASES: dict[str, tuple[dict[str, str], bool]] = {
    "colour": ({"TERM": "xterm-256color"}, False),
    "no_color": ({"TERM": "xterm-256color", "NO_COLOR": "1"}, False),
    "interrupted": ({"TERM": "xterm-256color"}, False),
    "dumb": ({"TERM": "dumb"}, False),
    "piped": ({"TERM": "xterm-256color"}, True),
}


@dataclass
class Seen:
    frames: list[str]  # every distinct screen, with tmux's SGR codes
    history: str  # the whole scrollback at the end, wrapped lines joined


def _ledger(home: Path) -> Ledger:
    ledger = Ledger(home)
    sweep = ledger.create_sweep(NAME, simulated=True, plan={})  # owned by this process: running, not crashed
    for instance_type in ("gpu_8x_h100_sxm5", "gpu_1x_a10"):
        run = ledger.add_run(sweep, instance_type=instance_type)
        ledger.set_run_status(run, "running")
        ledger.reserve_instance(run, f"lambdabench-{instance_type}-1-8a9e7e96", instance_type, "us-east-1", 129)
    return ledger


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Seen]:
    """The cases side by side, each its own ledger, in 60×20 panes; the sweeps end (in the ledger)
    once every case has shown one running twice and Ctrl-C has been pressed in one."""
    tmp = tmp_path_factory.mktemp("watch")
    tmux = ["tmux", "-S", str(tmp / "tmux.sock"), "-f", "/dev/null"]
    scrub = ("COLUMNS", "LINES", "LAMBDA_API_KEY", "NGC_API_KEY")  # the pane's size is the terminal's
    clean = {k: v for k, v in os.environ.items() if k not in scrub and not k.startswith("LAMBDABENCH_")}
    ledgers = {case: _ledger(tmp / case) for case in CASES}
    for case, (env, pipe) in CASES.items():
        assigns = " ".join(f"{k}={v}" for k, v in env.items())
        watch = f"{sys.executable} -m lambdabench.cli status --watch" + (" | cat" if pipe else "")
        # a trap (not an ignore, which the child would inherit) keeps the pane's shell past a Ctrl-C
        command = f"trap : INT; cd {ROOT} && env LAMBDABENCH_HOME={tmp / case} {assigns} {watch}; echo EXIT=$?"
        size = ["-x", str(COLUMNS), "-y", "20"]
        subprocess.run(
            [*tmux, "new-session", "-d", "-s", case, *size, "sh", "-c", command + "; sleep 600"], env=clean, check=True
        )
    frames: dict[str, list[str]] = {case: [] for case in CASES}
    try:
        started, ended, interrupted = time.monotonic(), False, False
        while time.monotonic() < started + 60 and not all(f and "EXIT=" in f[-1] for f in frames.values()):
            for case, seen in frames.items():
                screen = subprocess.run(
                    [*tmux, "capture-pane", "-p", "-e", "-t", case], capture_output=True, text=True, check=True
                ).stdout
                if not seen or seen[-1] != screen:
                    seen.append(screen)
            if not interrupted and _ticked(frames["interrupted"]):
                subprocess.run([*tmux, "send-keys", "-t", "interrupted", "C-c"], check=True)
                interrupted = True
            drawn = [_ticked(frames[case]) for case in ("colour", "no_color")]
            said = [frames[case][-1].count("sweep 1 (") >= 2 for case in ("dumb", "piped")]
            if not ended and interrupted and all(drawn + said):  # every case has shown a running sweep twice
                for ledger in ledgers.values():
                    for run in ledger.runs(1):
                        ledger.set_run_status(run.id, "succeeded")
                    ledger.finish_sweep(1)
                ended = True
            time.sleep(0.1)
        histories = {
            case: subprocess.run(
                [*tmux, "capture-pane", "-p", "-J", "-S", "-", "-t", case], capture_output=True, text=True, check=True
            ).stdout
            for case in CASES
        }
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)
        for ledger in ledgers.values():
            ledger.close()
    return {case: Seen(frames[case], histories[case]) for case in CASES}


def _ticked(frames: list[str]) -> bool:
    """The board has been drawn with two different clocks."""
    return len({m["clock"] for f in frames for m in _rows(f)}) >= 2


def _rows(frame: str) -> list[re.Match[str]]:
    return [m for line in SGR.sub("", frame).splitlines() if (m := ROW.match(line.rstrip()))]


def _drawn_in_place(seen: Seen) -> None:
    """Each line cut with … inside the pane (never wrapped), the rows never repeated, the clocks ticking."""
    for frame in seen.frames:
        lines = [line.rstrip() for line in SGR.sub("", frame).splitlines()]
        assert all(len(line) < COLUMNS for line in lines), frame
        assert sorted(m["run"] for m in _rows(frame)) in ([], ["1", "2"]), frame  # never a row left behind
        heads = [line for line in lines if line.startswith("sweep 1 (")]
        assert len(heads) <= 1 and all(line.endswith("…") for line in heads), frame
    assert _ticked(seen.frames), seen.frames  # redrawn every 2 s: the elapsed time moves
    heads = [line for line in seen.history.splitlines() if line.startswith("sweep 1 (")]
    assert len(heads) == 1, seen.history  # drawn over, never again below, never cleared


def test_on_a_terminal_the_board_is_redrawn_in_place_cut_to_the_width_until_the_sweep_ends(
    seen: dict[str, Seen],
) -> None:
    _drawn_in_place(seen["colour"])
    history = seen["colour"].history
    assert "EXIT=0" in history, history
    last = [line.rstrip() for line in history.splitlines() if line.strip()]
    assert last[0].startswith("sweep 1 (a name") and ": finished" not in last[0]  # cut before the status
    assert last[-1] == "EXIT=0" and sum("succeeded" in line for line in last) == 2, last  # the last board stays
    assert not any("\x1b[?25l" in f for f in seen["colour"].frames)  # never asked to hide the cursor


def test_no_color_draws_the_same_board_without_any_colour(seen: dict[str, Seen]) -> None:
    _drawn_in_place(seen["no_color"])
    assert not [f for f in seen["no_color"].frames if SGR.search(f)]
    assert "EXIT=0" in seen["no_color"].history


def test_ctrl_c_stops_watching_with_one_line_and_exit_status_0(seen: dict[str, Seen]) -> None:
    _drawn_in_place(seen["interrupted"])
    lines = [line.rstrip() for line in seen["interrupted"].history.splitlines() if line.strip()]
    assert lines[-2:] == ["stopped watching sweep 1 (the sweep itself goes on)", "EXIT=0"], lines
    assert all(ROW.match(line) for line in lines[-4:-2]), lines  # the last board stays above the line
    assert not [line for line in lines if "Traceback" in line or "interrupted" in line], lines


@pytest.mark.parametrize("case", ["dumb", "piped"])
def test_a_dumb_terminal_and_a_pipe_get_the_whole_board_as_plain_lines_every_2_s(
    seen: dict[str, Seen], case: str
) -> None:
    frames, history = seen[case].frames, seen[case].history
    assert not [f for f in frames if SGR.search(f)]
    heads = [line.rstrip() for line in history.splitlines() if line.startswith("sweep 1 (")]
    assert len(heads) >= 2 and heads[0].startswith(HEAD + "): running"), heads  # said again, in full, not cut
    assert heads[-1].startswith(HEAD + "): finished") and "EXIT=0" in history, history
    assert "…" not in history
