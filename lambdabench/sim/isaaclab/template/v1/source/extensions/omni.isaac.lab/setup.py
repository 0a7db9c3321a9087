"""Stand-in for the fork's omni.isaac.lab setup.py: lambdabench's simulated pip reads these names.

Package name and pins as in RajitGhosh/IsaacLab-Fork b24a0fa
source/extensions/omni.isaac.lab/setup.py:20-37 (docs/isaaclab-contract.md, 1.x "Image build").
"""

NAME = "omni-isaac-lab"
MODULE = "omni.isaac.lab"
INSTALL_REQUIRES = ["numpy", "torch==2.2.2", "prettytable==3.3.0", "tensordict", "toml", "gymnasium==0.29.0"]
