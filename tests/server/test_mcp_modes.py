"""MCP approval modes (model, browser, native) and direct mode, end to end through the official
SDK client over streamable HTTP (both protocol eras) and stdio, with restarts between pause and
answer."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.context import ClientRequestContext
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from executor import Executor
from tests.server import run_app
from tests.server.test_mcp import CREATE, _add_petstore, _data
from tests.servers import free_port
from tests.servers.petstore import PetStore

CODE = f"{CREATE}(name='Tom')['data']"
#: The call's whole envelope: a declined call's is {"ok": false, "error": approval_declined}.
ENVELOPE = f"{CREATE}(name='Max')"
ADDRESS = "petstore.work.pets.create_pet"


@contextlib.asynccontextmanager
async def connect(
    url: str, token: str, path: str = "/mcp", *, mode: str = "auto", **options: Any
) -> AsyncIterator[Client]:
    """The official client on ``url + path`` (e.g. ``/mcp?approval=native``)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{url}{path}", http_client=http), mode=mode, **options) as c,
    ):
        yield c


def answering(action: str, asked: list[str] | None = None) -> Any:
    """An elicitation callback: the human answers ``action`` (and the question is kept)."""

    async def callback(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        if asked is not None:
            asked.append(params.message)
        return types.ElicitResult(action=action, content={} if action == "accept" else None)

    return callback


async def _approve_through_api(url: str, token: str, execution_id: str, action: str) -> Any:
    """The person's answer, as the web UI gives it (the full token's HTTP API)."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        response = await http.post(
            f"{url}/api/executions/{execution_id}/resume", json={"action": action}
        )
    assert response.status_code == 200, response.text
    return response.json()


# -- model ----------------------------------------------------------------------------------------


async def test_model_mode_pause_survives_a_restart_before_resume(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    with run_app(data_dir) as (url, token):
        async with connect(url, token, "/mcp?approval=model") as client:
            paused = _data(await client.call_tool("execute", {"code": CODE}))
    assert paused["status"] == "paused"
    with run_app(data_dir) as (url, token):
        async with connect(url, token, "/mcp?approval=model", mode="legacy") as client:
            resumed = await client.call_tool(
                "resume", {"execution_id": paused["id"], "action": "accept"}
            )
    assert _data(resumed)["status"] == "completed"
    assert [pet["name"] for pet in store.pets.values()] == ["Tom"]


# -- browser --------------------------------------------------------------------------------------


async def test_browser_mode_links_the_approval_page_and_resume_waits_for_the_decision(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    with run_app(data_dir) as (url, token):
        async with connect(url, token, "/mcp?approval=browser") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            paused = await client.call_tool("execute", {"code": CODE})
            run = _data(paused)
            note = paused.content[0].text  # type: ignore[union-attr]
            self_approval = await client.call_tool(
                "resume", {"execution_id": run["id"], "action": "accept"}
            )
            outcome: dict[str, Any] = {}

            async def agent_resumes() -> None:
                outcome["result"] = await client.call_tool("resume", {"execution_id": run["id"]})

            async with anyio.create_task_group() as tg:
                tg.start_soon(agent_resumes)
                await _approve_through_api(url, token, run["id"], "accept")
    assert tools["resume"].input_schema["required"] == ["execution_id"]
    assert "action" not in tools["resume"].input_schema["properties"]
    assert run["status"] == "paused"
    assert f"{url}/approvals/{run['id']}" in note
    assert self_approval.is_error  # the agent cannot answer for the user
    assert _data(self_approval)["error"]["code"] == "invalid_input"
    finished = _data(outcome["result"])
    assert finished["status"] == "completed", finished
    assert finished["result"]["name"] == "Tom"
    assert [pet["name"] for pet in store.pets.values()] == ["Tom"]


async def test_browser_mode_resume_says_still_waiting_after_its_timeout(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    with run_app(data_dir, approval_timeout=0.3) as (url, token):
        async with connect(url, token, "/mcp?approval=browser") as client:
            run = _data(await client.call_tool("execute", {"code": CODE}))
            waiting = await client.call_tool("resume", {"execution_id": run["id"]})
    note = waiting.content[0].text  # type: ignore[union-attr]
    assert not waiting.is_error
    assert note.startswith("STILL WAITING")
    assert f"/approvals/{run['id']}" in note
    assert _data(waiting)["status"] == "paused"
    assert store.pets == {}


async def test_browser_mode_decision_after_a_restart_reaches_the_agent(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    with run_app(data_dir) as (url, token):
        async with connect(url, token, "/mcp?approval=browser", mode="legacy") as client:
            run = _data(await client.call_tool("execute", {"code": ENVELOPE}))
    with run_app(data_dir) as (url, token):
        declined = await _approve_through_api(url, token, run["id"], "decline")
        async with connect(url, token, "/mcp?approval=browser", mode="legacy") as client:
            told = _data(await client.call_tool("resume", {"execution_id": run["id"]}))
    assert declined["status"] == "completed"
    assert told["status"] == "completed"
    assert told["result"]["error"]["code"] == "approval_declined"
    assert store.pets == {}


# -- native ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_native_mode_asks_the_human_through_the_client(
    data_dir: Path, petstore: tuple[PetStore, str], mode: str
) -> None:
    """Legacy: form elicitation inside the call; auto (2026-07-28): the input-required round
    trip, driven by the same client callback."""
    store = await _add_petstore(data_dir, petstore)
    asked: list[str] = []
    with run_app(data_dir) as (url, token):
        async with connect(
            url,
            token,
            "/mcp?approval=native",
            mode=mode,
            elicitation_callback=answering("accept", asked),
        ) as client:
            result = await client.call_tool("execute", {"code": CODE})
        async with connect(
            url, token, "/mcp?approval=native", mode=mode, elicitation_callback=answering("decline")
        ) as client:
            refused = await client.call_tool("execute", {"code": ENVELOPE})
    run = _data(result)
    assert run["status"] == "completed", run
    assert run["result"]["name"] == "Tom"
    assert len(asked) == 1 and ADDRESS in asked[0]
    assert _data(refused)["status"] == "completed"
    assert _data(refused)["result"]["error"]["code"] == "approval_declined"
    assert [pet["name"] for pet in store.pets.values()] == ["Tom"]


async def test_native_mode_without_elicitation_falls_back_to_model_mode(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    with run_app(data_dir) as (url, token):
        async with connect(url, token, "/mcp?approval=native", mode="legacy") as client:
            paused = await client.call_tool("execute", {"code": CODE})
            run = _data(paused)
            resumed = await client.call_tool(
                "resume", {"execution_id": run["id"], "action": "accept"}
            )
    assert run["status"] == "paused"
    assert "Ask the user" in paused.content[0].text  # type: ignore[union-attr]
    assert _data(resumed)["status"] == "completed"
    assert [pet["name"] for pet in store.pets.values()] == ["Tom"]


async def test_native_request_state_is_accepted_by_a_restarted_server(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    port = free_port()
    with run_app(data_dir, port=port) as (url, token):
        async with connect(url, token, "/mcp?approval=native") as client:
            first = await client.session.call_tool(
                "execute", {"code": CODE}, allow_input_required=True
            )
    assert isinstance(first, types.InputRequiredResult)
    assert first.request_state and "execution_id" not in first.request_state  # sealed
    request = first.input_requests["approval"]
    assert isinstance(request, types.ElicitRequest)
    assert ADDRESS in request.params.message
    assert store.pets == {}
    with run_app(data_dir, port=port) as (url, token):
        async with connect(url, token, "/mcp?approval=native") as client:
            answered = await client.session.call_tool(
                "execute",
                {"code": CODE},
                input_responses={"approval": types.ElicitResult(action="accept", content={})},
                request_state=first.request_state,
            )
            with pytest.raises(MCPError, match="Invalid or expired requestState"):
                await client.session.call_tool(
                    "execute",
                    {"code": CODE},
                    input_responses={"approval": types.ElicitResult(action="accept", content={})},
                    request_state=first.request_state[:-4] + "AAAA",
                )
    assert isinstance(answered, types.CallToolResult)
    assert _data(answered)["status"] == "completed"
    assert [pet["name"] for pet in store.pets.values()] == ["Tom"]


async def test_native_legacy_pause_dismissed_then_asked_again_after_a_restart(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    with run_app(data_dir) as (url, token):
        async with connect(
            url,
            token,
            "/mcp?approval=native",
            mode="legacy",
            elicitation_callback=answering("cancel"),
        ) as client:
            run = _data(await client.call_tool("execute", {"code": CODE}))
    assert run["status"] == "paused"  # dismissed: still paused, durably
    with run_app(data_dir) as (url, token):
        async with connect(
            url,
            token,
            "/mcp?approval=native",
            mode="legacy",
            elicitation_callback=answering("accept"),
        ) as client:
            # The model's own "accept" is not the human's answer: the client asks the human.
            resumed = _data(
                await client.call_tool("resume", {"execution_id": run["id"], "action": "decline"})
            )
    assert resumed["status"] == "completed"
    assert [pet["name"] for pet in store.pets.values()] == ["Tom"]


async def test_native_mode_over_stdio_asks_through_elicitation(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    program = (
        "import anyio; from executor.server.mcp import Endpoint, serve_stdio; "
        "anyio.run(lambda: serve_stdio(Endpoint(approval='native')))"
    )
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-c", program],
        env={**os.environ, "EXECUTOR_DATA_DIR": str(data_dir)},
    )
    async with Client(parameters, mode="legacy", elicitation_callback=answering("accept")) as c:
        run = _data(await c.call_tool("execute", {"code": CODE}))
    assert run["status"] == "completed", run
    assert [pet["name"] for pet in store.pets.values()] == ["Tom"]


# -- direct ---------------------------------------------------------------------------------------


async def test_direct_mode_serves_each_tool_under_a_safe_name_and_calls_it(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(data_dir, petstore)
    store.pets[1] = {"id": 1, "name": "Rex", "tag": "dog"}
    with run_app(data_dir) as (url, token):
        async with connect(url, token, "/mcp?tools=direct") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            listed = await client.call_tool("petstore__work__pets__list_pets", {"limit": 5})
            invalid = await client.call_tool("petstore__work__pets__list_pets", {"limit": "x"})
    assert "resume" in tools and "execute" not in tools
    assert all(len(name) <= 64 and "." not in name for name in tools)
    listing = tools["petstore__work__pets__list_pets"]
    assert listing.input_schema["properties"]["limit"]
    assert listing.annotations is not None and listing.annotations.title == (
        "petstore.work.pets.list_pets"
    )
    assert "Needs the user's approval" in (
        tools["petstore__work__pets__create_pet"].description or ""
    )
    assert not listed.is_error
    assert [pet["name"] for pet in _data(listed)["data"]] == ["Rex"]
    assert invalid.is_error
    assert _data(invalid)["error"]["code"] == "invalid_arguments"


@pytest.mark.parametrize("approval", ["model", "native"])
async def test_direct_mode_call_needing_approval_follows_the_approval_mode(
    data_dir: Path, petstore: tuple[PetStore, str], approval: str
) -> None:
    store = await _add_petstore(data_dir, petstore)
    options = {"elicitation_callback": answering("accept")} if approval == "native" else {}
    with run_app(data_dir) as (url, token):
        async with connect(
            url, token, f"/mcp?tools=direct&approval={approval}", mode="legacy", **options
        ) as client:
            first = await client.call_tool("petstore__work__pets__create_pet", {"name": "Io"})
            if approval == "model":
                paused = _data(first)
                assert paused["status"] == "paused"
                assert "Ask the user" in first.content[0].text  # type: ignore[union-attr]
                first = await client.call_tool(
                    "resume", {"execution_id": paused["id"], "action": "accept"}
                )
    # Once approved, the tool's own envelope, as if it had been called at once.
    assert not first.is_error
    assert _data(first)["ok"] is True and _data(first)["data"]["name"] == "Io"
    assert [pet["name"] for pet in store.pets.values()] == ["Io"]


def test_direct_names_are_short_unique_and_stable() -> None:
    from executor.server.mcp import MAX_TOOL_NAME, direct_names

    long = "a" * 30 + ".work." + "b" * 40
    addresses = ["x__y.work.t", "x.y__work.t", "petstore.work.pets.list", long]
    names = direct_names(addresses)
    assert sorted(names.values()) == sorted(addresses)
    assert names["petstore__work__pets__list"] == "petstore.work.pets.list"
    assert all(len(name) <= MAX_TOOL_NAME for name in names)
    assert direct_names(list(reversed(addresses))) == names


# -- tools/list_changed ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_list_changed_is_announced_after_catalog_and_policy_changes(
    data_dir: Path, petstore: tuple[PetStore, str], mode: str
) -> None:
    """A change in another process (a new connection through the SDK) and one through this
    server (a policy set with the HTTP API) each reach a connected client: a notification on
    a handshake-era session, a listen-stream event on a 2026-07-28 connection."""
    await _add_petstore(data_dir, petstore)
    send, changes = anyio.create_memory_object_stream[object](16)

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            send.send_nowait(message)

    options = {"message_handler": on_message} if mode == "legacy" else {}
    with run_app(data_dir) as (url, token):
        async with (
            connect(url, token, "/mcp?tools=direct", mode=mode, **options) as client,
            anyio.create_task_group() as tasks,
        ):
            if mode != "legacy":
                listening = anyio.Event()

                async def listen() -> None:
                    async with client.listen(tools_list_changed=True) as subscription:
                        listening.set()
                        async for event in subscription:
                            send.send_nowait(event)

                tasks.start_soon(listen)
                await listening.wait()
            names = {tool.name for tool in (await client.list_tools()).tools}
            async with Executor.open(data_dir=data_dir) as ex:
                await ex.connections.create("petstore", "home")
            with anyio.fail_after(15):
                await changes.receive()
            after_add = {tool.name for tool in (await client.list_tools()).tools}
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
                policy = await http.post(
                    f"{url}/api/policies", json={"pattern": "petstore.home.*", "action": "block"}
                )
            assert policy.status_code == 201
            with anyio.fail_after(15):
                await changes.receive()
            after_block = {tool.name for tool in (await client.list_tools()).tools}
            tasks.cancel_scope.cancel()
    assert "petstore__home__pets__list_pets" not in names
    assert "petstore__home__pets__list_pets" in after_add
    assert after_block == names
