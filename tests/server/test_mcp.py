"""The MCP surface end to end, through the official SDK client, over streamable HTTP and stdio."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.server._otel import OpenTelemetryMiddleware
from opentelemetry import trace

from executor import Executor
from executor.server.mcp import create_server
from tests.server import run_app
from tests.servers.petstore import PetStore

TOOL_NAMES = {"execute", "search", "describe", "resume"}
TOKEN_BUDGET = 1000
CREATE = "tools.petstore.work.pets.create_pet"


async def _add_petstore(data_dir: Path, petstore: tuple[PetStore, str]) -> PetStore:
    store, url = petstore
    async with Executor.open(data_dir=data_dir) as ex:
        await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
        await ex.connections.create(
            "petstore", "work", auth={"type": "api_key", "value": store.api_key}
        )
    return store


@pytest.fixture
def server(data_dir: Path) -> Iterator[tuple[str, str]]:
    with run_app(data_dir) as running:
        yield running


@contextlib.asynccontextmanager
async def http_client(url: str, token: str, mode: str = "auto") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


def _data(result: types.CallToolResult) -> Any:
    assert result.content[-1].type == "text"
    return json.loads(result.content[-1].text)


def _description_tokens(tools: list[types.Tool]) -> float:
    """Tokens of the tool list as the agent reads it (chars / 4 as a proxy)."""
    text = "".join(
        tool.name + (tool.description or "") + json.dumps(tool.input_schema) for tool in tools
    )
    return len(text) / 4


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_four_tools_are_listed_within_the_token_budget(
    data_dir: Path, petstore: tuple[PetStore, str], mode: str
) -> None:
    await _add_petstore(data_dir, petstore)
    with run_app(data_dir) as (url, token):
        async with http_client(url, token, mode) as client:
            tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == TOOL_NAMES
    assert _description_tokens(tools) < TOKEN_BUDGET
    execute = next(tool for tool in tools if tool.name == "execute")
    assert "- petstore.work: " in (execute.description or "")
    assert "tools)" in (execute.description or "")


async def test_execute_description_stays_in_budget_with_a_large_catalog(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    _, url = petstore
    async with Executor.open(data_dir=data_dir) as ex:
        await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
        for index in range(200):
            await ex.connections.create("petstore", f"account{index}")
    with run_app(data_dir) as (base, token):
        async with http_client(base, token) as client:
            tools = (await client.list_tools()).tools
    assert _description_tokens(tools) < TOKEN_BUDGET
    execute = next(tool for tool in tools if tool.name == "execute")
    assert "more connections: use search" in (execute.description or "")


async def test_search_and_describe_find_the_petstore_tools(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    await _add_petstore(data_dir, petstore)
    with run_app(data_dir) as (url, token):
        async with http_client(url, token) as client:
            found = await client.call_tool("search", {"query": "list all pets", "limit": 3})
            assert not found.is_error
            hits = _data(found)
            address = hits["tools"][0]["address"]
            described = await client.call_tool(
                "describe", {"addresses": [address, "petstore.work.nope"]}
            )
    assert hits["is_good_match"] is True
    assert address.startswith("petstore.work.pets.")
    assert all(hit["summary"] for hit in hits["tools"])
    first, missing = _data(described)["tools"]
    assert first["address"] == address
    assert first["input_schema"]["type"] == "object"
    assert missing["error"]["code"] == "tool_not_found"


async def test_execute_runs_code_against_the_petstore(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    store.pets[1] = {"id": 1, "name": "Rex", "tag": "dog"}
    code = "r = tools.petstore.work.pets.list_pets(limit=5)\nprint('got', len(r['data']))\n"
    code += "[p['name'] for p in r['data']]"
    with run_app(data_dir) as (url, token):
        async with http_client(url, token) as client:
            result = await client.call_tool("execute", {"code": code})
    run = _data(result)
    assert not result.is_error
    assert result.structured_content == run
    assert (run["status"], run["result"]) == ("completed", ["Rex"])
    assert "got 1" in run["logs"]
    assert run["id"]


async def test_failing_code_is_an_error_result_with_its_code(server: tuple[str, str]) -> None:
    url, token = server
    async with http_client(url, token) as client:
        result = await client.call_tool("execute", {"code": "1 +"})
    assert result.is_error
    assert _data(result)["error"]["code"] == "code_error"


async def test_an_executor_error_is_a_tool_result_with_its_stable_code(
    server: tuple[str, str],
) -> None:
    url, token = server
    async with http_client(url, token) as client:
        unknown = await client.call_tool("resume", {"execution_id": "0" * 32, "action": "accept"})
        empty = await client.call_tool("search", {"query": "  "})
    assert unknown.is_error
    assert _data(unknown)["error"]["code"] == "not_found"
    assert empty.is_error
    assert _data(empty)["error"]["code"] == "invalid_input"


async def test_approval_pauses_then_resume_accept_creates_the_pet(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    with run_app(data_dir) as (url, token):
        async with http_client(url, token) as client:
            paused = await client.call_tool("execute", {"code": f"{CREATE}(name='Tom')['data']"})
            run = _data(paused)
            assert run["status"] == "paused"
            assert store.pets == {}
            note = paused.content[0].text  # type: ignore[union-attr]
            assert "ask the user" in note.lower()
            assert f'execution_id="{run["id"]}"' in note
            assert run["pending"]["address"] == "petstore.work.pets.create_pet"
            resumed = await client.call_tool(
                "resume", {"execution_id": run["id"], "action": "accept"}
            )
            again = await client.call_tool(
                "resume", {"execution_id": run["id"], "action": "accept"}
            )
    finished = _data(resumed)
    assert finished["status"] == "completed", finished
    assert finished["result"]["name"] == "Tom"
    assert [pet["name"] for pet in store.pets.values()] == ["Tom"]
    assert _data(again)["error"]["code"] == "execution_conflict"


async def test_stdio_serves_the_same_tools_and_runs_code(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    executable = Path(sys.executable).parent / "executor"
    parameters = StdioServerParameters(
        command=str(executable),
        args=["mcp", "--in-process"],
        env={**os.environ, "EXECUTOR_DATA_DIR": str(data_dir)},
    )
    async with Client(parameters) as client:
        tools = (await client.list_tools()).tools
        paused = _data(await client.call_tool("execute", {"code": f"{CREATE}(name='Io')"}))
        resumed = _data(
            await client.call_tool("resume", {"execution_id": paused["id"], "action": "accept"})
        )
    assert {tool.name for tool in tools} == TOOL_NAMES
    assert paused["status"] == "paused"
    assert resumed["status"] == "completed", resumed
    assert [pet["name"] for pet in store.pets.values()] == ["Io"]


@pytest.mark.parametrize("tracing", [False, True], ids=["no-tracer", "tracer-set-up"])
def test_a_span_per_message_only_when_opentelemetry_is_set_up(
    monkeypatch: pytest.MonkeyPatch, tracing: bool
) -> None:
    """The SDK's span middleware costs CPU on every message even as a no-op: it is kept only
    when a tracer provider is installed (as ``opentelemetry-instrument`` does)."""
    if tracing:
        monkeypatch.setattr(trace, "get_tracer_provider", trace.NoOpTracerProvider)
    surface = create_server(lambda: pytest.fail("no request is served here"))
    spans = [m for m in surface.server.middleware if isinstance(m, OpenTelemetryMiddleware)]
    assert len(spans) == (1 if tracing else 0)
