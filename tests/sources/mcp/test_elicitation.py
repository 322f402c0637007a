"""An upstream MCP server asking the user for input mid-call (elicitation): code mode pauses
durably with the question, and resuming with the answer runs the call again with the answer
ready — on handshake-era sessions (``elicitation/create``) and 2026-07-28 ones
(``InputRequiredResult``), against the test upstream and the real server-everything."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from executor import Executor
from executor.errors import InvalidInputError
from executor.sources.base import SourceConfig
from executor.sources.mcp.config import parse_upstream
from executor.sources.mcp.elicitation import Exchange
from executor.sources.mcp.session import LiveSession
from tests.conftest import Database
from tests.sources.mcp.conftest import EVERYTHING, NODE, upstream_options
from tests.sources.mcp.upstream_server import COLOUR_SCHEMA, SIGNUP_SCHEMA

pytestmark = pytest.mark.anyio

ADA: dict[str, Any] = {"name": "Ada", "age": 36}


@pytest.fixture
def interviews(state: Path) -> Path:
    """The test upstream's state with its interview tools (signup, survey) listed."""
    state.write_text(json.dumps({"interviews": True}))
    return state


@pytest.fixture
async def ex(data_dir: Path) -> AsyncIterator[Executor]:
    """An Executor with nobody attached to approve or answer: calls pause durably."""
    async with Executor.open(data_dir=data_dir) as opened:
        yield opened


async def _add(ex: Executor, state: Path, mode: str = "legacy") -> None:
    await ex.sources.add("up", "mcp", SourceConfig(options=upstream_options(state, mode=mode)))


def _answers(execution: Any) -> list[dict[str, Any]]:
    """What the upstream tool says it was answered (its result's data)."""
    assert execution.status == "completed", execution.error
    result = execution.result
    assert result["ok"], result
    return list(result["data"]["answers"])


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_code_mode_pauses_at_an_upstream_question_and_the_answer_reaches_it(
    ex: Executor, interviews: Path, mode: str
) -> None:
    await _add(ex, interviews, mode)
    paused = await ex.execute("r = tools.up.default.signup()\nr['data']")
    assert paused.status == "paused"
    pending = paused.pending or {}
    assert pending["asks"] == "input"
    assert pending["address"] == "up.default.signup"
    assert pending["message"] == "Who are you?"
    assert pending["schema"] == SIGNUP_SCHEMA

    done = await ex.resume(paused.id, "accept", ADA)
    assert done.status == "completed", done.error
    assert done.result == {"answers": [{"action": "accept", "content": ADA}]}
    calls = (await ex.runs.get(paused.id)).calls
    assert [call.outcome for call in calls] == ["input_required", "ok"]
    plugin = ex.plugins.get("mcp")
    session = next(iter(plugin._sessions.values()))[1]  # type: ignore[attr-defined]
    client = await session.client(5)
    assert client.protocol_version.startswith("2026") == (mode == "auto")


async def test_an_answer_that_does_not_fit_the_form_leaves_the_execution_paused(
    ex: Executor, interviews: Path
) -> None:
    await _add(ex, interviews)
    paused = await ex.execute("tools.up.default.signup()")
    with pytest.raises(InvalidInputError, match="age") as raised:
        await ex.resume(paused.id, "accept", {"name": "Ada", "age": "old"})
    assert raised.value.details["violations"][0]["path"] == "age"
    with pytest.raises(InvalidInputError, match="age"):
        await ex.resume(paused.id, "accept", {"name": "Ada"})
    assert (await ex.runs.get(paused.id)).status == "paused"

    done = await ex.resume(paused.id, "accept", ADA)
    assert _answers(done) == [{"action": "accept", "content": ADA}]


async def test_a_declined_question_runs_the_tool_again_answering_decline(
    ex: Executor, interviews: Path
) -> None:
    await _add(ex, interviews)
    paused = await ex.execute("tools.up.default.signup()")
    done = await ex.resume(paused.id, "decline")
    assert _answers(done) == [{"action": "decline", "content": None}]


async def test_a_cancelled_question_ends_the_execution(ex: Executor, interviews: Path) -> None:
    await _add(ex, interviews)
    paused = await ex.execute("tools.up.default.signup()")
    cancelled = await ex.resume(paused.id, "cancel")
    assert cancelled.status == "cancelled"
    assert [call.outcome for call in (await ex.runs.get(paused.id)).calls] == [
        "input_required",
        "cancelled",
    ]


async def test_a_question_is_answered_by_an_executor_opened_after_a_restart(
    database: Database, data_dir: Path, interviews: Path
) -> None:
    url, schema = database.url, database.schema
    async with Executor.open(data_dir=data_dir, database_url=url, database_schema=schema) as ex:
        await _add(ex, interviews)
        paused = await ex.execute("tools.up.default.signup()")
    assert paused.status == "paused"
    async with Executor.open(data_dir=data_dir, database_url=url, database_schema=schema) as second:
        done = await second.resume(paused.id, "accept", ADA)
    assert _answers(done) == [{"action": "accept", "content": ADA}]


async def test_an_approval_then_two_questions_pause_in_turn_and_earlier_answers_are_kept(
    ex: Executor, interviews: Path
) -> None:
    """``survey`` needs approval, then asks two questions; each answer makes the tool run
    again from the start, so the first answer must be given again with the second."""
    await _add(ex, interviews)
    run = await ex.execute("tools.up.default.survey()")
    assert (run.pending or {})["asks"] == "approval"
    run = await ex.resume(run.id, "accept")
    assert (run.pending or {})["message"] == "Your name, please?"
    run = await ex.resume(run.id, "accept", ADA)
    pending = run.pending or {}
    assert run.status == "paused"
    assert (pending["message"], pending["schema"]) == ("Your favourite colour?", COLOUR_SCHEMA)
    with pytest.raises(InvalidInputError, match="colour"):
        await ex.resume(run.id, "accept", {"colour": "purple"})
    done = await ex.resume(run.id, "accept", {"colour": "blue"})
    assert _answers(done) == [
        {"action": "accept", "content": ADA},
        {"action": "accept", "content": {"colour": "blue"}},
    ]


