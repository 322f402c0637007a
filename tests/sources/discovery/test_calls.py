"""Imported Discovery tools called through the plugin against the local Gmail-like API."""

from __future__ import annotations

import base64
from typing import Any

import httpx2
import jsonschema_rs
import pytest

from executor.models import ToolDefinition
from executor.results import ToolResult
from executor.sources.base import AppliedAuth, PluginCall
from executor.sources.discovery import DiscoveryPlugin
from tests.servers.google_api import GmailApi
from tests.sources.discovery.conftest import by_name, document, load, load_text

RFC822 = "From: a@example.com\r\nTo: b@example.com\r\nSubject: Hello\r\n\r\nLunch at noon?\r\n"


async def call(
    http: httpx2.AsyncClient,
    tool: ToolDefinition,
    arguments: dict[str, Any],
    *,
    root: str,
    token: str | None,
) -> ToolResult:
    assert jsonschema_rs.validator_for(tool.input_schema).is_valid(arguments), arguments
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = PluginCall(
        tool=tool,
        arguments=arguments,
        integration_config={},
        connection_settings={"base_url": root},
        auth=AppliedAuth(headers=headers),
        http=http,
        timeout=10.0,
    )
    return await DiscoveryPlugin().call(request)


@pytest.fixture
async def gmail() -> dict[str, ToolDefinition]:
    return by_name(await load("gmail.v1"))


async def test_list_sends_repeated_query_values_and_fills_the_default_user(
    http: httpx2.AsyncClient, gmail: dict[str, ToolDefinition], gmail_api: tuple[GmailApi, str]
) -> None:
    api, root = gmail_api
    first = api.add_message(RFC822, labels=["INBOX", "IMPORTANT"])
    api.add_message(RFC822, labels=["INBOX"])
    arguments = {"label_ids": ["INBOX", "IMPORTANT"], "max_results": 10}
    result = await call(http, gmail["users.messages.list"], arguments, root=root, token=api.token)
    assert result["ok"], result
    assert result["data"]["messages"] == [{"id": first["id"], "threadId": first["threadId"]}]
    got = await call(
        http, gmail["users.messages.get"], {"id": first["id"]}, root=root, token=api.token
    )
    assert got["ok"] and got["data"]["snippet"] == "Hello Lunch at noon?"


async def test_send_posts_the_json_body(
    http: httpx2.AsyncClient, gmail: dict[str, ToolDefinition], gmail_api: tuple[GmailApi, str]
) -> None:
    api, root = gmail_api
    raw = base64.urlsafe_b64encode(RFC822.encode()).decode()
    result = await call(
        http, gmail["users.messages.send"], {"body": {"raw": raw}}, root=root, token=api.token
    )
    assert result["ok"], result
    assert result["data"]["labelIds"] == ["SENT"]
    assert [m["snippet"] for m in api.messages.values()] == ["Hello Lunch at noon?"]


async def test_media_goes_to_the_upload_path_as_a_simple_upload(
    http: httpx2.AsyncClient, gmail: dict[str, ToolDefinition], gmail_api: tuple[GmailApi, str]
) -> None:
    api, root = gmail_api
    result = await call(
        http, gmail["users.messages.send"], {"media": RFC822}, root=root, token=api.token
    )
    assert result["ok"], result
    assert api.uploads == [{"upload_type": "media", "content_type": "message/rfc822"}]
    encoded = {"content_base64": base64.b64encode(RFC822.encode()).decode()}
    again = await call(
        http, gmail["users.messages.send"], {"media": encoded}, root=root, token=api.token
    )
    assert again["ok"], again
    assert [m["snippet"] for m in api.messages.values()] == ["Hello Lunch at noon?"] * 2


async def test_media_with_a_body_is_one_multipart_related_upload(
    http: httpx2.AsyncClient, gmail: dict[str, ToolDefinition], gmail_api: tuple[GmailApi, str]
) -> None:
    api, root = gmail_api
    arguments = {"media": RFC822, "body": {"labelIds": ["DRAFT"]}}
    result = await call(http, gmail["users.messages.send"], arguments, root=root, token=api.token)
    assert result["ok"], result
    (upload,) = api.uploads
    assert upload["upload_type"] == "multipart"
    assert upload["content_type"].startswith("multipart/related; boundary=")
    assert upload["metadata"] == '{"labelIds":["DRAFT"]}'
    assert upload["media_type"] == "message/rfc822"
    assert result["data"]["labelIds"] == ["SENT", "UPLOADED_WITH_METADATA"]


