"""Forms a person fills in: the fields of a flat JSON Schema, and typed values from text.

An upstream MCP server that asks the user something (elicitation) describes its form as a JSON
Schema object whose properties are strings, numbers, integers, booleans, single-choice enums
(``enum``, or ``oneOf`` of ``const``/``title``) and multiple-choice arrays of those. The web UI's
approval page, the CLI and the MCP surface's words to the agent all show such a form through
:func:`form_fields`; a value typed as text becomes the JSON value the schema wants through
:func:`parse_field`. Anything else is one ``json`` field (typed as JSON). The answer is checked
against the schema itself when the execution resumes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from executor.errors import InvalidInputError

FieldKind = Literal["string", "number", "integer", "boolean", "choice", "choices", "json"]
_TRUE = ("y", "yes", "true", "1", "on")
_FALSE = ("n", "no", "false", "0", "off")


@dataclass(frozen=True)
class Field:
    """One field of a form. ``options`` are the allowed values of a (multiple) choice and
    ``labels`` their titles; ``default`` is None when the schema gives none."""

    name: str
    kind: FieldKind
    title: str
    description: str
    required: bool
    default: Any = None
    options: tuple[Any, ...] = ()
    labels: tuple[str, ...] = ()
    format: str = ""
    minimum: float | None = None
    maximum: float | None = None


def _choices(schema: Mapping[str, Any]) -> tuple[tuple[Any, ...], tuple[str, ...]] | None:
    """The values and titles of an enum (``enum`` + legacy ``enumNames``, or ``oneOf`` /
    ``anyOf`` of ``const``), or None."""
    if isinstance(schema.get("enum"), list):
        values = tuple(schema["enum"])
        names = schema.get("enumNames")
        if isinstance(names, list) and len(names) == len(values):
            return values, tuple(str(name) for name in names)
        return values, tuple(str(value) for value in values)
    for combiner in ("oneOf", "anyOf"):
        options = schema.get(combiner)
        if (
            isinstance(options, list)
            and options
            and all(isinstance(option, dict) and "const" in option for option in options)
        ):
            return (
                tuple(option["const"] for option in options),
                tuple(str(option.get("title", option["const"])) for option in options),
            )
    return None


def _field(name: str, spec: Any, required: bool) -> Field:
    spec = spec if isinstance(spec, dict) else {}
    kind: FieldKind = "json"
    options: tuple[Any, ...] = ()
    labels: tuple[str, ...] = ()
    choices = _choices(spec)
    items = spec.get("items")
    if choices is not None:
        kind, (options, labels) = "choice", choices
    elif spec.get("type") == "array" and isinstance(items, dict) and _choices(items):
        kind, (options, labels) = "choices", _choices(items) or ((), ())
    elif spec.get("type") in ("string", "number", "integer", "boolean"):
        kind = spec["type"]

    def bound(key: str) -> float | None:
        value = spec.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    return Field(
        name=name,
        kind=kind,
        title=str(spec.get("title") or name),
        description=" ".join(str(spec.get("description") or "").split()),
        required=required,
        default=spec.get("default"),
        options=options,
        labels=labels,
        format=str(spec.get("format") or ""),
        minimum=bound("minimum"),
        maximum=bound("maximum"),
    )


def form_fields(schema: Mapping[str, Any]) -> list[Field]:
    """The fields of an object schema, required ones first (each group in schema order)."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    fields = [_field(str(name), spec, name in required) for name, spec in properties.items()]
    return sorted(fields, key=lambda field: not field.required)


def _wants(field: Field) -> str:
    """What a field takes, in words: ``integer``, ``one of "red", "green"``, …"""
    if field.kind == "choice":
        return "one of " + ", ".join(json.dumps(option) for option in field.options)
    if field.kind == "choices":
        return "a list of " + ", ".join(json.dumps(option) for option in field.options)
    return field.kind


def describe_field(field: Field) -> str:
    """``age (integer, required)``, ``colour (one of "red", "green")``, … and its description."""
    notes = [_wants(field), "required"] if field.required else [_wants(field)]
    if field.default is not None:
        notes.append(f"default {json.dumps(field.default)}")
    text = f"{field.name} ({', '.join(notes)})"
    return f"{text}: {field.description}" if field.description else text


def skeleton(fields: list[Field]) -> dict[str, Any]:
    """A placeholder answer for the required fields: ``{"age": "<integer>", ...}``."""
    return {field.name: f"<{_wants(field)}>" for field in fields if field.required}


def parse_field(field: Field, raw: str) -> Any:
    """The JSON value of ``raw`` (text a person typed) for ``field``; raises
    ``invalid_input`` naming the field when it does not fit. Multiple choices are separated by
    commas."""
    text = raw.strip()
    try:
        if field.kind == "string":
            return raw
        if field.kind == "integer":
            return int(text)
        if field.kind == "number":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
        if field.kind == "boolean":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if field.kind == "choice":
            return _option(field, text)
        if field.kind == "choices":
            return [_option(field, part.strip()) for part in text.split(",") if part.strip()]
        return json.loads(text)
    except ValueError:
        raise _unfit(field, raw) from None


def _option(field: Field, text: str) -> Any:
    for option, label in zip(field.options, field.labels, strict=True):
        if text in (str(option), label):
            return option
    raise ValueError(text)


def _unfit(field: Field, raw: str) -> InvalidInputError:
    return InvalidInputError(f"{field.name} cannot be {raw[:40]!r}: it takes {_wants(field)}.")


def form_content(fields: list[Field], form: Mapping[str, list[str]]) -> dict[str, Any]:
    """The answer a submitted HTML form holds: ``form`` maps ``field.<name>`` to the values
    sent (none for an unchecked box). A blank field is left out; an unchecked box is false."""
    content: dict[str, Any] = {}
    for field in fields:
        values = [value for value in form.get(f"field.{field.name}", []) if value.strip()]
        if field.kind == "boolean":
            content[field.name] = bool(values) and parse_field(field, values[-1])
        elif field.kind == "choices":
            if values:
                content[field.name] = [_checked(field, value) for value in values]
        elif values:
            content[field.name] = parse_field(field, values[-1])
    return content


def _checked(field: Field, value: str) -> Any:
    """One ticked box of a multiple choice (its value may hold a comma)."""
    try:
        return _option(field, value)
    except ValueError:
        raise _unfit(field, value) from None
