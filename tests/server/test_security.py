"""The local server's security: bearer token, Host/Origin checks, loopback-only binding."""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from executor import InvalidInputError, __version__
from executor.server import ServerSettings, create_app
from executor.server.security import AGENT_TOKEN_FILE, load_or_create_token, session_value
from tests.server import run_app

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture
def server(data_dir: Path) -> Iterator[tuple[str, str]]:
    with run_app(data_dir) as running:
        yield running


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_health_answers_without_a_token(server: tuple[str, str]) -> None:
    url, _ = server
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{url}/api/health")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "version": __version__}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic abc"])
async def test_mcp_without_the_right_token_is_401(
    server: tuple[str, str], authorization: str | None
) -> None:
    url, _ = server
    headers = dict(MCP_HEADERS)
    if authorization:
        headers["Authorization"] = authorization
    async with httpx2.AsyncClient() as http:
        response = await http.post(f"{url}/mcp", json=PING, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "unauthorized"
    assert "\n" not in body["error"]["message"]
    assert response.headers["www-authenticate"] == "Bearer"


async def test_an_unknown_path_needs_the_token_too(server: tuple[str, str]) -> None:
    url, _ = server
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{url}/api/anything")
    assert response.status_code == 401


async def test_a_foreign_host_is_rejected_even_with_the_token(server: tuple[str, str]) -> None:
    url, token = server
    headers = {"Authorization": f"Bearer {token}", "Host": f"evil.example:{_port(url)}"}
    async with httpx2.AsyncClient() as http:
        health = await http.get(f"{url}/api/health", headers={"Host": "evil.example"})
        mcp = await http.post(f"{url}/mcp", json=PING, headers={**MCP_HEADERS, **headers})
    assert health.status_code == 421
    assert mcp.status_code == 421
    assert mcp.json()["error"]["code"] == "invalid_host"


async def test_a_loopback_host_with_another_port_is_rejected(server: tuple[str, str]) -> None:
    url, _ = server
    async with httpx2.AsyncClient() as http:
        response = await http.get(
            f"{url}/api/health", headers={"Host": f"127.0.0.1:{_port(url) + 1}"}
        )
    assert response.status_code == 421


async def test_a_foreign_origin_is_403_even_with_the_token(server: tuple[str, str]) -> None:
    url, token = server
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}", "Origin": "http://evil.example"}
    async with httpx2.AsyncClient() as http:
        response = await http.post(f"{url}/mcp", json=PING, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_origin"


async def test_the_servers_own_origin_and_localhost_are_accepted(server: tuple[str, str]) -> None:
    url, _ = server
    port = _port(url)
    headers = {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{url}/api/health", headers=headers)
    assert response.status_code == 200


async def test_the_server_mints_its_token_into_the_data_dir_with_mode_0600(
    server: tuple[str, str], data_dir: Path
) -> None:
    _, token = server
    path = data_dir / "token"
    assert path.read_text().strip() == token
    assert len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_token_file_has_mode_0600_and_is_stable(tmp_path: Path) -> None:
    first = load_or_create_token(tmp_path / "data")
    second = load_or_create_token(tmp_path / "data")
    path = tmp_path / "data" / "token"
    assert first == second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["token"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_a_non_loopback_bind_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(InvalidInputError, match="loopback"):
        create_app(ServerSettings(host=host, port=4788, data_dir=tmp_path))


def test_the_cli_refuses_a_non_loopback_bind_in_one_line(tmp_path: Path) -> None:
    executable = Path(sys.executable).parent / "executor"
    completed = subprocess.run(
        [str(executable), "web", "--foreground", "--host", "0.0.0.0", "--port", "4788"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"EXECUTOR_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 2
    assert "Refusing to listen on 0.0.0.0" in completed.stderr
    assert "Traceback" not in completed.stderr


async def test_the_agent_token_opens_mcp_but_not_the_management_api(
    server: tuple[str, str], data_dir: Path
) -> None:
    url, token = server
    agent = load_or_create_token(data_dir, "agent-token")
    assert agent != token
    headers = {"Authorization": f"Bearer {agent}"}
    async with httpx2.AsyncClient() as http:
        mcp = await http.post(f"{url}/mcp", json=PING, headers={**MCP_HEADERS, **headers})
        policy = await http.post(
            f"{url}/api/policies", json={"pattern": "*", "action": "allow"}, headers=headers
        )
        listing = await http.get(f"{url}/api/integrations", headers=headers)
    assert mcp.status_code not in (401, 403)  # past security; the SDK answers the rest
    assert (policy.status_code, listing.status_code) == (403, 403)
    assert policy.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("query", ["approval=auto", "approval=Model", "tools=all"])
async def test_unknown_modes_are_refused_not_served_as_model(
    server: tuple[str, str], query: str
) -> None:
    url, token = server
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient() as http:
        refused = await http.post(f"{url}/mcp?{query}", json=PING, headers=headers)
        served = [
            await http.post(f"{url}/mcp?{known}", json=PING, headers=headers)
            for known in ("approval=model", "approval=browser", "approval=native", "tools=direct")
        ]
    assert refused.status_code == 400
    assert "Unknown" in refused.json()["error"]["message"]
    # The known modes go through to the SDK (which wants a session for a bare ping).
    assert all("mode" not in response.text for response in served)


def test_a_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_or_create_token(tmp_path)
    (tmp_path / "token").chmod(0o644)
    with pytest.raises(InvalidInputError, match="chmod 600"):
        load_or_create_token(tmp_path)


async def test_a_rejected_body_never_echoes_the_value_sent(server: tuple[str, str]) -> None:
    url, token = server
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            f"{url}/api/connections",
            json={"integration": "x", "name": "y", "auth": "SUPERSECRET5"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 400
    assert "SUPERSECRET5" not in response.text


async def test_unknown_paths_outside_the_api_answer_in_json(server: tuple[str, str]) -> None:
    url, token = server
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{url}/nope", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# -- the browser's session: the token link and the cookie -------------------------------------


def _cookie(url: str, token: str) -> dict[str, str]:
    return {"Cookie": f"executor_session_{_port(url)}={session_value(token)}"}


async def test_the_token_link_redirects_without_the_token(server: tuple[str, str]) -> None:
    url, token = server
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{url}/approvals?x=1&token={token}")
        hostile = await http.get(f"{url}//elsewhere.example/?token={token}")
    assert response.status_code == 303
    assert response.headers["location"] == f"{url}/approvals?x=1"
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"executor_session_{_port(url)}={session_value(token)};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert token not in cookie
    # A path that looks like another host stays on this server.
    assert hostile.headers["location"] == f"{url}//elsewhere.example/"


@pytest.mark.parametrize("which", ["wrong", "agent", "blank"])
async def test_a_bad_token_link_sets_no_cookie(
    server: tuple[str, str], data_dir: Path, which: str
) -> None:
    url, _ = server
    given = {
        "wrong": "not-the-token",
        "agent": load_or_create_token(data_dir, AGENT_TOKEN_FILE),
        "blank": "",
    }[which]
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{url}/?token={given}")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in response.headers
    assert "executor web" in response.text


async def test_the_cookie_opens_pages_and_the_api_but_not_mcp(server: tuple[str, str]) -> None:
    url, token = server
    async with httpx2.AsyncClient(headers=_cookie(url, token)) as http:
        assert (await http.get(f"{url}/")).status_code == 200
        assert (await http.get(f"{url}/api/integrations")).status_code == 200
        mcp = await http.post(f"{url}/mcp", json=PING, headers=MCP_HEADERS)
    assert mcp.status_code == 401
    # A cookie for another port (another server on this host), or forged, opens nothing.
    other = {"Cookie": f"executor_session_{_port(url) + 1}={session_value(token)}"}
    forged = {"Cookie": f"executor_session_{_port(url)}={session_value('guess')}"}
    async with httpx2.AsyncClient() as http:
        for headers in (other, forged):
            assert (await http.get(f"{url}/", headers=headers)).status_code == 401
            assert (await http.get(f"{url}/api/integrations", headers=headers)).status_code == 401


async def test_a_cookie_request_that_changes_something_needs_the_origin(
    server: tuple[str, str],
) -> None:
    url, token = server
    rule = {"pattern": "*", "action": "allow"}
    async with httpx2.AsyncClient(headers=_cookie(url, token)) as http:
        without = await http.post(f"{url}/api/policies", json=rule)
        same = await http.post(f"{url}/api/policies", json=rule, headers={"Origin": url})
        bearer = await http.post(
            f"{url}/api/policies", json=rule, headers={"Authorization": f"Bearer {token}"}
        )
    assert without.status_code == 403
    assert without.json()["error"]["code"] == "forbidden_origin"
    assert same.status_code == 201
    # A bearer token is no ambient credential: scripts and the CLI need no Origin.
    assert bearer.status_code == 201
