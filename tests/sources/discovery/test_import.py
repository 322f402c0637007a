"""Importing Discovery documents: the whole installed corpus, then Gmail, Drive and Calendar."""

from __future__ import annotations

import re

import jsonschema_rs
import orjson

from executor.addresses import is_identifier
from executor.sources.base import FetchPolicy, SourceConfig
from executor.sources.discovery import DiscoveryPlugin
from tests.servers import serve
from tests.servers.google_api import GmailApi
from tests.sources.discovery.conftest import DOCUMENTS, by_name, load


async def test_every_document_in_the_client_wheel_imports_without_error() -> None:
    plugin = DiscoveryPlugin()
    documents = sorted(DOCUMENTS.glob("*.json"))
    apis = [path for path in documents if path.name != "index.json"]
    assert len(apis) > 500
    patterns: set[str] = set()
    tool_count = empty = 0
    for path in apis:
        bundle = await plugin.load(SourceConfig(path=str(path)), fetch_policy=FetchPolicy())
        if not bundle.tools:  # a few documents really declare no methods
            assert bundle.warnings == [
                "The document declares no methods, so the integration has no tools."
            ], path.name
            empty += 1
            continue
        assert bundle.warnings == [], (path.name, bundle.warnings[:3])
        tool_count += len(bundle.tools)
        for tool in bundle.tools:
            assert all(is_identifier(segment) for segment in tool.name.split(".")), tool.name
            patterns.update(
                re.findall(
                    r'"pattern":("(?:[^"\\]|\\.)*")', orjson.dumps(tool.input_schema).decode()
                )
            )
    assert tool_count > 20_000 and empty < 10
    # Parameter patterns are the part of the schemas a validator could fail to compile.
    for pattern in patterns:
        jsonschema_rs.validator_for({"type": "string", "pattern": orjson.loads(pattern)})


async def test_gmail_methods_become_tools_named_by_their_resource_path() -> None:
    tools = by_name(await load("gmail.v1"))
    assert {"users.messages.send", "users.messages.list", "users.messages.get"} <= set(tools)
    assert "users.messages.batch_delete" in tools
    assert "users.messages.import_" in tools  # a keyword as a segment
    assert "users.settings.send_as.smime_info.set_default" in tools
    assert tools["users.messages.list"].tags == ("users.messages",)


async def test_input_schemas_validate_with_their_own_defs_for_gmail_drive_and_calendar() -> None:
    for name in ("gmail.v1", "drive.v3", "calendar.v3"):
        for tool in (await load(name)).tools:
            validator = jsonschema_rs.validator_for(tool.input_schema)
            assert validator.is_valid({}) or tool.input_schema.get("required"), tool.name
            if tool.output_schema is not None:
                jsonschema_rs.validator_for(tool.output_schema)


async def test_parameters_keep_types_defaults_enums_repetition_and_order() -> None:
    tools = by_name(await load("gmail.v1"))
    listing = tools["users.messages.list"].input_schema
    properties = listing["properties"]
    assert next(iter(properties)) == "user_id"  # parameterOrder first
    assert properties["user_id"]["default"] == "me"
    assert "required" not in listing  # userId has a default, filled in at call time
    assert properties["label_ids"]["type"] == "array"
    assert properties["label_ids"]["items"] == {"type": "string"}
    assert properties["max_results"] == {
        **properties["max_results"],
        "type": "integer",
        "default": 100,
    }
    assert properties["include_spam_trash"]["default"] is False
    assert "fields" in properties  # a useful global parameter
    for noise in (
        "key",
        "access_token",
        "oauth_token",
        "pretty_print",
        "upload_type",
        "xgafv",
        "alt",
    ):
        assert noise not in properties
    get = tools["users.messages.get"].input_schema
    assert get["required"] == ["id"]
    assert get["properties"]["format"]["enum"] == ["minimal", "full", "raw", "metadata"]
    assert "- raw:" in get["properties"]["format"]["description"]  # enumDescriptions folded in
    binding = {p["name"]: p for p in tools["users.messages.list"].binding["parameters"]}
    assert binding["labelIds"]["in"] == "query" and binding["labelIds"]["explode"] is True


async def test_reserved_path_parameters_keep_their_pattern() -> None:
    tools = by_name(await load("pubsub.v1"))
    get = tools["projects.topics.get"]
    assert get.binding["path"] == "v1/{+topic}"
    assert get.input_schema["properties"]["topic"]["pattern"] == "^projects/[^/]+/topics/[^/]+$"
    assert get.input_schema["required"] == ["topic"]


