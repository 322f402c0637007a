"""The GraphQL source plugin: an endpoint (by introspection), an SDL file or introspection JSON.

Importing (``loader.py``, ``schema.py``, ``tools.py``) turns a schema into one tool per Query
and Mutation field with a bounded default selection set (``selection.py``); calling
(``request.py``) POSTs the field's document with its arguments as variables.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import TYPE_CHECKING, ClassVar

import anyio
import anyio.to_thread
import httpx2
import orjson

from executor.results import ToolResult
from executor.sources.base import (
    Detection,
    FetchPolicy,
    PluginCall,
    PluginHost,
    Progress,
    SourceBundle,
    SourceConfig,
)

if TYPE_CHECKING:
    import graphql

_SNIFF_CHARS = 64 * 1024
_INTROSPECTION = re.compile(r'"__schema"\s*:\s*\{')
_ROOT_SDL = re.compile(
    r"^\s*(?:extend\s+)?(?:type\s+(?:Query|Mutation)\b[^{]*\{|schema\s*(?:@\w+\s*)*\{)",
    re.MULTILINE,
)
_ANY_SDL = re.compile(
    r"^\s*(?:type|input|interface|enum|union|scalar)\s+[_A-Za-z]\w*", re.MULTILINE
)
_URL_HINT = re.compile(r"/graphql/?(?:\?|$)|/graphiql/?(?:\?|$)", re.IGNORECASE)
#: How many parsed schemas one process keeps for checking ``_select`` (GitHub's is ~60 MB).
_CACHED_SCHEMAS = 4


class GraphQLPlugin:
    """Source plugin of kind ``graphql``."""

    kind: ClassVar[str] = "graphql"
    #: A digest naming the schema version (the tools it yields are reviewed one by one).
    unreviewed_config: ClassVar[frozenset[str]] = frozenset({"schema_key"})

    def __init__(self) -> None:
        self._schemas: OrderedDict[str, graphql.GraphQLSchema] = OrderedDict()
        self._lock = anyio.Lock()
        self._host: PluginHost | None = None

    def bind(self, host: PluginHost) -> None:
        """Keep the executor's host: it resolves secret references in ``options.headers`` and
        reads stored schemas back (to check a ``_select`` after a restart)."""
        self._host = host

    async def detect(self, text: str, *, url: str | None = None) -> Detection | None:
        """Recognise GraphQL SDL or an introspection result (the first 64 KiB are read).

        An introspection result gives 0.95, SDL declaring ``type Query``/``type Mutation`` or
        a ``schema { }`` block 0.9, other SDL-looking text 0.5, a ``…/graphql`` URL alone 0.3.
        """
        head = text[:_SNIFF_CHARS]
        if _INTROSPECTION.search(head):
            return Detection(self.kind, 0.95, "GraphQL introspection result (__schema)")
        stripped = head.lstrip()
        if not stripped.startswith(("{", "[", "<")):
            if _ROOT_SDL.search(head):
                return Detection(self.kind, 0.9, "GraphQL SDL declaring its root types")
            if len(_ANY_SDL.findall(head)) >= 2 and "{" in head:
                return Detection(self.kind, 0.5, "text that looks like GraphQL SDL")
        if url and _URL_HINT.search(url):
            return Detection(self.kind, 0.3, "the URL looks like a GraphQL endpoint's")
        return None

    async def probe(
        self, url: str, *, http: httpx2.AsyncClient, timeout: float
    ) -> Detection | None:
        """Ask ``url`` for ``{ __typename }``; a GraphQL answer means it is an endpoint.

        Returns None for anything else (including failures); never waits beyond ``timeout``.
        """
        body = orjson.dumps({"query": "{ __typename }"})
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/graphql-response+json, application/json",
        }
        with anyio.move_on_after(timeout):
            try:
                async with http.stream(
                    "POST", url, content=body, headers=headers, timeout=timeout
                ) as response:
                    data = b""
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) > _SNIFF_CHARS:
                            return None
                    status = response.status_code
            except (httpx2.HTTPError, OSError, ValueError):
                return None
            return _judge_probe(status, data)
        return None

    async def load(
        self,
        config: SourceConfig,
        *,
        fetch_policy: FetchPolicy,
        progress: Progress | None = None,
    ) -> SourceBundle:
        """Read the schema and build one tool per Query and Mutation field."""
        # Imported here: a process that only calls tools never pays for the loading machinery.
        from executor.sources.graphql.loader import load_graphql

        resolve = self._host.resolve_secret if self._host is not None else None
        bundle, schema = await load_graphql(
            config, fetch_policy=fetch_policy, progress=progress, resolve_secret=resolve
        )
        self._remember(str(bundle.config["schema_key"]), schema)
        return bundle

    async def validate_arguments(self, request: PluginCall) -> None:
        """Check a ``_select`` against the integration's schema (parsed once, then cached):
        raise ``invalid_arguments`` naming what does not fit. The pipeline runs this before it
        asks for approval, so a mutation whose selection can only fail is never approved."""
        from executor.sources.graphql.request import check_selection

        await check_selection(request, self._schema_for)

    async def call(self, request: PluginCall) -> ToolResult:
        """POST the field's document (implemented in ``request.py``)."""
        from executor.sources.graphql.request import call_field

        return await call_field(request)

    async def _schema_for(self, request: PluginCall) -> graphql.GraphQLSchema | None:
        """The parsed schema of the call's integration: cached, else read back from the stored
        spec through the host; None when it is not at hand (the server then validates)."""
        key = request.integration_config.get("schema_key")
        if not isinstance(key, str):
            return None
        async with self._lock:
            schema = self._schemas.get(key)
            if schema is not None:
                self._schemas.move_to_end(key)
                return schema
            if self._host is None or not request.integration:
                return None
            data = await self._host.load_spec(request.integration)
            from executor.sources.graphql.loader import schema_key
            from executor.sources.graphql.schema import parse_schema

            if not data or schema_key(data) != key:
                return None
            schema = await anyio.to_thread.run_sync(parse_schema, data)
            self._remember(key, schema)
            return schema

    def _remember(self, key: str, schema: graphql.GraphQLSchema) -> None:
        self._schemas[key] = schema
        self._schemas.move_to_end(key)
        while len(self._schemas) > _CACHED_SCHEMAS:
            self._schemas.popitem(last=False)


def _judge_probe(status: int, data: bytes) -> Detection | None:
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(answer, dict):
        return None
    payload = answer.get("data")
    if isinstance(payload, dict) and isinstance(payload.get("__typename"), str):
        name = payload["__typename"]
        return Detection("graphql", 0.95, f"answers GraphQL queries ({{ __typename }} → {name})")
    errors = answer.get("errors")
    if (
        isinstance(errors, list)
        and errors
        and all(
            isinstance(error, dict) and isinstance(error.get("message"), str) for error in errors
        )
    ):
        return Detection(
            "graphql", 0.6, f"answers with GraphQL errors (HTTP {status}); it may need credentials"
        )
    return None


__all__ = ["GraphQLPlugin"]
