"""A Discovery source through the public SDK, on SQLite and PostgreSQL: Gmail from the wheel's
document, called on the local Gmail-like API with a bearer token."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from executor import ApprovalRequest, Executor
from executor.sources.base import SourceConfig
from tests.conftest import Database, database_dump
from tests.servers.google_api import GmailApi
from tests.sources.discovery.conftest import DOCUMENTS, document

RFC822 = "From: a@example.com\r\nTo: b@example.com\r\nSubject: Hi\r\n\r\nSee you soon\r\n"


async def _add_gmail(ex: Executor, gmail_api: tuple[GmailApi, str]) -> GmailApi:
    api, root = gmail_api
    await ex.sources.add("gmail", "discovery", SourceConfig(path=str(DOCUMENTS / "gmail.v1.json")))
    await ex.connections.create(
        "gmail",
        "work",
        auth={"type": "bearer", "method": "oauth2", "token": api.token},
        base_url=root,
    )
    return api


async def test_gmail_from_the_wheel_is_listed_searched_and_described(
    ex: Executor, gmail_api: tuple[GmailApi, str]
) -> None:
    await _add_gmail(ex, gmail_api)
    integration = await ex.sources.get("gmail")
    assert (integration.kind, integration.title) == ("discovery", "Gmail API")
    assert [method.type for method in integration.auth_methods] == ["oauth2", "api_key"]
    assert [c.name for c in await ex.connections.list("gmail")] == ["work"]  # needs auth
    addresses = {tool.address for tool in await ex.tools.list("gmail")}
    assert {"gmail.work.users.messages.send", "gmail.work.users.messages.list"} <= addresses
    hits = (await ex.tools.search("send an email message")).hits
    assert "gmail.work.users.messages.send" in [hit.tool.address for hit in hits[:5]]
    described = await ex.tools.describe("gmail.work.users.messages.send")
    assert described["policy"] == "require_approval"
    assert described["input_schema"]["properties"]["body"]["$ref"] == "#/$defs/Message"
    listing = await ex.tools.describe("gmail.work.users.messages.list")
    assert (listing["policy"], listing["is_read_only"]) == ("allow", True)


async def test_a_call_uses_the_bearer_token_which_never_appears_anywhere(
    ex: Executor,
    gmail_api: tuple[GmailApi, str],
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    api = await _add_gmail(ex, gmail_api)
    message = api.add_message(RFC822)
    listed = await ex.call("gmail.work.users.messages.list", {"q": "See you"})
    assert listed["ok"], listed
    assert listed["data"]["messages"] == [{"id": message["id"], "threadId": message["threadId"]}]
    echoed = await ex.call("gmail.work.users.get_profile", {})
    assert echoed["error"]["code"] == "upstream_error"
    assert "[REDACTED]" in echoed["error"]["message"]
    for place in (
        repr(listed),
        repr(echoed),
        repr(await ex.connections.list("gmail")),
        repr(await ex.runs.list()),
        caplog.text,
        await database_dump(ex, database),
    ):
        assert api.token not in place


async def test_media_upload_through_the_sdk_after_approval(
    database: Database, data_dir: Path, gmail_api: tuple[GmailApi, str]
) -> None:
    asked: list[ApprovalRequest] = []
    async with Executor.open(
        **database.options(data_dir),
        on_approval=lambda request: asked.append(request) is None,
    ) as ex:
        api = await _add_gmail(ex, gmail_api)
        result = await ex.call("gmail.work.users.messages.send", {"media": RFC822})
    assert result["ok"], result
    assert [request.address for request in asked] == ["gmail.work.users.messages.send"]
    assert api.uploads == [{"upload_type": "media", "content_type": "message/rfc822"}]
    assert [m["snippet"] for m in api.messages.values()] == ["Hi See you soon"]


async def test_a_send_from_code_pauses_for_approval_and_resumes(
    ex: Executor, gmail_api: tuple[GmailApi, str]
) -> None:
    api = await _add_gmail(ex, gmail_api)
    raw = base64.urlsafe_b64encode(RFC822.encode()).decode()
    code = (
        "found = tools.gmail.work.users.messages.list(q='nothing')\n"
        f"sent = tools.gmail.work.users.messages.send(body={{'raw': '{raw}'}})\n"
        "[found['data']['resultSizeEstimate'], sent['data']['labelIds']]"
    )
    paused = await ex.execute(code)
    assert paused.status == "paused", paused.error
    assert paused.pending is not None
    assert paused.pending["address"] == "gmail.work.users.messages.send"
    assert api.messages == {}
    run = await ex.resume(paused.id, "accept")
    assert (run.status, run.result) == ("completed", [0, ["SENT"]])
    assert len(api.messages) == 1


async def test_a_document_without_auth_gets_a_default_connection(ex: Executor) -> None:
    await ex.sources.add("notes", "discovery", SourceConfig(text=document()))
    assert [c.name for c in await ex.connections.list("notes")] == ["default"]
    assert [t.address for t in await ex.tools.list("notes")] == ["notes.default.notes.get"]


async def test_a_discovery_url_is_detected_and_added_without_a_kind(
    ex: Executor, gmail_api: tuple[GmailApi, str]
) -> None:
    api, root = gmail_api
    url = f"{root}/discovery/v1/apis/gmail/v1/rest"
    candidates = await ex.sources.detect(url)
    assert (candidates[0].kind, candidates[0].confidence) == ("discovery", 0.95)
    integration = await ex.sources.add("gmail", source=url, base_url=root)
    assert integration.kind == "discovery"
    await ex.connections.create("gmail", "work", auth={"type": "bearer", "token": api.token})
    listed = await ex.call("gmail.work.users.messages.list", {})
    assert listed["ok"], listed
