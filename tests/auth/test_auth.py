from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from executor.auth import (
    AuthSchemes,
    ResolvedAuth,
    apply_auth,
    builtin_schemes,
    normalize_auth,
    replace_fields,
    secret_fields,
)
from executor.errors import InvalidInputError, SecretError
from executor.models import AuthMethod
from executor.secrets import EnvSecretProvider, SecretResolver
from executor.sources.base import AppliedAuth
from tests.servers import serve

pytestmark = pytest.mark.anyio

ENV = {
    "API_KEY": "key-123/+=&",
    "TOKEN": "tok_abc",
    "USER": "alice",
    "PASSWORD": "pa:ss wörd",
    "APP_ID": "app-1",
    "APP_KEY": "app-key-2",
}
HEADER_KEY = AuthMethod(id="api_key_header", type="api_key", location="header", name="X-API-Key")
QUERY_KEY = AuthMethod(id="api_key_query", type="api_key", location="query", name="api_key")
BEARER = AuthMethod(id="bearer", type="bearer")
OAUTH = AuthMethod(id="oauth", type="oauth2")
BASIC = AuthMethod(id="basic", type="basic")


@pytest.fixture
def resolver() -> SecretResolver:
    return SecretResolver([EnvSecretProvider(ENV)])


# --- normalize_auth -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "methods", "stored"),
    [
        ({"type": "none"}, [], {"type": "none"}),
        (
            {"type": "api_key", "value": "env://API_KEY"},
            [HEADER_KEY],
            {
                "type": "api_key",
                "method": "api_key_header",
                "value": "env://API_KEY",
                "location": "header",
                "name": "X-API-Key",
            },
        ),
        (
            {"type": "api_key", "method": "api_key_query", "value": "v"},
            [HEADER_KEY, QUERY_KEY],
            {
                "type": "api_key",
                "method": "api_key_query",
                "value": "v",
                "location": "query",
                "name": "api_key",
            },
        ),
        (
            {"type": "api_key", "value": "v", "location": "query"},
            [HEADER_KEY, QUERY_KEY],
            {
                "type": "api_key",
                "method": "api_key_query",
                "value": "v",
                "location": "query",
                "name": "api_key",
            },
        ),
        (
            {"type": "api_key", "value": "v", "name": "X-Other"},
            [HEADER_KEY],
            {
                "type": "api_key",
                "method": "api_key_header",
                "value": "v",
                "location": "header",
                "name": "X-Other",
            },
        ),
        (
            {"type": "api_key", "value": "v", "location": "cookie", "name": "session"},
            [HEADER_KEY, QUERY_KEY],
            {"type": "api_key", "value": "v", "location": "cookie", "name": "session"},
        ),
        (
            {"type": "bearer", "token": "secret://t", "method": "oauth"},
            [OAUTH],
            {"type": "bearer", "method": "oauth", "token": "secret://t"},
        ),
        (
            {"type": "basic", "username": "alice", "password": "secret://pw"},
            [BASIC],
            {"type": "basic", "username": "alice", "password": "secret://pw"},
        ),
        (
            {"type": "basic", "username": "env://USER", "password": "secret://pw"},
            [],
            {"type": "basic", "username": "env://USER", "password": "secret://pw"},
        ),
        (
            {"type": "custom_headers", "headers": {"X-App-Id": "env://APP_ID", "X-K": "s"}},
            [],
            {"type": "custom_headers", "headers": {"X-App-Id": "env://APP_ID", "X-K": "s"}},
        ),
    ],
    ids=[
        "none",
        "api-key-from-only-method",
        "api-key-by-method-id",
        "api-key-by-location",
        "api-key-name-override",
        "api-key-explicit-cookie",
        "bearer-for-oauth-method",
        "basic-plain-username",
        "basic-username-reference",
        "custom-headers",
    ],
)
def test_normalize_auth_returns_the_complete_config_to_store(
    config: dict[str, Any], methods: list[AuthMethod], stored: dict[str, Any]
) -> None:
    assert normalize_auth(config, methods) == stored


