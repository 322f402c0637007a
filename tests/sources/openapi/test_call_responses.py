"""What a call returns: data for every kind of body, and errors for every kind of failure."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx2
import pytest

from executor.results import ToolResult
from executor.sources.base import AppliedAuth
from executor.sources.openapi.response import MAX_BINARY_BYTES
from tests.servers import free_port, serve
from tests.servers.echo_api import BINARY, create_app
from tests.sources.openapi.calls import binding, call

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient() as client:
        yield client


async def get(http: httpx2.AsyncClient, echo_url: str, path: str, **kwargs: Any) -> ToolResult:
    return await call(http, binding(path=path), base_url=echo_url, **kwargs)


# -- data -----------------------------------------------------------------------------------------


async def test_json_is_parsed_and_only_safe_headers_pass(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    result = await get(http, echo_url, "/paged")
    assert result["ok"] is True
    assert result["data"] == [{"id": 1}, {"id": 2}]
    assert result["http"]["status"] == 200
    headers = result["http"]["headers"]
    assert headers["link"] == '<http://example.invalid/paged?page=2>; rel="next"'
    assert headers["x-total-count"] == "42"
    assert headers["x-ratelimit-remaining"] == "99"
    assert "set-cookie" not in headers
    assert "x-internal-token" not in headers
    assert "upstream-session-id" not in json.dumps(result)


async def test_vendor_json_and_untyped_json_are_parsed(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    assert (await get(http, echo_url, "/vendor-json"))["data"] == {"data": {"id": "1"}}
    assert (await get(http, echo_url, "/untyped-json"))["data"] == {"untyped": True}


async def test_text_is_returned_as_a_string(http: httpx2.AsyncClient, echo_url: str) -> None:
    result = await get(http, echo_url, "/text")
    assert result["data"] == "plain words, not JSON"
    assert result["http"]["headers"]["content-type"].startswith("text/plain")


async def test_an_empty_body_is_none(http: httpx2.AsyncClient, echo_url: str) -> None:
    result = await get(http, echo_url, "/empty")
    assert result == {"ok": True, "data": None, "http": {"status": 204, "headers": {}}}


async def test_binary_is_returned_as_base64_with_its_size(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    result = await get(http, echo_url, "/binary")
    data = result["data"]
    assert data["content_type"] == "image/png"
    assert data["size"] == len(BINARY)
    assert data["truncated"] is False
    assert base64.b64decode(data["base64"]) == BINARY


async def test_large_binary_is_cut_at_the_cap_and_says_so(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    size = MAX_BINARY_BYTES + 5_000
    result = await call(http, binding(path=f"/binary?size={size}"), base_url=echo_url)
    data = result["data"]
    assert data["truncated"] is True
    assert data["size"] == size
    assert len(base64.b64decode(data["base64"])) == MAX_BINARY_BYTES


async def test_a_redirect_is_returned_not_followed(http: httpx2.AsyncClient, echo_url: str) -> None:
    result = await get(http, echo_url, "/redirect")
    assert result["ok"] is True
    assert result["http"]["status"] == 302
    assert result["http"]["headers"]["location"] == "http://other.invalid/landing"


# -- errors ---------------------------------------------------------------------------------------


async def test_404_is_an_upstream_error_with_the_api_message_and_body(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    result = await get(http, echo_url, "/status/404")
    error = result["error"]
    assert result["ok"] is False
    assert error["code"] == "upstream_error"
    assert error["status"] == 404
    assert error["retryable"] is False
    assert "404" in error["message"]
    assert "Status 404 on purpose" in error["message"]
    assert error["details"]["json"] == {"message": "Status 404 on purpose", "code": 404}
    assert "Status 404 on purpose" in error["details"]["body"]


async def test_500_is_an_upstream_error_that_is_not_retryable(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    error = (await get(http, echo_url, "/status/500"))["error"]
    assert (error["code"], error["status"], error["retryable"]) == ("upstream_error", 500, False)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_throttling_and_gateway_statuses_are_retryable(
    http: httpx2.AsyncClient, echo_url: str, status: int
) -> None:
    error = (await get(http, echo_url, f"/status/{status}"))["error"]
    assert error["code"] == "upstream_error"
    assert error["status"] == status
    assert error["retryable"] is True


async def test_429_details_carry_retry_after(http: httpx2.AsyncClient, echo_url: str) -> None:
    error = (await get(http, echo_url, "/status/429"))["error"]
    assert error["details"]["headers"]["retry-after"] == "7"


async def test_html_502_becomes_readable_text_in_the_excerpt(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    error = (await get(http, echo_url, "/html-502"))["error"]
    assert error["status"] == 502
    assert error["retryable"] is True
    body = error["details"]["body"]
    assert body.startswith("502 Bad Gateway Bad Gateway The upstream server & its friends")
    assert "<" not in body
    assert "color: red" not in body
    assert "json" not in error["details"]


async def test_problem_json_detail_makes_the_message(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    error = (await get(http, echo_url, "/problem"))["error"]
    assert error["status"] == 422
    assert "name must not be empty" in error["message"]


async def test_401_is_auth_required_with_the_challenge(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    error = (await get(http, echo_url, "/status/401"))["error"]
    assert error["code"] == "auth_required"
    assert error["status"] == 401
    assert error["details"]["challenge"].startswith("Bearer")


async def test_403_is_auth_required_only_with_a_challenge(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    plain = (await get(http, echo_url, "/status/403"))["error"]
    challenged = (await get(http, echo_url, "/status/403?challenge=1"))["error"]
    assert plain["code"] == "upstream_error"
    assert challenged["code"] == "auth_required"


async def test_credentials_echoed_in_an_error_body_never_reach_the_result(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    user_pass = base64.b64encode(b"alice:basic-password").decode()
    for auth in (
        AppliedAuth(headers={"Authorization": "Bearer tok-en-12345"}),
        AppliedAuth(headers={"Authorization": f"Basic {user_pass}"}),
        AppliedAuth(query={"api_key": "query-secret-678"}, cookies={"sid": "cookie-secret-9"}),
    ):
        result = await get(http, echo_url, "/leaky-auth", auth=auth)
        text = json.dumps(result)
        assert result["error"]["code"] == "upstream_error"
        for secret in ("tok-en-12345", user_pass, "basic-password", "query-secret-678"):
            assert secret not in text
        assert "cookie-secret-9" not in text
        assert "[REDACTED]" in text


async def test_a_timeout_is_a_timeout_error(http: httpx2.AsyncClient, echo_url: str) -> None:
    with anyio.fail_after(10):
        result = await get(http, echo_url, "/slow", time_limit=0.3)
    error = result["error"]
    assert error["code"] == "timeout"
    assert error["retryable"] is True
    assert "0.3 s" in error["message"]


async def test_the_time_limit_bounds_the_whole_call_not_each_read(
    http: httpx2.AsyncClient, echo_url: str
) -> None:
    """An API that sends a byte every 50 ms never lets one read time out: the call's own
    deadline still ends it."""
    with anyio.fail_after(10):
        result = await get(http, echo_url, "/drip", time_limit=0.5)
    error = result["error"]
    assert error["code"] == "timeout"
    assert "0.5 s" in error["message"]


async def test_an_unreachable_port_is_a_retryable_upstream_error(
    http: httpx2.AsyncClient,
) -> None:
    port = free_port()  # nothing listens there once the probe socket is closed
    auth = AppliedAuth(query={"api_key": "unreachable-secret"})
    result = await call(http, binding(path="/x"), base_url=f"http://127.0.0.1:{port}", auth=auth)
    error = result["error"]
    assert error["code"] == "upstream_error"
    assert error["retryable"] is True
    assert error["message"].startswith(f"Could not reach 127.0.0.1:{port}")
    assert "unreachable-secret" not in json.dumps(result)
    assert "?" not in error["message"]
