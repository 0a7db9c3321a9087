"""Errors from any response body, and lenient models."""

from __future__ import annotations

import json

import pytest

from lambdabench.cloud import errors as E
from lambdabench.cloud.models import Instance, InstanceType, parse_type_name


def body(code: str, message: str = "m", suggestion: str | None = None) -> bytes:
    err = {"code": code, "message": message}
    if suggestion:
        err["suggestion"] = suggestion
    return json.dumps({"error": err}).encode()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "instance-operations/launch/insufficient-capacity", E.CapacityError),
        (400, "global/quota-exceeded", E.QuotaError),
        (401, "global/invalid-api-key", E.AuthError),
        (403, "global/account-inactive", E.AccountError),
        (403, "global/invalid-address", E.AccountError),
        (400, "global/invalid-parameters", E.InvalidParametersError),
        (404, "global/object-does-not-exist", E.NotFoundError),
        (409, "global/conflict", E.ConflictError),
        (400, "global/duplicate", E.ConflictError),
        (500, "global/internal-error", E.ProviderError),
        (503, "provider/some-upstream-thing", E.ProviderError),
        (400, "global/unknown", E.UnknownCloudError),
        (418, "brand/new-code", E.UnknownCloudError),
    ],
)
def test_code_families(status: int, code: str, cls: type) -> None:
    err = E.error_from_response(status, body(code, "msg", "do this"))
    assert type(err) is cls
    assert err.code == code and err.status == status
    assert err.hint == "do this"
    assert "\n" not in err.one_line() and code in err.one_line()


def test_cloudflare_429_page_is_typed() -> None:
    page = b"<!DOCTYPE html><html><head><title>Rate limited</title></head><body>error code: 1015</body></html>"
    err = E.error_from_response(429, page, "text/html", retry_after="7")
    assert isinstance(err, E.RateLimitedError)
    assert err.retry_after == 7.0
    assert "HTML" in err.message


@pytest.mark.parametrize("raw", [b"", b"Bad Gateway", b"<html>502</html>", b'{"error": 5}', b'{"err', b"\xff\xfe"])
def test_garbage_bodies_never_crash(raw: bytes) -> None:
    err = E.error_from_response(502, raw)
    assert isinstance(err, E.ProviderError)
    assert err.one_line()


def test_instance_is_lenient() -> None:
    inst = Instance.from_api(
        {
            "id": "a" * 32,
            "status": "booting",
            "brand_new_field": {"x": 1},
            "region": {"name": "us-east-1"},
            "instance_type": {"name": "gpu_1x_a10", "price_cents_per_hour": "129"},
            "tags": [{"key": "k", "value": "v"}, 7],
        }
    )
    assert inst.ip is None and inst.private_ip is None and inst.hostname is None
    assert inst.extra == {"brand_new_field": {"x": 1}}
    assert inst.price_cents_per_hour == 129
    assert inst.tag("k") == "v"


def test_instance_without_id_is_a_provider_error() -> None:
    with pytest.raises(E.ProviderError):
        Instance.from_api({"status": "active"})
    with pytest.raises(E.ProviderError):
        Instance.from_api(["not", "an", "object"])


def test_type_name_parsing() -> None:
    p = parse_type_name("gpu_8x_a100_80gb_sxm4")
    assert p and (p.kind, p.count, p.model, p.variant) == ("gpu", 8, "a100", "80gb_sxm4")
    assert parse_type_name("cpu_4x_general") and parse_type_name("weird") is None
    t = InstanceType.from_api({"name": "gpu_8x_h100_sxm5", "specs": {"vcpus": "x"}})
    assert t.gpus == 8 and t.vcpus == 0
