"""A whole sweep with sentinel API and NGC keys: the sentinels appear nowhere we (or the instances) write or show."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdabench.simulate import Sim, needs_sshd
from tests.reliability.conftest import assert_cli_one_error, cli, record, simulator

pytestmark = needs_sshd

API_SENTINEL = "lbsentinel-API-" + secrets.token_hex(12)
NGC_SENTINEL = "lbsentinel-NGC-" + secrets.token_hex(12)
BAD_SENTINEL = "lbsentinel-BAD-" + secrets.token_hex(12)
CONTROL = "lbcontrol-" + secrets.token_hex(8)  # put in argv on purpose: proves the sampler sees argv
SENTINELS = (API_SENTINEL, NGC_SENTINEL, BAD_SENTINEL)
FORMATS = ("table", "json", "csv", "md", "html")


class CmdlineSampler:
    """Reads every process's /proc/<pid>/cmdline every 20 ms and keeps whatever carries a sentinel."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.samples = 0
        self.hits: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cmdline-sampler", daemon=True)

    def _loop(self) -> None:
        needles = [s.encode() for s in (*SENTINELS, CONTROL)]
        while not self._stop.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                        raw = fh.read()
                except OSError:
                    continue
                if any(n in raw for n in needles):
                    self.hits.append(raw.replace(b"\0", b" ").decode(errors="replace"))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> CmdlineSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def leaks(data: bytes | str) -> list[str]:
    raw = data.encode(errors="replace") if isinstance(data, str) else data
    return [s[:20] + "…" for s in SENTINELS if s.encode() in raw]


def scan_tree(root: Path) -> dict[str, list[str]]:
    """Every file under root whose bytes hold a sentinel (sqlite -wal/-shm included)."""
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                hit = leaks(path.read_bytes())
            except OSError:
                continue
            if hit:
                found[str(path)] = hit
    return found


