"""Stand-in for Isaac Lab 2.1.0's isaaclab_tasks setup.py (read by lambdabench's simulated pip)."""

NAME = "isaaclab_tasks"
MODULE = "isaaclab_tasks"
INSTALL_REQUIRES = ["numpy", "torch==2.5.1", "protobuf>=3.20.2, < 5.0.0", "tensorboard"]
