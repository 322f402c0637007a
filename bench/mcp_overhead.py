"""What MCP adds to a tool call: ``execute`` with one call versus the same API called directly.

Starts the bench API, adds it as an OpenAPI source in a temporary data dir, starts the server
in its own process as ``executor web --foreground`` runs it, on a free loopback port, and
connects the official MCP client over streamable HTTP with the agent token. Interleaved per
iteration: (a) a bare httpx2 GET to the API, (b) MCP ``execute`` of code making one tool call,
(c) MCP ``search`` (a cheap round trip), and (d) the same tool called as its own MCP tool on
``/mcp?tools=direct`` (skipped, saying so, where direct mode is not served). Target: (b) and
(d) over (a) add p50 <= 5 ms, p99 <= 20 ms. The client (an agent), the server and the API
each run in their own process, as they do in use.

    .venv/bin/python bench/mcp_overhead.py [--calls 300]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
from _api import add_source, machine_speed, run_server, serve_api
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from executor.server.security import AGENT_TOKEN_FILE


def stats(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values) * 1000, values[int(len(values) * 0.99) - 1] * 1000


def ms(values: list[float]) -> str:
    p50, p99 = stats(values)
    return f"p50 {p50:7.3f} ms   p99 {p99:7.3f} ms"


async def timed(call: Awaitable[None]) -> float:
    start = time.perf_counter()
    await call
    return time.perf_counter() - start


#: Tools a direct-mode listing may serve besides the catalog's own.
_META_TOOLS = {"execute", "search", "describe", "resume"}


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


async def direct_tool(client: Client, address: str) -> str:
    """The direct-mode MCP tool name that serves ``address`` (names are the address made
    MCP-safe: compared with punctuation dropped; else the only non-meta tool)."""
    names = [tool.name for tool in (await client.list_tools()).tools]
    matches = [name for name in names if _squash(name) == _squash(address)]
    candidates = matches or [name for name in names if name not in _META_TOOLS]
    if len(candidates) != 1:
        raise SystemExit(f"cannot tell which direct tool serves {address}: {names}")
    return candidates[0]


async def serves_direct(http: httpx2.AsyncClient, url: str) -> bool:
    """Whether ``url`` (``/mcp?tools=direct``) is served: an ``initialize`` that is refused
    (4xx, e.g. "not available yet") means no."""
    params = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"},
    }
    response = await http.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params},
        headers={"Accept": "application/json, text/event-stream"},
    )
    if response.status_code >= 400:
        print(f"(d) direct mode: not served here ({response.status_code}: {response.text[:120]})")
        return False
    return True


async def measure(api: str, base: str, token: str, address: str, calls: int) -> None:
    code = f"tools.{address}(pet_id=1)"
    headers = {"Authorization": f"Bearer {token}"}
    direct: list[float] = []
    execute: list[float] = []
    search: list[float] = []
    direct_mode: list[float] = []
    async with AsyncExitStack() as stack:
        bare = await stack.enter_async_context(httpx2.AsyncClient(timeout=30))
        http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=60))
        client = await stack.enter_async_context(
            Client(streamable_http_client(f"{base}/mcp", http_client=http))
        )
        direct_url = f"{base}/mcp?tools=direct"
        direct_client: Client | None = None
        tool_name = ""
        if await serves_direct(http, direct_url):
            direct_http = await stack.enter_async_context(
                httpx2.AsyncClient(headers=headers, timeout=60)
            )
            direct_client = await stack.enter_async_context(
                Client(streamable_http_client(direct_url, http_client=direct_http))
            )
            tool_name = await direct_tool(direct_client, address)

        async def get() -> None:
            response = await bare.get(f"{api}/pets/1")
            response.raise_for_status()

        async def run() -> None:
            result = await client.call_tool("execute", {"code": code})
            data = json.loads(result.content[-1].text)  # type: ignore[union-attr]
            assert not result.is_error and data["status"] == "completed", data

        async def find() -> None:
            result = await client.call_tool("search", {"query": "get a pet", "limit": 3})
            assert not result.is_error, result

        async def call_direct() -> None:
            assert direct_client is not None
            result = await direct_client.call_tool(tool_name, {"pet_id": 1})
            assert not result.is_error, result

        steps = [(direct, get), (execute, run), (search, find)]
        if direct_client is not None:
            steps.append((direct_mode, call_direct))
        for _ in range(max(calls // 10, 5)):  # warm-up: connections, sandbox, caches
            for _, step in steps:
                await step()
        for _ in range(calls):
            for samples, step in steps:
                samples.append(await timed(step()))
    print(f"(a) bare httpx2 GET to the API                 {ms(direct)}")
    print(f"(b) MCP execute with one tool call             {ms(execute)}")
    print(f"(c) MCP search (cheap round trip)              {ms(search)}")
    if direct_mode:
        print(f"(d) MCP direct-mode call of the same tool      {ms(direct_mode)}   ({tool_name})")
    a50, a99 = stats(direct)
    for label, samples in (("(b)", execute), ("(d)", direct_mode)):
        if samples:
            b50, b99 = stats(samples)
            print(
                f"added by {label} over (a): p50 {b50 - a50:.3f} ms (target <= 5), "
                f"p99 {b99 - a99:.3f} ms (target <= 20); ratio p50 {b50 / a50:.1f}x"
            )


def main(calls: int) -> None:
    with serve_api() as api, tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        address = anyio.run(add_source, data_dir, api)
        print(f"{calls} interleaved iterations; tool {address}")
        with run_server(data_dir, data_dir / "server.log", None) as (base, _):
            token = (data_dir / AGENT_TOKEN_FILE).read_text().strip()
            anyio.run(measure, api, base, token, address, calls)
    print(f"machine: a 2M-iteration Python loop takes {machine_speed() * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    main(parser.parse_args().calls)
