"""The stand-in's task registry: a few of Isaac Lab 3.0.0's ids with their rsl_rl settings.

Read from the 3.0.0 wheel (isaaclab_tasks/core/...): ids from the gym.register calls, experiment
names, steps per env, iterations and save intervals from each task's agents/rsl_rl_ppo_cfg.py,
default env counts from the env cfgs, physics presets from *_common.py (default = newton_mjwarp),
camera renderer presets from isaaclab_tasks/utils/presets.py:24-29 (default = Newton's Warp renderer).
Ids no longer end in -v0 (the 2.x names); gymnasium's own errors explain a -v0 id.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from isaaclab._standin.host import traceback_exit

# the assets: isaaclab_assets/robots/cartpole.py:21-22, ant.py:25, humanoid.py:25, below the asset root of
# isaaclab/utils/assets.py:177-213 (ISAACSIM_ASSET_ROOT, else isaaclab/apps/isaaclab.python.kit:276, an https URL)
ASSET_ROOT = "https://omniverse-content-production.s3-us-west-2.amazonaws.com/Assets/Isaac/6.2"
# the ground plane every Cartpole scene spawns (cartpole_manager_env_cfg.py:37-39, GroundPlaneCfg's usd_path:
# isaaclab/sim/spawners/from_files/from_files_cfg.py:23-25); seen loaded on the real GPU machine (2026-12-05,
# ../shared/isaaclab/NOTES.md); that every stand-in task spawns it is a guess for the non-Cartpole ones
GROUND_PLANE = "Isaac/IsaacLab/Environments/Grid/default_ground_plane_checker_v1/default_ground_plane.usda"
# isaaclab_tasks/core/cartpole/cartpole_common.py:29-53, ant_common.py:67, humanoid_common.py:76
PHYSICS_PRESETS = ("isaacsim_physx", "ovphysx", "physx", "newton_mjwarp", "newton_kamino")
# isaaclab_tasks/utils/presets.py:24-29 (MultiBackendRendererCfg)
RENDERER_PRESETS = ("rtx", "ovrtx", "isaacsim_rtx", "newton_renderer")


@dataclass(frozen=True)
class Task:
    id: str
    experiment: str  # rsl_rl experiment_name: logs/rsl_rl/<experiment>/
    num_steps_per_env: int
    max_iterations: int
    save_interval: int
    num_envs: int
    workflow: str  # direct | manager-based
    asset: str  # the robot's USD below the Isaac asset root (isaaclab_assets/robots/*.py)
    cameras: bool = False
    presets: tuple[str, ...] = field(default=PHYSICS_PRESETS)


TASKS = [
    # cartpole/__init__.py:21-83; agents/rsl_rl_ppo_cfg.py:22-26,55-56,84-90,128-129;
    # cartpole_direct_env_cfg.py:58, cartpole_manager_env_cfg.py:165, *_camera_env_cfg.py:56,140
    Task(
        "Isaac-Cartpole-Direct",
        "cartpole_direct",
        16,
        150,
        50,
        4096,
        "direct",
        "Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd",
    ),
    Task(
        "Isaac-Cartpole",
        "cartpole",
        16,
        150,
        50,
        4096,
        "manager-based",
        "Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd",
    ),
    Task(
        "Isaac-Cartpole-Camera-Direct",
        "cartpole_camera_direct",
        64,
        200,
        50,
        512,
        "direct",
        "Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd",
        cameras=True,
        presets=PHYSICS_PRESETS + RENDERER_PRESETS,
    ),
    Task(
        "Isaac-Cartpole-Camera",
        "cartpole_camera",
        64,
        200,
        50,
        512,
        "manager-based",
        "Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd",
        cameras=True,
        presets=PHYSICS_PRESETS + RENDERER_PRESETS,
    ),
    # locomotion/ant/__init__.py:21,38; agents/rsl_rl_ppo_cfg.py:12-16,45-46; ant_*_env_cfg.py:58,171
    Task(
        "Isaac-Ant-Direct", "ant_direct", 32, 1000, 50, 4096, "direct", "Isaac/Robots/IsaacSim/Ant/ant_instanceable.usd"
    ),
    Task("Isaac-Ant", "ant", 32, 1000, 50, 4096, "manager-based", "Isaac/Robots/IsaacSim/Ant/ant_instanceable.usd"),
    # locomotion/humanoid/__init__.py:39; agents/rsl_rl_ppo_cfg.py:22-26,55-56; humanoid_*_env_cfg.py:52,182
    Task(
        "Isaac-Humanoid-Direct",
        "humanoid_direct",
        32,
        1000,
        100,
        4096,
        "direct",
        "Isaac/Robots/IsaacSim/Humanoid/humanoid_instanceable.usd",
    ),
    Task(
        "Isaac-Humanoid",
        "humanoid",
        32,
        1000,
        100,
        4096,
        "manager-based",
        "Isaac/Robots/IsaacSim/Humanoid/humanoid_instanceable.usd",
    ),
]


def find(task_id: str | None, where: str) -> Task:
    """The registered task, or gymnasium's error for the id (gymnasium/envs/registration.py:993-1009).

    `gym.spec` runs `_check_version_exists`: an id `<name>-v<N>` whose name is registered without
    a version raises DeprecatedEnv ("... It provides the default version `<name>`.", lines
    393-407); an unknown name raises NameNotFound with difflib's closest match (lines 350-368).
    """
    if not task_id:
        traceback_exit("ValueError", "Please provide a task name with --task.", where)  # guess: wording
    name = task_id.split(":")[-1]
    for task in TASKS:
        if task.id == name:
            return task
    base, _, version = name.rpartition("-v")
    if base and version.isdigit():
        if any(t.id == base for t in TASKS):
            traceback_exit(
                "gymnasium.error.DeprecatedEnv",
                f"Environment version `v{version}` for environment `{base}` doesn't exist. "
                f"It provides the default version `{base}`.",
                where,
            )
        name = base
    match = difflib.get_close_matches(name, [t.id for t in TASKS], n=1)
    suggestion = f" Did you mean: `{match[0]}`?" if match else ""
    traceback_exit("gymnasium.error.NameNotFound", f"Environment `{name}` doesn't exist.{suggestion}", where)
