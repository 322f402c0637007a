"""Durable executions in the store: pause, claim exactly once, expire, finish (both databases)."""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
import sqlalchemy as sa

from executor.errors import (
    AlreadyExistsError,
    ExecutionConflictError,
    ExecutionExpiredError,
    NotFoundError,
)
from executor.sandbox.snapshots import seal, unseal
from executor.store import CallRecord, ExecutionEnded, ExecutionRecord, Store
from executor.store import tables as t
from tests.conftest import Database
from tests.store.conftest import Opened

KEY = bytes(range(32))
CODE = "issue = tools.github.work.issues.create(title='Broken build')\nissue"
STATE = b"MONTY-STATE:" + b"local variable holding a customer e-mail alice@example.com;" * 20
PENDING = {
    "address": "github.work.issues.create",
    "arguments": {"title": "Broken build"},
    "reason": "policy requires approval",
    "asks": "approval",
}


def _later(hours: float = 24) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


async def _paused(store: Store, workspace: str, run_id: str = "exec-1") -> str:
    """A fresh execution that made one call and then paused on an approval."""
    await store.create_execution(workspace, run_id=run_id, caller="agent", code=CODE)
    await store.add_tool_call(
        workspace,
        run_id,
        address="github.work.repos.get",
        arguments={"repo": "executor"},
        decision="allow",
        outcome="ok",
        duration_ms=4.5,
    )
    await store.pause_execution(
        workspace,
        run_id,
        snapshot=seal(KEY, run_id, STATE),
        pending=PENDING,
        logs="looking up the repo\n",
        expires_at=_later(),
    )
    return run_id


async def _raw_snapshot(store: Store, run_id: str) -> bytes | None:
    async with store._transaction() as connection:
        value = (
            await connection.execute(sa.select(t.runs.c.snapshot).where(t.runs.c.id == run_id))
        ).scalar_one()
    return None if value is None else bytes(value)


async def test_a_paused_execution_is_claimed_with_everything_needed_to_continue(
    opened: Opened,
) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)

    paused = await store.get_run(workspace, run_id)
    assert paused is not None
    assert (paused.kind, paused.status, paused.caller, paused.code) == (
        "execute",
        "paused",
        "agent",
        CODE,
    )
    assert paused.pending == PENDING
    assert paused.expires_at is not None and paused.expires_at > datetime.now(UTC)

    claimed = await store.claim_execution(workspace, run_id)
    assert (claimed.run_id, claimed.caller, claimed.code) == (run_id, "agent", CODE)
    assert claimed.pending == PENDING
    assert claimed.logs == "looking up the repo\n"
    assert claimed.tool_calls == 1
    assert unseal(KEY, run_id, claimed.snapshot) == STATE
    running = await store.get_run(workspace, run_id)
    assert running is not None and running.status == "running"


