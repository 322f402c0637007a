"""What an SDK call adds over a bare HTTP request to the same local endpoint.

Starts a small JSON API (uvicorn, its own process), adds it as an OpenAPI source, then times,
interleaved in one run, ``ex.call(...)`` and the same GET sent with the connection's own pooled
``httpx2`` client. Prints p50/p99 of both and the added latency. Target: added p50 <= 1 ms.

    .venv/bin/python bench/call_overhead.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from _api import serve_api

from executor import Executor


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(base_url: str, calls: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        async with Executor.open(data_dir=data_dir) as ex:
            await ex.sources.add_openapi("bench", f"{base_url}/openapi.json", base_url=base_url)
            address = next(t.address for t in await ex.tools.list("bench"))
            connection = (await ex.connections.list("bench"))[0]
            client = ex.http_client(connection)
            url = f"{base_url}/pets/1"
            sdk: list[float] = []
            bare: list[float] = []
            for _ in range(200):  # warm both paths: pools, caches, validators
                await ex.call(address, {"pet_id": 1, "fields": "name"})
                await client.get(url, params={"fields": "name"})
            for _ in range(calls):
                start = time.perf_counter()
                result = await ex.call(address, {"pet_id": 1, "fields": "name"})
                sdk.append((time.perf_counter() - start) * 1000)
                assert result["ok"], result
                start = time.perf_counter()
                response = await client.get(url, params={"fields": "name"})
                response.json()
                bare.append((time.perf_counter() - start) * 1000)
    print(f"calls per path: {calls}")
    for label, values in (("bare httpx2 GET", bare), ("SDK ex.call", sdk)):
        p50, p99 = statistics.median(values), _percentile(values, 0.99)
        print(f"{label:16}: p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    print(
        f"added           : p50 {statistics.median(sdk) - statistics.median(bare):.3f} ms  "
        f"p99 {_percentile(sdk, 0.99) - _percentile(bare, 0.99):.3f} ms   (target p50 <= 1 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with serve_api() as url:
        asyncio.run(measure(url, args.calls))


if __name__ == "__main__":
    main()
