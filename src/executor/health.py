"""Connection health, learnt from the outcomes of real calls (PRODUCT.md §3).

A call that reached its upstream and succeeded says the connection is ``ok``; refused or
missing credentials say ``needs_auth``; no answer in time says ``unreachable``; a server error
says ``error``. Outcomes that say nothing about the connection (a blocked tool, bad arguments,
a declined approval, an MCP tool's own error) change nothing.

The call path only compares the status with the last one this process saw for the connection;
a change is written through the audit writer's deferral, after the call has answered. So an
unchanged status costs no write, and ``checked_at`` is when the current status was recorded
(a process's first call through a connection records it once).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from executor.audit import Write
from executor.errors import NotFoundError
from executor.models import Connection, ConnectionStatus
from executor.results import ToolResult
from executor.store import Store

logger = logging.getLogger("executor.health")

#: The longest ``last_error`` kept: one line for a listing.
MAX_ERROR = 300


def status_of(result: ToolResult) -> tuple[ConnectionStatus, str | None] | None:
    """What a call's result says about its connection: the status and, unless ``ok``, the
    error's message in one line; None when it says nothing about the connection."""
    if result.get("ok"):
        return "ok", None
    error = result.get("error") or {}
    code, status = error.get("code"), error.get("status")
    if code == "auth_required" or status in (401, 403):
        return "needs_auth", _one_line(error)
    # Without an HTTP status, only a retryable upstream failure is a host that does not
    # answer; an MCP tool's own error is neither retryable nor about the connection.
    if code == "timeout" or (
        code == "upstream_error" and status is None and error.get("retryable")
    ):
        return "unreachable", _one_line(error)
    if code == "upstream_error" and status is not None:
        # The upstream answered: a 5xx is its failure; a 4xx is about the call's arguments.
        return ("error", _one_line(error)) if status >= 500 else ("ok", None)
    return None


def _one_line(error: dict[str, object]) -> str:
    text = " ".join(str(error.get("message") or error.get("code") or "").split())
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


class HealthRecorder:
    """Records connection health from call results, writing only changes, off the call path.

    ``defer`` queues a write to run after the call (the audit writer's
    :meth:`~executor.audit.AuditWriter.defer`). The last status of each connection is kept per
    process: another process's writes are not seen, so each process records its own changes.
    """

    def __init__(self, store: Store, workspace_id: str, defer: Callable[[Write], None]) -> None:
        self._store = store
        self._workspace_id = workspace_id
        self._defer = defer
        self._known: dict[str, ConnectionStatus] = {}

    def note(self, connection: Connection, result: ToolResult) -> None:
        """Take a call's (already redacted) result into account: a new status is queued."""
        found = status_of(result)
        if found is None or self._known.get(connection.id) == found[0]:
            return
        self._known[connection.id] = found[0]
        self._defer(functools.partial(self._write, connection, *found))

    async def _write(
        self, connection: Connection, status: ConnectionStatus, last_error: str | None
    ) -> None:
        try:
            await self._store.set_connection_health(
                self._workspace_id,
                connection.integration,
                connection.name,
                status=status,
                last_error=last_error,
            )
        except NotFoundError:
            # Removed since the call: there is nothing left to record it on.
            self._known.pop(connection.id, None)
            return
        logger.debug("%s.%s is now %s", connection.integration, connection.name, status)
