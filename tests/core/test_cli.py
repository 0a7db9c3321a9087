"""Every first command through the real entry point against the simulator's HTTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lambdabench.sim.api.core import SimCloud
from lambdabench.simulate import simulator
from tests.core.clihelp import assert_one_line_error, run

SCALE = 600.0


@pytest.fixture
def server() -> Iterator[tuple[SimCloud, dict[str, str]]]:
    with simulator(scale=SCALE, retry_budget=3) as sim:
        yield sim.core, sim.env


def live(core: SimCloud) -> list[dict[str, Any]]:
    return [b for b in core.billing() if b["status"] not in ("terminated", "terminating")]


def test_help_lists_commands() -> None:
    result = run(["--help"])
    assert result.exit_code == 0
    for cmd in ["types", "ls", "launch", "down", "keys", "config", "sim"]:
        assert cmd in result.output


def test_every_option_of_every_command_says_what_it_does() -> None:
    import click

    from lambdabench.cli import cli

    def bare(cmd: click.Command, path: str) -> list[str]:
        out = [f"{path} {p.opts[-1]}" for p in cmd.params if isinstance(p, click.Option) and not p.help]
        for name, sub in getattr(cmd, "commands", {}).items():
            out += bare(sub, f"{path} {name}")
        return out

    assert bare(cli, "lambdabench") == []


def test_bare_command_prints_usage_and_succeeds() -> None:
    result = run([])
    assert result.exit_code == 0 and result.stdout.startswith("Usage: lambdabench [OPTIONS]")
    assert "error" not in result.output and "sweep" in result.stdout


def test_version_and_shell_completion() -> None:
    import importlib.metadata
    import os
    import subprocess
    import sys

    assert run(["--version"]).stdout.strip() == f"lambdabench {importlib.metadata.version('lambdabench')}"
    for shell, needle in (
        ("bash", "complete -o nosort -F _lambdabench_completion lambdabench"),
        ("zsh", "#compdef lambdabench"),
        ("fish", "complete --no-files --command lambdabench"),
    ):
        result = run(["completion", shell])
        assert result.exit_code == 0 and needle in result.stdout and "_LAMBDABENCH_COMPLETE" in result.stdout
    assert_one_line_error(run(["completion", "tcsh"]), "'tcsh' is not one of 'bash', 'zsh', 'fish'")
    # what the shell asks at a <TAB> after `lambdabench swe`: the installed entry point answers
    env = {**os.environ, "COMP_WORDS": "lambdabench swe", "COMP_CWORD": "1", "_LAMBDABENCH_COMPLETE": "bash_complete"}
    out = subprocess.run(
        [sys.executable, "-c", "from lambdabench.cli import main; main()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "plain,sweep" in out.stdout.split()


def test_types_table_and_json(server: tuple[SimCloud, dict[str, str]]) -> None:
    core, env = server
    table = run(["types"], env)
    assert table.exit_code == 0, table.stderr
    assert "gpu_1x_a10" in table.stdout and "gpu_8x_h100_sxm5" in table.stdout
    data = json.loads(run(["types", "--json"], env).stdout)
    a10 = next(t for t in data if t["name"] == "gpu_1x_a10")
    assert a10["gpus"] == 1 and a10["price_cents_per_hour"] > 0 and a10["regions"]
    only = json.loads(run(["types", "--gpu", "8xh100", "--json"], env).stdout)
    assert [t["name"] for t in only] == ["gpu_8x_h100_sxm5"]
    for t in data:
        core.set_capacity(t["name"], t["regions"][0], 0) if t["regions"] else None
    avail = json.loads(run(["types", "--available", "--json"], env).stdout)
    assert all(t["regions"] for t in avail)


def test_launch_ls_down(server: tuple[SimCloud, dict[str, str]]) -> None:
    core, env = server
    res = run(["launch", "--gpu", "a10", "--name", "demo box", "--wait", "--json"], env)
    assert res.exit_code == 0, res.stderr
    launched = json.loads(res.stdout)
    assert launched["name"].startswith("lambdabench-demo-box-") and launched["status"] == "active" and launched["ip"]
    rows = json.loads(run(["ls", "--json"], env).stdout)
    row = next(r for r in rows if r["id"] == launched["id"])
    assert row["mine"] and row["cost_so_far"] is not None and row["age_s"] is not None
    out = run(["down", launched["name"]], env)
    assert out.exit_code == 0, out.stderr
    assert f"gone: {launched['name']}" in out.stdout
    assert live(core) == []


def test_down_all_mine_never_touches_others(server: tuple[SimCloud, dict[str, str]]) -> None:
    core, env = server
    import httpx

    key = env["LAMBDA_API_KEY"]
    api = httpx.Client(base_url=env["LAMBDABENCH_API_URL"], headers={"Authorization": f"Bearer {key}"})
    api.post(
        "/ssh-keys",
        json={
            "name": "hand",
            "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7yOBv3+dxcbT8m5n3ZcdmSjAmvaRnBaCcNyq6i7p0M x",
        },
    )
    region = next(t for t in json.loads(run(["types", "--json"], env).stdout) if t["name"] == "gpu_1x_a10")["regions"][
        0
    ]
    import time

    time.sleep(12.6 / SCALE * 2)
    hand = api.post(
        "/instance-operations/launch",
        json={
            "region_name": region,
            "instance_type_name": "gpu_1x_a10",
            "ssh_key_names": ["hand"],
            "name": "my-own-box",
        },
    )
    assert hand.status_code == 200, hand.text
    mine = json.loads(run(["launch", "--gpu", "a10", "--json"], env).stdout)
    out = run(["down", "--all-mine"], env)
    assert out.exit_code == 0, out.stderr
    still = {b["name"] for b in live(core)}
    assert still == {"my-own-box"} and mine["name"] not in still


def test_keys_and_config_show_redacts(server: tuple[SimCloud, dict[str, str]]) -> None:
    _, env = server
    out = run(["keys", "--json"], env)
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["fingerprint"].startswith("SHA256:")
    env2 = {**env, "NGC_API_KEY": "nvapi-sentinel-ngc-000111"}
    shown = run(["config", "show"], env2)
    assert shown.exit_code == 0
    assert env["LAMBDA_API_KEY"] not in shown.output and "nvapi-sentinel-ngc-000111" not in shown.output
    assert "LAMBDA_API_KEY" in shown.stdout and "***" in shown.stdout


# -- bad input: one line, non-zero, nothing launched ------------------------------------------------


def test_missing_key(tmp_path: Any) -> None:
    assert_one_line_error(run(["types"], {}), "no lambda api key", "LAMBDA_API_KEY")


def test_unknown_gpu_lists_choices(server: tuple[SimCloud, dict[str, str]]) -> None:
    core, env = server
    err = assert_one_line_error(run(["launch", "--gpu", "v100"], env), "unknown gpu", "a10")
    assert "8xh100" in err
    assert core.billing() == []


def test_bad_api_key_401(server: tuple[SimCloud, dict[str, str]]) -> None:
    core, env = server
    err = assert_one_line_error(
        run(["launch", "--gpu", "a10"], {**env, "LAMBDA_API_KEY": "not-the-key-42"}), "invalid-api-key"
    )
    assert "not-the-key-42" not in err
    assert core.billing() == []


def test_unknown_region_400(server: tuple[SimCloud, dict[str, str]]) -> None:
    core, env = server
    assert_one_line_error(run(["launch", "--gpu", "a10", "--region", "mars-north-1"], env), "region")
    assert core.billing() == []


def test_api_400_from_lambda_is_one_line(server: tuple[SimCloud, dict[str, str]]) -> None:
    core, env = server
    # a real 400 from the API: down on an id Lambda does not know
    assert_one_line_error(run(["down", "0" * 32], env), "no instance")
    assert core.billing() == []


def test_429_storm_outlasting_the_budget() -> None:
    storm = {"faults": [{"endpoint": "any", "kind": "http_429", "count": "forever"}]}
    with simulator(storm, scale=SCALE, retry_budget=0.5) as sim:
        assert_one_line_error(run(["launch", "--gpu", "a10"], sim.env), "rate limit")
        assert sim.core.billing() == []


def test_bad_setting_and_usage_errors(server: tuple[SimCloud, dict[str, str]]) -> None:
    _, env = server
    assert_one_line_error(run(["types"], {**env, "LAMBDABENCH_SSH_PORT": "twenty-two"}), "LAMBDABENCH_SSH_PORT")
    assert_one_line_error(run(["launch"], env), "--gpu")
    assert_one_line_error(run(["nosuchcommand"], env), "nosuchcommand")
    assert_one_line_error(run(["down"], env), "nothing to terminate")


def test_traceback_only_when_asked(server: tuple[SimCloud, dict[str, str]]) -> None:
    _, env = server
    with pytest.raises(Exception):  # noqa: B017 - any exception type: the point is that it propagates
        run(["launch", "--gpu", "v100"], {**env, "LAMBDABENCH_TRACEBACK": "1"})


def test_dry_run_shows_nodes_gpus_and_what_will_run(server: tuple[SimCloud, dict[str, str]]) -> None:
    core, env = server
    out = run(
        ["sweep", "--gpus", "8xh100", "--nodes", "2", "--playbook", "torchrun", "--set", "script=t.py", "--dry-run"],
        env,
    )
    assert out.exit_code == 0, out.stderr
    header, row = out.stdout.splitlines()[:2]
    assert "NODES" in header and "GPUS" in header
    cells = row.split()
    assert cells[cells.index("gpu_8x_h100_sxm5") + 1 : cells.index("gpu_8x_h100_sxm5") + 3] == ["2", "16"]
    assert "benchmark: playbook torchrun" in out.stdout and "boot, set-up, benchmark and pull all count" in out.stdout
    assert not [r for r in core.requests() if r["path"].endswith("/launch")]


def test_each_refusal_says_what_to_do_about_its_own_reason(server: tuple[SimCloud, dict[str, str]]) -> None:
    _, env = server
    # the key is present, so the refusal under test is the GPU's (a missing secret is refused first, before the network)
    env = {**env, "NGC_API_KEY": "nvapi-test-key-not-a-secret"}
    rtx = run(["sweep", "--gpus", "a100", "--playbook", "isaaclab-train", "--set", "video=true", "--dry-run"], env)
    assert "RT cores" in assert_one_line_error(rtx) and "Pick an RTX type" in rtx.stderr
    sb3 = run(["sweep", "--gpus", "8xh100", "--playbook", "isaaclab-train", "--set", "library=sb3", "--dry-run"], env)
    line = assert_one_line_error(sb3)
    assert "sb3" in line and "RTX" not in line, line  # its hint is about GPUs, not RT cores


def test_launch_image_pinned_sent_and_recorded(server: tuple[SimCloud, dict[str, str]]) -> None:
    """--image FAMILY goes in the launch body as the spec's ImageSpecificationFamily ({"family": ...}), checked
    against GET /images first; an unknown one is one line and launches nothing."""
    core, env = server
    bad = run(["launch", "--gpu", "a10", "--image", "ubuntu-18-04", "-y"], env)
    assert_one_line_error(bad, "image family 'ubuntu-18-04'", "not offered")
    assert not [r for r in core.requests() if r["path"].endswith("/instance-operations/launch")]
    assert_one_line_error(run(["launch", "--gpu", "a10", "--image", "Bad Name", "-y"], env), "not an image family")
    res = run(["launch", "--gpu", "a10", "--image", "lambda-stack-22-04", "-y", "--json"], env)
    assert res.exit_code == 0, res.stderr
    sent = [r for r in core.requests() if r["path"].endswith("/instance-operations/launch")]
    assert [r["body"]["image"] for r in sent] == [{"family": "lambda-stack-22-04"}]
    assert run(["down", json.loads(res.stdout)["name"]], env).exit_code == 0
    assert live(core) == []


def test_sweep_plan_shows_the_image(server: tuple[SimCloud, dict[str, str]]) -> None:
    _, env = server
    default = run(["sweep", "--gpus", "a10", "--dry-run"], env)
    assert default.exit_code == 0, default.stderr
    assert "image: lambda-stack-22-04 (playbook mjx-locomotion)" in default.stdout  # the shipped pin
    unpinned = run(["sweep", "--gpus", "a10", "--playbook", "gpu-probe", "--dry-run"], env)
    assert "image: Lambda's default (the latest Lambda Stack)" in unpinned.stdout
    pinned = run(["sweep", "--gpus", "a10", "--image", "lambda-stack-24-04", "--dry-run"], env)
    assert pinned.exit_code == 0, pinned.stderr
    assert "image: lambda-stack-24-04 (--image)" in pinned.stdout
    assert_one_line_error(run(["sweep", "--gpus", "a10", "--image", "nope-1", "--dry-run"], env), "not offered")


def test_a_sweep_id_the_ledger_lacks_is_bad_input_everywhere(
    server: tuple[SimCloud, dict[str, str]], hermetic_env: Any
) -> None:
    from lambdabench.ledger import Ledger

    _, env = server
    ledger = Ledger(hermetic_env)
    ledger.finish_sweep(ledger.create_sweep("probe", simulated=True, plan={"runs": []}))
    before = sorted(p.name for p in hermetic_env.iterdir())
    for args in (
        ["report", "99"],
        ["report", "99", "--format", "json"],
        ["status", "99"],
        ["export", "99", "out-bundle"],
        ["export", "99", "s3://bucket/prefix"],
        ["resume", "99"],
    ):
        result = run(args, env)
        assert result.exit_code == 2, (args, result.output)  # like every other usage error
        assert_one_line_error(result, "no sweep 99 in the ledger")
    assert not (hermetic_env.parent / "out-bundle").exists()
    assert sorted(p.name for p in hermetic_env.iterdir()) == before  # nothing written for it
