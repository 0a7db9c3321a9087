"""lambdabench's stand-in for tensorboard 2.21.0 (a dependency of isaaclab 3.0.0: its METADATA line 34), simulated."""

__version__ = "2.21.0"
