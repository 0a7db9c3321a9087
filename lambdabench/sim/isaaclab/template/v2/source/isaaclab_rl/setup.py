"""Stand-in for Isaac Lab 2.1.0's source/isaaclab_rl/setup.py: lambdabench's simulated pip reads these names.

The RL extras as in isaac-sim/IsaacLab v2.1.0 (dcd877f0) source/isaaclab_rl/setup.py:44-56.
"""

NAME = "isaaclab_rl"
MODULE = "isaaclab_rl"
INSTALL_REQUIRES = ["numpy", "torch==2.5.1", "hydra-core", "h5py", "tensorboard", "moviepy"]
EXTRAS_REQUIRE = {
    "sb3": ["stable-baselines3>=2.1"],
    "skrl": ["skrl>=1.4.2"],
    "rl-games": ["rl-games==1.6.1", "gym"],
    "rsl-rl": ["rsl-rl-lib==2.3.1"],
}
ALIASES = {"rl_games": "rl-games", "rsl_rl": "rsl-rl"}
