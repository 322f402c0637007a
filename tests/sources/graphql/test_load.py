"""Loading GraphQL schemas from an endpoint, files and text, and refusing bad input clearly."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import graphql
import httpx2
import pytest

from executor.errors import FetchError, InvalidInputError, SecretError, SpecError
from executor.sources.base import FetchPolicy, SourceConfig
from executor.sources.fetch import guarded_client
from executor.sources.graphql import GraphQLPlugin
from tests.servers import serve
from tests.servers.graphql_api import SDL, TOKEN, Library

POLICY = FetchPolicy(timeout=5.0)


@pytest.fixture(scope="module")
def library_url() -> Iterator[str]:
    with serve(Library().app) as url:
        yield url


def introspection_json() -> dict[str, object]:
    return graphql.introspection_from_schema(graphql.build_schema(SDL))  # type: ignore[return-value]


async def load(config: SourceConfig, policy: FetchPolicy = POLICY) -> list[str]:
    bundle = await GraphQLPlugin().load(config, fetch_policy=policy)
    return sorted(tool.name for tool in bundle.tools)


async def test_an_endpoint_is_introspected(library_url: str) -> None:
    bundle = await GraphQLPlugin().load(
        SourceConfig(url=f"{library_url}/graphql"), fetch_policy=POLICY
    )
    assert len(bundle.tools) == 12
    assert bundle.config["endpoint"] == f"{library_url}/graphql"
    assert bundle.requires_auth is False and bundle.auth_methods == []
    # The standard introspection query does not ask for the schema's description (older
    # servers reject it), so the summary counts the fields.
    assert bundle.summary == "GraphQL API: 10 queries, 2 mutations."
    assert b"__schema" in (bundle.spec or b"")


async def test_sdl_and_both_introspection_shapes_give_the_same_tools(tmp_path: Path) -> None:
    sdl_file = tmp_path / "library.graphql"
    sdl_file.write_text(SDL)
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": introspection_json()}))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(introspection_json()))
    from_sdl = await load(SourceConfig(path=str(sdl_file)))
    assert from_sdl == await load(SourceConfig(path=str(wrapped)))
    assert from_sdl == await load(SourceConfig(path=str(bare)))
    assert from_sdl == await load(SourceConfig(text=SDL))


async def test_a_schema_from_a_file_warns_that_it_needs_an_endpoint(tmp_path: Path) -> None:
    bundle = await GraphQLPlugin().load(SourceConfig(text=SDL), fetch_policy=POLICY)
    assert any("base_url" in warning for warning in bundle.warnings)
    with_base = await GraphQLPlugin().load(
        SourceConfig(text=SDL, base_url="http://127.0.0.1:1/graphql"), fetch_policy=POLICY
    )
    assert not with_base.warnings


async def test_a_private_endpoint_is_introspected_with_env_headers(
    library_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{library_url}/private/graphql"
    with pytest.raises(FetchError, match="HTTP 401") as caught:
        await load(SourceConfig(url=url))
    assert "env://" in (caught.value.hint or "")
    monkeypatch.setenv("LIBRARY_AUTH", f"Bearer {TOKEN}")
    options = {"headers": {"Authorization": "env://LIBRARY_AUTH"}, "auth": "bearer"}
    bundle = await GraphQLPlugin().load(SourceConfig(url=url, options=options), fetch_policy=POLICY)
    assert len(bundle.tools) == 12
    assert [method.type for method in bundle.auth_methods] == ["bearer"]
    assert bundle.requires_auth


async def test_a_literal_credential_in_options_is_refused(library_url: str) -> None:
    options = {"headers": {"Authorization": f"Bearer {TOKEN}"}}
    with pytest.raises(SecretError, match="must be a secret reference") as caught:
        await load(SourceConfig(url=f"{library_url}/private/graphql", options=options))
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("/html", SpecError, "HTML page"),
        ("/broken", SpecError, "broken introspection result"),
        ("/no-introspection", SpecError, "introspection is not allowed"),
        ("/redirect", FetchError, "redirects"),
        ("/nowhere", FetchError, "HTTP 404"),
    ],
)
async def test_a_bad_endpoint_gives_one_clear_error(
    library_url: str, path: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):  # type: ignore[arg-type]
        await load(SourceConfig(url=f"{library_url}{path}"))


async def test_an_endpoint_that_never_answers_fails_within_the_timeout(library_url: str) -> None:
    with anyio.fail_after(10):  # the policy's 0.5 s bounds it; this only guards the test
        with pytest.raises(FetchError, match=r"within 0\.5 s"):
            await load(SourceConfig(url=f"{library_url}/slow"), FetchPolicy(timeout=0.5))


async def test_a_schema_over_the_size_limit_is_refused(library_url: str) -> None:
    with pytest.raises(FetchError, match="larger than the 1,000-byte limit"):
        await load(SourceConfig(url=f"{library_url}/graphql"), FetchPolicy(max_bytes=1_000))


async def test_metadata_endpoints_are_never_introspected() -> None:
    with pytest.raises(FetchError, match="cloud metadata"):
        await load(SourceConfig(url="http://169.254.169.254/graphql"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (" \n", "is empty"),
        ("type Query { a: Int", "neither an introspection result nor valid GraphQL SDL"),
        ('{"data": {"__schema": ', "not valid JSON (it ends early)"),
        ('{"hello": "world"}', "has no __schema"),
        ("[1, 2]", "not an introspection result"),
        ('{"__schema": {"queryType": {"name": "Query"}, "types": []}}', "broken introspection"),
        ('{"__schema": {"types": []}}', "defines no Query or Mutation"),
        ("type Foo { a: Int }", "defines no Query or Mutation"),
        ("type Query { a: Missing }", "not a usable GraphQL schema"),
        ("<html><body>Login</body></html>", "is HTML"),
    ],
)
async def test_a_broken_document_is_a_spec_error(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        await load(SourceConfig(text=text))


async def test_unknown_options_and_bad_auth_options_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="'header'"):
        await load(SourceConfig(text=SDL, options={"header": {}}))
    with pytest.raises(InvalidInputError, match="auth option"):
        await load(SourceConfig(text=SDL, options={"auth": "oauth9"}))


async def test_detect_recognises_sdl_and_introspection_json() -> None:
    plugin = GraphQLPlugin()
    sdl = await plugin.detect(SDL)
    assert sdl is not None and sdl.confidence == 0.9
    intro = await plugin.detect(json.dumps({"data": introspection_json()}))
    assert intro is not None and intro.confidence == 0.95
    loose = await plugin.detect("type Book { id: ID }\ninput NewBook { title: String }\n")
    assert loose is not None and loose.confidence == 0.5
    assert await plugin.detect('{"openapi": "3.0.0", "paths": {}}') is None
    assert await plugin.detect("openapi: 3.0.0\ninfo:\n  title: type Query\n") is None
    hinted = await plugin.detect("<html></html>", url="https://api.example.com/graphql")
    assert hinted is not None and hinted.confidence == 0.3


async def test_probe_recognises_an_endpoint_and_nothing_else(library_url: str) -> None:
    plugin = GraphQLPlugin()
    async with guarded_client(allow_private=False, timeout=5.0) as http:
        found = await plugin.probe(f"{library_url}/graphql", http=http, timeout=5.0)
        assert found is not None and found.kind == "graphql" and found.confidence == 0.95
        assert "Query" in found.reason
        assert await plugin.probe(f"{library_url}/html", http=http, timeout=5.0) is None
        assert await plugin.probe(f"{library_url}/private/graphql", http=http, timeout=5.0) is None
        assert await plugin.probe("http://127.0.0.1:9/graphql", http=http, timeout=5.0) is None
        with anyio.fail_after(10):
            assert await plugin.probe(f"{library_url}/slow", http=http, timeout=0.3) is None


async def test_probe_gives_a_lower_confidence_to_graphql_errors(library_url: str) -> None:
    async with httpx2.AsyncClient() as http:
        found = await GraphQLPlugin().probe(
            f"{library_url}/no-introspection", http=http, timeout=5.0
        )
    assert found is not None and found.confidence == 0.6
