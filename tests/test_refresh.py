"""Safe refresh: a refresh diffs the catalog, and with reviews on it never silently widens what
an agent can do — added and changed tools are held until a person reviews them, the old
definition keeps serving (or the tool is blocked), and a failed refresh changes nothing.

The source is a real API on loopback whose OpenAPI document the tests change between refreshes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from executor import Executor, FetchError, NotFoundError, SpecError
from executor.models import INTEGRATION_REVIEW, IntegrationReview
from tests.server import run_app
from tests.servers import serve
from tests.servers.jsonrpc import NotesServer

LIST = "api.default.items.list_items"
CREATE = "api.default.items.create_item"
DELETE = "api.default.items.delete_item"
OLD_DESCRIPTION = "Lists the items."
NEW_DESCRIPTION = "Lists the items of one owner."


def build_spec(
    *,
    description: str = OLD_DESCRIPTION,
    owner: bool = False,
    create: bool = True,
    delete: bool = False,
    server: str = "/",
    api_key: str | None = None,
    title: str = "Items",
) -> dict[str, Any]:
    """The API's OpenAPI document; each flag is one upstream change a test can make."""
    parameters: list[dict[str, Any]] = [
        {"name": "limit", "in": "query", "schema": {"type": "integer"}}
    ]
    if owner:
        parameters.append(
            {"name": "owner", "in": "query", "required": True, "schema": {"type": "string"}}
        )
    items: dict[str, Any] = {
        "get": {
            "operationId": "listItems",
            "tags": ["items"],
            "summary": "List items",
            "description": description,
            "parameters": parameters,
            "responses": {"200": {"description": "The items."}},
        }
    }
    if create:
        items["post"] = {
            "operationId": "createItem",
            "tags": ["items"],
            "summary": "Create an item",
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"name": {"type": "string"}}}
                    }
                }
            },
            "responses": {"201": {"description": "Created."}},
        }
    paths: dict[str, Any] = {"/items": items}
    if delete:
        paths["/items/{item_id}"] = {
            "delete": {
                "operationId": "deleteItem",
                "tags": ["items"],
                "summary": "Delete an item",
                "parameters": [
                    {
                        "name": "item_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {"200": {"description": "Deleted."}},
            }
        }
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1"},
        "servers": [{"url": server}],
        "paths": paths,
    }
    if api_key is not None:  # where the API wants its key: "header" or "query"
        name = "X-Key" if api_key == "header" else "key"
        scheme = {"type": "apiKey", "in": api_key, "name": name}
        spec["components"] = {"securitySchemes": {"key": scheme}}
        spec["security"] = [{"key": []}]
    return spec


class ItemsAPI:
    """The upstream API: its current document (tests replace it) and what calls reached it."""

    def __init__(self) -> None:
        self.spec: dict[str, Any] = build_spec()
        self.spec_status = 200
        self.broken = False
        self.calls: list[str] = []
        self.app = Starlette(
            routes=[
                Route("/openapi.json", self._document),
                Route("/items", self._items, methods=["GET", "POST"]),
                Route("/items/{item_id:int}", self._item, methods=["DELETE"]),
            ]
        )

    async def _document(self, request: Request) -> Response:
        if self.spec_status != 200:
            return PlainTextResponse("down", status_code=self.spec_status)
        if self.broken:
            return PlainTextResponse('{"openapi": "3.0.3", "paths": {', media_type="text/plain")
        return JSONResponse(self.spec)

    async def _items(self, request: Request) -> Response:
        self.calls.append(f"{request.method} {request.url.path}?{request.url.query}")
        return JSONResponse({"owner": request.query_params.get("owner"), "items": []})

    async def _item(self, request: Request) -> Response:
        self.calls.append(f"DELETE {request.url.path}")
        return JSONResponse({"deleted": request.path_params["item_id"]})


@pytest.fixture
def api() -> Iterator[tuple[ItemsAPI, str]]:
    upstream = ItemsAPI()
    with serve(upstream.app) as url:
        yield upstream, url


async def _served(ex: Executor) -> dict[str, str]:
    """``{tool name: the spec's own description text}`` of what the integration serves, as
    listings show it (the plugin puts the summary on the description's first line)."""
    return {tool.name: tool.description.split("\n")[-1] for tool in await ex.tools.list("api")}


async def test_refresh_serves_changes_at_once_when_reviews_are_off(
    ex: Executor, api: tuple[ItemsAPI, str]
) -> None:
    upstream, url = api
    await ex.sources.add("api", source=f"{url}/openapi.json")
    upstream.spec = build_spec(description=NEW_DESCRIPTION, owner=True, create=False, delete=True)
    report = await ex.sources.refresh("api")
    assert report.added == ("items.delete_item",)
    assert report.changed == ("items.list_items",)
    assert report.removed == ("items.create_item",)
    assert report.held == ()
    assert report.tool_count == 2
    assert await _served(ex) == {
        "items.list_items": NEW_DESCRIPTION,
        "items.delete_item": "Delete an item",
    }
    assert await ex.sources.pending_reviews() == []


async def test_a_changed_tool_keeps_serving_its_reviewed_definition_until_accepted(
    ex: Executor, api: tuple[ItemsAPI, str]
) -> None:
    upstream, url = api
    integration = await ex.sources.add("api", source=f"{url}/openapi.json", review_changes=True)
    assert (integration.review_changes, integration.review_mode) == (True, "serve_reviewed")
    upstream.spec = build_spec(description=NEW_DESCRIPTION, owner=True, create=False, delete=True)
    version = await ex.store.catalog_version(ex.workspace_id)

    report = await ex.sources.refresh("api")
    assert (report.added, report.changed, report.removed) == (
        ("items.delete_item",),
        ("items.list_items",),
        ("items.create_item",),  # removing a tool only narrows authority: it goes at once
    )
    assert report.held == ("items.delete_item", "items.list_items")
    assert report.tool_count == 1
    assert await ex.store.catalog_version(ex.workspace_id) > version

    # Every surface sees the reviewed definition: listing, describe, search, calls, code mode.
    assert await _served(ex) == {"items.list_items": OLD_DESCRIPTION}
    described = await ex.tools.describe(LIST)
    assert described["description"].endswith(OLD_DESCRIPTION)
    assert "owner" not in described["input_schema"]["properties"]
    hits = (await ex.tools.search("list items")).hits
    assert [hit.tool.name for hit in hits] == ["items.list_items"]
    assert hits[0].tool.description.endswith(OLD_DESCRIPTION)
    called = await ex.call(LIST, {})
    assert called["ok"], called  # no `owner`: valid under the reviewed schema
    run = await ex.execute(f"tools.{LIST}(limit=2)['ok']")
    assert (run.status, run.result) == ("completed", True)

    # The added tool is not callable, anywhere, until reviewed.
    blocked = await ex.call(DELETE, {"item_id": 1})
    assert blocked["error"]["code"] == "tool_blocked"
    assert "held for review" in blocked["error"]["message"]
    assert "sources.review('api', ['items.delete_item'])" in blocked["error"]["message"]
    assert not any(call.startswith("DELETE") for call in upstream.calls)
    run = await ex.execute(f"tools.{DELETE}(item_id=1)")
    assert run.status == "failed" and run.error is not None
    assert run.error["code"] == "tool_blocked"

    pending = {review.name: review for review in await ex.sources.pending_reviews("api")}
    assert set(pending) == {"items.delete_item", "items.list_items"}
    changed = pending["items.list_items"]
    assert (changed.change, changed.status) == ("changed", "pending")
    assert changed.reviewed is not None
    assert changed.reviewed.description.endswith(OLD_DESCRIPTION)
    assert changed.proposed.description.endswith(NEW_DESCRIPTION)
    assert {"description", "input_schema"} <= set(changed.changed_fields)
    added = pending["items.delete_item"]
    assert (added.change, added.reviewed) == ("added", None)

    version = await ex.store.catalog_version(ex.workspace_id)
    assert await ex.sources.review("api", ["items.list_items"]) == ["items.list_items"]
    assert await ex.store.catalog_version(ex.workspace_id) > version
    assert (await ex.tools.describe(LIST))["description"].endswith(NEW_DESCRIPTION)
    refused = await ex.call(LIST, {})
    assert refused["error"]["code"] == "invalid_arguments"  # the accepted schema needs owner
    assert (await ex.call(LIST, {"owner": "ann"}))["data"]["owner"] == "ann"
    assert [review.name for review in await ex.sources.pending_reviews()] == ["items.delete_item"]

    assert await ex.sources.review("api") == ["items.delete_item"]
    deleted = await ex.call(DELETE, {"item_id": 7})
    assert deleted["ok"] is False and deleted["error"]["code"] == "approval_required"
    await ex.policies.set(DELETE, "allow")
    assert (await ex.call(DELETE, {"item_id": 7}))["data"] == {"deleted": 7}

    again = await ex.sources.refresh("api")
    assert (again.added, again.changed, again.removed, again.held) == ((), (), (), ())
    assert again.tool_count == 2


async def test_block_mode_keeps_a_changed_tool_out_and_a_rejection_is_remembered(
    ex: Executor, api: tuple[ItemsAPI, str]
) -> None:
    upstream, url = api
    await ex.sources.add(
        "api", source=f"{url}/openapi.json", review_changes=True, review_mode="block"
    )
    upstream.spec = build_spec(description=NEW_DESCRIPTION, owner=True, delete=True)
    report = await ex.sources.refresh("api")
    assert report.held == ("items.delete_item", "items.list_items")
    assert set(await _served(ex)) == {"items.create_item"}
    blocked = await ex.call(LIST, {})
    assert blocked["error"]["code"] == "tool_blocked"
    with pytest.raises(Exception) as described:
        await ex.tools.describe(LIST)
    assert getattr(described.value, "code", None) == "tool_blocked"

    assert await ex.sources.review("api", "items.list_items", action="reject") == [
        "items.list_items"
    ]
    assert (await ex.tools.describe(LIST))["description"].endswith(OLD_DESCRIPTION)
    assert (await ex.call(LIST, {}))["ok"]
    assert await ex.sources.review("api", ["items.delete_item"], action="reject") == [
        "items.delete_item"
    ]
    rejected = await ex.call(DELETE, {"item_id": 1})
    assert rejected["error"]["code"] == "tool_blocked"
    assert "rejected in review" in rejected["error"]["message"]
    assert await ex.sources.pending_reviews("api") == []

    # The same upstream definitions again: nothing new to review, the reviewed ones serve on.
    report = await ex.sources.refresh("api")
    assert (report.added, report.changed, report.held) == ((), (), ())
    assert (await ex.tools.describe(LIST))["description"].endswith(OLD_DESCRIPTION)

    # A further change is a new proposal: held (and blocked) again.
    upstream.spec = build_spec(description="Lists all items.", owner=True, delete=True)
    report = await ex.sources.refresh("api")
    assert (report.changed, report.held) == (("items.list_items",), ("items.list_items",))
    assert (await ex.call(LIST, {}))["error"]["code"] == "tool_blocked"

    # Held changes go with their integration.
    await ex.sources.remove("api")
    assert await ex.sources.pending_reviews() == []


async def test_switching_the_review_mode_applies_to_changes_held_already(
    ex: Executor, api: tuple[ItemsAPI, str]
) -> None:
    upstream, url = api
    await ex.sources.add("api", source=f"{url}/openapi.json", review_changes=True)
    upstream.spec = build_spec(description=NEW_DESCRIPTION)
    assert (await ex.sources.refresh("api")).held == ("items.list_items",)
    assert "items.list_items" in await _served(ex)

    configured = await ex.sources.configure("api", review_mode="block")
    assert configured.review_mode == "block"
    assert "items.list_items" not in await _served(ex)
    await ex.sources.configure("api", review_mode="serve_reviewed")
    assert (await _served(ex))["items.list_items"] == OLD_DESCRIPTION

    # Turning reviews off: the held change waits; the next refresh serves the source as it is.
    assert (await ex.sources.configure("api", review_changes=False)).review_changes is False
    assert len(await ex.sources.pending_reviews("api")) == 1
    report = await ex.sources.refresh("api")
    assert report.held == ()
    assert (await _served(ex))["items.list_items"] == NEW_DESCRIPTION
    assert await ex.sources.pending_reviews("api") == []


async def test_a_change_reverted_upstream_is_no_longer_held(
    ex: Executor, api: tuple[ItemsAPI, str]
) -> None:
    upstream, url = api
    await ex.sources.add("api", source=f"{url}/openapi.json", review_changes=True)
    upstream.spec = build_spec(description=NEW_DESCRIPTION)
    assert (await ex.sources.refresh("api")).held == ("items.list_items",)
    upstream.spec = build_spec()
    report = await ex.sources.refresh("api")
    assert (report.changed, report.held) == (("items.list_items",), ())
    assert await ex.sources.pending_reviews() == []
    assert (await _served(ex))["items.list_items"] == OLD_DESCRIPTION


async def test_a_failed_refresh_leaves_tools_reviews_and_catalog_untouched(
    ex: Executor, api: tuple[ItemsAPI, str]
) -> None:
    upstream, url = api
    await ex.sources.add("api", source=f"{url}/openapi.json", review_changes=True)
    upstream.spec = build_spec(description=NEW_DESCRIPTION, delete=True)
    await ex.sources.refresh("api")
    served = await _served(ex)
    pending = await ex.sources.pending_reviews("api")
    version = await ex.store.catalog_version(ex.workspace_id)

    upstream.spec = build_spec(create=False)
    upstream.spec_status = 503
    with pytest.raises(FetchError, match="HTTP 503"):
        await ex.sources.refresh("api")
    upstream.spec_status = 200
    upstream.broken = True
    with pytest.raises(SpecError):
        await ex.sources.refresh("api")

    assert await _served(ex) == served
    assert await ex.sources.pending_reviews("api") == pending
    assert await ex.store.catalog_version(ex.workspace_id) == version
    assert (await ex.call(LIST, {}))["ok"]


async def test_reviewing_a_tool_with_nothing_pending_is_not_found(
    ex: Executor, api: tuple[ItemsAPI, str]
) -> None:
    _, url = api
    await ex.sources.add("api", source=f"{url}/openapi.json", review_changes=True)
    with pytest.raises(NotFoundError) as raised:
        await ex.sources.review("api", ["items.list_items"])
    assert "no pending review for 'items.list_items'" in raised.value.message
    assert await ex.sources.review("api") == []  # nothing pending: nothing to decide
    with pytest.raises(NotFoundError):
        await ex.sources.pending_reviews("nope")


async def test_a_changed_server_url_keeps_calls_on_the_old_host_until_accepted(
    ex: Executor, api: tuple[ItemsAPI, str]
) -> None:
    upstream, url = api
    moved = ItemsAPI()
    with serve(moved.app) as new_url:
        await ex.sources.add("api", source=f"{url}/openapi.json", review_changes=True)
        upstream.spec = build_spec(server=new_url)
        report = await ex.sources.refresh("api")
        # OpenAPI servers live in each tool's call binding: every tool is held for it.
        assert report.changed == report.held == ("items.create_item", "items.list_items")
        for review in await ex.sources.pending_reviews("api"):
            assert review.changed_fields == ("binding",)
            assert review.reviewed.binding["servers"][0]["url"] == f"{url}/"
            assert review.proposed.binding["servers"][0]["url"] == new_url

        assert (await ex.call(LIST, {"limit": 1}))["ok"]
        assert (upstream.calls, moved.calls) == (["GET /items?limit=1"], [])

        assert await ex.sources.review("api") == ["items.create_item", "items.list_items"]
        assert (await ex.call(LIST, {"limit": 2}))["ok"]
        assert (upstream.calls, moved.calls) == (["GET /items?limit=1"], ["GET /items?limit=2"])


async def test_a_changed_auth_scheme_is_held_while_title_and_summary_apply(
    ex: Executor, api: tuple[ItemsAPI, str]
) -> None:
    upstream, url = api
    upstream.spec = build_spec(api_key="header")
    await ex.sources.add("api", source=f"{url}/openapi.json", review_changes=True)
    upstream.spec = build_spec(api_key="query", title="Items v2")
    report = await ex.sources.refresh("api")
    assert (report.added, report.changed, report.removed) == ((), (), ())
    assert report.held == (INTEGRATION_REVIEW,)

    integration = await ex.sources.get("api")
    assert integration.title == "Items v2"  # cosmetic: applied at once
    assert [(m.location, m.name) for m in integration.auth_methods] == [("header", "X-Key")]
    (review,) = await ex.sources.pending_reviews("api")
    assert isinstance(review, IntegrationReview)
    assert (review.name, review.change, review.status) == ("@integration", "changed", "pending")
    assert review.changed_fields == ("auth_methods",)
    assert [(m.location, m.name) for m in review.reviewed.auth_methods] == [("header", "X-Key")]
    assert [(m.location, m.name) for m in review.proposed.auth_methods] == [("query", "key")]
    # Meanwhile a new connection takes the reviewed scheme: the key stays out of URLs.
    held = await ex.connections.create("api", "held", auth={"type": "api_key", "value": "k-1"})
    assert (held.auth["location"], held.auth["name"]) == ("header", "X-Key")
    assert (await ex.sources.refresh("api")).held == (INTEGRATION_REVIEW,)  # still the one

    assert await ex.sources.review("api", INTEGRATION_REVIEW) == [INTEGRATION_REVIEW]
    assert await ex.sources.pending_reviews("api") == []
    after = await ex.connections.create("api", "after", auth={"type": "api_key", "value": "k-2"})
    assert (after.auth["location"], after.auth["name"]) == ("query", "key")
    assert (await ex.sources.refresh("api")).held == ()


async def test_an_integration_server_url_change_is_held_and_a_rejection_remembered(
    ex: Executor,
) -> None:
    # The example OpenRPC plugin keeps the JSON-RPC endpoint in the integration's config.
    listing = "notes.default.notes.list"
    first, second = NotesServer(), NotesServer()
    with serve(first.app) as first_url, serve(second.app) as second_url:
        integration = await ex.sources.add("notes", source=f"{first_url}/openrpc.json")
        assert integration.review_changes is True
        await ex.policies.set("notes.*", "allow")
        first.document["servers"] = [{"name": "moved", "url": f"{second_url}/rpc"}]
        report = await ex.sources.refresh("notes")
        assert (report.changed, report.held) == ((), (INTEGRATION_REVIEW,))
        (review,) = await ex.sources.pending_reviews("notes")
        assert review.changed_fields == ("config.server_url",)
        assert review.reviewed.config["server_url"] == f"{first_url}/rpc"
        assert review.proposed.config["server_url"] == f"{second_url}/rpc"
        assert (await ex.call(listing))["ok"]
        assert (len(first.requests), len(second.requests)) == (1, 0)

        assert await ex.sources.review("notes", [INTEGRATION_REVIEW]) == [INTEGRATION_REVIEW]
        assert (await ex.sources.get("notes")).config["server_url"] == f"{second_url}/rpc"
        assert (await ex.call(listing))["ok"]
        assert (len(first.requests), len(second.requests)) == (1, 1)

        # Moving again is a new proposal; rejected, it is remembered and not held again.
        first.document["servers"] = [{"url": "/rpc"}]
        assert (await ex.sources.refresh("notes")).held == (INTEGRATION_REVIEW,)
        assert await ex.sources.review("notes", action="reject") == [INTEGRATION_REVIEW]
        assert (await ex.sources.refresh("notes")).held == ()
        assert await ex.sources.pending_reviews("notes") == []
        assert (await ex.call(listing))["ok"]
        assert (len(first.requests), len(second.requests)) == (1, 2)


async def test_the_api_lists_and_decides_held_changes(
    data_dir: Path, api: tuple[ItemsAPI, str]
) -> None:
    upstream, url = api
    with run_app(data_dir) as (base, token):
        async with httpx2.AsyncClient(
            base_url=f"{base}/api", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            added = await http.post(
                "/integrations",
                json={"slug": "api", "spec": f"{url}/openapi.json", "review_changes": True},
            )
            assert added.status_code == 201, added.text
            assert added.json()["review_changes"] is True
            upstream.spec = build_spec(description=NEW_DESCRIPTION, delete=True)
            refreshed = await http.post("/integrations/api/refresh")
            assert refreshed.json()["held"] == ["items.delete_item", "items.list_items"]

            reviews = (await http.get("/reviews", params={"integration": "api"})).json()
            by_name = {review["name"]: review for review in reviews}
            assert by_name["items.list_items"]["reviewed"]["description"].endswith(OLD_DESCRIPTION)
            assert by_name["items.list_items"]["proposed"]["description"].endswith(NEW_DESCRIPTION)
            assert "description" in by_name["items.list_items"]["changed_fields"]
            assert by_name["items.delete_item"]["reviewed"] is None

            mode = await http.patch("/integrations/api", json={"review_mode": "block"})
            assert mode.status_code == 200 and mode.json()["review_mode"] == "block"
            bad = await http.patch("/integrations/api", json={"review_mode": "maybe"})
            assert bad.status_code == 400

            decided = await http.post(
                "/integrations/api/reviews",
                json={"action": "accept", "tools": ["items.list_items"]},
            )
            assert decided.json() == {
                "integration": "api",
                "action": "accept",
                "tools": ["items.list_items"],
            }
            described = await http.get(f"/tools/{LIST}")
            assert described.json()["description"].endswith(NEW_DESCRIPTION)
            missing = await http.post(
                "/integrations/api/reviews", json={"action": "reject", "tools": ["nope"]}
            )
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "not_found"
