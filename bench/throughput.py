"""Calls per second through MCP: ``execute`` with one tool call, 20 concurrent clients.

Starts the bench API (bench/_api.py, its own process), adds it as an OpenAPI source in a
temporary data dir, and starts one server process (what ``executor web --foreground`` runs, on
a free port). This process is the load generator: N clients, each its own MCP session
(protocol 2025-11-25, ``initialize`` handshake), call ``execute`` with code making one tool call
back to back for ``--seconds`` after a warm-up. Target: >= 300 calls/s on a 2-core machine with
no errors. Also prints the tokens (chars / 4) of the default ``tools/list``.

Clients (``--client``):
- ``raw`` (default): plain JSON-RPC POSTs with httpx2, one shared connection pool, the SSE
  response parsed by hand. Cheap on the client side, so more CPU is left for the server.
- ``sdk``: official ``mcp`` SDK ``Client`` sessions (what a Python agent would use); the client
  side costs noticeably more CPU, which the server shares on 2 cores.

Also printed: CPU per call of the server process, of its sandbox workers (Monty subprocesses)
and of the load generator. ``--code 1`` runs code without a tool call (to split the cost);
``--profile FILE`` runs the server under cProfile (every thread) and writes its stats to FILE
on exit (read with ``python -m pstats FILE``; the profiler slows the server down).

    .venv/bin/python bench/throughput.py [--clients 20] [--seconds 10] [--client raw|sdk]
                                         [--code CODE] [--profile FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
from _api import add_source, machine_speed, run_server, serve_api
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from executor.server.security import AGENT_TOKEN_FILE

PROTOCOL = "2025-11-25"


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time (user + system, all threads) used so far by a process, and by its live
    descendants (the sandbox's Monty workers), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        children = " ".join(p.read_text() for p in Path(f"/proc/{pid}/task").glob("*/children"))
    except FileNotFoundError:  # exited meanwhile
        return 0.0, 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own, sum(sum(cpu_seconds(int(child))) for child in children.split())


def jsonrpc_result(response: httpx2.Response) -> Any:
    """The ``result`` of a JSON-RPC response sent as JSON or as one SSE ``message`` event."""
    response.raise_for_status()
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        payloads = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        message = json.loads(next(p for p in payloads if p.strip()))
    else:
        message = response.json()
    if "error" in message:
        raise RuntimeError(message["error"])
    return message["result"]


class RawSession:
    """One MCP session over plain JSON-RPC POSTs (the handshake, then requests)."""

    def __init__(self, http: httpx2.AsyncClient, url: str) -> None:
        self.http, self.url = http, url
        self.headers = {"Accept": "application/json, text/event-stream"}
        self.next_id = 0

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        return jsonrpc_result(await self.http.post(self.url, json=body, headers=self.headers))

    async def open(self) -> None:
        info = {"name": "throughput", "version": "1"}
        params = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": info}
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": "initialize", "params": params}
        response = await self.http.post(self.url, json=body, headers=self.headers)
        jsonrpc_result(response)
        self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = PROTOCOL
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        (await self.http.post(self.url, json=note, headers=self.headers)).raise_for_status()

    async def execute(self, code: str) -> dict[str, Any]:
        result = await self.request("tools/call", {"name": "execute", "arguments": {"code": code}})
        if result.get("isError"):
            raise RuntimeError(result["content"][-1]["text"])
        return dict(result["structuredContent"])


class Load:
    """The measured window: latencies, errors, and the CPU the server and this process used."""

    def __init__(self, seconds: float, server_pid: int) -> None:
        self.seconds = seconds
        self.server_pid = server_pid
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.start = self.stop = 0.0
        self.server_cpu = self.workers_cpu = self.client_cpu = 0.0

    async def loop(self, call: Any, code: str) -> None:
        while time.perf_counter() < self.stop:
            began = time.perf_counter()
            try:
                data = await call(code)
                if data["status"] != "completed":
                    raise RuntimeError(f"status {data['status']}: {data.get('error')}")
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            self.latencies.append(time.perf_counter() - began)


async def tools_list_tokens(base: str, token: str) -> tuple[int, int]:
    """Characters of the default ``tools/list`` result's tools as JSON, and the tool count."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        session = RawSession(http, f"{base}/mcp")
        await session.open()
        tools = (await session.request("tools/list", {}))["tools"]
    return len(json.dumps(tools, ensure_ascii=False)), len(tools)


