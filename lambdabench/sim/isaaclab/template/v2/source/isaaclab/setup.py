"""Stand-in for Isaac Lab 2.1.0's source/isaaclab/setup.py: lambdabench's simulated pip reads these names.

Pins as in isaac-sim/IsaacLab v2.1.0 (dcd877f0) source/isaaclab/setup.py:20-45; `flatdict==4.0.1`
(line 42) is an sdist that no longer builds with setuptools >= 82 (docs/isaaclab-contract.md, 2.x "flatdict").
"""

NAME = "isaaclab"
MODULE = "isaaclab"
INSTALL_REQUIRES = [
    "numpy<2",
    "torch==2.5.1",
    "prettytable==3.3.0",
    "toml",
    "gymnasium",
    "warp-lang",
    "starlette==0.46.0",
    "flatdict==4.0.1",
]
