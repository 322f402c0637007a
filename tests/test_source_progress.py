"""Adding a source reports its stages through ``progress``: download (bytes as they arrive),
parse, then index (tools written to the catalog), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator

import anyio.to_thread
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from executor import Executor
from executor.errors import SpecError
from tests.servers import serve
from tests.servers.petstore import SPEC

Event = tuple[str, int, int | None]


class SpecInTwoParts:
    """Serves the pet store's spec with its Content-Length, in two parts: the second only once
    the test has seen the first arrive (``first_seen``), so a partial download is observable
    without depending on how the network splits the body."""

    def __init__(self) -> None:
        self.body = json.dumps(SPEC).encode()
        self.first_seen = threading.Event()
        self.app = Starlette(routes=[Route("/openapi.json", self._spec)])

    async def _spec(self, request: Request) -> StreamingResponse:
        half = len(self.body) // 2

        async def parts() -> AsyncIterator[bytes]:
            yield self.body[:half]
            # Bounded: a client that never reports the first part fails the test, not hangs it.
            await anyio.to_thread.run_sync(self.first_seen.wait, 30)
            yield self.body[half:]

        headers = {"Content-Length": str(len(self.body))}
        return StreamingResponse(parts(), media_type="application/json", headers=headers)


@pytest.fixture
def spec_server() -> Iterator[tuple[SpecInTwoParts, str]]:
    spec = SpecInTwoParts()
    with serve(spec.app) as url:
        yield spec, url


def _stages(events: list[Event]) -> list[str]:
    """The stages in the order they were reported, consecutive repeats folded."""
    order: list[str] = []
    for stage, _, _ in events:
        if not order or order[-1] != stage:
            order.append(stage)
    return order


async def test_adding_a_source_reports_download_parse_and_index_in_order(
    ex: Executor, spec_server: tuple[SpecInTwoParts, str]
) -> None:
    spec, url = spec_server
    size = len(spec.body)
    events: list[Event] = []

    def progress(stage: str, done: int, total: int | None) -> None:
        events.append((stage, done, total))
        if stage == "download" and total == size and 0 < done < size:
            spec.first_seen.set()

    integration = await ex.sources.add(
        "petstore", "openapi", source=f"{url}/openapi.json", progress=progress
    )

    assert _stages(events) == ["download", "parse", "index"]
    download = [(done, total) for stage, done, total in events if stage == "download"]
    received = [done for done, total in download if total == size]
    assert any(0 < done < size for done in received)  # reported while the body arrived
    assert received == sorted(received) and received[-1] == size
    assert download[-1] == (size, size)
    parse = [(done, total) for stage, done, total in events if stage == "parse"]
    assert parse[0] == (0, 1) and parse[-1][0] == parse[-1][1]
    index = [(done, total) for stage, done, total in events if stage == "index"]
    assert index[0] == (0, 5) and index[-1] == (5, 5)
    assert [done for done, _ in index] == sorted(done for done, _ in index)
    assert integration.tool_count == 5


async def test_a_source_that_fails_to_parse_reports_no_index_and_stores_nothing(
    ex: Executor, spec_server: tuple[SpecInTwoParts, str]
) -> None:
    spec, url = spec_server
    spec.body = b'{"openapi": "3.0.3", "paths": []}'
    spec.first_seen.set()
    events: list[Event] = []

    with pytest.raises(SpecError):
        await ex.sources.add(
            "broken",
            "openapi",
            source=f"{url}/openapi.json",
            progress=lambda *event: events.append(event),
        )

    assert _stages(events) == ["download", "parse"]
    assert await ex.sources.list() == []
