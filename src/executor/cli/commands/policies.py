"""``executor policies``: ordered rules that allow, gate or block tools by address pattern."""

from __future__ import annotations

import argparse
from typing import Any

from executor.cli.client import quote_segment
from executor.cli.context import Context


def set_(args: argparse.Namespace, ctx: Context) -> int:
    body: dict[str, Any] = {"pattern": args.pattern, "action": args.action, "scope": args.scope}
    if args.position is not None:
        body["position"] = args.position
    policy = ctx.request("POST", "/policies", body=body)
    if ctx.out.json_mode:
        ctx.out.json(policy)
    else:
        ctx.out.plain(
            f"{policy['pattern']} → {policy['action']} ({policy['scope']}, id {policy['id']})"
        )
    return 0


def list_(args: argparse.Namespace, ctx: Context) -> int:
    policies = ctx.request("GET", "/policies") or []
    if ctx.out.json_mode:
        ctx.out.json(policies)
        return 0
    ctx.out.table(
        ["id", "scope", "position", "pattern", "action"],
        [[p["id"], p["scope"], p["position"], p["pattern"], p["action"]] for p in policies],
        empty="No rules: every tool follows its spec's default policy.",
    )
    return 0


def remove(args: argparse.Namespace, ctx: Context) -> int:
    ctx.request("DELETE", f"/policies/{quote_segment(args.policy_id)}")
    if ctx.out.json_mode:
        ctx.out.json({"ok": True, "removed": args.policy_id})
    else:
        ctx.out.plain(f"Removed rule {args.policy_id}.")
    return 0
