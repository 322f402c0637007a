"""Runs: the audit log of direct calls and executions, and durable executions.

Every tool call lands here as a row of ``tool_calls`` under a run: a direct call is a completed
run of its own, an execution a run that may pause (keeping its sealed snapshot), be claimed
exactly once to resume, and end as completed, failed, cancelled or expired.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from executor.errors import (
    AlreadyExistsError,
    ExecutionConflictError,
    ExecutionExpiredError,
    InternalError,
    InvalidInputError,
    NotFoundError,
)
from executor.store import tables as t
from executor.store.base import StoreBase
from executor.store.tables import utcnow

logger = logging.getLogger("executor.store")

#: An execution ``running`` with no news for this long lost its process (it crashed or was
#: killed mid-run); no real run takes an hour between two of its own writes.
STALE_RUNNING = timedelta(hours=1)


@dataclass(frozen=True)
class CallRecord:
    """One tool call to put in the audit log (``arguments`` already redacted).

    With ``seq`` None it is a direct call, stored as a completed run of its own; with a
    ``seq`` it is tool call number ``seq`` (from 0) of the existing execution ``run_id``.
    """

    run_id: str
    caller: str
    address: str
    arguments: dict[str, Any]
    decision: str
    outcome: str
    duration_ms: float
    created_at: datetime = field(default_factory=utcnow)
    seq: int | None = None


@dataclass(frozen=True)
class ExecutionRecord:
    """An execution for the run history: as it starts (``running``) or, when it ended before
    it was written, as it ended."""

    run_id: str
    caller: str
    code: str
    status: str = "running"
    result: Any = None
    logs: str = ""
    error: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class ExecutionEnded:
    """How an execution the run history already holds as ``running`` ended."""

    run_id: str
    status: str
    result: Any = None
    logs: str = ""
    error: dict[str, Any] | None = None
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call inside a run, as the audit log keeps it."""

    seq: int
    address: str
    arguments: dict[str, Any]
    decision: str
    outcome: str
    duration_ms: float
    created_at: datetime


@dataclass(frozen=True)
class RunRecord:
    """One run (a direct call or an execution) with its tool calls in order."""

    id: str
    workspace_id: str
    kind: str
    caller: str
    status: str
    code: str | None
    result: Any
    logs: str
    error: Any
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    calls: tuple[ToolCallRecord, ...]
    #: The call a paused execution waits on (address, arguments, reason, asks); kept while
    #: it runs on after a resume, cleared when it finishes. Never the snapshot.
    pending: dict[str, Any] | None = None


ExecutionEnd = Literal["completed", "failed", "cancelled"]
EXECUTION_ENDS: tuple[ExecutionEnd, ...] = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class ClaimedExecution:
    """A paused execution that this caller alone now runs again (its status is running).

    ``snapshot`` is the sealed state as stored; ``tool_calls`` how many tool calls the run has
    recorded, so numbering and limits continue where they stopped.
    """

    run_id: str
    caller: str
    code: str
    snapshot: bytes
    pending: dict[str, Any] | None
    logs: str
    tool_calls: int


