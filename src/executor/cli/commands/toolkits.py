"""``executor toolkits``: named subsets of the catalog, each served at its own MCP endpoint."""

from __future__ import annotations

import argparse
from typing import Any

from executor.cli.client import quote_segment
from executor.cli.context import Context


def _url(ctx: Context, slug: str) -> str:
    return f"{ctx.api().url}/mcp/toolkits/{slug}"


def list_(args: argparse.Namespace, ctx: Context) -> int:
    toolkits = ctx.request("GET", "/toolkits") or []
    if ctx.out.json_mode:
        ctx.out.json(toolkits)
        return 0
    ctx.out.table(
        ["slug", "patterns", "MCP endpoint"],
        [[t["slug"], ", ".join(t.get("patterns") or []), _url(ctx, t["slug"])] for t in toolkits],
        empty="No toolkits. Create one: executor toolkits create <slug> --pattern 'github.*'",
    )
    return 0


def create(args: argparse.Namespace, ctx: Context) -> int:
    body: dict[str, Any] = {"slug": args.slug, "patterns": args.pattern}
    if args.description:
        body["description"] = args.description
    toolkit = ctx.request("POST", "/toolkits", body=body)
    if ctx.out.json_mode:
        ctx.out.json(toolkit)
    else:
        ctx.out.plain(f"Created toolkit {args.slug}: {_url(ctx, args.slug)}")
    return 0


def show(args: argparse.Namespace, ctx: Context) -> int:
    toolkit = ctx.request("GET", f"/toolkits/{quote_segment(args.slug)}")
    if ctx.out.json_mode:
        ctx.out.json(toolkit)
        return 0
    ctx.out.text(f"[bold]{toolkit['slug']}[/bold] {toolkit.get('description') or ''}")
    ctx.out.plain(f"  patterns: {', '.join(toolkit.get('patterns') or [])}")
    ctx.out.plain(f"  MCP endpoint: {_url(ctx, args.slug)}")
    return 0


def remove(args: argparse.Namespace, ctx: Context) -> int:
    ctx.request("DELETE", f"/toolkits/{quote_segment(args.slug)}")
    if ctx.out.json_mode:
        ctx.out.json({"ok": True, "removed": args.slug})
    else:
        ctx.out.plain(f"Removed toolkit {args.slug}.")
    return 0