async def test_run_history_shows_the_pending_call_but_never_the_snapshot(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    (listed,) = await store.list_runs(workspace)
    assert listed.id == run_id and listed.pending == PENDING
    assert not hasattr(listed, "snapshot")
    assert [call.address for call in listed.calls] == ["github.work.repos.get"]


async def test_twenty_concurrent_claims_have_exactly_one_winner(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    wins: list[str] = []
    conflicts: list[ExecutionConflictError] = []

    async def claim() -> None:
        try:
            claimed = await store.claim_execution(workspace, run_id)
        except ExecutionConflictError as exc:
            conflicts.append(exc)
        else:
            wins.append(claimed.run_id)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            for _ in range(20):
                tasks.start_soon(claim)

    assert wins == [run_id]
    assert len(conflicts) == 19
    assert all("already resumed" in str(exc) for exc in conflicts)


def _claim_in_another_process(
    url: str, schema: str | None, run_id: str, barrier: Any, results: Any
) -> None:
    async def main() -> str:
        store = await Store.connect(url, schema=schema)
        try:
            workspace, _ = await store.ensure_local_workspace()
            # Every process has a warm connection before the race starts.
            await store.get_run(workspace, run_id)
            await anyio.to_thread.run_sync(lambda: barrier.wait(60))
            try:
                await store.claim_execution(workspace, run_id)
            except ExecutionConflictError as exc:
                return f"conflict: {exc.message}"
            return "won"
        finally:
            await store.close()

    try:
        results.put((os.getpid(), anyio.run(main)))
    except BaseException as exc:  # reported to the test, which fails on it
        results.put((os.getpid(), f"error: {exc!r}"))


async def test_four_processes_racing_to_claim_have_exactly_one_winner(
    opened: Opened, database: Database
) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    results = context.Queue()
    processes = [
        context.Process(
            target=_claim_in_another_process,
            args=(database.url, database.schema, run_id, barrier, results),
        )
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [await anyio.to_thread.run_sync(results.get, True, 120) for _ in processes]
    finally:
        for process in processes:
            await anyio.to_thread.run_sync(process.join, 30)

    assert len({pid for pid, _ in outcomes}) == 4
    answers = sorted(answer for _, answer in outcomes)
    assert answers[-1] == "won", answers
    assert answers[:-1] == [f"conflict: Execution {run_id} was already resumed and is running."] * 3
    run = await store.get_run(workspace, run_id)
    assert run is not None and run.status == "running"


async def test_claiming_after_the_deadline_marks_the_execution_expired(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    paused = await store.get_run(workspace, run_id)
    assert paused is not None and paused.expires_at is not None

    with pytest.raises(ExecutionExpiredError) as raised:
        await store.claim_execution(workspace, run_id, now=_later(25))
    assert paused.expires_at.isoformat(timespec="seconds") in str(raised.value)

    expired = await store.get_run(workspace, run_id)
    assert expired is not None and expired.status == "expired"
    assert expired.error["code"] == "execution_expired"
    assert await _raw_snapshot(store, run_id) is None
    # Late is late for good, even on the real clock.
    with pytest.raises(ExecutionExpiredError):
        await store.claim_execution(workspace, run_id)


async def test_expiring_executions_touches_only_overdue_paused_ones(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    overdue = await _paused(store, workspace, "exec-overdue")
    await _paused(store, workspace, "exec-waiting")
    async with store._transaction(write=True) as connection:
        await connection.execute(
            sa.update(t.runs).where(t.runs.c.id == "exec-waiting").values(expires_at=_later(48))
        )
    await store.create_execution(workspace, run_id="exec-running", caller="agent", code="1")

    # (Running ones only count as lost after much longer than that here.)
    quiet = timedelta(days=30)
    assert await store.expire_executions(workspace, now=_later(25), stale_after=quiet) == 1
    statuses = {run.id: run.status for run in await store.list_runs(workspace)}
    assert statuses == {
        overdue: "expired",
        "exec-waiting": "paused",
        "exec-running": "running",
    }
    assert await _raw_snapshot(store, overdue) is None
    assert await _raw_snapshot(store, "exec-waiting") is not None
    assert await store.expire_executions(workspace, now=_later(25), stale_after=quiet) == 0


async def test_claiming_a_completed_execution_says_it_is_completed(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    await store.claim_execution(workspace, run_id)
    await store.finish_execution(
        workspace, run_id, status="completed", result={"number": 7}, logs="done\n", error=None
    )
    with pytest.raises(ExecutionConflictError, match=r"is completed; only a paused execution"):
        await store.claim_execution(workspace, run_id)


async def test_claiming_an_unknown_execution_is_not_found(opened: Opened) -> None:
    with pytest.raises(NotFoundError, match="No execution with id 'nope'"):
        await opened.store.claim_execution(opened.workspace_id, "nope")


async def test_an_execution_in_another_workspace_cannot_be_claimed(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    with pytest.raises(NotFoundError):
        await store.claim_execution("another-workspace", run_id)


async def test_concurrent_tool_calls_get_dense_unique_numbers(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    await store.create_execution(workspace, run_id="exec-1", caller="agent", code="...")
    numbers: list[int] = []

    async def call(index: int) -> None:
        numbers.append(
            await store.add_tool_call(
                workspace,
                "exec-1",
                address=f"pets.default.pets.get_{index}",
                arguments={"index": index},
                decision="allow",
                outcome="ok",
                duration_ms=1.0,
            )
        )

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            for index in range(20):
                tasks.start_soon(call, index)

    assert sorted(numbers) == list(range(20))
    run = await store.get_run(workspace, "exec-1")
    assert run is not None and [call.seq for call in run.calls] == list(range(20))
    by_seq = {call.seq: call.arguments["index"] for call in run.calls}
    assert len(set(by_seq.values())) == 20


async def test_tool_calls_cannot_be_added_to_a_paused_execution(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    with pytest.raises(ExecutionConflictError, match="is paused; tool calls can only be added"):
        await store.add_tool_call(
            workspace,
            run_id,
            address="github.work.issues.create",
            arguments={},
            decision="allow",
            outcome="ok",
            duration_ms=1.0,
        )


async def test_audit_records_with_a_number_are_appended_to_their_execution(
    opened: Opened,
) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    claimed = await store.claim_execution(workspace, run_id)
    await store.record_calls(
        workspace,
        [
            CallRecord(
                run_id=run_id,
                caller="agent",
                address="github.work.issues.create",
                arguments={"title": "Broken build"},
                decision="require_approval",
                outcome="ok",
                duration_ms=80.0,
                seq=claimed.tool_calls,
            )
        ],
    )
    runs = await store.list_runs(workspace)
    assert [run.id for run in runs] == [run_id]
    assert [call.seq for call in runs[0].calls] == [0, 1]


async def test_ends_of_running_executions_are_stored_with_a_batch(opened: Opened) -> None:
    """The audit writer's update for executions written as ``running`` in an earlier batch:
    a running one ends with its result; one that is no longer running is left as it is."""
    store, workspace = opened.store, opened.workspace_id
    await store.record_calls(workspace, [], [ExecutionRecord("run-a", "agent", "1 + 1")])
    paused = await _paused(store, workspace)
    await store.record_calls(
        workspace,
        [],
        [ExecutionRecord("run-b", "agent", "2 + 2")],
        [
            ExecutionEnded("run-a", "completed", result={"n": 2}, logs="two\n"),
            ExecutionEnded(paused, "failed", error={"code": "internal_error", "message": "x"}),
        ],
    )
    ended = await store.get_run(workspace, "run-a")
    assert ended is not None
    assert (ended.status, ended.result, ended.logs) == ("completed", {"n": 2}, "two\n")
    still = await store.get_run(workspace, paused)
    assert still is not None and still.status == "paused" and still.error is None
    started = await store.get_run(workspace, "run-b")
    assert started is not None and started.status == "running"


async def test_snapshots_are_stored_sealed_never_as_plain_state(
    opened: Opened, database: Database
) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    raw = await _raw_snapshot(store, run_id)
    assert raw is not None
    assert b"alice@example.com" not in raw and b"MONTY-STATE" not in raw
    assert unseal(KEY, run_id, raw) == STATE
    if database.url.startswith("sqlite"):
        path = Path(database.url.removeprefix("sqlite+aiosqlite:///"))
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                assert b"alice@example.com" not in file.read_bytes()


async def test_finishing_an_execution_drops_its_snapshot_and_pending_call(
    opened: Opened,
) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    await store.claim_execution(workspace, run_id)
    assert await _raw_snapshot(store, run_id) is not None
    error = {"code": "code_error", "message": "NameError: name 'x' is not defined"}
    await store.finish_execution(
        workspace, run_id, status="failed", result=None, logs="oops\n", error=error
    )
    run = await store.get_run(workspace, run_id)
    assert run is not None
    assert (run.status, run.logs, run.error, run.pending, run.expires_at) == (
        "failed",
        "oops\n",
        error,
        None,
        None,
    )
    assert await _raw_snapshot(store, run_id) is None
    with pytest.raises(ExecutionConflictError, match="is failed; only a running execution"):
        await store.finish_execution(
            workspace, run_id, status="cancelled", result=None, logs="", error=None
        )


async def test_a_resumed_execution_can_pause_again_and_be_claimed_again(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    await store.claim_execution(workspace, run_id)
    await store.add_tool_call(
        workspace,
        run_id,
        address="github.work.issues.create",
        arguments={"title": "Broken build"},
        decision="require_approval",
        outcome="ok",
        duration_ms=80.0,
    )
    second = {**PENDING, "address": "github.work.issues.close"}
    await store.pause_execution(
        workspace,
        run_id,
        snapshot=seal(KEY, run_id, b"second state"),
        pending=second,
        logs="created\n",
        expires_at=_later(),
    )
    claimed = await store.claim_execution(workspace, run_id)
    assert (claimed.pending, claimed.logs, claimed.tool_calls) == (second, "created\n", 2)
    assert unseal(KEY, run_id, claimed.snapshot) == b"second state"


async def test_pausing_an_execution_that_is_not_running_is_a_conflict(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = await _paused(store, workspace)
    with pytest.raises(ExecutionConflictError, match="is paused; only a running execution"):
        await store.pause_execution(
            workspace,
            run_id,
            snapshot=seal(KEY, run_id, STATE),
            pending=PENDING,
            logs="",
            expires_at=_later(),
        )
    with pytest.raises(NotFoundError):
        await store.pause_execution(
            workspace, "nope", snapshot=b"", pending=PENDING, logs="", expires_at=_later()
        )


async def test_an_execution_id_cannot_be_reused(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    await store.create_execution(workspace, run_id="exec-1", caller="agent", code="1")
    with pytest.raises(AlreadyExistsError, match="exec-1"):
        await store.create_execution(workspace, run_id="exec-1", caller="other", code="2")


async def test_an_execution_whose_process_died_mid_run_is_marked_failed(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    await store.create_execution(workspace, run_id="lost", caller="sdk", code="1")
    assert await store.expire_executions(workspace) == 0
    later = datetime.now(UTC) + timedelta(hours=2)
    assert await store.expire_executions(workspace, now=later) == 1
    run = await store.get_run(workspace, "lost")
    assert run is not None and run.status == "failed"
    assert "went away" in run.error["message"]
