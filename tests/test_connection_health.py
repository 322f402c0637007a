"""Connection health comes from real calls: a refused call makes a connection ``needs_auth``, a
later success ``ok`` again, a dead host ``unreachable``; an unchanged status is not written
again. The pet store API on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

from executor import Executor
from executor.models import Connection
from tests.servers import free_port
from tests.servers.petstore import PetStore

LIST = "petstore.work.pets.list_pets"


async def _connection(ex: Executor) -> Connection:
    (connection,) = await ex.connections.list("petstore")
    return connection


async def _add(ex: Executor, url: str, key: str, *, base_url: str | None = None) -> None:
    await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
    await ex.connections.create(
        "petstore", "work", auth={"type": "api_key", "value": key}, base_url=base_url
    )


async def test_a_refused_call_records_needs_auth_and_a_later_success_records_ok(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    key = store.api_key
    store.api_key = "another-key-the-server-expects"
    await _add(ex, url, key)
    before = await _connection(ex)

    refused = await ex.call(LIST)
    failing = await _connection(ex)
    store.api_key = key  # the server accepts the connection's key from now on
    accepted = await ex.call(LIST)
    healthy = await _connection(ex)

    assert before.health.status == "unknown" and before.health.checked_at is None
    assert refused["error"]["code"] == "auth_required"
    assert failing.health.status == "needs_auth"
    assert failing.health.last_error is not None and "HTTP 401" in failing.health.last_error
    assert key not in failing.health.last_error
    assert accepted["ok"] is True
    assert (healthy.health.status, healthy.health.last_error) == ("ok", None)
    assert healthy.health.checked_at is not None
    assert failing.health.checked_at is not None
    assert healthy.health.checked_at > failing.health.checked_at


async def test_an_unchanged_status_is_not_written_again(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    await _add(ex, url, store.api_key)

    await ex.call(LIST)
    first = (await _connection(ex)).health
    for _ in range(3):
        assert (await ex.call(LIST))["ok"] is True
    later = (await _connection(ex)).health
    bad_arguments = await ex.call(LIST, {"limit": "many"})  # says nothing about the connection
    after_bad_call = (await _connection(ex)).health

    assert first.status == "ok" and first.checked_at is not None
    assert later == first  # same status, same checked_at: no write
    assert bad_arguments["error"]["code"] == "invalid_arguments"
    assert after_bad_call == first


async def test_a_host_that_does_not_answer_makes_the_connection_unreachable(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    await _add(ex, url, store.api_key, base_url=f"http://127.0.0.1:{free_port()}/v1")

    result = await ex.call(LIST)
    health = (await _connection(ex)).health

    assert result["error"]["code"] == "upstream_error"
    assert health.status == "unreachable"
    assert health.last_error is not None and "Could not reach" in health.last_error
