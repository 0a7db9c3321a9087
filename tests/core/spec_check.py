"""Validate what the client sends and receives against Lambda's OpenAPI document (../shared)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class SpecChecker:
    """Looks up the operation for (method, path) and validates bodies with JSON Schema 2020-12."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.spec = spec
        self._registry = Registry().with_resource(
            "urn:lambda", Resource.from_contents(spec, default_specification=DRAFT202012)
        )
        self._validator_cls = Draft202012Validator
        self._routes: list[tuple[re.Pattern[str], str]] = []
        for path in spec["paths"]:
            rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"
            self._routes.append((re.compile(rx), path))
        # concrete paths before templated ones (e.g. /firewall-rulesets/global before /{id})
        self._routes.sort(key=lambda r: r[1].count("{"))
        self.checked_requests = 0
        self.checked_responses = 0

    def operation(self, method: str, url_path: str) -> str:
        for rx, path in self._routes:
            if rx.match(url_path) and method.lower() in self.spec["paths"][path]:
                return path
        raise AssertionError(f"{method} {url_path} is not an operation in Lambda's spec")

    def _validate(self, pointer: str, instance: Any) -> None:
        validator = self._validator_cls({"$ref": f"urn:lambda#/{pointer}"}, registry=self._registry)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            raise AssertionError(f"{pointer}: {errors[0].message} at {list(errors[0].path)}")

    def check_request(self, request: httpx.Request) -> None:
        path = self.operation(request.method, request.url.path)
        op = self.spec["paths"][path][request.method.lower()]
        if request.content:
            body = json.loads(request.content)
            schema_at = _pointer(
                "paths", path, request.method.lower(), "requestBody", "content", "application/json", "schema"
            )
            assert "requestBody" in op, f"{request.method} {path} takes no body"
            self._validate(schema_at, body)
            self.checked_requests += 1

    def check_response(self, request: httpx.Request, response: httpx.Response) -> None:
        path = self.operation(request.method, request.url.path)
        op = self.spec["paths"][path][request.method.lower()]
        status = str(response.status_code)
        ctype = response.headers.get("content-type", "")
        if response.status_code == 429 or "json" not in ctype:
            return  # the edge's rate-limit page is not JSON, like the real service
        if status not in op["responses"] and response.status_code >= 500:
            # the spec does not list every 5xx (global/unknown, gateways); the envelope must still hold
            err = response.json().get("error")
            assert isinstance(err, dict) and isinstance(err.get("code"), str) and isinstance(err.get("message"), str)
            self.checked_responses += 1
            return
        assert status in op["responses"], f"{request.method} {path} answered {status}, not in the spec"
        content = op["responses"][status].get("content", {}).get("application/json")
        if content is None:
            return
        self._validate(
            _pointer(
                "paths", path, request.method.lower(), "responses", status, "content", "application/json", "schema"
            ),
            response.json(),
        )
        self.checked_responses += 1


class CheckingTransport(httpx.BaseTransport):
    """Wraps a transport; every request body and JSON response is checked against the spec."""

    def __init__(self, inner: httpx.BaseTransport, checker: SpecChecker) -> None:
        self.inner = inner
        self.checker = checker
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if not request.url.path.startswith("/api/v1/_sim"):
            self.checker.check_request(request)
        self.requests.append(request)
        response = self.inner.handle_request(request)
        response.read()
        if not request.url.path.startswith("/api/v1/_sim"):
            self.checker.check_response(request, response)
        return response
