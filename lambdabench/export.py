"""Export run artifacts to S3 or an S3-compatible store (Lambda's filesystem S3 adapter, MinIO).

Idempotent: each object carries the file's SHA-256 in ``x-amz-meta-sha256``; a file whose object
already has that digest is skipped, so a re-run after an interruption uploads only what is missing.
Credentials come from explicit arguments (the LAMBDABENCH_S3_* settings) or else boto3's usual
chain; they never reach a log line or an error message.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from lambdabench.errors import ConfigError, LambdabenchError, UsageError
from lambdabench.secrets import Secret, redact, register

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover

__all__ = [
    "DEFAULT_MULTIPART_THRESHOLD",
    "ExportError",
    "ExportResult",
    "S3Location",
    "export_to_s3",
    "parse_s3_uri",
]

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 64 * MiB
DEFAULT_MULTIPART_CHUNKSIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's smallest allowed part (all but the last)
SHA256_METADATA = "sha256"  # stored as the x-amz-meta-sha256 header

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (plus UUIDs,
# which is what Lambda's filesystem buckets are)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")

Progress = Callable[[str, int, int], None]
"""progress(relative_path, bytes_sent_so_far, file_size), called as each file is sent."""


class ExportError(LambdabenchError):
    """An upload to S3 failed."""


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix ("" or ending without a slash)."""

    bucket: str
    prefix: str

    def key_for(self, relative: str) -> str:
        """The object key of a file given relative to the export root."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass
class ExportResult:
    """What an export did: object keys uploaded and skipped, bytes sent."""

    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes: int = 0


def parse_s3_uri(uri: str) -> S3Location:
    """Split and check "s3://bucket[/prefix]"."""
    text = uri.strip()
    if not text.startswith("s3://"):
        raise UsageError(f"not an S3 URI: {text!r}", "write it as s3://bucket/prefix")
    rest = text[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise UsageError(
            f"bad S3 bucket name {bucket!r} in {text!r}",
            "bucket names are 3-63 lowercase letters, digits, dots and hyphens",
        )
    prefix = prefix.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise UsageError(f"bad S3 prefix {prefix!r} in {text!r}", "use s3://bucket/some/prefix")
    return S3Location(bucket, prefix)


def _relative_keys(local_root: Path, files: Sequence[Path]) -> list[tuple[Path, str]]:
    root = local_root.resolve()
    pairs: list[tuple[Path, str]] = []
    for file in files:
        if file.is_absolute():
            raise UsageError(f"export file {file} must be relative to {local_root}")
        path = (root / file).resolve()
        try:
            relative = path.relative_to(root)
        except ValueError:
            raise UsageError(f"export file {file} is outside {local_root}") from None
        if not path.is_file():
            raise UsageError(f"export file {file} does not exist under {local_root}")
        key = PurePosixPath(*relative.parts).as_posix()
        # S3 keys are UTF-8; a name that is not (the machine's own bytes) is uploaded under its bytes
        # escaped as \xNN, never a UnicodeEncodeError traceback
        pairs.append((path, os.fsencode(key).decode("utf-8", "backslashreplace")))
    return pairs


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe_endpoint(endpoint_url: str | None) -> str:
    """The endpoint for messages, without any user:password@ part."""
    if not endpoint_url:
        return "AWS S3"
    parts = urlsplit(endpoint_url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _reveal(value: str | Secret | None) -> str | None:
    if value is None:
        return None
    text = value.reveal() if isinstance(value, Secret) else value
    register(text)  # so redact() scrubs it from anything we print
    return text or None


def _client(
    *,
    endpoint_url: str | None,
    access_key_id: str | Secret | None,
    secret_access_key: str | Secret | None,
    session_token: str | Secret | None,
    region: str | None,
    max_attempts: int,
    connect_timeout: float,
    read_timeout: float,
) -> S3Client:
    import boto3
    from botocore.config import Config

    key_id, secret, token = (
        _reveal(access_key_id),
        _reveal(secret_access_key),
        _reveal(session_token),
    )
    if bool(key_id) != bool(secret):
        raise ConfigError(
            "S3 credentials are incomplete: need both an access key id and a secret access key",
            "set LAMBDABENCH_S3_ACCESS_KEY_ID and LAMBDABENCH_S3_SECRET_ACCESS_KEY",
        )
    session = boto3.session.Session(
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=region,
    )
    config = Config(
        # Lambda's filesystem S3 adapter rejects the newer default CRC checksums
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # custom endpoints (Lambda, MinIO, loopback) rarely resolve bucket subdomains
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    client: S3Client = session.client("s3", endpoint_url=endpoint_url or None, config=config)
    return client


def _translate(exc: BaseException, action: str, where: str) -> LambdabenchError:
    """One line, no secrets, a hint on what to do."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import (
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ConfigError(
            f"no S3 credentials for {where}",
            "set LAMBDABENCH_S3_ACCESS_KEY_ID and LAMBDABENCH_S3_SECRET_ACCESS_KEY "
            "(or configure the AWS credential chain)",
        )
    if isinstance(exc, BotoConnectionError):
        return ExportError(
            f"cannot reach {where} while trying to {action}",
            "check the endpoint URL and the network; re-running resumes where it stopped",
        )
    code = ""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
    elif isinstance(exc, S3UploadFailedError):
        match = re.search(r"\(([A-Za-z]+)\)", str(exc))
        code = match.group(1) if match else ""
    hints = {
        "NoSuchBucket": "create the bucket first or fix the s3:// URI",
        "AccessDenied": "the credentials may not write to this bucket/prefix",
        "InvalidAccessKeyId": "check LAMBDABENCH_S3_ACCESS_KEY_ID",
        "SignatureDoesNotMatch": "check LAMBDABENCH_S3_SECRET_ACCESS_KEY",
        "InvalidBucketName": "fix the bucket name in the s3:// URI",
    }
    label = code or type(exc).__name__
    return ExportError(
        redact(f"S3 refused to {action} at {where}: {label}"),
        hints.get(code, "re-run the export; objects already uploaded are skipped"),
    )


