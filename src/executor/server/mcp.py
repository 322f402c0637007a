"""The MCP surface for agents: four tools (`execute`, `search`, `describe`, `resume`) over one
:class:`~executor.Executor`, on the official SDK's low-level ``Server``.

The catalog is never listed tool by tool: `execute`'s description names the connected
integrations (computed at list time, capped so the four descriptions stay under ~1,000 tokens
however large the catalog), and the agent finds tools with `search` and `describe`.

Approval mode ``model``: a call that needs approval pauses the execution; the tool result tells
the agent, in plain words, to ask the user and then call `resume` with the answer.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from executor import __version__
from executor.core import Executor
from executor.errors import ExecutorError, InvalidInputError
from executor.executions import ResumeAction
from executor.models import Execution

logger = logging.getLogger(__name__)

#: Characters the integration listing in `execute`'s description may take (~400 tokens).
INTEGRATIONS_BUDGET = 1600
#: Characters of one integration's one-line summary in that listing.
_SUMMARY_CHARS = 70

_EXECUTE = """\
Run a short Python program against the connected APIs and return its result.
Call tools as tools.<integration>.<connection>.<tool>(**arguments); each returns \
{"ok": true, "data": ...} or {"ok": false, "error": {"code", "message"}}. \
Inside the code, tools.search(query) and tools.describe(address) work too. \
print() goes to logs; the last expression is the result. \
No files, network or imports beyond json, re, datetime, math, collections, itertools.
If the result has status "paused", a call needs the user's approval: ask the user, \
then call resume with the execution id and their answer.

Connected integrations (integration.connection: summary, tool count):
"""

_SEARCH = (
    "Find tools by what you want to do. Returns addresses (integration.connection.tool) with "
    "one-line summaries, and is_good_match=false when nothing fits well."
)
_DESCRIBE = (
    "Full descriptions and input/output JSON Schemas of tools, by address. Use before calling "
    "a tool whose arguments you do not know."
)
_RESUME = (
    "Continue a paused execution with the user's answer: accept runs the pending call, "
    "decline makes it return approval_declined inside the code, cancel ends the execution. "
    "Only resume after the user has answered."
)

_TOOL_SCHEMAS: dict[str, dict[str, Any]] = {
    "execute": {
        "type": "object",
        "properties": {"code": {"type": "string", "description": "Python code to run."}},
        "required": ["code"],
    },
    "search": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "What you want to do, in words."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
        },
        "required": ["query"],
    },
    "describe": {
        "type": "object",
        "properties": {
            "addresses": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "maxItems": 20,
                "description": "Tool addresses from search, e.g. github.work.issues.create.",
            }
        },
        "required": ["addresses"],
    },
    "resume": {
        "type": "object",
        "properties": {
            "execution_id": {"type": "string"},
            "action": {"type": "string", "enum": ["accept", "decline", "cancel"]},
        },
        "required": ["execution_id", "action"],
    },
}

_ANNOTATIONS = {
    "execute": types.ToolAnnotations(title="Run code against the APIs", open_world_hint=True),
    "search": types.ToolAnnotations(title="Search tools", read_only_hint=True),
    "describe": types.ToolAnnotations(title="Describe tools", read_only_hint=True),
    "resume": types.ToolAnnotations(title="Resume a paused execution", open_world_hint=True),
}


async def integrations_listing(executor: Executor, budget: int = INTEGRATIONS_BUDGET) -> str:
    """One line per connection (``slug.connection: summary (N tools)``), cut to ``budget``
    characters with a count of what was left out."""
    integrations = {item.slug: item for item in await executor.sources.list()}
    lines: list[str] = []
    for connection in await executor.connections.list():
        integration = integrations.get(connection.integration)
        if integration is None:
            continue
        summary = " ".join((integration.summary or integration.title).split())
        if len(summary) > _SUMMARY_CHARS:
            summary = summary[: _SUMMARY_CHARS - 1].rstrip() + "…"
        count = integration.tool_count
        lines.append(
            f"- {integration.slug}.{connection.name}: {summary} "
            f"({count} tool{'' if count == 1 else 's'})"
        )
    if not lines:
        return "(none yet: the user adds integrations with `executor sources add`)"
    shown: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        if used + len(line) + 1 > budget - 60:
            shown.append(f"- …and {len(lines) - index} more connections: use search.")
            break
        shown.append(line)
        used += len(line) + 1
    return "\n".join(shown)


async def list_tools(executor: Executor) -> list[types.Tool]:
    """The four tools, with `execute`'s description computed from the current catalog."""
    await executor.check_catalog()
    descriptions = {
        "execute": _EXECUTE + await integrations_listing(executor),
        "search": _SEARCH,
        "describe": _DESCRIBE,
        "resume": _RESUME,
    }
    return [
        types.Tool(
            name=name,
            description=descriptions[name],
            input_schema=_TOOL_SCHEMAS[name],
            annotations=_ANNOTATIONS[name],
        )
        for name in _TOOL_SCHEMAS
    ]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


def execution_json(execution: Execution) -> dict[str, Any]:
    """The Execution as the JSON an agent sees (``expires_at`` as ISO 8601)."""
    data = asdict(execution)
    if execution.expires_at is not None:
        data["expires_at"] = execution.expires_at.isoformat()
    return data


