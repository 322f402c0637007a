"""``executor sources``: detect and add sources, list, refresh and remove them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from executor.cli.client import quote_segment
from executor.cli.context import Context
from executor.cli.errors import CliError, usage_error

#: Below this confidence a detection is not trusted without --type.
CONFIDENT = 0.5


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _detect(ctx: Context, source: str) -> list[dict[str, Any]] | None:
    """The ranked candidates, or None when the daemon has no detection endpoint."""
    try:
        answer = ctx.request("POST", "/sources/detect", body={"source": source})
    except CliError as exc:
        if exc.code == "not_found" and "No API route" in exc.message:
            return None
        raise
    candidates = answer.get("candidates") if isinstance(answer, dict) else answer
    return list(candidates or [])


def add(args: argparse.Namespace, ctx: Context) -> int:
    source: str = args.source
    if not _is_url(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise usage_error(
                f"{source!r} is neither a URL nor an existing file.",
                "Pass an http(s):// URL or the path of a spec file.",
            )
        source = str(path.resolve())  # the daemon reads it (and re-reads it on refresh)
    kind: str | None = args.kind
    detected: dict[str, Any] | None = None
    if kind is None:
        with ctx.out.working(f"Detecting what {args.source} is…"):
            candidates = _detect(ctx, source)
        if candidates is None:
            kind = "openapi"
            if not ctx.out.json_mode:
                ctx.out.note("This daemon cannot detect source types; assuming OpenAPI.")
        elif not candidates or float(candidates[0].get("confidence", 0)) < CONFIDENT:
            found = ", ".join(
                f"{c.get('kind')} ({float(c.get('confidence', 0)):.0%})" for c in candidates
            )
            raise CliError(
                f"Could not tell what {args.source} is"
                + (f" (best guesses: {found})." if found else "."),
                hint="Name its type with --type openapi|graphql|mcp|discovery.",
                code="invalid_spec",
            )
        else:
            detected = candidates[0]
            kind = str(detected["kind"])
            if not ctx.out.json_mode:
                reason = f" — {detected['reason']}" if detected.get("reason") else ""
                ctx.out.text(
                    f"Detected [bold]{kind}[/bold] "
                    f"({float(detected.get('confidence', 0)):.0%} confident){reason}"
                )
    # Without --slug the daemon derives one from the source's title.
    body: dict[str, Any] = {"kind": kind, "spec": source}
    if args.slug:
        body["slug"] = args.slug
    if detected and detected.get("options"):
        body["options"] = detected["options"]
    if args.base_url:
        body["base_url"] = args.base_url
    with ctx.out.working(f"Importing {args.slug or args.source} (download, parse, index)…"):
        integration = ctx.request("POST", "/integrations", body=body)
    slug = str(integration["slug"])
    connections = ctx.request("GET", "/connections", query={"integration": slug}) or []
    if ctx.out.json_mode:
        ctx.out.json({"integration": integration, "detected": detected, "connections": connections})
        return 0
    count = integration.get("tool_count", 0)
    ctx.out.text(
        f"Added [bold]{slug}[/bold] ({integration.get('kind', kind)}): {count} tools"
        + (f" — {integration['title']}" if integration.get("title") else "")
    )
    if connections:
        names = ", ".join(c["name"] for c in connections)
        ctx.out.text(f"Ready to call through: {names}. Browse: executor call {slug} --help")
    else:
        methods = ", ".join(m.get("type", "?") for m in integration.get("auth_methods") or [])
        ctx.out.text(
            f"It needs credentials ({methods or 'see its auth methods'}): "
            f"executor connections create {slug}"
        )
    return 0


def list_(args: argparse.Namespace, ctx: Context) -> int:
    integrations = ctx.request("GET", "/integrations") or []
    if ctx.out.json_mode:
        ctx.out.json(integrations)
        return 0
    ctx.out.table(
        ["slug", "kind", "tools", "title"],
        [[i["slug"], i["kind"], i.get("tool_count", 0), i.get("title", "")] for i in integrations],
        empty="No sources yet. Add one: executor sources add <url-or-file>",
    )
    return 0


def refresh(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.out.working(f"Refreshing {args.slug}…"):
        report = ctx.request("POST", f"/integrations/{quote_segment(args.slug)}/refresh")
    if ctx.out.json_mode:
        ctx.out.json(report)
        return 0
    ctx.out.text(f"Refreshed [bold]{args.slug}[/bold]: {report.get('tool_count', 0)} tools")
    for change in ("added", "changed", "removed", "held"):
        names = report.get(change) or []
        if names:
            shown = ", ".join(names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            ctx.out.plain(f"  {change}: {shown}")
    return 0


def remove(args: argparse.Namespace, ctx: Context) -> int:
    ctx.request("DELETE", f"/integrations/{quote_segment(args.slug)}")
    if ctx.out.json_mode:
        ctx.out.json({"ok": True, "removed": args.slug})
    else:
        ctx.out.plain(f"Removed {args.slug} with its connections and tools.")
    return 0
