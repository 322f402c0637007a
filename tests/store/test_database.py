"""The store on SQLite and PostgreSQL: round trips, cascades, atomic refresh, errors."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from executor.errors import AlreadyExistsError, InvalidInputError, NotFoundError, StorageError
from executor.models import AuthMethod, ToolDefinition
from executor.store import Store
from executor.store.database import definition_hash
from tests.conftest import POSTGRES_URL
from tests.servers import free_port
from tests.store.conftest import Opened

SPEC = b'{"openapi": "3.0.3", "info": {"title": "Pets"}}' * 200


def tool(name: str, summary: str = "", description: str = "", **extra: object) -> ToolDefinition:
    return ToolDefinition(
        name=name,
        summary=summary or name,
        description=description,
        input_schema={"type": "object", "properties": {"id": {"type": "integer"}}},
        **extra,  # type: ignore[arg-type]
    )


PETS = [
    tool(
        "pets.list",
        "List pets",
        "All the pets.",
        output_schema={"type": "array"},
        tags=("pets",),
        is_read_only=True,
        binding={"method": "GET", "path": "/pets"},
    ),
    tool(
        "pets.delete",
        "Delete a pet",
        default_policy="require_approval",
        is_destructive=True,
        binding={"method": "DELETE", "path": "/pets/{id}"},
    ),
]


async def add_pets(opened: Opened, slug: str = "petstore", tools: list[ToolDefinition] = PETS):
    return await opened.store.create_integration(
        opened.workspace_id,
        slug=slug,
        kind="openapi",
        title="Pet Store",
        summary="Pets and their owners",
        config={"base_url": "http://127.0.0.1:9/api", "options": {"a": [1, 2]}},
        spec=SPEC,
        auth_methods=[AuthMethod("api_key", "api_key", location="header", name="X-Key")],
        tools=tools,
    )


async def test_local_workspace_is_created_once(opened: Opened) -> None:
    again = await opened.store.ensure_local_workspace()
    assert again == (opened.workspace_id, opened.user_id)


async def test_integration_round_trips_with_tools_and_compressed_spec(opened: Opened) -> None:
    created = await add_pets(opened)
    store, workspace = opened.store, opened.workspace_id

    fetched = await store.get_integration(workspace, "petstore")
    assert fetched == created
    assert fetched.tool_count == 2
    assert fetched.config == {"base_url": "http://127.0.0.1:9/api", "options": {"a": [1, 2]}}
    assert fetched.auth_methods == (
        AuthMethod("api_key", "api_key", location="header", name="X-Key"),
    )
    assert fetched.created_at.tzinfo is not None
    assert await store.list_integrations(workspace) == [created]
    assert await store.load_spec(workspace, "petstore") == SPEC

    stored = await store.list_tool_definitions(workspace)
    assert [(item.integration, item.definition) for item in stored] == [
        ("petstore", PETS[1]),
        ("petstore", PETS[0]),
    ]
    one = await store.get_tool_definition(workspace, "petstore", "pets.list")
    assert one is not None and one.definition == PETS[0] and one.integration_id == created.id
    assert await store.get_tool_definition(workspace, "petstore", "pets.nope") is None
    assert await store.tool_names(workspace) == [
        ("petstore", "pets.delete"),
        ("petstore", "pets.list"),
    ]
    assert await store.tool_hashes(workspace, "petstore") == {
        definition.name: definition_hash(definition) for definition in PETS
    }


async def test_spec_is_stored_compressed_not_verbatim(opened: Opened, database) -> None:
    await add_pets(opened)
    import sqlalchemy as sa

    from executor.store import tables as t

    async with opened.store._transaction() as connection:
        raw = (await connection.execute(sa.select(t.integrations.c.spec))).scalar_one()
    assert len(raw) < len(SPEC) / 10


async def test_duplicate_integration_slug_is_refused(opened: Opened) -> None:
    await add_pets(opened)
    with pytest.raises(AlreadyExistsError, match="'petstore' exists already"):
        await add_pets(opened)


async def test_deleting_an_integration_removes_its_tools_connections_and_index(
    opened: Opened,
) -> None:
    store, workspace = opened.store, opened.workspace_id
    await add_pets(opened)
    await add_pets(opened, slug="other")
    await store.create_connection(
        workspace, integration="petstore", name="default", auth={}, settings={}, user_id=None
    )
    await store.create_connection(
        workspace, integration="other", name="default", auth={}, settings={}, user_id=None
    )

    assert await store.delete_integration(workspace, "petstore") is True
    assert await store.delete_integration(workspace, "petstore") is False

    assert await store.get_integration(workspace, "petstore") is None
    assert await store.list_tool_definitions(workspace, "petstore") == []
    assert [c.integration for c in await store.list_connections(workspace)] == ["other"]
    assert {match.integration for match in await store.search_tools(workspace, "pets")} == {"other"}
    assert await store.load_spec(workspace, "petstore") is None


async def test_refresh_replaces_tools_and_their_index(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    created = await add_pets(opened)
    new_tools = [tool("owners.list", "List owners", tags=("owners",))]

    refreshed = await store.replace_integration(
        workspace,
        "petstore",
        title="Pet Store v2",
        summary="Owners only",
        config={"base_url": "http://127.0.0.1:9/v2"},
        spec=b"{}",
        auth_methods=[],
        tools=new_tools,
    )

    assert refreshed.id == created.id and refreshed.created_at == created.created_at
    assert refreshed.updated_at >= created.updated_at
    assert (refreshed.title, refreshed.tool_count, refreshed.auth_methods) == (
        "Pet Store v2",
        1,
        (),
    )
    assert [s.definition for s in await store.list_tool_definitions(workspace)] == new_tools
    assert await store.load_spec(workspace, "petstore") == b"{}"
    assert await store.search_tools(workspace, "pets delete") == []
    assert [m.name for m in await store.search_tools(workspace, "owners")] == ["owners.list"]


async def test_failing_refresh_leaves_the_old_tools_untouched(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    created = await add_pets(opened)
    before_search = await store.search_tools(workspace, "delete pet")

    twice = [tool("owners.list"), tool("owners.get"), tool("owners.list")]
    with pytest.raises(AlreadyExistsError, match=r"'owners\.list' appear more than once"):
        await store.replace_integration(
            workspace,
            "petstore",
            title="Broken",
            summary="",
            config={},
            spec=None,
            auth_methods=[],
            tools=twice,
        )

    assert await store.get_integration(workspace, "petstore") == created
    assert [s.definition for s in await store.list_tool_definitions(workspace)] == [
        PETS[1],
        PETS[0],
    ]
    assert await store.load_spec(workspace, "petstore") == SPEC
    assert await store.search_tools(workspace, "delete pet") == before_search != []


async def test_refreshing_a_missing_integration_says_so(opened: Opened) -> None:
    with pytest.raises(NotFoundError, match="No integration named 'ghost'"):
        await opened.store.replace_integration(
            opened.workspace_id,
            "ghost",
            title="",
            summary="",
            config={},
            spec=None,
            auth_methods=[],
            tools=[],
        )


async def test_connections_round_trip_with_secret_references(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    await add_pets(opened)
    auth = {"method": "api_key", "secrets": {"key": "secret://petstore/work"}}
    work = await store.create_connection(
        workspace,
        integration="petstore",
        name="work",
        auth=auth,
        settings={"timeout": 5},
        user_id=opened.user_id,
    )
    default = await store.create_connection(
        workspace, integration="petstore", name="default", auth={}, settings={}, user_id=None
    )

    assert (work.integration, work.name, work.auth, work.settings, work.user_id) == (
        "petstore",
        "work",
        auth,
        {"timeout": 5},
        opened.user_id,
    )
    assert await store.get_connection(workspace, "petstore", "work") == work
    assert await store.get_connection(workspace, "petstore", "nope") is None
    assert await store.list_connections(workspace) == [default, work]
    assert await store.list_connections(workspace, "other") == []
    assert await store.delete_connection(workspace, "petstore", "work") is True
    assert await store.delete_connection(workspace, "petstore", "work") is False
    assert await store.list_connections(workspace, "petstore") == [default]


async def test_duplicate_connection_name_is_refused(opened: Opened) -> None:
    await add_pets(opened)
    kwargs = {"integration": "petstore", "name": "work", "auth": {}, "settings": {}}
    await opened.store.create_connection(opened.workspace_id, user_id=None, **kwargs)
    with pytest.raises(AlreadyExistsError, match="connection named 'work' already"):
        await opened.store.create_connection(opened.workspace_id, user_id=None, **kwargs)


async def test_connection_to_unknown_integration_is_not_found(opened: Opened) -> None:
    with pytest.raises(NotFoundError, match="No integration named 'ghost'"):
        await opened.store.create_connection(
            opened.workspace_id, integration="ghost", name="x", auth={}, settings={}, user_id=None
        )


async def test_connection_health_starts_unknown_and_records_checks(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    await add_pets(opened)
    await store.create_connection(
        workspace, integration="petstore", name="work", auth={}, settings={}, user_id=None
    )
    health = await store.get_connection_health(workspace, "petstore", "work")
    assert health is not None and (health.status, health.checked_at) == ("unknown", None)

    await store.set_connection_health(
        workspace, "petstore", "work", status="needs_auth", last_error="401 from upstream"
    )
    health = await store.get_connection_health(workspace, "petstore", "work")
    assert health is not None
    assert (health.status, health.last_error) == ("needs_auth", "401 from upstream")
    assert health.checked_at is not None
    with pytest.raises(InvalidInputError):
        await store.set_connection_health(workspace, "petstore", "work", status="fine")


async def test_policies_keep_dense_ordered_positions_per_scope(opened: Opened) -> None:
    store, workspace, user = opened.store, opened.workspace_id, opened.user_id

    async def add(pattern: str, position: int | None, *, personal: bool = False):
        return await store.add_policy(
            workspace,
            scope="user" if personal else "workspace",
            pattern=pattern,
            action="block",
            user_id=user if personal else None,
            position=position,
        )

    await add("a.*", None)
    await add("c.*", None)
    await add("b.*", 1)
    first = await add("z.*", 0)
    await add("mine.*", None, personal=True)
    await add("late.*", 99)

    policies = await store.list_policies(workspace)
    assert [(p.scope, p.pattern, p.position) for p in policies] == [
        ("workspace", "z.*", 0),
        ("workspace", "a.*", 1),
        ("workspace", "b.*", 2),
        ("workspace", "c.*", 3),
        ("workspace", "late.*", 4),
        ("user", "mine.*", 0),
    ]
    assert policies[0] == first and policies[-1].user_id == user

    assert await store.delete_policy(workspace, first.id) is True
    assert await store.delete_policy(workspace, first.id) is False
    assert [(p.pattern, p.position) for p in await store.list_policies(workspace)][:2] == [
        ("a.*", 0),
        ("b.*", 1),
    ]


async def test_policy_with_unknown_action_is_refused(opened: Opened) -> None:
    with pytest.raises(InvalidInputError, match="not a policy action"):
        await opened.store.add_policy(
            opened.workspace_id,
            scope="workspace",
            pattern="*",
            action="maybe",  # type: ignore[arg-type]
            user_id=None,
            position=None,
        )


async def test_secrets_store_ciphertext_and_replace_it(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    await store.put_secret(workspace, "petstore/work", b"\x00cipher-1")
    await store.put_secret(workspace, "github/token", b"cipher-2")
    await store.put_secret(workspace, "petstore/work", b"cipher-3")

    assert await store.get_secret(workspace, "petstore/work") == b"cipher-3"
    assert await store.get_secret(workspace, "nope") is None
    assert await store.list_secret_names(workspace) == ["github/token", "petstore/work"]
    assert await store.delete_secret(workspace, "github/token") is True
    assert await store.delete_secret(workspace, "github/token") is False
    assert await store.list_secret_names(workspace) == ["petstore/work"]


async def test_recorded_call_is_a_completed_run_with_one_tool_call(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    run_id = uuid.uuid4().hex
    before = datetime.now(UTC)
    await store.record_call(
        workspace,
        run_id=run_id,
        caller="cli",
        address="petstore.default.pets.list",
        arguments={"limit": 5, "token": "[redacted]"},
        decision="allow",
        outcome="ok",
        duration_ms=12.5,
    )

    run = await store.get_run(workspace, run_id)
    assert run is not None
    assert (run.kind, run.caller, run.status) == ("call", "cli", "completed")
    assert run.created_at >= before.replace(microsecond=0)
    (call,) = run.calls
    assert (call.seq, call.address, call.arguments, call.decision, call.outcome) == (
        0,
        "petstore.default.pets.list",
        {"limit": 5, "token": "[redacted]"},
        "allow",
        "ok",
    )
    assert call.duration_ms == 12.5
    assert [r.id for r in await store.list_runs(workspace)] == [run_id]
    assert await store.get_run(workspace, "nope") is None

    with pytest.raises(AlreadyExistsError):
        await store.record_call(
            workspace,
            run_id=run_id,
            caller="cli",
            address="x.y.z",
            arguments={},
            decision="allow",
            outcome="ok",
            duration_ms=1,
        )


async def test_sqlite_store_creates_its_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "executor.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        async with store._transaction() as connection:
            mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
        assert (mode, keys) == ("wal", 1)
    finally:
        await store.close()
    assert path.exists()


async def test_unreachable_postgres_is_one_clear_storage_error() -> None:
    port = free_port()  # nothing listens there once free_port returns
    with pytest.raises(StorageError) as caught:
        await Store.open(f"postgresql+asyncpg://postgres:hunter2@127.0.0.1:{port}/test")
    message = str(caught.value)
    assert f"PostgreSQL at 127.0.0.1:{port}/test" in message
    assert "EXECUTOR_DATABASE_URL" in message
    assert "\n" not in message and "hunter2" not in message


async def test_schema_for_sqlite_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", schema="nope")


@pytest.mark.skipif("EXECUTOR_TEST_POSTGRES_URL" in os.environ, reason="uses the default server")
async def test_postgres_schema_holds_every_table() -> None:
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    store = await Store.open(POSTGRES_URL, schema=schema)
    await store.close()
    connection = await asyncpg.connect(
        POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        names = {
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        }
    finally:
        await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await connection.close()
    assert {"alembic_version", "integrations", "tools", "tool_search", "runs"} <= names


async def test_two_processes_writing_one_sqlite_file_wait_instead_of_failing(
    tmp_path: Path,
) -> None:
    import anyio

    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    first, second = await Store.open(url), await Store.open(url)
    try:
        workspace, _ = await first.ensure_local_workspace()

        async def write(store: Store, prefix: str) -> None:
            for index in range(25):
                await store.put_secret(workspace, f"{prefix}{index}", b"x")

        async with anyio.create_task_group() as group:
            group.start_soon(write, first, "a")
            group.start_soon(write, second, "b")
        assert len(await second.list_secret_names(workspace)) == 50
    finally:
        await first.close()
        await second.close()


async def test_definitions_are_fetched_in_the_order_asked_skipping_unknown_ones(
    opened: Opened,
) -> None:
    store, workspace = opened.store, opened.workspace_id
    await add_pets(opened)
    keys = [("petstore", "pets.delete"), ("petstore", "nope"), ("other", "pets.list")]
    keys.append(("petstore", "pets.list"))
    found = await store.get_tool_definitions(workspace, keys)
    assert [s.definition.name for s in found] == ["pets.delete", "pets.list"]
    assert await store.get_tool_definitions(workspace, []) == []


async def test_every_catalog_change_moves_the_catalog_version(opened: Opened) -> None:
    store, workspace = opened.store, opened.workspace_id
    seen = [await store.catalog_version(workspace)]

    async def moved() -> bool:
        seen.append(await store.catalog_version(workspace))
        return seen[-1] > seen[-2]

    await add_pets(opened)
    assert await moved()
    await store.create_connection(
        workspace, integration="petstore", name="work", auth={}, settings={}, user_id=None
    )
    assert await moved()
    policy = await store.add_policy(
        workspace, scope="workspace", pattern="*", action="allow", user_id=None, position=None
    )
    assert await moved()
    await store.delete_policy(workspace, policy.id)
    assert await moved()
    await store.delete_connection(workspace, "petstore", "work")
    assert await moved()
    await store.replace_integration(
        workspace,
        "petstore",
        title="t",
        summary="s",
        config={},
        spec=None,
        auth_methods=[],
        tools=PETS[:1],
    )
    assert await moved()
    await store.put_secret(workspace, "unrelated", b"x")
    assert not await moved()
    await store.delete_integration(workspace, "petstore")
    assert await moved()
