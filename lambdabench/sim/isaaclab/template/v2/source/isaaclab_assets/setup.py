"""Stand-in for Isaac Lab 2.1.0's isaaclab_assets setup.py (read by lambdabench's simulated pip)."""

NAME = "isaaclab_assets"
MODULE = "isaaclab_assets"
INSTALL_REQUIRES: list[str] = []
