"""GitHub's public GraphQL schema, the GraphQL benchmark's yardstick: fetched once with npm, cached.

``github_graphql_schema(kind)`` returns ``bench/.cache/github-schema.graphql`` (SDL, ~1.2 MB) or
``bench/.cache/github-schema.json`` (introspection, ~5 MB), extracting them from the npm package
``@octokit/graphql-schema`` (MIT) with ``npm pack`` when they are not there yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from _github import CACHE, npm_extract

PACKAGE = "@octokit/graphql-schema@15.26.1"
MEMBERS = {"sdl": "package/schema.graphql", "json": "package/schema.json"}
TARGETS = {"sdl": "github-schema.graphql", "json": "github-schema.json"}


def github_graphql_schema(kind: Literal["sdl", "json"] = "sdl") -> Path:
    """Path to GitHub's GraphQL schema as SDL or introspection JSON, downloading it if needed."""
    target = CACHE / TARGETS[kind]
    if target.exists():
        return target
    npm_extract(PACKAGE, {member: CACHE / TARGETS[each] for each, member in MEMBERS.items()})
    return target


if __name__ == "__main__":
    print(github_graphql_schema("sdl"))
    print(github_graphql_schema("json"))
