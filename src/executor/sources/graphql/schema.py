"""Reading a GraphQL schema: SDL text, an introspection result, or a live endpoint.

- **SDL** (``type Query { … }``) is parsed with graphql-core and built without re-validating
  it: real schemas (GitHub's among them) break a rule or two that does not stop them working.
- **Introspection JSON** is accepted as ``{"data": {"__schema": …}}`` (a server's answer) or
  ``{"__schema": …}``.
- **An endpoint** is asked the standard introspection query by ``POST``, through the
  SSRF-guarded client of :mod:`executor.sources.fetch`, under the fetch policy's size cap and
  one deadline for the whole exchange.

Every failure is one :class:`SpecError` (the document is wrong) or :class:`FetchError` (it
could not be got), in a line or two that says what to do.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import graphql
import httpx2
import orjson

from executor.errors import FetchError, SecretError, SpecError
from executor.secrets import EnvSecretProvider
from executor.sources.base import FetchPolicy
from executor.sources.fetch import check_url, guarded_client

#: Most lexical tokens an SDL document may hold (GitHub's 1.2 MB schema has ~300,000).
MAX_SDL_TOKENS = 5_000_000
#: Resolves a secret reference to its value.
SecretLookup = Callable[[str], Awaitable[str]]
_REFERENCE = re.compile(r"[a-z][a-z0-9+.\-]*://\S+\Z")
#: How much of a non-GraphQL answer is quoted in an error.
_EXCERPT = 200
_INTROSPECTION_QUERY = graphql.get_introspection_query(descriptions=True)


def parse_schema(data: bytes, *, where: str = "The document") -> graphql.GraphQLSchema:
    """Build a schema from SDL or introspection JSON bytes; raise :class:`SpecError` if neither.

    Runs synchronously (CPU-bound): call it in a worker thread for big documents.
    """
    text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace").strip()
    if not text:
        raise SpecError(f"{where} is empty.", hint="Give GraphQL SDL or an introspection result.")
    if text.startswith(("{", "[")):  # SDL never starts with a brace: this is JSON
        return schema_from_introspection(_load_json(data, where), where=where)
    if text.startswith("<"):
        raise SpecError(
            f"{where} is HTML, not a GraphQL schema.",
            hint="Give the schema's SDL or introspection JSON (or the endpoint URL itself).",
        )
    return _schema_from_sdl(text, where)


def _load_json(data: bytes, where: str) -> Any:
    try:
        return orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        ended = exc.pos >= len(data.rstrip())
        reason = "it ends early" if ended else f"{exc.msg} at line {exc.lineno}"
        raise SpecError(
            f"{where} is not valid JSON ({reason}).",
            hint="Check that the whole introspection result was saved.",
        ) from None


def schema_from_introspection(
    document: Any, *, where: str = "The document"
) -> graphql.GraphQLSchema:
    """Build a schema from an introspection result: ``{"data": {"__schema"}}`` or
    ``{"__schema"}``."""
    if not isinstance(document, Mapping):
        raise SpecError(
            f"{where} is JSON but not an introspection result (it is not an object).",
            hint='Give {"data": {"__schema": …}} as a server returns it, or GraphQL SDL.',
        )
    body: Any = document.get("data") if "__schema" not in document else document
    if not isinstance(body, Mapping) or not isinstance(body.get("__schema"), Mapping):
        errors = document.get("errors")
        if isinstance(errors, list) and errors:
            raise SpecError(
                f"{where} holds GraphQL errors instead of a schema: {_first_message(errors)}.",
                hint="The server refused introspection; load the schema from an SDL file.",
            )
        raise SpecError(
            f"{where} is JSON but has no __schema: it is not an introspection result.",
            hint='Give {"data": {"__schema": …}} as a server returns it, or GraphQL SDL.',
        )
    try:
        schema = graphql.build_client_schema(body, assume_valid=True)  # type: ignore[arg-type]
    except (TypeError, KeyError, ValueError, AttributeError, graphql.GraphQLError) as exc:
        reason = _one_line(str(exc)) or type(exc).__name__
        raise SpecError(
            f"{where} is a broken introspection result: {reason}.",
            hint="Introspect the endpoint again with the standard introspection query.",
        ) from None
    return _check_roots(schema, where)


def _schema_from_sdl(text: str, where: str) -> graphql.GraphQLSchema:
    try:
        document = graphql.parse(text, no_location=False, max_tokens=MAX_SDL_TOKENS)
    except graphql.GraphQLError as exc:
        location = f" at line {exc.locations[0].line}" if exc.locations else ""
        raise SpecError(
            f"{where} is neither an introspection result nor valid GraphQL SDL "
            f"({_one_line(exc.message)}{location}).",
            hint="Give the schema in SDL (type Query { … }) or as introspection JSON.",
        ) from None
    except RecursionError:
        raise SpecError(f"{where} is nested too deeply to be a GraphQL schema.") from None
    try:
        schema = graphql.build_ast_schema(document, assume_valid=True, assume_valid_sdl=True)
    except (TypeError, ValueError, graphql.GraphQLError) as exc:
        raise SpecError(
            f"{where} is not a usable GraphQL schema: {_one_line(str(exc))}.",
            hint="Check the SDL: every type it names must be defined.",
        ) from None
    return _check_roots(schema, where)


def _check_roots(schema: graphql.GraphQLSchema, where: str) -> graphql.GraphQLSchema:
    if schema.query_type is None and schema.mutation_type is None:
        raise SpecError(
            f"{where} defines no Query or Mutation type, so there is nothing to call.",
            hint="Give the complete schema, with its root types.",
        )
    return schema


async def introspect(
    url: str,
    *,
    policy: FetchPolicy,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """Ask the endpoint at ``url`` for its schema; return the introspection answer's bytes.

    ``headers`` are sent as given (resolved credentials: never logged or echoed). Redirects are
    refused rather than followed: a ``POST`` with credentials must not travel elsewhere.
    """
    await check_url(url, policy=policy)
    body = orjson.dumps({"query": _INTROSPECTION_QUERY, "operationName": "IntrospectionQuery"})
    request_headers = {
        "Content-Type": "application/json",
        "Accept": "application/graphql-response+json, application/json",
        **(headers or {}),
    }
    client = guarded_client(
        allow_private=policy.allow_private, timeout=policy.timeout, follow_redirects=False
    )
    try:
        async with client:
            with anyio.fail_after(policy.timeout):
                return await _post(client, url, body, request_headers, policy.max_bytes)
    except TimeoutError:
        raise FetchError(
            f"{url} did not answer the introspection query within {policy.timeout:g} s.",
            hint="Check that the endpoint is up, or load the schema from a file.",
        ) from None
    except httpx2.HTTPError as exc:
        raise FetchError(
            f"Cannot reach {url}: {_one_line(str(exc)) or type(exc).__name__}.",
            hint="Check the URL and that the server is running.",
        ) from None


async def _post(
    client: httpx2.AsyncClient, url: str, body: bytes, headers: dict[str, str], max_bytes: int
) -> bytes:
    async with client.stream("POST", url, content=body, headers=headers) as response:
        status = response.status_code
        if response.is_redirect:
            raise FetchError(
                f"{url} redirects (HTTP {status}) instead of answering the introspection query.",
                hint=f"Use the URL it redirects to: {response.headers.get('location', '?')}.",
                status=status,
            )
        data = await _read_capped(response, url, max_bytes)
    content_type = response.headers.get("content-type", "")
    if status in (401, 403):
        raise FetchError(
            f"{url} refused the introspection query with HTTP {status}.",
            hint="Pass credentials in options.headers as env:// references, "
            "or load the schema from an SDL or introspection file.",
            status=status,
        )
    if "html" in content_type or data.lstrip()[:1] == b"<":
        raise SpecError(
            f"{url} answered with an HTML page (HTTP {status}), not GraphQL.",
            hint="Check that the URL is the GraphQL endpoint itself (often …/graphql).",
        )
    if status >= 400 and b'"errors"' not in data:
        raise FetchError(
            f"The introspection query to {url} failed with HTTP {status}: {_excerpt(data)}.",
            hint="Check the URL, or load the schema from a file.",
            status=status,
        )
    return data


async def _read_capped(response: httpx2.Response, url: str, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(
                f"The schema from {url} is larger than the {max_bytes:,}-byte limit.",
                hint="Raise max_bytes in the fetch policy if the schema is genuine.",
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def resolve_headers(
    options: Mapping[str, Any], resolve_secret: SecretLookup | None = None
) -> dict[str, str]:
    """The ``options.headers`` for introspection, their secret references resolved.

    Only references (``env://NAME``, ``secret://name``…) are accepted: the source config is
    stored, so a literal credential here would sit in the database in plain text. Without
    ``resolve_secret`` only ``env://`` references can be resolved.
    """
    raw = options.get("headers") or {}
    if not isinstance(raw, Mapping):
        raise SpecError(
            "options.headers must be an object of header name → secret reference.",
            hint='For example {"Authorization": "env://GITHUB_AUTH_HEADER"}.',
        )
    resolve = resolve_secret or EnvSecretProvider().resolve
    headers: dict[str, str] = {}
    for name, reference in raw.items():
        if not isinstance(reference, str) or not _REFERENCE.match(reference):
            raise SecretError(
                f"options.headers[{name!r}] must be a secret reference such as env://NAME, "
                "not a value.",
                hint="Source options are stored, credentials must not be: put the value in an "
                "environment variable (env://NAME) or the secret store (secret://name).",
            )
        value = await resolve(reference)
        if any(char in value for char in "\r\n\x00"):
            raise SecretError(f"The value of {reference} contains a line break or NUL.")
        headers[str(name)] = value
    return headers


def _first_message(errors: list[Any]) -> str:
    first = errors[0]
    message = first.get("message") if isinstance(first, Mapping) else first
    return _one_line(str(message))[:_EXCERPT]


def _excerpt(data: bytes) -> str:
    return _one_line(data[: _EXCERPT * 2].decode("utf-8", "replace"))[:_EXCERPT] or "(empty)"


def _one_line(text: str) -> str:
    return " ".join(text.split()).rstrip(".")


__all__ = [
    "MAX_SDL_TOKENS",
    "SecretLookup",
    "introspect",
    "parse_schema",
    "resolve_headers",
    "schema_from_introspection",
]
