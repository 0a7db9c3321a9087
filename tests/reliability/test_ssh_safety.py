"""SSH: a changed host key is refused; user values reach remote commands quoted, never as shell code."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdabench.simulate import Sim, needs_sshd
from tests.reliability.conftest import LB, assert_cli_one_error, cli, record, simulator

pytestmark = needs_sshd


def hostile_values(marker: Path) -> list[str]:
    """Values that would create marker if any layer pasted them into a shell line unquoted."""
    m = str(marker)
    return [
        f"$(touch {m})",
        f"`touch {m}`",
        f"; touch {m}",
        f"a b; touch {m}",
        f"' ; touch {m}; '",
        f'" ; touch {m}; "',
        f"\ntouch {m}\n",
        f"x\rtouch {m}",
        f"|| touch {m}",
        f"&& touch {m} #",
        f"$(touch${{IFS}}{m})",
        f"\\'; touch {m}; \\'",
        f"name with spaces and 'quotes' and \"doubles\" {m}",
        f"{m}' \"$(touch {m})\" '",
        f"-n; touch {m}",
        f"*; touch {m}",
    ]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sim, Path, str]]:
    """One simulated active instance, launched through the CLI (its name carries a hostile label)."""
    root = tmp_path_factory.mktemp("ssh")
    with simulator(None, scale=300.0) as sim:
        home = root / "home"
        env = sim.client_env(home)
        out = cli(["launch", "--gpu", "a10", "--wait", "--json", "--name", 'it\'s a "label"; $(touch x)'], env)
        assert out.returncode == 0, out.stderr
        name = json.loads(out.stdout)["name"]
        assert name.startswith("lambdabench-") and all(c.isalnum() or c == "-" for c in name), name
        yield sim, home, name
        cli(["down", name], env)


def test_exec_quotes_every_word(host: tuple[Sim, Path, str], tmp_path: Path) -> None:
    sim, home, name = host
    marker = tmp_path / "pwned"
    values = hostile_values(marker)
    # bytes, not text: universal newlines would turn the \r value into \n on our side
    out = subprocess.run(
        [*LB, "exec", name, "--", "printf", "%s\\0", *values], env=sim.client_env(home), capture_output=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().split("\0")[:-1] == values
    assert not marker.exists(), "an injected command ran on the instance"
    record("ssh:exec-quoting", len(values))


def test_playbook_renderer_quotes_values(host: tuple[Sim, Path, str], tmp_path: Path) -> None:
    """`--set` values rendered into a playbook step by the real renderer, run over the real session."""
    playbook = pytest.importorskip("lambdabench.remote.playbook")
    from lambdabench.interactive import open_session

    sim, home, name = host
    ctx = sim.lab(home)
    inst = next(i for i in ctx.cloud.list_instances() if i.name == name)
    marker = tmp_path / "pwned-playbook"
    values = hostile_values(marker)
    session = open_session(ctx, inst, timeout=20)
    try:
        for value in values:
            line = playbook.render("printf '%s' {{ task }}", {"task": value})
            res = session.run(line, timeout=20, check=False)
            assert res.exit_status == 0 and res.stdout == value, (value, line, res)
            # and a value as a shell word inside a larger line
            line = playbook.render("cd /tmp && echo run {{ task }} >/dev/null", {"task": value})
            session.run(line, timeout=20)
    finally:
        session.close()
        ctx.close()
    assert not marker.exists(), "a rendered playbook value ran as shell code"
    record("ssh:playbook-quoting", len(values))


def test_changed_host_key_is_refused(host: tuple[Sim, Path, str], tmp_path: Path) -> None:
    sim, home, name = host
    env = sim.client_env(home)
    first = cli(["exec", name, "--", "true"], env)  # pins the host key (trust on first use)
    assert first.returncode == 0, first.stderr
    known = home / "known_hosts"
    pinned = known.read_text()
    assert pinned.strip(), "exec pinned nothing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other_type, other_b64 = (tmp_path / "other.pub").read_text().split()[:2]
    known.write_text(
        "".join(f"{line.split()[0]} {other_type} {other_b64}\n" for line in pinned.splitlines() if line.strip())
    )
    marker = tmp_path / "ran-after-key-change"
    out = cli(["exec", name, "--", "touch", str(marker)], env)
    line = assert_cli_one_error(out)
    assert "changed" in line or "host key" in line, line
    assert not marker.exists(), "a command ran on a host whose key changed"
    known.write_text(pinned)
    record("ssh:host-key-refused")


def test_dropped_connection_is_reported_as_lost(host: tuple[Sim, Path, str]) -> None:
    """A drop mid-command is ConnectionLost, not `exited -1` (was a bug, fixed in 0dd4e90)."""
    from lambdabench.interactive import open_session
    from lambdabench.remote.transport import ConnectionLost

    sim, home, name = host
    ctx = sim.lab(home)
    inst = next(i for i in ctx.cloud.list_instances() if i.name == name)
    session = open_session(ctx, inst, timeout=20)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            session.run("sleep 5", timeout=20)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    assert sim.hosts.drop_sessions(inst.id) >= 1
    t.join(timeout=10)
    session.close()
    ctx.close()
    assert errors and isinstance(errors[0], ConnectionLost), errors
