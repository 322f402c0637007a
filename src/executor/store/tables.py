"""The tables, as SQLAlchemy Core objects for queries.

The schema itself is created and changed only by the migrations in ``store/migrations``; these
definitions mirror the newest revision and must be kept in step with it (a test compares them).

JSON values are stored as orjson-serialised text on both databases, timestamps as timezone-aware
UTC, binary values (compressed specs, ciphertext) as bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class JSONText(sa.types.TypeDecorator[Any]):
    """A JSON value kept as compact text, identical on SQLite and PostgreSQL."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return orjson.loads(value)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that goes in and comes out as timezone-aware UTC on both databases."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a timezone-aware value")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store naive UTC there, and re-attach UTC on the way out.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


metadata = sa.MetaData()


def _workspace_id() -> sa.Column[str]:
    """The ``workspace_id`` column every workspace-owned table has (deleted with it)."""
    return sa.Column(
        "workspace_id",
        sa.String(32),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    )


workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("catalog_version", sa.BigInteger, nullable=False, server_default="0"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _workspace_id(),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "name", name="uq_users_workspace_name"),
)

integrations = sa.Table(
    "integrations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _workspace_id(),
    sa.Column("slug", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("config", JSONText, nullable=False),
    sa.Column("auth_methods", JSONText, nullable=False),
    sa.Column("spec", sa.LargeBinary, nullable=True),
    sa.Column("tool_count", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "slug", name="uq_integrations_workspace_slug"),
    # Added by revision 0006: whether refresh holds tool changes for review, and how.
    sa.Column("review_changes", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("review_mode", sa.String(16), nullable=False, server_default="serve_reviewed"),
)

tools = sa.Table(
    "tools",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "integration_id",
        sa.String(32),
        sa.ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("input_schema", JSONText, nullable=False),
    sa.Column("output_schema", JSONText, nullable=True),
    sa.Column("tags", JSONText, nullable=False),
    sa.Column("default_policy", sa.String(32), nullable=False),
    sa.Column("is_read_only", sa.Boolean, nullable=False),
    sa.Column("is_destructive", sa.Boolean, nullable=False),
    sa.Column("binding", JSONText, nullable=False),
    sa.Column("definition_hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("integration_id", "name", name="uq_tools_integration_name"),
)

# Added by revision 0006: tool changes a refresh held for a person's review (one row per tool;
# ``reviewed`` and ``proposed`` are tool definitions as JSON).
tool_reviews = sa.Table(
    "tool_reviews",
    metadata,
    sa.Column(
        "integration_id",
        sa.String(32),
        sa.ForeignKey("integrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("change", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reviewed", JSONText, nullable=True),
    sa.Column("proposed", JSONText, nullable=False),
    sa.Column("held_at", UTCDateTime, nullable=False),
)

connections = sa.Table(
    "connections",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _workspace_id(),
    sa.Column(
        "integration_id",
        sa.String(32),
        sa.ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("auth", JSONText, nullable=False),
    sa.Column("settings", JSONText, nullable=False),
    sa.Column(
        "user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Added by revision 0002: the health the UI and CLI show.
    sa.Column("status", sa.String(32), nullable=False, server_default="unknown"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("checked_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("integration_id", "name", name="uq_connections_integration_name"),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _workspace_id(),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column(
        "user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("pattern", sa.Text, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_policies_scope_position", "workspace_id", "scope", "position"),
)

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _workspace_id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "name", name="uq_secrets_workspace_name"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    _workspace_id(),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("caller", sa.Text, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("code", sa.Text, nullable=True),
    sa.Column("result", JSONText, nullable=True),
    sa.Column("logs", sa.Text, nullable=False),
    sa.Column("error", JSONText, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    # Added by revision 0002: run history is listed newest first per workspace.
    sa.Index("ix_runs_workspace_created", "workspace_id", "created_at"),
    # Added by revision 0004: a paused execution's sealed snapshot (never plain interpreter
    # state) and the call it waits on; expiry sweeps use the index.
    sa.Column("snapshot", sa.LargeBinary, nullable=True),
    sa.Column("pending", JSONText, nullable=True),
    sa.Index("ix_runs_workspace_status_expires", "workspace_id", "status", "expires_at"),
)

tool_calls = sa.Table(
    "tool_calls",
    metadata,
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("arguments", JSONText, nullable=False),
    sa.Column("decision", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(64), nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# The search index. On SQLite this is an FTS5 virtual table, on PostgreSQL a plain table with a
# generated, weighted tsvector column (see the migrations); both accept these columns, which hold
# the analysed terms of each field (see executor.store.search.analyse_tool).
tool_search = sa.Table(
    "tool_search",
    metadata,
    sa.Column("tool_id", sa.String(32)),
    sa.Column("workspace_id", sa.String(32)),
    sa.Column("integration_id", sa.String(32)),
    sa.Column("name", sa.Text),
    sa.Column("tags", sa.Text),
    sa.Column("summary", sa.Text),
    sa.Column("description", sa.Text),
)

# How many tools of an integration contain each term: the document frequencies behind the
# shared scorer's IDF, kept by our code so both databases weigh terms identically.
search_terms = sa.Table(
    "search_terms",
    metadata,
    sa.Column(
        "integration_id",
        sa.String(32),
        sa.ForeignKey("integrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("term", sa.String(128), primary_key=True),
    sa.Column("doc_count", sa.Integer, nullable=False),
)

# Added by revision 0005: named subsets of the catalog (address patterns) with their own
# ordered policy rules ([{"pattern", "action"}]), served at /mcp/toolkits/<slug>.
toolkits = sa.Table(
    "toolkits",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _workspace_id(),
    sa.Column("slug", sa.String(64), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("patterns", JSONText, nullable=False),
    sa.Column("policies", JSONText, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "slug", name="uq_toolkits_workspace_slug"),
)