def _paused_message(execution: Execution) -> str:
    pending = execution.pending or {}
    arguments = json.dumps(pending.get("arguments", {}), default=_json_default)
    summary = pending.get("summary") or "no summary"
    return (
        f"PAUSED: the call {pending.get('address', '?')} ({summary}) needs the user's approval, "
        f"with arguments {arguments}.\n"
        "Ask the user whether to allow it. Then call the `resume` tool with "
        f'execution_id="{execution.id}" and action="accept" if they allow it, '
        '"decline" if they refuse (the code continues with an approval_declined result), or '
        '"cancel" to stop the run. Do not resume without their answer.'
    )


def _text(data: Any) -> str:
    return json.dumps(data, default=_json_default, ensure_ascii=False)


def _result(
    data: dict[str, Any], *, is_error: bool = False, note: str = ""
) -> types.CallToolResult:
    """A tool result: an optional plain-words note first, then the data as JSON text, which is
    also the structured content."""
    content: list[types.ContentBlock] = [types.TextContent(text=note)] if note else []
    content.append(types.TextContent(text=_text(data)))
    return types.CallToolResult(content=content, structured_content=data, is_error=is_error)


def _execution_result(execution: Execution) -> types.CallToolResult:
    note = _paused_message(execution) if execution.status == "paused" else ""
    return _result(
        execution_json(execution),
        is_error=execution.status in ("failed", "expired"),
        note=note,
    )


def _string(arguments: Mapping[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"`{name}` must be a non-empty string.")
    return value


async def _execute(executor: Executor, arguments: Mapping[str, Any]) -> types.CallToolResult:
    return _execution_result(await executor.execute(_string(arguments, "code"), caller="mcp"))


async def _search(executor: Executor, arguments: Mapping[str, Any]) -> types.CallToolResult:
    limit = arguments.get("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise InvalidInputError("`limit` must be an integer.")
    found = await executor.tools.search(_string(arguments, "query"), limit=min(max(limit, 1), 50))
    return _result(
        {
            "is_good_match": found.is_good_match,
            "tools": [
                {"address": hit.tool.address, "summary": hit.tool.summary} for hit in found.hits
            ],
        }
    )


async def _describe(executor: Executor, arguments: Mapping[str, Any]) -> types.CallToolResult:
    addresses = arguments.get("addresses")
    if isinstance(addresses, str):
        addresses = [addresses]
    if (
        not isinstance(addresses, list)
        or not addresses
        or not all(isinstance(item, str) for item in addresses)
    ):
        raise InvalidInputError("`addresses` must be a non-empty list of tool addresses.")
    # One unknown address should not hide the others: each gets its own entry.
    tools: list[dict[str, Any]] = []
    for address in addresses[:20]:
        try:
            tools.append(await executor.tools.describe(address))
        except ExecutorError as exc:
            tools.append({"address": address, "error": exc.to_error()})
    return _result({"tools": tools}, is_error=all("error" in tool for tool in tools))


async def _resume(executor: Executor, arguments: Mapping[str, Any]) -> types.CallToolResult:
    action = _string(arguments, "action")
    if action not in ("accept", "decline", "cancel"):
        raise InvalidInputError(f"Unknown action {action!r}: use accept, decline or cancel.")
    execution_id = _string(arguments, "execution_id")
    return _execution_result(await executor.resume(execution_id, cast(ResumeAction, action)))


_HANDLERS = {
    "execute": _execute,
    "search": _search,
    "describe": _describe,
    "resume": _resume,
}


async def call_tool(
    executor: Executor, name: str, arguments: Mapping[str, Any] | None
) -> types.CallToolResult:
    """Run one of the four tools.

    The one place that decides what the agent sees: an unknown tool name is a protocol error
    (the client asked for something this server never listed); an :class:`ExecutorError` is a
    tool result with ``isError`` and its stable code, so the agent can correct itself; any other
    failure is an ``internal_error`` result whose id points into the server log (no traceback
    leaves the server).
    """
    handler = _HANDLERS.get(name)
    if handler is None:
        raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {name}")
    try:
        return await handler(executor, arguments or {})
    except ExecutorError as exc:
        return _result({"ok": False, "error": exc.to_error()}, is_error=True)
    except Exception:
        incident = uuid.uuid4().hex[:12]
        logger.exception("MCP tool %s failed (incident %s)", name, incident)
        error = {
            "code": "internal_error",
            "message": f"Executor failed unexpectedly (incident {incident}); see the server log.",
            "retryable": False,
            "details": {"id": incident},
        }
        return _result({"ok": False, "error": error}, is_error=True)


def create_server(executor: Callable[[], Executor]) -> Server[Any]:
    """The MCP server over the Executor that ``executor()`` returns at each request.

    A getter rather than the object, so the server can be built before the Executor is opened
    (the HTTP app opens it in its lifespan).
    """

    async def on_list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=await list_tools(executor()))

    async def on_call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return await call_tool(executor(), params.name, params.arguments)

    return Server(
        "executor",
        version=__version__,
        instructions=(
            "Executor runs code against the user's connected APIs. Use execute; find tools "
            "with search and describe; ask the user before resuming a paused execution."
        ),
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


async def serve_stdio(**open_options: Any) -> None:
    """Serve MCP over this process's stdin/stdout (``executor mcp``) until stdin closes."""
    from mcp.server.stdio import stdio_server

    async with Executor.open(**open_options) as executor:
        server = create_server(lambda: executor)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
