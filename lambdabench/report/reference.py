"""Published reference figures a run can be set beside: only figures with a source to cite.

Source of every figure here: Isaac Lab documentation, "Performance Benchmarks", single-GPU tables (RTX 4090
with an AMD Ryzen 9 7950X; L40 with an Intel Xeon Platinum 8362), RL Games, `--headless`, Ubuntu 22.04,
PhysX; the same tables in the v1.4.1 and 2.1 pages
(https://isaac-sim.github.io/IsaacLab/v1.4.1/source/overview/reinforcement-learning/performance_benchmarks.html,
https://docs.nvidia.com/isaaclab/2.1/overview/reinforcement-learning/performance-benchmarks). The L40 rows
were read from a mirror of that page (docs.robotsfan.com), as the official copy reachable here was cut off
before them; they match the project's notes (/work/shared/isaaclab/NOTES.md: ~620 k on an L40). Nothing
is published for Lambda's A10/A100/H100/GH200/B200 types, and nothing for MJX or kitless Newton: no
reference point is drawn for those.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = (
    "Isaac Lab docs, Performance Benchmarks (v1.4.1 and 2.1), single GPU, RL Games, headless: "
    "https://docs.nvidia.com/isaaclab/2.1/overview/reinforcement-learning/performance-benchmarks"
)
BACKEND = "Isaac Sim PhysX container"


@dataclass(frozen=True)
class ReferenceFigure:
    """One published row: env step FPS, with inference, and with inference and training (all envs together)."""

    gpu: str
    task: str
    num_envs: int
    step_fps: float
    step_inference_fps: float
    step_inference_train_fps: float
    backend: str = BACKEND
    source: str = SOURCE


REFERENCE_FIGURES: tuple[ReferenceFigure, ...] = (
    ReferenceFigure("RTX 4090", "Isaac-Cartpole-Direct-v0", 4096, 1_100_000, 910_000, 510_000),
    ReferenceFigure("RTX 4090", "Isaac-Cartpole-RGB-Camera-Direct-v0", 1024, 50_000, 45_000, 32_000),
    ReferenceFigure("RTX 4090", "Isaac-Velocity-Rough-G1-v0", 4096, 94_000, 88_000, 82_000),
    ReferenceFigure("RTX 4090", "Isaac-Repose-Cube-Shadow-Direct-v0", 8192, 200_000, 190_000, 170_000),
    ReferenceFigure("L40", "Isaac-Cartpole-Direct-v0", 4096, 620_000, 490_000, 260_000),
    ReferenceFigure("L40", "Isaac-Cartpole-RGB-Camera-Direct-v0", 1024, 30_000, 28_000, 21_000),
    ReferenceFigure("L40", "Isaac-Velocity-Rough-G1-v0", 4096, 72_000, 64_000, 62_000),
    ReferenceFigure("L40", "Isaac-Repose-Cube-Shadow-Direct-v0", 8192, 170_000, 140_000, 120_000),
)


def matching(task: str | None, num_envs: float | None, backend: str) -> list[ReferenceFigure]:
    """The published rows for the same task, number of envs and backend (none when any is unknown)."""
    if not task or not num_envs:
        return []
    return [f for f in REFERENCE_FIGURES if f.task == task and f.num_envs == int(num_envs) and f.backend == backend]
