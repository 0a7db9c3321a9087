"""What lambdabench calls itself (instance names, tags, User-Agent), and the one API address it talks to by default."""

VERSION = "0.1.0"
TOOL_NAME = "lambdabench"
NAME_PREFIX = "lambdabench-"  # every instance and ruleset lambdabench creates starts with this
DEFAULT_API_URL = (
    "https://cloud.lambda.ai/api/v1"  # openapi.json servers[0] + its /api/v1 paths; LAMBDABENCH_API_URL overrides
)
