"""Quick start: add a local OpenAPI API, connect it, search it, call a tool, run code.

Run it with ``make run`` or ``python examples/quickstart.py``. It uses a throwaway data dir
unless EXECUTOR_DATA_DIR is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile

from demo_api import TOKEN, serve_demo_api

from executor import Executor


async def main(base_url: str, data_dir: str) -> None:
    async with Executor.open(data_dir=data_dir) as ex:
        # 1. Add the integration from its OpenAPI document (a URL, a file or the text itself).
        notes = await ex.sources.add_openapi("notes", f"{base_url}/openapi.json")
        print(f"Added {notes.slug!r}: {notes.tool_count} tools")

        # 2. Connect it. The token is stored encrypted; the connection keeps a reference only.
        auth = {"type": "bearer", "token": TOKEN}
        await ex.connections.create("notes", "personal", auth=auth)

        # 3. Find a tool by intent.
        results = await ex.tools.search("list my notes")
        for hit in results.hits[:3]:
            print(f"  {hit.tool.address:40} {hit.tool.summary}")
        address = results.hits[0].tool.address

        # 4. Call it. Results are plain dicts: {"ok": True, "data": ...}
        #    or {"ok": False, "error": {"code": ..., "message": ...}}; nothing raises.
        result = await ex.call(address, {"q": "plumber"})
        print(f"{address} ->")
        print(json.dumps(result, indent=2))

        # 5. Code mode: agents send a short program; it runs in a sandbox whose only
        #    capability is `tools`, and every call in it goes through the same policies.
        run = await ex.execute(
            "notes = tools.notes.personal.notes.list_notes()\n"
            "print(len(notes['data']), 'notes')\n"
            "[note['text'].upper() for note in notes['data']]"
        )
        print(f"execute -> {run.status}: {run.result} (logs: {run.logs.strip()!r})")


if __name__ == "__main__":
    with serve_demo_api() as url:
        configured = os.environ.get("EXECUTOR_DATA_DIR")
        if configured:
            asyncio.run(main(url, configured))
        else:
            with tempfile.TemporaryDirectory(prefix="executor-quickstart-") as tmp:
                asyncio.run(main(url, tmp))
