"""Policies: reads run, writes wait for a human, deletes are blocked.

Every tool starts with a default from its HTTP method (GET allow, others require_approval).
Rules refine it; ``on_approval`` is the human.
"""

from __future__ import annotations

import tempfile

from demo_api import TOKEN, serve_demo_api

from executor import ApprovalRequest, SyncExecutor


def approve(request: ApprovalRequest) -> bool:
    """A stand-in for a person: approve notes shorter than 40 characters."""
    verdict = len(request.arguments.get("text", "")) < 40
    print(f"  approval asked for {request.address} {request.arguments} -> {verdict}")
    return verdict


with (
    serve_demo_api() as url,
    tempfile.TemporaryDirectory() as data_dir,
    SyncExecutor.open(data_dir=data_dir, on_approval=approve) as ex,
):
    ex.sources.add_openapi("notes", f"{url}/openapi.json")
    ex.connections.create("notes", "default", auth={"type": "bearer", "token": TOKEN})
    for tool in ex.tools.list("notes"):
        print(f"{tool.address:32} default={tool.default_policy}")

    ex.policies.set("notes.*.notes.delete_note", "block")
    print("after blocking deletes:", [t.name for t in ex.tools.list("notes")])

    print(ex.call("notes.default.notes.create_note", {"text": "Water the plants"}))
    print(ex.call("notes.default.notes.create_note", {"text": "x" * 60})["error"]["code"])
    print(ex.call("notes.default.notes.delete_note", {"id": 1})["error"]["code"])
