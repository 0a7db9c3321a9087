"""Stand-in for the fork's omni.isaac.lab_assets setup.py (read by lambdabench's simulated pip)."""

NAME = "omni-isaac-lab_assets"
MODULE = "omni.isaac.lab_assets"
INSTALL_REQUIRES: list[str] = []
