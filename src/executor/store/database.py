"""The store: every read and write the core makes, one transaction per method.

Works on embedded SQLite (aiosqlite; WAL, foreign keys on, busy timeout, writers take the lock
up front with ``BEGIN IMMEDIATE``) and on PostgreSQL (asyncpg; optionally inside a private
schema). Opening a store migrates it to the newest schema. Database failures become
:mod:`executor.errors` exceptions in one place, :func:`~executor.store.base.translate_errors`.
The engines and transactions live in :mod:`executor.store.base`; runs and durable executions
in :mod:`executor.store.runs`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from executor.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
)
from executor.models import (
    CONNECTION_STATUSES,
    INTEGRATION_REVIEW,
    POLICY_ACTIONS,
    AuthMethod,
    Connection,
    ConnectionHealth,
    ConnectionStatus,
    Integration,
    IntegrationReview,
    IntegrationSettings,
    Policy,
    PolicyAction,
    PolicyScope,
    ReviewMode,
    ToolDefinition,
    Toolkit,
    ToolkitPolicy,
    ToolReview,
)
from executor.store import migrations, search
from executor.store import tables as t
from executor.store.base import translate_errors
from executor.store.runs import RunStore
from executor.store.tables import utcnow

#: Specs larger than this are compressed and decompressed off the event loop.
_OFFLOOP_BYTES = 256 * 1024
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")
# Every replica may open the store at once; PostgreSQL runs their migrations one at a time.
_MIGRATION_LOCK = 0x45584543
#: Inserting this many tools on PostgreSQL refreshes the search table's planner statistics.
_ANALYZE_AFTER = 500
#: Tools inserted per statement, so that adding a big source can report how far it got.
_INSERT_CHUNK = 250

#: Told (tools written, total) while an integration's tools are written.
WriteProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class StoredTool:
    """A tool definition as stored for one integration (schemas included)."""

    integration_id: str
    integration: str  # slug
    definition: ToolDefinition


@dataclass(frozen=True)
class ToolMatch:
    """A search match over tool definitions (per integration, not per connection)."""

    integration: str
    name: str
    score: float  # higher is better


def new_id() -> str:
    """A fresh record id: 32 hex characters of a random UUID."""
    return uuid.uuid4().hex


def definition_hash(definition: ToolDefinition) -> str:
    """A stable digest of everything that defines a tool; a refresh compares these."""
    return _digest(definition_json(definition))


def settings_hash(settings: IntegrationSettings) -> str:
    """A stable digest of an integration's authority settings; a refresh compares these."""
    return _digest(_settings_json(settings))


def _digest(payload: Any) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _compress(data: bytes) -> bytes:
    return zlib.compress(data, 6)


async def _offloop(function: Any, data: bytes) -> bytes:
    if len(data) > _OFFLOOP_BYTES:
        result: bytes = await anyio.to_thread.run_sync(function, data)
        return result
    result = function(data)
    return result


def _auth_methods_json(methods: Sequence[AuthMethod]) -> list[dict[str, Any]]:
    return [
        {
            "id": method.id,
            "type": method.type,
            "location": method.location,
            "name": method.name,
            "description": method.description,
            "extras": method.extras,
        }
        for method in methods
    ]


def _integration(row: Any) -> Integration:
    return Integration(
        id=row.id,
        workspace_id=row.workspace_id,
        slug=row.slug,
        kind=row.kind,
        title=row.title,
        summary=row.summary,
        config=row.config,
        auth_methods=tuple(AuthMethod(**method) for method in row.auth_methods),
        tool_count=row.tool_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        review_changes=bool(row.review_changes),
        review_mode=row.review_mode,
    )


def _definition(row: Any) -> ToolDefinition:
    return ToolDefinition(
        name=row.name,
        summary=row.summary,
        description=row.description,
        input_schema=row.input_schema,
        output_schema=row.output_schema,
        tags=tuple(row.tags),
        default_policy=row.default_policy,
        is_read_only=bool(row.is_read_only),
        is_destructive=bool(row.is_destructive),
        binding=row.binding,
    )


def definition_json(definition: ToolDefinition) -> dict[str, Any]:
    """A tool definition as a JSON object (what a held review stores)."""
    return {
        "name": definition.name,
        "summary": definition.summary,
        "description": definition.description,
        "input_schema": definition.input_schema,
        "output_schema": definition.output_schema,
        "tags": list(definition.tags),
        "default_policy": definition.default_policy,
        "is_read_only": definition.is_read_only,
        "is_destructive": definition.is_destructive,
        "binding": definition.binding,
    }


def definition_from_json(data: Mapping[str, Any]) -> ToolDefinition:
    """The inverse of :func:`definition_json`."""
    return ToolDefinition(**{**data, "tags": tuple(data.get("tags") or ())})


def _settings_json(settings: IntegrationSettings) -> dict[str, Any]:
    """Integration settings as a JSON object (what a held integration review stores)."""
    return {"config": settings.config, "auth_methods": _auth_methods_json(settings.auth_methods)}


def _settings(data: Mapping[Any, Any]) -> IntegrationSettings:
    return IntegrationSettings(
        config=dict(data["config"]),
        auth_methods=tuple(AuthMethod(**method) for method in data["auth_methods"]),
    )


def _held(row: Any, slug: str) -> ToolReview | IntegrationReview:
    """A ``tool_reviews`` row: a tool's held change, or the integration's own."""
    if row.name != INTEGRATION_REVIEW:
        return _review(row, slug)
    return IntegrationReview(
        integration=slug,
        status=row.status,
        reviewed=_settings(row.reviewed),
        proposed=_settings(row.proposed),
        held_at=row.held_at,
    )


