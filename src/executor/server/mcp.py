"""The MCP surface for agents, on the official SDK's low-level ``Server``.

Every endpoint serves one :class:`Endpoint`, read from its URL: ``/mcp`` or a toolkit's
``/mcp/toolkits/<slug>``, with ``?approval=model|browser|native`` and ``?tools=direct``.

Tool shapes:

- default: four tools, ``execute``, ``search``, ``describe`` and ``resume``. The catalog is never
  listed tool by tool: `execute`'s description names the connected integrations (capped so the
  four descriptions stay under ~1,000 tokens however large the catalog).
- ``tools=direct``: every visible catalog tool as its own MCP tool (its address made MCP-safe,
  see :func:`direct_names`), plus ``resume``. A call runs through ``Executor.call``; a call that
  needs approval runs as a one-line code-mode execution instead, so it pauses durably and
  resumes exactly like ``execute``.

Approval modes, for a call that needs a human (the execution is paused and stored first, so it
survives a restart whatever happens next):

- ``model``: the result tells the agent to ask the user, then call ``resume`` with the answer.
- ``browser``: the result carries the approval page's URL (``/approvals/<id>``) for the agent
  to show; ``resume`` (execution id only) waits for the human's decision there and returns the
  outcome, or "still waiting" after a timeout.
- ``native``: the client's own UI asks the human — form elicitation on a stateful handshake-era
  session whose client declared it; the input-required round trip (``InputRequiredResult`` with
  a sealed ``request_state`` naming the execution) on 2026-07-28 connections. Without either,
  the result falls back to model mode's words.

The tool list changes with the catalog: connected clients get ``notifications/tools/list_changed``
(handshake-era sessions) or a ``tools_list_changed`` event on their ``subscriptions/listen``
stream (2026-07-28), see :class:`ChangeAnnouncer`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal, cast

import anyio
import mcp_types as types
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from mcp.server import Server
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.request_state import (
    AESGCMRequestStateCodec,
    RequestStateBoundary,
    RequestStateSecurity,
)
from mcp.server.session import ServerSession
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from opentelemetry import trace
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from executor import __version__
from executor.core import Executor
from executor.errors import ExecutorError, InvalidInputError, ToolNotFoundError
from executor.executions import DEFAULT_TTL, RESUME_ACTIONS, ResumeAction
from executor.forms import describe_field, form_fields, skeleton
from executor.models import Execution
from executor.secrets import load_or_create_key
from executor.server.api import error_response
from executor.server.security import APPROVAL_MODES, TOOL_MODES
from executor.toolkits import current_toolkit

logger = logging.getLogger(__name__)

ApprovalMode = Literal["model", "browser", "native"]
ToolMode = Literal["default", "direct"]

#: Where toolkits are served; the slug follows.
TOOLKIT_PREFIX = "/mcp/toolkits/"
#: Characters the integration listing in `execute`'s description may take (~400 tokens).
INTEGRATIONS_BUDGET = 1600
#: Characters of one integration's one-line summary in that listing.
_SUMMARY_CHARS = 70
#: MCP tool names that clients accept everywhere: ^[a-zA-Z0-9_-]{1,64}$.
MAX_TOOL_NAME = 64
#: Characters of a tool's description in direct mode (the full text stays in `describe`).
_DIRECT_DESCRIPTION_CHARS = 1000
#: The approval form: accept or decline is the elicitation's own answer, no fields needed.
_APPROVAL_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
#: The key of the human's answer in an input-required round trip.
_ANSWER = "approval"


@dataclass(frozen=True)
class Endpoint:
    """How one MCP endpoint serves: its approval mode, tool shape and toolkit.

    ``web_url`` is where the person's web UI answers (browser mode links to
    ``<web_url>/approvals/<execution id>``).
    """

    approval: ApprovalMode = "model"
    tools: ToolMode = "default"
    toolkit: str | None = None
    web_url: str | None = None

    def __post_init__(self) -> None:
        if self.approval not in APPROVAL_MODES:
            raise InvalidInputError(
                f"Unknown approval mode {self.approval!r}.",
                hint=f"Use one of {', '.join(sorted(APPROVAL_MODES))}.",
            )
        if self.tools not in TOOL_MODES:
            raise InvalidInputError(
                f"Unknown tools mode {self.tools!r}.", hint="Use tools=direct, or leave it out."
            )

    @classmethod
    def from_request(cls, request: Request) -> Endpoint:
        """The endpoint a request names: its path (a toolkit?) and query parameters."""
        scope = request.scope
        host = request.headers.get("host") or request.url.netloc
        return _endpoint(scope["path"], scope["query_string"], scope["scheme"], host)


@functools.lru_cache(maxsize=256)
def _endpoint(path: str, query_string: bytes, scheme: str, host: str) -> Endpoint:
    # Every MCP request names its endpoint; a client sends the same URL each time.
    toolkit = path.removeprefix(TOOLKIT_PREFIX).strip("/") if path != "/mcp" else None
    query = QueryParams(query_string)
    return Endpoint(
        approval=cast(ApprovalMode, query.get("approval", "model")),
        tools=cast(ToolMode, query.get("tools", "default")),
        toolkit=toolkit or None,
        web_url=f"{scheme}://{host}",
    )


@dataclass(frozen=True)
class MCPSettings:
    """Timing of browser mode: how long ``resume`` waits for the human's decision, and how
    often it looks at the stored execution meanwhile."""

    approval_timeout: float = 120.0
    poll_interval: float = 0.25


# -- tool descriptions ----------------------------------------------------------------------------

_EXECUTE = """\
Run a short Python program against the connected APIs and return its result.
Call tools as tools.<integration>.<connection>.<tool>(**arguments); each returns \
{"ok": true, "data": ...} or {"ok": false, "error": {"code", "message"}}. \
Inside the code, tools.search(query) and tools.describe(address) work too. \
print() goes to logs; the last expression is the result. \
No files, network or imports beyond json, re, datetime, math, collections, itertools.
"""

_PAUSED_HINT: dict[str, str] = {
    "model": 'If the result has status "paused", a call needs the user\'s approval or input: '
    "ask the user, then call resume with the execution id and their answer.",
    "browser": 'If the result has status "paused", a call needs the user\'s approval or input: '
    "show the user the link in the result, then call resume with the execution id; it waits "
    "for their answer.",
    "native": "A call that needs approval is put to the user by your client; if a result "
    'still says "paused", follow its instructions.',
}

_LISTING_HEADER = "\n\nConnected integrations (integration.connection: summary, tool count):\n"

_SEARCH = (
    "Find tools by what you want to do. Returns addresses (integration.connection.tool) with "
    "one-line summaries, and is_good_match=false when nothing fits well."
)
_DESCRIBE = (
    "Full descriptions and input/output JSON Schemas of tools, by address. Use before calling "
    "a tool whose arguments you do not know."
)
_RESUME: dict[str, str] = {
    "model": "Continue a paused execution with the user's answer: accept runs the pending "
    "call, decline makes it return approval_declined inside the code, cancel ends the "
    "execution. When the call asked for input, pass the user's answers as content. Only "
    "resume after the user has answered.",
    "browser": "Wait for the user's decision on a paused execution (they answer on the "
    "approval page whose link the paused result gave) and return the outcome. Call it once "
    "you have shown the user the link.",
    "native": "Ask the user again, through your client, about a paused execution and continue "
    "it. Only when your client cannot ask, pass the user's answer as action.",
}

_EXECUTION_ID = {"type": "string", "description": "The id of the paused execution."}
_ACTION = {"type": "string", "enum": list(RESUME_ACTIONS)}
_CONTENT = {
    "type": "object",
    "description": "The user's answers, when the paused call asks for input (the fields of "
    "pending.schema).",
}
_RESUME_SCHEMAS: dict[str, dict[str, Any]] = {
    "model": {
        "type": "object",
        "properties": {"execution_id": _EXECUTION_ID, "action": _ACTION, "content": _CONTENT},
        "required": ["execution_id", "action"],
    },
    "browser": {
        "type": "object",
        "properties": {"execution_id": _EXECUTION_ID},
        "required": ["execution_id"],
    },
    "native": {
        "type": "object",
        "properties": {"execution_id": _EXECUTION_ID, "action": _ACTION, "content": _CONTENT},
        "required": ["execution_id"],
    },
}

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
}

_ANNOTATIONS = {
    "execute": types.ToolAnnotations(title="Run code against the APIs", open_world_hint=True),
    "search": types.ToolAnnotations(title="Search tools", read_only_hint=True),
    "describe": types.ToolAnnotations(title="Describe tools", read_only_hint=True),
    "resume": types.ToolAnnotations(title="Resume a paused execution", open_world_hint=True),
}


async def integrations_listing(executor: Executor, budget: int = INTEGRATIONS_BUDGET) -> str:
    """One line per connection (``slug.connection: summary (N tools)``), cut to ``budget``
    characters with a count of what was left out. Through a toolkit, only connections with
    tools in it are listed, with the toolkit's counts."""
    counts: dict[tuple[str, str], int] | None = None
    integrations = {item.slug: item for item in await executor.sources.list()}
    if current_toolkit(executor.workspace_id) is not None:
        counts = {}
        for tool in await executor.tools.list():
            key = (tool.integration, tool.connection)
            counts[key] = counts.get(key, 0) + 1
    lines: list[str] = []
    for connection in await executor.connections.list():
        integration = integrations.get(connection.integration)
        if integration is None:
            continue
        count = integration.tool_count
        if counts is not None:
            count = counts.get((integration.slug, connection.name), 0)
            if not count:
                continue
        summary = " ".join((integration.summary or integration.title).split())
        if len(summary) > _SUMMARY_CHARS:
            summary = summary[: _SUMMARY_CHARS - 1].rstrip() + "…"
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


