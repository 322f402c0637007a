"""The JSON HTTP API end to end: a real server on loopback, the real pet store, httpx2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from executor import Executor
from executor.errors import ERROR_TABLE
from executor.server.api import openapi_document
from tests.server import run_app
from tests.servers.petstore import PetStore

LIST = "petstore.work.pets.list_pets"
CREATE = "petstore.work.pets.create_pet"
#: Generated cases per API operation in the property-based test.
EXAMPLES = 40


def _client(url: str, token: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        base_url=f"{url}/api", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


@pytest.fixture
def server(data_dir: Path) -> Iterator[tuple[str, str]]:
    with run_app(data_dir) as running:
        yield running


def _assert_error(response: httpx2.Response, code: str) -> dict[str, Any]:
    assert response.status_code == ERROR_TABLE[code].http_status, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == code
    assert "\n" not in body["error"]["message"]
    assert '.py", line' not in response.text
    return dict(body["error"])


async def test_full_flow_never_returns_the_secret(
    server: tuple[str, str], petstore: tuple[PetStore, str]
) -> None:
    store, petstore_url = petstore
    secret = store.api_key
    url, token = server
    seen: list[str] = []
    async with _client(url, token) as http:

        async def send(method: str, path: str, **kwargs: Any) -> httpx2.Response:
            response = await http.request(method, path, **kwargs)
            seen.append(response.text)
            return response

        added = await send(
            "POST",
            "/integrations",
            json={"slug": "petstore", "spec": f"{petstore_url}/openapi.json"},
        )
        assert added.status_code == 201, added.text
        assert added.json()["slug"] == "petstore"
        assert added.json()["tool_count"] >= 4
        created = await send(
            "POST",
            "/connections",
            json={
                "integration": "petstore",
                "name": "work",
                "auth": {"type": "api_key", "value": secret},
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["auth"]["value"].startswith("secret://")
        listed = await send("GET", "/connections", params={"integration": "petstore"})
        assert [c["name"] for c in listed.json()] == ["work"]
        assert (await send("GET", "/integrations/petstore")).json()["slug"] == "petstore"
        tools = (await send("GET", "/tools", params={"connection": "work"})).json()
        assert LIST in {tool["address"] for tool in tools}

        found = (
            await send("GET", "/tools/search", params={"q": "list all pets", "limit": 3})
        ).json()
        assert found["is_good_match"] is True
        assert found["hits"][0]["tool"]["address"] == LIST
        described = (await send("GET", f"/tools/{LIST}")).json()
        assert described["address"] == LIST
        schema = (await send("GET", f"/tools/{CREATE}/schema")).json()
        assert schema["type"] == "object"

        called = await send("POST", f"/tools/{LIST}/call", json={"arguments": {}})
        assert called.status_code == 200, called.text
        assert called.json()["ok"] is True
        assert called.json()["data"] == []

        paused = await send(
            "POST", "/executions", json={"code": f"tools.{CREATE}(name='Tom')['data']"}
        )
        assert paused.status_code == 200, paused.text
        run = paused.json()
        assert run["status"] == "paused"
        assert run["pending"]["address"] == CREATE
        resumed = await send("POST", f"/executions/{run['id']}/resume", json={"action": "accept"})
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["status"] == "completed"
        assert resumed.json()["result"]["name"] == "Tom"
        again = await send("POST", f"/executions/{run['id']}/resume", json={"action": "accept"})
        _assert_error(again, "execution_conflict")

        runs = (await send("GET", "/executions", params={"limit": 10})).json()
        assert run["id"] in {item["id"] for item in runs}
        one = (await send("GET", f"/executions/{run['id']}")).json()
        assert one["status"] == "completed"
        assert {call["address"] for call in one["calls"]} == {CREATE}

        refreshed = await send("POST", "/integrations/petstore/refresh")
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["removed"] == []
        assert (await send("DELETE", "/connections/petstore/work")).status_code == 204
        assert (await send("DELETE", "/integrations/petstore")).status_code == 204
        assert (await send("GET", "/integrations")).json() == []
    assert [pet["name"] for pet in store.pets.values()] == ["Tom"]
    assert len(seen) >= 18
    assert not [text for text in seen if secret in text]


async def test_error_codes_map_to_their_statuses(
    data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    store, petstore_url = petstore
    async with Executor.open(data_dir=data_dir) as ex:
        await ex.sources.add_openapi("petstore", f"{petstore_url}/openapi.json")
        await ex.connections.create(
            "petstore", "work", auth={"type": "api_key", "value": store.api_key}
        )
    with run_app(data_dir) as (url, token):
        async with _client(url, token) as http:
            missing = await http.post("/tools/petstore.work.pets.list_petz/call", json={})
            invalid = await http.post(f"/tools/{LIST}/call", json={"arguments": {"limit": 0}})
            policy = await http.post(
                "/policies", json={"pattern": "petstore.*.pets.delete_pet", "action": "block"}
            )
            blocked = await http.post(
                "/tools/petstore.work.pets.delete_pet/call", json={"arguments": {"pet_id": 1}}
            )
            approval = await http.post(f"/tools/{CREATE}/call", json={"arguments": {"name": "A"}})
            bad_json = await http.post(
                "/executions", content=b"{not json", headers={"Content-Type": "application/json"}
            )
            no_code = await http.post("/executions", json={})
            not_object = await http.post("/policies", json=["a"])
            bad_limit = await http.get("/executions", params={"limit": "many"})
            no_route = await http.get("/nope")
            wrong_method = await http.put("/policies")
            no_integration = await http.get("/integrations/ghost")
            duplicate = await http.post("/integrations", json={"slug": "petstore", "spec": "{}"})
            no_run = await http.post(f"/executions/{'0' * 32}/resume", json={"action": "accept"})
            policies = (await http.get("/policies")).json()
            removed = await http.delete(f"/policies/{policy.json()['id']}")
            removed_again = await http.delete(f"/policies/{policy.json()['id']}")
            without_token = await httpx2.AsyncClient().get(f"{url}/api/tools")
    suggestions = _assert_error(missing, "tool_not_found")["details"]["suggestions"]
    assert LIST in suggestions
    assert _assert_error(invalid, "invalid_arguments")["details"]
    assert policy.status_code == 201, policy.text
    _assert_error(blocked, "tool_blocked")
    _assert_error(approval, "approval_required")
    assert "JSON" in _assert_error(bad_json, "invalid_input")["message"]
    assert "code" in _assert_error(no_code, "invalid_input")["message"]
    _assert_error(not_object, "invalid_input")
    assert "limit" in _assert_error(bad_limit, "invalid_input")["message"]
    assert no_route.status_code == 404
    assert no_route.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["ok"] is False
    _assert_error(no_integration, "not_found")
    _assert_error(duplicate, "already_exists")
    _assert_error(no_run, "not_found")
    assert [rule["pattern"] for rule in policies] == ["petstore.*.pets.delete_pet"]
    assert removed.status_code == 204
    _assert_error(removed_again, "not_found")
    assert without_token.status_code == 401


async def test_openapi_document_is_served_and_describes_every_route(
    server: tuple[str, str],
) -> None:
    url, token = server
    async with _client(url, token) as http:
        served = (await http.get("/openapi.json")).json()
    assert served == json.loads(json.dumps(openapi_document()))
    assert served["openapi"].startswith("3.1")
    operations = {
        (method.upper(), path) for path, item in served["paths"].items() for method in item
    }
    assert ("POST", "/api/tools/{address}/call") in operations
    assert ("POST", "/api/executions/{execution_id}/resume") in operations
    assert len(
        {op["operationId"] for item in served["paths"].values() for op in item.values()}
    ) == len(operations)


# -- property-based: schemathesis against the served document, no 5xx ---------------------------


@pytest.fixture(scope="module")
def seeded_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    """A server with the pet store added and connected, shared by every generated case."""
    store = PetStore()
    from tests.servers import serve

    data_dir = tmp_path_factory.mktemp("api-fuzz") / "data"
    with serve(store.app) as petstore_url:

        async def seed() -> None:
            async with Executor.open(data_dir=data_dir) as ex:
                await ex.sources.add_openapi("petstore", f"{petstore_url}/openapi.json")
                await ex.connections.create(
                    "petstore", "work", auth={"type": "api_key", "value": store.api_key}
                )

        import anyio

        anyio.run(seed)
        with run_app(data_dir) as running:
            yield running


#: 5xx codes that report a failure of something remote (a spec URL, an upstream API), mapped
#: to 502/504 by the error table: not a fault of this server.
UPSTREAM_CODES = {"fetch_failed", "upstream_error", "timeout"}


def _assert_well_formed(case: Any, response: Any) -> None:
    """What every answer must be: JSON in the one error shape when it fails, never a traceback,
    never a 5xx of this server's own (internal_error, storage_error)."""
    request = (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
    # No trace of this server's own code (agent code's tracebacks name `<python-input-N>`).
    assert '.py", line' not in response.text, request
    if response.status_code == 204:
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/json"), request
    body = response.json()
    if response.status_code < 400:
        return
    assert body["ok"] is False, request
    code = body["error"]["code"]
    assert isinstance(body["error"]["message"], str), request
    if code in ERROR_TABLE and response.status_code != 405:
        assert response.status_code == ERROR_TABLE[code].http_status, request
    if response.status_code >= 500:
        assert code in UPSTREAM_CODES, request


def test_generated_requests_never_get_a_server_error(seeded_server: tuple[str, str]) -> None:
    """Schemathesis generates requests (valid and invalid) for every operation of the document
    the server serves, and sends them to the real server: no answer may be a server error
    (a 5xx other than a remote's failure), and every error has the one JSON shape.

    (``schemathesis.pytest.from_fixture`` fails on pytest 9.2: it reads ``node._nodeid``; so
    the operations are driven here with their hypothesis strategies.)"""
    url, token = seeded_server
    auth = {"Authorization": f"Bearer {token}"}
    loaded = schemathesis.openapi.from_url(f"{url}/api/openapi.json", headers=auth)
    operations = [result.ok() for result in loaded.get_all_operations()]
    declared = {
        f"{method.upper()} {path}"
        for path, item in openapi_document()["paths"].items()
        for method in item
    }
    # Schemathesis leaves out the document's own URL; everything else is exercised.
    assert {operation.label for operation in operations} == declared - {"GET /api/openapi.json"}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(base_url=url, headers=auth)
            _assert_well_formed(case, response)

        try:
            check()
        except Exception as exc:
            exc.add_note(f"operation: {operation.label}")
            raise


async def test_a_malformed_spec_url_is_a_one_line_fetch_error(server: tuple[str, str]) -> None:
    url, token = server
    async with _client(url, token) as http:
        response = await http.post("/integrations", json={"slug": "x", "spec": "https://[::1"})
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "fetch_failed"
    assert "is not a valid URL" in response.json()["error"]["message"]