@pytest.fixture(scope="module")
def sentinel_sim() -> Iterator[Sim]:
    scenario = {"api_key": API_SENTINEL, "ngc_api_key": NGC_SENTINEL}
    with simulator(scenario, scale=300.0) as sim:
        assert sim.env["LAMBDA_API_KEY"] == API_SENTINEL and sim.env["NGC_API_KEY"] == NGC_SENTINEL
        yield sim


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def test_sentinel_keys_appear_nowhere(sentinel_sim: Sim, s3_endpoint: str, tmp_path: Path) -> None:
    sim = sentinel_sim
    home = tmp_path / "home"
    env = sim.client_env(
        home,
        NGC_API_KEY=NGC_SENTINEL,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        LAMBDABENCH_S3_REGION="us-east-1",
        LAMBDABENCH_S3_ENDPOINT_URL=s3_endpoint,
    )
    s3_client(s3_endpoint).create_bucket(Bucket="lb-secrets")
    outputs: dict[str, str] = {}
    with CmdlineSampler() as sampler:
        # the Isaac Lab playbooks: setup logs in to nvcr.io with the NGC key (on stdin), train, collect, pull
        sweep = cli(
            [
                "sweep",
                "--gpus",
                "a10,a100,h100",
                "--playbook",
                "isaaclab-train",
                "--set",
                "library=rsl_rl",
                "--set",
                "max_iterations=3",
                "--set",
                "num_envs=16",
                "--format",
                "json",
                "--export",
                "s3://lb-secrets/run1",
            ],
            env,
        )
        assert sweep.returncode == 0, sweep.stderr
        outputs["sweep stdout"], outputs["sweep stderr"] = sweep.stdout, sweep.stderr
        for fmt in FORMATS:
            rep = cli(["report", "--format", fmt], env)
            assert rep.returncode == 0, rep.stderr
            outputs[f"report {fmt}"] = rep.stdout + rep.stderr
            out_file = tmp_path / f"report.{fmt}"
            rep = cli(["report", "--format", fmt, "-o", str(out_file)], env)
            outputs[f"report -o {fmt}"] = out_file.read_text() + rep.stderr
        for args in (["config", "show"], ["config", "show", "--json"], ["ls", "--json"], ["keys"], ["gc"]):
            out = cli(args, env)
            assert out.returncode == 0, (args, out.stderr)
            outputs[" ".join(args)] = out.stdout + out.stderr
        # exception messages: a wrong key the API refuses, and an API that cannot be reached
        bad = cli(["types"], {**env, "LAMBDA_API_KEY": BAD_SENTINEL})
        outputs["bad key"] = assert_cli_one_error(bad) + bad.stdout + bad.stderr
        gone = cli(
            ["types"], {**env, "LAMBDABENCH_API_URL": "http://127.0.0.1:9/api/v1", "LAMBDABENCH_RETRY_BUDGET": "0.5"}
        )
        outputs["unreachable"] = assert_cli_one_error(gone) + gone.stdout + gone.stderr
        control = subprocess.Popen(["sh", "-c", f"sleep 0.3; : {CONTROL}"])
        control.wait()
        time.sleep(0.1)
    assert sampler.samples > 20, sampler.samples
    assert [h for h in sampler.hits if CONTROL in h], "the sampler missed a process carrying the control value"
    assert [h for h in sampler.hits if CONTROL not in h] == []
    record("secrets:proc-cmdline-samples", sampler.samples)

    for what, text in outputs.items():
        assert leaks(text) == [], what
        record(f"secrets:{what}")
    assert scan_tree(home) == {}
    record("secrets:home-files", sum(1 for p in home.rglob("*") if p.is_file()))
    db_files = [p.name for p in home.glob("ledger*")]
    assert any(n.endswith(".db") or n == "ledger" for n in db_files) or db_files, db_files

    # exported objects
    s3 = s3_client(s3_endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lb-secrets").get("Contents", [])]
    assert keys, "the export uploaded nothing"
    for key in keys:
        body = s3.get_object(Bucket="lb-secrets", Key=key)["Body"].read()
        assert leaks(body) == [], key
        record("secrets:exported-object")

    # the simulator's records: request log (memory and over HTTP), its state files, the hosts' argv/session logs
    assert leaks(json.dumps(sim.core.requests())) == []
    req = urllib.request.Request(
        sim.env["LAMBDABENCH_API_URL"] + "/_sim/requests", headers={"Authorization": f"Bearer {API_SENTINEL}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert leaks(resp.read()) == []
    state_root = Path(sim.hosts.state_dir).parent
    found = scan_tree(state_root)
    # the one file allowed to hold a key is none: ngc.json keeps a salted hash, the env file is not written here
    assert found == {}, found
    argv_logs = list(Path(sim.hosts.hosts_dir).glob("*/argv.log")) + list(
        Path(sim.hosts.hosts_dir).glob("*/sessions.log")
    )
    assert argv_logs, "the hosts recorded no argv/session logs"
    logins = [
        line
        for p in Path(sim.hosts.hosts_dir).glob("*/argv.log")
        for line in p.read_text().splitlines()
        if "login" in line and "nvcr.io" in line
    ]
    assert logins and all("--password-stdin" in line for line in logins), "docker login did not take the key on stdin"
    record("secrets:sim-files", sum(1 for p in state_root.rglob("*") if p.is_file()))


def test_hostile_server_echoing_the_key_is_redacted() -> None:
    """A server (or proxy) that echoes the Authorization header in errors never gets it shown."""
    import httpx

    from lambdabench.cloud.client import LambdaCloud, RetryPolicy
    from lambdabench.cloud.pacing import Pacer
    from lambdabench.errors import LambdabenchError

    def echo(request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        if request.url.path.endswith("/instance-types"):
            return httpx.Response(
                401,
                json={
                    "error": {
                        "code": "global/invalid-api-key",
                        "message": f"bad key {auth}",
                        "suggestion": f"check {auth}",
                    }
                },
            )
        if request.url.path.endswith("/regions"):
            return httpx.Response(502, text=f"<html>upstream said {auth}</html>", headers={"content-type": "text/html"})
        raise httpx.ConnectError(f"refused while sending {auth}")

    for path_call in ("types", "regions", "instances"):
        cloud = LambdaCloud(
            API_SENTINEL,
            "http://127.0.0.1:1/api/v1",
            transport=httpx.MockTransport(echo),
            pacer=Pacer(0, 0),
            retry=RetryPolicy(attempts=2, budget_s=0.2, base_s=0.01, max_backoff_s=0.01),
            sleep=lambda s: None,
        )
        with pytest.raises(LambdabenchError) as info:
            {"types": cloud.list_instance_types, "regions": cloud.list_regions, "instances": cloud.list_instances}[
                path_call
            ]()
        shown = info.value.one_line() + str(info.value) + repr(info.value.args)
        assert leaks(shown) == [], (path_call, shown)
        record(f"secrets:echoed-{path_call}")