def _held_row(integration_id: str, review: ToolReview | IntegrationReview) -> dict[str, Any]:
    if isinstance(review, IntegrationReview):
        reviewed: dict[str, Any] | None = _settings_json(review.reviewed)
        proposed = _settings_json(review.proposed)
    else:
        reviewed = None if review.reviewed is None else definition_json(review.reviewed)
        proposed = definition_json(review.proposed)
    return {
        "integration_id": integration_id,
        "name": review.name,
        "change": review.change,
        "status": review.status,
        "reviewed": reviewed,
        "proposed": proposed,
        "held_at": review.held_at,
    }


def _review(row: Any, slug: str) -> ToolReview:
    return ToolReview(
        integration=slug,
        name=row.name,
        change=row.change,
        status=row.status,
        reviewed=None if row.reviewed is None else definition_from_json(row.reviewed),
        proposed=definition_from_json(row.proposed),
        held_at=row.held_at,
    )


@dataclass(frozen=True)
class ToolState:
    """An integration's tools as a :data:`ToolPlanner` sees them, read in its transaction.

    ``hashes`` maps each served tool's name to its definition hash. ``served`` holds the
    served definitions themselves; it is None when reviews are off and nothing is held (a
    plain refresh needs the hashes alone). ``reviews`` are the tools' held changes, pending or
    rejected. ``settings`` are the integration's stored config and auth methods, and
    ``settings_review`` the held change to them, if any.
    """

    slug: str
    hashes: Mapping[str, str]
    served: Mapping[str, ToolDefinition] | None
    reviews: Mapping[str, ToolReview]
    review_changes: bool
    review_mode: ReviewMode
    settings: IntegrationSettings
    settings_review: IntegrationReview | None = None


@dataclass(frozen=True)
class ToolPlan:
    """What an integration serves after a change: exactly the tools in ``serve`` (None: the
    served tools stay as they are), with ``reviews`` and ``settings_review`` as its held
    changes. ``values`` sets integration fields (``config``, ``auth_methods``) the planner
    decided. ``report`` is the planner's own account, handed back to its caller untouched."""

    serve: tuple[ToolDefinition, ...] | None
    reviews: tuple[ToolReview, ...]
    settings_review: IntegrationReview | None
    report: Any = None
    values: Mapping[str, Any] = field(default_factory=dict)


#: Decides, from the current state, what an integration serves next (runs in a worker thread).
ToolPlanner = Callable[[ToolState], ToolPlan]

#: Integration columns :meth:`Store.update_tools` may change along with the tools.
_INTEGRATION_FIELDS = frozenset(
    {"title", "summary", "config", "spec", "auth_methods", "review_changes", "review_mode"}
)


def _check_fields(values: Mapping[str, Any]) -> None:
    unknown = set(values) - _INTEGRATION_FIELDS
    if unknown:
        raise InvalidInputError(f"Unknown integration fields: {', '.join(sorted(unknown))}.")


def _connection(row: Any) -> Connection:
    return Connection(
        id=row.id,
        workspace_id=row.workspace_id,
        integration=row.slug,
        name=row.name,
        auth=row.auth,
        settings=row.settings,
        user_id=row.user_id,
        created_at=row.created_at,
        health=ConnectionHealth(row.status, row.last_error, row.checked_at),
    )


def _policy(row: Any) -> Policy:
    return Policy(
        id=row.id,
        workspace_id=row.workspace_id,
        scope=row.scope,
        pattern=row.pattern,
        action=row.action,
        position=row.position,
        user_id=row.user_id,
        created_at=row.created_at,
    )


def _toolkit_policies_json(policies: Sequence[ToolkitPolicy]) -> list[dict[str, str]]:
    return [{"pattern": rule.pattern, "action": rule.action} for rule in policies]


