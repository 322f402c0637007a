"""Fetching documents: files, URLs, limits, and the SSRF guard."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from executor.errors import FetchError
from executor.sources.base import FetchPolicy
from executor.sources.fetch import address_refusal, check_url, fetch_document
from tests.servers import free_port, serve

POLICY = FetchPolicy(timeout=5.0)


@pytest.fixture
def api() -> Iterator[str]:
    release = threading.Event()  # lets a stalled request finish so the server can stop

    async def spec(request: Request) -> Response:
        return PlainTextResponse('{"openapi": "3.0.0"}', media_type="application/json")

    async def missing(request: Request) -> Response:
        return PlainTextResponse("nope", status_code=404)

    async def broken(request: Request) -> Response:
        return PlainTextResponse("boom", status_code=500)

    async def stalled(request: Request) -> Response:
        import anyio.to_thread

        await anyio.to_thread.run_sync(release.wait)
        return PlainTextResponse("late")

    async def huge(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(64):
                yield b"x" * 1024

        return StreamingResponse(chunks())

    async def to_metadata(request: Request) -> Response:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/")

    async def to_spec(request: Request) -> Response:
        return RedirectResponse("/spec.json")

    routes = [
        Route("/spec.json", spec),
        Route("/missing.json", missing),
        Route("/broken.json", broken),
        Route("/stalled.json", stalled),
        Route("/huge.json", huge),
        Route("/to-metadata", to_metadata),
        Route("/to-spec", to_spec),
    ]
    with serve(Starlette(routes=routes)) as url:
        try:
            yield url
        finally:
            release.set()


class Tripwire:
    """An httpx2 client that records every request it is asked to send."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def record(self, request: httpx2.Request) -> None:
        self.requests.append(str(request.url))

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(event_hooks={"request": [self.record]}, timeout=5.0)


async def test_a_local_file_is_read_and_its_absolute_location_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "spec.yaml").write_text("openapi: 3.0.0\n")
    monkeypatch.chdir(tmp_path)
    data, location = await fetch_document("spec.yaml", policy=POLICY)
    assert data == b"openapi: 3.0.0\n"
    assert location == str(tmp_path / "spec.yaml")


async def test_a_url_on_loopback_is_fetched(api: str) -> None:
    data, location = await fetch_document(f"{api}/spec.json", policy=POLICY)
    assert data == b'{"openapi": "3.0.0"}'
    assert location == f"{api}/spec.json"


async def test_a_redirect_to_an_allowed_host_is_followed(api: str) -> None:
    data, _ = await fetch_document(f"{api}/to-spec", policy=POLICY)
    assert data == b'{"openapi": "3.0.0"}'


@pytest.mark.parametrize(("path", "status"), [("missing.json", 404), ("broken.json", 500)])
async def test_an_error_status_is_a_fetch_error_with_the_status(
    api: str, path: str, status: int
) -> None:
    with pytest.raises(FetchError, match=f"HTTP {status}") as caught:
        await fetch_document(f"{api}/{path}", policy=POLICY)
    assert caught.value.status == status
    assert "\n" not in str(caught.value)


async def test_an_unreachable_url_is_a_fetch_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/spec.json"
    with pytest.raises(FetchError, match="Cannot reach"):
        await fetch_document(url, policy=POLICY)


async def test_a_stalled_server_times_out_with_a_fetch_error(api: str) -> None:
    with pytest.raises(FetchError, match="Timed out"):
        await fetch_document(f"{api}/stalled.json", policy=FetchPolicy(timeout=0.3))


async def test_a_body_over_the_size_cap_is_refused(api: str) -> None:
    with pytest.raises(FetchError, match="larger than the 10,000-byte limit"):
        await fetch_document(f"{api}/huge.json", policy=FetchPolicy(max_bytes=10_000))


async def test_a_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_bytes(b" " * 2_000)
    with pytest.raises(FetchError, match="larger than the 1,000-byte limit"):
        await fetch_document(str(tmp_path / "big.json"), policy=FetchPolicy(max_bytes=1_000))


async def test_a_missing_file_is_a_fetch_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="File not found"):
        await fetch_document(str(tmp_path / "nope.yaml"), policy=POLICY)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("169.254.10.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12::1", "a private address"),
        ("100.64.0.1", "a private address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("127.0.0.1", None),
        ("::1", None),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_addresses_are_judged_by_their_range(address: str, reason: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == reason


def test_allowing_private_addresses_still_refuses_cloud_metadata() -> None:
    assert address_refusal(ipaddress.ip_address("10.1.2.3"), allow_private=True) is None
    assert address_refusal(ipaddress.ip_address("169.254.1.1"), allow_private=True) is None
    refusal = address_refusal(ipaddress.ip_address("169.254.169.254"), allow_private=True)
    assert refusal == "a cloud metadata address"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://2852039166/latest/meta-data/",  # 169.254.169.254 written as one number
        "http://10.0.0.7/openapi.json",
    ],
)
async def test_forbidden_urls_are_refused_before_any_request_is_sent(url: str) -> None:
    tripwire = Tripwire()
    async with tripwire.client() as client:
        with pytest.raises(FetchError, match="Refused to fetch"):
            await fetch_document(url, policy=POLICY, client=client)
    assert tripwire.requests == []


async def test_a_redirect_to_the_metadata_service_is_refused(api: str) -> None:
    tripwire = Tripwire()
    async with tripwire.client() as client:
        with pytest.raises(FetchError, match="cloud metadata address"):
            await fetch_document(f"{api}/to-metadata", policy=POLICY, client=client)
    assert tripwire.requests == [f"{api}/to-metadata"]


async def test_private_addresses_pass_the_guard_when_the_policy_allows_them() -> None:
    await check_url("http://10.0.0.7/openapi.json", policy=FetchPolicy(allow_private=True))
    with pytest.raises(FetchError, match="private address"):
        await check_url("http://10.0.0.7/openapi.json", policy=FetchPolicy())


async def test_only_http_urls_pass_the_guard() -> None:
    with pytest.raises(FetchError, match="only http and https"):
        await check_url("ftp://example.com/spec.json", policy=POLICY)


async def test_a_remote_document_cannot_reach_a_local_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    with pytest.raises(FetchError, match="Refused to read local file") as caught:
        await fetch_document(secret.as_uri(), policy=POLICY, base="https://example.com/spec.json")
    assert "top secret" not in str(caught.value)


async def test_a_remote_document_reaches_a_local_file_when_files_are_allowed(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared.yaml"
    shared.write_text("Thing: {type: string}\n")
    policy = FetchPolicy(allow_files=True)
    data, _ = await fetch_document(shared.as_uri(), policy=policy, base="https://x.test/a.json")
    assert data == b"Thing: {type: string}\n"


async def test_a_relative_reference_between_local_files_is_read(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "schemas.yaml").write_text("A: {type: string}\n")
    data, location = await fetch_document(
        "common/schemas.yaml", policy=POLICY, base=str(tmp_path / "root.yaml")
    )
    assert data == b"A: {type: string}\n"
    assert location == str(tmp_path / "common" / "schemas.yaml")


async def test_a_relative_reference_from_a_remote_document_stays_remote(api: str) -> None:
    data, location = await fetch_document("spec.json", policy=POLICY, base=f"{api}/dir/../x.json")
    assert location == f"{api}/spec.json"
    assert data.startswith(b"{")
