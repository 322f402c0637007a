"""Loading a Discovery source: download (or read), parse and build the tools off the event loop."""

from __future__ import annotations

from typing import Any

import anyio.to_thread

from executor.errors import InvalidInputError
from executor.models import ToolDefinition
from executor.sources.base import FetchPolicy, Progress, SourceBundle, SourceConfig
from executor.sources.discovery.document import auth_methods, parse_discovery, service_location
from executor.sources.discovery.methods import MethodBuilder, count_methods
from executor.sources.fetch import fetch_document


async def load_discovery(
    config: SourceConfig, *, fetch_policy: FetchPolicy, progress: Progress | None = None
) -> SourceBundle:
    """Read the Discovery document ``config`` names and build its tools and auth methods.

    Raises :class:`SpecError` for a malformed or unsupported document and :class:`FetchError`
    when it cannot or may not be fetched.
    """
    sources = [value for value in (config.url, config.path, config.text) if value]
    if len(sources) != 1:
        raise InvalidInputError(
            "A Discovery source needs exactly one of url, path or text.",
            hint="Give the document's URL (…/apis/gmail/v1/rest), a file, or its text.",
        )
    if progress:
        progress("download", 0, None)
    location: str | None = None
    if config.text:
        data = config.text.encode("utf-8")
    else:
        data, location = await fetch_document(sources[0], policy=fetch_policy, progress=progress)
    if progress:
        progress("download", len(data), len(data))
        progress("parse", 0, 1)
    document = await anyio.to_thread.run_sync(lambda: parse_discovery(data, location=location))
    total = count_methods(document)
    if progress:
        progress("parse", 1, 1)
        progress("index", 0, total)
    where = service_location(document, has_base_url=bool(config.base_url))
    builder = MethodBuilder(document, root_url=where.root_url, service_path=where.service_path)
    tools = await anyio.to_thread.run_sync(builder.build)
    if progress:
        progress("index", total, total)
    methods = auth_methods(document)
    warnings = list(builder.warnings)
    if not tools and not warnings:
        warnings.append("The document declares no methods, so the integration has no tools.")
    source_config: dict[str, Any] = {
        key: value for key, value in config.to_json().items() if key != "text"
    }
    source_config["api"] = str(document.get("id") or "")
    return SourceBundle(
        kind="discovery",
        title=_text(document.get("title")) or _text(document.get("name")) or "Google API",
        summary=_first_line(document.get("description")),
        tools=tools,
        auth_methods=methods,
        config=source_config,
        spec=data,
        requires_auth=_requires_auth(tools),
        warnings=warnings,
    )


def _requires_auth(tools: list[ToolDefinition]) -> bool:
    """Whether some method needs OAuth scopes (a document without them needs no credentials)."""
    return any(tool.binding.get("scopes") for tool in tools)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _first_line(value: Any) -> str:
    lines = _text(value).splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= 200 else line[:199] + "…"


__all__ = ["load_discovery"]
