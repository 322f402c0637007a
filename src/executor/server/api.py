"""The JSON HTTP API under ``/api``: a thin adapter over :class:`~executor.Executor`.

One route table (:data:`ROUTES`) drives everything: each :class:`Endpoint` declares its method,
path, summary, query parameters and request-body JSON Schema; the same declarations validate the
requests and generate ``/api/openapi.json``, so the document cannot drift from the routes.

Errors have one shape everywhere: ``{"ok": false, "error": {"code", "message", ...}}`` with the
HTTP status of the code in :data:`~executor.errors.ERROR_TABLE`. Every route runs through one
dispatcher that turns an :class:`~executor.errors.ExecutorError` into that response, and any
other exception into an opaque ``internal_error`` (the traceback goes to the server log only).

Long work (adding a source) can stream its progress: asked with ``Accept: application/x-ndjson``,
such a route answers one JSON line per progress event, then a line with the body it would have
answered, or the error (:class:`ProgressStream`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import datetime
from typing import Any, cast

import anyio
import jsonschema_rs
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from executor import __version__
from executor.core import Executor
from executor.errors import ERROR_TABLE, ExecutorError, InvalidInputError
from executor.executions import RESUME_ACTIONS, ResumeAction
from executor.models import POLICY_ACTIONS, REVIEW_MODES, PolicyAction, PolicyScope
from executor.sources.base import STAGES, Progress

logger = logging.getLogger(__name__)

#: Where the API is mounted; the paths in :data:`ROUTES` are relative to it.
PREFIX = "/api"
#: The media type a client accepts to get a streaming route's progress (one JSON per line).
NDJSON = "application/x-ndjson"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return repr(value)


def _json(content: Any) -> bytes:
    return json.dumps(content, default=_default, ensure_ascii=False).encode("utf-8")


class JsonResponse(JSONResponse):
    """JSON that renders the core's dataclasses, datetimes and tuples."""

    def render(self, content: Any) -> bytes:
        return _json(content)


def error_response(error: Mapping[str, Any]) -> JsonResponse:
    """A failed envelope with the HTTP status of its code (500 for an unknown code)."""
    kind = ERROR_TABLE.get(str(error.get("code")))
    return JsonResponse({"ok": False, "error": dict(error)}, kind.http_status if kind else 500)


