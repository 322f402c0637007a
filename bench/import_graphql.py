"""Import GitHub's public GraphQL schema and print what it costs: time, peak RSS, tools.

The schema comes from the npm package ``@octokit/graphql-schema`` (cached in ``bench/.cache/``
on first run by ``_github_graphql.py``). Both forms are measured, each in a fresh process so
the peak RSS of one does not hide the other. Targets: at most 3 s and 300 MB per form.

    python bench/import_graphql.py [--schema PATH]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import anyio
import jsonschema_rs
import orjson

from executor.sources.base import FetchPolicy, SourceConfig
from executor.sources.graphql import GraphQLPlugin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _github_graphql import github_graphql_schema

TARGET_SECONDS = 3.0
TARGET_MB = 300.0


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


async def measure(schema: Path) -> int:
    size_mb = schema.stat().st_size / 1e6  # noqa: ASYNC240 - a benchmark, nothing else runs
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    bundle = await GraphQLPlugin().load(SourceConfig(path=str(schema)), fetch_policy=FetchPolicy())
    wall = time.perf_counter() - started
    rss_peak = peak_rss_mb()
    queries = sum(1 for tool in bundle.tools if tool.binding["operation"] == "query")
    input_bytes = sum(len(orjson.dumps(tool.input_schema)) for tool in bundle.tools)
    binding_bytes = sum(len(orjson.dumps(tool.binding)) for tool in bundle.tools)
    invalid = 0
    for tool in bundle.tools:
        try:
            jsonschema_rs.validator_for(tool.input_schema)
        except jsonschema_rs.ValidationError:
            invalid += 1
    print(f"schema               {schema.name} ({size_mb:.1f} MB)")
    print(f"tools                {len(bundle.tools)} ({queries} queries, "
          f"{len(bundle.tools) - queries} mutations)")  # fmt: skip
    print(f"load wall time       {wall:.2f} s   (target <= {TARGET_SECONDS:.0f} s)")
    print(f"peak RSS             {rss_peak:.0f} MB (before load {rss_before:.0f} MB; "
          f"target <= {TARGET_MB:.0f} MB)")  # fmt: skip
    print(f"input schemas        {input_bytes / 1e6:.2f} MB serialised")
    print(f"bindings             {binding_bytes / 1e6:.2f} MB serialised (default selections)")
    print(f"schemas invalid      {invalid}")
    is_ok = wall <= TARGET_SECONDS and rss_peak <= TARGET_MB and invalid == 0
    print("result               " + ("within target" if is_ok else "TARGET MISSED"))
    return 0 if is_ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", type=Path, help="a schema file to use instead of GitHub's")
    arguments = parser.parse_args()
    if arguments.schema is not None:
        return anyio.run(measure, arguments.schema)
    status = 0
    for kind in ("sdl", "json"):
        path = github_graphql_schema(kind)  # type: ignore[arg-type]
        run = subprocess.run([sys.executable, __file__, "--schema", str(path)], check=False)
        status = status or run.returncode
        print()
    return status


if __name__ == "__main__":
    sys.exit(main())
