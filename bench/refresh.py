"""What safe refresh costs: refresh and review of a large integration, reviews off and on.

A synthetic OpenAPI document with N operations is served from a file (no network); the script
adds it, refreshes it unchanged with reviews off and on, changes 1 % of the operations and
refreshes (holding them), then accepts one held change and all of them. Embedded SQLite in a
temporary data dir.

    python bench/refresh.py [--operations 2000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio

from executor import Executor

T = TypeVar("T")


def build_spec(operations: int, *, changed: int = 0) -> dict[str, Any]:
    """``operations`` GET operations; the first ``changed`` get a new description and param."""
    paths: dict[str, Any] = {}
    for index in range(operations):
        parameters: list[dict[str, Any]] = [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
        ]
        description = f"Lists the records of collection {index}, newest first."
        if index < changed:
            description += " Now filtered by owner."
            parameters.append({"name": "owner", "in": "query", "schema": {"type": "string"}})
        paths[f"/collections/c{index}/records"] = {
            "get": {
                "operationId": f"listRecords{index}",
                "tags": [f"group{index % 50}"],
                "summary": f"List records of collection {index}",
                "description": description,
                "parameters": parameters,
                "responses": {"200": {"description": "The records."}},
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Records", "version": "1"},
        "servers": [{"url": "https://records.example"}],
        "paths": paths,
    }


async def timed(label: str, step: Callable[[], Awaitable[T]]) -> T:
    started = time.perf_counter()
    result = await step()
    print(f"{label:<48} {(time.perf_counter() - started) * 1000:9.1f} ms")
    return result


async def main(operations: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        spec = Path(scratch) / "records.json"
        spec.write_text(json.dumps(build_spec(operations)))
        async with Executor.open(data_dir=Path(scratch) / "data") as ex:
            print(f"{operations} operations, embedded SQLite")
            await timed("add", lambda: ex.sources.add("records", source=str(spec)))
            await timed("refresh, unchanged, reviews off", lambda: ex.sources.refresh("records"))
            await ex.sources.configure("records", review_changes=True)
            await timed("refresh, unchanged, reviews on", lambda: ex.sources.refresh("records"))
            changed = max(1, operations // 100)
            spec.write_text(json.dumps(build_spec(operations, changed=changed)))
            report = await timed(
                f"refresh, {changed} changed, reviews on (held)",
                lambda: ex.sources.refresh("records"),
            )
            assert len(report.held) == changed
            await timed("pending_reviews", lambda: ex.sources.pending_reviews("records"))
            await timed(
                "review: accept one",
                lambda: ex.sources.review("records", [report.held[0]]),
            )
            await timed("review: accept the rest", lambda: ex.sources.review("records"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--operations", type=int, default=2000)
    anyio.run(main, parser.parse_args().operations)
