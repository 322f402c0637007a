"""Migrations: an old database upgrades without losing anything; tables.py matches them."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from executor.models import AuthMethod, ToolDefinition
from executor.store import Store, migrations
from executor.store import tables as t
from executor.store.database import _tool_rows
from tests.conftest import Database

ISSUES = ToolDefinition(
    name="issues.create",
    summary="Create an issue",
    description="Opens a new issue.",
    input_schema={"type": "object", "required": ["title"]},
    tags=("issues",),
    default_policy="require_approval",
)


async def test_opening_an_old_database_upgrades_it_without_loss(database: Database) -> None:
    old = await Store.connect(database.url, schema=database.schema)
    try:
        await old.migrate("0001")
        assert await old.revision() == "0001"

        # The code that wrote revision-0001 databases had no catalog version to move.
        async def no_catalog_version(*args: object) -> None:
            return None

        old._bump_catalog = no_catalog_version  # type: ignore[method-assign]
        workspace, user = await old.ensure_local_workspace()
        # Revision 0001 has no review columns (0006) on integrations nor health columns (0002)
        # on connections, so write those rows the way 0001 knew them.
        async with old._transaction(write=True) as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO integrations (id, workspace_id, slug, kind, title, summary, "
                    "config, auth_methods, spec, tool_count, created_at, updated_at) VALUES "
                    "('i1', :w, 'github', 'openapi', 'GitHub', '', :config, :auth, :spec, 1, "
                    ":now, :now)"
                ),
                {
                    "w": workspace,
                    "config": '{"base_url":"https://api.github.com"}',
                    "auth": '[{"description":"","extras":{},"id":"token","location":null,'
                    '"name":null,"type":"bearer"}]',
                    "spec": zlib.compress(b"{...}"),
                    "now": datetime.now(UTC),
                },
            )
            await old._insert_tools(
                connection, "github", [ISSUES], _tool_rows(workspace, "i1", [ISSUES])
            )
            await connection.execute(
                sa.text(
                    "INSERT INTO connections (id, workspace_id, integration_id, name, auth, "
                    "settings, user_id, created_at) VALUES ('c1', :w, 'i1', 'work', "
                    "'{\"token\":\"secret://github/work\"}', '{}', :u, :now)"
                ),
                {"w": workspace, "u": user, "now": datetime.now(UTC)},
            )
        await old.put_secret(workspace, "github/work", b"ciphertext")
        await old.add_policy(
            workspace,
            scope="workspace",
            pattern="github.*",
            action="allow",
            user_id=None,
            position=None,
        )
        await old.record_call(
            workspace,
            run_id="run-1",
            caller="cli",
            address="github.work.issues.create",
            arguments={"title": "x"},
            decision="require_approval",
            outcome="ok",
            duration_ms=3.0,
        )
    finally:
        await old.close()

    store = await Store.open(database.url, schema=database.schema)
    try:
        assert await store.revision() == migrations.head() == "0006"
        assert await store.ensure_local_workspace() == (workspace, user)
        assert await store.catalog_version(workspace) == 0
        integration = await store.get_integration(workspace, "github")
        assert integration is not None
        assert (integration.id, integration.title, integration.tool_count) == ("i1", "GitHub", 1)
        assert integration.config == {"base_url": "https://api.github.com"}
        assert integration.auth_methods == (AuthMethod("token", "bearer"),)
        # Integrations from before revision 0006 keep refresh applying changes directly.
        assert (integration.review_changes, integration.review_mode) == (False, "serve_reviewed")
        assert [s.definition for s in await store.list_tool_definitions(workspace)] == [ISSUES]
        assert await store.load_spec(workspace, "github") == b"{...}"
        (connection,) = await store.list_connections(workspace)
        assert (connection.name, connection.auth, connection.user_id) == (
            "work",
            {"token": "secret://github/work"},
            user,
        )
        health = await store.get_connection_health(workspace, "github", "work")
        assert health is not None and health.status == "unknown"
        assert await store.get_secret(workspace, "github/work") == b"ciphertext"
        assert [p.pattern for p in await store.list_policies(workspace)] == ["github.*"]
        run = await store.get_run(workspace, "run-1")
        assert run is not None and run.calls[0].arguments == {"title": "x"}
        assert run.pending is None
        assert [m.name for m in await store.search_tools(workspace, "create issue")] == [
            "issues.create"
        ]
        async with store._transaction() as connection:
            indexes = await connection.run_sync(
                lambda sync: {index["name"] for index in sa.inspect(sync).get_indexes("runs")}
            )
        assert "ix_runs_workspace_created" in indexes
    finally:
        await store.close()


async def test_opening_an_up_to_date_database_again_changes_nothing(database: Database) -> None:
    for _ in range(2):
        store = await Store.open(database.url, schema=database.schema)
        try:
            assert await store.revision() == migrations.head()
        finally:
            await store.close()


async def test_tables_module_matches_the_migrated_schema(database: Database) -> None:
    store = await Store.open(database.url, schema=database.schema)

    def differences(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            diff
            for diff in compare_metadata(context, t.metadata)
            # The search table is dialect-specific DDL (FTS5 / generated tsvector) on purpose.
            if "tool_search" not in repr(diff)
        ]

    try:
        async with store._transaction() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await store.close()
