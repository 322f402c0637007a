"""Recognising an MCP server by URL: one ``initialize`` POST, read within a time bound.

A JSON-RPC 2.0 answer to ``initialize`` (a result with ``protocolVersion``/``serverInfo``, or a
JSON-RPC error) means MCP over streamable HTTP. A 401 whose ``WWW-Authenticate`` points at
protected-resource metadata is an MCP server behind OAuth. Anything else is not ours: ``None``.
A session the probe opened is closed again with ``DELETE``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import anyio
import httpx2

from executor.sources.base import Detection

_MAX_BYTES = 256 * 1024
_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "executor-probe", "version": "0.1.0"},
    },
}


async def probe_mcp(
    url: str, *, http: httpx2.AsyncClient, timeout: float, kind: str = "mcp"
) -> Detection | None:
    """A :class:`Detection` when ``url`` answers like an MCP server, else ``None``."""
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }
    message: Any = None
    session_id: str | None = None
    try:
        with anyio.fail_after(timeout):
            async with http.stream("POST", url, json=_INITIALIZE, headers=headers) as response:
                session_id = response.headers.get("mcp-session-id")
                if response.status_code == 401:
                    challenge = response.headers.get("www-authenticate", "")
                    if "resource_metadata" in challenge:
                        return Detection(
                            kind, 0.7, "answers 401 with MCP OAuth protected-resource metadata"
                        )
                    return None
                body = b""
                is_sse = "text/event-stream" in response.headers.get("content-type", "")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_BYTES:
                        break
                    # An SSE response stays open: stop at its first complete message.
                    if is_sse and (message := _first_event(body)) is not None:
                        break
                if not is_sse:
                    message = json.loads(body.decode("utf-8", "replace"))
    except (httpx2.HTTPError, TimeoutError, OSError, ValueError):
        return None
    finally:
        if session_id:
            await _close_session(http, url, session_id, timeout)
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    result = message.get("result")
    if isinstance(result, dict) and ("protocolVersion" in result or "serverInfo" in result):
        server = result.get("serverInfo") or {}
        name = server.get("name") if isinstance(server, dict) else None
        described = f" ({name})" if isinstance(name, str) and name else ""
        return Detection(kind, 0.95, f"answers MCP initialize{described}")
    if "error" in message:
        return Detection(kind, 0.6, "answers MCP initialize with a JSON-RPC error")
    return None


def _first_event(body: bytes) -> Any:
    """The JSON of the first complete SSE event that carries data (priming events carry
    none), or None while there is none yet."""
    text = body.decode("utf-8", "replace").replace("\r\n", "\n")
    *complete, _ = text.split("\n\n")
    for event in complete:
        data = "\n".join(
            line[5:].strip() for line in event.split("\n") if line.startswith("data:")
        ).strip()
        if data:
            return json.loads(data)
    return None


async def _close_session(
    http: httpx2.AsyncClient, url: str, session_id: str, timeout: float
) -> None:
    with contextlib.suppress(httpx2.HTTPError, OSError), anyio.move_on_after(timeout):
        await http.delete(url, headers={"Mcp-Session-Id": session_id})
