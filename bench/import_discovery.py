"""Import every Google Discovery document shipped in google-api-python-client; print the cost.

Prints the corpus size, the tools built, total and slowest import times, and the peak RSS.

    python bench/import_discovery.py
"""

from __future__ import annotations

import importlib.resources
import resource
import time
from pathlib import Path

import anyio

from executor.sources.base import FetchPolicy, SourceConfig
from executor.sources.discovery import DiscoveryPlugin

DOCUMENTS = (
    Path(str(importlib.resources.files("googleapiclient"))) / "discovery_cache" / "documents"
)


async def main() -> None:
    plugin = DiscoveryPlugin()
    paths = sorted(path for path in DOCUMENTS.glob("*.json") if path.name != "index.json")
    size = sum(path.stat().st_size for path in paths)
    timings: list[tuple[float, str, int]] = []
    started = time.perf_counter()
    for path in paths:
        begin = time.perf_counter()
        bundle = await plugin.load(SourceConfig(path=str(path)), fetch_policy=FetchPolicy())
        timings.append((time.perf_counter() - begin, path.name, len(bundle.tools)))
    total = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"documents: {len(paths)} ({size / 1e6:.1f} MB of JSON)")
    print(f"tools:     {sum(count for _, _, count in timings):,}")
    print(f"import:    {total:.2f} s in all, {1000 * total / len(paths):.1f} ms per document")
    for seconds, name, count in sorted(timings, reverse=True)[:3]:
        print(f"slowest:   {name}: {1000 * seconds:.0f} ms, {count} tools")
    print(f"peak RSS:  {peak_mb:.0f} MB")


if __name__ == "__main__":
    anyio.run(main)
