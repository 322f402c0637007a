"""Adding an integration over the API with ``Accept: application/x-ndjson``: progress lines while
it imports, then the answer a plain request gets, or the error. A real server, the pet store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.server import run_app
from tests.server.test_api import _client
from tests.servers.petstore import PetStore

NDJSON = "application/x-ndjson"


@pytest.fixture
def server(data_dir: Path) -> Iterator[tuple[str, str]]:
    with run_app(data_dir) as running:
        yield running


async def _stream(http: httpx2.AsyncClient, body: dict[str, Any]) -> tuple[int, str, list[Any]]:
    """POST /integrations streaming: the status, the content type and every line, decoded."""
    async with http.stream(
        "POST", "/integrations", json=body, headers={"Accept": NDJSON}
    ) as response:
        lines = [json.loads(line) async for line in response.aiter_lines() if line.strip()]
        return response.status_code, response.headers["content-type"], lines


async def test_a_streamed_add_reports_each_stage_then_answers_the_integration(
    server: tuple[str, str], petstore: tuple[PetStore, str]
) -> None:
    url, token = server
    _, petstore_url = petstore
    async with _client(url, token) as http:
        status, content_type, lines = await _stream(
            http, {"slug": "petstore", "spec": f"{petstore_url}/openapi.json"}
        )
        stored = (await http.get("/integrations/petstore")).json()

    *events, answer = lines
    assert (status, content_type) == (200, NDJSON)
    assert all(event["event"] == "progress" for event in events)
    stages = [event["stage"] for event in events]
    assert [s for i, s in enumerate(stages) if stages[i - 1 : i] != [s]] == [
        "download",
        "parse",
        "index",
    ]
    assert events[-1] == {"event": "progress", "stage": "index", "done": 5, "total": 5}
    assert answer == stored  # the body a plain request answers
    assert answer["slug"] == "petstore" and answer["tool_count"] == 5


async def test_a_streamed_add_of_a_bad_spec_ends_with_the_error_and_stores_nothing(
    server: tuple[str, str], petstore: tuple[PetStore, str]
) -> None:
    url, token = server
    store, petstore_url = petstore
    store.spec = {"openapi": "3.0.3", "paths": []}
    async with _client(url, token) as http:
        status, content_type, lines = await _stream(
            http, {"slug": "petstore", "kind": "openapi", "spec": f"{petstore_url}/openapi.json"}
        )
        listed = (await http.get("/integrations")).json()

    *events, answer = lines
    assert (status, content_type) == (200, NDJSON)
    assert {event["stage"] for event in events} <= {"download", "parse"}
    assert answer["ok"] is False
    assert answer["error"]["code"] == "invalid_spec"
    assert "\n" not in answer["error"]["message"]
    assert listed == []


async def test_a_malformed_request_fails_at_once_even_when_streaming_is_asked_for(
    server: tuple[str, str],
) -> None:
    url, token = server
    async with _client(url, token) as http:
        status, content_type, lines = await _stream(http, {"slug": 7, "spec": "x"})

    assert (status, content_type) == (400, "application/json")
    assert len(lines) == 1 and lines[0]["error"]["code"] == "invalid_input"
