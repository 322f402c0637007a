"""Bad Discovery documents: a clear one-line SpecError, or a warning for the one broken method."""

from __future__ import annotations

import jsonschema_rs
import pytest

from executor.errors import FetchError, SpecError
from tests.sources.discovery.conftest import DOCUMENTS, by_name, document, load_text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("  \n", "is empty"),
        ('{"discoveryVersion": "v1", "resources": {', "truncated"),
        ("{'discoveryVersion': 'v1'}", "not valid JSON"),
        ("[1, 2]", "it is a list, not an object"),
        ('{"openapi": "3.1.0", "paths": {}}', "has no 'discoveryVersion'"),
        (document(discoveryVersion="v2"), "Discovery version 'v2' is not supported"),
        (document(protocol="rpc"), "protocol 'rpc' is not supported"),
        (document(resources=None), "neither 'resources' nor 'methods'"),
        (document(rootUrl=None, baseUrl=None), "no 'rootUrl'"),
    ],
)
async def test_malformed_documents_fail_with_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as raised:
        await load_text(text)
    assert "\n" not in raised.value.message
    assert raised.value.hint


async def test_the_directory_of_apis_is_not_taken_for_an_api() -> None:
    with pytest.raises(SpecError, match="discovery#directoryList"):
        await load_text((DOCUMENTS / "index.json").read_text())


async def test_a_missing_file_is_a_fetch_error() -> None:
    from executor.sources.base import FetchPolicy, SourceConfig
    from executor.sources.discovery import DiscoveryPlugin

    with pytest.raises(FetchError):
        await DiscoveryPlugin().load(
            SourceConfig(path=str(DOCUMENTS / "nope.v1.json")), fetch_policy=FetchPolicy()
        )


async def test_cyclic_schemas_import_and_validate() -> None:
    schemas = {
        "Node": {
            "id": "Node",
            "type": "object",
            "properties": {
                "name": {"type": "string", "required": True},
                "children": {"type": "array", "items": {"$ref": "Node"}},
                "owner": {"$ref": "Person"},
            },
        },
        "Person": {
            "id": "Person",
            "type": "object",
            "properties": {"nodes": {"type": "array", "items": {"$ref": "Node"}}},
        },
    }
    methods = {
        "insert": {
            "id": "notes.trees.insert",
            "httpMethod": "POST",
            "path": "trees",
            "request": {"$ref": "Node"},
            "response": {"$ref": "Node"},
        }
    }
    bundle = await load_text(document(schemas=schemas, resources={"trees": {"methods": methods}}))
    insert = by_name(bundle)["trees.insert"]
    assert set(insert.input_schema["$defs"]) == {"Node", "Person"}
    assert insert.input_schema["$defs"]["Node"]["required"] == ["name"]
    validator = jsonschema_rs.validator_for(insert.input_schema)
    assert validator.is_valid({"body": {"name": "a", "children": [{"name": "b"}]}})
    assert not validator.is_valid({"body": {"name": "a", "children": [{"owner": {}}]}})


async def test_a_broken_method_is_skipped_with_a_warning_and_the_rest_import() -> None:
    methods = {
        "get": {"id": "notes.notes.get", "httpMethod": "GET", "path": "notes/{noteId}"},
        "bad_ref": {
            "id": "notes.notes.badRef",
            "httpMethod": "POST",
            "path": "notes",
            "request": {"$ref": "Missing"},
        },
        "loop": {
            "id": "notes.notes.loop",
            "httpMethod": "POST",
            "path": "x",
            "request": {"$ref": "A"},
        },
        "no_method": {"id": "notes.notes.noMethod", "path": "notes"},
        "not_a_method": "oops",
    }
    schemas = {"A": {"$ref": "B"}, "B": {"$ref": "A"}}
    bundle = await load_text(document(schemas=schemas, resources={"notes": {"methods": methods}}))
    assert list(by_name(bundle)) == ["notes.get"]
    warnings = "\n".join(bundle.warnings)
    assert "notes.notes.badRef: $ref 'Missing' names no schema" in warnings
    assert "notes.notes.loop: A $ref chain" in warnings
    assert "notes.notes.noMethod: it has no 'httpMethod'" in warnings


async def test_a_document_without_auth_needs_no_credentials() -> None:
    bundle = await load_text(document())
    assert bundle.auth_methods == [] and bundle.requires_auth is False


async def test_an_old_document_with_only_a_base_url_still_finds_its_root() -> None:
    bundle = await load_text(document(rootUrl=None, baseUrl="https://notes.example.com/notes/v1/"))
    tool = by_name(bundle)["notes.get"]
    assert tool.binding["servers"][0]["url"] == "https://notes.example.com/"
    assert tool.binding["service_path"] == "notes/v1/"
