"""Secrets: store a value once, refer to it everywhere, never see it again.

A connection holds references (``secret://name`` for the encrypted store, ``env://NAME`` for an
environment variable). Values are resolved only at call time, and scrubbed from results.
"""

from __future__ import annotations

import os
import tempfile

from demo_api import TOKEN, serve_demo_api

from executor import SyncExecutor

with (
    serve_demo_api() as url,
    tempfile.TemporaryDirectory() as data_dir,
    SyncExecutor.open(data_dir=data_dir) as ex,
):
    ex.sources.add_openapi("notes", f"{url}/openapi.json")

    # From the encrypted store (AES-256-GCM, key file with mode 0600 in the data dir).
    ref = ex.secrets.set("notes_token", TOKEN)
    ex.connections.create("notes", "stored", auth={"type": "bearer", "token": ref})

    # From the environment, read at call time.
    os.environ["NOTES_TOKEN"] = TOKEN
    ex.connections.create(
        "notes", "from_env", auth={"type": "bearer", "token": "env://NOTES_TOKEN"}
    )

    print("secrets:", ex.secrets.list())
    for connection in ex.connections.list("notes"):
        print(f"{connection.name:10} auth={connection.auth}")
    print(ex.call("notes.stored.notes.list_notes", {})["data"])
    print(ex.call("notes.from_env.notes.list_notes", {"q": "milk"})["data"])