async def test_with_an_approver_confirmations_stay_yes_no_and_forms_need_input(
    data_dir: Path, interviews: Path
) -> None:
    asked: list[str] = []

    def approve(request: Any) -> bool:
        asked.append(request.summary)
        return True

    async with Executor.open(data_dir=data_dir, on_approval=approve) as ex:
        await _add(ex, interviews)
        confirmed = await ex.call("up.default.confirm")
        direct = await ex.call("up.default.signup")
        run = await ex.execute("tools.up.default.signup()")
    assert confirmed["ok"] and confirmed["data"]["content"] == {"sure": True}
    assert asked == ["The upstream MCP server asks: Really go ahead?"]
    assert direct["ok"] is False and direct["error"]["code"] == "input_required"
    assert direct["error"]["details"]["schema"] == SIGNUP_SCHEMA
    assert run.status == "paused" and (run.pending or {})["asks"] == "input"


async def test_server_everything_asks_through_a_paused_execution(ex: Executor) -> None:
    await ex.sources.add(
        "everything", "mcp", SourceConfig(options={"command": NODE, "args": [EVERYTHING, "stdio"]})
    )
    approval = await ex.execute("tools.everything.default.trigger_elicitation_request()")
    assert (approval.pending or {})["asks"] == "approval"  # not read-only: approval first
    paused = await ex.resume(approval.id, "accept")
    pending = paused.pending or {}
    assert pending["asks"] == "input"
    assert pending["message"] == "Please provide inputs for the following fields:"
    assert pending["schema"]["required"] == ["name"]
    assert pending["schema"]["properties"]["integer"]["default"] == 42

    done = await ex.resume(paused.id, "accept", {"name": "Ada Lovelace", "check": True})
    assert done.status == "completed", done.error
    text = json.dumps(done.result)
    assert "User provided the requested information" in text
    assert "Name: Ada Lovelace" in text and "Agreed to terms: true" in text


async def test_questions_of_concurrent_calls_reach_their_own_calls_on_2026_07_28(
    ex: Executor, interviews: Path
) -> None:
    """The upstream holds three calls until all three run, then asks each its question: on a
    2026-07-28 connection each question is asked inside its own call, and so is each answer."""
    await _add(ex, interviews, "auto")
    code = "tools.up.default.signup(together=3)['data']"
    people = [ADA, {"name": "Bob", "age": 7}, {"name": "Cy", "age": 70}]
    runs: list[Any] = []
    done: list[Any] = []

    async def execute() -> None:
        runs.append(await ex.execute(code))

    async def answer(run: Any, person: dict[str, Any]) -> None:
        done.append((person, await ex.resume(run.id, "accept", person)))

    async with anyio.create_task_group() as tasks:
        for _ in people:
            tasks.start_soon(execute)
    assert [(run.pending or {}).get("asks") for run in runs] == ["input"] * 3
    async with anyio.create_task_group() as tasks:
        for run, person in zip(runs, people, strict=True):
            tasks.start_soon(answer, run, person)
    for person, finished in done:
        assert finished.status == "completed", finished.error
        assert finished.result == {"answers": [{"action": "accept", "content": person}]}


async def test_a_question_during_concurrent_calls_on_a_handshake_era_session_is_refused(
    ex: Executor, interviews: Path
) -> None:
    """Nothing in a handshake-era ``elicitation/create`` names the call that asks: with two
    calls in flight on the connection, the questions are refused rather than guessed."""
    await _add(ex, interviews, "legacy")
    results: list[Any] = []

    async def call() -> None:
        results.append(await ex.call("up.default.signup", {"together": 2}))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(call)
        tasks.start_soon(call)
    assert [result["ok"] for result in results] == [False, False]
    for result in results:
        assert result["error"]["code"] == "upstream_error"
        assert "several calls running at once" in result["error"]["message"]


async def test_a_call_carrying_answers_runs_alone_on_its_session() -> None:
    """A handshake-era call that carries answers keeps new calls waiting, waits for the calls
    in flight, and runs alone; then the waiting calls go."""
    session = LiveSession(
        parse_upstream(None, {"command": "unused"}),
        _never_opened,
        connect_timeout=1,
        on_tools_changed=_nothing,
        answer=_unanswered,
    )
    log: list[str] = []
    leave = {label: anyio.Event() for label in "abc"}

    async def call(label: str, alone: bool) -> None:
        async with session.calling(Exchange(label), alone=alone):
            log.append(f"{label} in")
            await leave[label].wait()
        log.append(f"{label} out")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call, "a", False)
            await anyio.wait_all_tasks_blocked()
            tasks.start_soon(call, "b", True)  # carries answers: waits for a
            await anyio.wait_all_tasks_blocked()
            tasks.start_soon(call, "c", False)  # waits for b
            await anyio.wait_all_tasks_blocked()
            assert log == ["a in"]
            leave["a"].set()
            await anyio.wait_all_tasks_blocked()
            assert log == ["a in", "a out", "b in"]
            leave["b"].set()
            await anyio.wait_all_tasks_blocked()
            assert log == ["a in", "a out", "b in", "b out", "c in"]
            leave["c"].set()


async def _never_opened() -> Any:
    raise AssertionError("the session never connects in this test")


async def _nothing() -> None:
    return None


async def _unanswered(params: Any, exchange: Exchange | None) -> Any:
    raise AssertionError("nothing is asked in this test")
