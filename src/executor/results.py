"""The result envelope every tool call returns (PRODUCT.md §1.2).

Tool results are plain dicts, never exceptions, so that agent code can branch on ``ok``:

- success: ``{"ok": True, "data": ..., "http": {"status": 200, "headers": {...}}}``
- failure: ``{"ok": False, "error": {"code": ..., "message": ..., "status": ..., ...}}``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from executor.errors import ExecutorError

ToolResult = dict[str, Any]

#: Response headers worth passing to an agent: pagination, rate limits, caching, content type.
#: Everything else (cookies, auth challenges, server internals) stays behind.
SAFE_HEADERS: frozenset[str] = frozenset(
    {
        "content-type",
        "content-length",
        "content-language",
        "etag",
        "last-modified",
        "cache-control",
        "link",
        "location",
        "retry-after",
        "x-total-count",
        "x-next-page",
        "x-page",
        "x-per-page",
        "x-total",
        "x-total-pages",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-used",
        "x-ratelimit-resource",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-request-id",
        "x-github-request-id",
    }
)


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Keep only the headers in :data:`SAFE_HEADERS`, with lower-cased names."""
    return {name.lower(): value for name, value in headers.items() if name.lower() in SAFE_HEADERS}


def ok(
    data: Any, *, status: int | None = None, headers: Mapping[str, str] | None = None
) -> ToolResult:
    """A successful result; ``status``/``headers`` add the ``http`` member for HTTP-backed tools."""
    result: ToolResult = {"ok": True, "data": data}
    if status is not None:
        result["http"] = {"status": status, "headers": safe_headers(headers or {})}
    return result


def failure(error: ExecutorError) -> ToolResult:
    """A failed result carrying ``error``'s stable code, message and details."""
    return {"ok": False, "error": error.to_error()}
