"""The plugin seam, for real: the third-party-style ``executor-openrpc`` plugin in
``examples/plugins`` is installed as its own package and registers through the
``executor.sources`` entry-point group. Detection, import, listing, calls and code mode work for
it with no line of core code naming it; a real JSON-RPC server on loopback answers the calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from executor import Executor
from executor.sources.base import ENTRY_POINT_GROUP, PluginRegistry
from tests.servers import serve
from tests.servers.jsonrpc import NotesServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def notes() -> Iterator[tuple[NotesServer, str]]:
    server = NotesServer()
    with serve(server.app) as url:
        yield server, url


def test_the_example_plugin_is_found_through_the_entry_point_group_only() -> None:
    (entry,) = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "openrpc"]
    assert entry.value == "executor_openrpc:OpenRPCPlugin"
    assert "openrpc" in PluginRegistry().kinds()
    # The core never names it: the seam is the only way in.
    core = "\n".join(path.read_text() for path in (ROOT / "src" / "executor").rglob("*.py"))
    assert "executor_openrpc" not in core
    assert "openrpc" not in core.lower()


async def test_an_openrpc_document_url_is_detected_added_listed_and_called(
    ex: Executor, notes: tuple[NotesServer, str]
) -> None:
    server, url = notes
    candidates = await ex.sources.detect(f"{url}/openrpc.json")
    assert candidates[0].kind == "openrpc"
    assert candidates[0].confidence >= 0.9
    assert "OpenRPC 1.2.6" in candidates[0].reason

    integration = await ex.sources.add(source=f"{url}/openrpc.json")
    assert (integration.slug, integration.kind) == ("notes", "openrpc")
    # The plugin's class attribute sets the default of the review setting.
    assert integration.review_changes is True
    tools = await ex.tools.list("notes")
    assert sorted(tool.name for tool in tools) == [
        "notes.add",
        "notes.list",
        "notes.remove",
        "subtract",
    ]
    assert {tool.policy for tool in tools} == {"require_approval"}
    described = await ex.tools.describe("notes.default.notes.add")
    assert described["input_schema"]["required"] == ["text"]
    assert set(described["input_schema"]["properties"]) == {"text", "tag"}

    await ex.policies.set("notes.*", "allow")
    added = await ex.call("notes.default.notes.add", {"text": "buy milk", "tag": "home"})
    assert added["ok"], added
    assert added["data"] == {"id": 1, "text": "buy milk", "tag": "home"}
    assert server.requests[-1]["params"] == {"text": "buy milk", "tag": "home"}
    listed = await ex.call("notes.default.notes.list", {"tag": "home"})
    assert listed["ok"] and listed["data"] == [added["data"]]
    difference = await ex.call("notes.default.subtract", {"minuend": 10, "subtrahend": 3})
    assert difference["ok"] and difference["data"] == 7
    assert server.requests[-1]["params"] == [10, 3]  # by-position, in declared order

    invalid = await ex.call("notes.default.notes.add", {"text": ""})
    assert invalid["error"]["code"] == "invalid_arguments"
    missing = await ex.call("notes.default.notes.remove", {"id": 99})
    assert missing["ok"] is False
    assert missing["error"]["code"] == "upstream_error"
    assert missing["error"]["details"]["rpc_code"] == 404
    assert "No such note" in missing["error"]["message"]

    run = await ex.execute(
        "note = tools.notes.default.notes.add(text='from code')\n"
        "tools.notes.default.notes.list()['data'][-1]['text']"
    )
    assert run.status == "completed", run.error
    assert run.result == "from code"


async def test_a_json_rpc_server_url_is_recognised_by_the_plugins_probe(
    ex: Executor, notes: tuple[NotesServer, str]
) -> None:
    _, url = notes
    # GET /rpc is not allowed, so only the rpc.discover probe can tell what this is.
    candidates = await ex.sources.detect(f"{url}/rpc")
    assert candidates[0].kind == "openrpc", candidates
    assert "rpc.discover" in candidates[0].reason

    integration = await ex.sources.add("rpc", source=f"{url}/rpc")
    assert integration.kind == "openrpc"
    assert integration.config["server_url"] == f"{url}/rpc"
    await ex.policies.set("rpc.*.subtract", "allow")
    result = await ex.call("rpc.default.subtract", {"minuend": 1, "subtrahend": 2})
    assert result["ok"], result
    assert result["data"] == -1


async def test_the_example_plugins_calls_carry_the_connections_credentials(
    ex: Executor, notes: tuple[NotesServer, str]
) -> None:
    server, url = notes
    await ex.sources.add("notes", source=f"{url}/openrpc.json")
    await ex.connections.create("notes", "work", auth={"type": "bearer", "token": "s3cr3t-token"})
    await ex.policies.set("notes.*", "allow")
    result = await ex.call("notes.work.notes.list", {})
    assert result["ok"], result
    assert server.authorizations[-1] == "Bearer s3cr3t-token"
    assert "s3cr3t-token" not in repr(result)
    assert "s3cr3t-token" not in repr(await ex.connections.list("notes"))


async def test_an_openrpc_file_and_inline_text_are_added_without_a_kind(
    ex: Executor, notes: tuple[NotesServer, str], tmp_path: Path
) -> None:
    server, url = notes
    text = json.dumps({**server.document, "servers": [{"name": "main", "url": f"{url}/rpc"}]})
    path = tmp_path / "notes.openrpc.json"
    path.write_text(text)
    from_file = await ex.sources.add("from_file", source=str(path))
    from_text = await ex.sources.add("from_text", source=text)
    assert from_file.kind == from_text.kind == "openrpc"
    assert from_file.tool_count == from_text.tool_count == 4
    await ex.policies.set("from_text.*", "allow")
    result = await ex.call("from_text.default.subtract", {"minuend": 5, "subtrahend": 5})
    assert result["ok"], result
    assert result["data"] == 0
