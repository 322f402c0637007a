"""One :class:`~executor.models.ToolDefinition` per Discovery method.

Methods are found through nested ``resources`` and named by their path from the document's
root: ``users.messages.send`` for Gmail's ``gmail.users.messages.send`` (each segment made an
identifier, ``batchDelete`` → ``batch_delete``, ``import`` → ``import_``). The input schema is
flat: path and query parameters by identifier (``userId`` → ``user_id``), in
``parameterOrder`` first, then the request body as one ``body`` argument and, where the
method accepts media uploads, the file as ``media``. The binding tells the call side
(``request.py``) how to put them on the wire::

    {"method": "POST", "path": "gmail/v1/users/{userId}/messages/send",
     "servers": [{"url": "https://gmail.googleapis.com/", "variables": {}}],
     "service_path": "",
     "parameters": [{"name": "userId", "in": "path", "arg": "user_id", "required": true,
                     "default": "me", "style": "simple", "explode": false,
                     "allow_reserved": false, "content_type": null}, ...],
     "body": {"mode": "whole", "arg": "body", "properties": [], "required": false,
              "content_type": "application/json", "encoding": {}} | null,
     "media": {"arg": "media", "path": "/upload/gmail/v1/users/{userId}/messages/send",
               "accept": ["message/*"], "default_type": "message/rfc822",
               "max_size": 36700160, "multipart": true} | null,
     "scopes": ["https://mail.google.com/", ...]}

A required path parameter with a ``default`` (Gmail's ``userId: me``) is optional here: the
call side fills the default in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from executor.addresses import to_identifier, unique_names
from executor.errors import SpecError
from executor.models import PolicyAction, ToolDefinition
from executor.sources.discovery.schemas import SchemaResolver, to_json_schema
from executor.sources.openapi.operations import FILE_SCHEMA
from executor.sources.openapi.schemas import SchemaBundler

READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
#: Document-wide parameters worth offering as arguments; the rest (``key``, ``access_token``,
#: ``prettyPrint``, ``uploadType``, ``$.xgafv``, …) are credentials or transport details.
USEFUL_GLOBAL_PARAMETERS = ("fields",)
_SUMMARY_LENGTH = 120
_SENTENCE = re.compile(r"(.+?[.!?])(\s|$)")
_LOCATIONS = ("path", "query")
#: What a wildcard media type is sent as when the caller names no type.
_WILDCARD_DEFAULTS = {"message/*": "message/rfc822", "text/*": "text/plain"}


@dataclass(frozen=True)
class _Method:
    key: str
    segments: tuple[str, ...]
    spec: dict[str, Any]


class MethodBuilder:
    """Builds the tools of one Discovery document (see the module docstring)."""

    def __init__(self, document: dict[str, Any], *, root_url: str, service_path: str) -> None:
        self._document = document
        schemas = document.get("schemas")
        self._resolver = SchemaResolver(schemas if isinstance(schemas, dict) else {})
        self._bundler = SchemaBundler(self._resolver, version="3.1")
        self._root_url = root_url
        self._service_path = service_path
        raw_globals = document.get("parameters")
        self._globals = raw_globals if isinstance(raw_globals, dict) else {}
        self.warnings: list[str] = []

    def build(self) -> list[ToolDefinition]:
        """Every method's tool; a method that cannot be understood is skipped with a warning."""
        drafts: list[tuple[str, str, ToolDefinition]] = []
        for method in _methods(self._document):
            try:
                tool = self._tool(method)
            except (SpecError, RecursionError, TypeError, AttributeError, ValueError) as exc:
                reason = exc.message if isinstance(exc, SpecError) else "malformed or too deep"
                self.warnings.append(f"Skipped method {method.key}: {reason}")
                continue
            name = ".".join(to_identifier(segment) for segment in method.segments)
            drafts.append((method.key, name, tool))
        names = unique_names((key, name) for key, name, _ in drafts)
        return [replace(tool, name=names[key]) for key, _, tool in drafts]

    def _tool(self, method: _Method) -> ToolDefinition:
        spec = method.spec
        http_method = spec.get("httpMethod")
        path = spec.get("path")
        if not isinstance(http_method, str) or not http_method.strip():
            raise SpecError("it has no 'httpMethod'.")
        if not isinstance(path, str):
            raise SpecError("it has no 'path'.")
        http_method = http_method.strip().upper()
        used: set[str] = set()
        properties: dict[str, Any] = {}
        required: list[str] = []
        bindings: list[dict[str, Any]] = []
        parameters = self._parameters(spec)
        args = _argument_names([name for name, _ in parameters])
        for name, param in parameters:
            arg = args[name]
            schema, binding = self._parameter(name, param, arg, used)
            properties[arg] = schema
            bindings.append(binding)
            if binding["required"] and binding["default"] is None:
                required.append(arg)

        media = _media(spec, taken=set(properties))
        body: dict[str, Any] | None = None
        request = spec.get("request")
        if isinstance(request, dict):
            arg = _free_name("body", set(properties))
            schema = _as_object(self._bundler.convert(to_json_schema(request), None, used))
            ref = request.get("$ref")
            schema.setdefault(
                "description", f"The request body: a {ref} object." if ref else "The request body."
            )
            properties[arg] = schema
            body = {
                "mode": "whole",
                "arg": arg,
                "properties": [],
                "content_type": "application/json",
                "required": media is None,
                "encoding": {},
            }
            if media is None:
                required.append(arg)
        if media is not None:
            properties[media["arg"]] = _media_schema(media, has_body=body is not None)

        input_schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            input_schema["required"] = required
        input_schema["additionalProperties"] = False
        is_read_only = http_method in READ_ONLY_METHODS
        policy: PolicyAction = "allow" if is_read_only else "require_approval"
        summary, description = _texts(spec, http_method, path, media)
        return ToolDefinition(
            name="",
            summary=summary,
            description=description,
            input_schema=self._bundler.bundle(input_schema, used),
            output_schema=self._output_schema(spec),
            tags=(".".join(method.segments[:-1]),) if len(method.segments) > 1 else (),
            default_policy=policy,
            is_read_only=is_read_only,
            is_destructive=http_method == "DELETE",
            binding={
                "method": http_method,
                "path": path,
                "servers": [{"url": self._root_url, "variables": {}}],
                "service_path": self._service_path,
                "parameters": bindings,
                "body": body,
                "media": media,
                "scopes": _strings(spec.get("scopes")),
            },
        )

    def _parameters(self, spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The method's parameters in ``parameterOrder``, then as declared, then useful globals."""
        own = spec.get("parameters")
        own = own if isinstance(own, dict) else {}
        declared = {
            name: param
            for name, param in own.items()
            if isinstance(param, dict) and param.get("location") in _LOCATIONS
        }
        order = spec.get("parameterOrder")
        ordered = [name for name in order if name in declared] if isinstance(order, list) else []
        ordered = list(dict.fromkeys([*ordered, *declared]))
        result = [(name, declared[name]) for name in ordered]
        for name in USEFUL_GLOBAL_PARAMETERS:
            param = self._globals.get(name)
            if name not in own and isinstance(param, dict) and param.get("location") == "query":
                result.append((name, param))
        if spec.get("supportsMediaDownload") is True and "alt" not in own:
            result.append(
                (
                    "alt",
                    {
                        "type": "string",
                        "location": "query",
                        "enum": ["json", "media"],
                        "description": "'media' downloads the content itself instead of "
                        "its metadata.",
                    },
                )
            )
        return result

    def _parameter(
        self, name: str, param: dict[str, Any], arg: str, used: set[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        location = param["location"]
        schema = to_json_schema(
            {k: v for k, v in param.items() if k not in ("location", "repeated", "required")}
        )
        description = schema.pop("description", None) if param.get("repeated") is True else None
        if param.get("repeated") is True:
            schema = {"type": "array", "items": schema}
            if description:
                schema["description"] = description
        prop = _as_object(self._bundler.convert(schema, None, used))
        default = param.get("default") if location == "path" else None
        binding = {
            "name": name,
            "in": location,
            "arg": arg,
            "required": location == "path" or param.get("required") is True,
            "default": default if isinstance(default, str) else None,
            "style": "simple" if location == "path" else "form",
            "explode": location == "query",
            "allow_reserved": False,
            "content_type": None,
        }
        return prop, binding

    def _output_schema(self, spec: dict[str, Any]) -> dict[str, Any] | None:
        response = spec.get("response")
        if not isinstance(response, dict):
            return None
        used: set[str] = set()
        converted = self._bundler.convert(to_json_schema(response), None, used)
        return self._bundler.bundle(converted, used)


def _methods(document: dict[str, Any]) -> Iterator[_Method]:
    """Every method in the document, depth first, with its path of resource names."""
    pending: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), document)]
    while pending:
        prefix, node = pending.pop(0)
        methods = node.get("methods")
        if isinstance(methods, dict):
            for name, spec in methods.items():
                if isinstance(spec, dict):
                    segments = (*prefix, str(name))
                    key = spec.get("id") if isinstance(spec.get("id"), str) else ".".join(segments)
                    yield _Method(str(key), segments, spec)
        resources = node.get("resources")
        if isinstance(resources, dict):
            pending.extend(
                ((*prefix, str(name)), child)
                for name, child in resources.items()
                if isinstance(child, dict)
            )


