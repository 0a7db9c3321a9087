"""One error class per Lambda error-code family; built from any response, JSON or not."""

from __future__ import annotations

import json
import math

from lambdabench.errors import LambdabenchError
from lambdabench.names import DEFAULT_API_URL
from lambdabench.secrets import redact


class CloudError(LambdabenchError):
    """An error answered by (or on the way to) the Lambda Cloud API."""

    family = "unknown"
    default_hint = "Try again; if it persists, check https://status.lambda.ai or contact Lambda support."

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        suggestion: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        message = redact(message)
        suggestion = redact(suggestion) if suggestion else None
        super().__init__(message, hint or suggestion or self.default_hint)
        self.code = code
        self.status = status
        self.suggestion = suggestion
        self.retry_after = retry_after

    def one_line(self) -> str:
        where = f" [{self.code}]" if self.code else (f" [HTTP {self.status}]" if self.status else "")
        text = " ".join(self.message.split()) + where
        if self.hint:
            text += f" — {' '.join(self.hint.split())}"
        return text


class CapacityError(CloudError):
    family = "capacity"
    default_hint = "Try another region or GPU type, or wait and retry (`lambdabench types --available`)."


class QuotaError(CloudError):
    family = "quota"
    default_hint = "Terminate instances you no longer need or ask Lambda support to raise your quota."


class AuthError(CloudError):
    family = "auth"
    exit_code = 2
    default_hint = "Check LAMBDA_API_KEY (or ~/.lambda_cloud/lambda_keys); create a key at cloud.lambda.ai."


class AccountError(CloudError):
    family = "account"
    exit_code = 2
    default_hint = "Check your Lambda account status and billing address at cloud.lambda.ai."


class InvalidParametersError(CloudError):
    family = "invalid-parameters"
    exit_code = 2
    default_hint = "Check the names and values you passed."


class NotFoundError(CloudError):
    family = "not-found"
    default_hint = "Check the id or name (`lambdabench ls`)."


class ConflictError(CloudError):
    family = "conflict"
    default_hint = "The resource is in use or already exists; check its state and retry."


class RateLimitedError(CloudError):
    family = "rate-limited"
    default_hint = "Lambda's API rate limit was hit repeatedly; wait a minute and retry."


class ProviderError(CloudError):
    family = "provider"
    default_hint = "Lambda's API had a server-side problem; retry in a minute."


class UnknownCloudError(CloudError):
    family = "unknown"


class TransportError(CloudError):
    family = "transport"
    default_hint = "Check your network connection and LAMBDABENCH_API_URL."


class RedirectedError(CloudError):
    """The API base URL answered with a redirect (an old host): never retried, never followed."""

    family = "redirect"
    exit_code = 2
    default_hint = f"Set LAMBDABENCH_API_URL to the current API address ({DEFAULT_API_URL})."


class LaunchOutcomeUnknown(CloudError):
    """A launch was answered ambiguously (5xx, global/unknown, lost answer) and its name is not listed yet.

    Lambda's catch-all has been seen AFTER the action happened (SkyPilot PR #3410): the instance may
    exist. The reservation stays open and is reconciled by its unique name; the launch is never resent.
    """

    family = "launch-unknown"
    default_hint = "It may still appear under its name; the sweep's teardown and `lambdabench gc` look for it."

    def __init__(self, message: str, hint: str | None = None, *, name: str, cause: CloudError) -> None:
        super().__init__(message, hint, code=cause.code, status=cause.status)
        self.name = name
        self.cause = cause


_BY_CODE: dict[str, type[CloudError]] = {
    "instance-operations/launch/insufficient-capacity": CapacityError,
    "global/quota-exceeded": QuotaError,
    "global/invalid-api-key": AuthError,
    "global/forbidden": AuthError,
    "global/account-inactive": AccountError,
    "global/invalid-address": AccountError,
    "global/invalid-parameters": InvalidParametersError,
    "instance-operations/launch/file-system-in-wrong-region": InvalidParametersError,
    "global/object-does-not-exist": NotFoundError,
    "global/not-found": NotFoundError,
    "global/conflict": ConflictError,
    "global/duplicate": ConflictError,
    "filesystems/filesystem-in-use": ConflictError,
    "firewall-rulesets/firewall-ruleset-in-use": ConflictError,
    "global/internal-error": ProviderError,
    "global/unknown": UnknownCloudError,
}


def class_for(code: str | None, status: int) -> type[CloudError]:
    """Pick the error class from Lambda's code first, then the HTTP status."""
    if code:
        if code in _BY_CODE:
            return _BY_CODE[code]
        if code.startswith("provider/"):
            return ProviderError
    if status == 429:
        return RateLimitedError
    if status == 401:
        return AuthError
    if status == 403:
        return AccountError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status >= 500:
        return ProviderError
    if status == 400:
        return InvalidParametersError
    return UnknownCloudError


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP-date or junk: the policy's own lock-out applies
    return max(0.0, seconds) if math.isfinite(seconds) else None


def error_from_response(status: int, body: bytes, content_type: str = "", retry_after: str | None = None) -> CloudError:
    """Turn any non-200 answer — Lambda JSON, a Cloudflare text page, an HTML 502 — into a typed error."""
    code = message = suggestion = None
    payload: object = None
    if body:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = err.get("message") if isinstance(err.get("message"), str) else None
        suggestion = err.get("suggestion") if isinstance(err.get("suggestion"), str) else None
    cls = class_for(code, status)
    if message is None:
        kind = "an HTML page" if b"<html" in body[:2048].lower() else "a non-JSON body"
        if payload is not None:
            kind = "JSON without an error object"
        if status == 429:
            message = f"Lambda API rate limit hit (HTTP 429, {kind})"
        else:
            message = f"Lambda API answered HTTP {status} with {kind}"
    return cls(message, code=code, status=status, suggestion=suggestion, retry_after=_retry_after(retry_after))
