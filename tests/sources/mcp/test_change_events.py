"""Tool changes a 2026-07-28 upstream announces on its ``subscriptions/listen`` stream.

The upstream is the SDK's own server on streamable HTTP, speaking the modern protocol, with
its subscription bus and listen handler in the test's hands: ``/tools`` (a plain HTTP route
next to ``/mcp``) adds or removes a tool and publishes ``ToolsListChanged`` on the bus, as a
server whose tools changed does; ``/streams`` ends every open listen stream. No test
refreshes by hand: the catalog follows the events.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import mcp_types
import pytest
from mcp.server import Server
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ServerEvent,
    ToolsListChanged,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from executor import Executor
from executor.sources.base import SourceConfig
from tests.sources.mcp.conftest import serve_with_lifespan, until_catalog

pytestmark = pytest.mark.anyio


class _Bus(InMemorySubscriptionBus):
    """The in-memory bus, counting the listen streams that subscribed to it, so the test
    knows when the executor's stream is open (events have no replay)."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self._counted = threading.Condition()

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        with self._counted:
            self.opened += 1
            self._counted.notify_all()
        return super().subscribe(listener)

    async def opened_at_least(self, count: int) -> None:
        """Wait (from the test's event loop, 30 s at most) until ``count`` streams opened."""

        def wait() -> bool:
            with self._counted:
                return self._counted.wait_for(lambda: self.opened >= count, timeout=30)

        assert await anyio.to_thread.run_sync(wait), f"fewer than {count} listen streams opened"


@dataclass
class _Gate:
    """Holds the next ``tools/list`` answer (taken before the hold) until ``release`` is set."""

    armed: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class Upstream:
    """The running modern upstream: its URL, its subscription bus and its listing gate."""

    url: str
    bus: _Bus
    gate: _Gate


def _upstream_app(bus: _Bus, gate: _Gate) -> Any:
    tools = {"first": "The tool the server starts with."}
    listen = ListenHandler(bus)

    async def list_tools(ctx: object, params: object) -> mcp_types.ListToolsResult:
        schema = {"type": "object", "properties": {}}
        result = mcp_types.ListToolsResult(
            tools=[
                mcp_types.Tool(name=name, description=text, input_schema=schema)
                for name, text in tools.items()
            ]
        )
        if gate.armed:
            gate.armed = False
            gate.holding.set()
            await anyio.to_thread.run_sync(gate.release.wait, 30)
        return result

    async def call_tool(
        ctx: object, params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        text = f"ran {params.name}"
        return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text=text)])

    async def change_tools(request: Request) -> Response:
        name = request.query_params["name"]
        if request.method == "POST":
            tools[name] = f"Added as {name}."
        else:
            del tools[name]
        await bus.publish(ToolsListChanged())
        return JSONResponse(sorted(tools))

    async def end_streams(request: Request) -> Response:
        listen.close()
        return JSONResponse({"closed": True})

    server = Server(
        "changing",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=listen,
    )
    return server.streamable_http_app(
        custom_starlette_routes=[
            Route("/tools", change_tools, methods=["POST", "DELETE"]),
            Route("/streams", end_streams, methods=["DELETE"]),
        ]
    )


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    bus, gate = _Bus(), _Gate()
    with serve_with_lifespan(_upstream_app(bus, gate)) as url:
        yield Upstream(url=url, bus=bus, gate=gate)


async def _has_tools(ex: Executor, *names: str) -> bool:
    return {tool.name for tool in await ex.tools.list("live")} == set(names)


@contextlib.asynccontextmanager
async def _following(
    data_dir: Path, upstream: Upstream, *, review_changes: bool
) -> AsyncIterator[tuple[Executor, httpx2.AsyncClient]]:
    """An Executor with the upstream added as ``live`` and its live session listening (the
    session, and its subscription, start with the connection's first call), and an HTTP client
    to change the upstream's tools with."""
    async with (
        Executor.open(data_dir=data_dir, on_approval=lambda request: True) as ex,
        httpx2.AsyncClient(base_url=upstream.url) as http,
    ):
        config = SourceConfig(url=f"{upstream.url}/mcp")
        await ex.sources.add("live", "mcp", config, review_changes=review_changes)
        assert await ex.call("live.default.first") == {"ok": True, "data": "ran first"}
        await upstream.bus.opened_at_least(1)
        yield ex, http


async def test_tool_change_events_of_a_modern_upstream_refresh_the_catalog(
    data_dir: Path, upstream: Upstream
) -> None:
    async with _following(data_dir, upstream, review_changes=False) as (ex, http):
        (await http.post("/tools", params={"name": "sprout"})).raise_for_status()
        await until_catalog(ex, lambda: _has_tools(ex, "first", "sprout"))
        assert await ex.call("live.default.sprout") == {"ok": True, "data": "ran sprout"}

        (await http.delete("/tools", params={"name": "first"})).raise_for_status()
        await until_catalog(ex, lambda: _has_tools(ex, "sprout"))
        connection = (await ex.connections.list("live"))[0]
        session = ex.plugins.get("mcp").session(connection.id)  # type: ignore[attr-defined]
        assert session is not None and session.connects == 1  # all over the one live session


async def test_an_ended_change_stream_is_opened_again_and_the_gap_refetched(
    data_dir: Path, upstream: Upstream
) -> None:
    # MCP upstreams hold changes for review by default: new tools wait for a person.
    async with _following(data_dir, upstream, review_changes=True) as (ex, http):
        (await http.delete("/streams")).raise_for_status()
        # Announced while no stream may be open: the event can be lost, the change cannot.
        (await http.post("/tools", params={"name": "sprout"})).raise_for_status()

        async def held(*names: str) -> bool:
            return [review.name for review in await ex.sources.pending_reviews("live")] == list(
                names
            )

        await until_catalog(ex, lambda: held("sprout"))
        await upstream.bus.opened_at_least(2)
        (await http.post("/tools", params={"name": "later"})).raise_for_status()
        await until_catalog(ex, lambda: held("later", "sprout"))


class _Announcements(logging.Handler):
    """Counts the plugin's "tools changed upstream" log lines; sets ``seen`` at ``count``."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.seen = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "tools changed upstream" in record.getMessage():
            self.count -= 1
            if self.count <= 0:
                self.seen.set()


async def test_a_change_announced_during_a_refresh_is_refreshed_again(
    data_dir: Path, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="executor.sources.mcp")
    announcements = _Announcements(2)
    logging.getLogger("executor.sources.mcp").addHandler(announcements)
    try:
        async with _following(data_dir, upstream, review_changes=False) as (ex, http):
            # The refresh the first change starts lists the tools before the second change.
            upstream.gate.armed = True
            (await http.post("/tools", params={"name": "one"})).raise_for_status()
            assert await anyio.to_thread.run_sync(upstream.gate.holding.wait, 30)
            (await http.post("/tools", params={"name": "two"})).raise_for_status()
            with anyio.fail_after(30):
                await announcements.seen.wait()  # the second event arrived mid-refresh
            upstream.gate.release.set()
            await until_catalog(ex, lambda: _has_tools(ex, "first", "one", "two"))
    finally:
        logging.getLogger("executor.sources.mcp").removeHandler(announcements)
