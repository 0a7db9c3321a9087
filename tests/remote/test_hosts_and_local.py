"""BYO host specs (OpenSSH conventions) and the local transport behind the same interface as SSH."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdabench.errors import RemoteError, UsageError
from lambdabench.remote.local import LocalSession
from lambdabench.run.hosts import parse_host, parse_hosts


def test_host_specs_and_ssh_config_aliases(tmp_path: Path) -> None:
    cfg = tmp_path / ".ssh" / "config"
    cfg.parent.mkdir()
    cfg.write_text(
        "Host ws4090 gpu-*\n  HostName 10.0.0.5\n  User alice\n  Port 2222\n  IdentityFile ~/.ssh/id_ws\n"
        "Host jumpy\n  HostName 10.0.0.6\n  ProxyJump bastion\n"
        "Host *\n  User nobody\n"
    )
    h = parse_host("ws4090,price=1.29", ssh_config=cfg)
    assert (h.addr, h.user, h.port, h.label, h.price_cents_per_hour) == ("10.0.0.5", "alice", 2222, "ws4090", 129)
    assert h.key_path == tmp_path / ".ssh" / "id_ws" and h.alias == "ws4090" and h.type_name == "host:ws4090"
    # what the user typed wins over the config (OpenSSH: command line first)
    h = parse_host("bob@ws4090:22,label=mine", ssh_config=cfg)
    assert (h.user, h.port, h.label) == ("bob", 22, "mine")
    plain = parse_host("ubuntu@192.0.2.7", ssh_config=cfg)
    assert (plain.addr, plain.user, plain.port, plain.label) == ("192.0.2.7", "ubuntu", None, "192.0.2.7")
    with pytest.raises(UsageError, match="ProxyJump"):
        parse_host("jumpy", ssh_config=cfg)
    for bad, why in [
        ("a b", "not \\[user@\\]address"),
        ("h:99999", "port"),
        ("h,price=0,50", "not label="),
        ("h,price=1e309", "beyond"),
        ("h,colour=red", "label=, price= or key="),
    ]:
        with pytest.raises(UsageError, match=why):
            parse_host(bad, ssh_config=cfg)
    local = parse_hosts([], local=True)
    assert [(x.kind, x.type_name, x.price_cents_per_hour) for x in local] == [("local", "local", 0)]
    with pytest.raises(UsageError, match="labelled"):
        parse_hosts(["a@h1,label=x", "b@h2,label=x"])


def test_the_local_transport_runs_copies_and_streams_like_ssh(tmp_path: Path) -> None:
    from lambdabench.remote.transfer import pull
    from lambdabench.secrets import Secret

    s = LocalSession(home=tmp_path / "lb").open()
    assert s.run("pwd").stdout.strip() == str(tmp_path / "lb" / "local" / "home")
    assert s.run('echo "$HOME"').stdout.strip() == str(s.home)
    log = tmp_path / "step.log"
    Secret("local-secret-value-123456")
    # a stderr line between the secret's two pieces (one redactor for both streams let it through in halves)
    res = s.run(
        "printf local-secret-; sleep 0.3; echo err >&2; sleep 0.3; printf value-123456; echo; exit 3",
        log_path=log,
        check=False,
    )
    assert res.exit_status == 3 and "err" in res.stderr
    text = log.read_text()
    assert "value-123456" not in text and "local-secret" not in text and "***" in text and "err" in text
    with pytest.raises(RemoteError, match="exited 3 on this machine"):
        s.run("exit 3")
    with pytest.raises(RemoteError, match="timed out"):
        s.run("sleep 5", timeout=0.3)
    s.write_private(".lambdabench/secrets/k", Secret("local-secret-value-123456"))
    assert (s.home / ".lambdabench/secrets/k").stat().st_mode & 0o777 == 0o600
    src = tmp_path / "x.txt"
    src.write_text("hello")
    s.put(src, "dir/x.txt", 0o640)
    s.get("dir/x.txt", tmp_path / "back.txt")
    assert (tmp_path / "back.txt").read_text() == "hello"
    s.run("mkdir -p results/sub && printf a > results/a && printf bb > results/sub/b")
    got = pull(s, "results", tmp_path / "pulled")
    assert got.ok and sorted((f.path, f.size) for f in got.files) == [("a", 1), ("sub/b", 2)]
    assert (tmp_path / "pulled" / "sub" / "b").read_text() == "bb"


def test_a_local_command_past_its_limit_is_a_remote_timeout(tmp_path: Path) -> None:
    from lambdabench.errors import RemoteTimeout

    s = LocalSession(home=tmp_path / "lb").open()
    with pytest.raises(RemoteTimeout, match="timed out after 0.3s"):
        s.run("sleep 10", timeout=0.3)


CHATTY = """
name: chatty
steps:
  - name: talk
    run: echo said 1; echo said 2 >&2
  - name: bench
    run: for i in 1 2 3; do echo tick $i; sleep 0.2; done
    detach: true
    timeout: 60
"""


def test_verbose_echoes_each_line_of_a_step_once_and_nothing_of_the_polls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-v: a detached step's output as it comes, once (the poll's own status and size figures are not the step's)."""
    from lambdabench.remote.playbook import load_playbook
    from lambdabench.remote.runner import run_playbook

    book = tmp_path / "chatty.yaml"
    book.write_text(CHATTY)
    session = LocalSession(home=tmp_path / "lb", verbose=True).open()
    res = run_playbook(session, load_playbook(book), {}, {}, {}, tmp_path / "logs", poll_s=0.1)
    assert res.ok, res.error
    echoed = capsys.readouterr().err.splitlines()
    assert sorted(echoed) == ["said 1", "said 2", "tick 1", "tick 2", "tick 3"], echoed
