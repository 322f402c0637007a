"""Type stubs generated from JSON Schemas."""

from __future__ import annotations

from typing import Any

import pytest

from executor.sandbox import stub_for

OBJ = "object"
INT, STR = {"type": "integer"}, {"type": "string"}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({}, "def f(**kwargs: Any) -> dict[str, Any]: ..."),
        ({"type": OBJ, "properties": {}}, "def f(**kwargs: Any) -> dict[str, Any]: ..."),
        (
            {
                "type": OBJ,
                "required": ["b"],
                "properties": {"a": INT, "b": STR},
            },
            "def f(*, b: str, a: int = ...) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "properties": {"n": {"type": "number"}, "ok": {"type": "boolean"}}},
            "def f(*, n: float = ..., ok: bool = ...) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "properties": {"s": {"type": "string", "enum": ["asc", "desc"]}}},
            "def f(*, s: Literal['asc', 'desc'] = ...) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "properties": {"s": {"type": ["string", "null"]}}},
            "def f(*, s: str | None = ...) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "properties": {"s": {"type": "string", "nullable": True}}},
            "def f(*, s: str | None = ...) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "properties": {"t": {"type": "array", "items": {"type": "integer"}}}},
            "def f(*, t: Sequence[int] = ...) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "properties": {"t": {"type": "array"}}},
            "def f(*, t: Sequence[Any] = ...) -> dict[str, Any]: ...",
        ),
        (
            {
                "type": OBJ,
                "properties": {"m": {"type": OBJ, "additionalProperties": {"type": "string"}}},
            },
            "def f(*, m: Mapping[str, str] = ...) -> dict[str, Any]: ...",
        ),
        (
            {
                "type": OBJ,
                "properties": {"x": {"anyOf": [STR, INT]}},
            },
            "def f(*, x: str | int = ...) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "properties": {"x": {"$ref": "#/components/schemas/Pet"}}},
            "def f(*, x: Any = ...) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "properties": {"x": {"const": 3}}},
            "def f(*, x: Literal[3] = ...) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "properties": {"user-id": {"type": "string"}, "q": {"type": "string"}}},
            "def f(*, q: str = ..., **kwargs: Any) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "properties": {"from": {"type": "string"}}},
            "def f(**kwargs: Any) -> dict[str, Any]: ...",
        ),
        (
            {"type": OBJ, "additionalProperties": True, "properties": {"a": {"type": "string"}}},
            "def f(*, a: str = ..., **kwargs: Any) -> dict[str, Any]: ...",
        ),
    ],
)
def test_stub_for_maps_json_schema_to_a_signature(schema: dict[str, Any], expected: str) -> None:
    assert stub_for(schema, "f") == expected + "\n"


def test_object_parameters_get_a_typed_dict_with_required_keys() -> None:
    schema = {
        "type": "object",
        "required": ["body"],
        "properties": {
            "body": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "content-type": {"type": "string"}},
            }
        },
    }
    assert stub_for(schema, "create") == (
        "_create__Body = TypedDict('_create__Body', "
        "{'name': Required[str], 'content-type': str}, total=False)\n"
        "def create(*, body: _create__Body | dict[str, Any]) -> dict[str, Any]: ...\n"
    )


def test_self_referencing_depth_is_cut_off_at_any() -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    node = schema
    for _ in range(10):
        child: dict[str, Any] = {"type": "object", "properties": {}}
        node["properties"]["c"] = child
        node = child
    assert "Any" in stub_for(schema, "deep")