def direct_names(addresses: list[str]) -> dict[str, str]:
    """MCP tool names for tool addresses (name → address), stable and collision-free.

    A name is the address with its dots as ``__`` (``petstore.work.pets.list`` →
    ``petstore__work__pets__list``). A name longer than :data:`MAX_TOOL_NAME`, or one that two
    addresses would share (segments may hold ``__`` themselves), is cut and ends with a digest
    of its address instead.
    """
    names: dict[str, str] = {}
    wanted: dict[str, list[str]] = {}
    for address in addresses:
        wanted.setdefault(address.replace(".", "__"), []).append(address)
    for name, owners in wanted.items():
        for address in owners:
            if len(owners) == 1 and len(name) <= MAX_TOOL_NAME:
                names[name] = address
                continue
            digest = hashlib.sha256(address.encode()).hexdigest()[:10]
            names[f"{name[: MAX_TOOL_NAME - len(digest) - 1]}_{digest}"] = address
    return names


def _direct_tool(name: str, described: Mapping[str, Any]) -> types.Tool:
    text = " ".join(str(described["description"] or described["summary"]).split())
    if len(text) > _DIRECT_DESCRIPTION_CHARS:
        text = text[: _DIRECT_DESCRIPTION_CHARS - 1].rstrip() + "…"
    if described["policy"] == "require_approval":
        text += " Needs the user's approval."
    return types.Tool(
        name=name,
        title=described["address"],
        description=text,
        input_schema=described["input_schema"] or {"type": "object"},
        annotations=types.ToolAnnotations(
            title=described["address"],
            read_only_hint=bool(described["is_read_only"]),
            destructive_hint=bool(described["is_destructive"]),
            open_world_hint=True,
        ),
    )


