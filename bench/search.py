"""Tool search: latency on synthetic catalogs and quality on GitHub's REST API.

    .venv/bin/python bench/search.py [--quick] [--no-postgres] [--show-misses]

(a) Latency: catalogs of 1,000 and 10,000 synthetic tools (realistic names, summaries and
    descriptions over ten integrations), 200 intent queries each, on SQLite and on PostgreSQL
    (in a throwaway schema, dropped at the end). Prints build time and query p50/p95.
(b) Quality: GitHub's REST spec (npm ``@octokit/openapi``, fetched into ``bench/.cache``)
    imported with the OpenAPI plugin, then labelled intent queries: hit@1, hit@5, MRR@10, plus
    how often the "no good match" signal fires on queries GitHub cannot answer.

PostgreSQL is taken from ``EXECUTOR_BENCH_POSTGRES_URL`` (default: the test server).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _github import github_spec_path

from executor.errors import StorageError
from executor.models import ToolDefinition
from executor.store import Store

POSTGRES_URL = os.environ.get(
    "EXECUTOR_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)

# -- labelled GitHub queries: (intent, acceptable tool names) --------------------------------------

LABELS: list[tuple[str, tuple[str, ...]]] = [
    ("create an issue", ("issues.create",)),
    ("open a new issue in a repository", ("issues.create",)),
    ("close an issue", ("issues.update",)),
    ("comment on an issue", ("issues.create_comment",)),
    ("add a label to an issue", ("issues.add_labels",)),
    ("assign a user to an issue", ("issues.add_assignees",)),
    ("lock an issue conversation", ("issues.lock",)),
    ("create a milestone", ("issues.create_milestone",)),
    ("list open pull requests", ("pulls.list",)),
    ("open a pull request", ("pulls.create",)),
    ("get pull request details", ("pulls.get",)),
    ("merge a pull request", ("pulls.merge",)),
    ("request a review on a pull request", ("pulls.request_reviewers",)),
    ("approve a pull request", ("pulls.create_review", "pulls.submit_review")),
    ("list files changed in a pull request", ("pulls.list_files",)),
    ("delete a branch", ("git.delete_ref",)),
    ("list branches", ("repos.list_branches",)),
    ("rename a branch", ("repos.rename_branch",)),
    ("get the contents of a file", ("repos.get_content",)),
    ("create or update a file", ("repos.create_or_update_file_contents",)),
    ("delete a file from a repository", ("repos.delete_file",)),
    ("get the README", ("repos.get_readme",)),
    ("star a repository", ("activity.star_repo_for_authenticated_user",)),
    ("list my notifications", ("activity.list_notifications_for_authentic_9a12f2",)),
    ("mark notifications as read", ("activity.mark_notifications_as_read",)),
    ("fork a repository", ("repos.create_fork",)),
    ("create a new repository", ("repos.create_for_authenticated_user", "repos.create_in_org")),
    ("delete a repository", ("repos.delete",)),
    ("list my repositories", ("repos.list_for_authenticated_user",)),
    ("transfer a repository to another owner", ("repos.transfer",)),
    ("list commits", ("repos.list_commits",)),
    ("compare two commits", ("repos.compare_commits_with_basehead", "repos.compare_commits")),
    ("create a commit", ("git.create_commit",)),
    ("get a tree", ("git.get_tree",)),
    ("list repository tags", ("repos.list_tags",)),
    ("list repository topics", ("repos.get_all_topics",)),
    ("create a release", ("repos.create_release",)),
    ("get the latest release", ("repos.get_latest_release",)),
    ("upload a release asset", ("repos.upload_release_asset",)),
    ("list workflow runs", ("actions.list_workflow_runs_for_repo", "actions.list_workflow_runs")),
    ("trigger a workflow", ("actions.create_workflow_dispatch",)),
    ("rerun a failed workflow", ("actions.re_run_workflow", "actions.re_run_workflow_failed_jobs")),
    ("cancel a workflow run", ("actions.cancel_workflow_run",)),
    ("download workflow run logs", ("actions.download_workflow_run_logs",)),
    ("download an artifact", ("actions.download_artifact",)),
    ("set a repository secret for actions", ("actions.create_or_update_repo_secret",)),
    ("search code", ("search.code",)),
    ("search repositories by keyword", ("search.repos",)),
    ("find issues matching a query", ("search.issues_and_pull_requests",)),
    ("get the authenticated user", ("users.get_authenticated",)),
    ("follow a user", ("users.follow",)),
    ("block a user", ("users.block",)),
    ("add an ssh key to my account", ("users.create_public_ssh_key_for_authentic_724c59",)),
    ("list organization members", ("orgs.list_members",)),
    ("add a collaborator to a repository", ("repos.add_collaborator",)),
    ("create a webhook", ("repos.create_webhook", "orgs.create_webhook")),
    ("check rate limit", ("rate_limit.get",)),
    ("create a gist", ("gists.create",)),
    ("add a reaction to an issue comment", ("reactions.create_for_issue_comment",)),
    ("create a deployment", ("repos.create_deployment",)),
]

#: Queries GitHub's API has no answer for: the "no good match" signal should fire.
UNANSWERABLE = [
    "send an email",
    "book a flight to paris",
    "translate text to french",
    "weather forecast for tomorrow",
    "play a song",
    "order a pizza",
    "convert currency",
    "resize an image",
]

# -- synthetic catalogs -------------------------------------------------------------------------

_NAMESPACES = """accounts alerts apps artifacts audit billing branches builds calendars campaigns
cards carts channels charges checks clusters comments contacts containers coupons customers
dashboards datasets deals deployments devices disputes documents domains drafts emails
events files folders forms groups images incidents invoices issues jobs keys labels
leads licenses lists locations logs mailboxes meetings members messages metrics
milestones monitors notes notifications orders packages pages payments payouts
permissions pipelines plans policies products projects prices queues refunds releases
reports repos reviews roles rules runners schedules secrets segments sessions shipments
snapshots spaces subscriptions tags tasks teams templates tickets tokens transfers users
variables volumes webhooks workflows""".split()  # noqa: SIM905
_VERBS = """list get create update delete search archive restore cancel approve export import
sync send enable disable assign remove add set rename merge download upload verify""".split()  # noqa: SIM905
_OBJECTS = """item comment attachment member webhook label setting permission version note status
history invite alert summary token schedule export rule tag owner""".split()  # noqa: SIM905
_QUALIFIERS = ["", "", "", "for_org", "for_user", "for_project", "in_group", "by_id", "batch"]
_ADJECTIVES = """active archived pending recent shared public private default
custom""".split()  # noqa: SIM905


def synthetic_catalog(count: int, seed: int = 7) -> list[list[ToolDefinition]]:
    """``count`` distinct tools over ten integrations, deterministic for a seed."""
    rng = random.Random(seed)
    names: set[str] = set()
    tools: list[ToolDefinition] = []
    while len(tools) < count:
        namespace, verb, obj = rng.choice(_NAMESPACES), rng.choice(_VERBS), rng.choice(_OBJECTS)
        qualifier = rng.choice(_QUALIFIERS)
        operation = "_".join(part for part in (verb, obj, qualifier) if part)
        name = f"{namespace}.{operation}"
        if name in names:
            continue
        names.add(name)
        adjective = rng.choice(_ADJECTIVES)
        noun = namespace.rstrip("s")
        summary = f"{verb.capitalize()} {adjective} {obj}s of a {noun}"
        description = (
            f"{summary}. Use this to {verb} the {obj} records attached to a {noun}. "
            f"Results are paginated; pass a cursor to continue. Requires the {namespace}:{verb} "
            f"scope. Returns {rng.choice(_OBJECTS)} metadata and the {rng.choice(_OBJECTS)} id."
        )
        tools.append(
            ToolDefinition(
                name=name,
                summary=summary,
                description=description,
                input_schema={"type": "object"},
                tags=(namespace,),
            )
        )
    return [tools[index::10] for index in range(10)]


def synthetic_queries(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    queries = []
    for _ in range(count):
        shape = rng.randrange(4)
        noun = rng.choice(_NAMESPACES).rstrip("s")
        if shape == 0:
            queries.append(f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)} of a {noun}")
        elif shape == 1:
            queries.append(f"{rng.choice(_VERBS)} {noun}")
        elif shape == 2:
            queries.append(f"how do I {rng.choice(_VERBS)} {rng.choice(_ADJECTIVES)} {noun}s")
        else:
            queries.append(f"{noun} {rng.choice(_OBJECTS)} {rng.choice(_QUALIFIERS)}".strip())
    return queries


# -- measuring ----------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def timed(function: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await function()
    return (time.perf_counter() - start) * 1000


async def open_store(kind: str, scratch: Path) -> tuple[Store, str | None]:
    if kind == "sqlite":
        path = scratch / f"{uuid.uuid4().hex}.db"
        return await Store.open(f"sqlite+aiosqlite:///{path}"), None
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    return await Store.open(POSTGRES_URL, schema=schema), schema


async def drop_schema(schema: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


async def latency(kind: str, size: int, scratch: Path, queries: list[str]) -> None:
    store, schema = await open_store(kind, scratch)
    try:
        workspace_id, _ = await store.ensure_local_workspace()
        start = time.perf_counter()
        for index, tools in enumerate(synthetic_catalog(size)):
            await store.create_integration(
                workspace_id,
                slug=f"api{index}",
                kind="openapi",
                title=f"API {index}",
                summary="synthetic",
                config={},
                spec=None,
                auth_methods=[],
                tools=tools,
            )
        build = (time.perf_counter() - start) * 1000
        for query in queries[:20]:  # warm caches and the connection pool
            await store.search_tools(workspace_id, query)
        samples = [
            await timed(lambda q=query: store.search_tools(workspace_id, q)) for query in queries
        ]
        filtered = [
            await timed(lambda q=query: store.search_tools(workspace_id, q, integration="api3"))
            for query in queries[:100]
        ]
        print(
            f"  {kind:<10} {size:>6,} tools  build {build:7.0f} ms   "
            f"query p50 {percentile(samples, 0.5):5.2f} ms  p95 {percentile(samples, 0.95):5.2f} ms"
            f"   (one integration: p50 {percentile(filtered, 0.5):5.2f} ms)"
        )
    finally:
        await store.close()
        if schema:
            await drop_schema(schema)


async def github_tools() -> list[ToolDefinition]:
    from executor.sources.base import FetchPolicy, SourceConfig
    from executor.sources.openapi import OpenAPIPlugin

    bundle = await OpenAPIPlugin().load(
        SourceConfig(path=str(github_spec_path())), fetch_policy=FetchPolicy(allow_files=True)
    )
    return bundle.tools


async def quality(kind: str, scratch: Path, tools: list[ToolDefinition], show_misses: bool) -> None:
    names = {tool.name for tool in tools}
    unknown = sorted({name for _, wanted in LABELS for name in wanted} - names)
    if unknown:
        print(f"  labels naming no GitHub tool (plugin naming changed?): {unknown}")
    store, schema = await open_store(kind, scratch)
    try:
        workspace_id, _ = await store.ensure_local_workspace()
        start = time.perf_counter()
        await store.create_integration(
            workspace_id,
            slug="github",
            kind="openapi",
            title="GitHub",
            summary="GitHub REST API",
            config={},
            spec=None,
            auth_methods=[],
            tools=tools,
        )
        build = (time.perf_counter() - start) * 1000
        hit1 = hit5 = 0
        reciprocal = 0.0
        good = 0
        samples = []
        for query, wanted in LABELS:
            start = time.perf_counter()
            matches, is_good = await store.search_tools_scored(workspace_id, query, limit=10)
            samples.append((time.perf_counter() - start) * 1000)
            ranked = [match.name for match in matches]
            rank = next((i + 1 for i, name in enumerate(ranked) if name in wanted), None)
            hit1 += rank == 1
            hit5 += rank is not None and rank <= 5
            reciprocal += 1 / rank if rank else 0.0
            good += is_good
            if show_misses and rank != 1:
                print(f"    {query!r}: wanted {wanted[0]} at {rank}; got {ranked[:3]}")
        refused = 0
        for query in UNANSWERABLE:
            _, is_good = await store.search_tools_scored(workspace_id, query)
            refused += not is_good
        n = len(LABELS)
        print(
            f"  {kind:<10} {len(tools):,} tools, {n} queries  build {build:6.0f} ms  "
            f"hit@1 {hit1 / n:.2f}  hit@5 {hit5 / n:.2f}  MRR@10 {reciprocal / n:.2f}  "
            f"p50 {percentile(samples, 0.5):.2f} ms"
        )
        print(
            f"  {'':<10} good-match flag: {good}/{n} labelled queries, "
            f"'no good match' on {refused}/{len(UNANSWERABLE)} unanswerable ones"
        )
    finally:
        await store.close()
        if schema:
            await drop_schema(schema)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k tools only")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--show-misses", action="store_true")
    arguments = parser.parse_args()

    kinds = ["sqlite"] if arguments.no_postgres else ["sqlite", "postgresql"]
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        if "postgresql" in kinds:
            try:
                store, schema = await open_store("postgresql", scratch)
                await store.close()
                assert schema is not None
                await drop_schema(schema)
            except StorageError as exc:
                print(f"PostgreSQL skipped: {exc}")
                kinds = ["sqlite"]

        print("(a) latency, 200 queries per catalog")
        queries = synthetic_queries(200)
        for size in [1000] if arguments.quick else [1000, 10000]:
            for kind in kinds:
                await latency(kind, size, scratch, queries)

        print("(b) quality on GitHub's REST API (labels in bench/search.py)")
        tools = await github_tools()
        for kind in kinds:
            await quality(kind, scratch, tools, arguments.show_misses)


if __name__ == "__main__":
    anyio.run(main)
