"""Upstreams that misbehave give one clear error in bounded time; the rest keeps working."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from executor import Executor
from executor.errors import FetchError
from executor.sources.base import FetchPolicy, SourceConfig
from tests.servers import free_port
from tests.sources.mcp.conftest import upstream_options

pytestmark = pytest.mark.anyio

BOUND = 15.0  # the handshake timeout (2 s) plus the SDK's bounded process shutdown


@contextlib.asynccontextmanager
async def _executor(data_dir: Path, state: Path, timeout: float) -> AsyncIterator[Executor]:
    """An executor whose loads give up after ``timeout`` s, with one working MCP source."""
    policy = FetchPolicy(timeout=timeout)
    async with Executor.open(data_dir=data_dir, fetch_policy=policy) as ex:
        await ex.sources.add(
            "good", "mcp", SourceConfig(options=upstream_options(state, connect_timeout=60))
        )
        yield ex


@pytest.fixture
async def short_ex(data_dir: Path, state: Path):  # type: ignore[no-untyped-def]
    """Loads give up after 2 s: for servers that never answer."""
    async with _executor(data_dir, state, 2.0) as ex:
        yield ex


@pytest.fixture
async def patient_ex(data_dir: Path, state: Path):  # type: ignore[no-untyped-def]
    """Loads would wait 60 s: a server that fails on its own must be named for what it did
    (well within BOUND), not for a timeout that a slow machine's start-up could reach first."""
    async with _executor(data_dir, state, 60.0) as ex:
        yield ex


async def _add_fails(
    ex: Executor, options: dict[str, object] | None = None, url: str | None = None
) -> FetchError:
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        await ex.sources.add("bad", "mcp", SourceConfig(url=url, options=options or {}))
    assert time.monotonic() - started < BOUND
    assert (await ex.call("good.default.add", {"a": 1, "b": 1})) == {"ok": True, "data": "2"}
    assert [i.slug for i in await ex.sources.list()] == ["good"]
    assert len(str(caught.value).splitlines()) == 1
    return caught.value


async def test_a_server_that_hangs_on_initialize_times_out(short_ex: Executor, state: Path) -> None:
    error = await _add_fails(short_ex, upstream_options(state, "--misbehave", "hang"))
    assert "did not complete the handshake within 2 s" in error.message


async def test_a_server_printing_garbage_is_named_as_such(short_ex: Executor, state: Path) -> None:
    error = await _add_fails(short_ex, upstream_options(state, "--misbehave", "garbage"))
    assert "non-MCP output" in error.message


async def test_a_server_that_exits_at_once_shows_its_stderr(
    patient_ex: Executor, state: Path
) -> None:
    error = await _add_fails(patient_ex, upstream_options(state, "--misbehave", "exit"))
    assert "closed the connection" in error.message
    assert "giving up at once" in error.message


async def test_a_missing_command_is_a_clear_error(patient_ex: Executor) -> None:
    error = await _add_fails(patient_ex, {"command": "/nonexistent/mcp-server"})
    assert "Cannot start" in error.message


async def test_an_unreachable_url_is_a_clear_error(patient_ex: Executor) -> None:
    error = await _add_fails(patient_ex, url=f"http://127.0.0.1:{free_port()}/mcp")
    assert "Cannot reach" in error.message
