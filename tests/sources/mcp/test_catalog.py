"""Tool names, policies and config checks for MCP upstreams (no server needed)."""

from __future__ import annotations

import mcp_types
import pytest

from executor.errors import InvalidInputError
from executor.sources.mcp.catalog import definitions, tool_name
from executor.sources.mcp.config import parse_upstream


def _tool(name: str, **hints: object) -> mcp_types.Tool:
    annotations = mcp_types.ToolAnnotations(**hints) if hints else None  # type: ignore[arg-type]
    return mcp_types.Tool(name=name, input_schema={"type": "object"}, annotations=annotations)


@pytest.mark.parametrize(
    ("upstream", "name"),
    [
        ("get-sum", "get_sum"),
        ("searchRepositories", "search_repositories"),
        ("files/read", "files.read"),
        ("github.create_issue", "github.create_issue"),
        ("import", "import_"),
    ],
)
def test_upstream_names_become_address_safe(upstream: str, name: str) -> None:
    assert tool_name(upstream) == name


def test_colliding_names_are_resolved_by_a_stable_rule_and_keep_the_original() -> None:
    one = definitions([_tool("get-sum"), _tool("get_sum")])
    two = definitions([_tool("get_sum"), _tool("get-sum")])
    assert [(d.name, d.binding["name"]) for d in one] == [(d.name, d.binding["name"]) for d in two]
    assert len({d.name for d in one}) == 2


def test_annotations_set_default_policies() -> None:
    tools = {
        d.name: d
        for d in definitions(
            [
                _tool("reader", read_only_hint=True),
                _tool("deleter", destructive_hint=True),
                _tool("writer", read_only_hint=False, destructive_hint=False),
                _tool("plain"),
            ]
        )
    }
    assert (tools["reader"].default_policy, tools["reader"].is_read_only) == ("allow", True)
    assert (tools["deleter"].default_policy, tools["deleter"].is_destructive) == (
        "require_approval",
        True,
    )
    assert (tools["writer"].default_policy, tools["writer"].is_destructive) == (
        "require_approval",
        False,
    )
    assert tools["plain"].default_policy == "require_approval"


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        (None, {}, "needs options.command"),
        ("ftp://example.com", {}, "http(s) URL"),
        ("http://h/mcp", {"transport": "ws"}, "Unknown MCP transport"),
        ("http://h/mcp", {"command": "x"}, "only applies to stdio"),
        (None, {"command": "x", "headers": {"A": "b"}}, "only applies to HTTP"),
        ("http://h/mcp", {"headers": {"Authorization": "Bearer x"}}, "plain value"),
        (None, {"command": "x", "bogus": 1}, "do not take"),
    ],
)
def test_bad_configs_are_refused_in_one_line(
    url: str | None, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_upstream(url, options)
