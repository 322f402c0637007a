"""The guarded network backend: connections only ever dial addresses the policy allows."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from executor import Executor, FetchError
from executor.sources import fetch
from executor.sources.base import FetchPolicy
from tests.servers import serve

UNSPECIFIED = ipaddress.ip_address("0.0.0.0")
LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture
def api() -> Iterator[str]:
    app = Starlette(
        routes=[Route("/spec.json", lambda request: JSONResponse({"openapi": "3.0.3"}))]
    )
    with serve(app) as url:
        yield url


async def test_a_host_resolving_to_a_refused_address_is_never_dialled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address]:
        return [UNSPECIFIED]

    monkeypatch.setattr(fetch, "_resolve", resolve)
    async with fetch.guarded_client(allow_private=False) as client:
        with pytest.raises(httpx2.ConnectError, match="unspecified address"):
            await client.get("http://somewhere.test:9/")


async def test_metadata_host_names_are_refused_even_when_private_addresses_are_allowed() -> None:
    async with fetch.guarded_client(allow_private=True) as client:
        with pytest.raises(httpx2.ConnectError, match="cloud metadata host"):
            await client.get("http://metadata.google.internal/computeMetadata/v1/")


async def test_dns_rebinding_between_check_and_connect_is_refused(
    monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    answers = iter([[LOOPBACK], [UNSPECIFIED]])

    async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address]:
        return next(answers)

    monkeypatch.setattr(fetch, "_resolve", resolve)
    port = api.rsplit(":", 1)[1]
    with pytest.raises(FetchError, match="unspecified address"):
        await fetch.fetch_document(f"http://rebind.test:{port}/spec.json", policy=FetchPolicy())


async def test_loopback_apis_still_work_through_the_guard(api: str) -> None:
    async with fetch.guarded_client(allow_private=False) as client:
        response = await client.get(f"{api}/spec.json")
    assert response.json() == {"openapi": "3.0.3"}


async def test_a_tool_call_never_reaches_a_metadata_service(data_dir: Path) -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "meta", "version": "1"},
        "servers": [{"url": "http://metadata.google.internal/computeMetadata/v1"}],
        "paths": {"/project": {"get": {"operationId": "project", "responses": {"200": {}}}}},
    }
    async with Executor.open(data_dir=data_dir) as ex:
        await ex.sources.add_openapi("meta", spec)
        (tool,) = await ex.tools.list("meta")
        result = await ex.call(tool.address, {})
    assert result["ok"] is False
    assert "cloud metadata host" in result["error"]["message"]