def count_methods(document: dict[str, Any]) -> int:
    """How many methods the document declares (through all its resources)."""
    return sum(1 for _ in _methods(document))


def _argument_names(names: list[str]) -> dict[str, str]:
    """Identifiers for parameter names, distinct; assigned in name order, so deterministic."""
    taken: set[str] = set()
    result: dict[str, str] = {}
    for name in sorted(names):
        base = to_identifier(name, fallback="param")
        candidate, counter = base, 2
        while candidate in taken:
            candidate = f"{base}_{counter}"
            counter += 1
        taken.add(candidate)
        result[name] = candidate
    return result


def _free_name(stem: str, taken: set[str]) -> str:
    """``stem``, or ``stem_2``, ``stem_3``… when a parameter already has that name."""
    name, counter = stem, 2
    while name in taken:
        name, counter = f"{stem}_{counter}", counter + 1
    return name


def _media(spec: dict[str, Any], *, taken: set[str]) -> dict[str, Any] | None:
    """The media upload binding of a method that declares a simple upload, else None."""
    upload = spec.get("mediaUpload")
    if spec.get("supportsMediaUpload") is not True or not isinstance(upload, dict):
        return None
    protocols = upload.get("protocols")
    simple = protocols.get("simple") if isinstance(protocols, dict) else None
    if not isinstance(simple, dict) or not isinstance(simple.get("path"), str):
        return None
    accept = _strings(upload.get("accept"))
    max_size = upload.get("maxSize")
    return {
        "arg": _free_name("media", taken),
        "path": simple["path"],
        "accept": accept,
        "default_type": _default_media_type(accept),
        "max_size": int(max_size)
        if isinstance(max_size, str | int) and str(max_size).isdigit()
        else None,
        "multipart": simple.get("multipart") is True,
    }


