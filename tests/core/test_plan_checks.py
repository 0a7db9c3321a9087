"""What planning can check is checked before anything starts (issue 31): one line, non-zero, nothing launched."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdabench.errors import UsageError
from lambdabench.run.plan import SweepPlan, SweepRequest
from lambdabench.sim.api.core import SimCloud
from lambdabench.simulate import simulator
from tests.core.clihelp import assert_one_line_error, run

SCALE = 600.0


def plan(tmp_path: Path, gpus: str = "a10", **kw: Any) -> SweepPlan:
    """plan_sweep on a fixed one-type snapshot (no cloud needed)."""
    from lambdabench.cloud.models import InstanceType, Region, TypeAvailability
    from lambdabench.run.env import RunEnv, Timeouts
    from lambdabench.run.plan import plan_sweep

    avail = [
        TypeAvailability(
            InstanceType("gpu_1x_a10", "1x A10 (24 GB PCIe)", "A10 (24 GB PCIe)", 129, gpus=1), (Region("us-east-1"),)
        )
    ]
    env = RunEnv(tmp_path, Timeouts.for_scale(1), ssh_config=kw.pop("ssh_config", None))
    return plan_sweep(
        SweepRequest(gpus, **kw), availability=avail, regions=["us-east-1"], env=env, ngc_key_present=False
    )


@pytest.fixture
def server() -> Iterator[tuple[SimCloud, dict[str, str]]]:
    with simulator(scale=SCALE, retry_budget=3) as sim:
        yield sim.core, sim.env


# ---- item 3: playbook variables, --reward-target, --playbook "", types --gpu "", --name ----------------


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        ({"num_envs": "-5"}, "num_envs must be 1 to 2147483647"),
        ({"num_envs": "0"}, "num_envs must be 1 to"),
        ({"num_envs": "99999999999999999999999"}, "num_envs must be 1 to 2147483647"),
        ({"num_envs": "9" * 100_000}, "num_envs must be int"),
        ({"seed": "-2"}, "seed must be -1 to"),
        ({"max_iterations": "-1"}, "max_iterations must be 0 to"),
    ],
)
def test_int_vars_have_ranges(tmp_path: Path, sets: dict[str, str], needle: str) -> None:
    with pytest.raises(UsageError, match=needle) as err:
        plan(tmp_path, playbook="isaaclab3-train", sets=sets)
    assert len(err.value.one_line()) < 300
    ok = plan(tmp_path, playbook="isaaclab3-train", sets={"num_envs": "1", "seed": "-1", "max_iterations": "0"})
    assert ok.variables["num_envs"] == "1"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_float_vars_must_be_finite_and_in_range(tmp_path: Path, value: str) -> None:
    with pytest.raises(UsageError, match="rep_seconds must be"):
        plan(tmp_path, playbook="mjx-locomotion", sets={"rep_seconds": value})
    with pytest.raises(UsageError, match="rep_seconds must be at least 0.01"):
        plan(tmp_path, playbook="mjx-locomotion", sets={"rep_seconds": "0"})


def test_playbook_min_max_are_validated(tmp_path: Path) -> None:
    from lambdabench.errors import PlaybookError
    from lambdabench.remote.playbook import load_playbook

    book = tmp_path / "b.yaml"
    for vars_, needle in [
        ("{type: str, min: 1}", "int and float vars only"),
        ("{type: int, min: 1.5}", "finite int"),
        ("{type: int, min: 5, max: 1}", "above"),
        ("{type: int, default: 0, min: 1}", "default"),
        ("{type: float, max: .inf}", "finite float"),
        ("{type: int, absolute: true}", "str vars only"),
        ("{type: str, absolute: 1}", "true or false"),
    ]:
        book.write_text(f"name: b\nvars:\n  n: {vars_}\nsteps: []\n")
        with pytest.raises(PlaybookError, match=needle):
            load_playbook(book)


@pytest.mark.parametrize("book", ["isaaclab3-train", "isaaclab3-play"])
def test_an_asset_root_must_be_absolute_at_plan_time(tmp_path: Path, book: str) -> None:
    # the training runs in work_dir and each --find-max-envs probe in a folder of its own, so a relative mirror
    # would resolve somewhere else on the instance after the money was spent
    for relative in ("assets", "~/assets", "./il3-assets"):
        with pytest.raises(UsageError, match="asset_root must be an absolute path") as err:
            plan(tmp_path, playbook=book, sets={"asset_root": relative})
        assert "--set asset_root=/home/ubuntu/" in err.value.one_line()
    assert plan(tmp_path, playbook=book, sets={"asset_root": "/data/assets"}).variables["asset_root"] == "/data/assets"
    assert plan(tmp_path, playbook=book).runs  # empty: the https root


def test_empty_playbook_and_long_or_control_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--playbook is empty"):
        plan(tmp_path, playbook="")
    with pytest.raises(UsageError, match="100,000 characters"):
        plan(tmp_path, name="n" * 100_000)
    with pytest.raises(UsageError, match="printable"):
        plan(tmp_path, name="red \x1b[31mALERT\x1b[0m")
    assert plan(tmp_path, name="h100 vs a100").runs


def test_cli_dry_run_refuses_bad_values_and_launches_nothing(server: tuple[SimCloud, dict[str, str]]) -> None:
    core, env = server
    base = ["sweep", "--gpus", "a10", "--dry-run"]
    for args, needle in [
        (["--playbook", "isaaclab3-train", "--set", "num_envs=-5"], "num_envs must be 1 to"),
        (["--playbook", "isaaclab3-train", "--set", "num_envs=99999999999999999999999"], "num_envs must be"),
        (["--playbook", ""], "--playbook is empty"),
        (["--name", "x" * 100_000], "100,000 characters"),
    ]:
        line = assert_one_line_error(run(base + args, env), needle)
        assert len(line) < 400, line
    for value in ("nan", "inf", "-inf"):
        assert_one_line_error(run(["report", "--reward-target", value], env), "not a finite number")
    assert_one_line_error(run(["types", "--gpu", ""], env), "--gpu is empty")
    assert_one_line_error(run(["types", "--gpu", "  "], env), "--gpu is empty")
    assert not [r for r in core.requests() if r["path"].endswith("/launch")]


# ---- item 2: labels, label=/key=/price= given twice or empty, --nodes without launched types -----------


def test_labels_derived_from_addresses_are_always_valid(tmp_path: Path) -> None:
    from lambdabench.run.hosts import parse_host, parse_hosts

    assert parse_host("[::1]:2201").label == "ipv6-1"
    assert parse_host("ubuntu@[fe80::1]").label == "ipv6-fe80-1"
    long_name = "gpu-box-" + "a" * 50 + ".example.com"
    h = parse_host(f"ubuntu@{long_name}")
    assert h.addr == long_name and len(h.label) <= 40 and h.label.startswith("gpu-box-")
    assert parse_host("[::1]:2201,label=loop6").label == "loop6"
    two = parse_hosts(["[::1]:2201", "127.0.0.1:2202"])
    assert [x.type_name for x in two] == ["host:ipv6-1", "host:127.0.0.1"]
    assert plan(tmp_path, gpus="", hosts=["[::1]:2201"]).runs[0].target.name == "host:ipv6-1"


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("h1,label=a,label=b", "label= is given twice"),
        ("h1,price=1,price=2", "price= is given twice"),
        ("h1,key=/a,key=/b", "key= is given twice"),
        ("h1,label=", "label= is empty"),
        ("h1,key=", "key= is empty"),
        ("local,key=/tmp/id", "without SSH"),
        ("h1,label=-x", "starting with a letter"),
        ("h1,label=" + "x" * 41, "1-40"),
    ],
)
def test_host_options_once_and_meaningful(tmp_path: Path, spec: str, needle: str) -> None:
    from lambdabench.run.hosts import parse_host

    with pytest.raises(UsageError, match=needle):
        parse_host(spec)


def test_nodes_with_only_own_machines_is_refused(tmp_path: Path) -> None:
    for kw in ({"local": True}, {"hosts": ["ubuntu@10.0.0.5"]}):
        with pytest.raises(UsageError, match="--nodes 2 applies to Lambda types only"):
            plan(tmp_path, gpus="", nodes=2, **kw)
    assert plan(tmp_path, gpus="", nodes=1, local=True).runs


# ---- item 1: your own machines — keys, Include, Match, tokens; ssh -G is the reference ----------------


def _write_key(path: Path, passphrase: bytes | None = None) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    enc = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, enc)
    )
    path.chmod(0o600)
    return path


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _ssh_home(tmp_path: Path, config: str) -> Path:
    ssh = tmp_path / "u" / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    (ssh / "config").write_text(config)
    return ssh / "config"


@pytest.mark.parametrize("kind", ["missing", "folder", "passwd", "public", "passphrase"])
def test_unusable_keys_are_refused_at_plan_time(tmp_path: Path, kind: str) -> None:
    key = {
        "missing": lambda: tmp_path / "nonexistent",
        "folder": lambda: tmp_path,
        "passwd": lambda: Path("/etc/passwd"),
        "public": lambda: _text(tmp_path / "id.pub", "ssh-ed25519 AAAA x\n"),
        "passphrase": lambda: _write_key(tmp_path / "id_enc", b"secret"),
    }[kind]()
    needle = {
        "missing": "does not exist",
        "folder": "is a folder",
        "passwd": "not an Ed25519, ECDSA or RSA",
        "public": "not an Ed25519",
        "passphrase": "passphrase",
    }[kind]
    with pytest.raises(UsageError, match=needle):
        plan(tmp_path, gpus="", hosts=[f"ubuntu@10.0.0.5,key={key}"])
    # the same key named by ~/.ssh/config's IdentityFile
    cfg = _ssh_home(tmp_path, f"Host ws\n  HostName 10.0.0.5\n  IdentityFile {key}\n")
    with pytest.raises(UsageError, match=f"from ~/.ssh/config.*{needle}"):
        plan(tmp_path, gpus="", hosts=["ws"], ssh_config=cfg)
    good = _write_key(tmp_path / "id_ok")
    assert plan(tmp_path, gpus="", hosts=[f"ubuntu@10.0.0.5,key={good}"]).runs[0].target.host.key_path == good


def test_include_match_and_tokens_are_followed(tmp_path: Path) -> None:
    from lambdabench.run.hosts import parse_host

    cfg = _ssh_home(
        tmp_path,
        "Include conf.d/*.conf\n"
        "Host ws\n  HostName %h.local\n  User alice\n"
        "Match originalhost jumpy\n  HostName 10.0.0.6\n  ProxyJump bastion\n"
        "Match host 10.0.0.7\n  User carol\n"
        "Host *\n  Port 2200\n",
    )
    (cfg.parent / "conf.d").mkdir()
    (cfg.parent / "conf.d" / "lab.conf").write_text("Host inc\n  HostName 10.0.0.7\n  IdentityFile ~/.ssh/id_%h\n")
    ws = parse_host("ws", ssh_config=cfg)
    assert (ws.addr, ws.user, ws.port, ws.label) == ("ws.local", "alice", 2200, "ws")
    inc = parse_host("inc", ssh_config=cfg)
    assert (inc.addr, inc.user, inc.port) == ("10.0.0.7", "carol", 2200)
    assert inc.key_path == cfg.parent / "id_10.0.0.7" and inc.alias == "inc"
    with pytest.raises(UsageError, match="ProxyJump"):
        parse_host("jumpy", ssh_config=cfg)
    # a name nothing names is not an alias: the settings' user and port, as before
    plain = parse_host("10.0.0.9", ssh_config=cfg)
    assert (plain.addr, plain.user, plain.port, plain.alias) == ("10.0.0.9", None, None, None)


def test_a_cli_dry_run_says_the_real_cause(server: tuple[SimCloud, dict[str, str]], tmp_path: Path) -> None:
    core, env = server
    home = Path(os.environ["HOME"])  # the hermetic fixture's user home
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "config").write_text("Include ~/.ssh/more\n")
    (home / ".ssh" / "more").write_text("Match originalhost gpubox\n  HostName 10.0.0.5\n  ProxyJump bastion\n")
    for args, needle in [
        (["--host", "ubuntu@127.0.0.1:2222,key=/nonexistent"], "does not exist"),
        (["--host", "ubuntu@127.0.0.1:2222,key=/etc/passwd"], "not an Ed25519"),
        (["--host", "gpubox"], "ProxyJump"),
    ]:
        assert_one_line_error(run(["sweep", *args, "--dry-run"], {**env, "HOME": str(home)}), needle)
    assert not [r for r in core.requests() if r["path"].endswith("/launch")]


SSH = __import__("shutil").which("ssh")

CONFIGS = [
    "Host ws\n  HostName %h.local\n  User alice\n  Port 2201\n  IdentityFile /k/id_%h_%r_%p\nHost *\n  User nobody\n",
    "Host * !skip\n  Port 2202\nHost ws skip\n  HostName 10.1.1.1\n",
    "Match originalhost ws\n  HostName 10.2.2.2\nMatch host 10.2.2.2\n  User bob\n  ProxyJump j1\n",
    "Match !host ws,other\n  User nope\nHost ws\n  User second\n",
    "Host ws\n  Include {inc}\nHost other\n  Include {inc2}\n",
    "Match final host 10.3.3.3\n  User fin\nHost ws\n  HostName 10.3.3.3\n",
    "HostName=10.4.4.4\nPort=2204\n",
    'Host "ws"\n  HostName "10.5.5.5"\n  IdentityFile "/k/with space"\n',
    "Match user root\n  Port 2206\nHost ws\n  HostName 10.6.6.6\n",
]


@pytest.mark.skipif(SSH is None, reason="no ssh binary to compare with")
@pytest.mark.parametrize("text", CONFIGS)
def test_resolution_agrees_with_ssh_g(tmp_path: Path, text: str) -> None:
    """Our reading of a config equals `ssh -G`'s for hostname, user, port, IdentityFile, ProxyJump."""
    import getpass
    import pwd

    from lambdabench.remote import sshconfig

    inc, inc2 = tmp_path / "inc.conf", tmp_path / "inc2.conf"
    inc.write_text("HostName 10.7.7.7\nHost other2\n  User x\n")
    inc2.write_text("HostName 10.8.8.8\n")
    cfg = tmp_path / "config"
    cfg.write_text(text.format(inc=inc, inc2=inc2))
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)  # ssh expands ~ and %d from the passwd entry
    user = getpass.getuser()
    for name in ("ws", "other", "skip", "plain"):
        ours = sshconfig.resolve(name, cfg, home=home, local_user=user)
        ssh = sshconfig.ssh_g(name, cfg)
        assert ssh is not None
        assert ours.options.get("hostname", name) == ssh["hostname"][0], name
        assert ours.options.get("user", user) == ssh["user"][0], name
        assert ours.options.get("port", "22") == ssh["port"][0], name
        assert ours.options.get("proxyjump") == (ssh.get("proxyjump") or [None])[0], name
        if ours.identityfiles:
            raw = ours.identityfiles[0]
            ssh_raw = ssh["identityfile"][0]
            assert raw == ssh_raw or str(sshconfig.identity_path(raw, name, ours, home=home)) == ssh_raw, name


