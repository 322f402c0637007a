"""Carry out one OpenAPI operation: binding + arguments → HTTP request → result envelope.

The binding is the recipe the importer stored in ``ToolDefinition.binding``::

    {"method": "GET", "path": "/pets/{petId}",
     "servers": [{"url": "https://api.example.com/{version}", "variables": {...}}],
     "parameters": [{"name": "petId", "in": "path", "arg": "pet_id", "required": true,
                     "style": "simple", "explode": false, "allow_reserved": false,
                     "content_type": null}],
     "body": {"mode": "flatten" | "whole", "arg": "body", "properties": [...],
              "content_type": "application/json", "required": true, "encoding": {...}},
     "security": [["api_key"]]}

Precedence, when two sources name the same thing: the base URL comes from the connection's
``base_url``, else the integration's, else the first server; headers from arguments are
overridden by the connection's extra ``headers``, and both by the credentials (so neither an
agent nor a connection setting can replace what authenticates the call).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import anyio
import httpx2

from executor.errors import ExecutorError, InvalidArgumentsError, InvalidInputError
from executor.results import ToolResult, failure
from executor.sources.base import AppliedAuth, PluginCall
from executor.sources.fetch import CONNECT_TIMEOUT
from executor.sources.openapi import serialize
from executor.sources.openapi.response import (
    Redactor,
    Target,
    map_http_errors,
    read_body,
    read_limit,
    to_result,
)

#: Header parameters OpenAPI says to ignore: the request's own machinery sets them.
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_VARIABLE = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class OutgoingRequest:
    """A request ready to send: the full URL (query included), headers and body bytes."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    content: bytes | None = None

    @property
    def target(self) -> Target:
        """The method and URL without its query, safe to mention in messages."""
        return Target.of(self.method, self.url)


async def call_operation(request: PluginCall) -> ToolResult:
    """Call the operation ``request.tool`` describes and return the result envelope.

    Never raises for an expected failure (bad configuration, unreachable host, error status,
    timeout): those come back as ``{"ok": False, "error": ...}``. Redirects are not followed;
    a 3xx comes back as data with its ``location`` header.
    """
    try:
        base_url = resolve_base_url(
            request.tool.binding, request.integration_config, request.connection_settings
        )
        outgoing = build_request(
            request.tool.binding,
            request.arguments,
            base_url=base_url,
            auth=request.auth,
            extra_headers=request.connection_settings.get("headers") or {},
        )
        return await send(
            outgoing, http=request.http, time_limit=request.timeout, auth=request.auth
        )
    except ExecutorError as exc:
        return failure(exc)


async def send(
    outgoing: OutgoingRequest, *, http: httpx2.AsyncClient, time_limit: float, auth: AppliedAuth
) -> ToolResult:
    """Send a built request and turn the response into an envelope (raising Executor errors).

    ``time_limit`` bounds the whole call — connecting, sending, waiting and reading the body —
    not each read: an API that trickles its answer cannot hold a call past it.
    """
    target = outgoing.target
    redactor = Redactor.for_auth(auth)
    with (
        map_http_errors(target, timeout=time_limit, redactor=redactor),
        anyio.fail_after(time_limit),
    ):
        http_request = http.build_request(
            outgoing.method,
            outgoing.url,
            headers=outgoing.headers,
            content=outgoing.content,
            # Only connecting has a limit of its own (its error names the phase).
            timeout=httpx2.Timeout(None, connect=min(time_limit, CONNECT_TIMEOUT)),
        )
        if not any(name.lower() == "cookie" for name, _ in outgoing.headers):
            # The pooled client keeps cookies upstream set earlier; a call carries only the
            # cookies its arguments and credentials name, so one call cannot steer the next.
            http_request.headers.pop("cookie", None)
        response = await http.send(http_request, stream=True, follow_redirects=False)
        try:
            limit = read_limit(response.status_code, response.headers.get("content-type"))
            body, is_complete = await read_body(response, limit)
        finally:
            await response.aclose()
    return to_result(response, body, is_complete=is_complete, target=target, redactor=redactor)


