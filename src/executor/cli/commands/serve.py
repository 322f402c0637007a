"""``executor daemon …``, ``executor web`` and ``executor mcp``.

``executor mcp`` is a stdio proxy to the daemon's ``/mcp`` rather than a second server in the
agent's process: every agent then shares one catalog process — one database pool, one sandbox
pool, one long-lived session per upstream MCP server, one place where approvals (terminal,
browser) are answered — and an agent's ``executor mcp`` starts in the time it takes to import
the MCP SDK, without opening the database or the plugins.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from datetime import UTC, datetime
from typing import Any

from executor.cli import daemon
from executor.cli.client import AGENT_TOKEN_FILE, read_token
from executor.cli.context import Context
from executor.cli.errors import EXIT_DAEMON, CliError


def daemon_run(args: argparse.Namespace, ctx: Context) -> int:
    return daemon.serve(ctx.data_dir, host=args.host, port=args.port, ready_fd=args.ready_fd)


def _uptime(started_at: str) -> str:
    try:
        seconds = int((datetime.now(UTC) - datetime.fromisoformat(started_at)).total_seconds())
    except ValueError:
        return "?"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


def daemon_status(args: argparse.Namespace, ctx: Context) -> int:
    manifest = daemon.running(ctx.data_dir)
    healthy = manifest is not None and daemon.is_healthy(manifest)
    if ctx.out.json_mode:
        ctx.out.json(
            {
                "running": manifest is not None,
                "healthy": healthy,
                "data_dir": str(ctx.data_dir),
                "log": str(daemon.log_path(ctx.data_dir)),
                **({"manifest": manifest.__dict__} if manifest else {}),
            }
        )
    elif manifest is None:
        ctx.out.plain(f"Not running (data dir {ctx.data_dir}). It starts on first use.")
    else:
        ctx.out.plain(
            f"Running: {manifest.url} (pid {manifest.pid}, version {manifest.version}, "
            f"up {_uptime(manifest.started_at)}){'' if healthy else ' — NOT answering'}\n"
            f"  MCP: {manifest.url}/mcp\n  log: {manifest.log}"
        )
    return 0 if healthy else EXIT_DAEMON


def daemon_stop(args: argparse.Namespace, ctx: Context) -> int:
    pid = daemon.stop(ctx.data_dir)
    if ctx.out.json_mode:
        ctx.out.json({"stopped": pid})
    else:
        ctx.out.plain(f"Stopped the daemon (pid {pid})." if pid else "No daemon was running.")
    return 0


def daemon_restart(args: argparse.Namespace, ctx: Context) -> int:
    daemon.stop(ctx.data_dir)
    manifest = daemon.ensure_running(ctx.data_dir)
    if ctx.out.json_mode:
        ctx.out.json(manifest.__dict__)
    else:
        ctx.out.plain(f"Restarted: {manifest.url} (pid {manifest.pid}).")
    return 0


def _open(ctx: Context, url: str, token: str, no_open: bool) -> None:
    link = f"{url}/?token={token}"
    if ctx.out.json_mode:
        ctx.out.json({"url": url, "link": link})
    if no_open or not webbrowser.open(link):
        if not ctx.out.json_mode:
            ctx.out.plain(f"Open the web UI: {link}")
    elif not ctx.out.json_mode:
        ctx.out.plain(f"Opened the web UI at {url}/ in your browser.")


def web(args: argparse.Namespace, ctx: Context) -> int:
    if not args.foreground:
        manifest = daemon.ensure_running(ctx.data_dir)
        _open(ctx, manifest.url, read_token(ctx.data_dir), args.no_open)
        return 0
    if daemon.running(ctx.data_dir) is not None:
        raise CliError(
            "A daemon already serves this data dir.",
            hint="Use `executor web` to open it, or `executor daemon stop` first.",
            exit_code=EXIT_DAEMON,
        )

    def ready(manifest: daemon.Manifest) -> None:
        _open(ctx, manifest.url, read_token(ctx.data_dir), args.no_open)

    return daemon.serve(ctx.data_dir, host=args.host, port=args.port, on_ready=ready)


def mcp(args: argparse.Namespace, ctx: Context) -> int:
    if args.in_process:
        return _mcp_in_process(args, ctx)
    manifest = daemon.ensure_running(ctx.data_dir)
    path = f"/mcp/toolkits/{args.toolkit}" if args.toolkit else "/mcp"
    query = "&".join(
        f"{key}={value}"
        for key, value in (("approval", args.approval), ("tools", args.tools))
        if value
    )
    url = manifest.url + path + (f"?{query}" if query else "")
    token = read_token(ctx.data_dir, AGENT_TOKEN_FILE)
    import anyio

    anyio.run(_proxy, url, token)
    return 0


def _mcp_in_process(args: argparse.Namespace, ctx: Context) -> int:
    """The MCP server in this process, on its own Executor (no daemon is started or used)."""
    import anyio

    from executor.errors import ExecutorError
    from executor.server.mcp import Endpoint, serve_stdio

    running = daemon.running(ctx.data_dir)
    try:
        endpoint = Endpoint(
            approval=args.approval or "model",
            tools=args.tools or "default",
            toolkit=args.toolkit,
            web_url=running.url if running else None,
        )
        anyio.run(lambda: serve_stdio(endpoint, data_dir=ctx.data_dir))
    except ExecutorError as exc:
        raise CliError(exc.message, hint=exc.hint, code=exc.code) from None
    return 0


async def _proxy(url: str, token: str) -> None:
    """Relay MCP messages between this process's stdio and the daemon's streamable HTTP
    endpoint until the agent closes stdin."""
    import anyio
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.stdio import stdio_server

    client = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30.0, read=300.0),
    )
    async with (
        client,
        stdio_server() as (agent_in, agent_out),
        streamable_http_client(url, http_client=client) as (daemon_in, daemon_out),
        anyio.create_task_group() as tasks,
    ):

        async def pump(source: Any, target: Any, *, last: bool) -> None:
            async with target:
                async for message in source:
                    if isinstance(message, Exception):
                        print(f"executor mcp: {message}", file=sys.stderr)
                        continue
                    await target.send(message)
            if last:
                tasks.cancel_scope.cancel()

        tasks.start_soon(lambda: pump(daemon_in, agent_out, last=False))
        await pump(agent_in, daemon_out, last=True)
