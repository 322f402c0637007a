"""An upstream MCP server over stdio: its tools in the catalog, calls through one session."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from executor import Executor
from executor.errors import InvalidInputError
from executor.sources.base import SourceConfig
from tests.sources.mcp.conftest import until_catalog, upstream_options

pytestmark = pytest.mark.anyio


async def _add(ex: Executor, state: Path, **options: object) -> None:
    await ex.sources.add("up", "mcp", SourceConfig(options=upstream_options(state, **options)))


async def test_tools_are_listed_with_names_and_policies_from_annotations(
    mcp_ex: Executor, state: Path
) -> None:
    await _add(mcp_ex, state)
    tools = {tool.name: tool for tool in await mcp_ex.tools.list("up")}
    assert {"whoami", "add", "wipe", "grow", "files.read.all"} <= set(tools)
    assert tools["whoami"].default_policy == "allow" and tools["whoami"].is_read_only
    assert tools["wipe"].default_policy == "require_approval" and tools["wipe"].is_destructive
    # No annotation: not read-only, so it needs approval and counts as destructive (MCP default).
    assert tools["grow"].default_policy == "require_approval" and tools["grow"].is_destructive
    schema = await mcp_ex.tools.schema("up.default.add")
    assert schema["properties"] == {"a": {"type": "number"}, "b": {"type": "number"}}
    result = await mcp_ex.call("up.default.files.read.all")
    assert result == {"ok": True, "data": "ran files/read.all"}


async def test_calls_reuse_one_session_and_one_server_process(
    mcp_ex: Executor, state: Path
) -> None:
    await _add(mcp_ex, state)
    answers = [await mcp_ex.call("up.default.whoami") for _ in range(4)]
    assert [answer["data"]["calls"] for answer in answers] == [1, 2, 3, 4]
    assert len({answer["data"]["pid"] for answer in answers}) == 1
    connection = (await mcp_ex.connections.list("up"))[0]
    session = mcp_ex.plugins.get("mcp").session(connection.id)  # type: ignore[attr-defined]
    assert session is not None and session.connects == 1


async def test_text_image_resource_and_error_content_pass_through(
    mcp_ex: Executor, state: Path
) -> None:
    await _add(mcp_ex, state)
    assert await mcp_ex.call("up.default.add", {"a": 2, "b": 3}) == {"ok": True, "data": "5"}
    picture = await mcp_ex.call("up.default.picture")
    assert picture == {
        "ok": True,
        "data": [
            {"type": "text", "text": "a picture"},
            {"type": "image", "mime_type": "image/png", "data": "iVBORw0KGgo="},
            {
                "type": "resource",
                "uri": "file:///notes.txt",
                "mime_type": "text/plain",
                "text": "notes",
            },
        ],
    }
    failed = await mcp_ex.call("up.default.fail")
    assert failed["ok"] is False
    assert failed["error"]["code"] == "upstream_error"
    assert "it broke" in failed["error"]["message"]


async def test_env_secret_references_are_resolved_at_connect_and_never_shown(
    mcp_ex: Executor, state: Path
) -> None:
    reference = await mcp_ex.secrets.set("upstream_token", "s3cr3t-upstream-value")
    await _add(mcp_ex, state, env={"UPSTREAM_TOKEN": reference, "PLAIN": "visible"})
    integration = await mcp_ex.sources.get("up")
    assert "s3cr3t-upstream-value" not in json.dumps(integration.config)
    assert await mcp_ex.call("up.default.env", {"name": "PLAIN"}) == {"ok": True, "data": "visible"}
    secret = await mcp_ex.call("up.default.env", {"name": "UPSTREAM_TOKEN"})
    assert secret["ok"] is True
    assert "s3cr3t-upstream-value" not in json.dumps(secret)
    # Variables of the executor's own process are not passed on.
    assert (await mcp_ex.call("up.default.env", {"name": "EXECUTOR_DATA_DIR"}))["data"] == "<unset>"


async def test_plain_credentials_in_env_are_refused(mcp_ex: Executor, state: Path) -> None:
    with pytest.raises(InvalidInputError, match="secret://"):
        await _add(mcp_ex, state, env={"GITHUB_TOKEN": "ghp_plaintext"})


async def test_tools_list_changed_refreshes_the_catalog_and_holds_new_tools_for_review(
    mcp_ex: Executor, state: Path
) -> None:
    # notifications/tools/list_changed is a handshake-era notification (legacy mode).
    await _add(mcp_ex, state, mode="legacy")
    await mcp_ex.policies.set("up.*", "allow")
    assert (await mcp_ex.call("up.default.grow", {"name": "sprout"}))["ok"]

    async def held() -> bool:
        return bool(await mcp_ex.sources.pending_reviews("up"))

    await until_catalog(mcp_ex, held)
    # MCP upstreams hold changes for review by default: the new tool waits for a person.
    reviews = await mcp_ex.sources.pending_reviews("up")
    assert [(review.name, review.change) for review in reviews] == [("sprout", "added")]
    await mcp_ex.sources.review("up", "sprout")
    assert (await mcp_ex.call("up.default.sprout")) == {"ok": True, "data": "ran sprout"}


async def test_unknown_tool_error_refreshes_and_a_failed_refresh_keeps_the_tools(
    mcp_ex: Executor, state: Path
) -> None:
    await _add(mcp_ex, state)
    await mcp_ex.policies.set("up.*", "allow")
    assert (await mcp_ex.call("up.default.hide", {"name": "add"}))["ok"]
    result = await mcp_ex.call("up.default.add", {"a": 1, "b": 2})
    assert result["error"]["code"] == "tool_not_found"
    assert "refreshed" in result["error"]["message"]

    async def removed() -> bool:
        return "add" not in {tool.name for tool in await mcp_ex.tools.list("up")}

    await until_catalog(mcp_ex, removed)
    names = {tool.name for tool in await mcp_ex.tools.list("up")}
    assert "add" not in names and "whoami" in names

    # The server now fails to list its tools.
    await anyio.Path(state).write_text("{ this is not json")
    plugin = mcp_ex.plugins.get("mcp")
    assert await plugin._host.refresh("up") is False  # type: ignore[attr-defined]
    assert {tool.name for tool in await mcp_ex.tools.list("up")} == names


async def test_elicitation_is_bridged_to_the_approval_callback(data_dir: Path, state: Path) -> None:
    asked = []

    def approve(request: object) -> bool:
        asked.append(request)
        return True

    async with Executor.open(data_dir=data_dir, on_approval=approve) as ex:
        await _add(ex, state, mode="legacy")
        result = await ex.call("up.default.confirm")
    assert result == {"ok": True, "data": {"action": "accept", "content": {"sure": True}}}
    assert asked[-1].summary == "The upstream MCP server asks: Really go ahead?"
    assert asked[-1].address == "up.default.confirm"


async def test_elicitation_without_a_human_returns_input_required_with_the_question(
    data_dir: Path, state: Path
) -> None:
    async with Executor.open(data_dir=data_dir) as ex:
        await _add(ex, state, mode="legacy")
        result = await ex.call("up.default.confirm")
    assert result["ok"] is False
    error = result["error"]
    assert error["code"] == "input_required"
    assert error["details"]["message"] == "Really go ahead?"
    assert error["details"]["schema"]["required"] == ["sure"]


async def test_code_mode_calls_an_upstream_tool(mcp_ex: Executor, state: Path) -> None:
    await _add(mcp_ex, state)
    execution = await mcp_ex.execute("tools.up.default.add(a=20, b=22)['data']")
    assert execution.status == "completed", execution.error
    assert execution.result == "42"


async def test_ten_thousand_tools_are_listed_across_pages(mcp_ex: Executor, state: Path) -> None:
    await anyio.Path(state).write_text(json.dumps({"count": 10_000}))
    integration = await mcp_ex.sources.add(
        "bulk", "mcp", SourceConfig(options=upstream_options(state))
    )
    assert integration.tool_count == 10_010
    assert (await mcp_ex.call("bulk.default.bulk_9999", {"x": 1}))["ok"]
