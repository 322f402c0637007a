"""``$ref`` resolution: local and remote, cycles, and self-contained per-tool schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest

from executor.errors import FetchError
from executor.sources.base import FetchPolicy, SourceBundle, SourceConfig
from executor.sources.openapi import OpenAPIPlugin
from executor.sources.openapi.refs import MissingDocument, RefResolver
from executor.sources.openapi.schemas import SchemaBundler
from tests.sources.openapi._spec_server import SPECS, serve_directory

POLICY = FetchPolicy(timeout=10.0)


async def load(config: SourceConfig, policy: FetchPolicy = POLICY) -> SourceBundle:
    return await OpenAPIPlugin().load(config, fetch_policy=policy)


def spec(paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> str:
    document = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas or {}},
    }
    return orjson.dumps(document).decode()


def post_with_body(schema: dict[str, Any], operation_id: str = "things/create") -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {"204": {"description": "ok"}},
        }
    }


@pytest.fixture(scope="module")
def split_server() -> Iterator[str]:
    with serve_directory(SPECS / "split") as url:
        yield url


def assert_split_widgets(bundle: SourceBundle) -> None:
    tools = {tool.name: tool for tool in bundle.tools}
    assert sorted(tools) == ["widgets.get", "widgets.replace"]
    getter = tools["widgets.get"]
    assert getter.input_schema["properties"]["widget_id"]["pattern"] == "^[a-z0-9-]+$"
    assert getter.input_schema["required"] == ["widget_id"]
    output = getter.output_schema
    assert output is not None
    definitions = sorted(output["$defs"])
    assert definitions[0].startswith("Gadget_") and definitions[2].startswith("Widget_")
    assert definitions[1] == "Tag"  # a component of the root document keeps its name
    validator = jsonschema_rs.validator_for(output)
    widget = {"name": "w", "parts": [None, {"size": 1}], "tags": [{"widget": {"name": "x"}}]}
    assert validator.is_valid(widget)
    assert not validator.is_valid({"name": "w", "tags": [{"widget": {}}]})
    replacer = tools["widgets.replace"]
    assert replacer.binding["body"]["properties"] == ["name", "parts", "tags"]
    assert replacer.input_schema["required"] == ["widget_id", "name"]
    assert replacer.input_schema["properties"]["parts"]["items"] == {
        "$ref": f"#/$defs/{definitions[0]}"
    }
    jsonschema_rs.validator_for(replacer.input_schema)


async def test_remote_refs_across_served_files_are_fetched_and_bundled(split_server: str) -> None:
    bundle = await load(SourceConfig(url=f"{split_server}/root.yaml"))
    assert_split_widgets(bundle)


async def test_relative_refs_between_local_files_are_followed() -> None:
    bundle = await load(SourceConfig(path=str(SPECS / "split" / "root.yaml")))
    assert_split_widgets(bundle)


async def test_inline_text_may_not_reach_local_files_through_refs() -> None:
    text = (SPECS / "split" / "root.yaml").read_text()
    with pytest.raises(FetchError, match="referenced by inline spec text"):
        await load(SourceConfig(text=text))


async def test_cyclic_schemas_import_with_finite_self_contained_schemas() -> None:
    schemas = {
        "Node": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                "owner": {"$ref": "#/components/schemas/Person"},
            },
        },
        "Person": {
            "type": "object",
            "properties": {
                "nodes": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
            },
        },
    }
    text = spec({"/nodes": post_with_body({"$ref": "#/components/schemas/Node"})}, schemas)
    bundle = await load(SourceConfig(text=text))
    (tool,) = bundle.tools
    assert sorted(tool.input_schema["$defs"]) == ["Node", "Person"]
    assert tool.input_schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert len(orjson.dumps(tool.input_schema)) < 2_000
    validator = jsonschema_rs.validator_for(tool.input_schema)
    assert validator.is_valid({"value": 1, "children": [{"children": [{"value": 2}]}]})
    assert not validator.is_valid({"children": [{"owner": {"nodes": [{"value": "x"}]}}]})


async def test_a_ref_that_only_loops_skips_that_operation_with_a_warning() -> None:
    schemas = {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}}
    paths = {
        "/loop": post_with_body({"$ref": "#/components/schemas/A"}, "loop/create"),
        "/fine": post_with_body({"type": "object"}, "fine/create"),
    }
    bundle = await load(SourceConfig(text=spec(paths, schemas)))
    assert [tool.name for tool in bundle.tools] == ["fine.create"]
    assert any("POST /loop" in w and "loops" in w for w in bundle.warnings)


async def test_a_ref_to_nothing_skips_that_operation_with_a_warning() -> None:
    paths = {
        "/broken": post_with_body({"$ref": "#/components/schemas/Missing"}, "broken/create"),
        "/fine": post_with_body({"type": "object"}, "fine/create"),
    }
    bundle = await load(SourceConfig(text=spec(paths)))
    assert [tool.name for tool in bundle.tools] == ["fine.create"]
    assert any("POST /broken" in w and "points at nothing" in w for w in bundle.warnings)


async def test_composition_keywords_pass_through_and_validate() -> None:
    schemas = {
        "Cat": {
            "type": "object",
            "required": ["meows"],
            "properties": {"meows": {"type": "boolean"}},
        },
        "Dog": {
            "type": "object",
            "required": ["barks"],
            "properties": {"barks": {"type": "boolean"}},
        },
        "Named": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}},
        },
    }
    body = {
        "type": "object",
        "properties": {
            "pet": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Cat"},
                    {"$ref": "#/components/schemas/Dog"},
                ],
                "discriminator": {"propertyName": "kind"},
            },
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "named_pet": {
                "allOf": [
                    {"$ref": "#/components/schemas/Named"},
                    {"$ref": "#/components/schemas/Cat"},
                ]
            },
        },
    }
    bundle = await load(SourceConfig(text=spec({"/pets": post_with_body(body)}, schemas)))
    (tool,) = bundle.tools
    properties = tool.input_schema["properties"]
    assert properties["pet"] == {"oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]}
    assert sorted(tool.input_schema["$defs"]) == ["Cat", "Dog", "Named"]
    validator = jsonschema_rs.validator_for(tool.input_schema)
    assert validator.is_valid(
        {"pet": {"meows": True}, "either": 3, "named_pet": {"name": "a", "meows": False}}
    )
    assert not validator.is_valid({"pet": {"meows": True, "barks": True}})  # oneOf: exactly one
    assert not validator.is_valid({"either": 1.5})
    assert not validator.is_valid({"named_pet": {"name": "a"}})


async def test_a_shared_schema_appears_once_and_unreached_ones_not_at_all() -> None:
    schemas = {
        "Address": {"type": "object", "properties": {"city": {"type": "string"}}},
        "Unused": {"type": "string"},
    }
    ref = {"$ref": "#/components/schemas/Address"}
    body = {
        "type": "object",
        "properties": {"home": ref, "work": ref, "others": {"type": "array", "items": ref}},
    }
    bundle = await load(SourceConfig(text=spec({"/people": post_with_body(body)}, schemas)))
    (tool,) = bundle.tools
    assert list(tool.input_schema["$defs"]) == ["Address"]
    assert orjson.dumps(tool.input_schema).count(b'"city"') == 1


def test_resolution_is_lazy_and_memoised() -> None:
    root = {"a": {"$ref": "other.yaml#/Thing"}, "b": {"c": 1}}
    resolver = RefResolver(root, "/specs/root.yaml")
    assert resolver.lookup("#/b/c", "/specs/root.yaml")[0] == 1
    with pytest.raises(MissingDocument) as missing:
        resolver.lookup("other.yaml#/Thing", "/specs/root.yaml")
    assert missing.value.location == "/specs/other.yaml"
    assert missing.value.referrer == "/specs/root.yaml"
    thing = {"type": "string"}
    resolver.add_document("/specs/other.yaml", {"Thing": thing})
    first = resolver.lookup("./other.yaml#/Thing", "/specs/root.yaml")
    assert first == (thing, "/specs/other.yaml", "/Thing")
    assert resolver.lookup("../specs/other.yaml#/Thing", "/specs/root.yaml")[0] is thing


def test_json_pointer_escapes_and_percent_encoding_are_decoded() -> None:
    root = {"paths": {"/pets/{id}": {"get": {"x": 1}}}, "a~b": 2}
    resolver = RefResolver(root, None)
    assert resolver.lookup("#/paths/~1pets~1%7Bid%7D/get/x", None)[0] == 1
    assert resolver.lookup("#/a~0b", None)[0] == 2


def test_every_converted_schema_is_valid_draft_2020_12() -> None:
    hostile = {
        "type": "object",
        "nullable": True,
        "x-vendor": {"$ref": "#/nowhere"},
        "required": ["a", "a", 3],
        "properties": {
            "a": {"type": "file"},
            "b": {"type": "int", "format": 7, "maxLength": -1, "minLength": "2"},
            "c": {"items": [{"type": "string"}, {"type": "integer"}]},
            "d": {"exclusiveMaximum": True, "maximum": 5, "exclusiveMinimum": False},
            "e": {"enum": "not-a-list", "uniqueItems": "yes", "xml": {"name": "e"}},
            "f": {"$id": "https://elsewhere/", "$schema": "x", "$anchor": "f", "$defs": {"y": {}}},
            "g": {"nullable": True, "enum": ["x"], "example": "x", "examples": {"a": 1}},
            "h": {"type": ["string", "integer", "string"], "nullable": True},
            "i": {"nullable": True},
        },
        "additionalProperties": {"type": "string", "readOnly": "sure"},
    }
    resolver = RefResolver({}, None)
    bundler = SchemaBundler(resolver, version="3.0")
    used: set[str] = set()
    converted = bundler.bundle(bundler.convert(hostile, None, used), used)
    jsonschema_rs.validator_for(converted)
    properties = converted["properties"]
    assert converted["type"] == ["object", "null"]
    assert converted["required"] == ["a"]
    assert properties["a"] == {"type": "string", "format": "binary"}
    assert properties["b"] == {}
    assert properties["c"] == {"prefixItems": [{"type": "string"}, {"type": "integer"}]}
    assert properties["d"] == {"exclusiveMaximum": 5}
    assert properties["e"] == {}
    assert properties["f"] == {}
    assert properties["g"] == {"enum": ["x", None], "examples": ["x"]}
    assert properties["h"] == {"type": ["string", "integer", "null"]}
    assert properties["i"] == {}


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


async def test_refs_are_rewritten_to_local_defs_only(tmp_path: Path) -> None:
    bundle = await load(SourceConfig(path=str(SPECS / "petstore-3.0.yaml")))
    for tool in bundle.tools:
        for schema in (tool.input_schema, tool.output_schema):
            for node in _walk(schema):
                if isinstance(node, dict) and "$ref" in node:
                    name = node["$ref"].removeprefix("#/$defs/")
                    assert node["$ref"].startswith("#/$defs/") and name in schema["$defs"]
