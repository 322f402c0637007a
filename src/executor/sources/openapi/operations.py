"""One :class:`~executor.models.ToolDefinition` per OpenAPI operation.

Each tool gets a flat input schema (parameters by identifier; an object body's properties
merged in when nothing collides, else the whole body as ``body``), an output schema from its
first 2xx JSON response, spec-derived policy defaults and a JSON ``binding`` that tells the
call side how to put the arguments on the wire::

    {"method": "GET", "path": "/pets/{petId}",
     "servers": [{"url": "https://api.example.com/v1", "variables": {...}}],
     "parameters": [{"name": "petId", "in": "path", "arg": "pet_id", "required": true,
                     "style": "simple", "explode": false, "allow_reserved": false,
                     "content_type": null}],
     "body": null | {"mode": "flatten" | "whole", "arg": "body" | null,
                     "properties": [...], "content_type": "application/json",
                     "required": true, "encoding": {...}},
     "security": [["api_key"], ["oauth_main"]]}

:class:`ToolBuilder` does no I/O: when a ``$ref`` reaches a document that is not loaded it
raises :class:`~executor.sources.openapi.refs.MissingDocument`, and :meth:`ToolBuilder.build`
can be called again once the loader has added it; finished operations are not redone.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin

from executor.addresses import to_identifier, unique_names
from executor.errors import SpecError
from executor.models import PolicyAction, ToolDefinition
from executor.sources.openapi import swagger
from executor.sources.openapi.naming import operation_key, tool_name
from executor.sources.openapi.refs import Location, RefResolver
from executor.sources.openapi.schemas import SchemaBundler
from executor.sources.openapi.security import security_requirements

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
READ_ONLY_METHODS = frozenset({"get", "head", "options"})
_LOCATIONS = ("path", "query", "header", "cookie")
_DEFAULT_STYLES = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}
#: OpenAPI 3 says these header parameters are ignored: the call side sets them itself.
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_SUMMARY_LENGTH = 120
_FIRST_SENTENCE = re.compile(r"(.+?[.!?])(\s|$)")
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_PROGRESS_EVERY = 50
#: What a file (a binary form field or raw body) accepts: text sent as UTF-8, or bytes as
#: base64 with an optional file name and media type. The call side reads the same shape.
FILE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {
                "content_base64": {"type": "string", "contentEncoding": "base64"},
                "filename": {"type": "string"},
                "content_type": {"type": "string"},
            },
            "required": ["content_base64"],
            "additionalProperties": False,
        },
    ]
}
_COMPOSITE = ("allOf", "anyOf", "oneOf", "not", "$ref", "patternProperties")


def is_json_media_type(media_type: str) -> bool:
    """Whether ``media_type`` is JSON (``application/json`` or any ``+json`` type)."""
    base = media_type.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


@dataclass
class _Draft:
    key: str
    name: str
    tool: ToolDefinition


class ToolBuilder:
    """Builds the tools of one spec, resumably (see the module docstring)."""

    def __init__(
        self,
        document: dict[str, Any],
        resolver: RefResolver,
        *,
        version: str,
        spec_url: str | None,
        known_auth: set[str],
        with_output_schemas: bool = True,
    ) -> None:
        self._document = document
        self._resolver = resolver
        self._is_swagger = version == "2.0"
        self._spec_url = spec_url
        self._known_auth = known_auth
        self._with_output = with_output_schemas
        self._bundler = SchemaBundler(resolver, version=version)
        self._root = resolver.root_location
        self._operations: list[tuple[str, str, dict[str, Any], Location]] | None = None
        self._position = 0
        self._drafts: list[_Draft] = []
        self.warnings: list[str] = []
        self._servers = self._document_servers()
        self._security = security_requirements(document.get("security"), known_auth) or []

    def build(self, progress: Callable[[int, int], None] | None = None) -> list[ToolDefinition]:
        """Build every operation's tool (continuing where an earlier call stopped).

        Raises ``MissingDocument`` when a reference needs a document that is not loaded.
        An operation that cannot be understood is skipped with a warning.
        """
        if self._operations is None:
            self._operations = self._list_path_items()
        total = len(self._operations)
        while self._position < total:
            path, method, item, base = self._operations[self._position]
            try:
                draft = self._operation(path, method, item, base)
            except (SpecError, RecursionError, TypeError, AttributeError) as exc:
                reason = exc.message if isinstance(exc, SpecError) else "malformed or too deep"
                self.warnings.append(f"Skipped {method.upper()} {path}: {reason}")
            else:
                self._drafts.append(draft)
            self._position += 1
            if progress is not None and (self._position % _PROGRESS_EVERY == 0):
                progress(self._position, total)
        if progress is not None:
            progress(total, total)
        names = unique_names((draft.key, draft.name) for draft in self._drafts)
        return [replace(draft.tool, name=names[draft.key]) for draft in self._drafts]

    def _list_path_items(self) -> list[tuple[str, str, dict[str, Any], Location]]:
        operations: list[tuple[str, str, dict[str, Any], Location]] = []
        for path, raw_item in self._document["paths"].items():
            if not isinstance(path, str) or not path.startswith("/"):
                continue
            item, base = self._resolver.deref(raw_item, self._root)
            if not isinstance(item, dict):
                continue
            for method in METHODS:
                if isinstance(item.get(method), dict):
                    operations.append((path, method, item, base))
        return operations

    def _operation(self, path: str, method: str, item: dict[str, Any], base: Location) -> _Draft:
        operation: dict[str, Any] = item[method]
        used: set[str] = set()
        properties: dict[str, Any] = {}
        required: list[str] = []
        raw_params = self._parameters(item, operation, base)
        args = _argument_names([(param["name"], param["in"]) for param, _ in raw_params])
        param_bindings = []
        for param, param_base in raw_params:
            arg = args[(param["name"], param["in"])]
            schema, binding = self._parameter(param, param_base, arg, used)
            properties[arg] = schema
            param_bindings.append(binding)
            if binding["required"]:
                required.append(arg)
        body = self._body(operation, item, base, set(properties), used)
        if body is not None:
            body_properties, body_required, body_binding = body
            properties.update(body_properties)
            required.extend(body_required)
        input_schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            input_schema["required"] = required
        input_schema["additionalProperties"] = False
        raw_tags = operation.get("tags")
        tags = (
            tuple(t for t in raw_tags if isinstance(t, str)) if isinstance(raw_tags, list) else ()
        )
        operation_id = operation.get("operationId")
        is_read_only = method in READ_ONLY_METHODS
        policy: PolicyAction = "allow" if is_read_only else "require_approval"
        summary, description = _texts(operation, method, path)
        binding = {
            "method": method.upper(),
            "path": path,
            "servers": self._operation_servers(operation, item),
            "parameters": param_bindings,
            "body": body_binding if body is not None else None,
            "security": self._operation_security(operation),
        }
        tool = ToolDefinition(
            name="",
            summary=summary,
            description=description,
            input_schema=self._bundler.bundle(input_schema, used),
            output_schema=self._output_schema(operation, base) if self._with_output else None,
            tags=tags,
            default_policy=policy,
            is_read_only=is_read_only,
            is_destructive=method == "delete",
            binding=binding,
        )
        key = operation_key(method, path)
        name = tool_name(
            method,
            path,
            operation_id=operation_id if isinstance(operation_id, str) else None,
            tags=tags,
        )
        return _Draft(key, name, tool)

    # -- parameters -------------------------------------------------------------------------

    def _parameters(
        self, item: dict[str, Any], operation: dict[str, Any], base: Location
    ) -> list[tuple[dict[str, Any], Location]]:
        """Path-item and operation parameters, the operation's winning on (name, in)."""
        merged: dict[tuple[str, str], tuple[dict[str, Any], Location]] = {}
        for raw in [*(item.get("parameters") or ()), *(operation.get("parameters") or ())]:
            param, param_base = self._resolver.deref(raw, base)
            if not isinstance(param, dict):
                continue
            name, location = param.get("name"), param.get("in")
            if not isinstance(name, str) or location not in _LOCATIONS:
                continue  # Swagger body/formData parameters become the request body.
            if location == "header" and name.lower() in _IGNORED_HEADERS:
                continue
            if self._is_swagger:
                param = swagger.parameter(param)
            merged[(name, location)] = (param, param_base)
        return list(merged.values())

    def _parameter(
        self, param: dict[str, Any], base: Location, arg: str, used: set[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        location = param["in"]
        content_type = None
        schema = param.get("schema")
        content = param.get("content")
        if schema is None and isinstance(content, dict) and content:
            content_type = next(iter(content))
            media = content[content_type]
            schema = media.get("schema") if isinstance(media, dict) else None
        prop = _as_object(self._bundler.convert(schema if schema is not None else {}, base, used))
        if isinstance(param.get("description"), str) and param["description"]:
            prop["description"] = param["description"]
        if param.get("deprecated") is True:
            prop["deprecated"] = True
        if "example" in param and "examples" not in prop:
            prop["examples"] = [param["example"]]
        style = param.get("style")
        if not isinstance(style, str):
            style = _DEFAULT_STYLES[location]
        explode = param.get("explode")
        if not isinstance(explode, bool):
            explode = style == "form"
        binding = {
            "name": param["name"],
            "in": location,
            "arg": arg,
            "required": location == "path" or param.get("required") is True,
            "style": style,
            "explode": explode,
            "allow_reserved": param.get("allowReserved") is True,
            "content_type": content_type,
        }
        return prop, binding

    # -- request body -----------------------------------------------------------------------

    def _body(
        self,
        operation: dict[str, Any],
        item: dict[str, Any],
        base: Location,
        taken: set[str],
        used: set[str],
    ) -> tuple[dict[str, Any], list[str], dict[str, Any]] | None:
        if self._is_swagger:
            params = []
            for raw in [*(item.get("parameters") or ()), *(operation.get("parameters") or ())]:
                param, _ = self._resolver.deref(raw, base)
                if isinstance(param, dict):
                    params.append(param)
            consumes = operation.get("consumes") or self._document.get("consumes") or []
            request_body = swagger.request_body(params, [str(c) for c in consumes])
            body_base = base
        else:
            request_body, body_base = self._resolver.deref(operation.get("requestBody"), base)
        if not isinstance(request_body, dict):
            return None
        content = request_body.get("content")
        if not isinstance(content, dict) or not content:
            return None
        media_type = _choose_media_type(content)
        media = content[media_type] if isinstance(content[media_type], dict) else {}
        schema = media.get("schema")
        is_required = request_body.get("required") is True
        if media_type == "*/*" and not _is_binary(schema):
            media_type = "application/json"
        binding: dict[str, Any] = {
            "mode": "whole",
            "arg": None,
            "properties": [],
            "content_type": media_type,
            "required": is_required,
            "encoding": _encoding(media.get("encoding")),
        }
        if _is_structured(media_type):
            target, target_base = self._resolver.deref(schema, body_base)
            names = _flattenable_properties(target, taken)
            if names is not None:
                is_form = not is_json_media_type(media_type)
                properties = {
                    name: self._body_property(
                        target["properties"][name], target_base, is_form, used
                    )
                    for name in names
                }
                required = (
                    [name for name in target.get("required") or () if name in properties]
                    if is_required
                    else []
                )
                binding.update(mode="flatten", properties=names)
                return properties, list(dict.fromkeys(required)), binding
        arg = next(name for name in ("body", "request_body", "body_") if name not in taken)
        resolved, _ = self._resolver.deref(schema, body_base)
        if _is_structured(media_type) or media_type.startswith("text/"):
            whole = _as_object(self._bundler.convert(schema or {}, body_base, used))
        elif resolved is None or _is_binary(resolved) or resolved == {"type": "string"}:
            whole = dict(FILE_SCHEMA)
        else:  # a raw body with a declared structure (e.g. XML described by a schema)
            whole = _as_object(self._bundler.convert(schema, body_base, used))
        if isinstance(request_body.get("description"), str) and "description" not in whole:
            whole["description"] = request_body["description"]
        binding["arg"] = arg
        return {arg: whole}, [arg] if is_required else [], binding

    def _body_property(self, schema: Any, base: Location, is_form: bool, used: set[str]) -> Any:
        """A flattened body field; files in a form body accept :data:`FILE_SCHEMA` values."""
        if is_form:
            resolved, _ = self._resolver.deref(schema, base)
            if _is_binary(resolved):
                return _described(dict(FILE_SCHEMA), resolved)
            if isinstance(resolved, dict) and resolved.get("type") == "array":
                items, _ = self._resolver.deref(resolved.get("items"), base)
                if _is_binary(items):
                    return _described({"type": "array", "items": FILE_SCHEMA}, resolved)
        return self._bundler.convert(schema, base, used)

    # -- output, servers, security -------------------------------------------------------------

    def _output_schema(self, operation: dict[str, Any], base: Location) -> dict[str, Any] | None:
        responses = operation.get("responses")
        if not isinstance(responses, dict):
            return None
        for code in sorted(str(code) for code in responses):
            if not code.startswith("2"):
                continue
            response, response_base = self._resolver.deref(responses[code], base)
            if not isinstance(response, dict):
                continue
            if self._is_swagger:
                produces = operation.get("produces") or self._document.get("produces") or []
                content: Any = swagger.response_content(response, [str(p) for p in produces])
            else:
                content = response.get("content")
            if not isinstance(content, dict):
                continue
            for media_type, media in content.items():
                if is_json_media_type(media_type) and isinstance(media, dict) and "schema" in media:
                    used: set[str] = set()
                    converted = self._bundler.convert(media["schema"], response_base, used)
                    return self._bundler.bundle(converted, used)
        return None

    def _document_servers(self) -> list[dict[str, Any]]:
        if self._is_swagger:
            return [
                self._server(server) for server in swagger.servers(self._document, self._spec_url)
            ]
        return self._servers_of(self._document.get("servers")) or [self._server({"url": "/"})]

    def _operation_servers(
        self, operation: dict[str, Any], item: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return (
            self._servers_of(operation.get("servers"))
            or self._servers_of(item.get("servers"))
            or self._servers
        )

    def _servers_of(self, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            return []
        return [self._server(server) for server in raw if isinstance(server, dict)]

    def _server(self, server: dict[str, Any]) -> dict[str, Any]:
        url = str(server.get("url") or "/")
        is_absolute = bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url)) or url.startswith("{")
        if not is_absolute and self._spec_url and self._spec_url.startswith(("http:", "https:")):
            url = urljoin(self._spec_url, url)
        variables: dict[str, Any] = {}
        for name, variable in (server.get("variables") or {}).items():
            if not isinstance(variable, dict):
                continue
            entry: dict[str, Any] = {"default": str(variable.get("default", ""))}
            if isinstance(variable.get("enum"), list):
                entry["enum"] = [str(value) for value in variable["enum"]]
            variables[str(name)] = entry
        return {"url": url, "variables": variables}

    def _operation_security(self, operation: dict[str, Any]) -> list[list[str]]:
        own = security_requirements(operation.get("security"), self._known_auth)
        return own if own is not None else self._security


def _argument_names(params: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Identifiers for parameters; on a clash the later location gets a prefix (``query_id``).

    Assigned in (location, name) order so the outcome does not depend on declaration order.
    """
    taken: set[str] = set()
    names: dict[tuple[str, str], str] = {}
    for name, location in sorted(params, key=lambda p: (_LOCATIONS.index(p[1]), p[0])):
        base = to_identifier(name, fallback="param")
        candidate = base
        counter = 2
        if candidate in taken:
            candidate = f"{location}_{base.lstrip('_')}"
        while candidate in taken:
            candidate = f"{location}_{base.lstrip('_')}_{counter}"
            counter += 1
        taken.add(candidate)
        names[(name, location)] = candidate
    return names


def _flattenable_properties(schema: Any, taken: set[str]) -> list[str] | None:
    """The body's property names if they can be merged into the top level, else None."""
    if not isinstance(schema, dict):
        return None
    declared = schema.get("type", "object")
    if declared != "object" or schema.get("nullable") is True:
        return None
    if any(key in schema for key in _COMPOSITE):
        return None
    if schema.get("additionalProperties", False) is not False:
        return None  # extra properties need the whole body as one argument
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return None
    names = list(properties)
    for name in names:
        if not (name.isidentifier() and name.isascii() and not keyword.iskeyword(name)):
            return None
        if name in taken or to_identifier(name) in taken:
            return None  # a body field that reads like a parameter would only confuse
    return names


def _choose_media_type(content: dict[str, Any]) -> str:
    for is_wanted in (is_json_media_type, _is_form, _is_multipart):
        for media_type in content:
            if is_wanted(media_type):
                return media_type
    return next(iter(content))


def _is_form(media_type: str) -> bool:
    return media_type.split(";", 1)[0].strip().lower() == _FORM


def _is_multipart(media_type: str) -> bool:
    return media_type.split(";", 1)[0].strip().lower().startswith("multipart/")


def _is_structured(media_type: str) -> bool:
    return is_json_media_type(media_type) or _is_form(media_type) or _is_multipart(media_type)


def _is_binary(schema: Any) -> bool:
    """Whether a (raw OpenAPI) schema describes bytes rather than text or JSON."""
    if not isinstance(schema, dict):
        return False
    if schema.get("format") == "binary" or schema.get("type") == "file":
        return True
    media_type = schema.get("contentMediaType")  # OpenAPI 3.1's way to say "a file"
    return (
        isinstance(media_type, str)
        and "contentEncoding" not in schema
        and not (media_type.startswith("text/") or is_json_media_type(media_type))
    )


def _described(schema: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    if isinstance(source.get("description"), str):
        schema["description"] = source["description"]
    return schema


def _encoding(raw: Any) -> dict[str, Any]:
    """A media type's per-field ``encoding``, keeping the OpenAPI keys the call side reads."""
    if not isinstance(raw, dict):
        return {}
    keys = ("contentType", "style", "explode", "allowReserved")
    return {
        str(name): {key: entry[key] for key in keys if key in entry}
        for name, entry in raw.items()
        if isinstance(entry, dict)
    }


def _as_object(schema: Any) -> dict[str, Any]:
    if isinstance(schema, dict):
        return schema
    return {} if schema is not False else {"not": {}}


def _texts(operation: dict[str, Any], method: str, path: str) -> tuple[str, str]:
    """(one-line summary, complete description) of an operation."""
    summary_text = _one_line(operation.get("summary"))
    description = str(operation.get("description") or "").strip()
    if not summary_text and description:
        match = _FIRST_SENTENCE.match(_one_line(description))
        summary_text = match.group(1) if match else _one_line(description)
    if not summary_text:
        summary_text = f"{method.upper()} {path}"
    if len(summary_text) > _SUMMARY_LENGTH:
        summary_text = summary_text[: _SUMMARY_LENGTH - 1].rstrip() + "…"
    parts = [str(operation.get("summary") or "").strip()]
    if description and description != parts[0]:
        parts.append(description)
    if operation.get("deprecated") is True:
        parts.append("Deprecated: this operation may be removed; prefer a replacement.")
    docs = operation.get("externalDocs")
    if isinstance(docs, dict) and isinstance(docs.get("url"), str):
        parts.append(f"Docs: {docs['url']}")
    full = "\n\n".join(part for part in parts if part) or summary_text
    return summary_text, full


def _one_line(text: Any) -> str:
    return " ".join(str(text).split()) if isinstance(text, str) else ""


__all__ = ["FILE_SCHEMA", "METHODS", "READ_ONLY_METHODS", "ToolBuilder", "is_json_media_type"]
