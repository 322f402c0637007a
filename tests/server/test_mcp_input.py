"""An upstream MCP server's question reaching the human through Executor's MCP server, HTTP
API and web UI: model mode (the agent relays it and resumes with ``content``), native mode (the
client's own form shows the upstream's schema), direct mode, and the browser's approval page
with the form's fields — all through the official SDK client, the real server and chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client.context import ClientRequestContext
from playwright.async_api import Browser

from executor import Executor
from executor.sources.base import SourceConfig
from tests.server import run_app
from tests.server.test_mcp import _data
from tests.server.test_mcp_modes import connect
from tests.server.test_web import _signed_in, browser  # noqa: F401 (a fixture)
from tests.sources.mcp.conftest import upstream_options
from tests.sources.mcp.upstream_server import SIGNUP_SCHEMA

pytestmark = pytest.mark.anyio

SIGNUP = "tools.up.default.signup()['data']"
ADA: dict[str, Any] = {"name": "Ada", "age": 36}


@pytest.fixture
async def upstream(data_dir: Path, tmp_path: Path) -> Path:
    """The data dir with the test upstream (its interview tools listed) as integration ``up``."""
    state = tmp_path / "upstream.json"
    state.write_text(json.dumps({"interviews": True}))
    async with Executor.open(data_dir=data_dir) as ex:
        options = upstream_options(state, mode="legacy")
        await ex.sources.add("up", "mcp", SourceConfig(options=options))
    return data_dir


def _note(result: types.CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    return first.text


async def test_model_mode_tells_the_agent_the_question_and_resume_takes_the_answer(
    upstream: Path,
) -> None:
    with run_app(upstream) as (url, token):
        async with connect(url, token, "/mcp?approval=model") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            paused = await client.call_tool("execute", {"code": SIGNUP})
            run = _data(paused)
            wrong = await client.call_tool(
                "resume", {"execution_id": run["id"], "action": "accept", "content": {"age": 1}}
            )
            done = await client.call_tool(
                "resume", {"execution_id": run["id"], "action": "accept", "content": ADA}
            )
    assert "content" in tools["resume"].input_schema["properties"]
    assert run["status"] == "paused"
    assert run["pending"]["asks"] == "input"
    assert run["pending"]["schema"] == SIGNUP_SCHEMA
    note = _note(paused)
    assert 'asks the user "Who are you?"' in note
    assert "age (integer, required)" in note
    assert 'content={"name": "<string>", "age": "<integer>"}' in note
    assert wrong.is_error and _data(wrong)["error"]["code"] == "invalid_input"
    assert "name" in _data(wrong)["error"]["message"]
    finished = _data(done)
    assert finished["status"] == "completed", finished
    assert finished["result"] == {"answers": [{"action": "accept", "content": ADA}]}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_native_mode_shows_the_upstream_form_in_the_client(upstream: Path, mode: str) -> None:
    """Legacy: a form elicitation inside the call; auto (2026-07-28): the input-required round
    trip. Either way the client's callback gets the upstream's message and schema."""
    asked: list[types.ElicitRequestFormParams] = []

    async def human(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        asked.append(params)
        return types.ElicitResult(action="accept", content=ADA)

    with run_app(upstream) as (url, token):
        async with connect(
            url, token, "/mcp?approval=native", mode=mode, elicitation_callback=human
        ) as client:
            done = _data(await client.call_tool("execute", {"code": SIGNUP}))
    assert done["status"] == "completed", done
    assert done["result"] == {"answers": [{"action": "accept", "content": ADA}]}
    assert len(asked) == 1
    assert asked[0].message.startswith("Who are you? (asked by up.default.signup")
    assert asked[0].requested_schema == SIGNUP_SCHEMA


async def test_direct_mode_call_asking_for_input_pauses_and_returns_the_tools_envelope(
    upstream: Path,
) -> None:
    with run_app(upstream) as (url, token):
        async with connect(url, token, "/mcp?tools=direct&approval=model") as client:
            paused = _data(await client.call_tool("up__default__signup", {}))
            answered = await client.call_tool(
                "resume", {"execution_id": paused["id"], "action": "decline"}
            )
    assert paused["status"] == "paused" and paused["pending"]["asks"] == "input"
    assert not answered.is_error
    assert _data(answered) == {
        "ok": True,
        "data": {"answers": [{"action": "decline", "content": None}]},
    }


async def test_browser_mode_question_is_answered_in_the_approval_page_form(
    upstream: Path,
    browser: Browser,  # noqa: F811
) -> None:
    with run_app(upstream) as (url, token):
        async with connect(url, token, "/mcp?approval=browser") as client:
            paused = await client.call_tool("execute", {"code": SIGNUP})
        run = _data(paused)
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            refused = await http.post(
                f"{url}/api/executions/{run['id']}/resume",
                json={"action": "accept", "content": {"name": "Ada", "age": -1}},
            )
        page = await _signed_in(browser, url, token)
        await page.goto(f"{url}/approvals/{run['id']}")
        question = await page.locator(".question").text_content()
        await page.locator("#field-name").fill("Ada")
        await page.locator("#field-age").fill("36")
        await page.get_by_role("button", name="Answer", exact=True).click()
        await page.wait_for_url(f"{url}/approvals/{run['id']}?answered=accept&asked=input")
        status = await page.locator("#status").text_content()
        answered = await page.locator("#answered").text_content()
        result = json.loads(await page.locator("#result").text_content() or "")
    assert f"{url}/approvals/{run['id']}" in _note(paused)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_input"
    assert "Who are you?" in (question or "")
    assert status == "completed"
    assert answered == "You answered."
    assert result == {"answers": [{"action": "accept", "content": {**ADA, "newsletter": False}}]}