def _default_media_type(accept: list[str]) -> str:
    for media_type in accept:
        if "*" not in media_type:
            return media_type
        if media_type in _WILDCARD_DEFAULTS:
            return _WILDCARD_DEFAULTS[media_type]
    return "application/octet-stream"


def _media_schema(media: dict[str, Any], *, has_body: bool) -> dict[str, Any]:
    accepted = ", ".join(media["accept"]) or "any type"
    text = (
        f"File content to upload ({accepted}; sent as {media['default_type']} unless "
        "content_type says otherwise): text, or {content_base64, content_type?}."
    )
    if has_body and media["multipart"]:
        text += " With body as well, both go in one multipart upload."
    return {**FILE_SCHEMA, "description": text}


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _as_object(schema: Any) -> dict[str, Any]:
    return schema if isinstance(schema, dict) else {}


def _texts(
    spec: dict[str, Any], http_method: str, path: str, media: dict[str, Any] | None
) -> tuple[str, str]:
    """(one-line summary, complete description) of a method."""
    description = str(spec.get("description") or "").strip()
    line = " ".join(description.split())
    match = _SENTENCE.match(line)
    summary = (match.group(1) if match else line) or f"{http_method} {path}"
    if len(summary) > _SUMMARY_LENGTH:
        summary = summary[: _SUMMARY_LENGTH - 1].rstrip() + "…"
    parts = [description or summary]
    if media is not None:
        parts.append(f"Upload a file with {media['arg']}= (simple upload to {media['path']}).")
    if spec.get("deprecated") is True:
        parts.append("Deprecated: this method may be removed; prefer a replacement.")
    return summary, "\n\n".join(parts)


__all__ = ["READ_ONLY_METHODS", "USEFUL_GLOBAL_PARAMETERS", "MethodBuilder", "count_methods"]
