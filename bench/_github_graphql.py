"""GitHub's public GraphQL schema, the GraphQL benchmark's yardstick: fetched once with npm, cached.

``github_graphql_schema(kind)`` returns ``bench/.cache/github-schema.graphql`` (SDL, ~1.2 MB) or
``bench/.cache/github-schema.json`` (introspection, ~5 MB), extracting them from the npm package
``@octokit/graphql-schema`` (MIT) with ``npm pack`` when they are not there yet.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Literal

PACKAGE = "@octokit/graphql-schema@15.26.1"
MEMBERS = {"sdl": "package/schema.graphql", "json": "package/schema.json"}
TARGETS = {"sdl": "github-schema.graphql", "json": "github-schema.json"}
CACHE = Path(__file__).resolve().parent / ".cache"


def github_graphql_schema(kind: Literal["sdl", "json"] = "sdl") -> Path:
    """Path to GitHub's GraphQL schema as SDL or introspection JSON, downloading it if needed."""
    target = CACHE / TARGETS[kind]
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        subprocess.run(
            ["npm", "pack", PACKAGE, "--silent", "--pack-destination", scratch],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(scratch).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            for each, member in MEMBERS.items():
                source = archive.extractfile(member)
                if source is None:
                    raise RuntimeError(f"{PACKAGE} has no {member}")
                partial = (CACHE / TARGETS[each]).with_suffix(".part")
                partial.write_bytes(source.read())
                partial.replace(CACHE / TARGETS[each])
    return target


if __name__ == "__main__":
    print(github_graphql_schema("sdl"))
    print(github_graphql_schema("json"))