@pytest.mark.parametrize(
    ("config", "methods", "message"),
    [
        ({}, [], "has no 'type'"),
        ({"type": "oauth3"}, [], "unknown type 'oauth3'"),
        ("bearer", [], "must be an object"),
        ({"type": "none", "token": "x"}, [], "does not take 'token'"),
        ({"type": "bearer"}, [], "needs 'token'"),
        ({"type": "bearer", "token": ""}, [], "non-empty string"),
        ({"type": "bearer", "tokne": "x", "token": "y"}, [], "does not take 'tokne'"),
        ({"type": "bearer", "token": "x", "method": "nope"}, [BEARER], "no bearer auth method"),
        ({"type": "bearer", "token": "x", "method": "basic"}, [BASIC], "is basic, not bearer"),
        ({"type": "api_key", "value": "v"}, [], "where the key goes"),
        ({"type": "api_key", "value": "v"}, [HEADER_KEY, QUERY_KEY], "several API key methods"),
        ({"type": "api_key", "value": "v", "location": "body", "name": "k"}, [], "'body'"),
        ({"type": "api_key", "value": "v", "location": "header", "name": "X Bad"}, [], "header"),
        ({"type": "api_key", "value": "v", "location": "query"}, [HEADER_KEY], "where the key"),
        ({"type": "basic", "username": "a:b", "password": "p"}, [], "cannot contain ':'"),
        ({"type": "basic", "password": "p"}, [], "needs 'username'"),
        ({"type": "custom_headers", "headers": {}}, [], "needs 'headers'"),
        ({"type": "custom_headers", "headers": {"X-A": "1", "x-a": "2"}}, [], "given twice"),
        ({"type": "custom_headers", "headers": {"X-A": 3}}, [], "non-empty string"),
        ({"type": "custom_headers", "headers": {"Bad:Name": "v"}}, [], "not a valid header"),
    ],
)
def test_normalize_auth_refuses_invalid_configs_with_a_clear_message(
    config: Any, methods: list[AuthMethod], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        normalize_auth(config, methods)


def test_an_ambiguous_api_key_lists_the_method_ids_to_choose_from() -> None:
    with pytest.raises(InvalidInputError) as caught:
        normalize_auth({"type": "api_key", "value": "v"}, [HEADER_KEY, QUERY_KEY])
    assert "'api_key_header'" in str(caught.value) and "'api_key_query'" in str(caught.value)


def test_an_error_never_echoes_a_plain_secret_value() -> None:
    with pytest.raises(InvalidInputError) as caught:
        normalize_auth({"type": "api_key", "value": "sk-live-123"}, [HEADER_KEY, QUERY_KEY])
    assert "sk-live-123" not in str(caught.value)


# --- secret_fields and replace_fields -------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "fields"),
    [
        ({"type": "none"}, {}),
        ({"type": "api_key", "value": "v", "location": "query", "name": "k"}, {"/value": "v"}),
        ({"type": "bearer", "token": "t"}, {"/token": "t"}),
        ({"type": "basic", "username": "u", "password": "p"}, {"/password": "p"}),
        (
            {"type": "custom_headers", "headers": {"X-A": "a", "X/B~": "b"}},
            {"/headers/X-A": "a", "/headers/X~1B~0": "b"},
        ),
    ],
)
def test_secret_fields_points_at_every_secret_and_nothing_else(
    config: dict[str, Any], fields: dict[str, str]
) -> None:
    assert secret_fields(config) == fields


def test_replace_fields_swaps_plain_values_for_references_without_touching_the_input() -> None:
    config = {"type": "custom_headers", "headers": {"X-A": "plain-a", "X/B~": "plain-b"}}
    fields = secret_fields(config)
    replaced = replace_fields(config, {p: f"secret://h{i}" for i, p in enumerate(fields)})
    assert replaced == {
        "type": "custom_headers",
        "headers": {"X-A": "secret://h0", "X/B~": "secret://h1"},
    }
    assert config["headers"] == {"X-A": "plain-a", "X/B~": "plain-b"}


