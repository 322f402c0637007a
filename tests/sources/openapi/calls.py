"""Build and run OpenAPI calls by hand, the way the call pipeline hands them to the plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx2

from executor.models import ToolDefinition
from executor.results import ToolResult
from executor.sources.base import AppliedAuth, PluginCall
from executor.sources.openapi.request import call_operation


def binding(
    method: str = "GET",
    path: str = "/",
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    servers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A binding in the shape the importer stores."""
    return {
        "method": method,
        "path": path,
        "servers": servers or [],
        "parameters": parameters or [],
        "body": body,
        "security": [],
    }


def param(name: str, location: str, *, arg: str | None = None, **options: Any) -> dict[str, Any]:
    """One parameter of a binding, with the spec's default style for its location."""
    style = options.pop("style", "form" if location in ("query", "cookie") else "simple")
    return {
        "name": name,
        "in": location,
        "arg": arg or name,
        "required": options.pop("required", location == "path"),
        "style": style,
        "explode": options.pop("explode", style == "form"),
        "allow_reserved": options.pop("allow_reserved", False),
        "content_type": options.pop("content_type", None),
    }


async def call(
    http: httpx2.AsyncClient,
    tool_binding: dict[str, Any],
    arguments: Mapping[str, Any] | None = None,
    *,
    base_url: str | None = None,
    integration_config: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    auth: AppliedAuth | None = None,
    time_limit: float = 10.0,
) -> ToolResult:
    """Run one call through :func:`call_operation`; ``base_url`` goes into connection settings."""
    connection_settings = dict(settings or {})
    if base_url is not None:
        connection_settings["base_url"] = base_url
    tool = ToolDefinition(
        name="test.op",
        summary="",
        description="",
        input_schema={"type": "object"},
        binding=tool_binding,
    )
    request = PluginCall(
        tool=tool,
        arguments=dict(arguments or {}),
        integration_config=dict(integration_config or {}),
        connection_settings=connection_settings,
        auth=auth or AppliedAuth(),
        http=http,
        timeout=time_limit,
    )
    return await call_operation(request)


async def echoed(http: httpx2.AsyncClient, echo_url: str, *args: Any, **kwargs: Any) -> Any:
    """Call through the echo API's ``/echo`` root and return what the server saw."""
    result = await call(http, *args, base_url=f"{echo_url}/echo", **kwargs)
    assert result["ok"], result
    return result["data"]


def header(seen: Mapping[str, Any], name: str) -> list[str]:
    """Every value the server received for a header (names compared case-insensitively)."""
    return [value for key, value in seen["headers"] if key.lower() == name.lower()]
