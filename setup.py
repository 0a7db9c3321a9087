"""The one build rule pyproject.toml cannot state: the top-level playbooks/ ships as lambdabench._playbooks."""

from setuptools import find_packages, setup

# playbooks/ stays at the repository's top level (the design card's layout) but is installed inside
# the package, so a wheel or tool install is complete and the code finds it through importlib.resources
setup(
    packages=[*find_packages(include=["lambdabench", "lambdabench.*"]), "lambdabench._playbooks"],
    package_dir={"lambdabench._playbooks": "playbooks"},
)
