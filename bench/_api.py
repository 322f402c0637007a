"""A minimal JSON API in its own process, for benchmarks that need a real upstream."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SERVER = r"""
import json, sys, uvicorn
SPEC = json.loads(sys.argv[2])
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    data = SPEC if scope["path"] == "/openapi.json" else {"id": 1, "name": "Rex"}
    body = json.dumps(data).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

INTEGER = {"type": "integer"}
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "bench", "version": "1"},
    "servers": [{"url": "/"}],
    "paths": {
        "/pets/{petId}": {
            "get": {
                "operationId": "getPet",
                "tags": ["pets"],
                "parameters": [
                    {
                        "name": "petId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    {"name": "fields", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[Any], what: str, seconds: float) -> None:
    """Block until ``process`` listens on ``port``; exit with a message if it dies or is late."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                sys.exit(f"{what} did not start")
            time.sleep(0.05)


@contextlib.contextmanager
def serve_api() -> Iterator[str]:
    """Start the API (uvicorn, its own process); yield its base URL; stop it after."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), json.dumps(SPEC)])
    try:
        wait_listening(port, server, "the bench API", 20)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


async def add_source(data_dir: Path, api: str) -> str:
    """Add this API to the data dir as integration ``bench``; return its one tool's address."""
    from executor import Executor

    async with Executor.open(data_dir=data_dir) as ex:
        await ex.sources.add_openapi("bench", f"{api}/openapi.json", base_url=api)
        tools = await ex.tools.list("bench")
        await ex.ready()
    assert len(tools) == 1, tools
    return tools[0].address
