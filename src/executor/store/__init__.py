"""Persistent storage: SQLAlchemy Core tables, Alembic migrations and the search index.

:class:`Store` is the only way the core touches the database. It works on embedded SQLite
(WAL) and on PostgreSQL, runs migrations when opened, and keeps the search index in step with
the tools table.
"""

from executor.store.database import (
    ConnectionHealth,
    Store,
    StoredTool,
    ToolMatch,
    ToolPlan,
    ToolPlanner,
    ToolState,
    definition_hash,
    settings_hash,
)
from executor.store.runs import (
    CallRecord,
    ClaimedExecution,
    ExecutionEnded,
    ExecutionRecord,
    RunRecord,
    ToolCallRecord,
)

__all__ = [
    "CallRecord",
    "ClaimedExecution",
    "ConnectionHealth",
    "ExecutionEnded",
    "ExecutionRecord",
    "RunRecord",
    "Store",
    "StoredTool",
    "ToolCallRecord",
    "ToolMatch",
    "ToolPlan",
    "ToolPlanner",
    "ToolState",
    "definition_hash",
    "settings_hash",
]
