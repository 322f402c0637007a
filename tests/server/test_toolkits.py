"""Toolkits on the server: /api/toolkits and each toolkit's MCP endpoint at
/mcp/toolkits/<slug>, through the official SDK client."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from tests.server import run_app
from tests.server.test_mcp import _add_petstore, _data
from tests.server.test_mcp_modes import connect
from tests.servers.petstore import PetStore

LIST = "petstore.work.pets.list_pets"
CREATE = "petstore.work.pets.create_pet"


async def test_toolkits_are_managed_through_the_http_api(data_dir: Path) -> None:
    with run_app(data_dir) as (url, token):
        async with httpx2.AsyncClient(
            base_url=f"{url}/api", headers={"Authorization": f"Bearer {token}"}
        ) as http:
            created = await http.post(
                "/toolkits",
                json={
                    "slug": "readers",
                    "patterns": ["petstore.*.pets.list_pets"],
                    "policies": [{"pattern": "*", "action": "require_approval"}],
                },
            )
            taken = await http.post("/toolkits", json={"slug": "readers", "patterns": ["*"]})
            bad = await http.post("/toolkits", json={"slug": "bad", "patterns": ["pets.l*"]})
            changed = await http.patch("/toolkits/readers", json={"description": "Readers"})
            listed = await http.get("/toolkits")
            removed = await http.delete("/toolkits/readers")
            missing = await http.get("/toolkits/readers")
            document = (await http.get("/openapi.json")).json()
    assert created.status_code == 201, created.text
    assert created.json()["policies"] == [{"pattern": "*", "action": "require_approval"}]
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "already_exists")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_input")
    assert changed.json()["description"] == "Readers"
    assert changed.json()["patterns"] == ["petstore.*.pets.list_pets"]
    assert [toolkit["slug"] for toolkit in listed.json()] == ["readers"]
    assert removed.status_code == 204
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert {"get", "patch", "delete"} <= set(document["paths"]["/api/toolkits/{toolkit}"])


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_toolkit_endpoint_serves_only_its_tools_under_its_policies(
    data_dir: Path, petstore: tuple[PetStore, str], mode: str
) -> None:
    store = await _add_petstore(data_dir, petstore)
    store.pets[1] = {"id": 1, "name": "Rex", "tag": "dog"}
    with run_app(data_dir) as (url, token):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            await http.post(
                f"{url}/api/toolkits",
                json={
                    "slug": "pets",
                    "patterns": [LIST],
                    "policies": [{"pattern": LIST, "action": "require_approval"}],
                },
            )
        async with connect(url, token, "/mcp/toolkits/pets", mode=mode) as client:
            execute = next(t for t in (await client.list_tools()).tools if t.name == "execute")
            found = _data(await client.call_tool("search", {"query": "create a pet"}))
            described = _data(await client.call_tool("describe", {"addresses": [CREATE]}))
            outside = _data(await client.call_tool("execute", {"code": f"tools.{CREATE}()"}))
            inside = _data(
                await client.call_tool("execute", {"code": f"tools.{LIST}()['data'][0]['name']"})
            )
        async with connect(url, token, "/mcp/toolkits/pets?tools=direct", mode=mode) as client:
            direct = {tool.name for tool in (await client.list_tools()).tools}
        async with connect(url, token, "/mcp", mode=mode) as client:
            everything = _data(await client.call_tool("describe", {"addresses": [CREATE]}))
    assert "- petstore.work: " in (execute.description or "")
    assert "(1 tool)" in (execute.description or "")
    assert [hit["address"] for hit in found["tools"]] == [LIST]
    assert described["tools"][0]["error"]["code"] == "tool_not_found"
    assert outside["status"] == "failed" and outside["error"]["code"] == "tool_not_found"
    assert inside["status"] == "paused"  # the toolkit's own rule: approval first
    assert inside["pending"]["toolkit"] == "pets"
    assert direct == {"petstore__work__pets__list_pets", "resume"}
    assert everything["tools"][0]["address"] == CREATE


async def test_an_unknown_toolkit_endpoint_is_a_json_404(data_dir: Path) -> None:
    with run_app(data_dir) as (url, token):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            response = await http.post(
                f"{url}/mcp/toolkits/nope",
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                headers={"Accept": "application/json, text/event-stream"},
            )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "nope" in response.json()["error"]["message"]
