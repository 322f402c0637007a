"""Bad input through the SDK: one clear line of error, and the catalog exactly as it was."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from executor import Executor, ExecutorError
from tests.servers.petstore import PetStore

ALIAS_BOMB = "\n".join(
    ["openapi: 3.0.3", "a: &a [x, x, x, x, x, x, x, x, x]"]
    + [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
        for i in range(9)
    ]
)
MINIMAL = '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}'

#: (name, spec given to add_openapi — text, or a function of the pet store's base URL)
BAD_SOURCES: list[tuple[str, str | Callable[[str], str]]] = [
    ("truncated JSON", '{"openapi": "3.0.3", "info": {"title": "t", "vers'),
    ("neither JSON nor YAML", "<html><body>Not a spec</body></html>\n: : :"),
    ("YAML alias bomb", ALIAS_BOMB),
    ("OpenAPI 4", MINIMAL.replace("3.0.3", "4.0.0")),
    ("Swagger 1.2", '{"swagger": "1.2", "info": {}, "paths": {}}'),
    ("missing paths", '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}}'),
    ("not a mapping", "[1, 2, 3]"),
    ("unreachable URL", lambda url: "http://127.0.0.1:9/openapi.json"),
    ("404 URL", lambda url: f"{url}/missing.json"),
    ("a URL that is an API, not a spec", lambda url: f"{url}/v1/pets"),
    ("missing file", lambda url: "/nonexistent/dir/spec.yaml"),
]


@pytest.mark.parametrize(("name", "spec"), BAD_SOURCES, ids=[name for name, _ in BAD_SOURCES])
async def test_a_bad_source_is_one_line_of_error_and_changes_nothing(
    ex: Executor,
    petstore: tuple[PetStore, str],
    name: str,
    spec: str | Callable[[str], str],
) -> None:
    _, url = petstore
    await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
    await ex.connections.create("petstore", "work", auth={"type": "api_key", "value": "k"})
    before = (await ex.tools.list(), await ex.sources.list(), await ex.connections.list())

    text = spec(url) if callable(spec) else spec
    with pytest.raises(ExecutorError) as caught:
        await ex.sources.add_openapi("broken", text)
    message = str(caught.value)
    assert "\n" not in message and 10 < len(message) < 400, message
    assert "Traceback" not in message

    after = (await ex.tools.list(), await ex.sources.list(), await ex.connections.list())
    assert after == before


async def test_a_spec_that_goes_bad_fails_refresh_and_keeps_the_old_tools(
    ex: Executor, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
    await ex.connections.create(
        "petstore", "work", auth={"type": "api_key", "value": store.api_key}
    )
    before = await ex.tools.list()
    for broken in ({"openapi": "3.0.3"}, {"swagger": "1.2"}, {"openapi": "3.0.3", "paths": 5}):
        store.spec = broken
        with pytest.raises(ExecutorError) as caught:
            await ex.sources.refresh("petstore")
        assert "\n" not in str(caught.value)
        assert await ex.tools.list() == before
    listing = next(t.address for t in before if "list" in t.name)
    assert (await ex.call(listing, {}))["ok"]


@pytest.mark.parametrize(
    ("slug", "problem"),
    [("Pet Store", "not a valid name"), ("import", "not a valid name"), ("x" * 40, "at most 32")],
)
async def test_slugs_are_checked_before_anything_is_fetched(
    ex: Executor, petstore: tuple[PetStore, str], slug: str, problem: str
) -> None:
    _, url = petstore
    with pytest.raises(ExecutorError, match=problem):
        await ex.sources.add_openapi(slug, f"{url}/openapi.json")
    assert await ex.sources.list() == []
