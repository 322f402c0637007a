"""Loading a GraphQL source: get the schema (endpoint, file or text), build its tools.

Parsing and tool building run in a worker thread: GitHub's 1.2 MB SDL takes most of a second
to build, and the event loop must stay responsive meanwhile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import graphql

from executor.errors import InvalidInputError
from executor.models import AuthMethod
from executor.sources.base import FetchPolicy, Progress, SourceBundle, SourceConfig
from executor.sources.fetch import fetch_document
from executor.sources.graphql.schema import (
    SecretLookup,
    introspect,
    parse_schema,
    resolve_headers,
)
from executor.sources.graphql.tools import build_tools, tool_counts

_OPTIONS = ("headers", "auth")
_AUTH_CHOICES = "'bearer', 'basic' or {'type': 'api_key', 'location': ..., 'name': ...}"


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


def schema_key(data: bytes) -> str:
    """A short digest that names one version of a schema document."""
    return hashlib.sha256(data).hexdigest()[:24]


async def load_graphql(
    config: SourceConfig,
    *,
    fetch_policy: FetchPolicy,
    progress: Progress | None = None,
    resolve_secret: SecretLookup | None = None,
) -> tuple[SourceBundle, graphql.GraphQLSchema]:
    """Read the schema ``config`` names and build one tool per Query and Mutation field.

    ``resolve_secret`` resolves the references in ``options.headers`` (default: ``env://``
    only). Returns the bundle and the parsed schema (the plugin keeps it to check ``_select``s).
    Raises :class:`SpecError`, :class:`FetchError` or :class:`InvalidInputError`.
    """
    report = progress or _no_progress
    given = [value for value in (config.url, config.path, config.text) if value]
    if len(given) != 1:
        raise InvalidInputError(
            "A GraphQL source needs exactly one of url, path or text.",
            hint="Give the endpoint URL, an SDL or introspection JSON file, or the schema text.",
        )
    options = dict(config.options or {})
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise InvalidInputError(
            f"GraphQL sources do not take the option(s) {', '.join(map(repr, unknown))}.",
            hint=f"Options: {', '.join(_OPTIONS)}.",
        )
    auth_methods = _auth_methods(options.get("auth"))

    report("download", 0, None)
    if config.url:
        headers = await resolve_headers(options, resolve_secret)
        data = await introspect(config.url, policy=fetch_policy, headers=headers)
        where = config.url
    elif config.path:
        data, where = await fetch_document(config.path, policy=fetch_policy, progress=report)
    else:
        data, where = (config.text or "").encode("utf-8"), "The schema text"
    report("download", len(data), len(data))

    report("parse", 0, 1)
    schema = await anyio.to_thread.run_sync(lambda: parse_schema(data, where=where))
    report("parse", 1, 1)
    report("index", 0, None)
    tools, warnings = await anyio.to_thread.run_sync(build_tools, schema)
    report("index", len(tools), len(tools))

    source_config: dict[str, Any] = {k: v for k, v in config.to_json().items() if k != "text"}
    source_config["endpoint"] = config.url
    source_config["schema_key"] = schema_key(data)
    if config.url is None and config.base_url is None:
        warnings.append("The schema was not loaded from its endpoint: set base_url to call it.")
    queries, mutations = tool_counts(tools)
    bundle = SourceBundle(
        kind="graphql",
        title=_title(config),
        summary=_summary(schema, queries, mutations),
        tools=tools,
        auth_methods=auth_methods,
        config=source_config,
        spec=data,
        requires_auth=bool(auth_methods),
        warnings=warnings,
    )
    return bundle, schema


def _auth_methods(option: Any) -> list[AuthMethod]:
    """The auth method the ``auth`` option declares (GraphQL schemas declare none)."""
    if option is None or option == "none":
        return []
    if option == "bearer":
        return [AuthMethod("bearer", "bearer")]
    if option == "basic":
        return [AuthMethod("basic", "basic")]
    if isinstance(option, Mapping) and option.get("type") == "api_key":
        location, name = option.get("location", "header"), option.get("name")
        if location in ("header", "query", "cookie") and isinstance(name, str) and name:
            return [AuthMethod("api_key", "api_key", location=location, name=name)]
    raise InvalidInputError(
        f"The auth option {option!r} is not one Executor understands.",
        hint=f"Use {_AUTH_CHOICES}.",
    )


def _title(config: SourceConfig) -> str:
    if config.url:
        return f"{urlsplit(config.url).hostname or 'GraphQL'} GraphQL API"
    if config.path:
        return Path(config.path).stem
    return "GraphQL API"


def _summary(schema: graphql.GraphQLSchema, queries: int, mutations: int) -> str:
    description = " ".join((schema.description or "").split())
    if description:
        return description if len(description) <= 200 else description[:199] + "…"
    return f"GraphQL API: {queries} queries, {mutations} mutations."


__all__ = ["load_graphql", "schema_key"]
