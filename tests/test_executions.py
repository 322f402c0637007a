"""Code mode end to end: agent code calls the pet store, pauses for approval, resumes anywhere."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from executor import ExecutionConflictError, ExecutionExpiredError, Executor, NotFoundError
from tests.conftest import Database
from tests.servers.petstore import PetStore

LIST = "tools.petstore.work.pets.list_pets"
CREATE = "tools.petstore.work.pets.create_pet"


async def _connect(ex: Executor, petstore: tuple[PetStore, str]) -> PetStore:
    store, url = petstore
    await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
    await ex.connections.create(
        "petstore", "work", auth={"type": "api_key", "value": store.api_key}
    )
    return store


async def test_trivial_code_completes_with_its_last_expression(ex: Executor) -> None:
    run = await ex.execute("x = 20\nprint('thinking')\nx * 2 + 2")
    assert (run.status, run.result) == ("completed", 42)
    assert "thinking" in run.logs


async def test_code_in_a_markdown_fence_is_accepted(ex: Executor) -> None:
    run = await ex.execute("Here you go:\n```python\n[1, 2, 3][-1]\n```\n")
    assert (run.status, run.result) == ("completed", 3)


async def test_tool_calls_from_code_return_envelopes(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _connect(ex, petstore)
    store.pets[1] = {"id": 1, "name": "Rex", "tag": "dog"}
    run = await ex.execute(
        f"r = {LIST}(limit=5)\nprint(r['http']['status'])\n[p['name'] for p in r['data']]"
    )
    assert run.status == "completed", run.error
    assert run.result == ["Rex"]
    assert "200" in run.logs
    history = await ex.runs.get(run.id)
    assert [call.address for call in history.calls] == ["petstore.work.pets.list_pets"]


async def test_search_and_describe_are_available_in_the_sandbox(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _connect(ex, petstore)
    code = (
        "found = tools.search('list all pets', limit=3)\n"
        "first = found['data'][0]['address']\n"
        "d = tools.describe(first)\n"
        "[first, d['data']['input_schema']['type']]"
    )
    run = await ex.execute(code)
    assert run.status == "completed", run.error
    assert run.result[0].startswith("petstore.work.pets.")
    assert run.result[1] == "object"


async def test_an_unknown_tool_fails_before_running_with_its_line(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _connect(ex, petstore)
    run = await ex.execute(
        f"print('start')\n{CREATE}(name='x')\ntools.petstore.work.pets.lst_pets()"
    )
    assert run.status == "failed"
    assert run.error is not None and run.error["code"] == "tool_not_found"
    assert run.error["details"]["line"] == 3
    assert "start" not in run.logs
    assert store.pets == {}


async def test_an_approval_pauses_and_accept_resumes_exactly_once(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _connect(ex, petstore)
    code = (
        f"before = 1\nr = {CREATE}(name='Tom')\n"
        "print('created', r['ok'])\n[before, r['data']['name']]"
    )
    paused = await ex.execute(code)
    assert paused.status == "paused", paused.error
    assert paused.pending is not None
    assert paused.pending["address"] == "petstore.work.pets.create_pet"
    assert paused.pending["arguments"] == {"name": "Tom"}
    assert store.pets == {}

    async def resume() -> object:
        try:
            return await ex.resume(paused.id, "accept")
        except ExecutionConflictError as exc:
            return exc

    outcomes: list[object] = []
    async with anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(lambda: _append(outcomes, resume()))
    done = [o for o in outcomes if not isinstance(o, ExecutionConflictError)]
    assert len(done) == 1, outcomes
    assert done[0].status == "completed" and done[0].result == [1, "Tom"]  # type: ignore[attr-defined]
    assert len(store.pets) == 1
    with pytest.raises(ExecutionConflictError, match="completed"):
        await ex.resume(paused.id, "accept")


async def _append(into: list[object], awaitable: object) -> None:
    into.append(await awaitable)  # type: ignore[misc]


async def test_declined_call_returns_approval_declined_inside_the_code(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _connect(ex, petstore)
    code = (
        f"r = {CREATE}(name='Tom')\n'declined' if r['error']['code'] == 'approval_declined' else r"
    )
    paused = await ex.execute(code)
    run = await ex.resume(paused.id, "decline")
    assert (run.status, run.result) == ("completed", "declined")
    assert store.pets == {}


async def test_cancel_ends_the_execution(ex: Executor, petstore: tuple[PetStore, str]) -> None:
    await _connect(ex, petstore)
    paused = await ex.execute(f"{CREATE}(name='Tom')")
    assert (await ex.resume(paused.id, "cancel")).status == "cancelled"
    assert (await ex.runs.get(paused.id)).status == "cancelled"


async def test_policy_is_checked_again_at_resume(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _connect(ex, petstore)
    paused = await ex.execute(f"r = {CREATE}(name='Tom')\nr['error']['code']")
    await ex.policies.set("petstore.*.pets.create_pet", "block")
    run = await ex.resume(paused.id, "accept")
    assert (run.status, run.result) == ("completed", "tool_blocked")
    assert store.pets == {}


async def test_a_late_resume_says_the_execution_expired(
    database: Database, data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    async with Executor.open(
        **database.options(data_dir),
        execution_ttl=timedelta(seconds=-1),
    ) as ex:
        await _connect(ex, petstore)
        paused = await ex.execute(f"{CREATE}(name='Tom')")
        with pytest.raises(ExecutionExpiredError, match="expired"):
            await ex.resume(paused.id)
        assert (await ex.runs.get(paused.id)).status == "expired"


async def test_a_long_running_executor_expires_overdue_executions_on_its_own(
    database: Database, data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    async with Executor.open(
        **database.options(data_dir),
        execution_ttl=timedelta(seconds=-1),
        expiry_sweep=0.02,
    ) as ex:
        swept = anyio.Event()
        expire = ex.store.expire_executions

        async def expire_and_tell(workspace_id: str, **kwargs: Any) -> int:
            changed = await expire(workspace_id, **kwargs)
            if changed:
                swept.set()
            return changed

        ex.store.expire_executions = expire_and_tell  # type: ignore[method-assign]
        await _connect(ex, petstore)
        paused = await ex.execute(f"{CREATE}(name='Tom')")
        assert paused.status == "paused"
        with anyio.fail_after(10):
            await swept.wait()
        # Read the row as stored (runs.get would expire it itself).
        run = await ex.store.get_run(ex.workspace_id, paused.id)
        assert run is not None and run.status == "expired"


async def test_a_fresh_executor_warms_up_before_its_first_execution(ex: Executor) -> None:
    with anyio.fail_after(30):
        await ex.ready()
    assert ex.executions.sandbox.started
    assert (await ex.execute("6 * 7")).result == 42


async def test_an_unknown_execution_id_is_not_found(ex: Executor) -> None:
    with pytest.raises(NotFoundError):
        await ex.resume("0" * 32)


RESUMER = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from executor import Executor

    async def main(url, schema, data_dir, execution_id):
        async with Executor.open(data_dir=data_dir, database_url=url, database_schema=schema) as ex:
            run = await ex.resume(execution_id, "accept")
            answer = {"status": run.status, "result": run.result, "pid": os.getpid()}
            print(json.dumps(answer))

    asyncio.run(main(*[None if a == "-" else a for a in sys.argv[1:]]))
    """
)