def test_replace_fields_refuses_a_pointer_that_is_not_in_the_config() -> None:
    with pytest.raises(InvalidInputError, match="no field /headers/X"):
        replace_fields({"type": "bearer", "token": "t"}, {"/headers/X": "secret://x"})


# --- apply_auth -----------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("config", "applied", "secret_values"),
    [
        ({"type": "none"}, AppliedAuth(), ()),
        (
            {"type": "api_key", "value": "env://API_KEY", "location": "header", "name": "X-K"},
            AppliedAuth(headers={"X-K": ENV["API_KEY"]}),
            (ENV["API_KEY"],),
        ),
        (
            {"type": "api_key", "value": "env://API_KEY", "location": "query", "name": "key"},
            AppliedAuth(query={"key": ENV["API_KEY"]}),
            (ENV["API_KEY"],),
        ),
        (
            {"type": "api_key", "value": "env://TOKEN", "location": "cookie", "name": "sid"},
            AppliedAuth(cookies={"sid": "tok_abc"}),
            ("tok_abc",),
        ),
        (
            {"type": "bearer", "token": "env://TOKEN"},
            AppliedAuth(headers={"Authorization": "Bearer tok_abc"}),
            ("Bearer tok_abc", "tok_abc"),
        ),
        (
            {"type": "basic", "username": "bob", "password": "env://PASSWORD"},
            AppliedAuth(headers={"Authorization": "Basic " + _basic("bob", ENV["PASSWORD"])}),
            (
                "Basic " + _basic("bob", ENV["PASSWORD"]),
                _basic("bob", ENV["PASSWORD"]),
                ENV["PASSWORD"],
            ),
        ),
        (
            {"type": "basic", "username": "env://USER", "password": "env://PASSWORD"},
            AppliedAuth(headers={"Authorization": "Basic " + _basic("alice", ENV["PASSWORD"])}),
            (
                "Basic " + _basic("alice", ENV["PASSWORD"]),
                _basic("alice", ENV["PASSWORD"]),
                ENV["PASSWORD"],
            ),
        ),
        (
            {
                "type": "custom_headers",
                "headers": {"X-App-Id": "env://APP_ID", "X-App-Key": "env://APP_KEY"},
            },
            AppliedAuth(headers={"X-App-Id": "app-1", "X-App-Key": "app-key-2"}),
            ("app-key-2", "app-1"),
        ),
    ],
    ids=[
        "none",
        "api-key-header",
        "api-key-query",
        "api-key-cookie",
        "bearer",
        "basic",
        "basic-username-ref",
        "custom-headers",
    ],
)
async def test_apply_auth_puts_resolved_credentials_where_each_type_sends_them(
    resolver: SecretResolver,
    config: dict[str, Any],
    applied: AppliedAuth,
    secret_values: tuple[str, ...],
) -> None:
    assert await apply_auth(config, resolver) == ResolvedAuth(applied, secret_values)


@pytest.mark.parametrize(
    "config",
    [
        {"type": "bearer", "token": "tok_plain"},
        {"type": "basic", "username": "bob", "password": "pw_plain"},
        {"type": "custom_headers", "headers": {"X-A": "env://APP_ID", "X-B": "hdr_plain"}},
    ],
)
async def test_a_plain_value_in_a_secret_field_is_refused_not_sent(
    resolver: SecretResolver, config: dict[str, Any]
) -> None:
    with pytest.raises(SecretError, match="does not hold a secret reference") as caught:
        await apply_auth(config, resolver)
    assert "plain" not in str(caught.value)


async def test_an_incomplete_stored_api_key_config_is_refused(resolver: SecretResolver) -> None:
    with pytest.raises(InvalidInputError, match="lacks its 'location' or 'name'"):
        await apply_auth({"type": "api_key", "value": "env://API_KEY"}, resolver)


async def test_a_missing_secret_fails_with_the_resolvers_error(resolver: SecretResolver) -> None:
    with pytest.raises(SecretError, match="NOPE is not set"):
        await apply_auth({"type": "bearer", "token": "env://NOPE"}, resolver)


