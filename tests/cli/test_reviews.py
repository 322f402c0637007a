"""Reviews through the CLI: with reviews on, a refresh holds the changed tool, ``sources reviews``
shows what changed, and ``sources review`` decides it — accepted, the new definition serves."""

from __future__ import annotations

import json
from typing import Any

from tests.cli.conftest import Cli
from tests.servers.petstore import PetStore

LIST = "petstore.default.pets.list_pets"
OLD = "Returns the pets in the store, newest last."
NEW = "Returns the pets of one owner, newest last."


def _add_reviewed_petstore(cli: Cli, store: PetStore, url: str) -> None:
    cli.ok(
        "sources", "add", f"{url}/openapi.json", "--slug", "petstore", "--base-url", f"{url}/v1",
        "--review-changes",
    )  # fmt: skip
    cli.ok("connections", "create", "petstore", "--secret-stdin", input=store.api_key)


def _description(cli: Cli, address: str) -> Any:
    return cli.json("tools", "describe", address)["description"]


def test_a_held_change_is_listed_and_accepting_it_serves_the_new_definition(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    _add_reviewed_petstore(cli, store, url)
    list_pets = store.spec["paths"]["/pets"]["get"]
    list_pets["description"] = NEW
    list_pets["parameters"].append(
        {"name": "owner", "in": "query", "required": True, "schema": {"type": "string"}}
    )

    refreshed = cli.ok("sources", "refresh", "petstore").stdout
    served_meanwhile = _description(cli, LIST)
    listed = cli.ok("sources", "reviews").stdout
    [held] = cli.json("sources", "reviews", "petstore")
    accepted = cli.ok("sources", "review", "petstore", "pets.list_pets", "--accept")
    served_after = _description(cli, LIST)
    left = cli.ok("sources", "reviews", "petstore").stdout

    assert "held: pets.list_pets" in refreshed
    assert "executor sources reviews petstore" in refreshed
    assert served_meanwhile.endswith(OLD)
    row = next(line for line in listed.splitlines() if "pets.list_pets" in line)
    assert row.split()[:3] == ["petstore", "pets.list_pets", "changed"]
    assert "description, input_schema" in row
    assert f"before: List all pets {OLD}" in listed  # whitespace folded to one line
    assert f"after:  List all pets {NEW}" in listed
    assert "input_schema: added owner (required)" in listed
    assert "binding: parameters changed" in listed
    assert (held["name"], held["change"]) == ("pets.list_pets", "changed")
    assert held["changed_fields"] == ["description", "input_schema", "binding"]
    assert held["reviewed"]["description"].endswith(OLD)
    assert held["proposed"]["description"].endswith(NEW)
    assert accepted.stdout.strip() == "Accepted, now served: pets.list_pets (petstore)."
    assert served_after.endswith(NEW)
    assert "Nothing is held for review." in left


def test_rejecting_every_held_change_keeps_an_added_tool_out_and_the_settings_reviewed(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    _add_reviewed_petstore(cli, store, url)
    pet_id = store.spec["paths"]["/pets/{petId}"]["parameters"]
    adopt = {"operationId": "adoptPet", "tags": ["pets"], "responses": {"201": {"description": ""}}}
    adopt["summary"] = "Adopt a pet\x1b[2J"  # with a terminal escape: it clears the screen
    store.spec["paths"]["/pets/{petId}/adopt"] = {"parameters": pet_id, "post": adopt}
    store.spec["components"]["securitySchemes"]["api_key"]["name"] = "X-Pet-Key"

    cli.ok("sources", "refresh", "petstore")
    listed = cli.ok("sources", "reviews", "petstore").stdout
    unknown = cli.run("sources", "review", "petstore", "pets.sell_pet", "--accept")
    rejected = cli.json("sources", "review", "petstore", "--reject")
    called = cli.run("call", "petstore.default.pets.adopt_pet", '{"pet_id": 1}', "--json")
    again = cli.ok("sources", "review", "petstore", "--accept").stdout

    assert "auth_methods: api_key: name X-API-Key → X-Pet-Key" in listed
    assert "new tool: Adopt a pet[2J" in listed and "\x1b" not in listed
    assert "parameters: pet_id (required)" in listed
    assert unknown.returncode == 1
    assert "no pending review for 'pets.sell_pet'" in unknown.stderr
    assert "pets.adopt_pet" in unknown.stderr  # the hint lists what is pending
    assert rejected == {
        "integration": "petstore",
        "action": "reject",
        "tools": ["@integration", "pets.adopt_pet"],
    }
    assert called.returncode == 1
    assert json.loads(called.stdout)["error"]["code"] == "tool_blocked"
    assert "rejected in review" in called.stderr
    assert "Nothing of petstore is held for review." in again
    [method] = cli.json("sources", "list")[0]["auth_methods"]
    assert method["name"] == "X-API-Key"