class RunStore(StoreBase):
    """The runs and durable executions of :class:`~executor.store.Store`."""

    # -- runs: the audit log of direct calls and executions --------------------------------------

    async def record_call(
        self,
        workspace_id: str,
        *,
        run_id: str,
        caller: str,
        address: str,
        arguments: dict[str, Any],
        decision: str,
        outcome: str,
        duration_ms: float,
    ) -> None:
        """Store one direct call as a completed run with one tool-call row.

        ``arguments`` must already have secrets redacted. Raises AlreadyExistsError when the
        run id was used before.
        """
        record = CallRecord(run_id, caller, address, arguments, decision, outcome, duration_ms)
        await self.record_calls(workspace_id, [record])

    async def record_calls(
        self,
        workspace_id: str,
        records: Sequence[CallRecord],
        executions: Sequence[ExecutionRecord] = (),
        ends: Sequence[ExecutionEnded] = (),
    ) -> None:
        """Store executions, tool calls and how executions ended in one transaction (the audit
        writer batches them off the call path).

        ``executions`` are new execution runs, written first so that calls can refer to them.
        A call record without ``seq`` is a direct call, stored as a completed run with one
        tool-call row; a record with ``seq`` is appended to its execution. ``ends`` finish
        executions stored earlier as ``running`` (one that is not running is left alone).
        """
        if not records and not executions and not ends:
            return
        taken = AlreadyExistsError("A run or tool call with one of these ids exists already.")
        await self._run_write(
            functools.partial(_record, workspace_id, records, executions, ends), conflict=taken
        )

    async def list_runs(
        self, workspace_id: str, *, limit: int = 50, status: str | None = None
    ) -> list[RunRecord]:
        """The newest runs of the workspace, newest first, each with its tool calls; only
        those with ``status`` (e.g. ``paused``) when given."""
        where = [t.runs.c.workspace_id == workspace_id]
        if status is not None:
            where.append(t.runs.c.status == status)
        async with self._transaction() as connection:
            rows = (
                await connection.execute(
                    sa.select(*_RUN_COLUMNS)
                    .where(*where)
                    .order_by(t.runs.c.created_at.desc(), t.runs.c.id)
                    .limit(limit)
                )
            ).all()
            calls = await self._calls(connection, [row.id for row in rows])
        return [_run(row, calls.get(row.id, ())) for row in rows]

    async def get_run(self, workspace_id: str, run_id: str) -> RunRecord | None:
        """One run with its tool calls, or None."""
        async with self._transaction() as connection:
            row = (
                await connection.execute(
                    sa.select(*_RUN_COLUMNS).where(
                        t.runs.c.workspace_id == workspace_id, t.runs.c.id == run_id
                    )
                )
            ).one_or_none()
            if row is None:
                return None
            calls = await self._calls(connection, [run_id])
        return _run(row, calls.get(run_id, ()))

    # -- durable executions ----------------------------------------------------------------------
    #
    # An execution moves running → paused → running (claimed) → … → completed, failed or
    # cancelled; a paused one that waits too long becomes expired. Every move is one
    # conditional UPDATE on the run's status, so concurrent callers in any thread, process or
    # replica see exactly one winner: SQLite serialises writers (BEGIN IMMEDIATE), PostgreSQL
    # re-checks the WHERE clause of an UPDATE that waited for a concurrent one's row lock.

    async def create_execution(
        self, workspace_id: str, *, run_id: str, caller: str, code: str
    ) -> None:
        """Store a new execution of ``code`` as a running run of kind ``execute``.

        Raises AlreadyExistsError when ``run_id`` was used before.
        """
        taken = AlreadyExistsError(
            f"A run with id {run_id!r} exists already.",
            hint="Give every execution a fresh random id.",
        )
        row = _run_row(
            workspace_id,
            run_id=run_id,
            kind="execute",
            caller=caller,
            status="running",
            code=code,
            created_at=utcnow(),
        )
        async with self._transaction(write=True, conflict=taken) as connection:
            await connection.execute(sa.insert(t.runs).values(row))

    async def add_tool_call(
        self,
        workspace_id: str,
        run_id: str,
        *,
        address: str,
        arguments: dict[str, Any],
        decision: str,
        outcome: str,
        duration_ms: float,
    ) -> int:
        """Append a tool call to a running execution and return its ``seq`` (0, 1, 2, …).

        Numbers are dense and unique even when calls are appended concurrently. ``arguments``
        must already have secrets redacted. Raises NotFoundError for an unknown run and
        ExecutionConflictError when the run is not running.
        """
        r, c = t.runs.c, t.tool_calls.c
        now = utcnow()
        next_seq = (
            sa.select(sa.func.coalesce(sa.func.max(c.seq) + 1, 0))
            .where(c.run_id == run_id)
            .scalar_subquery()
        )
        async with self._transaction(write=True) as connection:
            # Touching the run checks that it runs and, on PostgreSQL, holds its row lock until
            # commit (SQLite's write lock is held already): concurrent appends number in turn.
            touched = await connection.execute(
                sa.update(t.runs)
                .where(r.workspace_id == workspace_id, r.id == run_id, r.status == "running")
                .values(updated_at=now)
            )
            if not touched.rowcount:
                status = await self._execution_status(connection, workspace_id, run_id)
                raise ExecutionConflictError(
                    f"Execution {run_id} is {status}; tool calls can only be added while it runs."
                )
            seq = (
                await connection.execute(
                    sa.insert(t.tool_calls)
                    .values(
                        run_id=run_id,
                        seq=next_seq,
                        address=address,
                        arguments=arguments,
                        decision=decision,
                        outcome=outcome,
                        duration_ms=duration_ms,
                        created_at=now,
                    )
                    .returning(c.seq)
                )
            ).scalar_one()
        return int(seq)

    async def pause_execution(
        self,
        workspace_id: str,
        run_id: str,
        *,
        snapshot: bytes,
        pending: dict[str, Any],
        logs: str,
        expires_at: datetime,
    ) -> None:
        """Move a running execution to paused, storing its snapshot and the call it waits on.

        ``snapshot`` must already be sealed (see :mod:`executor.sandbox.snapshots`); the store
        keeps the bytes as given. ``pending`` holds the address, arguments (secrets redacted),
        reason and what is asked. Raises ExecutionConflictError when the run is not running.
        """
        await self._update_running(
            workspace_id,
            run_id,
            "pause",
            status="paused",
            snapshot=snapshot,
            pending=pending,
            logs=logs,
            expires_at=expires_at,
        )

    async def claim_execution(
        self, workspace_id: str, run_id: str, *, now: datetime | None = None
    ) -> ClaimedExecution:
        """Take a paused execution to resume it: exactly one caller ever wins each pause.

        Moves it from paused to running and returns what is needed to continue. Every other
        caller gets ExecutionConflictError naming the status it found (already resumed,
        completed, …). A paused execution whose ``expires_at`` is not after ``now`` (default:
        the current time) is marked expired, its snapshot dropped, and ExecutionExpiredError
        says when it expired. An unknown id raises NotFoundError. The snapshot stays stored
        until the execution pauses again or finishes.
        """
        now = utcnow() if now is None else now
        r = t.runs.c
        claimable = sa.and_(
            r.workspace_id == workspace_id,
            r.id == run_id,
            r.status == "paused",
            sa.or_(r.expires_at.is_(None), r.expires_at > now),
        )
        async with self._transaction(write=True) as connection:
            claimed = (
                await connection.execute(
                    sa.update(t.runs)
                    .where(claimable)
                    .values(status="running", updated_at=utcnow())
                    .returning(r.caller, r.code, r.snapshot, r.pending, r.logs)
                )
            ).one_or_none()
            if claimed is not None:
                count = (
                    await connection.execute(
                        sa.select(sa.func.count())
                        .select_from(t.tool_calls)
                        .where(t.tool_calls.c.run_id == run_id)
                    )
                ).scalar_one()
                return ClaimedExecution(
                    run_id=run_id,
                    caller=claimed.caller,
                    code=claimed.code or "",
                    snapshot=bytes(claimed.snapshot or b""),
                    pending=claimed.pending,
                    logs=claimed.logs,
                    tool_calls=int(count),
                )
            found = (
                await connection.execute(
                    sa.select(r.status, r.pending, r.expires_at).where(
                        r.workspace_id == workspace_id, r.id == run_id
                    )
                )
            ).one_or_none()
            is_overdue = False
            if found is not None and found.status == "paused":
                # Record the expiry before answering, in this transaction so that it commits.
                # The deadline is checked again: on PostgreSQL the run may have been claimed
                # and paused anew since the UPDATE above looked at it.
                marked = await connection.execute(
                    sa.update(t.runs)
                    .where(r.id == run_id, r.status == "paused", r.expires_at <= now)
                    .values(**_expired_values())
                )
                is_overdue = bool(marked.rowcount)
        if found is None:
            raise _no_execution(run_id)
        if is_overdue or found.status == "expired":
            raise _expired(run_id, found.expires_at)
        if found.status in ("running", "paused"):
            if found.pending is not None:
                raise ExecutionConflictError(
                    f"Execution {run_id} was already resumed and is running.",
                    hint="A paused execution resumes exactly once; read its outcome in the "
                    "run history.",
                    details={"execution_id": run_id, "status": "running"},
                )
            raise ExecutionConflictError(
                f"Execution {run_id} is running and not waiting for anything to resume.",
                details={"execution_id": run_id, "status": "running"},
            )
        raise ExecutionConflictError(
            f"Execution {run_id} is {found.status}; only a paused execution can be resumed.",
            details={"execution_id": run_id, "status": found.status},
        )

    async def finish_execution(
        self,
        workspace_id: str,
        run_id: str,
        *,
        status: ExecutionEnd,
        result: Any,
        logs: str,
        error: dict[str, Any] | None,
    ) -> None:
        """End a running execution as completed, failed or cancelled.

        Stores the result, logs and error, and drops the snapshot and pending call: interpreter
        state is never kept longer than needed. Raises ExecutionConflictError when the run is
        not running, NotFoundError when there is none.
        """
        if status not in EXECUTION_ENDS:
            raise InvalidInputError(
                f"{status!r} is not how an execution ends.",
                hint=f"Use one of {', '.join(EXECUTION_ENDS)}.",
            )
        await self._update_running(
            workspace_id,
            run_id,
            "finish",
            status=status,
            result=result,
            logs=logs,
            error=error,
            snapshot=None,
            pending=None,
            expires_at=None,
        )

    async def _update_running(
        self, workspace_id: str, run_id: str, verb: str, **values: Any
    ) -> None:
        """Update a run that is ``running``; ExecutionConflictError naming its actual status
        otherwise (NotFoundError when there is none)."""
        r = t.runs.c
        async with self._transaction(write=True) as connection:
            updated = await connection.execute(
                sa.update(t.runs)
                .where(r.workspace_id == workspace_id, r.id == run_id, r.status == "running")
                .values(**values, updated_at=utcnow())
            )
            if not updated.rowcount:
                current = await self._execution_status(connection, workspace_id, run_id)
                raise ExecutionConflictError(
                    f"Execution {run_id} is {current}; only a running execution can {verb}."
                )

    async def expire_executions(
        self,
        workspace_id: str,
        *,
        now: datetime | None = None,
        stale_after: timedelta = STALE_RUNNING,
    ) -> int:
        """Mark paused executions whose ``expires_at`` is not after ``now`` as expired and
        drop their snapshots; mark executions ``running`` with no news for ``stale_after``
        (their process died mid-run) as failed. Return how many changed."""
        now = utcnow() if now is None else now
        r = t.runs.c
        interrupted = InternalError(
            "The execution stopped without finishing: the process running it went away.",
            hint="Check the run's tool calls before running the code again.",
        )
        async with self._transaction(write=True) as connection:
            expired = await connection.execute(
                sa.update(t.runs)
                .where(
                    r.workspace_id == workspace_id,
                    r.status == "paused",
                    r.expires_at <= now,
                )
                .values(**_expired_values())
            )
            stale = await connection.execute(
                sa.update(t.runs)
                .where(
                    r.workspace_id == workspace_id,
                    r.kind == "execute",
                    r.status == "running",
                    r.updated_at <= now - stale_after,
                )
                .values(
                    status="failed", snapshot=None, error=interrupted.to_error(), updated_at=now
                )
            )
        return int(expired.rowcount or 0) + int(stale.rowcount or 0)

    @staticmethod
    async def _execution_status(connection: AsyncConnection, workspace_id: str, run_id: str) -> str:
        status = (
            await connection.execute(
                sa.select(t.runs.c.status).where(
                    t.runs.c.workspace_id == workspace_id, t.runs.c.id == run_id
                )
            )
        ).scalar_one_or_none()
        if status is None:
            raise _no_execution(run_id)
        return str(status)

    @staticmethod
    async def _calls(
        connection: AsyncConnection, run_ids: list[str]
    ) -> dict[str, tuple[ToolCallRecord, ...]]:
        if not run_ids:
            return {}
        rows = (
            await connection.execute(
                sa.select(t.tool_calls)
                .where(t.tool_calls.c.run_id.in_(run_ids))
                .order_by(t.tool_calls.c.run_id, t.tool_calls.c.seq)
            )
        ).all()
        calls: dict[str, list[ToolCallRecord]] = {}
        for row in rows:
            calls.setdefault(row.run_id, []).append(
                ToolCallRecord(
                    seq=row.seq,
                    address=row.address,
                    arguments=row.arguments,
                    decision=row.decision,
                    outcome=row.outcome,
                    duration_ms=row.duration_ms,
                    created_at=row.created_at,
                )
            )
        return {run_id: tuple(items) for run_id, items in calls.items()}


def _no_execution(run_id: str) -> NotFoundError:
    return NotFoundError(
        f"No execution with id {run_id!r}.",
        hint="Check the id; `executor runs list` shows the recent ones.",
        details={"execution_id": run_id},
    )


def _expired(run_id: str, expires_at: datetime | None) -> ExecutionExpiredError:
    when = "" if expires_at is None else f" at {expires_at.isoformat(timespec='seconds')}"
    return ExecutionExpiredError(
        f"Execution {run_id} expired{when} and can no longer be resumed.",
        hint="Run the code again; paused executions wait a limited time for an answer.",
        details={
            "execution_id": run_id,
            "expired_at": None if expires_at is None else expires_at.isoformat(),
        },
    )


def _record(
    workspace_id: str,
    records: Sequence[CallRecord],
    executions: Sequence[ExecutionRecord],
    ends: Sequence[ExecutionEnded],
    connection: sa.Connection,
) -> None:
    """:meth:`RunStore.record_calls`'s writes, in the caller's transaction."""
    if ends:
        _record_ends(connection, workspace_id, ends)
    if executions:
        connection.execute(
            sa.insert(t.runs),
            [
                _run_row(
                    workspace_id,
                    run_id=execution.run_id,
                    kind="execute",
                    caller=execution.caller,
                    status=execution.status,
                    code=execution.code,
                    result=execution.result,
                    logs=execution.logs,
                    error=execution.error,
                    created_at=execution.created_at,
                    updated_at=execution.updated_at,
                )
                for execution in executions
            ],
        )
    if not records:
        return
    direct = [record for record in records if record.seq is None]
    if direct:
        connection.execute(
            sa.insert(t.runs),
            [
                _run_row(
                    workspace_id,
                    run_id=record.run_id,
                    kind="call",
                    caller=record.caller,
                    status="completed",
                    created_at=record.created_at,
                )
                for record in direct
            ],
        )
    connection.execute(
        sa.insert(t.tool_calls),
        [
            {
                "run_id": record.run_id,
                "seq": 0 if record.seq is None else record.seq,
                "address": record.address,
                "arguments": record.arguments,
                "decision": record.decision,
                "outcome": record.outcome,
                "duration_ms": record.duration_ms,
                "created_at": record.created_at,
            }
            for record in records
        ],
    )


def _record_ends(
    connection: sa.Connection, workspace_id: str, ends: Sequence[ExecutionEnded]
) -> None:
    r = t.runs.c
    ended = connection.execute(
        sa.update(t.runs)
        .where(
            r.workspace_id == workspace_id,
            r.id == sa.bindparam("run_id"),
            r.status == "running",
        )
        .values(
            status=sa.bindparam("end_status"),
            result=sa.bindparam("end_result", type_=r.result.type),
            logs=sa.bindparam("end_logs"),
            error=sa.bindparam("end_error", type_=r.error.type),
            updated_at=sa.bindparam("end_at", type_=r.updated_at.type),
            snapshot=None,
            pending=None,
            expires_at=None,
        ),
        [
            {
                "run_id": end.run_id,
                "end_status": end.status,
                "end_result": end.result,
                "end_logs": end.logs,
                "end_error": end.error,
                "end_at": end.updated_at,
            }
            for end in ends
        ],
    )
    if ended.rowcount not in (-1, len(ends)):
        logger.warning(
            "%d of %d ended executions were no longer running; their ends were not stored",
            len(ends) - ended.rowcount,
            len(ends),
        )


def _run_row(
    workspace_id: str,
    *,
    run_id: str,
    kind: str,
    caller: str,
    status: str,
    created_at: datetime,
    updated_at: datetime | None = None,
    code: str | None = None,
    result: Any = None,
    logs: str = "",
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``runs`` row: a direct call or an execution, as it starts or as it ended."""
    return {
        "id": run_id,
        "workspace_id": workspace_id,
        "kind": kind,
        "caller": caller,
        "status": status,
        "code": code,
        "result": result,
        "logs": logs,
        "error": error,
        "created_at": created_at,
        "updated_at": updated_at or created_at,
        "expires_at": None,
    }


def _expired_values() -> dict[str, Any]:
    error = ExecutionExpiredError(
        "The execution expired before anyone resumed it.", hint="Run the code again."
    )
    return {
        "status": "expired",
        "snapshot": None,
        "error": error.to_error(),
        "updated_at": utcnow(),
    }


# Everything but the snapshot: listing history must never load interpreter state.
_RUN_COLUMNS = tuple(column for column in t.runs.c if column.name != "snapshot")


def _run(row: Any, calls: Sequence[ToolCallRecord]) -> RunRecord:
    return RunRecord(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=row.kind,
        caller=row.caller,
        status=row.status,
        code=row.code,
        result=row.result,
        logs=row.logs,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        calls=tuple(calls),
        pending=row.pending,
    )
