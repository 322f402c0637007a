"""Where a call goes (base URL, servers) and what the connection adds (credentials, headers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest

from executor.sources.base import AppliedAuth
from tests.servers import free_port, serve
from tests.servers.echo_api import create_app
from tests.sources.openapi.calls import binding, call, echoed, header, param

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient() as client:
        yield client


def templated_server(echo_url: str) -> dict[str, object]:
    return {
        "url": echo_url + "/echo/{region}/v{version}",
        "variables": {
            "region": {"default": "eu", "enum": ["eu", "us"]},
            "version": {"default": "1"},
        },
    }


async def test_connection_base_url_wins_over_integration_and_server(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(path="/ping", servers=[{"url": "http://127.0.0.1:9/unused"}])
    result = await call(
        http,
        tool,
        settings={"base_url": f"{echo_url}/echo/connection/"},
        integration_config={"base_url": f"{echo_url}/echo/integration"},
    )
    assert result["data"]["path"] == "/echo/connection/ping"


async def test_integration_base_url_wins_over_the_spec_server(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(path="/ping", servers=[{"url": "http://127.0.0.1:9/unused"}])
    result = await call(http, tool, integration_config={"base_url": f"{echo_url}/echo/integration"})
    assert result["data"]["path"] == "/echo/integration/ping"


async def test_server_variables_take_defaults_or_connection_values(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(path="/ping", servers=[templated_server(echo_url)])
    default = await call(http, tool)
    chosen = await call(http, tool, settings={"server_variables": {"region": "us", "version": 2}})
    assert default["data"]["path"] == "/echo/eu/v1/ping"
    assert chosen["data"]["path"] == "/echo/us/v2/ping"


async def test_a_server_variable_outside_its_enum_is_refused_with_the_choices(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(path="/ping", servers=[templated_server(echo_url)])
    result = await call(http, tool, settings={"server_variables": {"region": "mars"}})
    assert result["ok"] is False
    assert result["error"]["code"] == "invalid_input"
    assert "eu, us" in result["error"]["message"]


async def test_a_relative_server_without_base_url_asks_the_user_to_set_one(
    http: httpx2.AsyncClient,
) -> None:
    result = await call(http, binding(path="/pets", servers=[{"url": "/v1"}]))
    assert result["ok"] is False
    assert result["error"]["code"] == "invalid_input"
    assert "base_url" in result["error"]["message"]


async def test_a_relative_server_is_fine_once_base_url_is_set(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(path="/pets", servers=[{"url": "/v1"}])
    result = await call(http, tool, base_url=f"{echo_url}/echo")
    assert result["data"]["path"] == "/echo/pets"


async def test_credentials_reach_the_server_in_header_query_and_cookie(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    auth = AppliedAuth(
        headers={"Authorization": "Bearer header-secret"},
        query={"api_key": "query secret"},
        cookies={"sid": "cookie-secret"},
    )
    tool = binding(parameters=[param("page", "query"), param("theme", "cookie")])
    seen = await echoed(http, echo_url, tool, {"page": 2, "theme": "dark"}, auth=auth)
    assert header(seen, "authorization") == ["Bearer header-secret"]
    assert seen["query"] == "page=2&api_key=query%20secret"
    assert seen["cookie"] == "theme=dark; sid=cookie-secret"


async def test_credentials_win_over_arguments_of_the_same_name(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    auth = AppliedAuth(
        headers={"X-Api-Key": "real"}, query={"key": "real"}, cookies={"sid": "real"}
    )
    tool = binding(
        parameters=[param("x-api-key", "header"), param("key", "query"), param("sid", "cookie")]
    )
    seen = await echoed(
        http, echo_url, tool, {"x-api-key": "forged", "key": "forged", "sid": "forged"}, auth=auth
    )
    assert header(seen, "x-api-key") == ["real"]
    assert seen["query"] == "key=real"
    assert seen["cookie"] == "sid=real"


async def test_connection_headers_are_sent_and_override_arguments_but_not_credentials(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    settings = {"headers": {"X-Team": "platform", "X-Api-Key": "from-settings"}}
    tool = binding(parameters=[param("X-Team", "header")])
    seen = await echoed(
        http,
        echo_url,
        tool,
        {"X-Team": "agent"},
        settings=settings,
        auth=AppliedAuth(headers={"X-Api-Key": "credential"}),
    )
    assert header(seen, "x-team") == ["platform"]
    assert header(seen, "x-api-key") == ["credential"]


async def test_cookies_set_by_the_api_do_not_ride_along_on_later_calls(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    first = await call(http, binding(path="/paged"), base_url=echo_url)
    assert first["ok"]
    seen = await echoed(http, echo_url, binding())
    assert seen["cookie"] is None


async def test_a_connection_header_http_cannot_carry_is_a_configuration_error(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    result = await call(
        http, binding(), base_url=f"{echo_url}/echo", settings={"headers": {"X-Team": "café"}}
    )
    assert result["ok"] is False
    assert result["error"]["code"] == "invalid_input"
    assert "café" not in result["error"]["message"]


async def test_userinfo_in_base_url_is_not_repeated_in_errors(http: httpx2.AsyncClient) -> None:
    url = f"http://user:pw-secret@127.0.0.1:{free_port()}/api"
    result = await call(http, binding(path="/x"), base_url=url)
    assert result["error"]["code"] == "upstream_error"
    assert "pw-secret" not in result["error"]["message"]
