"""An MCP ``CallToolResult`` as a result envelope.

- ``structuredContent`` present → ``data`` is that object;
- a single text item → ``data`` is the text (a JSON object or array in it is parsed);
- anything else → ``data`` is the list of content items, each a plain dict:
  ``{"type": "text", "text"}``, ``{"type": "image"|"audio", "mime_type", "data"}`` (base64),
  ``{"type": "resource", "uri", "mime_type", "text"|"blob"}``,
  ``{"type": "resource_link", "uri", "name", "description", "mime_type"}``;
- ``isError`` → an ``upstream_error`` whose message is the server's text and whose
  ``details.content`` holds the items.
"""

from __future__ import annotations

import json
import re
from typing import Any

import mcp_types

from executor.errors import UpstreamError
from executor.results import ToolResult, failure, ok

_MESSAGE_LENGTH = 500
#: How servers phrase "no such tool" (MCP has no dedicated error code for it).
UNKNOWN_TOOL = re.compile(
    r"unknown tool|tool\b.{0,120}\bnot (?:found|exist)|no such tool|tool not found",
    re.IGNORECASE | re.DOTALL,
)


def content_item(item: Any) -> dict[str, Any]:
    """One content block as a plain, JSON-safe dict."""
    if isinstance(item, mcp_types.TextContent):
        return {"type": "text", "text": item.text}
    if isinstance(item, mcp_types.ImageContent | mcp_types.AudioContent):
        return {"type": item.type, "mime_type": item.mime_type, "data": item.data}
    if isinstance(item, mcp_types.EmbeddedResource):
        resource = item.resource
        block: dict[str, Any] = {"type": "resource", "uri": str(resource.uri)}
        if resource.mime_type:
            block["mime_type"] = resource.mime_type
        if isinstance(resource, mcp_types.TextResourceContents):
            block["text"] = resource.text
        else:
            block["blob"] = resource.blob
        return block
    if isinstance(item, mcp_types.ResourceLink):
        link: dict[str, Any] = {"type": "resource_link", "uri": str(item.uri), "name": item.name}
        if item.description:
            link["description"] = item.description
        if item.mime_type:
            link["mime_type"] = item.mime_type
        return link
    dumped = item.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped if isinstance(dumped, dict) else {"type": "unknown", "value": dumped}


def _text_value(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return text


def error_text(result: mcp_types.CallToolResult) -> str:
    """The text of an error result, joined and trimmed for a message."""
    texts = [item.text for item in result.content if isinstance(item, mcp_types.TextContent)]
    text = " ".join(" ".join(texts).split())
    return text if len(text) <= _MESSAGE_LENGTH else text[: _MESSAGE_LENGTH - 1] + "…"


def to_envelope(result: mcp_types.CallToolResult, *, tool: str, server: str) -> ToolResult:
    """Turn a tool result into ``{"ok": ...}`` (see the module docstring)."""
    items = [content_item(item) for item in result.content]
    if result.is_error:
        message = error_text(result) or "no message"
        return failure(
            UpstreamError(
                f"{server} reported an error from {tool}: {message}",
                details={"content": items} if items else None,
            )
        )
    if result.structured_content is not None:
        return ok(result.structured_content)
    if len(items) == 1 and items[0]["type"] == "text":
        return ok(_text_value(items[0]["text"]))
    return ok(items)
