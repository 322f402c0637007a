"""Real upstream servers: server-everything (npm) over stdio, streamable HTTP and SSE, and
mcp-server-time (PyPI) over stdio; plus handshake counting and the initialize probe."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import mcp_types
import pytest
from mcp.server import Server

from executor import Executor
from executor.sources.base import SourceConfig
from executor.sources.mcp import MCPPlugin
from tests.servers import serve
from tests.servers.petstore import PetStore
from tests.sources.mcp.conftest import (
    EVERYTHING,
    NODE,
    CountHandshakes,
    node_server,
    serve_with_lifespan,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def everything_http() -> Iterator[str]:
    with node_server("streamableHttp") as url:
        yield url


async def _check_everything(ex: Executor, slug: str) -> None:
    names = {tool.name for tool in await ex.tools.list(slug)}
    assert {"echo", "get_sum", "get_tiny_image", "get_structured_content"} <= names
    assert await ex.call(f"{slug}.default.get_sum", {"a": 1, "b": 2}) == {
        "ok": True,
        "data": "The sum of 1 and 2 is 3.",
    }
    image = await ex.call(f"{slug}.default.get_tiny_image")
    assert [item["type"] for item in image["data"]] == ["text", "image", "text"]
    assert image["data"][1]["mime_type"] == "image/png"
    weather = await ex.call(f"{slug}.default.get_structured_content", {"location": "New York"})
    assert set(weather["data"]) == {"temperature", "conditions", "humidity"}


async def test_server_everything_over_stdio(mcp_ex: Executor) -> None:
    await mcp_ex.sources.add(
        "everything", "mcp", SourceConfig(options={"command": NODE, "args": [EVERYTHING, "stdio"]})
    )
    await _check_everything(mcp_ex, "everything")
    execution = await mcp_ex.execute("tools.everything.default.get_sum(a=40, b=2)['data']")
    assert execution.result == "The sum of 40 and 2 is 42."


async def test_server_everything_over_streamable_http(
    mcp_ex: Executor, everything_http: str
) -> None:
    await mcp_ex.sources.add("everything", "mcp", SourceConfig(url=f"{everything_http}/mcp"))
    await _check_everything(mcp_ex, "everything")


async def test_server_everything_over_sse(data_dir: Path) -> None:
    with node_server("sse") as url:
        async with Executor.open(data_dir=data_dir) as ex:
            await ex.sources.add(
                "everything", "mcp", SourceConfig(url=f"{url}/sse", options={"transport": "sse"})
            )
            await _check_everything(ex, "everything")


async def test_mcp_server_time_over_stdio(mcp_ex: Executor) -> None:
    options = {
        "command": sys.executable,
        "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
    }
    await mcp_ex.sources.add("time", "mcp", SourceConfig(options=options))
    result = await mcp_ex.call("time.default.get_current_time", {"timezone": "Europe/Paris"})
    assert result["ok"], result
    assert result["data"]["timezone"] == "Europe/Paris"


def _counting_app() -> tuple[CountHandshakes, object]:
    async def list_tools(ctx: object, params: object) -> mcp_types.ListToolsResult:
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
        return mcp_types.ListToolsResult(tools=[mcp_types.Tool(name="double", input_schema=schema)])

    async def call_tool(
        ctx: object, params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        value = (params.arguments or {})["n"] * 2
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(type="text", text=str(value))]
        )

    server = Server("counting", on_list_tools=list_tools, on_call_tool=call_tool)
    counter = CountHandshakes(server.streamable_http_app())
    return counter, counter


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_http_calls_share_one_handshake(data_dir: Path, mode: str) -> None:
    counter, app = _counting_app()
    with serve_with_lifespan(app) as url:
        async with Executor.open(data_dir=data_dir, on_approval=lambda request: True) as ex:
            await ex.sources.add(
                "count", "mcp", SourceConfig(url=f"{url}/mcp", options={"mode": mode})
            )
            after_load = counter.count
            results = [await ex.call("count.default.double", {"n": n}) for n in range(5)]
    assert [result["data"] for result in results] == ["0", "2", "4", "6", "8"]
    assert counter.count - after_load == 1  # one session for the five calls


async def test_probe_recognises_an_mcp_server_and_nothing_else(everything_http: str) -> None:
    plugin = MCPPlugin()
    async with httpx2.AsyncClient() as http:
        found = await plugin.probe(f"{everything_http}/mcp", http=http, timeout=5)
        assert found is not None and found.kind == "mcp" and found.confidence >= 0.9
        with serve(PetStore().app) as other:
            assert await plugin.probe(f"{other}/pets", http=http, timeout=5) is None
