"""What lambdabench calls itself: on the cloud (instance names, tags) and in its User-Agent."""

VERSION = "0.1.0"
TOOL_NAME = "lambdabench"
NAME_PREFIX = "lambdabench-"  # every instance and ruleset lambdabench creates starts with this
