"""The local server: the MCP surface for agents (HTTP and stdio) and its security."""

from __future__ import annotations

from executor.server.app import DEFAULT_HOST, DEFAULT_PORT, ServerSettings, create_app
from executor.server.mcp import create_server, serve_stdio

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ServerSettings",
    "create_app",
    "create_server",
    "serve_stdio",
]
