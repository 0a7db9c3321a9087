"""SSH sessions against a real sshd: pinning, timeouts, errors, readiness, OpenSSH helpers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lambdabench.errors import RemoteError
from lambdabench.remote import ssh
from lambdabench.remote.ssh import HostKeyChanged, Session, wait_for_ssh
from lambdabench.secrets import Secret


def test_run_streams_to_log_and_pins_key(raw_host, raw_session, known_hosts, tmp_path):
    log = tmp_path / "step.log"
    result = raw_session.run("echo out; echo err >&2; pwd", log_path=log)
    assert result.ok
    assert result.stdout.splitlines() == ["out", str(raw_host.home)]
    assert "err" in log.read_text() and "out" in log.read_text()
    pinned = known_hosts.lookup(raw_host.target().host_key_alias)
    assert pinned is not None
    assert pinned[1] in Path(str(raw_host.host_key) + ".pub").read_text()


def test_failure_carries_command_status_and_stderr_tail(session):
    with pytest.raises(RemoteError) as info:
        session.run("echo first >&2; echo 'boom here' >&2; exit 3")
    err = info.value
    assert err.exit_status == 3
    assert "exit 3" in (err.command or "")
    assert err.stderr_tail.splitlines()[-1] == "boom here"
    assert "boom here" in err.one_line()


def test_timeout_is_enforced(session):
    with pytest.raises(RemoteError, match="timed out after 0.5s"):
        session.run("sleep 5", timeout=0.5)
    assert session.run("echo still usable").stdout == "still usable\n"


def test_stdin_secret_never_in_argv_or_log(session, tmp_path):
    secret = Secret("sentinel-not-in-argv-4242")
    log = tmp_path / "s.log"
    result = session.run("cat > got.txt; cat got.txt", stdin=secret, log_path=log)
    assert result.stdout == "sentinel-not-in-argv-4242"
    assert "sentinel" not in log.read_text()  # redacted on the way to the log
    assert "***" in log.read_text()


def test_a_secret_written_in_two_pieces_around_a_stderr_line_is_redacted(session, tmp_path):
    """One redactor for both streams released a held prefix when stderr came in between (CI, local
    transport): each stream is redacted on its own."""
    Secret("split-secret-value-9876")
    log = tmp_path / "s.log"
    session.run("printf split-secret-; sleep 0.3; echo between >&2; sleep 0.3; printf value-9876; echo", log_path=log)
    text = log.read_text()
    assert "value-9876" not in text and "split-secret" not in text and "***" in text and "between" in text


def test_changed_host_key_is_refused(raw_host, known_hosts):
    Session(raw_host.target(), known_hosts=known_hosts).open().close()
    raw_host.regenerate_host_key()
    with pytest.raises(HostKeyChanged, match="changed"):
        Session(raw_host.target(), known_hosts=known_hosts).open()
    # OpenSSH with our known_hosts refuses it as well
    argv = ssh.openssh_argv(raw_host.target(), known_hosts.path, "true")
    assert subprocess.run(argv, capture_output=True, timeout=20).returncode == 255
    # a relaunched instance gets a new id, hence a new pin
    assert known_hosts.forget(raw_host.target().host_key_alias)
    Session(raw_host.target(), known_hosts=known_hosts).open().close()


def test_expected_fingerprint_mismatch_refused(host, known_hosts):
    with pytest.raises(HostKeyChanged, match="expected"):
        Session(host.target(), known_hosts=known_hosts, expected_fingerprint="SHA256:nope").open()
    assert known_hosts.lookup(host.target().host_key_alias) is None


def test_user_ssh_config_is_never_read(host, known_hosts, monkeypatch, tmp_path):
    home = tmp_path / "userhome"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    # would send us to a dead port and a missing key if read
    (home / ".ssh" / "config").write_text("Host *\n  Port 1\n  User nobody\n  IdentityFile /nope\n")
    s = Session(host.target(), known_hosts=known_hosts).open()
    assert s.run("echo ok").stdout == "ok\n"
    s.close()
    argv = ssh.openssh_argv(host.target(), known_hosts.path, "echo ok")
    assert subprocess.run(argv, capture_output=True, timeout=20).stdout == b"ok\n"


def test_wait_for_ssh_backs_off_then_connects(raw_host, known_hosts):
    raw_host.stop()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raw_host.start()

    s = wait_for_ssh(
        raw_host.target(),
        known_hosts=known_hosts,
        sleep=sleep,
        first_delay=0.01,
        connect_timeout=3,
    )
    assert s.run("echo up").stdout == "up\n"
    s.close()
    assert sleeps[:3] == [0.01, 0.02, 0.04]


def test_wait_for_ssh_is_bounded(raw_host, known_hosts):
    raw_host.stop()
    now = [0.0]
    with pytest.raises(RemoteError, match="not ready after 5s"):
        wait_for_ssh(
            raw_host.target(),
            known_hosts=known_hosts,
            timeout=5,
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + s),
            connect_timeout=2,
        )


def test_reopen_and_exec_quoting(session):
    session.reopen()
    hostile = "a b'c\"$(touch pwned);`x`\nnext"
    result = session.exec(["printf", "%s", hostile])
    assert result.stdout == hostile
    assert session.run("ls pwned 2>/dev/null || echo absent").stdout == "absent\n"


def test_ssh_config_entry_and_tunnel(host, known_hosts, tmp_path):
    Session(host.target(), known_hosts=known_hosts).open().close()
    text = ssh.ssh_config_include({"demo": host.target()}, known_hosts.path)
    assert "Host lambdabench-demo\n" in text and "StrictHostKeyChecking yes" in text
    cfg = tmp_path / "cfg"
    cfg.write_text(text)
    out = subprocess.run(
        ["ssh", "-F", str(cfg), "-o", "BatchMode=yes", "lambdabench-demo", "echo via-config"],
        capture_output=True,
        timeout=20,
    )
    assert out.stdout == b"via-config\n", out.stderr
    with pytest.raises(Exception, match="cannot be an ssh host alias"):
        ssh.ssh_config_entry("bad name", host.target(), known_hosts.path)


def test_tunnel_forwards_a_port(host, session, known_hosts):
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    server = session.open_stream("cd /tmp && exec timeout 20 python3 -m http.server 16999 --bind 127.0.0.1")
    try:
        tunnel = ssh.start_tunnel(host.target(), known_hosts.path, local_port=local, remote_port=16999)
        try:
            for _ in range(50):
                try:
                    body = urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=2).read()
                    break
                except OSError:
                    import time

                    time.sleep(0.1)
            assert b"Directory listing" in body
        finally:
            tunnel.terminate()
            tunnel.wait()
    finally:
        server.close()


def test_a_refused_key_fails_fast_not_after_the_whole_window(raw_host, known_hosts, tmp_path):
    """Issue 23 item 19: sshd answers and refuses our key — retried for 10 minutes before; now a short grace."""
    import dataclasses

    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    now = [0.0]
    with pytest.raises(RemoteError, match="authentication failed") as info:
        wait_for_ssh(
            dataclasses.replace(raw_host.target(), key_path=other),
            known_hosts=known_hosts,
            timeout=600,
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + s),
            connect_timeout=3,
        )
    assert now[0] <= ssh.AUTH_GRACE_S and "not ready" not in info.value.message
