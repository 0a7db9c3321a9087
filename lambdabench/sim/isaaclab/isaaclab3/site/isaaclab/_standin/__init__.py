"""lambdabench's simulation of the isaaclab 3.0.0 CLI (see isaaclab/__init__.py)."""