def _resume_tool(endpoint: Endpoint) -> types.Tool:
    return types.Tool(
        name="resume",
        description=_RESUME[endpoint.approval],
        input_schema=_RESUME_SCHEMAS[endpoint.approval],
        annotations=_ANNOTATIONS["resume"],
    )


async def list_tools(executor: Executor, endpoint: Endpoint | None = None) -> list[types.Tool]:
    """The four tools of the default shape, `execute`'s description computed from the current
    catalog (the caller works through the endpoint's toolkit already)."""
    endpoint = endpoint or Endpoint()
    await executor.check_catalog()
    descriptions = {
        "execute": _EXECUTE
        + _PAUSED_HINT[endpoint.approval]
        + _LISTING_HEADER
        + await integrations_listing(executor),
        "search": _SEARCH,
        "describe": _DESCRIBE,
    }
    tools = [
        types.Tool(
            name=name,
            description=descriptions[name],
            input_schema=schema,
            annotations=_ANNOTATIONS[name],
        )
        for name, schema in _TOOL_SCHEMAS.items()
    ]
    return [*tools, _resume_tool(endpoint)]


# -- results ---------------------------------------------------------------------------------------


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


def _pending_call(execution: Execution) -> str:
    pending = execution.pending or {}
    arguments = json.dumps(pending.get("arguments", {}), default=_json_default)
    summary = pending.get("summary") or "no summary"
    return f"the call {pending.get('address', '?')} ({summary}) with arguments {arguments}"


def approval_url(endpoint: Endpoint, execution_id: str) -> str:
    """The web UI's page where the person approves or declines one execution."""
    return f"{(endpoint.web_url or '').rstrip('/')}/approvals/{execution_id}"


def _input_words(execution: Execution) -> tuple[str, str]:
    """What an execution paused at a question asks: the question with its fields, and the
    content placeholder the agent fills in."""
    pending = execution.pending or {}
    fields = form_fields(pending.get("schema") or {})
    listed = "; ".join(describe_field(field) for field in fields) or "none"
    question = (
        f"the call {pending.get('address', '?')} asks the user "
        f"{json.dumps(str(pending.get('message', '')), ensure_ascii=False)} (fields: {listed})"
    )
    return question, json.dumps(skeleton(fields), ensure_ascii=False)


