"""Carry out one GraphQL field: binding + arguments → ``POST {query, variables}`` → envelope.

- **Where:** the connection's ``base_url``, else the integration's, else the endpoint the
  schema was introspected from. For GraphQL the base URL is the endpoint itself
  (``https://api.github.com/graphql``).
- **What:** the document is built as an AST (see :mod:`.selection`) with the tool's default
  selection or the caller's ``_select``; arguments travel as ``variables``. A ``_select`` is
  checked against the schema by :func:`check_selection`, which the call pipeline runs before
  it asks for approval (when the schema is at hand), so nothing is sent and nobody is asked
  about a selection that can only fail.
- **Answers:**
  - ``data.<field>`` with no ``errors`` → ``{"ok": True, "data": <the field's value>}``;
  - ``errors`` with the field's data missing or null → ``{"ok": False}`` with the first
    message, every error (scrubbed) in ``details.errors``, and a code from the error's
    ``extensions.code`` (or GitHub's ``type``): ``UNAUTHENTICATED`` → ``auth_required``,
    validation and bad-input errors → ``invalid_arguments``, rate limits → a retryable
    ``upstream_error``, anything else → ``upstream_error``;
  - **partial data** (the field has data *and* there are errors) → ``ok`` with the data and the
    scrubbed errors next to it under ``errors``: the agent gets what the API could give;
  - HTTP 401 (and 403 with a challenge) → ``auth_required``, as for OpenAPI; other error
    statuses without a GraphQL body → ``upstream_error``; HTML or other non-GraphQL answers
    → ``upstream_error`` saying the endpoint did not answer GraphQL.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import graphql
import httpx2
import orjson
from graphql.language import ast

from executor.errors import (
    AuthRequiredError,
    ExecutorError,
    InvalidArgumentsError,
    InvalidInputError,
    UpstreamError,
)
from executor.results import ToolResult, failure, ok
from executor.sources.base import PluginCall
from executor.sources.fetch import CONNECT_TIMEOUT
from executor.sources.graphql.selection import (
    build_document,
    parse_selection,
    parse_stored_selection,
    validate_document,
    variables_json,
)
from executor.sources.graphql.tools import SELECT_ARGUMENT
from executor.sources.openapi.response import (
    EXCERPT_CHARS,
    MAX_TEXT_BYTES,
    Redactor,
    RetryableUpstreamError,
    Target,
    map_http_errors,
    read_body,
    to_result,
)

#: Finds the schema of the integration a call belongs to (None when it is not at hand).
SchemaLookup = Callable[[PluginCall], Awaitable[graphql.GraphQLSchema | None]]
#: Most GraphQL errors passed on in one result.
MAX_ERRORS = 20
_AUTH_CODES = frozenset({"UNAUTHENTICATED", "INSUFFICIENT_SCOPES", "UNAUTHORIZED"})
_INPUT_CODES = frozenset(
    {
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_PARSE_FAILED",
        "BAD_USER_INPUT",
        "BAD_REQUEST",
        "ARGUMENT_ERROR",
        "VALIDATION",
    }
)
_RATE_CODES = frozenset({"RATE_LIMITED", "RATE_LIMIT", "TOO_MANY_REQUESTS", "THROTTLED"})
_TAG = re.compile(r"<[^>]+>")


async def call_field(request: PluginCall) -> ToolResult:
    """Call the field ``request.tool`` describes; never raises for an expected failure.

    The caller's ``_select`` is parsed here, and checked against the schema by
    :func:`check_selection` beforehand (the pipeline runs it before approval).
    """
    try:
        document, values = _field_document(request)
        endpoint = resolve_endpoint(request.integration_config, request.connection_settings)
        field = str(request.tool.binding["field"])
        payload = {
            "query": graphql.print_ast(document),
            "variables": values,
            "operationName": field,
        }
        return await _post(request, endpoint, orjson.dumps(payload), field)
    except ExecutorError as exc:
        return failure(exc)


async def check_selection(request: PluginCall, schema_for: SchemaLookup) -> None:
    """Raise :class:`InvalidArgumentsError` when the call's ``_select`` is not a selection or
    does not fit the schema (``Cannot query field 'x' on type 'Book'. Did you mean 'y'?``).

    Nothing is sent. Without a ``_select`` this costs nothing; without the schema at hand only
    the syntax is checked (the server then judges the fields).
    """
    if SELECT_ARGUMENT not in request.arguments:
        return
    document, _ = _field_document(request)
    schema = await schema_for(request)
    if schema is not None:
        validate_document(schema, document, argument=SELECT_ARGUMENT)


def _field_document(request: PluginCall) -> tuple[ast.DocumentNode, dict[str, Any]]:
    """The document for the call's field (the caller's ``_select`` or the default selection)
    and its ``variables``."""
    binding = request.tool.binding
    arguments = dict(request.arguments)
    select = arguments.pop(SELECT_ARGUMENT, None)
    values, declared = variables_json(arguments, binding.get("arguments") or [])
    selection: ast.SelectionSetNode | None
    if select is not None:
        if not isinstance(select, str):
            raise InvalidArgumentsError(
                f"{SELECT_ARGUMENT} must be a string holding a GraphQL selection set.",
                hint=f"For example {SELECT_ARGUMENT}='{{ id name }}'.",
            )
        selection = parse_selection(select, argument=SELECT_ARGUMENT)
    else:
        selection = parse_stored_selection(binding.get("selection"))
    document = build_document(
        operation=str(binding["operation"]),
        field=str(binding["field"]),
        variables=declared,
        selection_set=selection,
    )
    return document, values


def resolve_endpoint(
    integration_config: Mapping[str, Any], connection_settings: Mapping[str, Any]
) -> str:
    """The URL calls are POSTed to: connection ``base_url`` > integration ``base_url`` >
    the introspected endpoint."""
    for value in (
        connection_settings.get("base_url"),
        integration_config.get("base_url"),
        integration_config.get("endpoint"),
    ):
        if value:
            url = str(value)
            if not re.match(r"https?://", url, re.IGNORECASE):
                raise InvalidInputError(
                    f"The GraphQL endpoint {url!r} is not an http(s) URL.",
                    hint="Set base_url to the endpoint, e.g. https://api.example.com/graphql.",
                )
            return url
    raise InvalidInputError(
        "This GraphQL source was loaded from a file, so Executor does not know its endpoint.",
        hint="Set base_url on the connection (or the integration) to the GraphQL endpoint URL.",
    )


async def _post(request: PluginCall, endpoint: str, body: bytes, field: str) -> ToolResult:
    target = Target.of("POST", endpoint)
    redactor = Redactor.for_auth(request.auth)
    headers: dict[str, str] = {}
    for name, value in dict(request.connection_settings.get("headers") or {}).items():
        if "\r" in str(value) or "\n" in str(value):
            raise InvalidInputError(
                f"The connection's header {name!r} contains a line break, which HTTP cannot carry.",
                hint="Fix the headers setting of the connection.",
            )
        headers[str(name)] = str(value)
    headers["Content-Type"] = "application/json"
    headers["Accept"] = "application/graphql-response+json, application/json;q=0.9"
    headers.update(request.auth.headers)  # credentials win over every other setting
    if request.auth.cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in request.auth.cookies.items())
    # The time limit bounds the whole exchange, not each read (as for OpenAPI calls).
    with (
        map_http_errors(target, timeout=request.timeout, redactor=redactor),
        anyio.fail_after(request.timeout),
    ):
        http_request = request.http.build_request(
            "POST",
            endpoint,
            params=dict(request.auth.query) or None,
            headers=headers,
            content=body,
            timeout=httpx2.Timeout(None, connect=min(request.timeout, CONNECT_TIMEOUT)),
        )
        if not request.auth.cookies:
            # The pooled client keeps cookies upstream set earlier; one call must not steer
            # the next.
            http_request.headers.pop("cookie", None)
        response = await request.http.send(http_request, stream=True, follow_redirects=False)
        try:
            body_bytes, is_complete = await read_body(response, MAX_TEXT_BYTES)
        finally:
            await response.aclose()
    return _to_result(response, body_bytes, is_complete, target, redactor, field)


def _to_result(
    response: httpx2.Response,
    body: bytes,
    is_complete: bool,
    target: Target,
    redactor: Redactor,
    field: str,
) -> ToolResult:
    status = response.status_code
    if status == 401 or status == 403:
        # The same rules as OpenAPI: 401 (or 403 with a challenge) is auth_required.
        return to_result(response, body, is_complete=is_complete, target=target, redactor=redactor)
    if not is_complete:
        raise UpstreamError(
            f"{target} answered with more than {MAX_TEXT_BYTES // (1024 * 1024)} MB.",
            hint=f"Ask for less: select fewer fields with {SELECT_ARGUMENT}, or page with first.",
            status=status,
        )
    answer = _graphql_answer(body)
    if answer is None:
        if status >= 300:
            return to_result(
                response, body, is_complete=is_complete, target=target, redactor=redactor
            )
        raise UpstreamError(
            f"{target} answered HTTP {status} with "
            f"{_media(response) or 'a body'} that is not a GraphQL response.",
            hint="Check that the endpoint URL is the GraphQL endpoint itself (often …/graphql).",
            details={"body": redactor.text(_excerpt(body, response))},
            status=status,
        )
    errors = answer.get("errors")
    data = answer.get("data")
    value = data.get(field) if isinstance(data, Mapping) else None
    if isinstance(errors, list) and errors:
        scrubbed = redactor.json(errors[:MAX_ERRORS])
        if value is None:
            raise _graphql_error(scrubbed, len(errors), target, status, has_data="data" in answer)
        result = ok(value, status=status, headers=response.headers)
        result["errors"] = scrubbed
        return result
    if data is None:
        raise UpstreamError(
            f"{target} answered a GraphQL response with neither data nor errors.",
            hint="The API misbehaved; retry later.",
            status=status,
        )
    return ok(value, status=status, headers=response.headers)


def _graphql_answer(body: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and ("data" in value or "errors" in value):
        return value
    return None


def _graphql_error(
    errors: list[Any], total: int, target: Target, status: int, *, has_data: bool
) -> ExecutorError:
    first = errors[0] if isinstance(errors[0], Mapping) else {"message": str(errors[0])}
    message = " ".join(str(first.get("message") or "an error without a message").split())
    message = message.rstrip(".")
    if len(message) > 300:
        message = message[:299] + "…"
    more = f" (and {total - 1} more)" if total > 1 else ""
    text = f"{target} answered with GraphQL errors: {message}{more}."
    details = {"errors": errors}
    code = _error_code(first)
    if code in _AUTH_CODES:
        return AuthRequiredError(
            text,
            hint="The connection's credentials were refused or lack a scope; reconnect it.",
            details=details,
            status=status,
        )
    if code in _RATE_CODES:
        return RetryableUpstreamError(
            text, hint="The API is rate limiting; wait and retry.", details=details, status=status
        )
    if code in _INPUT_CODES or (not code and (not has_data or _is_request_error(errors))):
        # No `data`, or errors that name no field path, mean the request failed before
        # execution: parsing, validation or coercing the variables.
        return InvalidArgumentsError(
            text,
            hint="Check the arguments (and any _select) against the tool's description.",
            details={**details, "violations": _violations(errors)},
            status=status,
        )
    return UpstreamError(
        text, hint="details.errors has what the API said.", details=details, status=status
    )


def _is_request_error(errors: list[Any]) -> bool:
    return all(isinstance(error, Mapping) and not error.get("path") for error in errors)


def _error_code(error: Mapping[str, Any]) -> str:
    extensions = error.get("extensions")
    code = extensions.get("code") if isinstance(extensions, Mapping) else None
    return str(code or error.get("type") or "").upper()


def _violations(errors: list[Any]) -> list[dict[str, str]]:
    return [
        {"path": "/", "message": str(error.get("message") or "")}
        for error in errors
        if isinstance(error, Mapping)
    ]


def _media(response: httpx2.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _excerpt(body: bytes, response: httpx2.Response) -> str:
    text = body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    if "html" in _media(response) or text.lstrip().startswith("<"):
        text = _TAG.sub(" ", text)
    return " ".join(text.split())[:EXCERPT_CHARS]


__all__ = ["MAX_ERRORS", "SchemaLookup", "call_field", "check_selection", "resolve_endpoint"]
