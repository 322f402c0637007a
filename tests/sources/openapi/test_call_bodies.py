"""Request bodies of every kind, as a real server receives and parses them."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest

from tests.servers import serve
from tests.servers.echo_api import create_app
from tests.sources.openapi.calls import binding, call, echoed, header

pytestmark = pytest.mark.anyio

PNG = bytes(range(256))


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient() as client:
        yield client


def body(content_type: str, *, mode: str = "whole", **options: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "mode": mode,
        "content_type": content_type,
        "required": options.pop("required", True),
        "encoding": options.pop("encoding", {}),
    }
    if mode == "whole":
        spec["arg"] = options.pop("arg", "body")
    else:
        spec["properties"] = options.pop("properties", [])
    return spec


async def test_flattened_json_body_holds_only_the_body_properties(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(
        "POST",
        "/pets",
        parameters=[{"name": "dry_run", "in": "query", "arg": "dry_run", "style": "form"}],
        body=body("application/json", mode="flatten", properties=["name", "tag", "age"]),
    )
    seen = await echoed(
        http, echo_url, tool, {"name": "Rex", "tag": None, "age": 3, "dry_run": True}
    )
    assert json.loads(seen["body_text"]) == {"name": "Rex", "age": 3}
    assert header(seen, "content-type") == ["application/json"]
    assert seen["query"] == "dry_run=true"


async def test_whole_json_body_is_sent_as_given_even_when_it_is_an_array(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding("PUT", "/tags", body=body("application/vnd.api+json"))
    seen = await echoed(http, echo_url, tool, {"body": [{"id": 1}, "ü"]})
    assert json.loads(seen["body_text"]) == [{"id": 1}, "ü"]
    assert header(seen, "content-type") == ["application/vnd.api+json"]


async def test_an_optional_body_left_out_sends_no_body(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding("POST", "/x", body=body("application/json", required=False))
    seen = await echoed(http, echo_url, tool, {})
    assert seen["body_text"] == ""
    assert header(seen, "content-type") == []


async def test_a_required_whole_body_left_out_is_an_argument_error(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding("POST", "/x", body=body("application/json"))
    result = await call(http, tool, {}, base_url=f"{echo_url}/echo")
    assert result["ok"] is False
    assert result["error"]["code"] == "invalid_arguments"


async def test_form_body_is_parsed_by_the_server_with_encoding_rules(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(
        "POST",
        "/login",
        body=body(
            "application/x-www-form-urlencoded",
            mode="flatten",
            properties=["user", "scopes", "filter"],
            encoding={
                "scopes": {"style": "spaceDelimited", "explode": False},
                "filter": {"style": "deepObject", "explode": True},
            },
        ),
    )
    arguments = {"user": "a b&c", "scopes": ["read", "write"], "filter": {"k": "v"}}
    seen = await echoed(http, echo_url, tool, arguments)
    assert seen["form"] == [["user", "a b&c"], ["scopes", "read write"], ["filter[k]", "v"]]
    assert header(seen, "content-type") == ["application/x-www-form-urlencoded"]


async def test_multipart_body_carries_files_json_and_text_parts(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(
        "POST",
        "/upload",
        body=body("multipart/form-data", mode="flatten", properties=["file", "meta", "note"]),
    )
    arguments = {
        "file": {
            "filename": "pet.png",
            "content_base64": base64.b64encode(PNG).decode(),
            "content_type": "image/png",
        },
        "meta": {"name": "Rex"},
        "note": "héllo",
    }
    seen = await echoed(http, echo_url, tool, arguments)
    parts = {part["name"]: part for part in seen["parts"]}
    assert list(parts) == ["file", "meta", "note"]
    assert parts["file"]["filename"] == "pet.png"
    assert parts["file"]["content_type"] == "image/png"
    assert base64.b64decode(parts["file"]["base64"]) == PNG
    assert parts["meta"]["content_type"] == "application/json"
    assert json.loads(parts["meta"]["text"]) == {"name": "Rex"}
    assert parts["note"]["filename"] is None
    assert parts["note"]["text"] == "héllo"
    (content_type,) = header(seen, "content-type")
    assert content_type.startswith("multipart/form-data; boundary=")


async def test_multipart_array_of_files_is_one_part_per_file(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding("POST", "/upload", body=body("multipart/form-data"))
    files = [
        {"filename": f"{n}.txt", "content_base64": base64.b64encode(f"file {n}".encode()).decode()}
        for n in (1, 2)
    ]
    seen = await echoed(http, echo_url, tool, {"body": {"files": files}})
    assert [(p["name"], p["filename"], p["text"]) for p in seen["parts"]] == [
        ("files", "1.txt", "file 1"),
        ("files", "2.txt", "file 2"),
    ]


async def test_binary_body_from_base64_arrives_byte_for_byte(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding("PUT", "/blob", body=body("application/octet-stream"))
    seen = await echoed(
        http, echo_url, tool, {"body": {"content_base64": base64.b64encode(PNG).decode()}}
    )
    assert base64.b64decode(seen["body_base64"]) == PNG
    assert header(seen, "content-type") == ["application/octet-stream"]


async def test_binary_body_with_a_wildcard_media_type_uses_the_given_content_type(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding("PUT", "/image", body=body("image/*"))
    value = {"content_base64": base64.b64encode(PNG).decode(), "content_type": "image/png"}
    seen = await echoed(http, echo_url, tool, {"body": value})
    assert header(seen, "content-type") == ["image/png"]
    assert base64.b64decode(seen["body_base64"]) == PNG


async def test_text_and_xml_bodies_are_sent_as_utf8_text(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    for content_type, value in (("text/plain", "héllo wörld"), ("application/xml", "<a>1</a>")):
        tool = binding("POST", "/text", body=body(content_type))
        seen = await echoed(http, echo_url, tool, {"body": value})
        assert seen["body_text"] == value
        assert header(seen, "content-type") == [content_type]


async def test_bad_base64_in_a_file_is_an_argument_error_not_a_request(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding("PUT", "/blob", body=body("application/octet-stream"))
    result = await call(
        http, tool, {"body": {"content_base64": "@@@"}}, base_url=f"{echo_url}/echo"
    )
    assert result["ok"] is False
    assert result["error"]["code"] == "invalid_arguments"
    assert "content_base64" in result["error"]["message"]
