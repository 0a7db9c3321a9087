"""S3 export against moto's S3 served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdabench.errors import ConfigError, LambdabenchError, UsageError
from lambdabench.export import ExportError, export_to_s3, parse_s3_uri
from lambdabench.secrets import Secret

MiB = 1024 * 1024
KEY_ID = "AKIALAMBDABENCHTEST"
SECRET = "s3cr3t-Vx9QmL2pZr8TfW4yN7bK1cJ5"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port for this module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket per test (the server lives for the whole module)."""
    name = "lb-" + hashlib.sha1(request.node.name.encode()).hexdigest()[:20]
    _client(s3_endpoint).create_bucket(Bucket=name)
    return name


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def _export(endpoint: str, root: Path, files: list[Path], uri: str, **kw: Any) -> Any:
    return export_to_s3(
        root,
        files,
        uri,
        endpoint_url=endpoint,
        access_key_id=KEY_ID,
        secret_access_key=Secret(SECRET),
        region="us-east-1",
        **kw,
    )


def _artifacts(root: Path) -> list[Path]:
    (root / "logs" / "rsl_rl").mkdir(parents=True)
    (root / "logs" / "rsl_rl" / "events.out.tfevents.1.host").write_bytes(os.urandom(3000))
    (root / "gpu.csv").write_text("timestamp, index\n")
    (root / "empty.txt").write_bytes(b"")
    return [Path("logs/rsl_rl/events.out.tfevents.1.host"), Path("gpu.csv"), Path("empty.txt")]


