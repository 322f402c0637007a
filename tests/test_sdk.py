"""The Python SDK end to end: a real pet store API on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import executor
from executor import ApprovalRequest, Executor, SyncExecutor
from tests.conftest import Database, database_dump
from tests.servers.petstore import PetStore


async def _add_petstore(ex: Executor, petstore: tuple[PetStore, str]) -> PetStore:
    store, url = petstore
    await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
    await ex.connections.create(
        "petstore", "work", auth={"type": "api_key", "value": store.api_key}
    )
    return store


def test_public_api_is_sorted_and_complete() -> None:
    assert executor.__all__ == sorted(executor.__all__)
    for name in executor.__all__:
        assert hasattr(executor, name), name


async def test_added_openapi_source_can_be_searched_and_called(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(ex, petstore)
    store.pets[7] = {"id": 7, "name": "Rex", "tag": "dog"}

    tools = await ex.tools.list("petstore")
    addresses = {tool.address for tool in tools}
    assert "petstore.work.pets.get_pet" in addresses or any(
        a.startswith("petstore.work.pets.") for a in addresses
    )
    results = await ex.tools.search("list all pets")
    assert results.is_good_match
    top = results.hits[0].tool
    assert top.address.startswith("petstore.work.pets.")

    listed = await ex.call(top.address, {"limit": 5})
    assert listed["ok"], listed
    assert listed["data"] == [{"id": 7, "name": "Rex", "tag": "dog"}]
    assert listed["http"]["status"] == 200
    assert listed["http"]["headers"]["x-total-count"] == "1"


async def test_source_without_security_gets_a_default_connection(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    store.spec.pop("security")
    store.spec["components"].pop("securitySchemes")
    await ex.sources.add_openapi("open", f"{url}/openapi.json")
    connections = await ex.connections.list("open")
    assert [c.name for c in connections] == ["default"]


async def test_write_call_needs_approval_and_the_callback_decides(
    database: Database, data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    answers: list[bool] = []
    asked: list[ApprovalRequest] = []

    def decide(request: ApprovalRequest) -> bool:
        asked.append(request)
        return answers.pop(0)

    async with Executor.open(
        **database.options(data_dir),
        on_approval=decide,
    ) as ex:
        store = await _add_petstore(ex, petstore)
        create = next(t.address for t in await ex.tools.list("petstore") if "create" in t.name)
        answers[:] = [False, True]
        declined = await ex.call(create, {"name": "Tom"})
        assert declined["error"]["code"] == "approval_declined"
        assert store.pets == {}
        accepted = await ex.call(create, {"name": "Tom", "tag": None})
        assert accepted["ok"], accepted
        assert [pet["name"] for pet in store.pets.values()] == ["Tom"]
        assert asked[0].address == create
        assert asked[1].arguments == {"name": "Tom", "tag": None}


async def test_write_call_without_approver_returns_approval_required(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(ex, petstore)
    create = next(t.address for t in await ex.tools.list("petstore") if "create" in t.name)
    result = await ex.call(create, {"name": "Tom"})
    assert result["ok"] is False
    assert result["error"]["code"] == "approval_required"
    assert store.pets == {}


async def test_invalid_arguments_are_listed_before_any_approval(
    database: Database, data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    asked: list[ApprovalRequest] = []
    async with Executor.open(
        **database.options(data_dir),
        on_approval=lambda request: asked.append(request) is None,
    ) as ex:
        await _add_petstore(ex, petstore)
        create = next(t.address for t in await ex.tools.list("petstore") if "create" in t.name)
        result = await ex.call(create, {"name": "", "colour": "red"})
    assert result["error"]["code"] == "invalid_arguments"
    violations = result["error"]["details"]["violations"]
    assert len(violations) == 2
    assert asked == []


async def test_unknown_address_suggests_close_tools(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _add_petstore(ex, petstore)
    real = next(t.address for t in await ex.tools.list("petstore") if "list" in t.name)
    result = await ex.call(real[:-2], {})
    assert result["error"]["code"] == "tool_not_found"
    assert real in result["error"]["details"]["suggestions"]
    garbage = await ex.call("not an address", {})
    assert garbage["error"]["code"] == "tool_not_found"


async def test_blocked_tool_is_hidden_and_refused(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _add_petstore(ex, petstore)
    tools = await ex.tools.list("petstore")
    listing = next(t for t in tools if "list" in t.name)
    await ex.policies.set(listing.address, "block")
    assert listing.address not in {t.address for t in await ex.tools.list("petstore")}
    hits = (await ex.tools.search("list all pets")).hits
    assert listing.address not in {hit.tool.address for hit in hits}
    result = await ex.call(listing.address, {})
    assert result["error"]["code"] == "tool_blocked"


async def test_allow_policy_lifts_the_default_approval(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(ex, petstore)
    create = next(t.address for t in await ex.tools.list("petstore") if "create" in t.name)
    policy = await ex.policies.set("petstore.*", "allow")
    result = await ex.call(create, {"name": "Tom"})
    assert result["ok"], result
    assert len(store.pets) == 1
    await ex.policies.remove(policy.id)
    again = await ex.call(create, {"name": "Jerry"})
    assert again["error"]["code"] == "approval_required"


async def test_wrong_key_returns_auth_required(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    _, url = petstore
    await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
    await ex.connections.create("petstore", "bad", auth={"type": "api_key", "value": "wrong"})
    listing = next(t.address for t in await ex.tools.list("petstore") if "list" in t.name)
    result = await ex.call(listing, {})
    assert result["error"]["code"] == "auth_required"


async def test_secret_value_never_appears_anywhere(
    ex: Executor,
    petstore: tuple[PetStore, str],
    database: Database,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = await _add_petstore(ex, petstore)
    key = store.api_key
    diagnose = next(t.address for t in await ex.tools.list("petstore") if "diagnose" in t.name)

    echoed = await ex.call(diagnose, {})
    assert echoed["error"]["code"] == "upstream_error"
    assert key not in repr(echoed)
    assert "[REDACTED]" in repr(echoed)

    connections = await ex.connections.list("petstore")
    assert key not in repr(connections)
    assert key not in repr(await ex.tools.list("petstore"))
    assert key not in repr(await ex.secrets.list())
    assert key not in caplog.text
    assert key not in await database_dump(ex, database)


async def test_refresh_reports_added_changed_and_removed_tools(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(ex, petstore)
    before = {t.name for t in await ex.tools.list("petstore")}
    paths = store.spec["paths"]
    removed_op = paths.pop("/diagnostics")["get"]["operationId"]
    paths["/pets"]["get"]["summary"] = "List every pet in the store"
    paths["/owners"] = {
        "get": {
            "operationId": "listOwners",
            "tags": ["owners"],
            "responses": {"200": {"description": "ok"}},
        }
    }
    report = await ex.sources.refresh("petstore")
    after = {t.name for t in await ex.tools.list("petstore")}
    assert len(report.added) == 1 and report.added[0] in after - before
    assert len(report.removed) == 1 and report.removed[0] in before - after
    assert "diagnose" in report.removed[0] and removed_op == "diagnose"
    assert any("list" in name for name in report.changed)
    assert report.tool_count == len(after)


async def test_bad_spec_leaves_the_catalog_untouched(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _add_petstore(ex, petstore)
    before = [t.address for t in await ex.tools.list()]
    with pytest.raises(executor.SpecError):
        await ex.sources.add_openapi("broken", '{"openapi": "3.0.0", "info": ')
    with pytest.raises(executor.ExecutorError):
        await ex.sources.add_openapi("gone", "http://127.0.0.1:9/openapi.json")
    store, _ = petstore
    store.spec = {"openapi": "9.9"}
    with pytest.raises(executor.SpecError):
        await ex.sources.refresh("petstore")
    assert [t.address for t in await ex.tools.list()] == before
    assert [i.slug for i in await ex.sources.list()] == ["petstore"]


async def test_unreachable_upstream_returns_an_error_not_an_exception(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store, _ = petstore
    await _add_petstore(ex, petstore)
    await ex.connections.create(
        "petstore",
        "down",
        auth={"type": "api_key", "value": store.api_key},
        base_url="http://127.0.0.1:9/v1",
    )
    listing = next(t.name for t in await ex.tools.list("petstore") if "list" in t.name)
    result = await ex.call(f"petstore.down.{listing}", {})
    assert result["error"]["code"] == "upstream_error"
    assert result["error"]["retryable"] is True


async def test_removing_an_integration_removes_its_connections_and_secrets(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _add_petstore(ex, petstore)
    assert await ex.secrets.list()
    await ex.sources.remove("petstore")
    assert await ex.sources.list() == []
    assert await ex.connections.list() == []
    assert await ex.secrets.list() == []


def test_sync_facade_runs_the_same_core(data_dir: Path, petstore: tuple[PetStore, str]) -> None:
    store, url = petstore
    store.pets[1] = {"id": 1, "name": "Rex", "tag": None}
    with SyncExecutor.open(data_dir=data_dir) as ex:
        ex.sources.add_openapi("petstore", f"{url}/openapi.json")
        ex.connections.create("petstore", "work", auth={"type": "api_key", "value": store.api_key})
        listing: Any = next(t for t in ex.tools.list("petstore") if "list" in t.name)
        result = ex.call(listing.address, {"limit": 1})
    assert result["ok"], result
    assert result["data"][0]["name"] == "Rex"
    assert (data_dir / "executor.db").exists()


async def test_every_call_lands_in_the_run_history_with_secrets_redacted(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _add_petstore(ex, petstore)
    listing = next(t.address for t in await ex.tools.list("petstore") if "list" in t.name)
    create = next(t.address for t in await ex.tools.list("petstore") if "create" in t.name)
    await ex.call(listing, {"limit": 2})
    await ex.call(create, {"name": f"called {store.api_key}"})
    runs = await ex.runs.list()
    assert [run.calls[0].address for run in runs] == [create, listing]
    newest, oldest = runs
    assert (oldest.calls[0].decision, oldest.calls[0].outcome) == ("allow", "ok")
    assert oldest.calls[0].arguments == {"limit": 2}
    assert (newest.calls[0].decision, newest.calls[0].outcome) == (
        "require_approval",
        "approval_required",
    )
    assert newest.calls[0].arguments == {"name": "called [REDACTED]"}
    assert (await ex.runs.get(oldest.id)).calls[0].address == listing


async def test_a_policy_set_by_another_executor_applies_once_the_catalog_is_rechecked(
    database: Database, data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    options = database.options(data_dir)
    # catalog_refresh=0: read the shared catalog version before every call, not once a second.
    async with Executor.open(**options, catalog_refresh=0) as ex:
        await _add_petstore(ex, petstore)
        listing = next(t.address for t in await ex.tools.list("petstore") if "list" in t.name)
        assert (await ex.call(listing, {}))["ok"]  # resolved, validated and cached here
        async with Executor.open(**options) as other:
            await other.policies.set("petstore.*", "block")
        assert (await ex.call(listing, {}))["error"]["code"] == "tool_blocked"
        assert await ex.tools.list("petstore") == []


async def test_search_follows_connections_made_or_removed_here_and_by_another_executor(
    database: Database, data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    options = database.options(data_dir)

    async def connections_found(ex: Executor) -> set[str]:
        found = await ex.tools.search("list pets")
        return {hit.tool.connection for hit in found.hits}

    async with Executor.open(**options, catalog_refresh=0) as ex:
        await _add_petstore(ex, petstore)
        assert await connections_found(ex) == {"work"}  # the connections are cached now
        await ex.connections.create("petstore", "home", auth={"type": "api_key", "value": "k"})
        assert await connections_found(ex) == {"work", "home"}
        async with Executor.open(**options) as other:
            await other.connections.remove("petstore", "work")
        assert await connections_found(ex) == {"home"}
        assert {tool.connection for tool in await ex.tools.list("petstore")} == {"home"}


async def test_errors_raised_inside_the_open_block_arrive_unwrapped(data_dir: Path) -> None:
    with pytest.raises(executor.NotFoundError):
        async with Executor.open(data_dir=data_dir) as ex:
            await ex.sources.get("nope")
    with pytest.raises(executor.NotFoundError), SyncExecutor.open(data_dir=data_dir) as sync:
        sync.sources.get("nope")


async def test_a_key_sent_in_the_query_string_never_reaches_the_logs(
    ex: Executor, petstore: tuple[PetStore, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store, url = petstore
    store.spec["components"]["securitySchemes"]["api_key"] = {
        "type": "apiKey",
        "in": "query",
        "name": "api_key",
    }
    await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
    key = "query-secret-987654321"
    await ex.connections.create("petstore", "work", auth={"type": "api_key", "value": key})
    diagnose = next(t.address for t in await ex.tools.list("petstore") if "diagnose" in t.name)
    result = await ex.call(diagnose, {})
    assert result["error"]["code"] == "upstream_error"
    assert "HTTP Request" in caplog.text  # httpx2 did log the request line…
    assert key not in caplog.text  # …without the key
    assert key not in repr(result)


async def test_credential_headers_are_refused_as_plain_connection_headers(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _add_petstore(ex, petstore)
    with pytest.raises(executor.InvalidInputError, match="looks like a credential"):
        await ex.connections.create(
            "petstore", "leaky", headers={"Authorization": "Bearer plain-token"}
        )
    assert [c.name for c in await ex.connections.list("petstore")] == ["work"]
    extra = await ex.connections.create(
        "petstore", "extra", auth={"type": "none"}, headers={"User-Agent": "tests"}
    )
    assert extra.settings["headers"] == {"User-Agent": "tests"}


async def test_custom_header_secrets_are_kept_apart_even_when_names_sanitise_alike(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _add_petstore(ex, petstore)
    connection = await ex.connections.create(
        "petstore",
        "two",
        auth={"type": "custom_headers", "headers": {"X!Key": "alpha", "X#Key": "beta"}},
    )
    refs = connection.auth["headers"]
    assert refs["X!Key"] != refs["X#Key"]
    assert await ex.secret_store.resolve(refs["X!Key"]) == "alpha"
    assert await ex.secret_store.resolve(refs["X#Key"]) == "beta"


async def test_blocked_tools_are_never_suggested(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _add_petstore(ex, petstore)
    diagnose = next(t.address for t in await ex.tools.list("petstore") if "diagnose" in t.name)
    await ex.policies.set(diagnose, "block")
    result = await ex.call(diagnose[:-1], {})
    assert result["error"]["code"] == "tool_not_found"
    assert diagnose not in result["error"]["details"]["suggestions"]
    assert diagnose not in result["error"]["message"]


async def test_a_wrong_connection_name_is_tool_not_found_naming_the_connections(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _add_petstore(ex, petstore)
    listing = next(t.name for t in await ex.tools.list("petstore") if "list" in t.name)
    result = await ex.call(f"petstore.nosuch.{listing}", {})
    assert result["error"]["code"] == "tool_not_found"
    assert "its connections: work" in result["error"]["message"]
    assert f"petstore.work.{listing}" in result["error"]["details"]["suggestions"]


async def test_an_inline_spec_is_stored_once_and_refreshes_from_the_store(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store, _ = petstore
    integration = await ex.sources.add_openapi("inline", store.spec)
    assert "text" not in integration.config["source"]
    report = await ex.sources.refresh("inline")
    assert (report.added, report.changed, report.removed) == ((), (), ())
    assert report.tool_count == integration.tool_count