def paused_message(execution: Execution, endpoint: Endpoint, *, waited: bool = False) -> str:
    """What the agent is told about a paused execution, in the endpoint's approval mode
    (native mode without a way to ask the client falls back to model mode's words)."""
    if (execution.pending or {}).get("asks") == "input":
        question, content = _input_words(execution)
        paused, link = f"PAUSED: {question}", "to answer it"
        steps = (
            "Ask the user. Then call the `resume` tool with "
            f'execution_id="{execution.id}", action="accept" and content={content} filled '
            'with their answers; action="decline" if they will not answer, or "cancel" to stop '
            "the run. Never make up answers: the tool runs again with them."
        )
    else:
        paused = f"PAUSED: {_pending_call(execution)} needs the user's approval"
        link = "to approve or decline it"
        steps = (
            "Ask the user whether to allow it. Then call the `resume` tool with "
            f'execution_id="{execution.id}" and action="accept" if they allow it, '
            '"decline" if they refuse (the code continues with an approval_declined result), '
            'or "cancel" to stop the run. Do not resume without their answer.'
        )
    if endpoint.approval == "browser":
        url = approval_url(endpoint, execution.id)
        start = "STILL WAITING: the user has not answered yet" if waited else paused
        return (
            f"{start}. Show the user this link {link}: {url}\n"
            "Then call the `resume` tool with "
            f'execution_id="{execution.id}"; it waits for their answer and returns the result.'
        )
    return f"{paused}.\n{steps}"


def _execution_result(
    execution: Execution, endpoint: Endpoint, *, direct: bool = False, waited: bool = False
) -> types.CallToolResult:
    if execution.status == "paused":
        note = paused_message(execution, endpoint, waited=waited)
        return _result(execution_json(execution), note=note)
    if direct and execution.status == "completed" and isinstance(execution.result, dict):
        # A direct call that was approved: the tool's own envelope, as if called at once.
        return _result(execution.result, is_error=not execution.result.get("ok", False))
    return _result(execution_json(execution), is_error=execution.status in ("failed", "expired"))


