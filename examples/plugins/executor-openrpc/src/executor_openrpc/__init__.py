"""``executor-openrpc``: JSON-RPC 2.0 APIs described by OpenRPC documents, as Executor tools.

A third-party source plugin in the shape any plugin takes: a class with a ``kind``, registered
in the ``executor.sources`` entry-point group (see this package's ``pyproject.toml``), that can

- ``detect`` an OpenRPC document from its text, and ``probe`` a URL for a JSON-RPC server that
  answers ``rpc.discover`` (the OpenRPC service-discovery method);
- ``load`` a document from a URL, a file, inline text, or a server's ``rpc.discover``;
- ``call`` a method: one JSON-RPC 2.0 request POSTed to the server.

It uses only Executor's public plugin API: ``executor.sources.base`` (the protocol and its
values), ``executor.sources.fetch`` (SSRF-guarded fetching), ``executor.results`` and
``executor.errors``.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, ClassVar
from urllib.parse import urljoin

import anyio
import httpx2

from executor.errors import FetchError, SpecError, ToolTimeoutError, UpstreamError
from executor.models import AuthMethod
from executor.results import ToolResult, failure, ok
from executor.sources.base import (
    Detection,
    FetchPolicy,
    PluginCall,
    Progress,
    SourceBundle,
    SourceConfig,
)
from executor.sources.fetch import check_url, fetch_document, guarded_client
from executor_openrpc.document import build_tools, parse_document

__all__ = ["OpenRPCPlugin"]

_MARKER = re.compile(r'"openrpc"\s*:\s*"([0-9][0-9A-Za-z.-]*)"')
_DISCOVER = {"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"}
_BODY_EXCERPT = 500


class OpenRPCPlugin:
    """Source plugin of kind ``openrpc``."""

    kind: ClassVar[str] = "openrpc"
    #: A JSON-RPC server can change its methods at any time: hold changes for review.
    hold_changes_for_review: ClassVar[bool] = True

    async def detect(self, text: str, *, url: str | None = None) -> Detection | None:
        """An OpenRPC document names its version in an ``openrpc`` field."""
        match = _MARKER.search(text[: 64 * 1024])
        if match is None:
            return None
        return Detection(self.kind, 0.95, f"OpenRPC {match.group(1)} document")

    async def probe(
        self, url: str, *, http: httpx2.AsyncClient, timeout: float
    ) -> Detection | None:
        """Ask the URL for ``rpc.discover``; a JSON-RPC server that answers is one of ours."""
        document = await _discover(http, url, timeout)
        if document is None:
            return None
        return Detection(
            self.kind, 0.9, "a JSON-RPC server that describes itself through rpc.discover"
        )

    async def load(
        self,
        config: SourceConfig,
        *,
        fetch_policy: FetchPolicy,
        progress: Progress | None = None,
    ) -> SourceBundle:
        """Read the document and build one tool per method."""
        report = progress or (lambda stage, done, total: None)
        report("download", 0, None)
        server_url: str | None = None
        if config.text is not None:
            data: bytes = config.text.encode("utf-8")
        elif config.path is not None:
            data, _ = await fetch_document(config.path, policy=fetch_policy)
        elif config.url is not None:
            data, server_url = await _fetch_or_discover(config.url, fetch_policy)
        else:
            raise SpecError(
                "An OpenRPC source needs a URL, a file or the document's text.",
                hint="Give the document's URL or the JSON-RPC server's URL.",
            )
        report("download", len(data), len(data))
        report("parse", 0, 1)
        document = parse_document(data)
        tools = build_tools(document)
        report("parse", 1, 1)
        servers = document.get("servers") or []
        declared = servers[0].get("url") if servers and isinstance(servers[0], dict) else None
        if isinstance(declared, str) and config.url:
            declared = urljoin(config.url, declared)
        server_url = config.base_url or server_url or declared
        if not server_url or not server_url.startswith(("http://", "https://")):
            raise SpecError(
                "The OpenRPC document names no absolute server URL.",
                hint="Pass base_url with the JSON-RPC endpoint's URL.",
            )
        info = document.get("info") or {}
        return SourceBundle(
            kind=self.kind,
            title=str(info.get("title") or "JSON-RPC API"),
            summary=str(info.get("description") or "").split("\n")[0][:200],
            tools=tools,
            auth_methods=[AuthMethod(id="bearer", type="bearer", description="Bearer token")],
            config={"server_url": server_url},
            spec=data,
            requires_auth=False,
        )

    async def call(self, request: PluginCall) -> ToolResult:
        """POST one JSON-RPC 2.0 request; its ``error`` member becomes an upstream error."""
        binding = request.tool.binding
        url = request.connection_settings.get("base_url") or request.integration_config.get(
            "server_url"
        )
        names = [name for name in binding["params"] if name in request.arguments]
        params: Any = {name: request.arguments[name] for name in names}
        if binding.get("by_position"):
            given = [name in request.arguments for name in binding["params"]]
            last = max((index for index, present in enumerate(given) if present), default=-1)
            params = [request.arguments.get(name) for name in binding["params"][: last + 1]]
        payload = {"jsonrpc": "2.0", "id": uuid.uuid4().hex, "method": binding["method"]}
        if params:
            payload["params"] = params
        headers = {**request.connection_settings.get("headers", {}), **request.auth.headers}
        if request.auth.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in request.auth.cookies.items())
        try:
            response = await request.http.post(
                str(url),
                json=payload,
                headers=headers,
                params=dict(request.auth.query),
                timeout=request.timeout,
            )
        except httpx2.TimeoutException:
            return failure(
                ToolTimeoutError(f"{binding['method']} timed out after {request.timeout:g} s.")
            )
        except httpx2.TransportError as exc:
            return failure(
                UpstreamError(f"Cannot reach the JSON-RPC server: {type(exc).__name__}.")
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or not isinstance(body, dict):
            return failure(
                UpstreamError(
                    f"The JSON-RPC server answered HTTP {response.status_code} "
                    f"to {binding['method']}.",
                    status=response.status_code,
                    details={"body": response.text[:_BODY_EXCERPT]},
                )
            )
        error = body.get("error")
        if isinstance(error, dict):
            details: dict[str, Any] = {"rpc_code": error.get("code")}
            if "data" in error:
                details["data"] = error["data"]
            return failure(
                UpstreamError(
                    f"{binding['method']} failed: {error.get('message') or 'JSON-RPC error'}.",
                    status=response.status_code,
                    details=details,
                )
            )
        return ok(body.get("result"), status=response.status_code, headers=response.headers)


async def _fetch_or_discover(url: str, policy: FetchPolicy) -> tuple[bytes, str | None]:
    """The document at ``url``; when the URL is the server itself (a GET there fails or
    returns something else), its ``rpc.discover`` answer, with the URL as the server's."""
    failed: FetchError | None = None
    try:
        data, _ = await fetch_document(url, policy=policy)
    except FetchError as exc:
        failed = exc
    else:
        if _MARKER.search(data[: 64 * 1024].decode("utf-8", "replace")):
            return data, None
    await check_url(url, policy=policy)
    client = guarded_client(allow_private=policy.allow_private, timeout=policy.timeout)
    async with client:
        document = await _discover(client, url, policy.timeout)
    if document is not None:
        return document, url
    if failed is not None:
        raise failed
    raise SpecError(
        f"{url} is neither an OpenRPC document nor a JSON-RPC server that answers rpc.discover."
    )


async def _discover(http: httpx2.AsyncClient, url: str, timeout: float) -> bytes | None:
    """The OpenRPC document a server returns for ``rpc.discover``, or None."""
    try:
        with anyio.fail_after(timeout):
            response = await http.post(url, json=_DISCOVER, timeout=timeout)
    except (httpx2.HTTPError, TimeoutError):
        return None
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict) or "openrpc" not in result:
        return None
    return json.dumps(result).encode("utf-8")