@pytest.mark.skipif(SSH is None, reason="no ssh binary to ask")
def test_match_exec_is_left_to_ssh(tmp_path: Path) -> None:
    from lambdabench.run.hosts import parse_host

    cfg = _ssh_home(tmp_path, "Match originalhost ws exec true\n  HostName 10.9.9.9\n  Port 2209\n")
    h = parse_host("ws", ssh_config=cfg)
    assert (h.addr, h.port) == ("10.9.9.9", 2209)


def test_a_config_port_that_is_no_number_is_one_line(tmp_path: Path) -> None:
    from lambdabench.run.hosts import parse_host

    cfg = _ssh_home(tmp_path, "Host ws\n  HostName 10.0.0.5\n  Port twenty\n")
    with pytest.raises(UsageError, match="not a number"):
        parse_host("ws", ssh_config=cfg)


def test_resume_resolves_an_alias_as_the_plan_did(server: tuple[SimCloud, dict[str, str]], tmp_path: Path) -> None:
    """`resume` read the plan's hosts without ~/.ssh/config: an alias became a host name to dial as it is."""
    from dataclasses import replace

    from lambdabench.config import Settings
    from lambdabench.lab import Lab
    from lambdabench.run.env import RunEnv

    user_home = tmp_path / "u"
    _ssh_home(tmp_path, "Host ws\n  HostName 127.0.0.1\n  Port 2299\n  User alice\n")
    seen: list[tuple[str, int | None, str | None]] = []
    env = {**server[1], "LAMBDABENCH_HOME": str(tmp_path / "home"), "HOME": str(user_home)}
    settings = Settings.load(env=env)  # resume's gc asks the (simulated) cloud
    run_env = RunEnv.from_settings(settings)
    # nothing listens on the alias's port: the end-of-run clean-up there gives up at once
    run_env = replace(run_env, timeouts=replace(run_env.timeouts, stop_connect=0.1, stop_grace=0.1))
    with Lab(settings, env=run_env) as lab:
        plan = lab.plan(SweepRequest("", "gpu-probe", hosts=["ws"]))
        runner = lab.runner(plan, phase=lambda rc: None, install_signal_handlers=False)
        runner.stop.set()  # interrupted before its run started: resume has it to do
        first = runner.run()
        assert first.cancelled or first.skipped, first

        def phase(rc: Any) -> None:
            node = rc.rank0
            seen.append((node.address, node.ssh_port, node.ssh_user))

        lab.resume(first.sweep_id, install_signal_handlers=False, phase=phase)
    assert seen == [("127.0.0.1", 2299, "alice")], seen


def test_cli_dry_run_catches_label_and_node_mistakes(server: tuple[SimCloud, dict[str, str]]) -> None:
    core, env = server
    ok = run(["sweep", "--host", "[::1]:2201", "--host", "u@gpu-box-" + "a" * 50 + ".example.com", "--dry-run"], env)
    assert ok.exit_code == 0, ok.stderr
    assert "host:ipv6-1" in ok.stdout and "host:gpu-box-aaaa" in ok.stdout
    for args, needle in [
        (["--host", "h1,label=a,label=b"], "label= is given twice"),
        (["--local", "--nodes", "2"], "--nodes 2 applies to Lambda types only"),
        (["--host", "local,key=/tmp/k"], "without SSH"),
    ]:
        assert_one_line_error(run(["sweep", *args, "--dry-run"], env), needle)
    assert not [r for r in core.requests() if r["path"].endswith("/launch")]
