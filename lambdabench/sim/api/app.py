"""The simulator as a WSGI app, for in-process use under httpx.WSGITransport."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from lambdabench.sim.api.core import SimCloud

StartResponse = Callable[..., Any]


def make_wsgi_app(core: SimCloud) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI callable answering every request from core."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        resp = core.handle(environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"), query, headers, body)
        if resp.hangup:
            # in-process there is no socket to close: raise what a real hang-up raises in httpx
            import httpx

            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        phrase = HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else ""
        out_headers = [*resp.headers.items(), ("Content-Length", str(len(resp.body)))]
        start_response(f"{resp.status} {phrase}".strip(), out_headers)
        return [resp.body]

    return app
