"""Isaac Lab playbook steps rendered as lambdabench renders them, their shell run here (no box needed)."""

from __future__ import annotations

import subprocess

import pytest

from lambdabench.remote.expr import render
from lambdabench.remote.playbook import load_playbook, shipped_dir

FACTS = {"gpus": 1, "nnodes": 1, "vulkan_icd": "present", "nvidia_gl": "installed"}


def _prefix(playbook: str, step: str, values: dict[str, str]) -> str:
    """The step's shell up to its isaaclab.sh call, with `echo PUBLIC_IP=$PUBLIC_IP` in its place."""
    book = load_playbook(shipped_dir() / f"{playbook}.yaml")
    names = book.namespace(book.resolve_vars(values), FACTS)
    body = render(str(next(s for s in book.steps if s.name == step).body), names)
    head = body.split("./isaaclab.sh")[0].split("{ timeout")[0].replace("cd /workspace/isaaclab &&", "")
    head = head.replace("touch /tmp/lambdabench-play.start &&", "")
    return head + ' echo "PUBLIC_IP=${PUBLIC_IP:-unset}"'


@pytest.mark.parametrize(
    ("playbook", "step", "extra"),
    [
        ("isaaclab-train", "train", {}),
        ("isaaclab-play", "play", {"checkpoint": "/x/run/model.pt"}),
    ],
)
@pytest.mark.parametrize("mode", ["1", "2"])
def test_every_livestream_mode_gets_a_public_ip(playbook: str, step: str, extra: dict[str, str], mode: str) -> None:
    # 2.1.0 streams WebRTC with --livestream 2 to PUBLIC_IP (app_launcher.py:719-746), 2.2+ with 1
    out = subprocess.run(
        ["bash", "-c", _prefix(playbook, step, {**extra, "livestream": mode})],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    assert "PUBLIC_IP=unset" not in out and "PUBLIC_IP=" in out
    off = subprocess.run(
        ["bash", "-c", _prefix(playbook, step, {**extra, "livestream": "0"})],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    assert "PUBLIC_IP=unset" in off
