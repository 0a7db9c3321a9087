"""Issue 23 item 19: an instance with an odd name (another tool's, a colleague's, a hostile one) costs nobody
their `ssh-config` entries, and what the API names never reaches the terminal as an escape sequence."""

from __future__ import annotations

import time
from pathlib import Path

from lambdabench.simulate import needs_sshd
from tests.reliability.conftest import cli, simulator

pytestmark = [needs_sshd]


def test_ssh_config_leaves_out_an_odd_name_and_keeps_the_others(tmp_path: Path) -> None:
    with simulator(None, scale=300.0, hosts=False) as sim:
        home = tmp_path / "home"
        lab = sim.lab(home)
        key = lab.ssh_key_name()
        tags = [("lambdabench-tool", "lambdabench")]
        for name in ("lambdabench-good-1", "lambdabench-\x1b[2J\x1b[31mred", "lambdabench-x\nProxyCommand touch pwned"):
            lab.cloud.launch(instance_type="gpu_1x_a10", region="us-east-1", ssh_key_name=key, name=name, tags=tags)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(i.status == "active" for i in lab.cloud.list_instances()) < 3:
            time.sleep(0.1)
        out = cli(["ssh-config"], sim.client_env(home))
        assert out.returncode == 0, out.stderr
        assert "Host lambdabench-good-1\n" in out.stdout
        assert "\x1b" not in out.stdout + out.stderr
        assert not any(line.lstrip().startswith("ProxyCommand") for line in out.stdout.splitlines())
        assert out.stdout.count("# left out:") == 2
        lab.close()