def test_upload_then_rerun_uploads_nothing(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    files = _artifacts(tmp_path)
    seen: list[tuple[str, int, int]] = []
    first = _export(s3_endpoint, tmp_path, files, f"s3://{bucket}/runs/r1/", progress=lambda *a: seen.append(a))
    assert sorted(first.uploaded) == sorted(f"runs/r1/{f.as_posix()}" for f in files)
    assert first.skipped == [] and first.bytes == 3000 + 17
    assert ("gpu.csv", 17, 17) in seen
    head = _client(s3_endpoint).head_object(Bucket=bucket, Key="runs/r1/gpu.csv")
    assert head["Metadata"]["sha256"] == hashlib.sha256(b"timestamp, index\n").hexdigest()

    second = _export(s3_endpoint, tmp_path, files, f"s3://{bucket}/runs/r1")
    assert second.uploaded == [] and second.bytes == 0
    assert sorted(second.skipped) == sorted(first.uploaded)

    (tmp_path / "gpu.csv").write_text("changed\n")
    third = _export(s3_endpoint, tmp_path, files, f"s3://{bucket}/runs/r1")
    assert third.uploaded == ["runs/r1/gpu.csv"] and len(third.skipped) == 2


def test_multipart_upload_and_interrupted_upload_completes_on_retry(
    s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    big = tmp_path / "checkpoint.pt"
    big.write_bytes(os.urandom(11 * MiB))
    small_parts = {"multipart_threshold": 5 * MiB, "multipart_chunksize": 5 * MiB}

    class Abort(Exception):
        pass

    def abort_midway(path: str, sent: int, total: int) -> None:
        if sent >= 5 * MiB:
            raise Abort("operator pressed Ctrl-C")

    with pytest.raises(Abort):
        _export(
            s3_endpoint,
            tmp_path,
            [Path("checkpoint.pt")],
            f"s3://{bucket}/x",
            progress=abort_midway,
            max_concurrency=1,
            **small_parts,
        )
    client = _client(s3_endpoint)
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    retry = _export(s3_endpoint, tmp_path, [Path("checkpoint.pt")], f"s3://{bucket}/x", **small_parts)
    assert retry.uploaded == ["x/checkpoint.pt"] and retry.bytes == 11 * MiB
    head = client.head_object(Bucket=bucket, Key="x/checkpoint.pt")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 1 MiB
    body = client.get_object(Bucket=bucket, Key="x/checkpoint.pt")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()

    again = _export(s3_endpoint, tmp_path, [Path("checkpoint.pt")], f"s3://{bucket}/x", **small_parts)
    assert again.uploaded == [] and again.skipped == ["x/checkpoint.pt"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://bucket/x",
        "s3://",
        "s3://UPPER/x",
        "s3://ab",
        "s3://bucket/a//b",
        "s3://b..c/x",
        "s3://bucket/../x",
    ],
)
def test_bad_uris_are_one_line_usage_errors(uri: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_s3_uri(uri)
    assert "\n" not in info.value.one_line()


def test_uri_parts() -> None:
    location = parse_s3_uri("s3://0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/runs/sweep-1/")
    assert location.bucket == "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
    assert location.key_for("a/b.json") == "runs/sweep-1/a/b.json"
    assert parse_s3_uri("s3://bucket").key_for("f") == "f"


def test_files_must_stay_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "outside.txt").write_text("x")
    with pytest.raises(UsageError, match="outside"):
        export_to_s3(tmp_path / "root", [Path("../outside.txt")], "s3://bucket/p")
    with pytest.raises(UsageError, match="does not exist"):
        export_to_s3(tmp_path / "root", [Path("missing.txt")], "s3://bucket/p")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_secret_never_in_logs_or_errors(s3_endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = _artifacts(tmp_path)
    caplog.set_level(logging.DEBUG)  # botocore's own debug logging included
    errors: list[LambdabenchError] = []
    with pytest.raises(ExportError) as missing_bucket:
        _export(s3_endpoint, tmp_path, files, "s3://no-such-bucket-here/p")
    errors.append(missing_bucket.value)
    assert "NoSuchBucket" in missing_bucket.value.one_line()

    sleeps: list[float] = []
    dead = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ExportError) as unreachable:
        _export(
            dead,
            tmp_path,
            files,
            "s3://bucket/p",
            sleep=sleeps.append,
            max_attempts_per_request=1,
            connect_timeout=1,
        )
    errors.append(unreachable.value)
    assert "cannot reach" in unreachable.value.one_line()
    assert sleeps == [1.0, 2.0]  # connection errors are retried per file

    with pytest.raises(UsageError) as userinfo:
        _export(f"http://user:{SECRET}@127.0.0.1:1", tmp_path, files, "s3://bucket/p")
    errors.append(userinfo.value)

    for error in errors:
        rendered = "".join(traceback.format_exception(error)) + error.one_line() + repr(error)
        assert SECRET not in rendered
        assert "\n" not in error.one_line()
    assert "DEBUG" in {r.levelname for r in caplog.records}  # botocore did log
    assert SECRET not in caplog.text


def test_half_given_credentials_and_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _artifacts(tmp_path)
    with pytest.raises(ConfigError, match="incomplete"):
        export_to_s3(tmp_path, files, "s3://bucket/p", access_key_id=KEY_ID)
    # nothing in the AWS chain (the hermetic fixture cleared env and HOME); no instance metadata
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="no S3 credentials"):
        export_to_s3(tmp_path, files, "s3://bucket/p", endpoint_url=f"http://127.0.0.1:{_free_port()}")


def test_a_file_name_that_is_not_utf8_is_one_line(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    """Issue 23 item 18: a pulled file whose name is not UTF-8 (the machine's, not ours): one clear line or a
    clean upload, never a traceback (UnicodeEncodeError from the S3 key)."""
    from lambdabench.errors import LambdabenchError

    files = _artifacts(tmp_path)
    odd = Path(os.fsdecode(b"caf\xe9.txt"))
    (tmp_path / odd).write_bytes(b"latin-1 name")
    try:
        out = _export(s3_endpoint, tmp_path, [*files, odd], f"s3://{bucket}/runs/r1/")
    except LambdabenchError as exc:
        assert "\n" not in exc.one_line() and "UTF-8" in exc.one_line()
    else:
        assert any(k.startswith("runs/r1/caf") for k in out.uploaded)