@pytest.mark.parametrize(
    "config",
    [
        {"type": "bearer", "token": "env://EVIL"},
        {"type": "api_key", "value": "env://EVIL", "location": "header", "name": "X-K"},
        {"type": "custom_headers", "headers": {"X-A": "env://EVIL"}},
    ],
)
async def test_a_secret_with_a_line_break_cannot_inject_headers(config: dict[str, Any]) -> None:
    resolver = SecretResolver([EnvSecretProvider({"EVIL": "x\r\nX-Admin: 1"})])
    with pytest.raises(SecretError, match="line break") as caught:
        await apply_auth(config, resolver)
    assert "X-Admin" not in str(caught.value)


async def test_a_resolved_username_with_a_colon_is_refused() -> None:
    resolver = SecretResolver([EnvSecretProvider({"U": "a:b", "P": "p"})])
    with pytest.raises(SecretError, match="contains ':'"):
        await apply_auth({"type": "basic", "username": "env://U", "password": "env://P"}, resolver)


async def test_a_new_scheme_plugs_in_through_the_registry(resolver: SecretResolver) -> None:
    class RefreshingToken:
        """Stands for an OAuth 2 scheme: async, resolves its own secrets, may refresh."""

        type = "oauth2"

        def normalize(self, config: Mapping[str, Any], methods: Any) -> dict[str, Any]:
            return {"type": "oauth2", "refresh_token": config["refresh_token"]}

        def secret_fields(self, config: Mapping[str, Any]) -> dict[str, str]:
            return {"/refresh_token": config["refresh_token"]}

        async def apply(self, config: Mapping[str, Any], resolver: SecretResolver) -> ResolvedAuth:
            refresh = await resolver.resolve(config["refresh_token"])
            access = f"access-for-{refresh}"
            return ResolvedAuth(
                AppliedAuth(headers={"Authorization": f"Bearer {access}"}), (access, refresh)
            )

    schemes: AuthSchemes = builtin_schemes()
    schemes.register(RefreshingToken())
    config = normalize_auth({"type": "oauth2", "refresh_token": "env://TOKEN"}, [], schemes=schemes)
    assert secret_fields(config, schemes=schemes) == {"/refresh_token": "env://TOKEN"}
    resolved = await apply_auth(config, resolver, schemes=schemes)
    assert resolved.applied.headers == {"Authorization": "Bearer access-for-tok_abc"}
    with pytest.raises(InvalidInputError, match="unknown type 'oauth2'"):
        normalize_auth({"type": "oauth2", "refresh_token": "x"}, [])


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "headers": dict(request.headers),
            "query": dict(request.query_params),
            "cookies": dict(request.cookies),
        }
    )


async def test_applied_auth_arrives_intact_at_a_real_http_server(
    resolver: SecretResolver,
) -> None:
    app = Starlette(routes=[Route("/echo", _echo)])
    configs = [
        {"type": "api_key", "value": "env://API_KEY", "location": "query", "name": "key"},
        {"type": "api_key", "value": "env://TOKEN", "location": "cookie", "name": "sid"},
        {"type": "basic", "username": "env://USER", "password": "env://PASSWORD"},
        {"type": "custom_headers", "headers": {"X-App-Id": "env://APP_ID"}},
    ]
    seen = []
    with serve(app) as base_url:
        for config in configs:
            applied = (await apply_auth(config, resolver)).applied
            async with httpx2.AsyncClient(
                base_url=base_url, timeout=10, cookies=dict(applied.cookies)
            ) as client:
                response = await client.get(
                    "/echo", headers=dict(applied.headers), params=dict(applied.query)
                )
            seen.append(response.json())
    assert seen[0]["query"] == {"key": ENV["API_KEY"]}
    assert seen[1]["cookies"] == {"sid": "tok_abc"}
    scheme, token = seen[2]["headers"]["authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"alice:{ENV['PASSWORD']}"
    assert seen[3]["headers"]["x-app-id"] == "app-1"
