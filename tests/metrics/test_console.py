"""Console fallback parsers on text in the libraries' own print formats, and on garbage."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdabench.metrics import Point, Series
from lambdabench.metrics.console import ConsoleStartup, isaaclab_startup, parse_console

RL_GAMES_LOG = """\
self.seed = 42
Started to train
fps step: 112233 fps step and policy inference: 98765 fps total: 54321 epoch: 1/150 frames: 65536
=> saving checkpoint 'runs/cartpole/nn/last_cartpole_ep_1_rew_1.2.pth'
fps step: 223344 fps step and policy inference: 198765 fps total: 154321 epoch: 2/150 frames: 131072
fps step: 223345 fps step and policy inference: 198766 fps total: 154322 epoch: 3/150
"""

# rsl_rl 2.x prints a block per iteration, the title wrapped in ANSI bold
RSL_RL_2_LOG = """\
################################################################################
                       \x1b[1m Learning iteration 0/1500 \x1b[0m

                       Computation: 45678 steps/s (collection: 1.234s, learning 0.567s)
               Value function loss: 0.0123
                    Surrogate loss: -0.0045
             Mean action noise std: 1.00
                       Mean reward: 12.34
               Mean episode length: 123.45
--------------------------------------------------------------------------------
                   Total timesteps: 98304
                    Iteration time: 1.80s
################################################################################
                       \x1b[1m Learning iteration 1/1500 \x1b[0m

                       Computation: 51234 steps/s (collection: 1.100s, learning 0.560s)
                       Mean reward: 20.5
               Mean episode length: 130.0
--------------------------------------------------------------------------------
                   Total timesteps: 196608
"""

RSL_RL_3_LOG = """\
                         Learning iteration 7/300
                         Total steps: 786432
                    Steps per second: 61000
                     Collection time: 1.020s
                       Learning time: 0.500s
                         Mean reward: 3.25
                 Mean episode length: 99.00
                         Learning iteration 8/300
                    Steps per second: 62000
"""


def test_rl_games_lines() -> None:
    series = parse_console(RL_GAMES_LOG)
    assert series.library == "rl_games" and series.source == "console"
    assert [p.iteration for p in series.points] == [1, 2, 3]
    assert [p.env_steps_per_s for p in series.points] == [54321.0, 154321.0, 154322.0]
    assert [p.env_steps for p in series.points] == [65536, 131072, None]


def test_rsl_rl_2_blocks() -> None:
    series = parse_console(RSL_RL_2_LOG)
    assert series.library == "rsl_rl"
    assert series.points == [
        Point(0, 98304, 45678.0, 12.34, 123.45),
        Point(1, 196608, 51234.0, 20.5, 130.0),
    ]


def test_rsl_rl_3_blocks() -> None:
    series = parse_console(RSL_RL_3_LOG, "rsl_rl")
    assert series.points == [
        Point(7, 786432, 61000.0, 3.25, 99.0),
        Point(8, None, 62000.0, None, None),
    ]


def test_nothing_recognised_gives_empty_series() -> None:
    assert parse_console("Traceback (most recent call last):\n  boom\n").points == []


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=80),
            st.sampled_from(
                [
                    "fps step: 1e999 fps step and policy inference: 2 fps total: 3 epoch: 9/-1",
                    "Learning iteration 3/10",
                    "Computation: 99999999999999999999999999999 steps/s",
                    "Steps per second: -1e400",
                    "Total timesteps: 1e308",
                    "Mean reward: nan",
                    "\x1b[1m Learning iteration 1/1 \x1b[0m",
                ]
            ),
        ),
        max_size=30,
    ),
    st.sampled_from([None, "rl_games", "rsl_rl"]),
)
def test_garbage_never_crashes(lines: list[str], library: str | None) -> None:
    series = parse_console("\n".join(lines), library)
    assert isinstance(series, Series)
    for point in series.points:
        assert isinstance(point.iteration, int)
        assert point.env_steps is None or isinstance(point.env_steps, int)
        for value in (point.env_steps_per_s, point.reward, point.episode_length):
            assert value is None or isinstance(value, float)


def test_unknown_library_is_a_clean_error() -> None:
    from lambdabench.metrics import MetricsError

    with pytest.raises(MetricsError, match="no console parser for sb3"):
        parse_console("x", "sb3")


# ---- Isaac Lab's start-up timers and the first iteration ---------------------------------------------------------

REAL_IL3 = Path(__file__).parent.parent / "workloads" / "data" / "h100-il3-max-envs"


def test_isaaclab3_start_up_from_a_real_h100_console() -> None:
    """isaaclab 3.0.0 on an H100, Cartpole at 1,048,576 envs: its own timers and rsl_rl's first iteration."""
    text = (REAL_IL3 / "n1048576" / "probes" / "n1048576.log").read_text()
    said = isaaclab_startup(text)
    assert said == ConsoleStartup(scene_creation_s=131.839675, simulation_start_s=64.800317, first_iteration_s=5.81)
    # Warp's kernels cold (killed at its cap before the first iteration): simulation start holds their compile
    cold = isaaclab_startup((REAL_IL3 / "n524288-cap195-cold" / "probes" / "n524288.log").read_text())
    warm = isaaclab_startup((REAL_IL3 / "n524288" / "probes" / "n524288.log").read_text())
    assert (cold.simulation_start_s, cold.first_iteration_s) == (84.820788, None)
    assert (warm.simulation_start_s, warm.first_iteration_s) == (31.755078, 18.68)


def test_isaaclab2_and_fork_timers_and_rsl_rl_2_first_iteration() -> None:
    """2.x and the 1.x fork print "<msg> : <s> seconds"; rsl_rl 2 blocks carry the same "Iteration time"."""
    text = (
        "[INFO]: Time taken for scene creation : 2.500000 seconds\n"
        "[INFO]: Starting the simulation. This may take a few seconds. Please wait...\n"
        "[INFO]: Time taken for simulation start : 1.250000 seconds\n" + RSL_RL_2_LOG
    )
    said = isaaclab_startup(text)
    assert (said.scene_creation_s, said.simulation_start_s) == (2.5, 1.25)
    assert said.first_iteration_s == 1.8


def test_start_up_lines_are_read_by_structure_only() -> None:
    """A timer in another unit, another stage, or text that quotes the line elsewhere is not a figure."""
    text = (
        "[INFO]: Time taken for scene creation Last: 12.0 ms, Mean: 12.0 ms\n"
        "[INFO]: Time taken for replace_newton_builder_shape_colors for 3 shapes Last: 9.0 s, Mean: 9.0 s\n"
        "echo '[INFO]: Time taken for simulation start : 3.0 seconds'\n"
        "                         Iteration time: 7.00s\n"  # before any iteration block
    )
    assert isaaclab_startup(text) == ConsoleStartup()


def test_several_processes_in_one_console_take_the_slowest_timer() -> None:
    lines = [f"[INFO]: Time taken for simulation start Last: {s} s, Mean: {s} s, Std: 0.0 s, N: 1" for s in (3, 9, 5)]
    assert isaaclab_startup("\n".join(lines)).simulation_start_s == 9.0