def _string(arguments: Mapping[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"`{name}` must be a non-empty string.")
    return value


def _action(arguments: Mapping[str, Any]) -> ResumeAction:
    action = _string(arguments, "action")
    if action not in RESUME_ACTIONS:
        raise InvalidInputError(f"Unknown action {action!r}: use accept, decline or cancel.")
    return action


def _content(arguments: Mapping[str, Any]) -> dict[str, Any] | None:
    content = arguments.get("content")
    if content is not None and not isinstance(content, dict):
        raise InvalidInputError("`content` must be an object of the user's answers.")
    return content


def _direct_code(address: str, arguments: Mapping[str, Any]) -> str:
    """The one-line program a direct call runs as when it needs approval."""
    return f"import json\ntools.{address}(**json.loads({json.dumps(dict(arguments))!r}))"


# -- one request ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    """One tools/call: the Executor, the endpoint, and how this connection can reach the
    human (``session`` is None where the client cannot be asked back)."""

    executor: Executor
    endpoint: Endpoint
    session: ServerSession | None
    request_id: types.RequestId | None
    is_modern: bool

    @property
    def can_elicit(self) -> bool:
        """A stateful handshake-era session whose client declared form elicitation."""
        if self.session is None or self.is_modern or not self.session.can_send_request:
            return False
        capabilities = self.session.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        # An empty elicitation capability means form mode (the 2025-06-18 shape).
        return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def _stored_execution(executor: Executor, execution_id: str) -> Execution:
    """An execution as stored now (paused, running, or how it ended)."""
    run = await executor.runs.get(execution_id)
    paused = run.status == "paused"
    return Execution(
        id=run.id,
        status=cast(Any, run.status),
        result=run.result,
        logs=run.logs,
        error=run.error,
        pending=run.pending if paused else None,
        expires_at=run.expires_at if paused else None,
    )


class _Tools:
    """The tools of every endpoint; :meth:`call` is the one place that decides what the agent
    sees for a failure."""

    def __init__(self, settings: MCPSettings, announcer: ChangeAnnouncer) -> None:
        self._settings = settings
        self._announcer = announcer
        #: Direct-mode listings per toolkit: (catalog generation, tools, name → address).
        self._direct: dict[str | None, tuple[int, list[types.Tool], dict[str, str]]] = {}

    # -- listing -------------------------------------------------------------------------------

    async def listing(self, executor: Executor, endpoint: Endpoint) -> list[types.Tool]:
        if endpoint.tools == "direct":
            tools, _ = await self._direct_listing(executor, endpoint)
            return [*tools, _resume_tool(endpoint)]
        return await list_tools(executor, endpoint)

    async def _direct_listing(
        self, executor: Executor, endpoint: Endpoint
    ) -> tuple[list[types.Tool], dict[str, str]]:
        await executor.check_catalog()
        generation = self._announcer.generation
        cached = self._direct.get(endpoint.toolkit)
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        described = {item["address"]: item for item in await executor.tools.describe_all()}
        names = direct_names(list(described))
        tools = [_direct_tool(name, described[address]) for name, address in names.items()]
        self._direct[endpoint.toolkit] = (generation, tools, names)
        return tools, names

    def input_schema(self, name: str) -> Mapping[str, Any] | None:
        """A tool's input schema by name, for the SDK's ``Mcp-Param-*`` header validation:
        the default tools' are fixed, a direct-mode tool's comes from the cached listing
        (None, nothing to validate, before the first listing)."""
        if name in _TOOL_SCHEMAS:
            return _TOOL_SCHEMAS[name]
        for _, tools, _ in self._direct.values():
            for tool in tools:
                if tool.name == name:
                    return tool.input_schema
        return None

    # -- calling -------------------------------------------------------------------------------

    async def call(
        self, request: _Request, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Run one tool call.

        An unknown tool name of the default shape is a protocol error (the client asked for
        something never listed); an :class:`ExecutorError` is a tool result with ``isError``
        and its stable code, so the agent can correct itself; any other failure is an
        ``internal_error`` result whose id points into the server log.
        """
        name, arguments = params.name, params.arguments or {}
        direct = request.endpoint.tools == "direct"
        if not direct and name not in (*_TOOL_SCHEMAS, "resume"):
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {name}")
        try:
            if params.request_state is not None:
                return await self._answered(request, params)
            if name == "resume":
                return await self._resume(request, arguments)
            if direct:
                return await self._direct_call(request, name, arguments)
            if name == "execute":
                execution = await request.executor.execute(_string(arguments, "code"), caller="mcp")
                return await self._settle(request, execution)
            if name == "search":
                return await _search(request.executor, arguments)
            return await _describe(request.executor, arguments)
        except ExecutorError as exc:
            return _result({"ok": False, "error": exc.to_error()}, is_error=True)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            logger.exception("MCP tool %s failed (incident %s)", name, incident)
            error = {
                "code": "internal_error",
                "message": f"Executor failed unexpectedly (incident {incident}); "
                "see the server log.",
                "retryable": False,
                "details": {"id": incident},
            }
            return _result({"ok": False, "error": error}, is_error=True)

    async def _direct_call(
        self, request: _Request, name: str, arguments: Mapping[str, Any]
    ) -> types.CallToolResult | types.InputRequiredResult:
        executor = request.executor
        _, names = await self._direct_listing(executor, request.endpoint)
        address = names.get(name)
        if address is None:
            raise ToolNotFoundError(
                f"No tool named {name!r} here.",
                hint="The tool list may have changed: list the tools again.",
            )
        # A call that needs approval runs as a one-line execution, so it pauses durably.
        if (await executor.tools.describe(address))["policy"] != "require_approval":
            result = await executor.call(address, arguments, caller="mcp")
            error = result.get("error") or {}
            if result["ok"] or error.get("code") not in ("approval_required", "input_required"):
                return _result(dict(result), is_error=not result["ok"])
        execution = await executor.execute(_direct_code(address, arguments), caller="mcp")
        return await self._settle(request, execution, direct=True)

    async def _resume(
        self, request: _Request, arguments: Mapping[str, Any]
    ) -> types.CallToolResult | types.InputRequiredResult:
        executor, endpoint = request.executor, request.endpoint
        execution_id = _string(arguments, "execution_id")
        direct = endpoint.tools == "direct"
        if endpoint.approval == "browser":
            if "action" in arguments:
                raise InvalidInputError(
                    "In browser approval mode the user answers on the approval page.",
                    hint="Call resume with execution_id only; it waits for their decision.",
                )
            execution, waited = await self._wait_for_decision(executor, execution_id)
            return _execution_result(execution, endpoint, direct=direct, waited=waited)
        if endpoint.approval == "native" and (request.can_elicit or request.is_modern):
            # The client asks the human; an action the model passed is not their answer.
            execution = await _stored_execution(executor, execution_id)
            return await self._settle(request, execution, direct=direct)
        execution = await executor.resume(execution_id, _action(arguments), _content(arguments))
        return await self._settle(request, execution, direct=direct)

    async def _settle(
        self, request: _Request, execution: Execution, *, direct: bool = False
    ) -> types.CallToolResult | types.InputRequiredResult:
        """The result for an execution, asking the human first where the endpoint's mode and
        the connection allow it."""
        while execution.status == "paused" and request.endpoint.approval == "native":
            if request.is_modern:
                return _input_required(execution, direct=direct)
            if not request.can_elicit:
                break
            answer = await _elicit(request, execution)
            if answer is None:
                break
            execution = await request.executor.resume(execution.id, *answer)
        return _execution_result(execution, request.endpoint, direct=direct)

    async def _answered(
        self, request: _Request, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        """The retry of an input-required round trip: the human's answer to an execution."""
        try:
            state = json.loads(params.request_state or "")
            execution_id, direct = str(state["execution_id"]), bool(state.get("direct"))
        except (ValueError, KeyError, TypeError):
            raise InvalidInputError("The request state is not one this server made.") from None
        answer = (params.input_responses or {}).get(_ANSWER)
        action = answer.action if isinstance(answer, types.ElicitResult) else None
        if action == "accept" or action == "decline":
            content = answer.content if isinstance(answer, types.ElicitResult) else None
            execution = await request.executor.resume(execution_id, action, content)
            return await self._settle(request, execution, direct=direct)
        execution = await _stored_execution(request.executor, execution_id)
        if action is None and execution.status == "paused":
            return _input_required(execution, direct=direct)  # not answered yet: ask again
        # Dismissed: the execution stays paused, and the agent learns how to go on.
        fallback = replace(request.endpoint, approval="model")
        return _execution_result(execution, fallback, direct=direct)

    async def _wait_for_decision(
        self, executor: Executor, execution_id: str
    ) -> tuple[Execution, bool]:
        """Browser mode: the execution once the human's decision has moved it on (finished,
        or paused at another call), else — after the timeout — as it stands, and True."""
        first = await _stored_execution(executor, execution_id)
        if first.status not in ("paused", "running"):
            return first, False
        current = first
        with anyio.move_on_after(self._settings.approval_timeout):
            while True:
                await anyio.sleep(self._settings.poll_interval)
                current = await _stored_execution(executor, execution_id)
                if current.status == "running":
                    continue  # the approved call is running right now
                if current.status != "paused" or current.pending != first.pending:
                    return current, False
        return current, True


def _input_required(execution: Execution, *, direct: bool) -> types.InputRequiredResult:
    state = json.dumps({"execution_id": execution.id, "direct": direct})
    message, schema = _question(execution)
    return types.InputRequiredResult(
        input_requests={
            _ANSWER: types.ElicitRequest(
                params=types.ElicitRequestFormParams(message=message, requested_schema=schema)
            )
        },
        request_state=state,
    )


def _question(execution: Execution) -> tuple[str, dict[str, Any]]:
    """What the client's form asks the human about a paused execution: an approval is an
    empty form (accepting or declining it is the answer); an upstream's question is passed
    through with its own form."""
    pending = execution.pending or {}
    if pending.get("asks") == "input":
        message = (
            f"{pending.get('message', '')} (asked by {pending.get('address', '?')}, "
            f"execution {execution.id})"
        )
        return message, dict(pending.get("schema") or {"type": "object", "properties": {}})
    return f"Allow {_pending_call(execution)}? (execution {execution.id})", _APPROVAL_SCHEMA


async def _elicit(
    request: _Request, execution: Execution
) -> tuple[ResumeAction, dict[str, Any] | None] | None:
    """Ask the human through the client's form elicitation: accept (with the form's content)
    or decline, or None when they dismissed it or the client could not ask (the execution
    stays paused)."""
    assert request.session is not None
    message, schema = _question(execution)
    try:
        answer = await request.session.elicit_form(
            message, cast(Any, schema), related_request_id=request.request_id
        )
    except Exception as exc:  # no back-channel, a refusal, a malformed answer: model mode
        logger.info("elicitation for execution %s failed: %s", execution.id, exc)
        return None
    if answer.action == "accept" or answer.action == "decline":
        return answer.action, answer.content
    return None


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


# -- announcing catalog changes ------------------------------------------------------------------


class ChangeAnnouncer:
    """Tells connected clients that the tool list changed.

    Handshake-era sessions get ``notifications/tools/list_changed`` on their standalone
    stream; 2026-07-28 clients get a ``tools_list_changed`` event on their
    ``subscriptions/listen`` stream (:attr:`listen` serves it). :meth:`run` listens to the
    Executor: its own changes at once, other processes' as it polls the catalog version.
    """

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        self.listen = ListenHandler(self.bus)
        #: Bumped on every change; listings cached under an older one are stale.
        self.generation = 0
        self._sessions: dict[str, ServerSession] = {}
        self._changed = anyio.Event()

    def track(self, key: str, session: ServerSession) -> None:
        """Remember a handshake-era session (``key``: its transport session id)."""
        self._sessions[key] = session

    def changed(self) -> None:
        """The catalog changed (called synchronously by the Executor)."""
        self.generation += 1
        self._changed.set()

    async def run(self, executor: Callable[[], Executor]) -> None:
        """Announce changes until cancelled."""
        ex = executor()
        unsubscribe = ex.on_catalog_change(self.changed)
        try:
            while True:
                with anyio.move_on_after(max(ex.settings.catalog_refresh, 0.05)):
                    await self._changed.wait()
                if not self._changed.is_set():
                    await ex.check_catalog()  # another process's change calls changed()
                    continue
                self._changed = anyio.Event()
                await self._announce()
        finally:
            unsubscribe()

    async def _announce(self) -> None:
        for key, session in list(self._sessions.items()):
            try:
                with anyio.fail_after(5):
                    await session.send_tool_list_changed()
            except Exception:  # a client gone away: forget it, tell the others
                logger.debug("dropping MCP session %s from change announcements", key)
                self._sessions.pop(key, None)
        await self.bus.publish(ToolsListChanged())


# -- the server ----------------------------------------------------------------------------------


class _RequestStateKey:
    """Seals input-required ``request_state`` under a key derived from the Executor's key
    material, so state minted before a restart (or by another replica) still opens."""

    def __init__(self, executor: Callable[[], Executor]) -> None:
        self._executor = executor
        self._codec: AESGCMRequestStateCodec | None = None

    def _inner(self) -> AESGCMRequestStateCodec:
        if self._codec is None:
            settings = self._executor().settings
            material = load_or_create_key(settings.data_dir, settings.environ)
            key = HKDF(
                algorithm=SHA256(), length=32, salt=None, info=b"executor mcp request-state"
            ).derive(material)
            self._codec = AESGCMRequestStateCodec([key])
        return self._codec

    def seal(self, payload: bytes) -> str:
        return self._inner().seal(payload)

    def unseal(self, token: str) -> bytes:
        return self._inner().unseal(token)


class _Server(Server[Any]):
    """The SDK server, declaring that the tool list changes."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True),
            experimental_capabilities,
            extensions,
        )


@dataclass
class MCPSurface:
    """The MCP server of one process: the SDK ``server`` and the :class:`ChangeAnnouncer`
    whose :meth:`ChangeAnnouncer.run` must run beside it."""

    server: Server[Any]
    announcer: ChangeAnnouncer

    def http(self, security: TransportSecuritySettings) -> HTTPTransport:
        """The streamable HTTP transport serving this server at every MCP endpoint."""
        return HTTPTransport(self.server, security)


class HTTPTransport:
    """Streamable HTTP for every MCP endpoint (an ASGI app), on two SDK session managers.

    A request is answered with one JSON body wherever the server never has to send the
    client a request of its own, which is everywhere but ``?approval=native``: there a
    handshake-era session asks the human through form elicitation, which travels on the
    request's SSE stream. JSON bodies skip the SSE machinery (a task group, a ping task and
    an event per message) and cut the server's CPU per call by about a fifth; notifications
    such as ``tools/list_changed`` still reach handshake-era clients on their GET stream.
    A client keeps one endpoint URL for its session, so its requests always reach the
    manager that holds it.
    """

    def __init__(self, server: Server[Any], security: TransportSecuritySettings) -> None:
        self._json = StreamableHTTPSessionManager(
            app=server, json_response=True, security_settings=security
        )
        self._streams = StreamableHTTPSessionManager(
            app=server, json_response=False, security_settings=security
        )

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Run both managers (their sessions end when this exits)."""
        async with self._json.run(), self._streams.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        native = Request(scope).query_params.get("approval") == "native"
        manager = self._streams if native else self._json
        await manager.handle_request(scope, receive, send)


def create_server(
    executor: Callable[[], Executor],
    *,
    endpoint: Endpoint | None = None,
    settings: MCPSettings | None = None,
) -> MCPSurface:
    """The MCP surface over the Executor that ``executor()`` returns at each request.

    A getter rather than the object, so the server can be built before the Executor is opened
    (the HTTP app opens it in its lifespan). Over HTTP each request's URL names its
    :class:`Endpoint`; ``endpoint`` serves transports without URLs (stdio).
    """
    settings = settings or MCPSettings()
    announcer = ChangeAnnouncer()
    tools = _Tools(settings, announcer)

    def endpoint_of(ctx: ServerRequestContext[Any]) -> Endpoint:
        if isinstance(ctx.request, Request):
            return Endpoint.from_request(ctx.request)
        return endpoint or Endpoint()

    async def on_list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        ex, where = executor(), endpoint_of(ctx)
        try:
            async with ex.toolkits.use(where.toolkit):
                return types.ListToolsResult(tools=await tools.listing(ex, where))
        except ExecutorError as exc:
            raise MCPError(code=types.INVALID_PARAMS, message=exc.message) from None

    async def on_call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        ex, where = executor(), endpoint_of(ctx)
        request = _Request(
            executor=ex,
            endpoint=where,
            session=ctx.session,
            request_id=ctx.request_id,
            is_modern=ctx.protocol_version in MODERN_PROTOCOL_VERSIONS,
        )
        try:
            async with ex.toolkits.use(where.toolkit):
                return await tools.call(request, params)
        except ExecutorError as exc:  # an unknown toolkit (tools.call answers the rest)
            return _result({"ok": False, "error": exc.to_error()}, is_error=True)

    async def track_sessions(ctx: ServerRequestContext[Any], call_next: CallNext) -> HandlerResult:
        if ctx.request_id is not None and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            if isinstance(ctx.request, Request):
                key = ctx.request.headers.get("mcp-session-id")
            else:
                key = "stdio"
            if key and ctx.method != "initialize":
                announcer.track(key, ctx.session)
        return await call_next(ctx)

    server = _Server(
        "executor",
        version=__version__,
        instructions=(
            "Executor runs code against the user's connected APIs. Use execute; find tools "
            "with search and describe; a call that needs approval pauses until the user answers."
        ),
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_subscriptions_listen=announcer.listen,
        # Without it, every 2026-07-28 tools/call over HTTP ran the whole tools/list handler
        # (catalog queries included) just to look for Mcp-Param-* header annotations.
        get_tool_input_schema=tools.input_schema,
    )
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        # No OpenTelemetry SDK is set up (``opentelemetry-instrument executor web`` sets one up
        # before this runs): the SDK's span per message would be a no-op costing ~2 % of a call.
        server.middleware = [
            m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)
        ]
    server.middleware.append(cast(Any, track_sessions))
    server.middleware.append(
        RequestStateBoundary(
            RequestStateSecurity(codec=_RequestStateKey(executor), ttl=DEFAULT_TTL.total_seconds()),
            default_audience="executor",
        )
    )
    return MCPSurface(server=server, announcer=announcer)


