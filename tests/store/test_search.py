"""Tool search: field weights, boosts, synonyms, filters, the no-good-match signal, hostile
text, and the same ranking on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from executor.models import ToolDefinition
from executor.store.search import analyse, parse_query
from tests.store.conftest import Opened


def tool(name: str, summary: str, description: str = "") -> ToolDefinition:
    return ToolDefinition(
        name=name,
        summary=summary,
        description=description,
        input_schema={"type": "object"},
        tags=(name.split(".")[0],),
    )


GITHUB = [
    tool("issues.create", "Create an issue", "Anyone with pull access to a repository can."),
    tool("issues.list_for_repo", "List repository issues", "Open ones first."),
    tool("issues.update", "Update an issue", "Edit the title or body, or close it."),
    tool("issues.create_comment", "Create an issue comment", "Adds a comment."),
    tool("reactions.create_for_issue", "Create reaction for an issue", "Adds an emoji."),
    tool("repos.delete", "Delete a repository", "Needs admin access."),
    tool("repos.list_branches", "List branches", "Of a repository."),
    tool("git.delete_ref", "Delete a reference", "Removes a ref, for example a branch."),
    tool("pulls.merge", "Merge a pull request", "Merges the head into the base."),
    tool("users.list_emails", "List email addresses for the authenticated user", ""),
    tool("search.code", "Search code", "Finds query terms inside files."),
]
MAIL = [
    tool("messages.send", "Send an email message", "Delivers it to its recipients."),
    tool("messages.list", "List messages", "Newest first."),
    tool("drafts.create", "Create a draft", "A message that is not sent yet."),
]

#: The full ranking for each query, identical on both databases (the test runs on each).
GOLDEN = {
    "create issue": [
        "github:issues.create",
        "github:reactions.create_for_issue",
        "github:issues.create_comment",
        "mail:drafts.create",
        "github:issues.update",
        "github:issues.list_for_repo",
    ],
    # git.delete_ref names "branch" only in its description, yet answers both words.
    "delete a branch": [
        "github:git.delete_ref",
        "github:repos.delete",
        "github:repos.list_branches",
    ],
    "list": [
        "mail:messages.list",
        "github:repos.list_branches",
        "github:issues.list_for_repo",
        "github:users.list_emails",
    ],
}


async def add_catalog(opened: Opened) -> None:
    for slug, tools in (("github", GITHUB), ("mail", MAIL)):
        await opened.store.create_integration(
            opened.workspace_id,
            slug=slug,
            kind="openapi",
            title=slug,
            summary="",
            config={},
            spec=None,
            auth_methods=[],
            tools=tools,
        )


async def ranked(opened: Opened, query: str, **kwargs: object) -> list[str]:
    matches = await opened.store.search_tools(opened.workspace_id, query, **kwargs)  # type: ignore[arg-type]
    return [f"{match.integration}:{match.name}" for match in matches]


@pytest.mark.parametrize("query", sorted(GOLDEN))
async def test_ranking_is_the_same_fixed_order_on_every_database(
    opened: Opened, query: str
) -> None:
    await add_catalog(opened)
    assert await ranked(opened, query) == GOLDEN[query]


async def test_query_naming_a_tool_ranks_it_first(opened: Opened) -> None:
    await add_catalog(opened)
    order = await ranked(opened, "create issue")
    assert order[0] == "github:issues.create"
    assert order.index("github:issues.create") < order.index("github:reactions.create_for_issue")


async def test_name_match_beats_description_only_match(opened: Opened) -> None:
    await add_catalog(opened)
    order = await ranked(opened, "branch")
    # repos.list_branches has it in its name; git.delete_ref only in its description.
    assert order == ["github:repos.list_branches", "github:git.delete_ref"]


async def test_namespace_match_is_boosted(opened: Opened) -> None:
    await add_catalog(opened)
    order = await ranked(opened, "issues")
    # Same shape of name and summary; only issues.create_comment is in the `issues` namespace.
    assert order.index("github:issues.create_comment") < order.index(
        "github:reactions.create_for_issue"
    )


async def test_synonyms_find_the_word_the_spec_uses(opened: Opened) -> None:
    await add_catalog(opened)
    assert (await ranked(opened, "remove a repository"))[0] == "github:repos.delete"
    assert (await ranked(opened, "edit an issue"))[0] == "github:issues.update"


async def test_integration_filter_keeps_only_that_integration(opened: Opened) -> None:
    await add_catalog(opened)
    assert await ranked(opened, "list", integration="mail") == ["mail:messages.list"]
    assert await ranked(opened, "list", integration="ghost") == []


async def test_limit_cuts_the_ranking(opened: Opened) -> None:
    await add_catalog(opened)
    assert await ranked(opened, "create issue", limit=2) == GOLDEN["create issue"][:2]


async def test_unrelated_query_is_not_a_good_match(opened: Opened) -> None:
    await add_catalog(opened)
    store, workspace = opened.store, opened.workspace_id

    matches, is_good = await store.search_tools_scored(
        workspace, "send email", integration="github"
    )
    assert [m.name for m in matches] == ["users.list_emails"] and is_good is False
    assert await store.search_tools_scored(workspace, "book a flight") == ([], False)

    matches, is_good = await store.search_tools_scored(workspace, "send email")
    assert matches[0].name == "messages.send" and is_good is True


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "AND(",
        "'; drop table tools; --",
        "NEAR(a b)",
        "issue:*",
        "a & | ! :ABC",
        "",
        "🙂",
        "x" * 5000,
    ],
)
async def test_hostile_query_text_never_errors(opened: Opened, query: str) -> None:
    await add_catalog(opened)
    matches, _ = await opened.store.search_tools_scored(opened.workspace_id, query)
    assert isinstance(matches, list)
    assert len(await opened.store.list_tool_definitions(opened.workspace_id)) == 14


async def test_scores_are_positive_and_descending(opened: Opened) -> None:
    await add_catalog(opened)
    matches = await opened.store.search_tools(opened.workspace_id, "create issue")
    scores = [match.score for match in matches]
    assert all(score > 0 for score in scores) and scores == sorted(scores, reverse=True)


async def test_tools_with_huge_words_in_their_text_are_indexed(opened: Opened) -> None:
    blob = "deadbeef" * 40  # one 320-character word
    await opened.store.create_integration(
        opened.workspace_id,
        slug="odd",
        kind="openapi",
        title="odd",
        summary="",
        config={},
        spec=None,
        auth_methods=[],
        tools=[tool("files.upload", f"Upload {blob}", f"Body is {blob}, e.g. data:{blob}")],
    )
    assert [m.name for m in await opened.store.search_tools(opened.workspace_id, "upload")] == [
        "files.upload"
    ]


def test_analysis_splits_names_and_folds_word_forms() -> None:
    assert analyse("issues.create_for_org") == ["issu", "creat", "org"]
    assert analyse("Creating Repositories") == analyse("create repository") == ["creat", "repo"]
    assert analyse("listPullRequests") == ["list", "pull", "request"]


def test_a_synonym_of_an_earlier_word_is_not_a_second_concept() -> None:
    assert [concept.term for concept in parse_query("create a new issue")] == ["creat", "issu"]
