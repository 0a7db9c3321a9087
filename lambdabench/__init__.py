"""lambdabench: benchmark Isaac Sim / Isaac Lab across Lambda Cloud GPUs and know what every run cost."""

__version__ = "0.1.0"
TOOL_NAME = "lambdabench"
NAME_PREFIX = "lambdabench-"