async def test_request_bodies_bundle_referenced_schemas_including_cycles() -> None:
    tools = by_name(await load("gmail.v1"))
    send = tools["users.messages.send"].input_schema
    assert send["properties"]["body"]["$ref"] == "#/$defs/Message"
    defs = send["$defs"]
    # Message → MessagePart → parts: [MessagePart] is a cycle, kept finite by name.
    assert defs["MessagePart"]["properties"]["parts"]["items"] == {"$ref": "#/$defs/MessagePart"}
    assert set(defs) >= {"Message", "MessagePart", "MessagePartBody", "MessagePartHeader"}
    assert "Label" not in defs  # only what the tool reaches
    validator = jsonschema_rs.validator_for(send)
    assert validator.is_valid({"body": {"raw": "abc", "payload": {"parts": [{"parts": []}]}}})
    assert not validator.is_valid({"body": {"payload": {"parts": "nope"}}})
    output = tools["users.messages.list"].output_schema
    assert output is not None and output["$ref"] == "#/$defs/ListMessagesResponse"


async def test_wide_integers_accept_numbers_and_strings() -> None:
    tools = by_name(await load("gmail.v1"))
    history = tools["users.history.list"].input_schema
    validator = jsonschema_rs.validator_for(history)
    assert validator.is_valid({"start_history_id": "12345"})
    assert validator.is_valid({"start_history_id": 12345})


async def test_media_upload_methods_take_a_media_argument() -> None:
    tools = by_name(await load("gmail.v1"))
    send = tools["users.messages.send"]
    assert send.binding["media"]["path"] == "/upload/gmail/v1/users/{userId}/messages/send"
    assert send.binding["media"]["accept"] == ["message/*"]
    assert send.binding["media"]["default_type"] == "message/rfc822"
    assert "media" in send.input_schema["properties"]
    assert "required" not in send.input_schema  # body or media, either may come alone
    assert "media" not in tools["users.messages.list"].input_schema["properties"]
    drive = by_name(await load("drive.v3"))
    create = drive["files.create"]
    assert create.binding["media"]["path"] == "/upload/drive/v3/files"
    assert create.binding["service_path"] == "drive/v3/"
    assert drive["files.get"].input_schema["properties"]["alt"]["enum"] == ["json", "media"]


async def test_default_policies_follow_the_http_method() -> None:
    tools = by_name(await load("calendar.v3"))
    listing, insert, delete = tools["events.list"], tools["events.insert"], tools["events.delete"]
    assert (listing.default_policy, listing.is_read_only) == ("allow", True)
    assert (insert.default_policy, insert.is_read_only, insert.is_destructive) == (
        "require_approval",
        False,
        False,
    )
    assert (delete.default_policy, delete.is_destructive) == ("require_approval", True)
    assert insert.input_schema["required"] == ["calendar_id", "body"]


async def test_google_oauth_scopes_become_the_auth_method() -> None:
    bundle = await load("gmail.v1")
    assert bundle.kind == "discovery" and bundle.title == "Gmail API"
    assert bundle.requires_auth is True
    oauth, api_key = bundle.auth_methods
    assert (oauth.id, oauth.type) == ("oauth2", "oauth2")
    assert "https://www.googleapis.com/auth/gmail.send" in oauth.extras["scopes"]
    flow = oauth.extras["flows"]["authorizationCode"]
    assert flow["tokenUrl"] == "https://oauth2.googleapis.com/token"
    assert (api_key.type, api_key.location, api_key.name) == ("api_key", "query", "key")
    send = by_name(bundle)["users.messages.send"]
    assert "https://www.googleapis.com/auth/gmail.send" in send.binding["scopes"]


async def test_the_root_url_and_service_path_make_the_server() -> None:
    drive = by_name(await load("drive.v3"))["files.list"]
    assert drive.binding["servers"] == [{"url": "https://www.googleapis.com/", "variables": {}}]
    assert drive.binding["path"] == "files"


async def test_a_document_loads_from_its_discovery_url() -> None:
    api = GmailApi()
    with serve(api.app) as url:
        source = f"{url}/discovery/v1/apis/gmail/v1/rest"
        bundle = await DiscoveryPlugin().load(SourceConfig(url=source), fetch_policy=FetchPolicy())
    assert "users.messages.send" in by_name(bundle)
    assert bundle.config["url"] == source and bundle.config["api"] == "gmail:v1"


async def test_detect_recognises_discovery_documents_and_urls() -> None:
    plugin = DiscoveryPlugin()
    text = (DOCUMENTS / "gmail.v1.json").read_text()
    found = await plugin.detect(text)
    assert found is not None and found.kind == "discovery" and found.confidence >= 0.9
    by_kind = await plugin.detect('{"kind": "discovery#restDescription", "name": "x"}')
    assert by_kind is not None and by_kind.confidence >= 0.9
    by_url = await plugin.detect("", url="https://gmail.googleapis.com/$discovery/rest?version=v1")
    assert by_url is not None and by_url.confidence < 0.5
    assert await plugin.detect('{"openapi": "3.1.0", "paths": {}}') is None