async def measure_raw(base: str, token: str, code: str, clients: int, load: Load) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(headers=headers, timeout=60, limits=limits) as http:
        sessions = [RawSession(http, f"{base}/mcp") for _ in range(clients)]
        for session in sessions:
            await session.open()
        await run_clients([session.execute for session in sessions], code, load)


async def measure_sdk(base: str, token: str, code: str, clients: int, load: Load) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with contextlib.AsyncExitStack() as stack:
        calls = []
        for _ in range(clients):
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=60))
            transport = streamable_http_client(f"{base}/mcp", http_client=http)
            client = await stack.enter_async_context(Client(transport, mode="legacy"))

            async def call(code: str, client: Client = client) -> dict[str, Any]:
                result = await client.call_tool("execute", {"code": code})
                if result.is_error or result.structured_content is None:
                    raise RuntimeError(result.content[-1].text)  # type: ignore[union-attr]
                return dict(result.structured_content)

            calls.append(call)
        await run_clients(calls, code, load)


async def run_clients(calls: list[Any], code: str, load: Load) -> None:
    # One warm-up call per client (sandbox, connection pools, caches) before the clock starts.
    try:
        async with anyio.create_task_group() as group:
            for call in calls:
                group.start_soon(call, code)
    except* Exception as failed:
        raise SystemExit(f"warm-up call failed: {failed.exceptions[0]}") from None
    (server_cpu, workers_cpu), client_cpu = cpu_seconds(load.server_pid), time.process_time()
    load.start = time.perf_counter()
    load.stop = load.start + load.seconds
    async with anyio.create_task_group() as group:
        for call in calls:
            group.start_soon(load.loop, call, code)
    load.stop = time.perf_counter()
    server_after, workers_after = cpu_seconds(load.server_pid)
    load.server_cpu, load.workers_cpu = server_after - server_cpu, workers_after - workers_cpu
    load.client_cpu = time.process_time() - client_cpu


def report(load: Load, clients: int, client: str) -> None:
    elapsed = load.stop - load.start
    calls = len(load.latencies)
    ordered = sorted(load.latencies) or [0.0]
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000
    rate = calls / elapsed if elapsed else 0.0
    print(f"{clients} concurrent clients ({client}), {elapsed:.1f} s: {calls} calls")
    print(f"  {rate:7.1f} calls/s (target >= 300)   p50 {p50:.1f} ms   p99 {p99:.1f} ms")
    per_call = 1000 / max(calls, 1)
    print("  CPU per call (and share of one core):")
    for name, used in (
        ("server process", load.server_cpu),
        ("sandbox workers", load.workers_cpu),
        ("load generator", load.client_cpu),
    ):
        print(f"    {name:<16} {used * per_call:5.2f} ms  ({used / elapsed:4.0%})")
    print(f"  errors: {len(load.errors)}")
    for error in sorted(set(load.errors))[:5]:
        print(f"    {error}")


def main(clients: int, seconds: float, client: str, profile: str | None, code: str) -> None:
    with serve_api() as api, tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        address = anyio.run(add_source, data_dir, api)
        code = code or f"tools.{address}(pet_id=1)['data']['name']"
        print(f"execute: {code}")
        log = data_dir / "server.log"
        try:
            with run_server(data_dir, log, profile) as (base, pid):
                token = (data_dir / AGENT_TOKEN_FILE).read_text().strip()
                chars, count = anyio.run(tools_list_tokens, base, token)
                print(f"default tools/list: {count} tools, {chars} chars, ~{chars // 4} tokens")
                load = Load(seconds, pid)
                measure = measure_raw if client == "raw" else measure_sdk
                anyio.run(measure, base, token, code, clients, load)
        except SystemExit:
            print("".join(log.read_text(errors="replace").splitlines(True)[-30:]), file=sys.stderr)
            raise
        report(load, clients, client)
        print(f"  machine: a 2M-iteration Python loop takes {machine_speed() * 1000:.0f} ms")
        if load.errors:
            print("server log (last lines):")
            print("".join(log.read_text(errors="replace").splitlines(True)[-20:]))
        if profile:
            print(f"server profile written to {profile} (python -m pstats {profile})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--client", choices=["raw", "sdk"], default="raw")
    parser.add_argument("--profile", metavar="FILE", help="run the server under cProfile")
    parser.add_argument("--code", default="", help="other code to execute (e.g. 1: no tool call)")
    options = parser.parse_args()
    main(options.clients, options.seconds, options.client, options.profile, options.code)
