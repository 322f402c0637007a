"""The MCP source plugin: upstream MCP servers over stdio, streamable HTTP and SSE.

Loading connects once, pages through ``tools/list`` and turns each tool into a definition
(``catalog.py``). Calls go through one long-lived session per connection (``session.py``),
supervised in a task the executor owns; results become envelopes (``content.py``). An upstream
that announces ``tools/list_changed``, or answers a call with "unknown tool", gets its
integration refreshed; a failed refresh keeps the last good tools.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio
import httpx2
import mcp_types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from executor.errors import (
    ExecutorError,
    InputRequiredError,
    SpecError,
    ToolNotFoundError,
    ToolTimeoutError,
    UpstreamError,
)
from executor.models import ApprovalRequest, AuthMethod
from executor.redact import redact
from executor.results import ToolResult, failure
from executor.sources.base import (
    Detection,
    FetchPolicy,
    PluginCall,
    PluginHost,
    Progress,
    SourceBundle,
    SourceConfig,
)
from executor.sources.mcp.catalog import definitions
from executor.sources.mcp.config import Upstream, parse_upstream
from executor.sources.mcp.content import UNKNOWN_TOOL, error_text, to_envelope
from executor.sources.mcp.elicitation import Exchange, answer_elicitation
from executor.sources.mcp.probe import probe_mcp
from executor.sources.mcp.session import (
    DEFAULT_CONNECT_TIMEOUT,
    LiveSession,
    Resolved,
    connect,
    fingerprint,
    resolve_upstream,
)
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.shared.exceptions import MCPError

logger = logging.getLogger("executor.sources.mcp")

#: A server listing more tools than this, or paging more than this, is refused (bounded work).
MAX_TOOLS = 50_000
MAX_PAGES = 2_000
_HTTP_AUTH_METHODS = [
    AuthMethod(id="bearer", type="bearer", description="Authorization: Bearer <token>"),
    AuthMethod(id="headers", type="custom_headers", description="Custom headers"),
]


class MCPPlugin:
    """Source plugin of kind ``mcp``."""

    kind: ClassVar[str] = "mcp"
    #: Upstream servers can change a tool's description or schema at any time: changes wait
    #: for a person's review by default.
    hold_changes_for_review: ClassVar[bool] = True
    #: The server's name, version and protocol revision change with its releases; where calls
    #: go (the stored source: command or URL) stays under review.
    unreviewed_config: ClassVar[frozenset[str]] = frozenset({"server"})

    def __init__(self) -> None:
        self._host: PluginHost | None = None
        self._sessions: dict[str, tuple[str, LiveSession]] = {}
        self._refreshing: set[str] = set()
        #: Integrations whose upstream announced a change while their refresh was running.
        self._changed_again: set[str] = set()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    def bind(self, host: PluginHost) -> None:
        """Remember the executor's host: background tasks, secrets, refresh, approvals."""
        self._host = host

    async def aclose(self) -> None:
        """Close every session and reap every stdio server process."""
        self._closed = True
        sessions = [session for _, session in self._sessions.values()]
        self._sessions.clear()
        async with anyio.create_task_group() as tasks:
            for session in sessions:
                tasks.start_soon(session.close)

    def session(self, connection_id: str) -> LiveSession | None:
        """The live session of a connection, if one was started (diagnostics and tests)."""
        entry = self._sessions.get(connection_id)
        return entry[1] if entry else None

    # -- detection -------------------------------------------------------------------------

    async def detect(self, text: str, *, url: str | None = None) -> Detection | None:
        """MCP servers are recognised by talking to them (:meth:`probe`); a pasted client
        config with ``mcpServers`` is recognised here, weakly."""
        if '"mcpServers"' in text[:65536]:
            return Detection(self.kind, 0.4, "an MCP client configuration (mcpServers)")
        return None

    async def probe(
        self, url: str, *, http: httpx2.AsyncClient, timeout: float
    ) -> Detection | None:
        """Send an MCP ``initialize`` to ``url``; a JSON-RPC answer means an MCP server."""
        return await probe_mcp(url, http=http, timeout=timeout, kind=self.kind)

    # -- loading ---------------------------------------------------------------------------

    async def load(
        self,
        config: SourceConfig,
        *,
        fetch_policy: FetchPolicy,
        progress: Progress | None = None,
    ) -> SourceBundle:
        """Connect, page through ``tools/list`` and build one tool per upstream tool."""
        upstream = parse_upstream(config.url, config.options)
        timeout = upstream.connect_timeout or fetch_policy.timeout
        resolved = await resolve_upstream(upstream, self._resolver())
        if progress is not None:
            progress("download", 0, None)
        async with connect(
            upstream,
            resolved,
            timeout=timeout,
            allow_private=fetch_policy.allow_private,
            # Declared so servers list the tools they offer only to eliciting clients, as the
            # live sessions will see them.
            elicitation=_decline_during_load,
        ) as client:
            tools = await list_tools(client, upstream, timeout=timeout, progress=progress)
            server = client.server_info
            instructions = client.instructions or ""
            protocol = client.protocol_version
        if progress is not None:
            progress("parse", len(tools), len(tools))
        built = definitions(tools)
        name = (server.title or server.name) if server else None
        title = name or (upstream.command if upstream.transport == "stdio" else upstream.url) or ""
        first_line = instructions.strip().splitlines()[0] if instructions.strip() else ""
        summary = first_line[:200] or f"MCP server {title} ({upstream.transport})"
        return SourceBundle(
            kind=self.kind,
            title=title,
            summary=summary,
            tools=built,
            auth_methods=[] if upstream.transport == "stdio" else list(_HTTP_AUTH_METHODS),
            config={
                "server": {
                    "name": server.name if server else None,
                    "version": server.version if server else None,
                    "protocol": protocol,
                }
            },
            requires_auth=False,
        )

    # -- calls -----------------------------------------------------------------------------

    async def call(self, request: PluginCall) -> ToolResult:
        """Call the upstream tool through the connection's live session.

        A question the upstream asks during the call is answered from ``request.answers`` or
        the approval callback (see :mod:`.elicitation`); one nobody could answer makes the call
        return ``input_required``, whatever the upstream made of the ``cancel`` it got.
        """
        upstream_name = str(request.tool.binding.get("name") or request.tool.name)
        try:
            upstream = _upstream_of(request)
            session = self._session(request, upstream)
        except ExecutorError as exc:
            return failure(exc)
        exchange = Exchange(request.address or request.integration, request.answers)
        try:
            with anyio.fail_after(request.timeout):
                client = await session.client(request.timeout)
                alone = bool(request.answers) and (
                    client.protocol_version not in MODERN_PROTOCOL_VERSIONS
                )
                async with session.calling(exchange, alone=alone):
                    result = await client.call_tool(
                        upstream_name,
                        dict(request.arguments),
                        read_timeout_seconds=request.timeout,
                    )
        except ExecutorError as exc:
            return failure(exc)
        except TimeoutError:
            return failure(
                ToolTimeoutError(
                    f"The MCP {upstream.label} did not answer {upstream_name} within "
                    f"{request.timeout:g} s."
                )
            )
        except MCPError as exc:
            if exchange.question is not None:
                return failure(_input_required(request, session, exchange.question))
            return self._mcp_error(request, session, upstream_name, exc)
        except (httpx2.HTTPError, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            session.reset()
            return failure(_lost(upstream))
        except RuntimeError as exc:  # the SDK's output-schema validation
            return failure(UpstreamError(f"The MCP {upstream.label}: {exc}"))
        if exchange.question is not None:
            return failure(_input_required(request, session, exchange.question))
        if result.is_error and UNKNOWN_TOOL.search(error_text(result)):
            return failure(self._unknown_tool(request, upstream_name))
        envelope = to_envelope(result, tool=upstream_name, server=upstream.label)
        return redact(envelope, session.secrets) if session.secrets else envelope

    def _mcp_error(
        self, request: PluginCall, session: LiveSession, name: str, exc: MCPError
    ) -> ToolResult:
        upstream = session.upstream
        if exc.error.code == mcp_types.CONNECTION_CLOSED:
            session.reset()
            return failure(_lost(upstream))
        if exc.error.code == mcp_types.REQUEST_TIMEOUT:
            return failure(
                ToolTimeoutError(f"The MCP {upstream.label} did not answer {name} in time.")
            )
        if UNKNOWN_TOOL.search(exc.error.message):
            return failure(self._unknown_tool(request, name))
        text = exc.error.message
        if session.secrets:
            text = str(redact(text, session.secrets))
        return failure(
            UpstreamError(
                f"The MCP {upstream.label} refused {name}: {text}",
                details={"code": exc.error.code},
            )
        )

    def _unknown_tool(self, request: PluginCall, name: str) -> ExecutorError:
        self.refresh_soon(request.integration)
        return ToolNotFoundError(
            f"The upstream MCP server no longer has the tool {name!r}.",
            hint=f"The {request.integration} catalog is being refreshed; search again.",
        )

    def _session(self, request: PluginCall, upstream: Upstream) -> LiveSession:
        """The connection's live session, started on first use (and again after credentials
        or the source config changed)."""
        if self._host is None or self._closed:
            raise UpstreamError(
                "MCP calls need a running Executor (no plugin host is bound).",
                hint="Call MCP tools through Executor.open().",
            )
        headers: dict[str, str] = {}
        if upstream.transport != "stdio":
            headers.update(request.connection_settings.get("headers") or {})
            headers.update(request.auth.headers)
        key = request.connection_id or request.integration
        digest = fingerprint(upstream, headers)
        current = self._sessions.get(key)
        if current is not None and current[0] == digest and not current[1].is_closed:
            return current[1]
        if current is not None:
            self._host.start_soon(current[1].close, name=f"mcp-close-{key}")
        resolve = self._resolver()

        async def open_resolved() -> Resolved:
            return await resolve_upstream(upstream, resolve, headers)

        session = LiveSession(
            upstream,
            open_resolved,
            connect_timeout=upstream.connect_timeout
            or min(DEFAULT_CONNECT_TIMEOUT, max(request.timeout, 1.0)),
            on_tools_changed=self._tools_changed(request.integration),
            answer=self._answer,
        )
        self._sessions[key] = (digest, session)
        self._host.start_soon(session.run, name=f"mcp-session-{key}")
        return session

    # -- upstream → catalog --------------------------------------------------------------

    def refresh_soon(self, integration: str) -> None:
        """Refresh an integration in the background (one refresh in flight per integration; a
        change announced meanwhile may have come too late for it, so it runs once more)."""
        host = self._host
        if host is None or self._closed or not integration:
            return
        if integration in self._refreshing:
            self._changed_again.add(integration)
            return
        self._refreshing.add(integration)

        async def refresh() -> None:
            try:
                while True:
                    self._changed_again.discard(integration)
                    await host.refresh(integration)
                    if integration not in self._changed_again or self._closed:
                        break
            finally:
                self._refreshing.discard(integration)
                self._changed_again.discard(integration)

        host.start_soon(refresh, name=f"mcp-refresh-{integration}")

    def _tools_changed(self, integration: str) -> Callable[[], Awaitable[None]]:
        async def on_tools_changed() -> None:
            logger.info("MCP %s: tools changed upstream; refreshing", integration)
            self.refresh_soon(integration)

        return on_tools_changed

    async def _answer(
        self, params: mcp_types.ElicitRequestParams, exchange: Exchange | None
    ) -> mcp_types.ElicitResult | mcp_types.ErrorData:
        return await answer_elicitation(params, exchange=exchange, ask=self._ask)

    async def _ask(self, approval: ApprovalRequest) -> bool | None:
        return None if self._host is None else await self._host.approve(approval)

    def _resolver(self) -> Callable[[str], Awaitable[str]] | None:
        return self._host.resolve_secret if self._host is not None else None


async def list_tools(
    client: Client, upstream: Upstream, *, timeout: float, progress: Progress | None = None
) -> list[mcp_types.Tool]:
    """Every tool the server lists, page by page, each page bounded by ``timeout``."""
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        try:
            with anyio.fail_after(timeout):
                page = await client.list_tools(cursor=cursor)
        except TimeoutError:
            raise SpecError(
                f"The MCP {upstream.label} did not list its tools within {timeout:g} s.",
                hint="Raise options.connect_timeout if the server is slow.",
            ) from None
        except MCPError as exc:
            raise SpecError(
                f"The MCP {upstream.label} failed to list its tools: {exc.error.message}."
            ) from None
        tools.extend(page.tools)
        if len(tools) > MAX_TOOLS:
            raise SpecError(
                f"The MCP {upstream.label} lists more than {MAX_TOOLS} tools.",
                hint="Split it into several servers, or filter its tools upstream.",
            )
        if progress is not None:
            progress("download", len(tools), None)
        cursor = page.next_cursor
        if cursor is None:
            return _distinct(tools)
        if cursor in seen:
            raise SpecError(f"The MCP {upstream.label} repeats a tools/list cursor.")
        seen.add(cursor)
    raise SpecError(f"The MCP {upstream.label} lists tools over more than {MAX_PAGES} pages.")


def _distinct(tools: list[mcp_types.Tool]) -> list[mcp_types.Tool]:
    """The first tool of each name (a server listing a name twice cannot mean both)."""
    by_name: dict[str, mcp_types.Tool] = {}
    for tool in tools:
        by_name.setdefault(tool.name, tool)
    return list(by_name.values())


async def _decline_during_load(
    context: ClientRequestContext, params: mcp_types.ElicitRequestParams
) -> mcp_types.ErrorData:
    return mcp_types.ErrorData(
        code=mcp_types.INVALID_REQUEST, message="Executor is only listing tools."
    )


def _upstream_of(request: PluginCall) -> Upstream:
    source = request.integration_config.get("source") or {}
    return parse_upstream(source.get("url"), source.get("options") or {})


def _input_required(
    request: PluginCall, session: LiveSession, question: dict[str, Any]
) -> InputRequiredError:
    message = str(question["message"])
    if session.secrets:
        message = str(redact(message, session.secrets))
    return InputRequiredError(
        f"The MCP {session.upstream.label} asks for input during {request.address}: {message}",
        hint="Answer with content matching details.schema (resume the paused execution), or "
        "decline; the tool then runs again with the answer.",
        details={
            "address": request.address,
            "arguments": dict(request.arguments),
            "summary": request.tool.summary,
            "message": message,
            "schema": question["schema"],
        },
    )


def _lost(upstream: Upstream) -> UpstreamError:
    return UpstreamError(
        f"The connection to the MCP {upstream.label} was lost during the call; it is being "
        "re-established.",
        hint="The call may or may not have run upstream; check before retrying.",
    )


__all__ = ["MCPPlugin"]
