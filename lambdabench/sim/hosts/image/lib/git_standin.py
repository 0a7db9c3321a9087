"""The simulated instance's git: real /usr/bin/git, with Isaac Lab's GitHub URLs served locally.

Simulated instances have no network, as if behind a mirror: `git clone` (or fetch, pull,
ls-remote) of https://github.com/RajitGhosh/IsaacLab-Fork(.git) or
https://github.com/isaac-sim/IsaacLab(.git) reaches the bare repositories that
lambdabench/sim/isaaclab/repo.py builds, through `url.<local>.insteadOf` passed in GIT_CONFIG_*
variables (argv untouched, origin stays the GitHub URL). Everything else goes to real git.
Where the repositories live: $LAMBDABENCH_SIM_REPOS if set, else <simulator state>/isaaclab-repos
(the parent of $LAMBDABENCH_SIM_ROOT, or two levels above $LAMBDABENCH_SIM_STATE); built on
first use when the simulator has not built them yet.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simhost  # noqa: E402

PACKAGE_ROOT = Path(__file__).resolve().parents[5]  # the folder holding lambdabench/
REAL_GIT = "/usr/bin/git"


def repos_root() -> Path:
    """Where the simulator keeps (or will build) the Isaac Lab repositories."""
    explicit = os.environ.get("LAMBDABENCH_SIM_REPOS")
    if explicit:
        return Path(explicit)
    hosts = os.environ.get("LAMBDABENCH_SIM_ROOT")
    if hosts:
        return Path(hosts).parent / "isaaclab-repos"
    return simhost.state_dir().parent.parent / "isaaclab-repos"


def url_env() -> dict[str, str]:
    """GIT_CONFIG_* entries pointing the GitHub URLs at the local repositories."""
    spec = importlib.util.spec_from_file_location(
        "_lambdabench_isaaclab_repo", PACKAGE_ROOT / "lambdabench" / "sim" / "isaaclab" / "repo.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(PACKAGE_ROOT))  # for lambdabench.errors on a build failure
    spec.loader.exec_module(module)
    env: dict[str, str] = module.git_url_env(module.ensure_repos(repos_root()))
    return env


NETWORK = {"clone", "fetch", "pull", "ls-remote", "submodule", "push", "archive"}
_VALUED_GLOBALS = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path"}


def subcommand(argv: list[str]) -> str | None:
    """The git subcommand after the global options."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUED_GLOBALS:
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            return arg
    return None


def main(argv: list[str]) -> int:
    """Record argv, add the URL rewrites (network commands only), become real git."""
    simhost.log_argv("git", argv)
    env = dict(os.environ)
    sub = subcommand(argv)
    remote_update = sub == "remote" and "update" in argv
    if sub not in NETWORK and not remote_update:
        # local commands (remote get-url, config, log, ...) see the configured URL, as on a real box
        os.execve(REAL_GIT, ["git", *argv], env)
    if env.get("GIT_CONFIG_COUNT"):
        # keep the caller's GIT_CONFIG_* entries: ours go after them
        base = int(env["GIT_CONFIG_COUNT"])
        ours = url_env()
        count = int(ours.pop("GIT_CONFIG_COUNT"))
        for i in range(count):
            env[f"GIT_CONFIG_KEY_{base + i}"] = ours[f"GIT_CONFIG_KEY_{i}"]
            env[f"GIT_CONFIG_VALUE_{base + i}"] = ours[f"GIT_CONFIG_VALUE_{i}"]
        env["GIT_CONFIG_COUNT"] = str(base + count)
    else:
        env.update(url_env())
    # a mirror, not the internet: nothing else is reachable from a simulated instance
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    os.execve(REAL_GIT, ["git", *argv], env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