@dataclass(frozen=True)
class Param:
    """A query or path parameter; ``schema`` is its JSON Schema (string, integer or boolean)."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    location: str = "query"
    required: bool = False


@dataclass(frozen=True)
class Call:
    """One parsed request: the Executor, path and query parameters, and the JSON body;
    ``progress`` is set when the client streams a route that reports progress."""

    ex: Executor
    params: dict[str, Any]
    body: dict[str, Any]
    progress: Progress | None = None


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    """One route: how it is called, what it does, and what it answers on success.
    A route that ``streams`` reports progress as NDJSON when the client accepts it."""

    method: str
    path: str
    handler: Handler
    summary: str
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    status: int = 200
    response: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    public: bool = False
    streams: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")


# -- request parsing --------------------------------------------------------------------------


def _validator(schema: Mapping[str, Any]) -> Any:
    return jsonschema_rs.validator_for(dict(schema))


def _first_violation(validator: Any, instance: Any, what: str) -> str | None:
    for error in validator.iter_errors(instance):
        where = "/".join(str(part) for part in error.instance_path)
        # Name the rule broken, never the value given: a request body may carry a secret.
        kind = type(error.kind).__name__
        message = (
            " ".join(str(error.message).split())[:200]  # names the missing field only
            if kind == "Required"
            else f"does not match the schema ({kind.lower()})"
        )
        return f"{what}{' at ' + where if where else ''}: {message}"
    return None


def _convert(param: Param, raw: str) -> Any:
    kind = param.schema.get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise InvalidInputError(
                f"Parameter {param.name!r} must be an integer, not {raw[:40]!r}."
            ) from None
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise InvalidInputError(f"Parameter {param.name!r} must be true or false.")
        return raw.lower() == "true"
    return raw


class _Parser:
    """Validates one endpoint's parameters and body against its declarations."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.params = {
            "type": "object",
            "properties": {param.name: param.schema for param in endpoint.params},
            "required": [param.name for param in endpoint.params if param.required],
        }
        self._params = _validator(self.params)
        self._body = _validator(endpoint.body) if endpoint.body is not None else None

    async def parse(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        params: dict[str, Any] = {}
        for param in self.endpoint.params:
            source = request.path_params if param.location == "path" else request.query_params
            if param.name in source:
                params[param.name] = _convert(param, str(source[param.name]))
        problem = _first_violation(self._params, params, "Parameters")
        if problem:
            raise InvalidInputError(problem)
        if self._body is None:
            return params, {}
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise InvalidInputError(
                "The request body is not valid JSON.", hint="Send a JSON object."
            ) from None
        if not isinstance(body, dict):
            raise InvalidInputError("The request body must be a JSON object.")
        problem = _first_violation(self._body, body, "Request body")
        if problem:
            raise InvalidInputError(problem)
        return params, body


# -- handlers ---------------------------------------------------------------------------------


async def _health(call: Call) -> Any:
    return {"ok": True, "version": __version__}


async def _list_integrations(call: Call) -> Any:
    return await call.ex.sources.list()


async def _get_integration(call: Call) -> Any:
    return await call.ex.sources.get(call.params["slug"])


async def _add_integration(call: Call) -> Any:
    body = call.body
    return await call.ex.sources.add(
        body.get("slug"),
        body.get("kind"),
        source=body.get("spec"),
        base_url=body.get("base_url"),
        options=body.get("options"),
        review_changes=body.get("review_changes"),
        review_mode=body.get("review_mode"),
        progress=call.progress,
    )


async def _detect_source(call: Call) -> Any:
    candidates = await call.ex.sources.detect(call.body["source"])
    return {"candidates": candidates}


async def _configure_integration(call: Call) -> Any:
    body = call.body
    return await call.ex.sources.configure(
        call.params["slug"],
        review_changes=body.get("review_changes"),
        review_mode=body.get("review_mode"),
    )


async def _list_reviews(call: Call) -> Any:
    return [
        {**asdict(review), "changed_fields": list(review.changed_fields)}
        for review in await call.ex.sources.pending_reviews(call.params.get("integration"))
    ]


async def _review_tools(call: Call) -> Any:
    decided = await call.ex.sources.review(
        call.params["slug"], call.body.get("tools"), action=call.body["action"]
    )
    return {"integration": call.params["slug"], "action": call.body["action"], "tools": decided}


async def _refresh_integration(call: Call) -> Any:
    return await call.ex.sources.refresh(call.params["slug"])


async def _delete_integration(call: Call) -> Any:
    await call.ex.sources.remove(call.params["slug"])


async def _list_connections(call: Call) -> Any:
    return await call.ex.connections.list(call.params.get("integration"))


async def _create_connection(call: Call) -> Any:
    body = call.body
    return await call.ex.connections.create(
        body["integration"],
        body.get("name", "default"),
        auth=body.get("auth"),
        base_url=body.get("base_url"),
        headers=body.get("headers"),
        server_variables=body.get("server_variables"),
        timeout=body.get("timeout"),
        personal=body.get("personal", False),
    )


async def _delete_connection(call: Call) -> Any:
    await call.ex.connections.remove(call.params["integration"], call.params["name"])


async def _list_tools(call: Call) -> Any:
    return await call.ex.tools.list(
        call.params.get("integration"), connection=call.params.get("connection")
    )


async def _search_tools(call: Call) -> Any:
    found = await call.ex.tools.search(
        call.params["q"],
        integration=call.params.get("integration"),
        limit=call.params.get("limit", 10),
    )
    return {
        "is_good_match": found.is_good_match,
        "hits": [{"score": hit.score, "tool": hit.tool} for hit in found.hits],
    }


async def _describe_tool(call: Call) -> Any:
    return await call.ex.tools.describe(call.params["address"])


async def _tool_schema(call: Call) -> Any:
    return await call.ex.tools.schema(call.params["address"])


async def _call_tool(call: Call) -> Any:
    result = await call.ex.call(call.params["address"], call.body.get("arguments") or {})
    if not result.get("ok"):
        return error_response(cast(Mapping[str, Any], result.get("error") or {}))
    return result


async def _list_policies(call: Call) -> Any:
    return await call.ex.policies.list()


async def _create_policy(call: Call) -> Any:
    body = call.body
    return await call.ex.policies.set(
        body["pattern"],
        cast(PolicyAction, body["action"]),
        scope=cast(PolicyScope, body.get("scope", "workspace")),
        position=body.get("position"),
    )


async def _delete_policy(call: Call) -> Any:
    await call.ex.policies.remove(call.params["policy_id"])


async def _execute(call: Call) -> Any:
    return await call.ex.execute(call.body["code"], caller="api")


async def _resume(call: Call) -> Any:
    return await call.ex.resume(
        call.params["execution_id"],
        cast(ResumeAction, call.body["action"]),
        call.body.get("content"),
    )


async def _list_executions(call: Call) -> Any:
    return await call.ex.runs.list(limit=call.params.get("limit", 50))


async def _get_execution(call: Call) -> Any:
    return await call.ex.runs.get(call.params["execution_id"])


async def _list_toolkits(call: Call) -> Any:
    return await call.ex.toolkits.list()


async def _get_toolkit(call: Call) -> Any:
    return await call.ex.toolkits.get(call.params["toolkit"])


async def _create_toolkit(call: Call) -> Any:
    body = call.body
    return await call.ex.toolkits.create(
        body["slug"],
        patterns=body["patterns"],
        policies=body.get("policies", ()),
        description=body.get("description", ""),
    )


async def _update_toolkit(call: Call) -> Any:
    body = call.body
    return await call.ex.toolkits.update(
        call.params["toolkit"],
        patterns=body.get("patterns"),
        policies=body.get("policies"),
        description=body.get("description"),
    )


async def _delete_toolkit(call: Call) -> Any:
    await call.ex.toolkits.remove(call.params["toolkit"])


# -- the route table --------------------------------------------------------------------------

_STRING = {"type": "string", "minLength": 1}
_OBJECTS = {"type": "array", "items": {"type": "object"}}


def _path(name: str, description: str) -> Param:
    return Param(name, {"type": "string"}, description, location="path", required=True)


_SLUG = _path("slug", "The integration's slug.")
_ADDRESS = _path("address", "A tool address: integration.connection.tool.")
_EXECUTION = _path("execution_id", "The execution (run) id.")
_TOOLKIT = _path("toolkit", "The toolkit's slug.")
_TOOLKIT_FIELDS: dict[str, Any] = {
    "patterns": {
        "type": "array",
        "items": _STRING,
        "minItems": 1,
        "description": "Address patterns, as in policies: '*', 'github.*', an address.",
    },
    "policies": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"pattern": _STRING, "action": {"enum": list(POLICY_ACTIONS)}},
            "required": ["pattern", "action"],
        },
        "description": "Rules that apply only through this toolkit, first match first.",
    },
    "description": {"type": "string"},
}
_BY_INTEGRATION = Param("integration", {"type": "string"}, "Only this integration.")
_REVIEW_FIELDS: dict[str, Any] = {
    "review_changes": {
        "type": "boolean",
        "description": "Hold tools a refresh adds or changes until a person reviews them.",
    },
    "review_mode": {
        "enum": list(REVIEW_MODES),
        "description": "While held, a changed tool serves its reviewed definition, or is blocked.",
    },
}