def _toolkit(row: Any) -> Toolkit:
    return Toolkit(
        id=row.id,
        workspace_id=row.workspace_id,
        slug=row.slug,
        description=row.description,
        patterns=tuple(row.patterns),
        policies=tuple(ToolkitPolicy(rule["pattern"], rule["action"]) for rule in row.policies),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@dataclass(frozen=True)
class _ToolRows:
    tools: list[dict[str, Any]]
    search: list[dict[str, Any]]
    terms: list[dict[str, Any]]


def _tool_rows(
    workspace_id: str, integration_id: str, definitions: Sequence[ToolDefinition]
) -> _ToolRows:
    tool_rows: list[dict[str, Any]] = []
    search_rows: list[dict[str, Any]] = []
    documents = []
    for definition in definitions:
        tool_id = new_id()
        document = search.analyse_tool(definition)
        documents.append(document)
        tool_rows.append(
            {
                "id": tool_id,
                "integration_id": integration_id,
                **definition_json(definition),
                "definition_hash": definition_hash(definition),
            }
        )
        search_rows.append(
            {
                "tool_id": tool_id,
                "workspace_id": workspace_id,
                "integration_id": integration_id,
                "name": document.name,
                "tags": document.tags,
                "summary": document.summary,
                "description": document.description,
            }
        )
    terms = [
        {"integration_id": integration_id, "term": term, "doc_count": count}
        for term, count in search.term_counts(documents).items()
    ]
    return _ToolRows(tool_rows, search_rows, terms)


class Store(RunStore):
    """Async access to the database. Every method is one transaction."""

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, *, schema: str | None = None) -> Store:
        """Connect, migrate to the newest schema (Alembic), return the store.

        ``url`` is an SQLAlchemy async URL: ``sqlite+aiosqlite:///path`` or
        ``postgresql+asyncpg://…``. ``schema`` (PostgreSQL only) puts every table in that
        schema, created if missing — tests use one schema per test.
        """
        store = await cls.connect(url, schema=schema)
        try:
            await store.migrate()
        except BaseException:
            await store.close()
            raise
        return store

    @classmethod
    async def connect(cls, url: str, *, schema: str | None = None) -> Store:
        """Like :meth:`open` but without migrating (for tools that migrate step by step)."""
        try:
            parsed = make_url(url)
        except sa_exc.ArgumentError as exc:
            raise InvalidInputError(
                f"{url.split('://')[0]}://… is not a database URL.",
                hint="Use sqlite+aiosqlite:///path/to/executor.db or postgresql+asyncpg://…",
            ) from exc
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if schema is not None:
                raise InvalidInputError(
                    "A schema was given for an SQLite database.",
                    hint="Schemas apply to PostgreSQL only; leave it unset for SQLite.",
                )
            engine, reader = _sqlite_engines(parsed)
            return cls(engine, parsed, schema, reader)
        if backend != "postgresql":
            raise InvalidInputError(
                f"Unsupported database {backend!r}.",
                hint="Use sqlite+aiosqlite:///path/to/executor.db or postgresql+asyncpg://…",
            )
        if schema is not None:
            if not _SCHEMA_NAME.match(schema):
                raise InvalidInputError(
                    f"{schema!r} is not a usable schema name.",
                    hint="Use lowercase letters, digits and _, starting with a letter or _.",
                )
            await _create_schema(parsed, schema)
        return cls(_postgres_engine(parsed, schema), parsed, schema)

    async def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (default: the newest), keeping all data."""
        async with self._transaction(write=True) as connection:
            if self.dialect == "postgresql":
                await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            await connection.run_sync(
                lambda sync: migrations.upgrade(sync, schema=self._schema, revision=revision)
            )

    async def revision(self) -> str | None:
        """The schema revision the database is at (None before the first migration)."""
        async with self._transaction() as connection:
            return await connection.run_sync(
                lambda sync: migrations.current(sync, schema=self._schema)
            )

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()
        if self._reader is not None:
            await anyio.to_thread.run_sync(self._reader.dispose)

    # -- workspaces and users --------------------------------------------------------------------

    async def _bump_catalog(self, connection: AsyncConnection, workspace_id: str) -> None:
        # Every change to integrations, tools, connections or policies moves the version, in
        # the same transaction, so other processes know their caches are stale.
        w = t.workspaces.c
        await connection.execute(
            sa.update(t.workspaces)
            .where(w.id == workspace_id)
            .values(catalog_version=w.catalog_version + 1)
        )

    async def catalog_version(self, workspace_id: str) -> int:
        """A number that changes whenever the workspace's catalog, connections or policies do."""
        query = sa.select(t.workspaces.c.catalog_version).where(t.workspaces.c.id == workspace_id)

        def run(connection: sa.Connection) -> int:
            return int(connection.execute(query).scalar_one_or_none() or 0)

        return await self._run_read(run)

    async def ensure_local_workspace(self) -> tuple[str, str]:
        """Create (once) and return ``(workspace_id, user_id)`` of local single-user mode."""
        async with self._transaction(write=True) as connection:
            await connection.execute(
                self._insert(t.workspaces)
                .values(id=new_id(), name="local", created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            workspace_id = (
                await connection.execute(
                    sa.select(t.workspaces.c.id).where(t.workspaces.c.name == "local")
                )
            ).scalar_one()
            await connection.execute(
                self._insert(t.users)
                .values(id=new_id(), workspace_id=workspace_id, name="local", created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["workspace_id", "name"])
            )
            user_id = (
                await connection.execute(
                    sa.select(t.users.c.id).where(
                        t.users.c.workspace_id == workspace_id, t.users.c.name == "local"
                    )
                )
            ).scalar_one()
        return workspace_id, user_id

    # -- integrations and their tools ------------------------------------------------------------

    async def create_integration(
        self,
        workspace_id: str,
        *,
        slug: str,
        kind: str,
        title: str,
        summary: str,
        config: dict[str, Any],
        spec: bytes | None,
        auth_methods: list[AuthMethod],
        tools: list[ToolDefinition],
        review_changes: bool = False,
        review_mode: ReviewMode = "serve_reviewed",
        progress: WriteProgress | None = None,
    ) -> Integration:
        """Insert the integration, its tools and their search index rows in one transaction.

        ``progress`` is told (tools written, total) as the tools go in. Raises
        AlreadyExistsError when the slug is taken in the workspace.
        """
        integration_id = new_id()
        compressed = None if spec is None else await _offloop(_compress, spec)
        rows = await anyio.to_thread.run_sync(_tool_rows, workspace_id, integration_id, tools)
        now = utcnow()
        values = {
            "id": integration_id,
            "workspace_id": workspace_id,
            "slug": slug,
            "kind": kind,
            "title": title,
            "summary": summary,
            "config": config,
            "auth_methods": _auth_methods_json(auth_methods),
            "spec": compressed,
            "tool_count": len(tools),
            "created_at": now,
            "updated_at": now,
            "review_changes": review_changes,
            "review_mode": review_mode,
        }
        taken = AlreadyExistsError(
            f"An integration named {slug!r} exists already.",
            hint="Pick another slug, or refresh the existing integration.",
        )
        async with self._transaction(write=True) as connection:
            with self._errors(conflict=taken):
                await connection.execute(sa.insert(t.integrations).values(values))
            await self._insert_tools(connection, slug, tools, rows, progress)
            await self._bump_catalog(connection, workspace_id)
            row = (
                await connection.execute(
                    sa.select(t.integrations).where(t.integrations.c.id == integration_id)
                )
            ).one()
        return _integration(row)

    async def _insert_tools(
        self,
        connection: AsyncConnection,
        slug: str,
        tools: Sequence[ToolDefinition],
        rows: _ToolRows,
        progress: WriteProgress | None = None,
    ) -> None:
        total = len(rows.tools)
        if not total:
            return
        counts = Counter(tool.name for tool in tools)
        duplicates = sorted(name for name, count in counts.items() if count > 1)
        twice = AlreadyExistsError(
            f"The tools of {slug!r} must have distinct names; "
            f"{', '.join(map(repr, duplicates[:5])) or 'some'} appear more than once.",
            hint="Nothing was changed. Report this to the source plugin's author.",
        )
        for start in range(0, total, _INSERT_CHUNK):
            end = start + _INSERT_CHUNK
            with self._errors(conflict=twice):
                await connection.execute(sa.insert(t.tools), rows.tools[start:end])
            await connection.execute(sa.insert(t.tool_search), rows.search[start:end])
            if progress is not None:
                progress(min(end, total), total)
        await connection.execute(sa.insert(t.search_terms), rows.terms)
        if self.dialect == "postgresql" and len(rows.tools) >= _ANALYZE_AFTER:
            # Fresh statistics, or the planner keeps seq-scanning the index it cannot cost.
            await connection.exec_driver_sql("ANALYZE tool_search")

    async def _integration_id(
        self, connection: AsyncConnection, workspace_id: str, slug: str
    ) -> str:
        integration_id = (
            await connection.execute(
                sa.select(t.integrations.c.id).where(
                    t.integrations.c.workspace_id == workspace_id, t.integrations.c.slug == slug
                )
            )
        ).scalar_one_or_none()
        if integration_id is None:
            raise NotFoundError(
                f"No integration named {slug!r}.",
                hint="List them with `executor tools sources`, or add it first.",
            )
        return str(integration_id)

    async def _delete_index(self, connection: AsyncConnection, integration_id: str) -> None:
        # On PostgreSQL these rows would cascade; the FTS5 table has no foreign keys.
        await connection.execute(
            sa.delete(t.tool_search).where(t.tool_search.c.integration_id == integration_id)
        )
        await connection.execute(
            sa.delete(t.search_terms).where(t.search_terms.c.integration_id == integration_id)
        )

    async def replace_integration(
        self,
        workspace_id: str,
        slug: str,
        *,
        title: str,
        summary: str,
        config: dict[str, Any],
        spec: bytes | None,
        auth_methods: list[AuthMethod],
        tools: list[ToolDefinition],
    ) -> Integration:
        """Refresh: replace config, spec, auth methods and the whole tool set atomically.

        Raises NotFoundError when there is no such integration; on any failure the old tools
        stay exactly as they were.
        """
        compressed = None if spec is None else await _offloop(_compress, spec)
        async with self._transaction(write=True) as connection:
            integration_id = await self._integration_id(connection, workspace_id, slug)
            rows = await anyio.to_thread.run_sync(_tool_rows, workspace_id, integration_id, tools)
            await connection.execute(
                sa.update(t.integrations)
                .where(t.integrations.c.id == integration_id)
                .values(
                    title=title,
                    summary=summary,
                    config=config,
                    auth_methods=_auth_methods_json(auth_methods),
                    spec=compressed,
                    tool_count=len(tools),
                    updated_at=utcnow(),
                )
            )
            await self._delete_index(connection, integration_id)
            await connection.execute(
                sa.delete(t.tools).where(t.tools.c.integration_id == integration_id)
            )
            await self._insert_tools(connection, slug, tools, rows)
            await self._bump_catalog(connection, workspace_id)
            row = (
                await connection.execute(
                    sa.select(t.integrations).where(t.integrations.c.id == integration_id)
                )
            ).one()
        return _integration(row)

    async def get_integration(self, workspace_id: str, slug: str) -> Integration | None:
        """The integration with this slug, or None."""
        async with self._transaction() as connection:
            row = (
                await connection.execute(
                    sa.select(t.integrations).where(
                        t.integrations.c.workspace_id == workspace_id,
                        t.integrations.c.slug == slug,
                    )
                )
            ).one_or_none()
        return None if row is None else _integration(row)

    async def list_integrations(self, workspace_id: str) -> list[Integration]:
        """Every integration of the workspace, ordered by slug."""
        async with self._transaction() as connection:
            rows = (
                await connection.execute(
                    sa.select(t.integrations)
                    .where(t.integrations.c.workspace_id == workspace_id)
                    .order_by(t.integrations.c.slug)
                )
            ).all()
        return [_integration(row) for row in rows]

    async def delete_integration(self, workspace_id: str, slug: str) -> bool:
        """Delete the integration with its connections, tools and index rows."""
        async with self._transaction(write=True) as connection:
            try:
                integration_id = await self._integration_id(connection, workspace_id, slug)
            except NotFoundError:
                return False
            await self._delete_index(connection, integration_id)
            await connection.execute(
                sa.delete(t.integrations).where(t.integrations.c.id == integration_id)
            )
            await self._bump_catalog(connection, workspace_id)
        return True

    async def load_spec(self, workspace_id: str, slug: str) -> bytes | None:
        """The stored (decompressed) source document."""
        async with self._transaction() as connection:
            compressed = (
                await connection.execute(
                    sa.select(t.integrations.c.spec).where(
                        t.integrations.c.workspace_id == workspace_id,
                        t.integrations.c.slug == slug,
                    )
                )
            ).scalar_one_or_none()
        return None if compressed is None else await _offloop(zlib.decompress, compressed)

    # -- safe refresh: tool changes held for review -------------------------------------------

    async def update_tools(
        self,
        workspace_id: str,
        slug: str,
        planner: ToolPlanner,
        *,
        values: Mapping[str, Any] | None = None,
        progress: WriteProgress | None = None,
    ) -> ToolPlan:
        """Change what an integration serves, atomically: read its tools and held reviews,
        let ``planner`` decide (in a worker thread), write the result, bump the catalog.

        ``values`` also sets integration fields (title, summary, config, spec as raw bytes,
        auth_methods, review_changes, review_mode) in the same transaction, and so do the
        plan's own ``values``; ``progress`` is told (tools written, total) as the served tools
        go in. Raises NotFoundError when there is no such integration; on any failure nothing
        changes.
        """
        changes = dict(values or {})
        _check_fields(changes)
        if "spec" in changes and changes["spec"] is not None:
            changes["spec"] = await _offloop(_compress, changes["spec"])
        if "auth_methods" in changes:
            changes["auth_methods"] = _auth_methods_json(changes["auth_methods"])
        i, tool = t.integrations.c, t.tools.c
        async with self._transaction(write=True) as connection:
            # Two planners on one integration run one after the other (PostgreSQL row lock;
            # SQLite writers hold the database lock already).
            row = (
                await connection.execute(
                    sa.select(t.integrations)
                    .where(i.workspace_id == workspace_id, i.slug == slug)
                    .with_for_update()
                )
            ).one_or_none()
            if row is None:
                raise NotFoundError(
                    f"No integration named {slug!r}.", hint="List them with sources.list()."
                )
            reviews: dict[str, ToolReview] = {}
            settings_review: IntegrationReview | None = None
            for held_row in await connection.execute(
                sa.select(t.tool_reviews).where(t.tool_reviews.c.integration_id == row.id)
            ):
                held = _held(held_row, slug)
                if isinstance(held, IntegrationReview):
                    settings_review = held
                else:
                    reviews[held.name] = held
            review_changes = bool(changes.get("review_changes", row.review_changes))
            served: dict[str, ToolDefinition] | None = None
            if review_changes or reviews:
                current = (
                    await connection.execute(
                        sa.select(t.tools).where(tool.integration_id == row.id)
                    )
                ).all()
                hashes = {item.name: item.definition_hash for item in current}
                served = {item.name: _definition(item) for item in current}
            else:
                current = (
                    await connection.execute(
                        sa.select(tool.name, tool.definition_hash).where(
                            tool.integration_id == row.id
                        )
                    )
                ).all()
                hashes = {item.name: item.definition_hash for item in current}
            state = ToolState(
                slug=slug,
                hashes=hashes,
                served=served,
                reviews=reviews,
                review_changes=review_changes,
                review_mode=changes.get("review_mode", row.review_mode),
                settings=_settings(row._mapping),
                settings_review=settings_review,
            )
            plan = await anyio.to_thread.run_sync(planner, state)
            _check_fields(plan.values)
            changes.update(plan.values)
            if "auth_methods" in plan.values:
                changes["auth_methods"] = _auth_methods_json(plan.values["auth_methods"])
            if plan.serve is not None:
                tools = list(plan.serve)
                rows = await anyio.to_thread.run_sync(_tool_rows, workspace_id, row.id, tools)
                changes["tool_count"] = len(tools)
                await self._delete_index(connection, row.id)
                await connection.execute(sa.delete(t.tools).where(tool.integration_id == row.id))
                await self._insert_tools(connection, slug, tools, rows, progress)
            await connection.execute(
                sa.update(t.integrations)
                .where(i.id == row.id)
                .values(**changes, updated_at=utcnow())
            )
            await connection.execute(
                sa.delete(t.tool_reviews).where(t.tool_reviews.c.integration_id == row.id)
            )
            held_rows = [_held_row(row.id, review) for review in plan.reviews]
            if plan.settings_review is not None:
                held_rows.append(_held_row(row.id, plan.settings_review))
            if held_rows:
                await connection.execute(sa.insert(t.tool_reviews), held_rows)
            await self._bump_catalog(connection, workspace_id)
        return plan

    async def list_tool_reviews(
        self,
        workspace_id: str,
        integration: str | None = None,
        *,
        status: Literal["pending", "rejected"] | None = "pending",
    ) -> list[ToolReview | IntegrationReview]:
        """Held changes ordered by (integration slug, name): an integration's own change
        (named ``@integration``) before its tools'; ``status=None`` lists rejected ones too."""
        r = t.tool_reviews.c
        query = (
            sa.select(t.tool_reviews, t.integrations.c.slug)
            .join(t.integrations, t.integrations.c.id == r.integration_id)
            .where(t.integrations.c.workspace_id == workspace_id)
        )
        if integration is not None:
            query = query.where(t.integrations.c.slug == integration)
        if status is not None:
            query = query.where(r.status == status)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        # Sorted here, by code point: database collations disagree on where "@" goes.
        return [_held(row, row.slug) for row in sorted(rows, key=lambda r: (r.slug, r.name))]

    async def get_tool_review(
        self, workspace_id: str, integration: str, name: str
    ) -> ToolReview | None:
        """The held change of one tool (pending or rejected), or None."""
        r = t.tool_reviews.c
        query = (
            sa.select(t.tool_reviews)
            .join(t.integrations, t.integrations.c.id == r.integration_id)
            .where(
                t.integrations.c.workspace_id == workspace_id,
                t.integrations.c.slug == integration,
                r.name == name,
            )
        )
        async with self._transaction() as connection:
            row = (await connection.execute(query)).one_or_none()
        return None if row is None else _review(row, integration)

    def _tools_query(self, workspace_id: str) -> sa.Select[Any]:
        return (
            sa.select(t.tools, t.integrations.c.slug)
            .join(t.integrations, t.integrations.c.id == t.tools.c.integration_id)
            .where(t.integrations.c.workspace_id == workspace_id)
        )

    async def list_tool_definitions(
        self, workspace_id: str, integration: str | None = None
    ) -> list[StoredTool]:
        """Tool definitions, ordered by (integration slug, name)."""
        query = self._tools_query(workspace_id).order_by(t.integrations.c.slug, t.tools.c.name)
        if integration is not None:
            query = query.where(t.integrations.c.slug == integration)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [StoredTool(row.integration_id, row.slug, _definition(row)) for row in rows]

    async def get_tool_definition(
        self, workspace_id: str, integration: str, name: str
    ) -> StoredTool | None:
        """One tool definition, or None."""
        query = self._tools_query(workspace_id).where(
            t.integrations.c.slug == integration, t.tools.c.name == name
        )
        async with self._transaction() as connection:
            row = (await connection.execute(query)).one_or_none()
        return None if row is None else StoredTool(row.integration_id, row.slug, _definition(row))

    async def get_tool_definitions(
        self, workspace_id: str, keys: Sequence[tuple[str, str]]
    ) -> list[StoredTool]:
        """The definitions of ``(integration slug, tool name)`` pairs, in the order given;
        pairs that do not exist are left out."""
        if not keys:
            return []
        query = self._tools_query(workspace_id).where(
            sa.tuple_(t.integrations.c.slug, t.tools.c.name).in_(list(keys))
        )
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        found = {
            (row.slug, row.name): StoredTool(row.integration_id, row.slug, _definition(row))
            for row in rows
        }
        return [found[key] for key in keys if key in found]

    async def tool_hashes(self, workspace_id: str, integration: str) -> dict[str, str]:
        """``{tool name: definition hash}`` of an integration, to diff a refresh against."""
        query = (
            sa.select(t.tools.c.name, t.tools.c.definition_hash)
            .join(t.integrations, t.integrations.c.id == t.tools.c.integration_id)
            .where(
                t.integrations.c.workspace_id == workspace_id,
                t.integrations.c.slug == integration,
            )
        )
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return {name: digest for name, digest in rows}

    async def tool_names(self, workspace_id: str) -> list[tuple[str, str]]:
        """Every ``(integration slug, tool name)`` in the workspace (cheap; for suggestions)."""
        query = (
            sa.select(t.integrations.c.slug, t.tools.c.name)
            .join(t.integrations, t.integrations.c.id == t.tools.c.integration_id)
            .where(t.integrations.c.workspace_id == workspace_id)
            .order_by(t.integrations.c.slug, t.tools.c.name)
        )
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [(slug, name) for slug, name in rows]

    async def search_tools(
        self,
        workspace_id: str,
        query: str,
        *,
        integration: str | None = None,
        limit: int = 10,
    ) -> list[ToolMatch]:
        """Full-text search with field weights (name, tags > summary > description).

        Ranked identically on SQLite and PostgreSQL (see :mod:`executor.store.search`). Any
        text is a valid query; text with no searchable word returns no matches.
        """
        matches, _ = await self.search_tools_scored(
            workspace_id, query, integration=integration, limit=limit
        )
        return matches

    async def search_tools_scored(
        self,
        workspace_id: str,
        query: str,
        *,
        integration: str | None = None,
        limit: int = 10,
    ) -> tuple[list[ToolMatch], bool]:
        """Like :meth:`search_tools`, plus whether the best match is a good one.

        The verdict is False when nothing matched, or when the top hit covers too little of
        the query in its name, tags or summary (``send email`` over GitHub) — the caller can
        then say "no good match" instead of offering noise.
        """

        def run(connection: sa.Connection) -> search.SearchOutcome:
            return search.search(
                connection, workspace_id, query, integration=integration, limit=limit
            )

        outcome = await self._run_read(run)
        matches = [ToolMatch(slug, name, score) for slug, name, score in outcome.matches]
        return matches, outcome.is_good_match

    # -- connections -----------------------------------------------------------------------------

    def _connections_query(self, workspace_id: str) -> sa.Select[Any]:
        return (
            sa.select(t.connections, t.integrations.c.slug)
            .join(t.integrations, t.integrations.c.id == t.connections.c.integration_id)
            .where(t.connections.c.workspace_id == workspace_id)
        )

    async def create_connection(
        self,
        workspace_id: str,
        *,
        integration: str,
        name: str,
        auth: dict[str, Any],
        settings: dict[str, Any],
        user_id: str | None,
    ) -> Connection:
        """Add a connection to an integration.

        Raises NotFoundError when the integration does not exist and AlreadyExistsError when
        it has a connection of this name. ``auth`` must hold secret references only.
        """
        taken = AlreadyExistsError(
            f"Integration {integration!r} has a connection named {name!r} already.",
            hint="Pick another name, or delete the existing connection first.",
        )
        connection_id = new_id()
        async with self._transaction(write=True) as connection:
            integration_id = await self._integration_id(connection, workspace_id, integration)
            with self._errors(conflict=taken):
                await connection.execute(
                    sa.insert(t.connections).values(
                        id=connection_id,
                        workspace_id=workspace_id,
                        integration_id=integration_id,
                        name=name,
                        auth=auth,
                        settings=settings,
                        user_id=user_id,
                        created_at=utcnow(),
                    )
                )
            await self._bump_catalog(connection, workspace_id)
            row = (
                await connection.execute(
                    self._connections_query(workspace_id).where(t.connections.c.id == connection_id)
                )
            ).one()
        return _connection(row)

    async def list_connections(
        self, workspace_id: str, integration: str | None = None
    ) -> list[Connection]:
        """Connections ordered by (integration slug, name)."""
        query = self._connections_query(workspace_id).order_by(
            t.integrations.c.slug, t.connections.c.name
        )
        if integration is not None:
            query = query.where(t.integrations.c.slug == integration)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [_connection(row) for row in rows]

    async def get_connection(
        self, workspace_id: str, integration: str, name: str
    ) -> Connection | None:
        """One connection, or None."""
        query = self._connections_query(workspace_id).where(
            t.integrations.c.slug == integration, t.connections.c.name == name
        )
        async with self._transaction() as connection:
            row = (await connection.execute(query)).one_or_none()
        return None if row is None else _connection(row)

    async def _connection_id(
        self, connection: AsyncConnection, workspace_id: str, integration: str, name: str
    ) -> str | None:
        query = (
            sa.select(t.connections.c.id)
            .join(t.integrations, t.integrations.c.id == t.connections.c.integration_id)
            .where(
                t.connections.c.workspace_id == workspace_id,
                t.integrations.c.slug == integration,
                t.connections.c.name == name,
            )
        )
        value = (await connection.execute(query)).scalar_one_or_none()
        return None if value is None else str(value)

    async def delete_connection(self, workspace_id: str, integration: str, name: str) -> bool:
        """Delete a connection; False when there was none."""
        async with self._transaction(write=True) as connection:
            connection_id = await self._connection_id(connection, workspace_id, integration, name)
            if connection_id is None:
                return False
            await connection.execute(
                sa.delete(t.connections).where(t.connections.c.id == connection_id)
            )
            await self._bump_catalog(connection, workspace_id)
        return True

    async def set_connection_health(
        self,
        workspace_id: str,
        integration: str,
        name: str,
        *,
        status: ConnectionStatus,
        last_error: str | None = None,
    ) -> None:
        """Record what a check of the connection found (``last_error``: one line, no secrets)."""
        if status not in CONNECTION_STATUSES:
            raise InvalidInputError(
                f"{status!r} is not a connection status.",
                hint=f"Use one of {', '.join(CONNECTION_STATUSES)}.",
            )
        async with self._transaction(write=True) as connection:
            connection_id = await self._connection_id(connection, workspace_id, integration, name)
            if connection_id is None:
                raise NotFoundError(f"Integration {integration!r} has no connection {name!r}.")
            await connection.execute(
                sa.update(t.connections)
                .where(t.connections.c.id == connection_id)
                .values(status=status, last_error=last_error, checked_at=utcnow())
            )

    async def get_connection_health(
        self, workspace_id: str, integration: str, name: str
    ) -> ConnectionHealth | None:
        """The recorded health of a connection, or None when there is no such connection."""
        query = self._connections_query(workspace_id).where(
            t.integrations.c.slug == integration, t.connections.c.name == name
        )
        async with self._transaction() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            return None
        return ConnectionHealth(row.status, row.last_error, row.checked_at)

    # -- policies --------------------------------------------------------------------------------

    @staticmethod
    def _policy_group(workspace_id: str, scope: PolicyScope, user_id: str | None) -> Any:
        p = t.policies.c
        user = p.user_id.is_(None) if user_id is None else p.user_id == user_id
        return sa.and_(p.workspace_id == workspace_id, p.scope == scope, user)

    async def add_policy(
        self,
        workspace_id: str,
        *,
        scope: PolicyScope,
        pattern: str,
        action: PolicyAction,
        user_id: str | None,
        position: int | None,
    ) -> Policy:
        """Insert a rule at ``position`` (None: last in its scope); later rules shift down.

        Positions count from 0 within a scope (the workspace's rules, or one user's rules) and
        stay dense; a position past the end means last.
        """
        if action not in POLICY_ACTIONS:
            raise InvalidInputError(
                f"{action!r} is not a policy action.",
                hint=f"Use one of {', '.join(POLICY_ACTIONS)}.",
            )
        if scope not in ("workspace", "user"):
            raise InvalidInputError(
                f"{scope!r} is not a policy scope.", hint="Use workspace or user."
            )
        if (scope == "user") != (user_id is not None):
            raise InvalidInputError(
                "A user rule needs a user id, and a workspace rule must not have one."
            )
        if position is not None and position < 0:
            raise InvalidInputError(f"Position {position} is negative.", hint="Use 0 for first.")
        group = self._policy_group(workspace_id, scope, user_id)
        policy_id = new_id()
        async with self._transaction(write=True) as connection:
            count = (
                await connection.execute(
                    sa.select(sa.func.count()).select_from(t.policies).where(group)
                )
            ).scalar_one()
            at = count if position is None else min(position, count)
            await connection.execute(
                sa.update(t.policies)
                .where(group, t.policies.c.position >= at)
                .values(position=t.policies.c.position + 1)
            )
            await connection.execute(
                sa.insert(t.policies).values(
                    id=policy_id,
                    workspace_id=workspace_id,
                    scope=scope,
                    user_id=user_id,
                    pattern=pattern,
                    action=action,
                    position=at,
                    created_at=utcnow(),
                )
            )
            await self._bump_catalog(connection, workspace_id)
            row = (
                await connection.execute(sa.select(t.policies).where(t.policies.c.id == policy_id))
            ).one()
        return _policy(row)

    async def list_policies(self, workspace_id: str) -> list[Policy]:
        """All rules, ordered by scope (workspace first, then each user's) then position."""
        p = t.policies.c
        scope_order = sa.case((p.scope == "workspace", 0), else_=1)
        query = (
            sa.select(t.policies)
            .where(p.workspace_id == workspace_id)
            .order_by(scope_order, p.user_id, p.position)
        )
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [_policy(row) for row in rows]

    async def delete_policy(self, workspace_id: str, policy_id: str) -> bool:
        """Delete a rule and close the gap it leaves; False when there was none."""
        p = t.policies.c
        async with self._transaction(write=True) as connection:
            row = (
                await connection.execute(
                    sa.select(t.policies).where(p.workspace_id == workspace_id, p.id == policy_id)
                )
            ).one_or_none()
            if row is None:
                return False
            await connection.execute(sa.delete(t.policies).where(p.id == policy_id))
            await connection.execute(
                sa.update(t.policies)
                .where(
                    self._policy_group(workspace_id, row.scope, row.user_id),
                    p.position > row.position,
                )
                .values(position=p.position - 1)
            )
            await self._bump_catalog(connection, workspace_id)
        return True

    # -- toolkits --------------------------------------------------------------------------------

    async def create_toolkit(
        self,
        workspace_id: str,
        *,
        slug: str,
        description: str,
        patterns: Sequence[str],
        policies: Sequence[ToolkitPolicy],
    ) -> Toolkit:
        """Insert a toolkit; AlreadyExistsError when the slug is taken in the workspace."""
        taken = AlreadyExistsError(
            f"A toolkit named {slug!r} exists already.",
            hint="Pick another slug, or update or remove the existing toolkit.",
        )
        now = utcnow()
        toolkit_id = new_id()
        async with self._transaction(write=True) as connection:
            with self._errors(conflict=taken):
                await connection.execute(
                    sa.insert(t.toolkits).values(
                        id=toolkit_id,
                        workspace_id=workspace_id,
                        slug=slug,
                        description=description,
                        patterns=list(patterns),
                        policies=_toolkit_policies_json(policies),
                        created_at=now,
                        updated_at=now,
                    )
                )
            await self._bump_catalog(connection, workspace_id)
            row = (
                await connection.execute(sa.select(t.toolkits).where(t.toolkits.c.id == toolkit_id))
            ).one()
        return _toolkit(row)

    async def update_toolkit(
        self,
        workspace_id: str,
        slug: str,
        *,
        description: str | None = None,
        patterns: Sequence[str] | None = None,
        policies: Sequence[ToolkitPolicy] | None = None,
    ) -> Toolkit | None:
        """Change the given fields of a toolkit; None when there is no such toolkit."""
        values: dict[str, Any] = {"updated_at": utcnow()}
        if description is not None:
            values["description"] = description
        if patterns is not None:
            values["patterns"] = list(patterns)
        if policies is not None:
            values["policies"] = _toolkit_policies_json(policies)
        k = t.toolkits.c
        where = sa.and_(k.workspace_id == workspace_id, k.slug == slug)
        async with self._transaction(write=True) as connection:
            result = await connection.execute(sa.update(t.toolkits).where(where).values(values))
            if not result.rowcount:
                return None
            await self._bump_catalog(connection, workspace_id)
            row = (await connection.execute(sa.select(t.toolkits).where(where))).one()
        return _toolkit(row)

    async def get_toolkit(self, workspace_id: str, slug: str) -> Toolkit | None:
        """One toolkit, or None."""
        k = t.toolkits.c
        query = sa.select(t.toolkits).where(k.workspace_id == workspace_id, k.slug == slug)
        async with self._transaction() as connection:
            row = (await connection.execute(query)).one_or_none()
        return None if row is None else _toolkit(row)

    async def list_toolkits(self, workspace_id: str) -> list[Toolkit]:
        """Every toolkit of the workspace, by slug."""
        k = t.toolkits.c
        query = sa.select(t.toolkits).where(k.workspace_id == workspace_id).order_by(k.slug)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [_toolkit(row) for row in rows]

    async def delete_toolkit(self, workspace_id: str, slug: str) -> bool:
        """Delete a toolkit; False when there was none."""
        k = t.toolkits.c
        async with self._transaction(write=True) as connection:
            result = await connection.execute(
                sa.delete(t.toolkits).where(k.workspace_id == workspace_id, k.slug == slug)
            )
            if not result.rowcount:
                return False
            await self._bump_catalog(connection, workspace_id)
        return True

    # -- encrypted secrets (ciphertext only; the secrets package encrypts) -----------------------

    async def put_secret(self, workspace_id: str, name: str, ciphertext: bytes) -> None:
        """Insert or replace."""
        now = utcnow()
        statement = self._insert(t.secrets).values(
            id=new_id(),
            workspace_id=workspace_id,
            name=name,
            ciphertext=ciphertext,
            created_at=now,
            updated_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["workspace_id", "name"],
            set_={"ciphertext": statement.excluded.ciphertext, "updated_at": now},
        )
        async with self._transaction(write=True) as connection:
            await connection.execute(statement)

    async def get_secret(self, workspace_id: str, name: str) -> bytes | None:
        """The ciphertext stored under ``name``, or None."""
        async with self._transaction() as connection:
            value = (
                await connection.execute(
                    sa.select(t.secrets.c.ciphertext).where(
                        t.secrets.c.workspace_id == workspace_id, t.secrets.c.name == name
                    )
                )
            ).scalar_one_or_none()
        return None if value is None else bytes(value)

    async def list_secret_names(self, workspace_id: str) -> list[str]:
        """Names of the stored secrets, sorted."""
        async with self._transaction() as connection:
            rows = (
                await connection.execute(
                    sa.select(t.secrets.c.name)
                    .where(t.secrets.c.workspace_id == workspace_id)
                    .order_by(t.secrets.c.name)
                )
            ).scalars()
            return list(rows)

    async def delete_secret(self, workspace_id: str, name: str) -> bool:
        """Delete a secret; False when there was none."""
        async with self._transaction(write=True) as connection:
            result = await connection.execute(
                sa.delete(t.secrets).where(
                    t.secrets.c.workspace_id == workspace_id, t.secrets.c.name == name
                )
            )
        return bool(result.rowcount)


# -- engines -------------------------------------------------------------------------------------


_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    "PRAGMA synchronous=NORMAL",
)


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        mode: Literal["DEFERRED", "IMMEDIATE"] = connection.get_execution_options().get(
            "sqlite_begin", "DEFERRED"
        )
        connection.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_engines(url: URL) -> tuple[AsyncEngine, sa.Engine | None]:
    database = url.database
    if database in (None, "", ":memory:"):
        # One shared connection keeps an in-memory database alive between transactions; no
        # second engine could see it.
        engine = create_async_engine(url, hide_parameters=True, poolclass=StaticPool)
        _configure_sqlite(engine.sync_engine)
        return engine, None
    assert database is not None
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, hide_parameters=True)
    _configure_sqlite(engine.sync_engine)
    reader = sa.create_engine(
        url.set(drivername="sqlite+pysqlite"),
        hide_parameters=True,
        connect_args={"check_same_thread": False},
    )
    _configure_sqlite(reader)
    return engine, reader


def _postgres_engine(url: URL, schema: str | None) -> AsyncEngine:
    connect_args: dict[str, Any] = {"timeout": 10}
    if schema is not None:
        connect_args["server_settings"] = {"search_path": f'"{schema}"'}
    return create_async_engine(
        url, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args
    )


async def _create_schema(url: URL, schema: str) -> None:
    # A separate engine, because the main one must first see the schema existing when it sets
    # up its connections (its search_path names it).
    engine = create_async_engine(url, hide_parameters=True, connect_args={"timeout": 10})
    try:
        with translate_errors(url):
            async with engine.begin() as connection:
                await connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await engine.dispose()
