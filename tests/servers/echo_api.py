"""A real HTTP API that reports exactly what it received, plus routes that misbehave on purpose.

``/echo/...`` (any method) answers JSON describing the request as it arrived on the wire: the
method, the raw (still percent-encoded) path and query string, every header, the cookies, the
body (base64 and text) and, for form and multipart bodies, what a server would parse out of
them. Multipart is parsed with the standard library's e-mail parser, not with the code under
test, so the two cannot share a bug.

The other routes answer the way real APIs fail: JSON 404/500/429/503, an HTML 502 from a
"proxy", plain text, binary, a route that never answers until the client goes away, a 401 with
a challenge, a 400 that echoes the caller's credentials back, a redirect to another host, and
a list with pagination and rate-limit headers next to headers that must not reach an agent.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
from typing import Any
from urllib.parse import parse_qsl

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

#: Bytes served by ``/binary``: every byte value, so any decoding slip shows.
BINARY = bytes(range(256))

HTML_502 = """<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title><style>body { color: red; }</style></head>
<body><h1>Bad Gateway</h1><p>The upstream server &amp; its friends are down.</p>
<hr><address>nginx</address></body></html>"""


def _parse_multipart(content_type: str, body: bytes) -> list[dict[str, Any]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        parts.append(
            {
                "name": part.get_param("name", header="content-disposition"),
                "filename": part.get_filename(),
                "content_type": part.get("content-type"),
                "base64": base64.b64encode(payload).decode(),
                "text": payload.decode("utf-8", errors="replace"),
            }
        )
    return parts


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    report: dict[str, Any] = {
        "method": request.method,
        "path": request.scope["raw_path"].decode("latin-1"),
        "query": request.scope["query_string"].decode("latin-1"),
        "headers": [
            [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]
        ],
        "cookie": request.headers.get("cookie"),
        "body_base64": base64.b64encode(body).decode(),
        "body_text": body.decode("utf-8", errors="replace"),
    }
    if content_type.startswith("application/x-www-form-urlencoded"):
        report["form"] = parse_qsl(body.decode("ascii"), keep_blank_values=True)
    if content_type.startswith("multipart/form-data"):
        report["parts"] = _parse_multipart(content_type, body)
    return JSONResponse(report)


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    headers: dict[str, str] = {}
    if code in (429, 503):
        headers["Retry-After"] = "7"
    if code == 401 or request.query_params.get("challenge"):
        headers["WWW-Authenticate"] = 'Bearer realm="echo", error="invalid_token"'
    body = {"message": f"Status {code} on purpose", "code": code}
    return JSONResponse(body, status_code=code, headers=headers)


async def html_502(request: Request) -> HTMLResponse:
    return HTMLResponse(HTML_502, status_code=502)


async def text(request: Request) -> PlainTextResponse:
    return PlainTextResponse("plain words, not JSON")


async def binary(request: Request) -> Response:
    size = int(request.query_params.get("size", len(BINARY)))
    content = (BINARY * (size // len(BINARY) + 1))[:size]
    return Response(content, media_type="image/png")


async def untyped_json(request: Request) -> Response:
    # No Content-Type at all: the body has to speak for itself.
    return Response(b'{"untyped": true}')


async def vendor_json(request: Request) -> Response:
    return Response(b'{"data": {"id": "1"}}', media_type="application/vnd.api+json")


async def empty(request: Request) -> Response:
    return Response(status_code=204)


async def problem(request: Request) -> Response:
    body = b'{"title": "Invalid pet", "detail": "name must not be empty", "status": 422}'
    return Response(body, status_code=422, media_type="application/problem+json")


async def leaky_auth(request: Request) -> JSONResponse:
    # A careless API that repeats the credentials it got inside its error message.
    received = request.headers.get("authorization", "")
    return JSONResponse(
        {
            "message": f"Token {received} is not valid here",
            "received": {
                "authorization": received,
                "query": request.scope["query_string"].decode("latin-1"),
                "cookie": request.headers.get("cookie", ""),
            },
        },
        status_code=400,
    )


async def paged(request: Request) -> JSONResponse:
    headers = {
        "Link": '<http://example.invalid/paged?page=2>; rel="next"',
        "X-Total-Count": "42",
        "X-RateLimit-Remaining": "99",
        "Set-Cookie": "session=upstream-session-id; HttpOnly",
        "X-Internal-Token": "internal-value",
    }
    return JSONResponse([{"id": 1}, {"id": 2}], headers=headers)


async def redirect(request: Request) -> Response:
    return Response(status_code=302, headers={"Location": "http://other.invalid/landing"})


class NeverAnswers:
    """A raw ASGI endpoint that waits until the client gives up and disconnects (at most 30 s).

    Waiting on the disconnect, not on a timer, lets the server shut down as soon as the test's
    client has timed out.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with anyio.move_on_after(30):
            while (await receive())["type"] != "http.disconnect":
                pass


class Drips:
    """A raw ASGI endpoint that answers 200 at once, then sends its body a byte every 50 ms
    until the client leaves (at most 30 s): each read is quick, the whole answer never ends."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        with anyio.move_on_after(30):
            async with anyio.create_task_group() as tasks:

                async def until_gone() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tasks.cancel_scope.cancel()

                tasks.start_soon(until_gone)
                while True:
                    await send({"type": "http.response.body", "body": b".", "more_body": True})
                    await anyio.sleep(0.05)


def create_app() -> Starlette:
    """The echo API as an ASGI app, for ``tests.servers.serve``."""
    return Starlette(
        routes=[
            Route("/echo", echo, methods=ALL_METHODS),
            Route("/echo/{rest:path}", echo, methods=ALL_METHODS),
            Route("/status/{code:int}", status, methods=ALL_METHODS),
            Route("/html-502", html_502),
            Route("/text", text),
            Route("/binary", binary),
            Route("/untyped-json", untyped_json),
            Route("/vendor-json", vendor_json),
            Route("/empty", empty, methods=ALL_METHODS),
            Route("/problem", problem, methods=ALL_METHODS),
            Route("/leaky-auth", leaky_auth, methods=ALL_METHODS),
            Route("/paged", paged),
            Route("/redirect", redirect),
            Route("/slow", NeverAnswers()),
            Route("/drip", Drips()),
        ]
    )