def resolve_base_url(
    binding: Mapping[str, Any],
    integration_config: Mapping[str, Any],
    connection_settings: Mapping[str, Any],
) -> str:
    """The base URL a call goes to (no trailing slash).

    The connection's ``base_url`` wins over the integration's, which wins over the binding's
    first server (its ``{variables}`` filled from the connection's ``server_variables``, else
    their defaults).
    """
    for configured in (connection_settings.get("base_url"), integration_config.get("base_url")):
        if configured:
            return _absolute(str(configured), origin="base_url").rstrip("/")
    servers = binding.get("servers") or []
    if not servers:
        raise InvalidInputError(
            "This API declares no server, so Executor does not know where to send the call.",
            hint="Set base_url on the connection (or the integration) to the API's root URL.",
        )
    server = servers[0]
    url = _fill_server_variables(
        str(server.get("url") or ""),
        server.get("variables") or {},
        connection_settings.get("server_variables") or {},
    )
    return _absolute(url, origin="server").rstrip("/")


def _absolute(url: str, *, origin: str) -> str:
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", url):
        return url
    if origin == "server":
        raise InvalidInputError(
            f"The API's server URL {url or '(empty)'!r} is relative, so it needs a base.",
            hint="Set base_url on the connection to the API's root URL (https://host/prefix).",
        )
    raise InvalidInputError(
        f"base_url {url!r} is not an absolute URL.",
        hint="Set base_url to a URL with a scheme and host, such as https://api.example.com/v1.",
    )


def _fill_server_variables(
    url: str, variables: Mapping[str, Any], chosen: Mapping[str, Any]
) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        spec = variables.get(name) or {}
        value = chosen.get(name, spec.get("default"))
        if value is None:
            raise InvalidInputError(
                f"The server URL needs a value for {{{name}}} and the spec gives no default.",
                hint=f"Set server_variables.{name} on the connection.",
            )
        allowed = spec.get("enum")
        if allowed and str(value) not in [str(option) for option in allowed]:
            raise InvalidInputError(
                f"Server variable {name}={value!r} is not one the API allows.",
                hint=f"Set server_variables.{name} to one of: {', '.join(map(str, allowed))}.",
            )
        return str(value)

    return _VARIABLE.sub(substitute, url)


def build_request(
    binding: Mapping[str, Any],
    arguments: Mapping[str, Any],
    *,
    base_url: str,
    auth: AppliedAuth,
    extra_headers: Mapping[str, str],
) -> OutgoingRequest:
    """Serialize validated ``arguments`` into a request, as ``binding`` describes.

    Raises :class:`InvalidArgumentsError` when a value cannot be put on the wire (a required
    path value missing, invalid base64 for a file, a header value with a line break).
    """
    method = str(binding.get("method") or "GET").upper()
    path = str(binding.get("path") or "/")
    query: list[serialize.Pair] = []
    cookies: list[serialize.Pair] = []
    headers: dict[str, tuple[str, str]] = {}

    for param in binding.get("parameters") or []:
        name, location = str(param["name"]), param.get("in")
        value = arguments.get(param.get("arg") or name)
        if location == "path":
            path = _fill_path(path, param, value)
        elif value is None:
            continue
        elif location == "query":
            query.extend(_query_pairs(param, value))
        elif location == "header" and name.lower() not in _IGNORED_HEADERS:
            headers[name.lower()] = (name, _header_value(param, value))
        elif location == "cookie":
            cookies.extend(_cookie_pairs(param, value))

    leftover = _VARIABLE.search(path)
    if leftover:
        raise InvalidArgumentsError(
            f"No value for the path parameter {leftover.group(1)!r}.",
            hint="Pass it as an argument; it is part of the URL.",
        )

    for name, value in extra_headers.items():
        if "\r" in str(value) or "\n" in str(value):
            raise InvalidInputError(
                f"The connection's header {name!r} contains a line break, which HTTP cannot carry.",
                hint="Fix the headers setting of the connection.",
            )
        headers[name.lower()] = (name, str(value))
    content: bytes | None = None
    body_spec = binding.get("body")
    if body_spec:
        encoded = _encode_body(body_spec, arguments)
        if encoded is not None:
            content, content_type = encoded
            headers["content-type"] = ("Content-Type", content_type)
    for name, value in auth.headers.items():
        headers[name.lower()] = (name, value)

    if auth.query:
        query = [pair for pair in query if unquote(pair[0]) not in auth.query]
        query.extend(
            (serialize.percent_encode(name), serialize.percent_encode(value))
            for name, value in auth.query.items()
        )
    if auth.cookies:
        cookies = [pair for pair in cookies if unquote(pair[0]) not in auth.cookies]
        cookies.extend(auth.cookies.items())
    if cookies:
        headers["cookie"] = ("Cookie", "; ".join(f"{name}={value}" for name, value in cookies))

    url = base_url + (path if path.startswith("/") else f"/{path}")
    if query:
        url += "?" + serialize.join_query(query)
    return OutgoingRequest(method, url, list(headers.values()), content)


