"""Discovery schemas as JSON Schema, converted lazily and bundled by the OpenAPI bundler.

A Discovery document keeps its schemas in one ``schemas`` map and refers to them by bare id
(``{"$ref": "Message"}``). :class:`SchemaResolver` is a :class:`RefResolver` over that map: a
bare id names ``#/components/schemas/<id>``, and a schema is converted the first time a tool
reaches it. The OpenAPI :class:`SchemaBundler` then turns references into ``$defs`` entries
per tool, so cycles (a ``Message`` whose ``parts`` are ``MessagePart``s holding ``parts``…)
stay finite and each tool carries only the definitions it reaches.

Conversion from the Discovery dialect (JSON Schema draft 3 with Google additions):

- ``type: "any"`` means no type constraint; numeric ``minimum``/``maximum`` and ``default``
  values written as strings (``"100"``, ``"true"``) become numbers and booleans;
- 64-bit integers (``format: int64``/``uint64``) are strings on the wire; integers are
  accepted as well, since JSON numbers of that size are what callers naturally pass;
- a property's ``required: true`` moves into its parent's ``required`` list;
- ``enumDescriptions`` are folded into the description (``VALUE: meaning`` lines), so an
  agent sees what each value does;
- ``id``, ``annotations``, ``location`` and other Discovery-only keys are dropped (by the
  bundler, which keeps JSON Schema keywords only).
"""

from __future__ import annotations

from typing import Any

from executor.errors import SpecError
from executor.sources.openapi.refs import Location, RefResolver

_COMPONENTS = "/components/schemas/"
_WIDE_INTEGERS = frozenset({"int64", "uint64"})
_MAX_ENUM_NOTES = 40


class SchemaResolver(RefResolver):
    """Resolves Discovery ``$ref`` ids against the document's ``schemas``, converting lazily."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        super().__init__({"components": {"schemas": {}}}, None)
        self._raw = schemas
        self._converted: dict[str, Any] = {}

    def locate(self, ref: str, base: Location) -> tuple[Location, str]:
        """Every Discovery reference is a schema id in the one document."""
        return None, _COMPONENTS + ref.replace("~", "~0").replace("/", "~1")

    def lookup(self, ref: str, base: Location) -> tuple[Any, Location, str]:
        """The converted schema ``ref`` names; :class:`SpecError` when there is none."""
        location, pointer = self.locate(ref, base)
        converted = self._converted.get(ref)
        if converted is None:
            raw = self._raw.get(ref)
            if not isinstance(raw, dict):
                raise SpecError(
                    f"$ref {ref!r} names no schema in the document's 'schemas'.",
                    hint="Add the schema, or fix the reference.",
                )
            converted = self._converted[ref] = to_json_schema(raw)
        return converted, location, pointer


def to_json_schema(schema: Any) -> Any:
    """One Discovery schema (without following ``$ref``s) in JSON Schema terms."""
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        return {}
    result: dict[str, Any] = {}
    required: list[str] = []
    for key, value in schema.items():
        if key == "properties":
            if isinstance(value, dict):
                result[key] = {name: to_json_schema(sub) for name, sub in value.items()}
                required.extend(
                    name
                    for name, sub in value.items()
                    if isinstance(sub, dict) and sub.get("required") is True
                )
        elif key in ("items", "additionalProperties"):
            result[key] = to_json_schema(value)
        elif key == "type":
            if value != "any":
                result[key] = value
        elif key in ("minimum", "maximum"):
            number = _number(value)
            if number is not None:
                result[key] = number
        elif key == "required":
            if isinstance(value, list):
                required.extend(name for name in value if isinstance(name, str))
        elif key != "enumDescriptions":
            result[key] = value
    if required:
        result["required"] = list(dict.fromkeys(required))
    if result.get("type") == "string" and result.get("format") in _WIDE_INTEGERS:
        result["type"] = ["string", "integer"]
    if "default" in result:
        result["default"] = _typed(result["default"], result.get("type"))
    notes = _enum_notes(schema)
    if notes:
        description = str(result.get("description") or "").strip()
        result["description"] = f"{description}\n\n{notes}".strip()
    return result


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _typed(value: Any, declared: Any) -> Any:
    """A ``default`` written as text, as a value of the declared type (else left as it is)."""
    if not isinstance(value, str):
        return value
    if declared == "boolean" and value in ("true", "false"):
        return value == "true"
    if declared in ("integer", "number"):
        number = _number(value)
        return value if number is None else number
    return value


def _enum_notes(schema: dict[str, Any]) -> str:
    values, notes = schema.get("enum"), schema.get("enumDescriptions")
    if not (isinstance(values, list) and isinstance(notes, list)):
        return ""
    lines = [
        f"- {value}: {' '.join(str(note).split())}"
        for value, note in zip(values, notes, strict=False)
        if isinstance(note, str) and note.strip()
    ]
    return "\n".join(lines[:_MAX_ENUM_NOTES])


__all__ = ["SchemaResolver", "to_json_schema"]
