"""Carry out one Discovery method: binding + arguments → HTTP request → result envelope.

The wire work is the OpenAPI plugin's: query parameters, the JSON body, credentials, sending
and the response envelope all go through ``executor.sources.openapi.request``. What is
Discovery's own is done here first:

- the URL: the root URL (``base_url`` on the connection or integration overrides the
  document's ``rootUrl``), then the service path, then the method path, whose ``{name}``
  values are percent-encoded whole and whose ``{+name}`` values (reserved expansion, RFC 6570)
  keep their ``/`` — but never as ``.`` or ``..`` segments, which would leave the method's path,
  and never a raw ``?``, which would start a query string;
- media uploads: with ``media`` given, the call goes to the method's upload path with
  ``uploadType=media`` (the file is the body), or ``uploadType=multipart`` when ``body`` is
  given too (``multipart/related``: the JSON metadata, then the file).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from executor.errors import ExecutorError, InvalidArgumentsError
from executor.results import ToolResult, failure
from executor.sources.base import PluginCall
from executor.sources.openapi import serialize
from executor.sources.openapi.request import (
    OutgoingRequest,
    build_request,
    resolve_base_url,
    send,
)

_TEMPLATE = re.compile(r"\{(\+?)([^{}]+)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


async def call_method(request: PluginCall) -> ToolResult:
    """Call the method ``request.tool`` describes and return the result envelope.

    Never raises for an expected failure: bad arguments, configuration, unreachable hosts,
    error statuses and timeouts come back as ``{"ok": False, "error": ...}``.
    """
    try:
        outgoing = build_method_request(request)
        return await send(
            outgoing, http=request.http, time_limit=request.timeout, auth=request.auth
        )
    except ExecutorError as exc:
        return failure(exc)


def build_method_request(request: PluginCall) -> OutgoingRequest:
    """The HTTP request for one call (raises :class:`InvalidArgumentsError` for bad values)."""
    binding = request.tool.binding
    arguments = request.arguments
    root = resolve_base_url(binding, request.integration_config, request.connection_settings)
    parameters = binding.get("parameters") or []
    media = binding.get("media")
    media_value = arguments.get(media["arg"]) if media else None
    body = binding.get("body")
    if media and media_value is not None:
        path = expand_path(str(media["path"]), parameters, arguments)
    else:
        template = str(binding["path"])
        # A method path starting with "/" is relative to the root, not the service path.
        prefix = "" if template.startswith("/") else _service_path(binding)
        path = prefix + expand_path(template, parameters, arguments)
    wire = {
        "method": binding.get("method") or "GET",
        "path": path if path.startswith("/") else "/" + path,
        "parameters": [param for param in parameters if param.get("in") == "query"],
        "body": body if media_value is None else None,
    }
    outgoing = build_request(
        wire,
        arguments,
        base_url=root,
        auth=request.auth,
        extra_headers=request.connection_settings.get("headers") or {},
    )
    if not media or media_value is None:
        return outgoing
    content, content_type = _media_content(media, media_value)
    metadata = arguments.get(body["arg"]) if body else None
    if metadata is None:
        return _with_body(outgoing, "media", content, content_type)
    if not media.get("multipart"):
        raise InvalidArgumentsError(
            "This method's upload takes the file alone, without a body.",
            hint="Pass media= without body=, or body= without media=.",
        )
    boundary = f"executor-{secrets.token_hex(12)}"
    related = b"".join(
        [
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
            serialize.encode_json(metadata),
            f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode(),
            content,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    return _with_body(outgoing, "multipart", related, f"multipart/related; boundary={boundary}")


def expand_path(
    template: str, parameters: list[Mapping[str, Any]], arguments: Mapping[str, Any]
) -> str:
    """``template`` with its ``{name}`` and ``{+name}`` expressions filled from ``arguments``
    (or a parameter's default)."""
    by_name = {str(param["name"]): param for param in parameters}

    def fill(match: re.Match[str]) -> str:
        is_reserved, name = match.group(1) == "+", match.group(2)
        param = by_name.get(name, {"arg": name})
        value = arguments.get(str(param.get("arg") or name))
        if value is None:
            value = param.get("default")
        if value is None or value == "":
            raise InvalidArgumentsError(
                f"No value for the path parameter {param.get('arg') or name!r}.",
                hint="Pass it as an argument; it is part of the URL.",
            )
        if not is_reserved:
            return serialize.serialize_path(name, value)
        # Reserved expansion keeps "/" and ":", but a "?" would start a query string.
        text = serialize.percent_encode(serialize.to_text(value), allow_reserved=True)
        text = text.replace("?", "%3F")
        if any(unquote(segment) in (".", "..") for segment in text.split("/")):
            raise InvalidArgumentsError(
                f"{param.get('arg') or name!r} may not contain '.' or '..' path segments.",
                hint="Pass the resource name itself, such as 'projects/p1/topics/t1'.",
            )
        return text

    return _TEMPLATE.sub(fill, template)


def _service_path(binding: Mapping[str, Any]) -> str:
    service = str(binding.get("service_path") or "").strip("/")
    return f"/{service}/" if service else "/"


def _media_content(media: Mapping[str, Any], value: Any) -> tuple[bytes, str]:
    # A file's own content_type wins over the method's default type.
    content, content_type = serialize.encode_raw(value, str(media.get("default_type") or ""))
    if _CONTROL.search(content_type):
        raise InvalidArgumentsError(
            "media's content_type contains a control character.",
            hint="Give a plain media type such as 'text/plain'.",
        )
    accept = [str(pattern) for pattern in media.get("accept") or ()]
    if accept and not any(_matches(content_type, pattern) for pattern in accept):
        raise InvalidArgumentsError(
            f"This method does not accept uploads of type {content_type!r}.",
            hint=f"Set media's content_type to one of: {', '.join(accept)}.",
        )
    max_size = media.get("max_size")
    if isinstance(max_size, int) and len(content) > max_size:
        raise InvalidArgumentsError(
            f"The upload is {len(content):,} bytes; this method takes at most {max_size:,}.",
            hint="Upload a smaller file.",
        )
    return content, content_type


def _matches(content_type: str, pattern: str) -> bool:
    media_type = serialize.media_type(content_type)
    wanted = serialize.media_type(pattern)
    if wanted in ("*/*", media_type):
        return True
    return wanted.endswith("/*") and media_type.startswith(wanted[:-1])


def _with_body(
    outgoing: OutgoingRequest, upload_type: str, content: bytes, content_type: str
) -> OutgoingRequest:
    separator = "&" if "?" in outgoing.url else "?"
    headers = [(n, v) for n, v in outgoing.headers if n.lower() != "content-type"]
    return replace(
        outgoing,
        url=f"{outgoing.url}{separator}uploadType={upload_type}",
        headers=[*headers, ("Content-Type", content_type)],
        content=content,
    )


__all__ = ["build_method_request", "call_method", "expand_path"]
