"""Write setup.yaml's steps that touch the checkout as shell files, rendered as lambdabench renders them.

Usage: render_steps.py ISAACLAB_VERSION REPO_DIR OUT_DIR — one NN-<step>.sh per step, in order.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from lambdabench.remote.playbook import load_playbook, render, shipped_dir

# the steps after clone that act on the checkout and its docker/ helper (gpu, NGC and Vulkan steps
# need a real box)
STEPS = ("release and layout", "patch known image-build breakers", "pre-answer the X11 question",
         "yq for container.sh", "start the container")  # fmt: skip


def main(version: str, repo_dir: str, out: str) -> int:
    book = load_playbook(shipped_dir() / "setup.yaml")
    names = book.namespace(book.resolve_vars({"isaaclab_version": version, "repo_dir": repo_dir}), {})
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for step in book.steps:
        if step.name not in STEPS or (step.when is not None and not step.when.evaluate(names)):
            continue
        written += 1
        slug = re.sub(r"[^a-z0-9]+", "-", step.name.lower()).strip("-")
        (folder / f"{written:02d}-{slug}.sh").write_text(render(str(step.body), names) + "\n")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
