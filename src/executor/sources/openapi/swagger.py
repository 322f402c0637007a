"""Swagger 2.0 pieces rewritten into their OpenAPI 3 shapes, one operation at a time.

Only what an operation touches is converted: its parameters (``collectionFormat`` →
``style``/``explode``, inline ``type``/``items`` → ``schema``), its ``in: body`` and
``in: formData`` parameters (→ a ``requestBody`` with a media type from ``consumes``), its
responses (``schema`` → ``content`` with a media type from ``produces``), and the document's
``schemes``/``host``/``basePath`` (→ ``servers``). Schemas keep their Swagger form; the schema
converter understands it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

#: Swagger ``collectionFormat`` → OpenAPI 3 (style, explode) for query parameters.
_QUERY_STYLES = {
    "csv": ("form", False),
    "ssv": ("spaceDelimited", False),
    "pipes": ("pipeDelimited", False),
    "tsv": ("tabDelimited", False),
    "multi": ("form", True),
}
_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "x-nullable",
)
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


def servers(document: dict[str, Any], spec_url: str | None) -> list[dict[str, Any]]:
    """OpenAPI 3 servers from ``schemes``, ``host`` and ``basePath``.

    A missing host or scheme comes from the spec's own URL, as Swagger 2.0 specifies.
    """
    base_path = str(document.get("basePath") or "/")
    if not base_path.startswith("/"):
        base_path = "/" + base_path
    spec = urlsplit(spec_url) if spec_url and spec_url.startswith(("http:", "https:")) else None
    host = document.get("host") or (spec.netloc if spec else None)
    if not host:
        return [{"url": base_path}]
    schemes = [s for s in document.get("schemes") or [] if s in ("https", "http")]
    if not schemes:
        schemes = [spec.scheme] if spec else ["https"]
    return [{"url": f"{scheme}://{host}{base_path}".rstrip("/")} for scheme in schemes]


def parameter(param: dict[str, Any]) -> dict[str, Any]:
    """One path/query/header/cookie parameter in its OpenAPI 3 form."""
    location = param.get("in")
    converted: dict[str, Any] = {
        key: param[key] for key in ("name", "in", "description", "required") if key in param
    }
    converted["schema"] = _schema_of(param)
    if param.get("type") == "array":
        collection = str(param.get("collectionFormat") or "csv")
        if location == "query":
            style, explode = _QUERY_STYLES.get(collection, ("form", False))
        else:
            style, explode = "simple", False
        converted["style"], converted["explode"] = style, explode
    if param.get("allowEmptyValue"):
        converted["allowEmptyValue"] = True
    return converted


def request_body(params: list[dict[str, Any]], consumes: list[str]) -> dict[str, Any] | None:
    """The ``requestBody`` that an operation's ``body`` or ``formData`` parameters describe."""
    for param in params:
        if param.get("in") == "body":
            media_type = _pick_json(consumes) or (consumes[0] if consumes else "application/json")
            body: dict[str, Any] = {
                "required": bool(param.get("required")),
                "content": {media_type: {"schema": param.get("schema") or {}}},
            }
            if param.get("description"):
                body["description"] = param["description"]
            return body
    fields = [param for param in params if param.get("in") == "formData"]
    if not fields:
        return None
    has_file = any(param.get("type") == "file" for param in fields)
    if _MULTIPART in consumes and (has_file or _FORM not in consumes):
        media_type = _MULTIPART
    elif _FORM in consumes:
        media_type = _FORM
    else:
        media_type = _MULTIPART if has_file else _FORM
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            param["name"]: {
                **_schema_of(param),
                **({"description": param["description"]} if param.get("description") else {}),
            }
            for param in fields
            if isinstance(param.get("name"), str)
        },
    }
    required = [param["name"] for param in fields if param.get("required")]
    if required:
        schema["required"] = required
    return {"required": bool(required), "content": {media_type: {"schema": schema}}}


def response_content(response: dict[str, Any], produces: list[str]) -> dict[str, Any]:
    """A Swagger response's ``schema`` as OpenAPI 3 ``content``."""
    if "schema" not in response:
        return {}
    # Swagger's default (and by far the common case) is JSON when `produces` says nothing.
    media_type = _pick_json(produces) or (produces[0] if produces else "application/json")
    return {media_type: {"schema": response["schema"]}}


def _schema_of(param: dict[str, Any]) -> dict[str, Any]:
    schema = {key: param[key] for key in _SCHEMA_KEYS if key in param}
    items = schema.get("items")
    if isinstance(items, dict) and "collectionFormat" in items:
        schema["items"] = {key: items[key] for key in _SCHEMA_KEYS if key in items}
    return schema


def _pick_json(media_types: list[str]) -> str | None:
    for media_type in media_types:
        base = media_type.split(";", 1)[0].strip().lower()
        if base == "application/json" or base.endswith("+json"):
            return media_type
    return None


__all__ = ["parameter", "request_body", "response_content", "servers"]
