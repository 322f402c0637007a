"""A small MCP server for the MCP source tests, run over stdio or streamable HTTP.

Its tool list lives in a JSON state file (``--state``), so every process started from the
same file lists the same tools and a test can change them between processes:
``{"extra": ["name", ...], "hidden": ["name", ...], "count": <tools to list>,
"interviews": true}``.

Tools: ``whoami`` (this process's pid and how many calls it served), ``add``, ``wipe``
(destructive), ``grow`` (adds a tool to the state and announces tools/list_changed),
``hide`` (removes a tool from the state without announcing it), ``confirm`` (asks the user a
yes/no question through elicitation), ``env`` (reads an environment variable), ``picture``
(text, image and resource content), ``fail`` (an error result), and ``bulk_<n>`` tools when
``count`` asks for many (listed 500 per page). With ``interviews``: ``signup`` (asks for a
name, an age and a yes/no, read-only) and ``survey`` (asks two questions in turn, needs
approval): through ``elicitation/create`` on handshake-era sessions, through
``InputRequiredResult`` rounds on 2026-07-28 ones; each returns the answers it got. ``signup``
with ``together=n`` first waits until n signup calls run at once (then asks, all together).

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
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

PAGE = 500
_calls = 0
#: The signup calls waiting for each other (``together``), and the event that lets them go.
_gathering: tuple[list[int], anyio.Event] | None = None

SIGNUP_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Name"},
        "age": {"type": "integer", "minimum": 0},
        "newsletter": {"type": "boolean", "default": False},
    },
    "required": ["name", "age"],
}
COLOUR_SCHEMA = {
    "type": "object",
    "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]}},
    "required": ["colour"],
}
#: The questions each interview tool asks, in turn.
INTERVIEWS = {
    "signup": [("Who are you?", SIGNUP_SCHEMA)],
    "survey": [("Your name, please?", SIGNUP_SCHEMA), ("Your favourite colour?", COLOUR_SCHEMA)],
}


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
    if state.get("interviews"):
        tools += [
            _tool(
                "signup",
                "Sign the user up (asks who they are).",
                {"together": {"type": "integer"}},
                read_only_hint=True,
            ),
            _tool("survey", "Ask the user two questions."),
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


async def _together(count: int) -> None:
    """Wait until ``count`` calls are waiting here, then let them all go."""
    global _gathering
    if _gathering is None:
        _gathering = ([], anyio.Event())
    waiting, everyone = _gathering
    waiting.append(1)
    if len(waiting) >= count:
        _gathering = None
        everyone.set()
    await everyone.wait()


async def _interview(
    ctx: Any, params: types.CallToolRequestParams
) -> types.CallToolResult | types.InputRequiredResult:
    """Ask the tool's questions in turn, stopping at the first one not accepted."""
    await _together(int((params.arguments or {}).get("together", 1)))
    questions = INTERVIEWS[params.name]
    answers: list[dict[str, Any]] = []
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        answers = json.loads(params.request_state or "[]")
        response = (params.input_responses or {}).get("question")
        if isinstance(response, types.ElicitResult):
            answers.append({"action": response.action, "content": response.content})
        if len(answers) < len(questions) and all(a["action"] == "accept" for a in answers):
            message, schema = questions[len(answers)]
            form = types.ElicitRequestFormParams(message=message, requested_schema=schema)
            return types.InputRequiredResult(
                input_requests={"question": types.ElicitRequest(params=form)},
                request_state=json.dumps(answers),
            )
    else:
        for message, schema in questions:
            answer = await ctx.session.elicit(message, schema, related_request_id=ctx.request_id)
            answers.append({"action": answer.action, "content": answer.content})
            if answer.action != "accept":
                break
    return types.CallToolResult(content=[], structured_content={"answers": answers})


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

    async def call_tool(
        ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
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
        if params.name in INTERVIEWS:
            return await _interview(ctx, params)
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
