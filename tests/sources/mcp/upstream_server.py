"""A small MCP server for the MCP source tests, run over stdio or streamable HTTP.

Its tool list lives in a JSON state file (``--state``), so every process started from the
same file lists the same tools and a test can change them between processes:
``{"extra": ["name", ...], "hidden": ["name", ...], "count": <tools to list>}``.

Tools: ``whoami`` (this process's pid and how many calls it served), ``add``, ``wipe``
(destructive), ``grow`` (adds a tool to the state and announces tools/list_changed),
``hide`` (removes a tool from the state without announcing it), ``confirm`` (asks the user a
yes/no question through elicitation), ``env`` (reads an environment variable), ``picture``
(text, image and resource content), ``fail`` (an error result), and ``bulk_<n>`` tools when
``count`` asks for many (listed 500 per page).

Misbehaviours for bad-input tests, chosen with ``--misbehave``: ``hang`` (never answers),
``garbage`` (prints non-JSON lines and nothing else), ``exit`` (exits at once with status 3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.stdio import stdio_server

PAGE = 500
_calls = 0


def _state(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {}


def _write(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def _tool(
    name: str, description: str, properties: dict[str, Any] | None = None, **hints: Any
) -> types.Tool:
    return types.Tool(
        name=name,
        description=description,
        input_schema={"type": "object", "properties": properties or {}},
        annotations=types.ToolAnnotations(**hints) if hints else None,
    )


def _tools(state: dict[str, Any]) -> list[types.Tool]:
    tools = [
        _tool("whoami", "The server's process id and call count.", read_only_hint=True),
        _tool(
            "add",
            "Add two numbers.",
            {"a": {"type": "number"}, "b": {"type": "number"}},
            read_only_hint=True,
        ),
        _tool("wipe", "Delete everything.", destructive_hint=True),
        _tool("grow", "Add a tool named by `name` and announce it.", {"name": {"type": "string"}}),
        _tool("hide", "Forget a tool without telling anyone.", {"name": {"type": "string"}}),
        _tool("confirm", "Ask the user to confirm.", read_only_hint=True),
        _tool(
            "env",
            "Read an environment variable.",
            {"name": {"type": "string"}},
            read_only_hint=True,
        ),
        _tool("picture", "Text, an image and a resource.", read_only_hint=True),
        _tool("fail", "Always fails.", read_only_hint=True),
        _tool("files/read.all", "A namespaced name.", read_only_hint=True),
    ]
    tools += [
        _tool(name, f"Added later: {name}.", read_only_hint=True) for name in state.get("extra", [])
    ]
    tools += [
        _tool(
            f"bulk_{index}",
            f"Bulk tool number {index}.",
            {"x": {"type": "integer"}},
            read_only_hint=True,
        )
        for index in range(int(state.get("count", 0)))
    ]
    hidden = set(state.get("hidden", []))
    return [tool for tool in tools if tool.name not in hidden]


def build(state_path: Path) -> Server:
    async def list_tools(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        tools = _tools(_state(state_path))
        start = int(params.cursor) if params and params.cursor else 0
        end = start + PAGE
        return types.ListToolsResult(
            tools=tools[start:end], next_cursor=str(end) if end < len(tools) else None
        )

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        global _calls
        _calls += 1
        args = params.arguments or {}
        state = _state(state_path)
        names = {tool.name for tool in _tools(state)}
        if params.name not in names:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=f"Unknown tool: {params.name}")],
                is_error=True,
            )
        if params.name == "whoami":
            return types.CallToolResult(
                content=[], structured_content={"pid": os.getpid(), "calls": _calls}
            )
        if params.name == "add":
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=str(args["a"] + args["b"]))]
            )
        if params.name == "grow":
            state.setdefault("extra", []).append(args["name"])
            _write(state_path, state)
            await ctx.session.send_tool_list_changed()
            return types.CallToolResult(content=[types.TextContent(type="text", text="grown")])
        if params.name == "hide":
            state.setdefault("hidden", []).append(args["name"])
            _write(state_path, state)
            return types.CallToolResult(content=[types.TextContent(type="text", text="hidden")])
        if params.name == "confirm":
            answer = await ctx.session.elicit(
                "Really go ahead?",
                {
                    "type": "object",
                    "properties": {"sure": {"type": "boolean"}},
                    "required": ["sure"],
                },
                related_request_id=ctx.request_id,
            )
            return types.CallToolResult(
                content=[], structured_content={"action": answer.action, "content": answer.content}
            )
        if params.name == "env":
            return types.CallToolResult(
                content=[
                    types.TextContent(type="text", text=os.environ.get(args["name"], "<unset>"))
                ]
            )
        if params.name == "picture":
            return types.CallToolResult(
                content=[
                    types.TextContent(type="text", text="a picture"),
                    types.ImageContent(type="image", data="iVBORw0KGgo=", mime_type="image/png"),
                    types.EmbeddedResource(
                        type="resource",
                        resource=types.TextResourceContents(
                            uri="file:///notes.txt", mime_type="text/plain", text="notes"
                        ),
                    ),
                ]
            )
        if params.name == "fail":
            return types.CallToolResult(
                content=[types.TextContent(type="text", text="it broke")], is_error=True
            )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"ran {params.name}")]
        )

    return Server("upstream-test", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)


def misbehave(how: str) -> None:
    if how == "exit":
        print("upstream: giving up at once", file=sys.stderr, flush=True)
        sys.exit(3)
    if how == "garbage":
        for _ in range(3):
            print("this is not JSON-RPC", flush=True)
        sys.stdin.read()
    if how == "hang":
        sys.stdin.read()
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--misbehave", choices=["hang", "garbage", "exit"])
    parser.add_argument("--http-port", type=int)
    options = parser.parse_args()
    if options.misbehave:
        misbehave(options.misbehave)
        return
    server = build(options.state)

    async def run() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(run)


if __name__ == "__main__":
    main()
