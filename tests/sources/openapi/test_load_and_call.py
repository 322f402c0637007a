"""Imported tools called through the OpenAPI call side against a real echo server.

This checks that the bindings and input schemas the importer writes are the ones the call
side reads: arguments valid under a tool's input schema reach the wire where the spec says.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import jsonschema_rs
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from executor.models import ToolDefinition
from executor.sources.base import AppliedAuth, FetchPolicy, PluginCall, SourceConfig
from executor.sources.openapi import OpenAPIPlugin
from tests.servers import serve
from tests.sources.openapi._spec_server import SPECS


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
            "cookies": dict(request.cookies),
            "content_type": request.headers.get("content-type", ""),
            "body": body.decode("latin-1"),
        }
    )


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "DELETE"])])
    with serve(app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient() as client:
        yield client


async def load(name: str) -> dict[str, ToolDefinition]:
    bundle = await OpenAPIPlugin().load(
        SourceConfig(path=str(SPECS / name)), fetch_policy=FetchPolicy()
    )
    return {tool.name: tool for tool in bundle.tools}


async def call(
    http: httpx2.AsyncClient, tool: ToolDefinition, arguments: dict[str, Any], base_url: str
) -> dict[str, Any]:
    assert jsonschema_rs.validator_for(tool.input_schema).is_valid(arguments)
    request = PluginCall(
        tool=tool,
        arguments=arguments,
        integration_config={},
        connection_settings={"base_url": base_url},
        auth=AppliedAuth(),
        http=http,
        timeout=10.0,
    )
    result = await OpenAPIPlugin().call(request)
    assert result["ok"], result
    data: dict[str, Any] = result["data"]
    return data


async def test_parameters_land_in_path_query_header_and_cookie(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tools = await load("petstore-3.0.yaml")
    seen = await call(
        http,
        tools["pets.list_pets"],
        {"limit": 5, "tags": ["a", "b"], "x_request_id": "r1", "session": "s1"},
        echo_url,
    )
    assert (seen["method"], seen["path"]) == ("GET", "/pets")
    assert seen["query"] == "limit=5&tags=a|b" or seen["query"] == "limit=5&tags=a%7Cb"
    assert seen["headers"]["x-request-id"] == "r1"
    assert seen["cookies"] == {"session": "s1"}
    shown = await call(http, tools["pets.show_pet_by_id"], {"pet_id": "p 1", "id": "q"}, echo_url)
    assert shown["path"] == "/pets/p 1" and shown["query"] == "id=q"


async def test_a_flattened_json_body_is_sent_as_one_object(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tools = await load("petstore-3.0.yaml")
    seen = await call(http, tools["pets.create_pet"], {"name": "Rex", "tag": None}, echo_url)
    assert seen["content_type"].startswith("application/json")
    assert orjson.loads(seen["body"]) == {"name": "Rex"}


async def test_a_whole_form_body_is_form_encoded(http: httpx2.AsyncClient, echo_url: str) -> None:
    tools = await load("petstore-3.0.yaml")
    arguments = {"store_id": 7, "body": {"petId": 3, "quantity": 2}}
    seen = await call(http, tools["stores.create_orders"], arguments, echo_url)
    assert seen["path"] == "/stores/7/orders"
    assert seen["content_type"] == "application/x-www-form-urlencoded"
    assert seen["body"] == "petId=3&quantity=2"


async def test_files_go_out_as_raw_and_multipart_bodies(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tools = await load("petstore-3.0.yaml")
    raw = {"content_base64": base64.b64encode(b"\x89PNG").decode()}
    seen = await call(http, tools["pets.replace_photo"], {"pet_id": "9", "body": raw}, echo_url)
    assert seen["content_type"] == "application/octet-stream"
    assert seen["body"] == "\x89PNG"
    swagger = await load("petstore-swagger.json")
    upload = {"pet_id": 9, "file": {**raw, "filename": "rex.png"}, "additionalMetadata": "hi"}
    seen = await call(http, swagger["pet.upload_file"], upload, echo_url)
    assert seen["content_type"].startswith("multipart/form-data; boundary=")
    assert 'filename="rex.png"' in seen["body"] and "\x89PNG" in seen["body"]


async def test_swagger_collection_formats_reach_the_query(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tools = await load("petstore-swagger.json")
    arguments = {"status": ["available", "sold"], "ids": [1, 2]}
    seen = await call(http, tools["pet.find_pets_by_status"], arguments, echo_url)
    assert seen["query"] in (
        "status=available&status=sold&ids=1,2",
        "status=available&status=sold&ids=1%2C2",
    )