async def test_media_of_a_type_the_method_refuses_is_an_argument_error(
    http: httpx2.AsyncClient, gmail: dict[str, ToolDefinition], gmail_api: tuple[GmailApi, str]
) -> None:
    api, root = gmail_api
    media = {"content_base64": base64.b64encode(b"\x89PNG").decode(), "content_type": "image/png"}
    result = await call(
        http, gmail["users.messages.send"], {"media": media}, root=root, token=api.token
    )
    assert result["error"]["code"] == "invalid_arguments"
    assert "message/*" in result["error"]["message"]
    forged = {**media, "content_type": "message/rfc822\r\nX-Forged: 1"}
    send = gmail["users.messages.send"]
    refused = await call(http, send, {"media": forged}, root=root, token=api.token)
    assert refused["error"]["code"] == "invalid_arguments"
    assert api.uploads == []


async def test_reserved_expansion_keeps_slashes_but_refuses_dot_segments(
    http: httpx2.AsyncClient, gmail_api: tuple[GmailApi, str]
) -> None:
    api, root = gmail_api
    get = by_name(await load("pubsub.v1"))["projects.topics.get"]
    result = await call(http, get, {"topic": "projects/p1/topics/t 1"}, root=root, token=api.token)
    assert result["ok"], result
    assert result["data"]["raw_path"] == "/v1/projects/p1/topics/t%201"
    assert result["data"]["query"] == ""
    # The pattern stops "..": check the call side refuses it even for a looser schema.
    loose = ToolDefinition(**{**get.__dict__, "input_schema": {"type": "object"}})
    escape = await call(http, loose, {"topic": "projects/../../admin"}, root=root, token=api.token)
    assert escape["error"]["code"] == "invalid_arguments"
    query = await call(http, loose, {"topic": "projects/p1?alt=media"}, root=root, token=api.token)
    assert query["ok"], query
    assert query["data"]["raw_path"] == "/v1/projects/p1%3Falt=media"
    assert query["data"]["query"] == ""


async def test_a_simple_path_value_is_encoded_whole(
    http: httpx2.AsyncClient, gmail_api: tuple[GmailApi, str]
) -> None:
    api, root = gmail_api
    tools = by_name(await load("pubsub.v1"))
    publish = tools["projects.topics.publish"]
    arguments = {"topic": "projects/p1/topics/t1", "body": {"messages": [{"data": "aGk="}]}}
    result = await call(http, publish, arguments, root=root, token=api.token)
    assert result["ok"], result
    assert result["data"]["method"] == "POST"
    assert result["data"]["raw_path"] == "/v1/projects/p1/topics/t1:publish"
    assert result["data"]["body"] == '{"messages":[{"data":"aGk="}]}'


async def test_google_errors_map_to_the_envelope(
    http: httpx2.AsyncClient, gmail: dict[str, ToolDefinition], gmail_api: tuple[GmailApi, str]
) -> None:
    api, root = gmail_api
    missing = await call(
        http, gmail["users.messages.get"], {"id": "nope"}, root=root, token=api.token
    )
    assert missing["error"]["code"] == "upstream_error" and missing["error"]["status"] == 404
    assert "Requested entity was not found" in missing["error"]["message"]
    denied = await call(http, gmail["users.messages.list"], {}, root=root, token="wrong-token")
    assert denied["error"]["code"] == "auth_required"


async def test_an_upload_without_multipart_support_refuses_a_body_too(
    http: httpx2.AsyncClient, gmail_api: tuple[GmailApi, str]
) -> None:
    api, root = gmail_api
    upload = {
        "id": "notes.notes.upload",
        "httpMethod": "POST",
        "path": "notes",
        "request": {"$ref": "Note"},
        "supportsMediaUpload": True,
        "mediaUpload": {"accept": ["text/*"], "protocols": {"simple": {"path": "/upload/notes"}}},
    }
    schemas = {
        "Note": {"id": "Note", "type": "object", "properties": {"title": {"type": "string"}}}
    }
    text = document(schemas=schemas, resources={"notes": {"methods": {"upload": upload}}})
    tool = by_name(await load_text(text))["notes.upload"]
    assert tool.binding["media"]["default_type"] == "text/plain"
    arguments = {"media": {"content_base64": "aGk=", "content_type": "text/plain"}, "body": {}}
    result = await call(http, tool, arguments, root=root, token=api.token)
    assert result["error"]["code"] == "invalid_arguments"
    assert "without a body" in result["error"]["message"]