async def test_an_execution_paused_here_resumes_in_another_process(
    ex: Executor, database: Database, data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store = await _connect(ex, petstore)
    paused = await ex.execute(f"r = {CREATE}(name='Far')\nr['data']['name']")
    assert paused.status == "paused"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")}
    args = [database.url, database.schema or "-", str(data_dir), paused.id]
    completed = await anyio.run_process(
        [sys.executable, "-c", RESUMER, *args], env=env, check=False
    )
    assert completed.returncode == 0, completed.stderr.decode()[-2000:]
    answer = json.loads(completed.stdout.decode().strip().splitlines()[-1])
    assert answer["pid"] != os.getpid()
    assert (answer["status"], answer["result"]) == ("completed", "Far")
    assert [pet["name"] for pet in store.pets.values()] == ["Far"]
    assert (await ex.runs.get(paused.id)).status == "completed"


def test_sync_facade_executes_too(data_dir: Path) -> None:
    from executor import SyncExecutor

    with SyncExecutor.open(data_dir=data_dir) as ex:
        run = ex.execute("sum(range(10))")
    assert (run.status, run.result) == ("completed", 45)


async def test_a_namespace_reference_brings_the_tools_under_it(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _connect(ex, petstore)
    store.pets[1] = {"id": 1, "name": "Rex", "tag": None}
    run = await ex.execute("pets = tools.petstore.work.pets\npets.list_pets()['data'][0]['name']")
    assert (run.status, run.result) == ("completed", "Rex"), run.error


async def test_a_snapshot_this_build_cannot_read_fails_before_the_approved_call_runs(
    ex: Executor, petstore: tuple[PetStore, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from executor.sandbox import runner

    store = await _connect(ex, petstore)
    paused = await ex.execute(f"r = {CREATE}(name='Tom')\nr['ok']")
    monkeypatch.setattr(runner, "MONTY_VERSION", "9.9.9")  # as after an upgrade of Monty
    run = await ex.resume(paused.id, "accept")
    assert run.status == "failed"
    assert run.error is not None and run.error["code"] == "snapshot_incompatible"
    assert store.pets == {}


async def test_an_interrupted_resume_ends_failed_instead_of_running_for_ever(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _connect(ex, petstore)
    paused = await ex.execute(f"r = {CREATE}(name='Tom')\nr['ok']")
    entered = anyio.Event()
    real_call = ex.pipeline.call

    async def hangs(*args: object, **kwargs: object) -> dict[str, object]:
        entered.set()
        await anyio.sleep_forever()
        return await real_call(*args, **kwargs)  # type: ignore[arg-type]

    ex.pipeline.call = hangs  # type: ignore[method-assign]
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(ex.resume, paused.id, "accept")
        with anyio.fail_after(10):
            await entered.wait()
        tasks.cancel_scope.cancel()
    ex.pipeline.call = real_call  # type: ignore[method-assign]
    record = await ex.runs.get(paused.id)
    assert record.status == "failed"
    assert "cancelled before it finished" in str(record.error)
    with pytest.raises(ExecutionConflictError, match="failed"):
        await ex.resume(paused.id, "accept")


async def test_history_written_before_a_cancelled_close_is_kept(
    database: Database, data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    options = database.options(data_dir)
    with anyio.CancelScope() as scope:
        async with Executor.open(**options) as ex:
            await _connect(ex, petstore)
            run = await ex.execute(f"len({LIST}(limit=5)['data'])")
            scope.cancel()
            await anyio.sleep_forever()
    async with Executor.open(**options) as ex:
        record = await ex.runs.get(run.id)
    assert record.status == "completed"
    assert [call.address for call in record.calls] == ["petstore.work.pets.list_pets"]


async def test_runs_can_be_listed_by_status_for_the_approvals_inbox(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _connect(ex, petstore)
    done = await ex.execute("1 + 1")
    first = await ex.execute(f"{CREATE}(name='Tom')")
    second = await ex.execute(f"{CREATE}(name='Kit')")
    await ex.resume(first.id, "cancel")
    paused = await ex.runs.list(status="paused")
    assert [run.id for run in paused] == [second.id]
    assert paused[0].pending is not None and paused[0].pending["arguments"] == {"name": "Kit"}
    assert {run.id for run in await ex.runs.list(status="completed")} == {done.id}
    assert {run.id for run in await ex.runs.list()} >= {done.id, first.id, second.id}
