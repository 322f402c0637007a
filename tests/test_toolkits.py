"""Toolkits through the SDK: storage on SQLite and PostgreSQL, scoping, their own policies, and
executions that pause inside a toolkit."""

from __future__ import annotations

import pytest

from executor import Executor
from executor.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    ToolNotFoundError,
)
from executor.models import ToolkitPolicy
from tests.servers.petstore import PetStore

LIST = "petstore.work.pets.list_pets"
CREATE = "petstore.work.pets.create_pet"


async def _petstore(ex: Executor, petstore: tuple[PetStore, str]) -> PetStore:
    store, url = petstore
    await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
    await ex.connections.create(
        "petstore", "work", auth={"type": "api_key", "value": store.api_key}
    )
    await ex.connections.create(
        "petstore", "home", auth={"type": "api_key", "value": store.api_key}
    )
    return store


async def test_toolkits_are_stored_listed_changed_and_removed(ex: Executor) -> None:
    created = await ex.toolkits.create(
        "readers",
        patterns=["petstore.*.pets.list_pets", "github.*"],
        policies=[{"pattern": "github.*", "action": "require_approval"}],
        description="Read-only tools",
    )
    await ex.toolkits.create("all", patterns=["*"])
    assert created.patterns == ("petstore.*.pets.list_pets", "github.*")
    assert created.policies == (ToolkitPolicy("github.*", "require_approval"),)
    assert [toolkit.slug for toolkit in await ex.toolkits.list()] == ["all", "readers"]
    updated = await ex.toolkits.update("readers", patterns=["petstore.*"])
    assert updated.patterns == ("petstore.*",)
    assert updated.policies == created.policies  # untouched
    assert (await ex.toolkits.get("readers")).description == "Read-only tools"
    await ex.toolkits.remove("readers")
    with pytest.raises(NotFoundError):
        await ex.toolkits.get("readers")
    with pytest.raises(NotFoundError):
        await ex.toolkits.remove("readers")


async def test_bad_toolkits_are_refused_with_what_to_do(ex: Executor) -> None:
    await ex.toolkits.create("kit", patterns=["*"])
    with pytest.raises(AlreadyExistsError):
        await ex.toolkits.create("kit", patterns=["*"])
    with pytest.raises(InvalidInputError, match="at least one"):
        await ex.toolkits.create("empty", patterns=[])
    with pytest.raises(InvalidInputError, match="partial wildcards"):
        await ex.toolkits.create("glob", patterns=["pets.list*"])
    with pytest.raises(InvalidInputError, match="policy action"):
        await ex.toolkits.create("bad", patterns=["*"], policies=[("*", "maybe")])
    with pytest.raises(InvalidInputError):
        await ex.toolkits.create("Bad Slug", patterns=["*"])


async def test_through_a_toolkit_only_its_tools_exist(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _petstore(ex, petstore)
    store.pets[1] = {"id": 1, "name": "Rex", "tag": "dog"}
    await ex.toolkits.create("reader", patterns=[LIST])
    async with ex.toolkits.use("reader"):
        listed = [tool.address for tool in await ex.tools.list()]
        found = await ex.tools.search("pets")
        outside = await ex.call(CREATE, {"name": "Io"})
        inside = await ex.call(LIST, {})
        run = await ex.execute(f"tools.{CREATE}(name='Io')")
        tree = await ex.execute("tools.petstore.work.pets.list_pets()['data'][0]['name']")
        with pytest.raises(ToolNotFoundError):
            await ex.tools.describe(CREATE)
    assert listed == [LIST]
    assert [hit.tool.address for hit in found.hits] == [LIST]
    assert outside["error"]["code"] == "tool_not_found"
    assert inside["ok"] is True
    assert run.status == "failed" and run.error is not None
    assert run.error["code"] == "tool_not_found"
    assert (tree.status, tree.result) == ("completed", "Rex")
    assert len(await ex.tools.list()) > 1  # outside the block: the whole catalog
    assert store.pets.keys() == {1}


async def test_toolkit_policies_tighten_but_never_loosen(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    await _petstore(ex, petstore)
    await ex.policies.set("petstore.home.*", "block")
    await ex.toolkits.create(
        "careful",
        patterns=["petstore.*"],
        policies=[
            {"pattern": LIST, "action": "require_approval"},
            {"pattern": "petstore.*", "action": "allow"},
        ],
    )
    async with ex.toolkits.use("careful"):
        tightened = await ex.call(LIST, {})
        still_blocked = await ex.call("petstore.home.pets.list_pets", {})
        policies = {tool.address: tool.policy for tool in await ex.tools.list()}
    assert tightened["error"]["code"] == "approval_required"
    assert still_blocked["error"]["code"] == "tool_blocked"  # a toolkit allow cannot undo it
    assert policies[LIST] == "require_approval"
    assert policies[CREATE] == "require_approval"  # the tool's default still counts
    assert (await ex.call(LIST, {}))["ok"] is True  # outside the toolkit: its rules are gone


async def test_a_paused_execution_resumes_under_its_toolkit_from_anywhere(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store = await _petstore(ex, petstore)
    await ex.toolkits.create(
        "writer", patterns=["petstore.work.*"], policies=[{"pattern": "*", "action": "block"}]
    )
    await ex.toolkits.create("gone", patterns=["petstore.work.*"])
    async with ex.toolkits.use("gone"):
        orphan = await ex.execute(f"tools.{CREATE}(name='Ox')")
    await ex.toolkits.update("writer", policies=[])
    async with ex.toolkits.use("writer"):
        paused = await ex.execute(f"tools.{CREATE}(name='Io')")
    assert paused.status == "paused" and paused.pending is not None
    assert paused.pending["toolkit"] == "writer"
    # The toolkit blocks everything now: the resume, outside any scope, still obeys it.
    await ex.toolkits.update("writer", policies=[{"pattern": "*", "action": "block"}])
    blocked = await ex.resume(paused.id, "accept")
    await ex.toolkits.remove("gone")
    removed = await ex.resume(orphan.id, "accept")
    assert blocked.status == "completed"
    assert blocked.result["error"]["code"] == "tool_blocked"
    assert removed.status == "failed" and removed.error is not None
    assert "no longer exists" in removed.error["message"]
    assert store.pets == {}
