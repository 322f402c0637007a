"""The audit writer: records of direct calls, written in batches off the call path.

A call hands its record to :meth:`AuditWriter.add` and returns at once; a background task owned
by the :class:`~executor.Executor` writes whatever has accumulated in one transaction. Closing
the executor flushes what is left, so an orderly shutdown loses nothing; a killed process may
lose the records of its last few milliseconds of calls, never a stored one.
"""

from __future__ import annotations

import logging

import anyio

from executor.store import CallRecord, Store

logger = logging.getLogger("executor.audit")


class AuditWriter:
    """Batches :class:`CallRecord` s into the store. Run :meth:`run` in a task group."""

    def __init__(self, store: Store, workspace_id: str) -> None:
        self._store = store
        self._workspace_id = workspace_id
        self._pending: list[CallRecord] = []
        self._wake = anyio.Event()
        self._closing = False
        # One writer at a time, so flush() returns only once the batch in flight is stored.
        self._writing = anyio.Lock()

    def add(self, record: CallRecord) -> None:
        """Queue a record; it is written within one event-loop turn of the writer."""
        self._pending.append(record)
        self._wake.set()

    async def run(self) -> None:
        """Write batches until :meth:`close`; then write what is left and return."""
        while not self._closing:
            await self._wake.wait()
            self._wake = anyio.Event()
            await self._write_pending()
        await self._write_pending()

    def close(self) -> None:
        """Ask :meth:`run` to finish: it writes the remaining records and returns."""
        self._closing = True
        self._wake.set()

    async def flush(self) -> None:
        """Write everything queued so far; the run history reads after this."""
        await self._write_pending()

    async def _write_pending(self) -> None:
        async with self._writing:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    # Shielded: a write cut off half-way would leave the driver's connection
                    # stuck.
                    with anyio.CancelScope(shield=True):
                        await self._store.record_calls(self._workspace_id, batch)
                except Exception:
                    # The audit log must never take a call down with it; say what was lost.
                    logger.exception("could not write %d audit record(s)", len(batch))
