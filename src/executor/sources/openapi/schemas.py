"""OpenAPI schemas made into self-contained JSON Schema (Draft 2020-12) documents.

Every ``$ref`` to a schema becomes ``{"$ref": "#/$defs/<name>"}`` and the target is converted
once into a shared definition; a tool's schema then carries the ``$defs`` its properties reach,
and no others. Cycles stay finite because a definition refers to itself by name.

Conversion keeps the JSON Schema keywords and drops or rewrites the OpenAPI-only ones:
``nullable`` (3.0) and ``x-nullable`` (Swagger) become a ``"null"`` type (or an ``anyOf`` with
null), boolean ``exclusiveMinimum``/``exclusiveMaximum`` become numbers, ``example`` becomes
``examples``, Swagger's ``type: file`` becomes a binary string, tuple-style ``items`` become
``prefixItems``; ``discriminator``, ``xml``, ``externalDocs``, ``x-*``, ``$id``, ``$schema``,
anchors and unknown keywords are dropped, and malformed keyword values are left out rather than
making the whole schema invalid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from executor.addresses import short_hash
from executor.sources.openapi.refs import Location, RefResolver

_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_VALUES = (
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contentSchema",
)
_TEXT = (
    "title",
    "description",
    "format",
    "pattern",
    "$comment",
    "contentEncoding",
    "contentMediaType",
)
_NUMBERS = ("multipleOf", "maximum", "minimum")
_COUNTS = (
    "maxLength",
    "minLength",
    "maxItems",
    "minItems",
    "maxContains",
    "minContains",
    "maxProperties",
    "minProperties",
)
_FLAGS = ("uniqueItems", "deprecated", "readOnly", "writeOnly")
_ANY = ("default", "const")
_MISSING = object()
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}\Z")
_COMPONENT_POINTERS = ("/components/schemas/", "/definitions/")


class SchemaBundler:
    """Converts OpenAPI schemas and collects the shared definitions they refer to.

    One bundler serves every tool of a spec, so each referenced schema is converted once.
    Not thread-safe: use it from one thread at a time.
    """

    def __init__(self, resolver: RefResolver, *, version: str) -> None:
        self._resolver = resolver
        self._is_legacy = version in ("2.0", "3.0")  # $ref siblings ignored; `nullable` exists
        self._definitions: dict[str, Any] = {}
        self._dependencies: dict[str, frozenset[str]] = {}
        self._names: dict[tuple[Location, str], str] = {}
        self._in_progress: set[str] = set()

    def convert(self, schema: Any, base: Location, used: set[str]) -> Any:
        """``schema`` (found in the document at ``base``) as JSON Schema.

        The names of the definitions it refers to directly are added to ``used``.
        """
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict):
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = self._define(ref, base)
            used.add(name)
            reference = {"$ref": "#/$defs/" + name}
            if self._is_legacy:
                return reference
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            return {**self._convert_object(siblings, base, used), **reference}
        return self._convert_object(schema, base, used)

    def bundle(self, schema: Any, used: Iterable[str]) -> dict[str, Any]:
        """``schema`` with the ``$defs`` it reaches (transitively) from the names in ``used``."""
        reached: dict[str, Any] = {}
        pending = sorted(used)
        while pending:
            name = pending.pop()
            if name in reached:
                continue
            reached[name] = self._definitions[name]
            pending.extend(self._dependencies[name] - reached.keys())
        result = dict(schema) if isinstance(schema, dict) else {"allOf": [schema]}
        if reached:
            result["$defs"] = dict(sorted(reached.items()))
        return result

    def _define(self, ref: str, base: Location) -> str:
        location, pointer = self._resolver.locate(ref, base)
        name = self._names.get((location, pointer))
        if name is None:
            name = self._definition_name(location, pointer)
            self._names[(location, pointer)] = name
        if name in self._definitions or name in self._in_progress:
            return name
        target, target_base, _pointer = self._resolver.lookup(ref, base)
        if isinstance(target, dict) and "$ref" in target:
            self._resolver.deref(target, target_base)  # refuses a chain of $refs that loops
        self._in_progress.add(name)
        try:
            used: set[str] = set()
            converted = self.convert(target, target_base, used)
        finally:
            self._in_progress.discard(name)
        self._definitions[name] = converted
        self._dependencies[name] = frozenset(used)
        return name

    def _definition_name(self, location: Location, pointer: str) -> str:
        last = pointer.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
        is_component = location == self._resolver.root_location and any(
            pointer.startswith(prefix) and pointer.count("/") == prefix.count("/")
            for prefix in _COMPONENT_POINTERS
        )
        if is_component and _SAFE_NAME.match(last):
            return last
        if not last and location:
            last = location.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", last).strip("_")[:60] or "schema"
        return stem + "_" + short_hash(f"{location or ''}#{pointer}", 8)

    def _convert_object(self, schema: dict[str, Any], base: Location, used: set[str]) -> Any:
        result: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _SCHEMA_MAPS:
                if isinstance(value, dict):
                    result[key] = {
                        name: self.convert(sub, base, used) for name, sub in value.items()
                    }
            elif key in _SCHEMA_LISTS:
                if isinstance(value, list) and value:
                    result[key] = [self.convert(sub, base, used) for sub in value]
            elif key in _SCHEMA_VALUES:
                if isinstance(value, dict | bool):
                    result[key] = self.convert(value, base, used)
            elif key == "items":
                if isinstance(value, list):
                    if value:
                        result["prefixItems"] = [self.convert(sub, base, used) for sub in value]
                elif isinstance(value, dict | bool):
                    result[key] = self.convert(value, base, used)
            elif key in _TEXT:
                if isinstance(value, str):
                    result[key] = value
            elif key in _NUMBERS:
                if _is_number(value):
                    result[key] = value
            elif key in _COUNTS:
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    result[key] = value
            elif key in _FLAGS:
                if isinstance(value, bool):
                    result[key] = value
            elif key in _ANY:
                result[key] = value
            elif key == "type":
                _convert_type(value, result)
            elif key == "enum":
                if isinstance(value, list) and value:
                    result[key] = value
            elif key == "required":
                if isinstance(value, list):
                    result[key] = list(dict.fromkeys(v for v in value if isinstance(v, str)))
            elif key == "dependentRequired":
                if isinstance(value, dict):
                    result[key] = {
                        name: list(dict.fromkeys(v for v in names if isinstance(v, str)))
                        for name, names in value.items()
                        if isinstance(names, list)
                    }
            elif key == "examples":
                if isinstance(value, list):
                    result[key] = value
            elif key == "example":
                result.setdefault("examples", [value])
            elif key in ("exclusiveMaximum", "exclusiveMinimum"):
                _convert_exclusive(key, value, schema, result)
        for bound in ("maximum", "minimum"):
            if result.get("exclusive" + bound.capitalize()) == result.get(bound, _MISSING):
                del result[bound]  # made exclusive by a 3.0-style boolean
        if self._is_legacy and (schema.get("nullable") is True or schema.get("x-nullable") is True):
            return _make_nullable(result)
        if not self._is_legacy and schema.get("nullable") is True:
            # Not a 3.1 keyword, but common in specs upgraded by hand: honour the intent.
            return _make_nullable(result)
        return result


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _convert_type(value: Any, result: dict[str, Any]) -> None:
    if value == "file":  # Swagger 2.0 file uploads
        result["type"] = "string"
        result.setdefault("format", "binary")
    elif isinstance(value, str) and value in _TYPES:
        result["type"] = value
    elif isinstance(value, list):
        types = list(dict.fromkeys(t for t in value if isinstance(t, str) and t in _TYPES))
        if types:
            result["type"] = types[0] if len(types) == 1 else types


def _convert_exclusive(
    key: str, value: Any, schema: dict[str, Any], result: dict[str, Any]
) -> None:
    if _is_number(value):
        result[key] = value
        return
    bound = "maximum" if key == "exclusiveMaximum" else "minimum"
    # OpenAPI 3.0 / Swagger: a boolean that makes `maximum`/`minimum` exclusive.
    if value is True and _is_number(schema.get(bound)):
        result[key] = schema[bound]


def _make_nullable(result: dict[str, Any]) -> dict[str, Any]:
    declared = result.get("type")
    if isinstance(declared, str):
        if declared != "null":
            result["type"] = [declared, "null"]
    elif isinstance(declared, list):
        if "null" not in declared:
            result["type"] = [*declared, "null"]
    elif any(key in result for key in ("$ref", "allOf", "anyOf", "oneOf", "not", "const")):
        annotations: dict[str, Any] = {
            k: result.pop(k) for k in ("title", "description", "default") if k in result
        }
        return {**annotations, "anyOf": [result, {"type": "null"}]}
    if isinstance(result.get("enum"), list) and None not in result["enum"]:
        result["enum"] = [*result["enum"], None]
    return result


__all__ = ["SchemaBundler"]