class _ToolkitEndpoint:
    """``/mcp/toolkits/<slug>``: the MCP endpoint for one toolkit, or a JSON 404 for an unknown
    slug before any MCP session starts."""

    def __init__(self, mcp: ASGIApp, executor: Callable[[], Executor]) -> None:
        self._mcp = mcp
        self._executor = executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._executor().toolkits.get(str(scope["path_params"]["slug"]))
        except ExecutorError as exc:
            await error_response(exc.to_error())(scope, receive, send)
            return
        await self._mcp(scope, receive, send)


def mcp_routes(transport: HTTPTransport, executor: Callable[[], Executor]) -> list[BaseRoute]:
    """The routes of ``/mcp`` and of every toolkit's endpoint, all served by ``transport``:
    each request's path names its toolkit, see :class:`Endpoint`. (A Route, not a Mount: a
    Mount would redirect ``/mcp`` to ``/mcp/``.)"""
    return [
        Route("/mcp", endpoint=transport),
        Route(TOOLKIT_PREFIX + "{slug}", endpoint=_ToolkitEndpoint(transport, executor)),
    ]


async def serve_stdio(endpoint: Endpoint | None = None, **open_options: Any) -> None:
    """Serve MCP over this process's stdin/stdout (``executor mcp``) until stdin closes.

    ``endpoint`` picks the approval mode, tool shape and toolkit; browser mode needs its
    ``web_url`` (the running server that shows the approval pages).
    """
    from mcp.server.stdio import stdio_server

    endpoint = endpoint or Endpoint()
    if endpoint.approval == "browser" and not endpoint.web_url:
        raise InvalidInputError(
            "Browser approval over stdio needs the web UI's address for its approval links.",
            hint="Pass Endpoint(approval='browser', web_url='http://127.0.0.1:4788').",
        )
    async with Executor.open(**open_options) as executor:
        surface = create_server(lambda: executor, endpoint=endpoint)
        async with stdio_server() as (read_stream, write_stream), anyio.create_task_group() as tg:
            tg.start_soon(surface.announcer.run, lambda: executor)
            await surface.server.run(
                read_stream, write_stream, surface.server.create_initialization_options()
            )
            tg.cancel_scope.cancel()
