"""The one ASGI app of the local server: ``/mcp`` (streamable HTTP), ``/api`` (JSON) and the
web UI (``/``, ``/approvals``).

The Executor is opened in the app's lifespan, and the MCP session manager runs inside it, so
both live exactly as long as the server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from executor.core import Executor
from executor.server.api import http_error, mount_api
from executor.server.mcp import MCPSettings, create_server, mcp_routes
from executor.server.security import (
    AGENT_TOKEN_FILE,
    TOKEN_FILE,
    LocalSecurity,
    allowed_hosts,
    check_bind_host,
    load_or_create_token,
)
from executor.server.web import WebUI
from executor.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4788

ExecutorFactory = Callable[[], AbstractAsyncContextManager[Executor]]


@dataclass(frozen=True)
class ServerSettings:
    """Where the local server listens and where its data lives."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=lambda: Settings.from_env().data_dir)
    #: MCP browser approval mode: how long `resume` waits for the person's decision.
    approval_timeout: float = MCPSettings.approval_timeout

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def create_app(
    settings: ServerSettings | None = None, *, executor_factory: ExecutorFactory | None = None
) -> Starlette:
    """The server app. ``executor_factory`` opens the Executor (default: ``Executor.open`` on
    the settings' data dir); it is entered in the app's lifespan.

    Raises ``invalid_input`` for a non-loopback host: local mode only listens on loopback.
    """
    settings = settings or ServerSettings()
    check_bind_host(settings.host)
    token = load_or_create_token(settings.data_dir)
    agent_token = load_or_create_token(settings.data_dir, AGENT_TOKEN_FILE)
    factory = executor_factory or (lambda: Executor.open(data_dir=settings.data_dir))
    opened: list[Executor] = []

    def current_executor() -> Executor:
        if not opened:
            raise RuntimeError("the Executor is not open (the app's lifespan has not started)")
        return opened[0]

    web = WebUI(
        current_executor,
        url=settings.url,
        agent_token=agent_token,
        token_file=settings.data_dir / TOKEN_FILE,
    )
    mcp = create_server(
        current_executor, settings=MCPSettings(approval_timeout=settings.approval_timeout)
    )
    hosts = sorted(allowed_hosts(settings.port, settings.host))
    transport = mcp.http(
        # The same rule as LocalSecurity, kept as a second line of defence inside the SDK.
        TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=hosts,
            allowed_origins=[f"http://{host}" for host in hosts],
        )
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with (
            factory() as executor,
            transport.run(),
            anyio.create_task_group() as tasks,
        ):
            opened.append(executor)
            # Tells connected agents when the tool list changes (this and other processes).
            tasks.start_soon(mcp.announcer.run, current_executor)
            # Accept requests once the first-use costs are paid (plugins, workers, statements).
            await executor.ready()
            try:
                yield {"executor": executor}
            finally:
                tasks.cancel_scope.cancel()
                opened.clear()

    return Starlette(
        routes=[
            # The JSON API, /api/health and /api/openapi.json included.
            mount_api(current_executor),
            # The web UI's pages; the browser signs in with a ?token= link (see security.py).
            *web.routes,
            # /mcp, and each toolkit's endpoint: the same MCP server, scoped by the path.
            *mcp_routes(transport, current_executor),
        ],
        middleware=[
            Middleware(
                LocalSecurity,
                token=token,
                agent_token=agent_token,
                port=settings.port,
                host=settings.host,
                page_refusal=web.refusal,
            )
        ],
        lifespan=lifespan,
        # Paths outside /api answer in the same JSON shape, never Starlette's plain text.
        exception_handlers={HTTPException: http_error},
    )


def run(settings: ServerSettings) -> None:
    """Serve the app in the foreground with uvicorn until interrupted."""
    import uvicorn

    app = create_app(settings)
    # The person who started the server gets the one command that connects an agent; the token
    # (the agent's, which opens /mcp only) stays in its 0600 file, read by the shell.
    token_file = settings.data_dir / AGENT_TOKEN_FILE
    print(
        f"Executor MCP endpoint: http://{settings.host}:{settings.port}/mcp\n"
        f"Connect an agent:  npx add-mcp http://{settings.host}:{settings.port}/mcp "
        f'--transport http --name executor --header "Authorization: Bearer $(cat {token_file})"',
        flush=True,
    )
    # No access log: a line per MCP message is noise (and ~0.1 ms a request); errors still show.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
