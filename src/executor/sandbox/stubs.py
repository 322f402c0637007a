"""Type stubs (``.pyi`` text) generated from tools' JSON Schemas, for Monty's type checker.

With stubs, a missing, misspelt or mistyped argument is reported with its line and column
before any tool runs. Stubs are deliberately lenient where the checker would reject working
code (measured with Monty 1.4.0's ``ty``):

- an object parameter is ``_TypedDict | dict[str, Any]``: a strict TypedDict rejects a dict
  built in a variable first (``body = {...}; create(body=body)`` is ``dict[str, str]``), the
  most common way agents write calls; literal dicts still show the TypedDict in diagnostics;
- arrays are ``Sequence[...]`` and maps ``Mapping[str, ...]``, because ``list``/``dict`` are
  invariant and ``[1, 2]`` in a variable is ``list[int]``, not ``list[int | None]``;
- whatever cannot be expressed (``$ref``, ``allOf`` of several parts, deep nesting, non-scalar
  enums) is ``Any``. The call pipeline validates arguments against the schema anyway.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any

#: The ``import`` line every generated stub module starts with.
HEADER = (
    "from collections.abc import Mapping, Sequence\n"
    "from typing import Any, Literal, Required, TypedDict\n"
)

_MAX_DEPTH = 6
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _is_identifier(name: str) -> bool:
    return bool(_IDENTIFIER.match(name)) and not keyword.iskeyword(name)


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


class _Builder:
    """Turns schemas into annotations, collecting the TypedDicts they need."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.definitions: list[str] = []
        self._names: set[str] = set()

    def _typed_dict_name(self, hint: str) -> str:
        base = f"_{self.prefix}__{_camel(hint)}" if hint else f"_{self.prefix}"
        name, n = base, 2
        while name in self._names:
            name, n = f"{base}{n}", n + 1
        self._names.add(name)
        return name

    def annotation(self, schema: Any, hint: str, depth: int = 0) -> str:
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return "Any"
        nullable = schema.get("nullable") is True
        annotation = self._annotation(schema, hint, depth)
        if nullable and annotation not in ("Any", "None") and "None" not in annotation.split(" | "):
            annotation += " | None"
        return annotation

    def _annotation(self, schema: Mapping[str, Any], hint: str, depth: int) -> str:
        if "const" in schema:
            return self._literal([schema["const"]])
        if "enum" in schema and isinstance(schema["enum"], list):
            return self._literal(schema["enum"])
        for combinator in ("anyOf", "oneOf"):
            options = schema.get(combinator)
            if isinstance(options, list) and options:
                return self._union([self.annotation(option, hint, depth + 1) for option in options])
        all_of = schema.get("allOf")
        if isinstance(all_of, list):
            return self.annotation(all_of[0], hint, depth + 1) if len(all_of) == 1 else "Any"
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._union([self._typed(schema, k, hint, depth) for k in kind])
        if isinstance(kind, str):
            return self._typed(schema, kind, hint, depth)
        if "properties" in schema:
            return self._typed(schema, "object", hint, depth)
        return "Any"

    def _typed(self, schema: Mapping[str, Any], kind: str, hint: str, depth: int) -> str:
        if kind in _SCALARS:
            return _SCALARS[kind]
        if kind == "array":
            items = schema.get("items")
            return f"Sequence[{self.annotation(items, hint + '_item', depth + 1)}]"
        if kind == "object":
            properties = schema.get("properties")
            if isinstance(properties, Mapping) and properties:
                typed = self._typed_dict(schema, properties, hint, depth)
                return f"{typed} | dict[str, Any]"
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping) and extra:
                return f"Mapping[str, {self.annotation(extra, hint + '_value', depth + 1)}]"
            return "dict[str, Any]"
        return "Any"

    def _typed_dict(
        self, schema: Mapping[str, Any], properties: Mapping[str, Any], hint: str, depth: int
    ) -> str:
        name = self._typed_dict_name(hint)
        required = set(schema.get("required") or ())
        fields = []
        for key, sub in properties.items():
            annotation = self.annotation(sub, f"{hint}_{key}", depth + 1)
            if key in required:
                annotation = f"Required[{annotation}]"
            fields.append(f"{key!r}: {annotation}")
        # The functional form takes any key, including "content-type" and "from".
        self.definitions.append(
            f"{name} = TypedDict({name!r}, {{{', '.join(fields)}}}, total=False)"
        )
        return name

    @staticmethod
    def _literal(values: list[Any]) -> str:
        parts = []
        has_none = False
        for value in values:
            if value is None:
                has_none = True
            elif isinstance(value, bool | int | str):
                parts.append(repr(value))
            else:
                return "Any"
        if not parts:
            return "None" if has_none else "Any"
        literal = f"Literal[{', '.join(parts)}]"
        return f"{literal} | None" if has_none else literal

    @staticmethod
    def _union(members: list[str]) -> str:
        if "Any" in members:
            return "Any"
        seen: list[str] = []
        for member in members:
            for part in member.split(" | "):
                if part not in seen:
                    seen.append(part)
        return " | ".join(seen)


def stub_for(schema: Mapping[str, Any], name: str) -> str:
    """A ``.pyi`` function declaration for a tool whose input schema is ``schema``.

    Parameters are keyword-only; required ones have no default; optional ones default to
    ``...``. Object parameters get a ``TypedDict`` (declared above the function), enums a
    ``Literal``, arrays ``Sequence[...]``, nullable values ``X | None``; anything else is
    ``Any``. Properties that are not Python identifiers (``user-id``, ``from``) can only be
    passed as ``**{...}``, so they turn into ``**kwargs: Any``; so does a schema without
    properties. The tool returns its result envelope, ``dict[str, Any]``. The text does not
    include :data:`HEADER` (one per module).
    """
    builder = _Builder(name)
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    required = set(schema.get("required") or ()) if isinstance(schema, Mapping) else set()
    params: list[str] = []
    open_ended = not isinstance(properties, Mapping) or not properties
    if isinstance(properties, Mapping):
        ordered = sorted(properties, key=lambda key: key not in required)
        for key in ordered:
            if not _is_identifier(key):
                open_ended = True
                continue
            annotation = builder.annotation(properties[key], key)
            params.append(f"{key}: {annotation}" + ("" if key in required else " = ..."))
    if params:
        params.insert(0, "*")
    if open_ended or schema.get("additionalProperties") not in (None, False):
        params.append("**kwargs: Any")
    lines = [*builder.definitions, f"def {name}({', '.join(params)}) -> dict[str, Any]: ..."]
    return "\n".join(lines) + "\n"
