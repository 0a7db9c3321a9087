"""Isaac Sim's Kit log → the shader-compile stage (lambdabench/metrics/kitlog.py), on excerpts written in the
real line format (isaac-sim/IsaacLab #4020's Isaac Sim 5.0 log; Isaac Sim 4.5's stamp), not copied text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lambdabench.metrics.kitlog import SHADER_UNKNOWN, parse_kit_log, read_kit_logs, shader_compile

# written for this test in Kit's format: stamp, [ms since start], [Level], [channel], message (the wait line's
# channel is made up: no real excerpt names it, and the parser takes any)
COLD_5_0 = """\
[Info] [carb] Logging to file: /isaac-sim/kit/logs/Kit/Isaac-Sim/5.0/kit_20260101_120000.log
2026-01-01T12:00:00Z [0ms] [Warning] [omni.kit.app.plugin] No crash reporter present, dumps uploading isn't available.
2026-01-01T12:00:04Z [4,120ms] [Info] [omni.kit.app._impl] app ready
2026-01-01T12:00:09Z [9,130ms] [Info] [rtx.pso] *** Waiting for RtPso async group async compilation: 5 seconds so far
2026-01-01T12:00:14Z [14,140ms] [Info] [rtx.pso] *** Waiting for RtPso async group async compilation: 10 seconds so far
[14.5s] a console print, not a log line: skipped
2026-01-01T12:02:04Z [124,190ms] [Info] [rtx.pso] *** Waiting for RtPso async group async compilation: 120 seconds so far
2026-01-01T12:02:05Z [125,001ms] [Info] [omni.kit.app._impl] Simulation App Startup Complete
"""
WARM_4_5 = """\
2026-01-01 12:00:00 [0ms] [Warning] [omni.kit.app.plugin] No crash reporter present, dumps uploading isn't available.
2026-01-01 12:00:03 [3,005ms] [Info] [omni.kit.app._impl] app ready
2026-01-01 12:00:04 [4,010ms] [Info] [omni.kit.app._impl] Simulation App Startup Complete
"""
DEFAULT_LEVEL = """\
2026-01-01T12:00:00Z [0ms] [Warning] [omni.kit.app.plugin] No crash reporter present, dumps uploading isn't available.
2026-01-01T12:00:01Z [1,000ms] [Warning] [omni.usd_config.extension] Enable omni.materialx.libs extension to use MaterialX
"""


def test_a_cold_start_is_the_longest_wait_kit_reported() -> None:
    log = parse_kit_log(COLD_5_0.splitlines())
    assert (log.waits, log.longest_wait_s, log.startup_complete) == (3, 120.0, True)
    assert log.shader_compile_s == 120.0 and log.unknown_code is None


def test_a_warm_start_at_info_level_with_no_wait_is_zero() -> None:
    log = parse_kit_log(WARM_4_5.splitlines())
    assert (log.waits, log.info_lines, log.shader_compile_s) == (0, 2, 0.0)


def test_a_log_below_info_level_or_cut_short_is_unknown_not_zero() -> None:
    quiet = parse_kit_log(DEFAULT_LEVEL.splitlines())
    assert quiet.shader_compile_s is None and quiet.unknown_code == 2
    cut = parse_kit_log(WARM_4_5.splitlines()[:2])  # the app never finished starting
    assert cut.shader_compile_s is None and cut.unknown_code == 3
    assert shader_compile([]) == (None, 1) and "no Kit log" in SHADER_UNKNOWN[1]


def test_a_run_is_its_slowest_process_and_unknown_if_any_log_cannot_tell(tmp_path: Path) -> None:
    (tmp_path / "kit_20260101_120000.log").write_text(COLD_5_0)
    (tmp_path / "kit_20260101_120000_1.log").write_text(WARM_4_5)
    assert shader_compile(read_kit_logs(tmp_path.glob("kit_*.log"))) == (120.0, None)
    (tmp_path / "kit_20260101_120001.log").write_text(DEFAULT_LEVEL)
    assert shader_compile(read_kit_logs(tmp_path.glob("kit_*.log"))) == (None, 2)


@given(st.lists(st.text(max_size=120), max_size=30))
def test_any_text_reads_without_error(lines: list[str]) -> None:
    log = parse_kit_log(lines)
    assert log.shader_compile_s is None or log.shader_compile_s >= 0
