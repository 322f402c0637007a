"""GraphQL sources end to end through the public SDK, on SQLite and PostgreSQL.

A real graphql-core server runs on loopback; the tests add it as a source, call its fields by
address and from code mode, and check what reached the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from executor import ApprovalRequest, Executor, SpecError
from executor.sources.base import SourceConfig
from tests.conftest import Database
from tests.servers import serve
from tests.servers.graphql_api import SDL, TOKEN, Library


@pytest.fixture
def library() -> Iterator[tuple[Library, str]]:
    api = Library()
    with serve(api.app) as url:
        yield api, url


async def _add(ex: Executor, url: str) -> None:
    await ex.sources.add("library", "graphql", SourceConfig(url=f"{url}/graphql"))


async def test_a_query_field_is_called_with_its_arguments_as_variables(
    ex: Executor, library: tuple[Library, str]
) -> None:
    api, url = library
    await _add(ex, url)
    result = await ex.call("library.default.query.book", {"id": "b2"})
    assert result["ok"], result
    assert result["data"]["title"] == "Cosmos"
    assert result["data"]["author"] == {"id": "a2", "name": "Carl Sagan"}
    assert result["http"]["status"] == 200
    sent = api.requests[-1]
    assert sent["variables"] == {"id": "b2"} and sent["operationName"] == "book"
    assert "b2" not in sent["query"]  # values travel as variables, never inside the document


async def test_select_overrides_the_default_selection(
    ex: Executor, library: tuple[Library, str]
) -> None:
    _, url = library
    await _add(ex, url)
    result = await ex.call(
        "library.default.query.books",
        {"filter": {"genre": "FICTION"}, "first": 1, "_select": "totalCount nodes { title }"},
    )
    assert result["ok"], result
    assert result["data"] == {"totalCount": 2, "nodes": [{"title": "The Dispossessed"}]}


async def test_a_select_that_does_not_fit_the_schema_is_refused_before_sending(
    ex: Executor, library: tuple[Library, str]
) -> None:
    api, url = library
    await _add(ex, url)
    before = len(api.requests)
    result = await ex.call("library.default.query.book", {"id": "b1", "_select": "{ nope }"})
    assert result["error"]["code"] == "invalid_arguments"
    assert "Cannot query field 'nope' on type 'Book'" in result["error"]["message"]
    injected = await ex.call(
        "library.default.query.book",
        {"id": "b1", "_select": 'id } mutation { deleteBook(id: "b1")'},
    )
    assert injected["error"]["code"] == "invalid_arguments"
    assert len(api.requests) == before


async def test_a_select_is_checked_against_the_stored_schema_after_a_restart(
    database: Database, data_dir: Path, library: tuple[Library, str]
) -> None:
    api, url = library
    options = {"data_dir": data_dir, "database_url": database.url}
    async with Executor.open(database_schema=database.schema, **options) as first:
        await _add(first, url)
    async with Executor.open(database_schema=database.schema, **options) as second:
        before = len(api.requests)
        result = await second.call("library.default.query.book", {"id": "b1", "_select": "nope"})
        assert result["error"]["code"] == "invalid_arguments", result
        assert len(api.requests) == before
        fine = await second.call("library.default.query.book", {"id": "b1", "_select": "title"})
        assert fine["data"] == {"title": "The Dispossessed"}


async def test_a_mutation_whose_select_can_only_fail_is_refused_before_approval(
    database: Database, data_dir: Path, library: tuple[Library, str]
) -> None:
    api, url = library
    asked: list[ApprovalRequest] = []

    def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    async with Executor.open(
        **database.options(data_dir),
        on_approval=approve,
    ) as ex:
        await _add(ex, url)
        before = len(api.requests)
        new_book = {"title": "Contact", "genre": "FICTION", "authorId": "a2"}
        for select, reason in (
            ("id titel", "Cannot query field 'titel' on type 'Book'. Did you mean 'title'?"),
            ("id author", "Field 'author' of type 'Author!' must have a selection of subfields"),
            ("title { length }", "Field 'title' must not have a selection"),
            ("id {", "not a usable GraphQL selection: Syntax Error: Expected Name, found <EOF>."),
        ):
            result = await ex.call(
                "library.default.mutation.add_book", {"input": new_book, "_select": select}
            )
            assert result["error"]["code"] == "invalid_arguments", result
            assert reason in result["error"]["message"]
            assert result["error"]["details"]["violations"][0]["path"] == "/_select"
        # Code mode does not pause on it either: the call fails at once.
        run = await ex.execute(
            f"r = tools.library.default.mutation.add_book(input={new_book!r}, _select='nope')\n"
            "r['error']['code']"
        )
        assert (run.status, run.result) == ("completed", "invalid_arguments")
        assert asked == []
        assert len(api.requests) == before and len(api.books) == 3

        fine = await ex.call(
            "library.default.mutation.add_book", {"input": new_book, "_select": "title"}
        )
        assert fine == {"ok": True, "data": {"title": "Contact"}, "http": fine["http"]}
        assert [request.address for request in asked] == ["library.default.mutation.add_book"]


async def test_arguments_are_validated_against_the_input_schema(
    ex: Executor, library: tuple[Library, str]
) -> None:
    _, url = library
    await _add(ex, url)
    result = await ex.call("library.default.query.books", {"filter": {"genre": "POETRY"}})
    assert result["error"]["code"] == "invalid_arguments"


async def test_graphql_errors_become_error_envelopes(
    ex: Executor, library: tuple[Library, str]
) -> None:
    _, url = library
    await _add(ex, url)
    broken = await ex.call("library.default.query.broken")
    assert broken["ok"] is False
    assert broken["error"]["code"] == "upstream_error"
    assert "The broken field is broken" in broken["error"]["message"]
    assert broken["error"]["details"]["errors"][0]["extensions"] == {"code": "BROKEN"}
    who = await ex.call("library.default.query.whoami")
    assert who["error"]["code"] == "auth_required"


async def test_partial_data_comes_back_ok_with_the_errors_next_to_it(
    ex: Executor, library: tuple[Library, str]
) -> None:
    _, url = library
    await _add(ex, url)
    result = await ex.call("library.default.query.flaky", {"_select": "title"})
    assert result["ok"] is True
    assert result["data"] == [
        {"title": "The Dispossessed"},
        None,
        {"title": "A Wizard of Earthsea"},
    ]
    assert result["errors"][0]["message"] == "This book is checked out."
    assert result["errors"][0]["path"] == ["flaky", 1]


async def test_a_mutation_needs_approval_and_pauses_code_mode(
    ex: Executor, library: tuple[Library, str]
) -> None:
    api, url = library
    await _add(ex, url)
    direct = await ex.call("library.default.mutation.delete_book", {"id": "b1"})
    assert direct["error"]["code"] == "approval_required"
    assert "b1" in api.books
    code = (
        "r = tools.library.default.mutation.add_book("
        "input={'title': 'Contact', 'genre': 'FICTION', 'authorId': 'a2'}, _select='id title')\n"
        "r['data']['title']"
    )
    paused = await ex.execute(code)
    assert paused.status == "paused", paused.error
    assert paused.pending is not None
    assert paused.pending["address"] == "library.default.mutation.add_book"
    assert len(api.books) == 3
    done = await ex.resume(paused.id, "accept")
    assert (done.status, done.result) == ("completed", "Contact")
    assert [book["title"] for book in api.books.values()][-1] == "Contact"


async def test_queries_run_from_code_mode_without_approval(
    ex: Executor, library: tuple[Library, str]
) -> None:
    _, url = library
    await _add(ex, url)
    run = await ex.execute(
        "r = tools.library.default.query.search(text='cos')\n[x['title'] for x in r['data']]"
    )
    assert (run.status, run.result) == ("completed", ["Cosmos"])


async def test_a_private_endpoint_is_called_with_the_connection_bearer_token(
    ex: Executor, library: tuple[Library, str]
) -> None:
    api, url = library
    config = SourceConfig(text=SDL, base_url=f"{url}/private/graphql", options={"auth": "bearer"})
    await ex.sources.add("private", "graphql", config)
    assert await ex.connections.list("private") == []  # needs credentials: no default
    await ex.connections.create("private", "work", auth={"type": "bearer", "token": TOKEN})
    await ex.connections.create("private", "wrong", auth={"type": "bearer", "token": "nope-1234"})
    result = await ex.call("private.work.query.ping")
    assert result == {"ok": True, "data": "pong", "http": result["http"]}
    assert api.requests[-1]["authorization"] == f"Bearer {TOKEN}"
    refused = await ex.call("private.wrong.query.ping")
    assert refused["error"]["code"] == "auth_required"
    assert refused["error"]["status"] == 401


async def test_a_credential_echoed_in_graphql_errors_never_reaches_the_result(
    ex: Executor, library: tuple[Library, str]
) -> None:
    _, url = library
    await ex.sources.add("leaky", "graphql", SourceConfig(text=SDL, base_url=f"{url}/leaky"))
    await ex.connections.create("leaky", "work", auth={"type": "bearer", "token": TOKEN})
    result = await ex.call("leaky.work.query.ping")
    assert result["ok"] is False
    assert "was rejected" in result["error"]["message"]
    assert TOKEN not in repr(result)


async def test_an_endpoint_answering_html_gives_a_clear_error(
    ex: Executor, library: tuple[Library, str]
) -> None:
    _, url = library
    await ex.sources.add("site", "graphql", SourceConfig(text=SDL, base_url=f"{url}/html"))
    result = await ex.call("site.default.query.ping")
    assert result["error"]["code"] == "upstream_error"
    assert "not a GraphQL response" in result["error"]["message"]
    assert "Welcome" in result["error"]["details"]["body"]


async def test_the_time_limit_bounds_the_whole_exchange_not_each_read(
    ex: Executor, library: tuple[Library, str]
) -> None:
    """An endpoint that sends a byte every 50 ms never lets one read time out: the call's
    own deadline still ends it."""
    _, url = library
    await ex.sources.add("trickle", "graphql", SourceConfig(text=SDL, base_url=f"{url}/drip"))
    await ex.connections.create("trickle", "slow", timeout=0.5)
    with anyio.fail_after(10):
        result = await ex.call("trickle.slow.query.ping")
    assert result["error"]["code"] == "timeout"
    assert "0.5 s" in result["error"]["message"]


async def test_a_schema_loaded_from_a_file_needs_a_base_url_to_be_called(
    ex: Executor, tmp_path: Path
) -> None:
    schema = tmp_path / "library.graphql"
    schema.write_text(SDL)
    await ex.sources.add("offline", "graphql", SourceConfig(path=str(schema)))
    result = await ex.call("offline.default.query.ping")
    assert result["error"]["code"] == "invalid_input"
    assert "base_url" in result["error"]["message"]


async def test_a_source_that_fails_to_load_stores_nothing(
    ex: Executor, library: tuple[Library, str]
) -> None:
    _, url = library
    with pytest.raises(SpecError, match="HTML page"):
        await ex.sources.add("bad", "graphql", SourceConfig(url=f"{url}/html"))
    assert await ex.sources.list() == []


async def test_refresh_reports_no_change_for_the_same_schema(
    ex: Executor, library: tuple[Library, str]
) -> None:
    _, url = library
    await _add(ex, url)
    report = await ex.sources.refresh("library")
    assert (report.added, report.changed, report.removed, report.tool_count) == ((), (), (), 12)
