"""Import GitHub's OpenAPI spec (13 MB, ~1,200 operations) and print what it costs.

The spec comes from the npm package ``@octokit/openapi``, installed into ``bench/.cache/`` on
first run. Targets: at most 3 s wall time and 300 MB peak RSS for ``OpenAPIPlugin().load``.

    python bench/import_openapi.py [--spec PATH]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import anyio
import jsonschema_rs
import orjson

from executor.sources.base import FetchPolicy, SourceConfig
from executor.sources.openapi import OpenAPIPlugin

CACHE = Path(__file__).parent / ".cache"
SPEC = CACHE / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
TARGET_SECONDS = 3.0
TARGET_MB = 300.0


def ensure_spec() -> Path:
    """Install ``@octokit/openapi`` into the cache unless it is there already."""
    if SPEC.exists():
        return SPEC
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to fetch @octokit/openapi; or pass --spec PATH.")
    CACHE.mkdir(parents=True, exist_ok=True)
    print("installing @octokit/openapi into bench/.cache ...", flush=True)
    subprocess.run(
        [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "@octokit/openapi"],
        check=True,
    )
    return SPEC


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


async def main(spec: Path) -> int:
    plugin = OpenAPIPlugin()
    size_mb = spec.stat().st_size / 1e6  # noqa: ASYNC240 - a benchmark, nothing else is running
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    bundle = await plugin.load(SourceConfig(path=str(spec)), fetch_policy=FetchPolicy())
    wall = time.perf_counter() - started
    rss_peak = peak_rss_mb()

    input_bytes = sum(len(orjson.dumps(tool.input_schema)) for tool in bundle.tools)
    output_bytes = sum(
        len(orjson.dumps(tool.output_schema)) for tool in bundle.tools if tool.output_schema
    )
    binding_bytes = sum(len(orjson.dumps(tool.binding)) for tool in bundle.tools)
    started = time.perf_counter()
    invalid = 0
    for tool in bundle.tools:
        for schema in (tool.input_schema, tool.output_schema):
            if schema is None:
                continue
            try:
                jsonschema_rs.validator_for(schema)
            except jsonschema_rs.ValidationError:
                invalid += 1
    compile_seconds = time.perf_counter() - started

    print(f"spec                 {spec.name} ({size_mb:.1f} MB)")
    print(f"tools                {len(bundle.tools)}")
    print(f"warnings             {len(bundle.warnings)}")
    print(f"load wall time       {wall:.2f} s   (target <= {TARGET_SECONDS:.0f} s)")
    print(f"peak RSS             {rss_peak:.0f} MB (before load {rss_before:.0f} MB; "
          f"target <= {TARGET_MB:.0f} MB)")  # fmt: skip
    print(f"input schemas        {input_bytes / 1e6:.2f} MB serialised")
    print(f"output schemas       {output_bytes / 1e6:.2f} MB serialised")
    print(f"bindings             {binding_bytes / 1e6:.2f} MB serialised")
    print(f"schemas invalid      {invalid} (all compiled in {compile_seconds:.2f} s)")
    ok = wall <= TARGET_SECONDS and rss_peak <= TARGET_MB and invalid == 0
    print("result               " + ("within target" if ok else "TARGET MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, help="an OpenAPI file to use instead of GitHub's")
    arguments = parser.parse_args()
    sys.exit(anyio.run(main, arguments.spec or ensure_spec()))
