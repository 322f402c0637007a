"""Loading well-formed specs (Swagger 2.0, OpenAPI 3.0 and 3.1; JSON and YAML; text, file, URL)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from executor.addresses import MAX_TOOL_NAME, is_identifier
from executor.models import AuthMethod, ToolDefinition
from executor.sources.base import FetchPolicy, SourceBundle, SourceConfig, SourcePlugin
from executor.sources.openapi import OpenAPIPlugin
from executor.sources.openapi.operations import FILE_SCHEMA
from tests.sources.openapi._spec_server import SPECS, serve_directory

POLICY = FetchPolicy(timeout=10.0)


@pytest.fixture(scope="module")
def spec_server() -> Iterator[str]:
    with serve_directory() as url:
        yield url


async def load(config: SourceConfig, policy: FetchPolicy = POLICY) -> SourceBundle:
    return await OpenAPIPlugin().load(config, fetch_policy=policy)


def config_for(how: str, name: str, base_url: str) -> SourceConfig:
    if how == "text":
        return SourceConfig(text=(SPECS / name).read_text())
    if how == "file":
        return SourceConfig(path=str(SPECS / name))
    return SourceConfig(url=f"{base_url}/{name}")


def tools_by_name(bundle: SourceBundle) -> dict[str, ToolDefinition]:
    return {tool.name: tool for tool in bundle.tools}


def assert_valid_catalog(bundle: SourceBundle) -> None:
    names = [tool.name for tool in bundle.tools]
    assert len(set(names)) == len(names)
    for tool in bundle.tools:
        assert len(tool.name) <= MAX_TOOL_NAME
        assert all(is_identifier(segment) for segment in tool.name.split("."))
        jsonschema_rs.validator_for(tool.input_schema)
        if tool.output_schema is not None:
            jsonschema_rs.validator_for(tool.output_schema)
        assert "\n" not in tool.summary and len(tool.summary) <= 120


def param(tool: ToolDefinition, name: str, location: str) -> dict[str, Any]:
    matches = [p for p in tool.binding["parameters"] if p["name"] == name and p["in"] == location]
    assert len(matches) == 1, tool.binding["parameters"]
    return matches[0]


def test_the_plugin_implements_the_source_protocol() -> None:
    assert isinstance(OpenAPIPlugin(), SourcePlugin)
    assert OpenAPIPlugin.kind == "openapi"


# -- OpenAPI 3.0 -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["text", "file", "url"])
@pytest.mark.parametrize("name", ["petstore-3.0.yaml", "petstore-3.0.json"])
async def test_an_openapi_30_spec_becomes_one_tool_per_operation(
    spec_server: str, how: str, name: str
) -> None:
    bundle = await load(config_for(how, name, spec_server))
    assert bundle.kind == "openapi"
    assert bundle.title == "Petstore"
    assert bundle.summary == "A sample pet store."
    assert sorted(tools_by_name(bundle)) == [
        "pets.create_pet",
        "pets.delete_pet",
        "pets.list_pets",
        "pets.replace_photo",
        "pets.show_pet_by_id",
        "stores.create_orders",
    ]
    assert_valid_catalog(bundle)
    assert bundle.spec == (SPECS / name).read_bytes()
    assert bundle.config["spec_url"] == (f"{spec_server}/{name}" if how == "url" else None)
    assert "text" not in bundle.config


async def test_the_json_and_yaml_forms_of_a_spec_give_the_same_tools() -> None:
    from_yaml = await load(SourceConfig(path=str(SPECS / "petstore-3.0.yaml")))
    from_json = await load(SourceConfig(path=str(SPECS / "petstore-3.0.json")))
    assert from_yaml.tools == from_json.tools
    assert from_yaml.auth_methods == from_json.auth_methods


@pytest.fixture(scope="module")
def petstore30() -> dict[str, ToolDefinition]:
    import anyio

    bundle = anyio.run(load, SourceConfig(path=str(SPECS / "petstore-3.0.yaml")))
    return tools_by_name(bundle)


def test_parameters_become_flat_identifier_arguments_with_their_serialisation(
    petstore30: dict[str, ToolDefinition],
) -> None:
    tool = petstore30["pets.list_pets"]
    schema = tool.input_schema
    assert list(schema["properties"]) == ["limit", "tags", "x_request_id", "session"]
    assert schema["additionalProperties"] is False
    assert "required" not in schema
    assert schema["properties"]["limit"]["maximum"] == 100
    assert schema["properties"]["limit"]["description"].startswith("How many items")
    assert param(tool, "tags", "query") == {
        "name": "tags",
        "in": "query",
        "arg": "tags",
        "required": False,
        "style": "pipeDelimited",
        "explode": False,
        "allow_reserved": False,
        "content_type": None,
    }
    assert param(tool, "limit", "query")["style"] == "form"
    assert param(tool, "limit", "query")["explode"] is True
    assert param(tool, "X-Request-Id", "header")["arg"] == "x_request_id"
    assert param(tool, "X-Request-Id", "header")["style"] == "simple"
    assert param(tool, "session", "cookie")["style"] == "form"
    # OpenAPI says Accept/Content-Type/Authorization header parameters are ignored.
    assert all(p["name"] != "Accept" for p in tool.binding["parameters"])


def test_path_level_parameters_are_inherited_and_required(
    petstore30: dict[str, ToolDefinition],
) -> None:
    tool = petstore30["pets.show_pet_by_id"]
    assert tool.input_schema["required"] == ["pet_id"]
    assert param(tool, "petId", "path")["arg"] == "pet_id"
    assert tool.input_schema["properties"]["pet_id"]["description"] == "The id of the pet"
    assert param(tool, "id", "query")["arg"] == "id"


def test_an_object_json_body_is_merged_into_the_arguments(
    petstore30: dict[str, ToolDefinition],
) -> None:
    tool = petstore30["pets.create_pet"]
    body = tool.binding["body"]
    assert body["mode"] == "flatten"
    assert body["content_type"] == "application/json"
    assert body["required"] is True
    assert body["properties"] == [
        "name", "kind", "tag", "weight", "born", "parent", "contact", "friend"
    ]  # fmt: skip
    assert tool.input_schema["required"] == ["name"]
    validator = jsonschema_rs.validator_for(tool.input_schema)
    assert validator.is_valid({"name": "Rex", "tag": None, "kind": None, "contact": None})
    assert validator.is_valid({"name": "Rex", "kind": "dog", "contact": {"phone": "1"}})
    assert validator.is_valid({"name": "Rex", "parent": {"name": "Old", "id": 1}})
    assert not validator.is_valid({"tag": "x"})  # name is required
    assert not validator.is_valid({"name": "Rex", "kind": "cow"})
    assert not validator.is_valid({"name": "Rex", "weight": 0})  # exclusiveMinimum: true
    assert not validator.is_valid({"name": "Rex", "colour": "red"})  # no extra arguments
    assert not validator.is_valid({"name": "Rex", "parent": {"name": "Old"}})  # Pet needs id


def test_openapi_only_keywords_are_converted_or_dropped(
    petstore30: dict[str, ToolDefinition],
) -> None:
    schema = petstore30["pets.create_pet"].input_schema
    new_pet = schema["$defs"]["NewPet"]
    for keyword in ("discriminator", "xml", "x-internal", "nullable"):
        assert keyword not in new_pet
    properties = schema["properties"]
    assert properties["tag"]["type"] == ["string", "null"]
    assert properties["kind"]["enum"] == ["dog", "cat", None]
    assert properties["weight"] == {"type": "number", "exclusiveMinimum": 0}
    assert properties["name"]["examples"] == ["Rex"]
    assert properties["born"]["examples"] == ["2020-01-01"]
    assert "externalDocs" not in str(properties["contact"])
    assert {"type": "null"} in properties["contact"]["anyOf"]


def test_referenced_schemas_are_bundled_once_per_tool_under_defs(
    petstore30: dict[str, ToolDefinition],
) -> None:
    schema = petstore30["pets.create_pet"].input_schema
    assert sorted(schema["$defs"]) == ["NewPet", "Owner", "Pet"]
    assert schema["properties"]["parent"] == {"$ref": "#/$defs/Pet"}
    assert schema["$defs"]["Pet"]["allOf"][0] == {"$ref": "#/$defs/NewPet"}
    assert "$defs" not in petstore30["pets.list_pets"].input_schema


def test_the_first_2xx_json_response_is_the_output_schema(
    petstore30: dict[str, ToolDefinition],
) -> None:
    output = petstore30["pets.list_pets"].output_schema
    assert output is not None
    assert output["$ref"] == "#/$defs/Pets"
    assert sorted(output["$defs"]) == ["NewPet", "Owner", "Pet", "Pets"]
    validator = jsonschema_rs.validator_for(output)
    assert validator.is_valid([{"id": 1, "name": "Rex", "owner": {"pets": []}}])
    assert not validator.is_valid([{"name": "Rex"}])
    assert petstore30["pets.create_pet"].output_schema is not None
    assert petstore30["pets.delete_pet"].output_schema is None


def test_a_binary_body_is_one_body_argument(petstore30: dict[str, ToolDefinition]) -> None:
    tool = petstore30["pets.replace_photo"]
    assert tool.binding["body"]["mode"] == "whole"
    assert tool.binding["body"]["arg"] == "body"
    assert tool.binding["body"]["content_type"] == "application/octet-stream"
    assert tool.binding["body"]["required"] is False
    assert tool.input_schema["properties"]["body"] == FILE_SCHEMA
    assert tool.input_schema["required"] == ["pet_id"]
    validator = jsonschema_rs.validator_for(tool.input_schema)
    assert validator.is_valid({"pet_id": "1", "body": {"content_base64": "AAE=", "filename": "a"}})
    assert validator.is_valid({"pet_id": "1", "body": "plain text"})
    assert not validator.is_valid({"pet_id": "1", "body": {"bytes": "AAE="}})


def test_a_form_body_whose_field_clashes_with_a_parameter_stays_whole(
    petstore30: dict[str, ToolDefinition],
) -> None:
    tool = petstore30["stores.create_orders"]
    body = tool.binding["body"]
    assert body["mode"] == "whole"
    assert body["content_type"] == "application/x-www-form-urlencoded"
    assert body["encoding"] == {"petId": {"style": "form", "explode": True}}
    assert tool.input_schema["required"] == ["store_id", "body"]
    assert tool.input_schema["properties"]["body"]["required"] == ["petId"]


def test_servers_come_from_the_operation_then_the_document_with_variables(
    petstore30: dict[str, ToolDefinition],
) -> None:
    assert petstore30["pets.list_pets"].binding["servers"] == [
        {
            "url": "https://{region}.petstore.example.com/v1",
            "variables": {"region": {"default": "eu", "enum": ["eu", "us"]}},
        }
    ]
    assert petstore30["pets.replace_photo"].binding["servers"] == [
        {"url": "https://uploads.petstore.example.com", "variables": {}}
    ]


def test_policies_follow_the_http_method(petstore30: dict[str, ToolDefinition]) -> None:
    listing, creating, deleting = (
        petstore30["pets.list_pets"],
        petstore30["pets.create_pet"],
        petstore30["pets.delete_pet"],
    )
    assert (listing.default_policy, listing.is_read_only, listing.is_destructive) == (
        "allow", True, False
    )  # fmt: skip
    assert (creating.default_policy, creating.is_read_only) == ("require_approval", False)
    assert (deleting.default_policy, deleting.is_destructive) == ("require_approval", True)
    assert listing.binding["method"] == "GET" and deleting.binding["method"] == "DELETE"
    assert listing.tags == ("pets",)


def test_summaries_are_one_line_and_descriptions_complete(
    petstore30: dict[str, ToolDefinition],
) -> None:
    assert petstore30["pets.list_pets"].summary == "List all pets"
    shown = petstore30["pets.show_pet_by_id"]
    assert shown.summary == "Info for a specific pet."
    assert shown.description == "Info for a specific pet. Returns everything we know."
    deleted = petstore30["pets.delete_pet"]
    assert deleted.description.startswith("Delete a pet\n\nDeprecated")
    assert petstore30["stores.create_orders"].summary == "Place an order"


def test_security_requirements_are_alternatives_of_auth_method_ids(
    petstore30: dict[str, ToolDefinition],
) -> None:
    assert petstore30["pets.list_pets"].binding["security"] == [["api_key"], ["oauth_main"]]
    assert petstore30["pets.delete_pet"].binding["security"] == []


async def test_auth_methods_come_from_the_security_schemes() -> None:
    bundle = await load(SourceConfig(path=str(SPECS / "petstore-3.0.yaml")))
    methods = {method.id: method for method in bundle.auth_methods}
    assert methods["api_key"] == AuthMethod(
        "api_key", "api_key", location="header", name="X-API-Key"
    )
    assert methods["basic_auth"].type == "basic"
    assert methods["bearer_auth"].type == "bearer"
    assert methods["oauth_main"].type == "oauth2"
    assert methods["oauth_main"].extras["flows"]["authorizationCode"] == {
        "authorizationUrl": "https://petstore.example.com/oauth/authorize",
        "tokenUrl": "https://petstore.example.com/oauth/token",
        "scopes": {"pets:read": "read pets", "pets:write": "write pets"},
    }
    assert methods["oidc"].type == "oauth2"
    assert methods["oidc"].extras["openid_connect_url"].endswith("openid-configuration")
    assert "mtls" not in methods
    assert any("mtls" in warning for warning in bundle.warnings)


async def test_progress_reports_download_parse_and_index() -> None:
    seen: list[tuple[str, int, int | None]] = []
    await OpenAPIPlugin().load(
        SourceConfig(path=str(SPECS / "petstore-3.0.yaml")),
        fetch_policy=POLICY,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert seen[0][0] == "download"
    assert {stage for stage, _, _ in seen} == {"download", "parse", "index"}
    assert seen[-1] == ("index", 6, 6)


async def test_names_do_not_depend_on_the_order_of_paths() -> None:
    document = yaml.safe_load((SPECS / "petstore-3.0.yaml").read_text())
    document["paths"]["/cats"] = {"get": {"operationId": "listPets", "tags": ["pets"]}}
    names = []
    for seed in range(4):
        paths = list(document["paths"].items())
        random.Random(seed).shuffle(paths)
        shuffled = {**document, "paths": dict(paths)}
        bundle = await load(SourceConfig(text=yaml.safe_dump(shuffled)))
        names.append({t.binding["method"] + " " + t.binding["path"]: t.name for t in bundle.tools})
    assert all(mapping == names[0] for mapping in names)
    assert names[0]["GET /cats"] == "pets.list_pets"  # "/cats" sorts before "/pets"
    assert names[0]["GET /pets"].startswith("pets.list_pets_")


# -- OpenAPI 3.1 -------------------------------------------------------------------------------


async def test_an_openapi_31_spec_loads_with_path_item_refs_and_json_schema_keywords() -> None:
    bundle = await load(SourceConfig(path=str(SPECS / "petstore-3.1.yaml")))
    assert bundle.title == "Petstore 3.1" and bundle.summary == "Pets, the 3.1 way."
    tools = tools_by_name(bundle)
    assert sorted(tools) == ["pets.list_pets", "pets.update_pet", "pets.upload_document"]
    assert_valid_catalog(bundle)
    output = tools["pets.list_pets"].output_schema
    assert output is not None
    pet = output["$defs"]["Pet"]
    assert "$id" not in pet and "$schema" not in pet
    assert pet["properties"]["id"] == {"type": "integer", "exclusiveMinimum": 0}
    assert pet["properties"]["meta"] == {
        "description": "Metadata about the pet.",
        "$ref": "#/$defs/Meta",
    }
    validator = jsonschema_rs.validator_for(output)
    assert validator.is_valid([{"id": 1, "name": "Rex", "tag": None, "kind": "pet"}])
    assert not validator.is_valid([{"id": 0, "name": "Rex"}])
    assert not validator.is_valid([{"id": 1, "name": "Rex", "meta": {"a": 1}}])


async def test_parameters_with_the_same_name_in_different_locations_get_prefixed_names() -> None:
    bundle = await load(SourceConfig(path=str(SPECS / "petstore-3.1.yaml")))
    tool = tools_by_name(bundle)["pets.update_pet"]
    assert param(tool, "id", "path")["arg"] == "id"
    assert param(tool, "id", "query")["arg"] == "query_id"
    assert param(tool, "ID", "header")["arg"] == "header_id"
    # The body's "id" would clash, so the body is one argument.
    assert tool.binding["body"]["mode"] == "whole"
    assert tool.binding["body"]["content_type"] == "application/merge-patch+json"
    assert tool.input_schema["properties"]["body"]["properties"]["name"]["type"] == [
        "string", "null"
    ]  # fmt: skip


async def test_a_multipart_body_is_merged_and_its_encoding_recorded() -> None:
    bundle = await load(SourceConfig(path=str(SPECS / "petstore-3.1.yaml")))
    tool = tools_by_name(bundle)["pets.upload_document"]
    body = tool.binding["body"]
    assert (body["mode"], body["content_type"]) == ("flatten", "multipart/form-data")
    assert body["properties"] == ["file", "meta"]
    assert body["encoding"] == {"meta": {"contentType": "application/json"}}
    assert tool.input_schema["required"] == ["id", "file"]
    assert tool.input_schema["properties"]["file"] == FILE_SCHEMA
    assert param(tool, "filter", "query")["content_type"] == "application/json"


async def test_relative_servers_resolve_against_the_spec_url(spec_server: str) -> None:
    bundle = await load(SourceConfig(url=f"{spec_server}/petstore-3.1.yaml"))
    servers = tools_by_name(bundle)["pets.list_pets"].binding["servers"]
    assert servers == [{"url": f"{spec_server}/api/v2", "variables": {}}]
    assert not any("base_url" in warning for warning in bundle.warnings)


async def test_relative_servers_from_a_file_stay_relative_and_ask_for_a_base_url() -> None:
    bundle = await load(SourceConfig(path=str(SPECS / "petstore-3.1.yaml")))
    servers = tools_by_name(bundle)["pets.list_pets"].binding["servers"]
    assert servers == [{"url": "/api/v2", "variables": {}}]
    assert any("base_url" in warning for warning in bundle.warnings)
    configured = await load(
        SourceConfig(path=str(SPECS / "petstore-3.1.yaml"), base_url="https://pets.test")
    )
    assert configured.config["base_url"] == "https://pets.test"
    assert not any("base_url" in warning for warning in configured.warnings)


# -- Swagger 2.0 -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["text", "file", "url"])
@pytest.mark.parametrize("name", ["petstore-swagger.json", "petstore-swagger.yaml"])
async def test_a_swagger_20_spec_is_normalised_into_the_same_model(
    spec_server: str, how: str, name: str
) -> None:
    bundle = await load(config_for(how, name, spec_server))
    tools = tools_by_name(bundle)
    assert sorted(tools) == [
        "pet.add_pet",
        "pet.delete_pet",
        "pet.find_pets_by_status",
        "pet.update_pet_with_form",
        "pet.upload_file",
    ]
    assert_valid_catalog(bundle)
    assert tools["pet.add_pet"].binding["servers"] == [
        {"url": "https://petstore.swagger.io/v2", "variables": {}},
        {"url": "http://petstore.swagger.io/v2", "variables": {}},
    ]


@pytest.fixture(scope="module")
def swagger_tools() -> dict[str, ToolDefinition]:
    import anyio

    bundle = anyio.run(load, SourceConfig(path=str(SPECS / "petstore-swagger.json")))
    return tools_by_name(bundle)


def test_swagger_collection_formats_become_styles(
    swagger_tools: dict[str, ToolDefinition],
) -> None:
    tool = swagger_tools["pet.find_pets_by_status"]
    assert (param(tool, "status", "query")["style"], param(tool, "status", "query")["explode"]) == (
        "form", True
    )  # fmt: skip
    assert param(tool, "tags", "query")["style"] == "pipeDelimited"
    assert (param(tool, "ids", "query")["style"], param(tool, "ids", "query")["explode"]) == (
        "form", False
    )  # fmt: skip
    assert tool.input_schema["properties"]["status"]["items"]["enum"] == [
        "available", "pending", "sold"
    ]  # fmt: skip
    assert tool.input_schema["required"] == ["status"]
    assert tool.summary == "Multiple status values can be provided."


def test_a_swagger_body_parameter_becomes_a_json_body(
    swagger_tools: dict[str, ToolDefinition],
) -> None:
    tool = swagger_tools["pet.add_pet"]
    assert tool.binding["body"]["mode"] == "flatten"
    assert tool.binding["body"]["content_type"] == "application/json"
    assert tool.input_schema["required"] == ["name", "photoUrls"]
    assert tool.binding["security"] == [["petstore_auth"]]
    validator = jsonschema_rs.validator_for(tool.input_schema)
    assert validator.is_valid({"name": "d", "photoUrls": [], "status": None, "age": 29})
    assert not validator.is_valid({"name": "d", "photoUrls": [], "age": 30})


def test_swagger_form_data_becomes_a_multipart_or_form_body(
    swagger_tools: dict[str, ToolDefinition],
) -> None:
    upload = swagger_tools["pet.upload_file"]
    assert upload.binding["body"]["content_type"] == "multipart/form-data"
    assert upload.binding["body"]["properties"] == ["additionalMetadata", "file"]
    assert upload.input_schema["properties"]["file"] == FILE_SCHEMA
    assert upload.input_schema["required"] == ["pet_id", "file"]
    assert upload.output_schema is not None
    form = swagger_tools["pet.update_pet_with_form"]
    assert form.binding["body"]["content_type"] == "application/x-www-form-urlencoded"
    assert form.binding["security"] == [["api_key"]]


async def test_swagger_security_definitions_become_auth_methods() -> None:
    bundle = await load(SourceConfig(path=str(SPECS / "petstore-swagger.json")))
    methods = {method.id: method for method in bundle.auth_methods}
    assert methods["api_key"] == AuthMethod("api_key", "api_key", location="header", name="api_key")
    assert methods["basic"].type == "basic"
    assert methods["petstore_auth"].extras["flows"] == {
        "implicit": {
            "authorizationUrl": "https://petstore.swagger.io/oauth/authorize",
            "scopes": {"write:pets": "modify pets", "read:pets": "read pets"},
        }
    }


async def test_a_swagger_spec_without_host_takes_it_from_its_url(tmp_path: Path) -> None:
    document = yaml.safe_load((SPECS / "petstore-swagger.yaml").read_text())
    del document["host"], document["schemes"]
    (tmp_path / "swagger.yaml").write_text(yaml.safe_dump(document))
    with serve_directory(tmp_path) as url:
        from_url = await load(SourceConfig(url=f"{url}/swagger.yaml"))
    assert from_url.tools[0].binding["servers"] == [{"url": f"{url}/v2", "variables": {}}]
    from_text = await load(SourceConfig(text=yaml.safe_dump(document)))
    assert from_text.tools[0].binding["servers"] == [{"url": "/v2", "variables": {}}]


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "confidence"),
    [
        ('{"openapi": "3.1.0", "info": {}}', 0.95),
        ("openapi: 3.0.3\ninfo: {}\n", 0.95),
        ("swagger: '2.0'\n", 0.95),
        ('{\n  "swagger": "1.2"\n}', 0.6),
        ("openapi: 4.0.0\n", 0.6),
    ],
)
async def test_documents_with_an_openapi_or_swagger_field_are_detected(
    text: str, confidence: float
) -> None:
    detection = await OpenAPIPlugin().detect(text)
    assert detection is not None
    assert (detection.kind, detection.confidence) == ("openapi", confidence)
    assert detection.reason


async def test_other_documents_are_not_detected() -> None:
    plugin = OpenAPIPlugin()
    assert await plugin.detect('{"kind": "discovery#restDescription"}') is None
    assert await plugin.detect("query { viewer { login } }") is None
    hinted = await plugin.detect("<html>", url="https://api.example.com/openapi.json")
    assert hinted is not None and hinted.confidence < 0.5


async def test_a_source_requires_auth_only_when_some_tool_cannot_run_anonymously() -> None:
    secured = await load(SourceConfig(path=str(SPECS / "petstore-3.0.yaml")))
    assert secured.requires_auth is True
    open_spec = await load(SourceConfig(path=str(SPECS / "petstore-3.1.yaml")))
    assert open_spec.requires_auth is False
    document = yaml.safe_load((SPECS / "petstore-3.0.yaml").read_text())
    del document["security"]
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    # Schemes declared but attached to nothing: assume they are needed.
    unattached = await load(SourceConfig(text=yaml.safe_dump(document)))
    assert unattached.requires_auth is True