def _is_transient(exc: BaseException) -> bool:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, BotoConnectionError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return int(status) >= 500 or status == 429
    if isinstance(exc, S3UploadFailedError):
        return bool(re.search(r"\((InternalError|SlowDown|ServiceUnavailable|RequestTimeout)\)", str(exc)))
    return False


def _remote_sha256(client: S3Client, bucket: str, key: str) -> str | None:
    """The digest stored with an existing object; None if there is no object."""
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404 or exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise
    metadata: dict[str, str] = head.get("Metadata", {})
    return metadata.get(SHA256_METADATA)


def export_to_s3(
    local_root: Path,
    files: Sequence[Path],
    uri: str,
    *,
    endpoint_url: str | None = None,
    access_key_id: str | Secret | None = None,
    secret_access_key: str | Secret | None = None,
    session_token: str | Secret | None = None,
    region: str | None = None,
    progress: Progress | None = None,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
    multipart_chunksize: int = DEFAULT_MULTIPART_CHUNKSIZE,
    max_concurrency: int = 4,
    attempts: int = 3,
    max_attempts_per_request: int = 5,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    client: Any = None,
) -> ExportResult:
    """Upload files (relative to local_root) under uri; skip those already there with the same SHA-256.

    Transient failures are retried per request by botocore (standard mode) and per file here
    (``attempts`` times, backing off 1 s, 2 s, ...); a failed multipart upload is aborted by
    s3transfer, so a re-run starts that file afresh. ``client`` is a seam for tests.
    """
    location = parse_s3_uri(uri)
    if multipart_threshold < MIN_PART_SIZE or multipart_chunksize < MIN_PART_SIZE:
        raise UsageError(f"multipart threshold and chunk size must be at least {MIN_PART_SIZE // MiB} MiB")
    if endpoint_url and urlsplit(endpoint_url).password is not None:
        # botocore would log and echo the whole URL; don't repeat it here either
        raise UsageError(
            "the S3 endpoint URL contains a password",
            "pass credentials as LAMBDABENCH_S3_ACCESS_KEY_ID / LAMBDABENCH_S3_SECRET_ACCESS_KEY",
        )
    pairs = _relative_keys(local_root, files)
    where = f"{location} ({_safe_endpoint(endpoint_url)})"

    from boto3.s3.transfer import TransferConfig

    transfer = TransferConfig(
        multipart_threshold=multipart_threshold,
        multipart_chunksize=multipart_chunksize,
        max_concurrency=max_concurrency,
        use_threads=max_concurrency > 1,
    )
    s3 = client or _client(
        endpoint_url=endpoint_url,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        region=region,
        max_attempts=max_attempts_per_request,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    result = ExportResult()
    for path, relative in pairs:
        key = location.key_for(relative)
        digest = _sha256(path)
        size = path.stat().st_size
        for attempt in range(1, attempts + 1):
            try:
                if _remote_sha256(s3, location.bucket, key) == digest:
                    result.skipped.append(key)
                    log.info("skipped s3://%s/%s (same sha256)", location.bucket, key)
                    break
                _upload(s3, path, location.bucket, key, digest, size, relative, progress, transfer)
                result.uploaded.append(key)
                result.bytes += size
                log.info("uploaded s3://%s/%s (%d bytes)", location.bucket, key, size)
                break
            except LambdabenchError:
                raise
            except Exception as exc:
                if not _is_botocore_error(exc):
                    raise  # e.g. the progress callback aborting the export
                if attempt < attempts and _is_transient(exc):
                    log.warning(
                        "transient S3 error on %s (attempt %d/%d): %s",
                        key,
                        attempt,
                        attempts,
                        type(exc).__name__,
                    )
                    sleep(float(2 ** (attempt - 1)))
                    continue
                raise _translate(exc, f"upload {relative}", where) from exc
    return result


def _is_botocore_error(exc: BaseException) -> bool:
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, (BotoCoreError, ClientError, Boto3Error))


def _upload(
    s3: Any,
    path: Path,
    bucket: str,
    key: str,
    digest: str,
    size: int,
    relative: str,
    progress: Progress | None,
    transfer: Any,
) -> None:
    sent = 0
    lock = threading.Lock()  # s3transfer reports parts from its worker threads

    def on_bytes(amount: int) -> None:
        nonlocal sent
        with lock:
            sent = max(0, sent + amount)  # negative amounts mean a part is being re-sent
            so_far = min(sent, size)
        if progress is not None:
            progress(relative, so_far, size)

    s3.upload_file(
        str(path),
        bucket,
        key,
        ExtraArgs={"Metadata": {SHA256_METADATA: digest}},
        Callback=on_bytes,
        Config=transfer,
    )
    if progress is not None and size == 0:
        progress(relative, 0, 0)
