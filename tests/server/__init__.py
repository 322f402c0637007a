"""Tests of the local server; ``run_app`` starts it for real on loopback."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import uvicorn

from executor import Executor
from executor.server import ServerSettings, create_app
from executor.server.security import load_or_create_token
from tests.servers import free_port
from tests.servers.petstore import PetStore


def add_petstore(data_dir: Path, petstore: tuple[PetStore, str]) -> None:
    """Add the pet store to the data dir (connection ``work``, with its API key), from sync
    code (a test that then serves the data dir from another thread or process)."""
    store, url = petstore

    async def add() -> None:
        async with Executor.open(data_dir=data_dir) as ex:
            await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
            await ex.connections.create(
                "petstore", "work", auth={"type": "api_key", "value": store.api_key}
            )
            await ex.ready()

    anyio.run(add)


@contextlib.contextmanager
def run_app(
    data_dir: Path, *, port: int | None = None, **settings: Any
) -> Iterator[tuple[str, str]]:
    """Run the server app (lifespan on: it opens the Executor) with uvicorn in a thread on
    ``port`` (default: a free loopback port); yield its base URL and bearer token; stop it
    after. ``settings`` are further :class:`ServerSettings` fields."""
    port = port or free_port()
    app = create_app(ServerSettings(host="127.0.0.1", port=port, data_dir=data_dir, **settings))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    waiting = threading.Event()
    # `started` is set once the lifespan has run and the socket listens.
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the server on port {port} failed to start")
        waiting.wait(0.01)
    try:
        yield f"http://127.0.0.1:{port}", load_or_create_token(data_dir)
    finally:
        server.should_exit = True
        thread.join(15)
