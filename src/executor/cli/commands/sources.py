"""``executor sources``: detect and add sources, list, refresh and remove them, and review what
refreshes hold."""

from __future__ import annotations

import argparse
import json
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
    if args.review_changes is not None:
        body["review_changes"] = args.review_changes
    if args.review_mode:
        body["review_mode"] = args.review_mode
    integration = _import(ctx, body)
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


def _import(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Add the integration, showing each stage (download, parse, index) as the daemon
    streams it; returns the integration it answers."""
    answer: dict[str, Any] | None = None
    with ctx.out.stages() as report:
        for item in ctx.api().stream("POST", "/integrations", body=body):
            if item.get("event") == "progress":
                report(str(item.get("stage")), int(item.get("done") or 0), item.get("total"))
            else:
                answer = item
    if answer is None:
        raise CliError(
            "The daemon stopped answering before the source was added.",
            hint="See whether it was added with `executor sources list`, and the daemon's log.",
        )
    return answer


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
    if report.get("held"):
        ctx.out.plain(f"See what is held: executor sources reviews {args.slug}")
    return 0


def remove(args: argparse.Namespace, ctx: Context) -> int:
    ctx.request("DELETE", f"/integrations/{quote_segment(args.slug)}")
    if ctx.out.json_mode:
        ctx.out.json({"ok": True, "removed": args.slug})
    else:
        ctx.out.plain(f"Removed {args.slug} with its connections and tools.")
    return 0


#: Characters of a value shown in a before/after line (``--json`` has them in full).
SHORT = 100


def reviews(args: argparse.Namespace, ctx: Context) -> int:
    held = ctx.request("GET", "/reviews", query={"integration": args.integration}) or []
    if ctx.out.json_mode:
        ctx.out.json(held)
        return 0
    ctx.out.table(
        ["integration", "tool", "change", "what changed", "held since"],
        [
            [
                review["integration"],
                review["name"],
                review["change"],
                _what_changed(review),
                str(review.get("held_at") or "")[:19].replace("T", " "),
            ]
            for review in held
        ],
        empty="Nothing is held for review.",
    )
    for review in held:
        ctx.out.plain(f"\n{review['integration']} {review['name']}:")
        for line in _differences(review):
            ctx.out.plain(f"  {line}")
    if held:
        ctx.out.plain(
            "\nDecide: executor sources review <integration> [<tool>...] --accept | --reject"
        )
    return 0


def review(args: argparse.Namespace, ctx: Context) -> int:
    body: dict[str, Any] = {"action": args.action}
    if args.tools:
        body["tools"] = args.tools
    decided = ctx.request(
        "POST", f"/integrations/{quote_segment(args.integration)}/reviews", body=body
    )
    if ctx.out.json_mode:
        ctx.out.json(decided)
        return 0
    names = decided.get("tools") or []
    if not names:
        ctx.out.plain(f"Nothing of {args.integration} is held for review.")
    elif args.action == "accept":
        ctx.out.plain(f"Accepted, now served: {', '.join(names)} ({args.integration}).")
    else:
        ctx.out.plain(
            f"Rejected: {', '.join(names)} ({args.integration}); the reviewed definitions keep "
            "serving, added tools stay out."
        )
    return 0


def _what_changed(review: dict[str, Any]) -> str:
    return "(new tool)" if review["change"] == "added" else ", ".join(review["changed_fields"])


def _differences(review: dict[str, Any]) -> list[str]:
    """A few readable lines on what a held change proposes: an added tool's summary and
    parameters, or each changed field before and after."""
    before, after = review.get("reviewed"), review["proposed"]
    if before is None:
        return [
            f"new tool: {_short(after.get('summary') or after.get('description'))}",
            f"parameters: {_parameters(after.get('input_schema'))}",
        ]
    lines = []
    for name in review["changed_fields"]:
        old, new = _field(before, name), _field(after, name)
        if name.endswith("_schema") and isinstance(old, dict) and isinstance(new, dict):
            lines.append(f"{name}: {_schema_change(old, new)}")
        elif isinstance(old, dict) and isinstance(new, dict):
            lines.append(f"{name}: {_keys_change(old, new)}")
        elif name == "auth_methods":
            lines.append(f"{name}: {_methods_change(old or [], new or [])}")
        elif len(_short(old)) + len(_short(new)) <= 60:
            lines.append(f"{name}: {_short(old)} → {_short(new)}")
        else:
            lines += [f"{name}:", f"  before: {_short(old)}", f"  after:  {_short(new)}"]
    return lines


def _field(definition: dict[str, Any], name: str) -> Any:
    """A field of a definition, or ``config.<key>`` of integration settings."""
    if name.startswith("config."):
        return (definition.get("config") or {}).get(name.removeprefix("config."))
    return definition.get(name)


def _short(value: Any) -> str:
    """One line of at most :data:`SHORT` characters. Values come from upstreams, which a review
    does not trust yet: control characters (terminal escapes) are dropped."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = "".join(char for char in " ".join(text.split()) if char.isprintable())
    return text if len(text) <= SHORT else text[: SHORT - 1] + "…"


def _keys_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The keys of an object (a binding, a config value) that differ: with both values when
    they are short, by name otherwise."""
    parts = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) == new.get(key):
            continue
        was, now = _short(old.get(key)), _short(new.get(key))
        parts.append(f"{key} {was} → {now}" if len(was) + len(now) <= 60 else f"{key} changed")
    return "; ".join(parts)


def _methods_change(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> str:
    """The auth methods added, removed or changed (by id)."""
    was, now = {m.get("id"): m for m in old}, {m.get("id"): m for m in new}
    parts = [f"added {key}" for key in now if key not in was]
    parts += [f"removed {key}" for key in was if key not in now]
    parts += [
        f"{key}: {_keys_change(was[key], now[key])}"
        for key in now
        if key in was and was[key] != now[key]
    ]
    return "; ".join(parts)


def _parameters(schema: Any) -> str:
    properties = (schema or {}).get("properties") or {}
    required = set((schema or {}).get("required") or ())
    return ", ".join(_required(name, required) for name in properties) or "none"


def _required(name: str, required: set[str]) -> str:
    return f"{name} (required)" if name in required else name


def _schema_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Which parameters a schema gained, lost or changed (and which became (un)required)."""
    was, now = old.get("properties") or {}, new.get("properties") or {}
    was_required, now_required = set(old.get("required") or ()), set(new.get("required") or ())
    parts = []
    for label, names in (
        ("added", [_required(n, now_required) for n in now if n not in was]),
        ("removed", [n for n in was if n not in now]),
        ("changed", [n for n in now if n in was and was[n] != now[n]]),
        ("now required", sorted((now_required - was_required) & was.keys())),
        ("no longer required", sorted((was_required - now_required) & now.keys())),
    ):
        if names:
            parts.append(f"{label} {', '.join(names)}")
    return "; ".join(parts) or f"{_short(old)} → {_short(new)}"
