"""A minimal JSON API in its own process, for benchmarks that need a real upstream."""

from __future__ import annotations

import contextlib
import json
import os
import signal
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


#: The server process: what ``executor web --foreground`` runs, optionally under cProfile (every
#: thread: the sandbox runs in worker threads, which a plain cProfile.run would not see).
EXECUTOR_SERVER = """
import cProfile, pstats, sys, threading
from pathlib import Path
from executor.server.app import ServerSettings, run
port, data_dir, profile = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
settings = ServerSettings(host="127.0.0.1", port=port, data_dir=data_dir)
if not profile:
    run(settings)
    sys.exit()
profiles = []
thread_run = threading.Thread.run
def profiled_run(self):
    profiler = cProfile.Profile()
    profiles.append(profiler)
    profiler.runcall(thread_run, self)
threading.Thread.run = profiled_run
main = cProfile.Profile()
profiles.append(main)
main.runcall(run, settings)
for profiler in profiles:
    profiler.disable()
stats = pstats.Stats(*profiles)
stats.dump_stats(profile)
"""


@contextlib.contextmanager
def run_server(
    data_dir: Path, log: Path, profile: str | None, source: Path | None = None
) -> Iterator[tuple[str, int]]:
    """The server (``executor.server.app.run``, as ``executor web --foreground`` runs it) in its
    own process, its output into ``log``; yield its base URL and pid; stop it after (SIGINT,
    so uvicorn shuts down cleanly and a profile gets written). ``source``: run the ``executor``
    package from that ``src`` folder (another checkout) instead of the installed one."""
    port = free_port()
    command = [sys.executable, "-c", EXECUTOR_SERVER, str(port), str(data_dir), profile or ""]
    env = {**os.environ, "EXECUTOR_DATA_DIR": str(data_dir)}
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), *filter(None, [env.get("PYTHONPATH")])])
    output = log.open("wb")
    server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, server, "the server", 60)
        yield f"http://127.0.0.1:{port}", server.pid
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        output.close()


def machine_speed() -> float:
    """Seconds this machine takes for a fixed pure-Python loop (median of 3): printed beside
    figures so that runs on machines of different speed can be compared (session machines of
    the same kind have differed by 2x)."""
    times = []
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        times.append(time.perf_counter() - began)
    return sorted(times)[1]