ROUTES: tuple[Endpoint, ...] = (
    Endpoint("GET", "/health", _health, "Liveness and version (no token needed).", public=True),
    Endpoint("GET", "/integrations", _list_integrations, "List integrations.", response=_OBJECTS),
    Endpoint("GET", "/integrations/{slug}", _get_integration, "Get one integration.", (_SLUG,)),
    Endpoint(
        "POST",
        "/integrations",
        _add_integration,
        "Add an integration from a URL, a file path, a document's text or a document object. "
        "Without kind the source is detected; without slug one comes from its title.",
        body={
            "type": "object",
            "properties": {
                "slug": _STRING,
                "kind": {**_STRING, "description": "A source kind: openapi, graphql, mcp, …"},
                "spec": {"type": ["string", "object"]},
                "base_url": {"type": "string"},
                "options": {"type": "object", "description": "Plugin-specific source options."},
                **_REVIEW_FIELDS,
            },
        },
        status=201,
        streams=True,
    ),
    Endpoint(
        "POST",
        "/sources/detect",
        _detect_source,
        "Detect which source kinds can read a URL, a file path or a document, best first.",
        body={
            "type": "object",
            "properties": {"source": {"type": ["string", "object"]}},
            "required": ["source"],
        },
        response={
            "type": "object",
            "properties": {
                "candidates": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "kind": {"type": "string"},
                            "confidence": {"type": "number"},
                            "reason": {"type": "string"},
                        },
                    },
                }
            },
        },
    ),
    Endpoint(
        "PATCH",
        "/integrations/{slug}",
        _configure_integration,
        "Change whether refreshes hold tool changes for review, and how.",
        (_SLUG,),
        body={"type": "object", "properties": _REVIEW_FIELDS},
    ),
    Endpoint(
        "GET",
        "/reviews",
        _list_reviews,
        "Tool changes held for review, with the reviewed and the proposed definitions.",
        (_BY_INTEGRATION,),
        response=_OBJECTS,
    ),
    Endpoint(
        "POST",
        "/integrations/{slug}/reviews",
        _review_tools,
        "Accept or reject held tool changes of an integration (all of them without tools).",
        (_SLUG,),
        body={
            "type": "object",
            "properties": {
                "action": {"enum": ["accept", "reject"]},
                "tools": {"type": "array", "items": _STRING},
            },
            "required": ["action"],
        },
    ),
    Endpoint(
        "POST",
        "/integrations/{slug}/refresh",
        _refresh_integration,
        "Re-read the source; report the tools added, changed and removed.",
        (_SLUG,),
    ),
    Endpoint(
        "DELETE",
        "/integrations/{slug}",
        _delete_integration,
        "Remove an integration with its connections and tools.",
        (_SLUG,),
        status=204,
    ),
    Endpoint(
        "GET",
        "/connections",
        _list_connections,
        "List connections (auth holds secret references, never values).",
        (_BY_INTEGRATION,),
        response=_OBJECTS,
    ),
    Endpoint(
        "POST",
        "/connections",
        _create_connection,
        "Create a connection. Plain secret values in auth are stored encrypted and replaced "
        "by references; they are never returned.",
        body={
            "type": "object",
            "properties": {
                "integration": _STRING,
                "name": _STRING,
                "auth": {
                    "type": "object",
                    "description": 'e.g. {"type": "api_key", "value": "..."}',
                    "properties": {"type": {"type": "string"}},
                },
                "base_url": {"type": "string"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "server_variables": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
                "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
                "personal": {"type": "boolean"},
            },
            "required": ["integration"],
        },
        status=201,
    ),
    Endpoint(
        "DELETE",
        "/connections/{integration}/{name}",
        _delete_connection,
        "Remove a connection and the secrets stored for it.",
        (
            _path("integration", "The integration's slug."),
            _path("name", "The connection's name."),
        ),
        status=204,
    ),
    Endpoint(
        "GET",
        "/tools",
        _list_tools,
        "List tools per connection with their effective policy (blocked ones hidden).",
        (_BY_INTEGRATION, Param("connection", {"type": "string"}, "Only this connection.")),
        response=_OBJECTS,
    ),
    Endpoint(
        "GET",
        "/tools/search",
        _search_tools,
        "Search tools by what you want to do.",
        (
            Param("q", _STRING, "What you want to do, in words.", required=True),
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "At most this many."),
            _BY_INTEGRATION,
        ),
    ),
    Endpoint(
        "GET",
        "/tools/{address}",
        _describe_tool,
        "Describe a tool: description, input and output schemas, policy.",
        (_ADDRESS,),
    ),
    Endpoint(
        "GET", "/tools/{address}/schema", _tool_schema, "A tool's input JSON Schema.", (_ADDRESS,)
    ),
    Endpoint(
        "POST",
        "/tools/{address}/call",
        _call_tool,
        "Call a tool; answers its result envelope (a failure with its code's status).",
        (_ADDRESS,),
        body={"type": "object", "properties": {"arguments": {"type": "object"}}},
    ),
    Endpoint("GET", "/policies", _list_policies, "List policy rules in order.", response=_OBJECTS),
    Endpoint(
        "POST",
        "/policies",
        _create_policy,
        "Add a policy rule for the tool addresses matching a pattern.",
        body={
            "type": "object",
            "properties": {
                "pattern": _STRING,
                "action": {"enum": list(POLICY_ACTIONS)},
                "scope": {"enum": ["workspace", "user"]},
                "position": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
            },
            "required": ["pattern", "action"],
        },
        status=201,
    ),
    Endpoint(
        "DELETE",
        "/policies/{policy_id}",
        _delete_policy,
        "Remove a policy rule.",
        (_path("policy_id", "The rule's id."),),
        status=204,
    ),
    Endpoint(
        "POST",
        "/executions",
        _execute,
        "Run code mode: completed, failed, or paused at a call that needs approval.",
        body={"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
    ),
    Endpoint(
        "GET",
        "/executions",
        _list_executions,
        "The run history, newest first (direct calls and executions).",
        (Param("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "At most this many."),),
        response=_OBJECTS,
    ),
    Endpoint("GET", "/executions/{execution_id}", _get_execution, "Get one run.", (_EXECUTION,)),
    Endpoint(
        "POST",
        "/executions/{execution_id}/resume",
        _resume,
        "Answer a paused execution: accept, decline or cancel its pending call.",
        (_EXECUTION,),
        body={
            "type": "object",
            "properties": {"action": {"enum": list(RESUME_ACTIONS)}, "content": {"type": "object"}},
            "required": ["action"],
        },
    ),
    Endpoint("GET", "/toolkits", _list_toolkits, "List toolkits.", response=_OBJECTS),
    Endpoint("GET", "/toolkits/{toolkit}", _get_toolkit, "Get one toolkit.", (_TOOLKIT,)),
    Endpoint(
        "POST",
        "/toolkits",
        _create_toolkit,
        "Create a toolkit: the tools matching its address patterns, served at "
        "/mcp/toolkits/<slug>, with policy rules that apply only through it.",
        body={
            "type": "object",
            "properties": {"slug": _STRING, **_TOOLKIT_FIELDS},
            "required": ["slug", "patterns"],
        },
        status=201,
    ),
    Endpoint(
        "PATCH",
        "/toolkits/{toolkit}",
        _update_toolkit,
        "Change a toolkit's patterns, policies or description (the others stay).",
        (_TOOLKIT,),
        body={"type": "object", "properties": _TOOLKIT_FIELDS},
    ),
    Endpoint(
        "DELETE",
        "/toolkits/{toolkit}",
        _delete_toolkit,
        "Remove a toolkit (its tools stay in the catalog).",
        (_TOOLKIT,),
        status=204,
    ),
)


# -- the OpenAPI document ---------------------------------------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"const": False},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": sorted({*ERROR_TABLE, "unauthorized"})},
                "message": {"type": "string"},
                "retryable": {"type": "boolean"},
                "status": {"type": "integer"},
                "details": {"type": "object"},
            },
        },
    },
}


PROGRESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A progress line; the last line is the answer instead.",
    "required": ["event", "stage", "done"],
    "properties": {
        "event": {"const": "progress"},
        "stage": {"enum": list(STAGES)},
        "done": {"type": "integer", "description": "Bytes (download) or items so far."},
        "total": {"type": ["integer", "null"], "description": "null while unknown."},
    },
}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "responses": {
            "default": {
                "description": "An error: the status of its code in the error table.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
    }
    success: dict[str, Any] = {"description": "Success."}
    if endpoint.status != 204:
        success["content"] = {"application/json": {"schema": endpoint.response}}
    operation["responses"][str(endpoint.status)] = success
    if endpoint.streams:
        operation["responses"]["200"] = {
            "description": f"With Accept: {NDJSON}: one JSON object per line, progress events "
            "while the work runs, then the success body above or the error.",
            "content": {NDJSON: {"schema": PROGRESS_SCHEMA}},
        }
    if endpoint.public:
        operation["security"] = []
    if endpoint.params:
        operation["parameters"] = [
            {
                "name": param.name,
                "in": param.location,
                "required": param.required,
                "description": param.description,
                "schema": param.schema,
            }
            for param in endpoint.params
        ]
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": endpoint.body}},
        }
    return operation


def openapi_document(routes: tuple[Endpoint, ...] = ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in routes:
        paths.setdefault(PREFIX + endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    paths[f"{PREFIX}/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "responses": {"200": {"description": "The OpenAPI document."}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Executor HTTP API",
            "version": __version__,
            "description": "JSON over HTTP; every error is "
            '{"ok": false, "error": {"code", "message", ...}}. See docs/http-api.md.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


# -- the app ----------------------------------------------------------------------------------


def _failure(endpoint: Endpoint, exc: Exception) -> dict[str, Any]:
    """The ``error`` member for what a route raised: an ExecutorError's own, anything else an
    opaque ``internal_error`` whose traceback goes to the server log only."""
    if isinstance(exc, ExecutorError):
        return exc.to_error()
    incident = uuid.uuid4().hex[:12]
    logger.error(
        "API %s %s failed (incident %s)", endpoint.method, endpoint.path, incident, exc_info=exc
    )
    return {
        "code": "internal_error",
        "message": f"Executor failed unexpectedly (incident {incident}); see the server log.",
        "retryable": False,
        "details": {"id": incident},
    }


class ProgressStream(StreamingResponse):
    """The NDJSON answer of a route that ``streams``: ``{"event": "progress", "stage", "done",
    "total"}`` lines while its handler runs, then one line with the body the route answers
    otherwise, or ``{"ok": false, "error"}``. The status is 200 (sent before the outcome is
    known); the last line says how it ended. A client that goes away does not stop the work,
    just as with a plain request."""

    def __init__(self, endpoint: Endpoint, call: Call) -> None:
        self._endpoint = endpoint
        self._call = call
        self._lines, lines = anyio.create_memory_object_stream[bytes](math.inf)
        super().__init__(lines, media_type=NDJSON, headers={"Cache-Control": "no-store"})
        self._reader = lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._work)
            try:
                await super().__call__(scope, receive, send)
            except (ClientDisconnect, OSError):
                logger.info("a client stopped reading %s; the work goes on", self._endpoint.path)
            finally:
                self._reader.close()

    async def _work(self) -> None:
        with self._lines:
            try:
                result = await self._endpoint.handler(replace(self._call, progress=self._progress))
            except Exception as exc:
                result = {"ok": False, "error": _failure(self._endpoint, exc)}
            self._put(result)

    def _progress(self, stage: str, done: int, total: int | None) -> None:
        self._put({"event": "progress", "stage": stage, "done": done, "total": total})

    def _put(self, value: Any) -> None:
        # Nobody reads any more once the client has gone: the line is dropped, the work goes on.
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._lines.send_nowait(_json(value) + b"\n")


def _dispatch(endpoint: Endpoint, executor: Callable[[], Executor]) -> Any:
    """The one place where a request becomes a core call and a response, errors included."""
    parser = _Parser(endpoint)

    async def run(request: Request) -> Response:
        try:
            params, body = await parser.parse(request)
            call = Call(executor(), params, body)
            if endpoint.streams and NDJSON in request.headers.get("accept", ""):
                return ProgressStream(endpoint, call)
            result = await endpoint.handler(call)
        except Exception as exc:
            return error_response(_failure(endpoint, exc))
        if isinstance(result, Response):
            return result
        if endpoint.status == 204:
            return Response(status_code=204)
        return JsonResponse(result, endpoint.status)

    run.__name__ = endpoint.operation_id
    return run


async def http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path, wrong method) in the same JSON shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code = "not_found" if status == 404 else "invalid_input"
    path = request.url.path
    message = {
        404: f"No API route {request.method} {path!r}; see /api/openapi.json.",
        405: f"{request.method} is not allowed on {path!r}.",
    }.get(status, "The request could not be routed.")
    response = error_response({"code": code, "message": message, "retryable": False})
    response.status_code = status if status in (404, 405) else response.status_code
    return response


def create_api(executor: Callable[[], Executor]) -> Starlette:
    """The API app, to mount at :data:`PREFIX`; ``executor()`` returns the open Executor."""
    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return JsonResponse(document)

    routes = [
        Route(endpoint.path, _dispatch(endpoint, executor), methods=[endpoint.method])
        for endpoint in ROUTES
    ]
    routes.append(Route("/openapi.json", openapi, methods=["GET"]))
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def mount_api(executor: Callable[[], Executor]) -> Mount:
    """The API mounted at :data:`PREFIX`. Its pattern also matches paths with a newline
    (``%0A``), so every path under ``/api/`` gets the API's JSON answers, a 404 included."""
    mount = Mount(PREFIX, app=create_api(executor))
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount
