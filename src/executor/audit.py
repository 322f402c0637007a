"""The audit writer: the run history, written in order and in batches, off the call path.

A call hands its record to :meth:`AuditWriter.add` (an execution its start and end to
:meth:`AuditWriter.start_execution` and :meth:`AuditWriter.end_execution`; other bookkeeping
to :meth:`AuditWriter.defer`) and returns at once; a background task owned by the
:class:`~executor.Executor` writes what has accumulated, in the order it arrived, consecutive
records in one transaction. Closing the executor flushes what is left, so an orderly
shutdown loses nothing; a killed process may lose the records of its last few milliseconds,
never a stored one. Whatever must be durable before a caller is answered (a paused execution)
calls :meth:`flush` first.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable

import anyio

from executor.store import CallRecord, ExecutionEnded, ExecutionRecord, Store

logger = logging.getLogger("executor.audit")

#: A deferred write: a coroutine function run by the writer in arrival order.
Write = Callable[[], Awaitable[None]]


class AuditWriter:
    """Writes call records and deferred writes in order. Run :meth:`run` in a task group."""

    def __init__(self, store: Store, workspace_id: str, *, window: float = 0.02) -> None:
        self._store = store
        self._workspace_id = workspace_id
        # Records arriving within this many seconds share one transaction: under load that is
        # one write per window instead of one per call.
        self._window = window
        self._pending: list[CallRecord | ExecutionRecord | ExecutionEnded | Write] = []
        #: Where each execution start waits in ``_pending`` (its end folds into it there).
        self._starts: dict[str, int] = {}
        self._wake = anyio.Event()
        self._closing = False
        self._closed = anyio.Event()
        # One writer at a time, so flush() returns only once the batch in flight is stored.
        self._writing = anyio.Lock()

    def add(self, record: CallRecord) -> None:
        """Queue a call record; it is written within one event-loop turn of the writer."""
        self._pending.append(record)
        self._wake.set()

    def start_execution(self, record: ExecutionRecord) -> None:
        """Queue a new execution's run; calls queued after it may refer to it."""
        self._starts[record.run_id] = len(self._pending)
        self._pending.append(record)
        self._wake.set()

    def end_execution(self, end: ExecutionEnded) -> None:
        """Queue how a running execution ended.

        Folded into its start while that is still queued, so a run that starts and ends
        within one batch is one row written once; otherwise an update in the next batch,
        in the same transaction as the batch's other records.
        """
        index = self._starts.pop(end.run_id, None)
        if index is not None:
            start = self._pending[index]
            assert isinstance(start, ExecutionRecord) and start.run_id == end.run_id
            self._pending[index] = dataclasses.replace(
                start,
                status=end.status,
                result=end.result,
                logs=end.logs,
                error=end.error,
                updated_at=end.updated_at,
            )
            return
        self._pending.append(end)
        self._wake.set()

    def defer(self, write: Write) -> None:
        """Queue a write that must happen after everything queued before it."""
        self._pending.append(write)
        self._wake.set()

    async def run(self) -> None:
        """Write batches until :meth:`close`; then write what is left and return."""
        while not self._closing:
            await self._wake.wait()
            with anyio.move_on_after(self._window):
                await self._closed.wait()
            self._wake = anyio.Event()
            # One batch per window: what arrives meanwhile waits for the next one.
            await self._write_pending(drain=False)
        await self._write_pending()

    def close(self) -> None:
        """Ask :meth:`run` to finish: it writes the remaining records and returns."""
        self._closing = True
        self._closed.set()
        self._wake.set()

    async def flush(self) -> None:
        """Write everything queued so far; the run history reads after this."""
        await self._write_pending()

    async def _write_pending(self, *, drain: bool = True) -> None:
        async with self._writing:
            while self._pending:
                batch, self._pending = self._pending, []
                self._starts.clear()
                records: list[CallRecord] = []
                executions: list[ExecutionRecord] = []
                ends: list[ExecutionEnded] = []
                for item in batch:
                    if isinstance(item, CallRecord):
                        records.append(item)
                    elif isinstance(item, ExecutionRecord):
                        executions.append(item)
                    elif isinstance(item, ExecutionEnded):
                        ends.append(item)
                    else:
                        await self._write(records, executions, ends)
                        records, executions, ends = [], [], []
                        await self._guarded(item)
                await self._write(records, executions, ends)
                if not drain:
                    break

    async def _write(
        self,
        records: list[CallRecord],
        executions: list[ExecutionRecord],
        ends: list[ExecutionEnded],
    ) -> None:
        if not records and not executions and not ends:
            return
        store, workspace = self._store, self._workspace_id
        try:
            with anyio.CancelScope(shield=True):
                await store.record_calls(workspace, records, executions, ends)
        except Exception:
            # One bad row must not lose the others: write them one by one (runs first, so
            # calls find their execution) and report only what still fails.
            for execution in executions:
                await self._guarded(
                    functools.partial(store.record_calls, workspace, [], [execution])
                )
            for record in records:
                await self._guarded(functools.partial(store.record_calls, workspace, [record]))
            for end in ends:
                await self._guarded(functools.partial(store.record_calls, workspace, [], [], [end]))

    async def _guarded(self, write: Write) -> None:
        try:
            # Shielded: a write cut off half-way would leave the driver's connection stuck.
            with anyio.CancelScope(shield=True):
                await write()
        except Exception:
            # The history must never take a call down with it; say what was lost.
            logger.exception("could not write to the run history")
