"""Connecting to an MCP server through the official SDK client, and keeping the connection.

:func:`connect` opens one ``mcp.Client`` over stdio, streamable HTTP or SSE, with secrets
resolved at connect time, a bounded handshake, the server's stderr kept (its tail, secrets
redacted) for error messages, and an event that fires when the transport ends (a crashed stdio
process, a closed stream).

:class:`LiveSession` keeps one such client per connection in a task owned by the executor:
calls reuse it (one handshake per connection, never one per call); when it is lost it is
reconnected with exponential backoff; closing it reaps the server process (the SDK closes stdin,
then terminates the process group).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import mcp_types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from executor.errors import (
    ExecutorError,
    FetchError,
    SecretError,
    ToolTimeoutError,
    UpstreamError,
)
from executor.redact import Redactor
from executor.sources.fetch import guarded_client
from executor.sources.mcp.config import Upstream, is_reference
from executor.sources.mcp.elicitation import Exchange, current_exchange
from mcp import Client
from mcp.client.session import ClientRequestContext, ElicitationFnT, IncomingMessage
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage

logger = logging.getLogger("executor.sources.mcp")
stderr_logger = logging.getLogger("executor.sources.mcp.stderr")

DEFAULT_CONNECT_TIMEOUT = 30.0
#: Reading an SSE stream may stay quiet for this long between events.
_STREAM_READ_TIMEOUT = 300.0
_STDERR_TAIL = 2000
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 30.0
#: A connection that lived this long resets the backoff.
_STABLE_AFTER = 10.0
_CLIENT_INFO = mcp_types.Implementation(name="executor", version="0.1.0")

Resolve = Callable[[str], Awaitable[str]]
#: Answers one elicitation request for the call it belongs to (None: it cannot be told).
Answer = Callable[
    [mcp_types.ElicitRequestParams, Exchange | None],
    Awaitable[mcp_types.ElicitResult | mcp_types.ErrorData],
]


@dataclass
class Resolved:
    """An upstream with its secrets resolved. Values are secret: never log them."""

    env: dict[str, str]
    headers: dict[str, str]
    secrets: list[str]


async def resolve_upstream(
    upstream: Upstream, resolve: Resolve | None, extra_headers: Mapping[str, str] | None = None
) -> Resolved:
    """Resolve the secret references in ``env`` and ``headers``; add ``extra_headers``."""
    secrets: list[str] = []

    async def value(raw: str, where: str) -> str:
        if not is_reference(raw):
            return raw
        if resolve is None:
            raise SecretError(
                f"{where} is a secret reference, and no secret resolver is available.",
                hint="Use the MCP source through an Executor.",
            )
        resolved = await resolve(raw)
        secrets.append(resolved)
        return resolved

    env = {name: await value(raw, f"env {name}") for name, raw in upstream.env.items()}
    headers = {name: await value(raw, f"header {name}") for name, raw in upstream.headers.items()}
    for name, raw in (extra_headers or {}).items():
        headers[name] = raw
        secrets.append(raw)
    return Resolved(env=env, headers=headers, secrets=secrets)


def fingerprint(upstream: Upstream, headers: Mapping[str, str]) -> str:
    """A digest that changes when the upstream or the credentials sent to it change."""
    digest = hashlib.sha256(repr(sorted(upstream.options().items())).encode())
    for name, value in sorted(headers.items()):
        digest.update(f"\0{name}\0{value}".encode())
    return digest.hexdigest()


class _Stderr:
    """The server's stderr: a pipe drained by a thread into a short tail (and the debug log)."""

    def __init__(self, label: str, redactor: Redactor) -> None:
        read_fd, write_fd = os.pipe()
        self._read_fd = read_fd
        self.writer = os.fdopen(write_fd, "w")
        self._tail: deque[str] = deque(maxlen=64)
        self._label = label
        self._redactor = redactor
        self._limiter = anyio.CapacityLimiter(1)

    def _drain(self) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(self._read_fd, 4096):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._add(line)
        if buffer:
            self._add(buffer)
        os.close(self._read_fd)

    def _add(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip()
        if self._redactor:
            line = self._redactor.redact_text(line)
        if line:
            self._tail.append(line)
            stderr_logger.debug("%s: %s", self._label, line)

    async def run(self) -> None:
        # The thread ends when every copy of the write end is closed (the process is gone).
        await anyio.to_thread.run_sync(self._drain, abandon_on_cancel=True, limiter=self._limiter)

    def close_writer(self) -> None:
        with contextlib.suppress(OSError):
            self.writer.close()

    def tail(self) -> str:
        text = " | ".join(self._tail)
        return text if len(text) <= _STDERR_TAIL else "…" + text[-_STDERR_TAIL:]


@dataclass
class Diagnostics:
    """What went wrong on a connection, for error messages."""

    stream_errors: list[str] = field(default_factory=list)
    stderr: _Stderr | None = None

    def describe(self) -> str:
        parts = []
        if self.stream_errors:
            parts.append(f"it wrote non-MCP output to stdout ({self.stream_errors[0]})")
        tail = self.stderr.tail() if self.stderr else ""
        if tail:
            parts.append(f"its stderr ends with: {tail}")
        return "; ".join(parts)


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def connect_error(
    upstream: Upstream, exc: BaseException, diagnostics: Diagnostics, *, timeout: float
) -> ExecutorError:
    """A one-line error saying why connecting to ``upstream`` failed."""
    exc = _leaf(exc)
    extra = diagnostics.describe()
    suffix = f"; {extra}" if extra else ""
    if isinstance(exc, ExecutorError):
        return exc
    if isinstance(exc, TimeoutError):
        return FetchError(
            f"The MCP {upstream.label} did not complete the handshake within {timeout:g} s"
            f"{suffix}.",
            hint="Check that it is an MCP server and that it starts; raise "
            "options.connect_timeout if it is slow to start.",
        )
    if isinstance(exc, FileNotFoundError | PermissionError):
        return FetchError(
            f"Cannot start the MCP {upstream.label}: {exc.strerror or exc}.",
            hint="Check options.command (a full path, or a program on PATH) and options.cwd.",
        )
    if isinstance(exc, MCPError) and exc.error.code == mcp_types.REQUEST_TIMEOUT:
        return connect_error(upstream, TimeoutError(), diagnostics, timeout=timeout)
    if isinstance(exc, MCPError):
        if exc.error.code == mcp_types.CONNECTION_CLOSED:
            return FetchError(
                f"The MCP {upstream.label} closed the connection during the handshake{suffix}.",
                hint="Run the command by hand to see why it exits.",
            )
        return FetchError(
            f"The MCP {upstream.label} refused the handshake: {exc.error.message}{suffix}.",
            hint="Check the URL and the credentials.",
        )
    if isinstance(exc, httpx2.HTTPStatusError):
        status = exc.response.status_code
        return FetchError(
            f"The MCP {upstream.label} answered HTTP {status}.",
            hint="Check the URL (streamable HTTP endpoints usually end in /mcp, SSE ones in "
            "/sse) and the connection's credentials.",
            status=status,
        )
    if isinstance(exc, httpx2.HTTPError | OSError):
        return FetchError(
            f"Cannot reach the MCP {upstream.label}: {str(exc) or type(exc).__name__}.",
            hint="Check that the server is running and the URL is right.",
        )
    return FetchError(
        f"Cannot connect to the MCP {upstream.label}: {type(exc).__name__}: {exc}{suffix}.",
        hint="Check the source's settings.",
    )


@contextlib.asynccontextmanager
async def _watched(
    transport: contextlib.AbstractAsyncContextManager[Any], lost: anyio.Event
) -> AsyncIterator[Any]:
    """The SDK transport's streams, with ``lost`` set when the server's stream ends."""
    async with transport as (read_stream, write_stream):
        sender, receiver = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def pump() -> None:
            try:
                async with sender:
                    async for item in read_stream:
                        await sender.send(item)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
            finally:
                lost.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(pump)
            try:
                yield receiver, write_stream
            finally:
                tasks.cancel_scope.cancel()
                receiver.close()


@contextlib.asynccontextmanager
async def connect(
    upstream: Upstream,
    resolved: Resolved,
    *,
    timeout: float,
    allow_private: bool,
    lost: anyio.Event | None = None,
    on_tools_changed: Callable[[], Awaitable[None]] | None = None,
    elicitation: ElicitationFnT | None = None,
    diagnostics: Diagnostics | None = None,
) -> AsyncIterator[Client]:
    """Open a client to ``upstream``; the handshake must finish within ``timeout`` seconds.

    Raises FetchError (one line, no secrets) when the server cannot be started or reached or
    does not speak MCP.
    """
    lost = lost or anyio.Event()
    diagnostics = diagnostics or Diagnostics()
    redactor = Redactor(resolved.secrets)

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            if len(diagnostics.stream_errors) < 3:
                text = redactor.redact_text(str(message).splitlines()[0] if str(message) else "")
                diagnostics.stream_errors.append(text[:200] or type(message).__name__)
            return
        if isinstance(message, mcp_types.ToolListChangedNotification) and on_tools_changed:
            await on_tools_changed()

    # The deadline encloses the client's whole lifetime (its task groups must exit inside the
    # scope they were entered in) and is lifted once the handshake is done.
    handshake = anyio.CancelScope(deadline=anyio.current_time() + timeout)
    try:
        with handshake:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    if upstream.transport == "stdio":
                        stderr = diagnostics.stderr = _Stderr(upstream.label, redactor)
                        tasks = await stack.enter_async_context(anyio.create_task_group())
                        stack.callback(tasks.cancel_scope.cancel)
                        tasks.start_soon(stderr.run)
                        transport = stdio_client(
                            _stdio_parameters(upstream, resolved), stderr.writer
                        )
                    else:
                        transport = await _http_transport(
                            upstream, resolved, stack, timeout, allow_private
                        )
                    client = Client(
                        _watched(transport, lost),
                        mode=upstream.mode,
                        cache=None,
                        read_timeout_seconds=timeout,
                        client_info=_CLIENT_INFO,
                        message_handler=on_message,
                        elicitation_callback=elicitation,
                    )
                    try:
                        await stack.enter_async_context(client)
                    finally:
                        # The child holds its own copy now; ours would keep the drain thread alive.
                        if diagnostics.stderr is not None:
                            diagnostics.stderr.close_writer()
                except Exception as exc:
                    raise connect_error(upstream, exc, diagnostics, timeout=timeout) from None
                handshake.deadline = math.inf
                yield client
    except BaseExceptionGroup as group:
        # The transports' task groups wrap errors (ours and the caller's): unwrap a lone one.
        leaf = _leaf(group)
        if isinstance(leaf, Exception):
            raise leaf from None
        raise
    if handshake.cancelled_caught:
        raise connect_error(upstream, TimeoutError(), diagnostics, timeout=timeout)


def _stdio_parameters(upstream: Upstream, resolved: Resolved) -> StdioServerParameters:
    return StdioServerParameters(
        command=upstream.command or "",
        args=list(upstream.args),
        env=resolved.env or None,
        cwd=upstream.cwd,
    )


async def _http_transport(
    upstream: Upstream,
    resolved: Resolved,
    stack: contextlib.AsyncExitStack,
    timeout: float,
    allow_private: bool,
) -> Any:
    """The SDK transport for streamable HTTP or SSE, through an SSRF-guarded client."""
    http_timeout = httpx2.Timeout(timeout, read=_STREAM_READ_TIMEOUT)
    if upstream.transport == "http":
        http = guarded_client(
            allow_private=allow_private,
            headers=resolved.headers,
            timeout=http_timeout,
            follow_redirects=False,
        )
        await stack.enter_async_context(http)
        return streamable_http_client(upstream.url or "", http_client=http)

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return guarded_client(
            allow_private=allow_private,
            headers=headers,
            timeout=timeout or http_timeout,
            auth=auth,
            follow_redirects=False,
        )

    return sse_client(
        upstream.url or "",
        headers=resolved.headers,
        timeout=timeout,
        sse_read_timeout=_STREAM_READ_TIMEOUT,
        httpx_client_factory=factory,
    )


class LiveSession:
    """One long-lived client for one connection, supervised in a background task.

    :meth:`run` connects, waits until the transport is lost or the session is closed, and
    reconnects with exponential backoff (0.5 s doubling up to 30 s; a call arriving during the
    backoff triggers an immediate attempt). :meth:`client` hands the connected client to calls,
    which run inside :meth:`calling` so the upstream's questions reach ``answer`` with the call
    they belong to.
    """

    def __init__(
        self,
        upstream: Upstream,
        open_resolved: Callable[[], Awaitable[Resolved]],
        *,
        connect_timeout: float,
        on_tools_changed: Callable[[], Awaitable[None]],
        answer: Answer,
    ) -> None:
        self.upstream = upstream
        self._open_resolved = open_resolved
        self._connect_timeout = connect_timeout
        self._on_tools_changed = on_tools_changed
        self._answer = answer
        #: The exchanges of the calls in flight, and the one running alone (if any).
        self._calls: list[Exchange] = []
        self._alone: Exchange | None = None
        self._waiting = 0
        self._client: Client | None = None
        self._error: ExecutorError | None = None
        self._lost = anyio.Event()
        self._stop = anyio.Event()
        self._retry_now = anyio.Event()
        self._changed = anyio.Event()
        self._done = anyio.Event()
        self._attempts = 0
        #: How many times this session connected (a handshake each), for diagnostics and tests.
        self.connects = 0
        self.secrets: list[str] = []

    @property
    def is_closed(self) -> bool:
        return self._stop.is_set()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def run(self) -> None:
        """Keep the session connected until :meth:`close`."""
        delay = 0.0
        try:
            while not self._stop.is_set():
                connected_at: float | None = None
                self._lost = anyio.Event()
                self._retry_now = anyio.Event()
                try:
                    resolved = await self._open_resolved()
                    self.secrets = resolved.secrets
                    async with connect(
                        self.upstream,
                        resolved,
                        timeout=self._connect_timeout,
                        allow_private=True,
                        lost=self._lost,
                        on_tools_changed=self._on_tools_changed,
                        elicitation=self._elicit,
                    ) as client:
                        connected_at = time.monotonic()
                        self.connects += 1
                        self._client, self._error = client, None
                        self._attempts += 1
                        self._notify()
                        async with anyio.create_task_group() as waiters:

                            async def until(event: anyio.Event) -> None:
                                await event.wait()
                                waiters.cancel_scope.cancel()

                            waiters.start_soon(until, self._stop)
                            waiters.start_soon(until, self._lost)
                            waiters.start_soon(self._listen, client)
                        self._client = None
                except Exception as exc:
                    error = exc if isinstance(exc, ExecutorError) else _lost_error(self, exc)
                    self._client, self._error = None, error
                    if connected_at is None:
                        self._attempts += 1
                    logger.warning("MCP %s: %s", self.upstream.label, error.message)
                    self._notify()
                if self._stop.is_set():
                    break
                self._client = None
                if connected_at is not None:
                    logger.info("MCP %s: connection lost; reconnecting", self.upstream.label)
                    if time.monotonic() - connected_at >= _STABLE_AFTER:
                        delay = 0.0
                delay = min(max(delay * 2, _BACKOFF_FIRST), _BACKOFF_MAX)
                with anyio.move_on_after(delay):
                    async with anyio.create_task_group() as waiters:

                        async def wake(event: anyio.Event) -> None:
                            await event.wait()
                            waiters.cancel_scope.cancel()

                        waiters.start_soon(wake, self._stop)
                        waiters.start_soon(wake, self._retry_now)
        finally:
            self._client = None
            self._done.set()
            self._notify()

    async def _listen(self, client: Client) -> None:
        """Follow a 2026-07-28 server's tool changes on its ``subscriptions/listen`` stream
        (older revisions send ``notifications/tools/list_changed``, handled in connect).

        The stream has no replay: when it ends or drops while the session lives on, it is
        opened again (with the session's backoff) and the catalog refreshed, since changes
        made in the gap were never announced. A server that does not serve the method is left
        alone: the session works without it.
        """
        if not _announces_tool_changes(client):
            return
        delay = 0.0
        reopened = False
        while True:
            opened_at: float | None = None
            try:
                async with client.listen(tools_list_changed=True) as subscription:
                    opened_at = time.monotonic()
                    if reopened:
                        await self._on_tools_changed()
                    async for event in subscription:
                        if isinstance(event, ToolsListChanged):
                            await self._on_tools_changed()
                logger.info("MCP %s: the server ended the tool change stream", self.upstream.label)
            except MCPError as exc:
                if exc.error.code == mcp_types.METHOD_NOT_FOUND:
                    logger.debug("MCP %s: no subscriptions/listen", self.upstream.label)
                    return
                logger.info("MCP %s: tool change stream: %s", self.upstream.label, exc)
            except Exception as exc:  # dropped, timed out: listen again, as the spec says
                logger.info("MCP %s: tool change stream lost: %s", self.upstream.label, exc)
            reopened = True
            if opened_at is not None and time.monotonic() - opened_at >= _STABLE_AFTER:
                delay = 0.0
            delay = min(max(delay * 2, _BACKOFF_FIRST), _BACKOFF_MAX)
            await anyio.sleep(delay)

    async def client(self, timeout: float) -> Client:
        """The connected client, waiting up to ``timeout`` seconds for a (re)connection."""
        if self._client is not None:
            return self._client
        target = self._attempts + 1
        self._retry_now.set()
        with anyio.move_on_after(timeout):
            while self._client is None and self._attempts < target and not self._done.is_set():
                await self._changed.wait()
        if self._client is not None:
            return self._client
        if self._error is not None and self._attempts >= target:
            raise self._error
        if self._done.is_set():
            raise UpstreamError(f"The MCP {self.upstream.label} session is closed.")
        raise ToolTimeoutError(
            f"The MCP {self.upstream.label} did not connect within {timeout:g} s.",
            hint="Check that the server is running.",
        )

    @contextlib.asynccontextmanager
    async def calling(self, exchange: Exchange, *, alone: bool = False) -> AsyncIterator[None]:
        """Run one call with its exchange, so the upstream's questions during it reach it.

        ``alone`` (a call carrying answers, on a handshake-era connection): keep new calls
        waiting, wait until the calls in flight have ended, and run, so every question that
        arrives meanwhile is this call's.
        """
        self._waiting += 1
        try:
            while self._alone is not None:
                await self._changed.wait()
            if alone:
                self._alone = exchange  # new calls wait from now on
                while self._calls:
                    await self._changed.wait()
            self._calls.append(exchange)
        except BaseException:  # cancelled while waiting: let the others go
            if self._alone is exchange:
                self._alone = None
                self._notify()
            raise
        finally:
            self._waiting -= 1
        token = current_exchange.set(exchange)
        try:
            yield
        finally:
            current_exchange.reset(token)
            self._calls.remove(exchange)
            if self._alone is exchange:
                self._alone = None
            if self._waiting:
                self._notify()

    async def _elicit(
        self, context: ClientRequestContext, params: mcp_types.ElicitRequestParams
    ) -> mcp_types.ElicitResult | mcp_types.ErrorData:
        # 2026-07-28: the SDK runs this in the calling task, whose exchange is current.
        # Handshake era: this runs in the receive loop, and only a lone call is certain.
        exchange = current_exchange.get()
        if exchange is None or exchange not in self._calls:
            exchange = self._calls[0] if len(self._calls) == 1 else None
        return await self._answer(params, exchange)

    async def connected(self, count: int) -> None:
        """Wait until this session has connected ``count`` times (diagnostics and tests)."""
        while self.connects < count:
            await self._changed.wait()

    def reset(self) -> None:
        """Drop the current connection (after a transport failure); the supervisor reconnects."""
        self._lost.set()

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the session and wait (bounded) until its server process has been reaped."""
        self._stop.set()
        with anyio.move_on_after(timeout):
            await self._done.wait()


def _announces_tool_changes(client: Client) -> bool:
    """Whether ``client`` talks 2026-07-28 to a server that announces tool list changes
    (they then arrive on a ``subscriptions/listen`` stream)."""
    if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    tools = client.server_capabilities.tools
    return tools is not None and bool(tools.list_changed)


def _lost_error(session: LiveSession, exc: BaseException) -> ExecutorError:
    return UpstreamError(
        f"The MCP {session.upstream.label} failed: {type(_leaf(exc)).__name__}: {_leaf(exc)}."
    )
