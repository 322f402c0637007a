"""Parameters of every location and style, as a real server receives them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import unquote

import httpx2
import pytest

from tests.servers import serve
from tests.servers.echo_api import create_app
from tests.sources.openapi.calls import binding, call, echoed, header, param

# Marked here, not only by the conftest hook: anyio rebuilds async items that lack the
# anyio_backend fixture at collection end, which drops their parametrize values.
pytestmark = pytest.mark.anyio

ARRAY = ["blue", "black", "brown"]
OBJECT = {"R": 100, "G": 200, "B": 150}


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient() as client:
        yield client


@pytest.mark.parametrize(
    ("style", "explode", "value", "expected"),
    [
        ("simple", False, ARRAY, "/echo/c/blue,black,brown/x"),
        ("simple", True, OBJECT, "/echo/c/R=100,G=200,B=150/x"),
        ("label", False, ARRAY, "/echo/c/.blue,black,brown/x"),
        ("label", True, OBJECT, "/echo/c/.R=100.G=200.B=150/x"),
        ("matrix", False, OBJECT, "/echo/c/;color=R,100,G,200,B,150/x"),
        ("matrix", True, ARRAY, "/echo/c/;color=blue;color=black;color=brown/x"),
        ("simple", False, "a/b c?", "/echo/c/a%2Fb%20c%3F/x"),
        ("simple", False, "..", "/echo/c/%2E%2E/x"),
    ],
)
async def test_path_parameters_arrive_in_their_style(
    http: httpx2.AsyncClient,
    echo_url: str,
    style: str,
    explode: bool,
    value: object,
    expected: str,
) -> None:
    tool = binding(
        path="/c/{color}/x",
        parameters=[param("color", "path", style=style, explode=explode)],
    )
    seen = await echoed(http, echo_url, tool, {"color": value})
    assert seen["path"] == expected


@pytest.mark.parametrize(
    ("style", "explode", "value", "expected"),
    [
        ("form", True, ARRAY, "color=blue&color=black&color=brown"),
        ("form", False, ARRAY, "color=blue,black,brown"),
        ("form", True, OBJECT, "R=100&G=200&B=150"),
        ("form", False, OBJECT, "color=R,100,G,200,B,150"),
        ("spaceDelimited", False, ARRAY, "color=blue%20black%20brown"),
        ("pipeDelimited", False, ARRAY, "color=blue%7Cblack%7Cbrown"),
        ("deepObject", True, OBJECT, "color[R]=100&color[G]=200&color[B]=150"),
        ("form", True, "a&b=c d", "color=a%26b%3Dc%20d"),
    ],
)
async def test_query_parameters_arrive_in_their_style(
    http: httpx2.AsyncClient,
    echo_url: str,
    style: str,
    explode: bool,
    value: object,
    expected: str,
) -> None:
    tool = binding(parameters=[param("color", "query", style=style, explode=explode)])
    seen = await echoed(http, echo_url, tool, {"color": value})
    assert seen["query"] == expected


async def test_allow_reserved_query_values_keep_their_slashes(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(parameters=[param("path", "query", allow_reserved=True)])
    seen = await echoed(http, echo_url, tool, {"path": "docs/a:b"})
    assert seen["query"] == "path=docs/a:b"


async def test_arguments_are_looked_up_by_their_arg_name(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(
        path="/pets/{petId}",
        parameters=[
            param("petId", "path", arg="pet_id"),
            param("page-size", "query", arg="page_size"),
        ],
    )
    seen = await echoed(http, echo_url, tool, {"pet_id": 7, "page_size": 20})
    assert seen["path"] == "/echo/pets/7"
    assert seen["query"] == "page-size=20"


async def test_absent_optional_parameters_are_not_sent(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(
        parameters=[param("a", "query"), param("X-B", "header"), param("c", "cookie")],
    )
    seen = await echoed(http, echo_url, tool, {"a": None})
    assert seen["query"] == ""
    assert header(seen, "x-b") == []
    assert seen["cookie"] is None


async def test_header_parameters_arrive_in_simple_style(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(
        parameters=[
            param("X-Colors", "header"),
            param("X-Rgb", "header", explode=True),
            param("X-Flag", "header"),
        ],
    )
    seen = await echoed(http, echo_url, tool, {"X-Colors": ARRAY, "X-Rgb": OBJECT, "X-Flag": False})
    assert header(seen, "x-colors") == ["blue,black,brown"]
    assert header(seen, "x-rgb") == ["R=100,G=200,B=150"]
    assert header(seen, "x-flag") == ["false"]


async def test_accept_content_type_and_authorization_header_parameters_are_ignored(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(parameters=[param("Authorization", "header"), param("Accept", "header")])
    seen = await echoed(http, echo_url, tool, {"Authorization": "Bearer x", "Accept": "a/b"})
    assert header(seen, "authorization") == []
    assert header(seen, "accept") != ["a/b"]


async def test_a_line_break_in_a_header_value_cannot_inject_another_header(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(parameters=[param("X-Note", "header")])
    seen = await echoed(http, echo_url, tool, {"X-Note": "a\r\nX-Evil: 1"})
    assert header(seen, "x-note") == ["a%0D%0AX-Evil: 1"]
    assert header(seen, "x-evil") == []


async def test_a_line_break_in_a_connection_header_is_refused_before_sending(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    result = await call(
        http,
        binding(),
        base_url=f"{echo_url}/echo",
        settings={"headers": {"X-Team": "a\nX-Evil: 1"}},
    )
    assert result["ok"] is False
    assert result["error"]["code"] == "invalid_input"


async def test_cookie_parameters_arrive_in_form_style(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(
        parameters=[
            param("theme", "cookie"),
            param("ids", "cookie", explode=False),
            param("tags", "cookie", explode=True),
        ],
    )
    seen = await echoed(
        http, echo_url, tool, {"theme": "dark mode", "ids": [1, 2], "tags": ["a", "b"]}
    )
    assert seen["cookie"] == "theme=dark%20mode; ids=1,2; tags=a; tags=b"


async def test_content_typed_parameters_are_sent_as_json(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(
        path="/f/{filter}",
        parameters=[
            param("filter", "path", content_type="application/json"),
            param("where", "query", content_type="application/json"),
            param("X-Meta", "header", content_type="application/json"),
        ],
    )
    value = {"name": "Rex", "ids": [1, 2]}
    seen = await echoed(http, echo_url, tool, {"filter": value, "where": value, "X-Meta": value})
    compact = '{"name":"Rex","ids":[1,2]}'
    assert unquote(seen["path"]) == f"/echo/f/{compact}"
    assert seen["query"].startswith("where=%7B")
    assert unquote(seen["query"]) == f"where={compact}"
    assert header(seen, "x-meta") == [compact]


async def test_a_missing_path_value_is_an_argument_error(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    tool = binding(path="/pets/{petId}", parameters=[param("petId", "path")])
    result = await call(http, tool, {}, base_url=f"{echo_url}/echo")
    assert result["ok"] is False
    assert result["error"]["code"] == "invalid_arguments"
    assert "petId" in result["error"]["message"]


async def test_method_is_sent_as_the_binding_says(http: httpx2.AsyncClient, echo_url: str) -> None:
    for method in ("DELETE", "PUT", "PATCH", "OPTIONS"):
        seen = await echoed(http, echo_url, binding(method, "/m"))
        assert seen["method"] == method