def _fill_path(path: str, param: Mapping[str, Any], value: Any) -> str:
    name = str(param["name"])
    placeholder = "{" + name + "}"
    if placeholder not in path:
        return path
    if value is None:
        raise InvalidArgumentsError(
            f"No value for the path parameter {param.get('arg') or name!r}.",
            hint="Pass it as an argument; it is part of the URL.",
        )
    if param.get("content_type"):
        text = serialize.percent_encode(serialize.serialize_content(value, param["content_type"]))
    else:
        text = serialize.serialize_path(
            name,
            value,
            style=param.get("style") or "simple",
            explode=bool(param.get("explode", False)),
        )
    return path.replace(placeholder, text)


def _query_pairs(param: Mapping[str, Any], value: Any) -> list[serialize.Pair]:
    name = str(param["name"])
    if param.get("content_type"):
        text = serialize.serialize_content(value, param["content_type"])
        return [(serialize.percent_encode(name), serialize.percent_encode(text))]
    style = param.get("style") or "form"
    return serialize.serialize_query(
        name,
        value,
        style=style,
        explode=bool(param.get("explode", style == "form")),
        allow_reserved=bool(param.get("allow_reserved", False)),
    )


def _header_value(param: Mapping[str, Any], value: Any) -> str:
    name = str(param["name"])
    if param.get("content_type"):
        text = serialize.serialize_content(value, param["content_type"])
    else:
        text = serialize.serialize_header(value, explode=bool(param.get("explode", False)))
    if "\r" in text or "\n" in text:
        # Only a content-typed value can get here with a line break (styles encode them).
        raise InvalidArgumentsError(
            f"The value for header {name!r} contains a line break, which HTTP cannot carry.",
            hint="Pass it on one line.",
        )
    return text


def _cookie_pairs(param: Mapping[str, Any], value: Any) -> list[serialize.Pair]:
    name = str(param["name"])
    if param.get("content_type"):
        text = serialize.serialize_content(value, param["content_type"])
        return [(name, serialize.percent_encode(text))]
    return serialize.serialize_cookie(name, value, explode=bool(param.get("explode", True)))


def _encode_body(spec: Mapping[str, Any], arguments: Mapping[str, Any]) -> tuple[bytes, str] | None:
    """The body bytes and Content-Type, or ``None`` when an optional body was not given."""
    content_type = str(spec.get("content_type") or "application/json")
    value: Any
    if spec.get("mode") == "flatten":
        value = {
            prop: arguments[prop]
            for prop in spec.get("properties") or []
            if arguments.get(prop) is not None
        }
        if not value and not spec.get("required"):
            return None
    else:
        arg = str(spec.get("arg") or "body")
        value = arguments.get(arg)
        if value is None:
            if spec.get("required"):
                raise InvalidArgumentsError(
                    f"The request body {arg!r} is required.",
                    hint=f"Pass {arg}= with the body for this operation.",
                )
            return None

    media = serialize.media_type(content_type)
    encoding = spec.get("encoding") or {}
    if serialize.is_json_media_type(media):
        return serialize.encode_json(value), content_type
    if media in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if not isinstance(value, Mapping):
            raise InvalidArgumentsError(
                f"A {media} body must be an object of fields, not {type(value).__name__}.",
                hint="Pass the body as an object whose keys are the form fields.",
            )
        if media == "multipart/form-data":
            return serialize.encode_multipart(value, encoding)
        return serialize.encode_form(value, encoding), content_type
    return serialize.encode_raw(value, content_type)
