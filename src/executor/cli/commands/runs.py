"""``executor runs``: the run history, newest first, and one run in full."""

from __future__ import annotations

import argparse

from executor.cli.client import quote_segment
from executor.cli.context import Context
from executor.cli.output import to_json


def list_(args: argparse.Namespace, ctx: Context) -> int:
    runs = ctx.request("GET", "/executions", query={"limit": getattr(args, "limit", 20)}) or []
    if ctx.out.json_mode:
        ctx.out.json(runs)
        return 0
    rows = []
    for run in runs:
        calls = run.get("calls") or []
        what = ", ".join(sorted({c.get("address", "") for c in calls})) or (run.get("code") or "")
        rows.append(
            [
                run.get("id"),
                str(run.get("started_at") or run.get("created_at") or "")[:19],
                run.get("kind", ""),
                run.get("status", ""),
                run.get("caller", ""),
                what.splitlines()[0][:60] if what else "",
            ]
        )
    ctx.out.table(
        ["id", "started", "kind", "status", "caller", "tools / code"], rows, empty="No runs yet."
    )
    return 0


def show(args: argparse.Namespace, ctx: Context) -> int:
    run = ctx.request("GET", f"/executions/{quote_segment(args.run_id)}")
    if ctx.out.json_mode:
        ctx.out.json(run)
        return 0
    ctx.out.text(f"[bold]{run.get('id')}[/bold]  {run.get('status')}  ({run.get('caller', '')})")
    if run.get("code"):
        ctx.out.plain("code:\n  " + str(run["code"]).replace("\n", "\n  "))
    calls = run.get("calls") or []
    ctx.out.table(
        ["#", "tool", "decision", "outcome", "ms"],
        [
            [
                c.get("seq", i),
                c.get("address"),
                c.get("decision"),
                c.get("outcome"),
                f"{float(c.get('duration_ms') or 0):.1f}",
            ]
            for i, c in enumerate(calls)
        ],
        empty="No tool calls.",
    )
    for key in ("pending", "error", "result"):
        if run.get(key) is not None:
            ctx.out.plain(f"{key}:\n{to_json(run[key])}")
    if run.get("logs"):
        ctx.out.plain("logs:\n" + str(run["logs"]))
    return 0
