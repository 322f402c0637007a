"""``executor tools``: search, list and describe the catalog."""

from __future__ import annotations

import argparse

from executor.cli.commands.call import describe_tool, join_path, render_tool
from executor.cli.context import Context


def search(args: argparse.Namespace, ctx: Context) -> int:
    found = ctx.request(
        "GET",
        "/tools/search",
        query={"q": args.query, "limit": args.limit, "integration": args.integration},
    )
    if ctx.out.json_mode:
        ctx.out.json(found)
        return 0
    hits = found.get("hits") or []
    ctx.out.table(
        ["tool", "policy", "summary"],
        [
            [h["tool"]["address"], h["tool"].get("policy", ""), h["tool"].get("summary", "")]
            for h in hits
        ],
        empty=f"No tool matches {args.query!r}.",
    )
    if hits and not found.get("is_good_match"):
        ctx.out.note("None of these is a close match; try other words.")
    return 0


def list_(args: argparse.Namespace, ctx: Context) -> int:
    tools = (
        ctx.request(
            "GET", "/tools", query={"integration": args.integration, "connection": args.connection}
        )
        or []
    )
    if ctx.out.json_mode:
        ctx.out.json(tools)
        return 0
    ctx.out.table(
        ["tool", "policy", "summary"],
        [[t["address"], t.get("policy", ""), t.get("summary", "")] for t in tools],
        empty="No tools. Add a source: executor sources add <url-or-file>",
    )
    return 0


def describe(args: argparse.Namespace, ctx: Context) -> int:
    tool = describe_tool(ctx, join_path(args.path))
    if ctx.out.json_mode:
        ctx.out.json(tool)
    else:
        render_tool(ctx, tool)
    return 0
