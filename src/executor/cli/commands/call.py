"""``executor call`` and ``executor resume``: call a tool, browse the catalog, answer approvals.

A call runs as a one-line code-mode execution (``tools.<address>(...)``) on the daemon, so a
call that needs approval — or whose upstream asks the user a question — pauses durably like any
execution: it is answered here on the terminal (a question field by field) or later with
``executor resume`` — from any process, after a daemon restart too.
"""

from __future__ import annotations

import argparse
import difflib
import json
import keyword
import math
import shlex
import sys
from typing import Any

from executor.cli.client import quote_segment
from executor.cli.context import Context
from executor.cli.errors import (
    EXIT_APPROVAL_PENDING,
    EXIT_USAGE,
    CliError,
    exit_code_for,
    usage_error,
)
from executor.cli.output import to_json
from executor.errors import InvalidInputError
from executor.forms import describe_field, form_fields, parse_field, skeleton

#: Type-checker rules of the sandbox that mean "these arguments do not fit the tool".
_ARGUMENT_RULES = ("argument", "parameter")


def join_path(words: list[str]) -> str:
    """``["petstore", "pets.list_pets"]`` → ``"petstore.pets.list_pets"``."""
    return ".".join(part for word in words for part in word.split(".") if part)


def _not_found(address: str, candidates: list[str]) -> CliError:
    close = difflib.get_close_matches(address, candidates, n=5, cutoff=0.5)
    return CliError(
        f"No tool or namespace at {address!r}.",
        hint=f"Did you mean {', '.join(close)}?" if close else "Browse: executor call --help",
        code="tool_not_found",
        details={"suggestions": close},
    )


def _with_only_connection(ctx: Context, address: str) -> str | None:
    """``petstore.pets.list`` → ``petstore.default.pets.list`` when petstore has exactly one
    connection and the second segment is not its name."""
    parts = address.split(".")
    if len(parts) < 2:
        return None
    connections = ctx.request("GET", "/connections", query={"integration": parts[0]}) or []
    if len(connections) != 1 or connections[0]["name"] == parts[1]:
        return None
    return ".".join([parts[0], connections[0]["name"], *parts[1:]])


def describe_tool(ctx: Context, address: str) -> dict[str, Any]:
    """The tool at ``address`` (the connection may be left out when there is only one)."""
    if not address:
        raise usage_error("Name a tool.", "Browse the catalog: executor call --help")
    try:
        return dict(ctx.request("GET", f"/tools/{quote_segment(address)}"))
    except CliError as exc:
        if exc.code != "tool_not_found":
            raise
        expanded = _with_only_connection(ctx, address)
        if expanded is None:
            raise
        try:
            return dict(ctx.request("GET", f"/tools/{quote_segment(expanded)}"))
        except CliError:
            raise exc from None


def _type_of(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(map(str, kind))
    if kind == "array":
        return f"array of {_type_of(schema.get('items'))}"
    if kind:
        return str(kind)
    if "enum" in schema:
        return "enum"
    for combiner in ("anyOf", "oneOf"):
        if combiner in schema:
            return "|".join(_type_of(option) for option in schema[combiner])
    return "any"


def parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A tool's parameters from its input schema: name, type, required, description."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    rows = []
    for name in sorted(properties, key=lambda item: (item not in required, item)):
        prop = properties[name] if isinstance(properties[name], dict) else {}
        notes = prop.get("description") or prop.get("title") or ""
        if "enum" in prop:
            notes = (notes + " " if notes else "") + "one of: " + ", ".join(map(str, prop["enum"]))
        if "default" in prop:
            notes = (notes + " " if notes else "") + f"(default {json.dumps(prop['default'])})"
        rows.append(
            {
                "name": name,
                "type": _type_of(prop),
                "required": name in required,
                "description": " ".join(str(notes).split())[:200],
            }
        )
    return rows


def render_tool(ctx: Context, tool: dict[str, Any]) -> None:
    """A tool's help: what it does, its policy, its parameters and how to call it."""
    out = ctx.out
    out.text(f"[bold]{tool['address']}[/bold] — {tool.get('summary') or ''}")
    description = (tool.get("description") or "").strip()
    if description and description != tool.get("summary"):
        out.plain("\n" + description[:2000])
    out.text(f"\npolicy: [bold]{tool.get('policy')}[/bold]")
    rows = parameters(tool.get("input_schema") or {})
    out.table(
        ["parameter", "type", "required", "description"],
        [[p["name"], p["type"], "yes" if p["required"] else "", p["description"]] for p in rows],
        title="\nParameters",
        empty="No parameters.",
    )
    example = {p["name"]: f"<{p['type']}>" for p in rows if p["required"]}
    out.plain(f"\nCall: executor call {tool['address']} '{json.dumps(example)}'")
    if rows:
        out.plain(f"  or: executor call {tool['address']} --arg {rows[0]['name']}=…")


def browse(ctx: Context, prefix: str, *, match: str | None, limit: int) -> int:
    """What lies under ``prefix``: namespaces with their tool counts, and tools."""
    tools = ctx.request("GET", "/tools") or []
    addresses = {tool["address"]: tool for tool in tools}
    if (
        prefix
        and prefix not in addresses
        and not any(a.startswith(prefix + ".") for a in addresses)
    ):
        expanded = _with_only_connection(ctx, prefix)
        if expanded and (
            expanded in addresses or any(a.startswith(expanded + ".") for a in addresses)
        ):
            prefix = expanded
        else:
            known = {".".join(a.split(".")[:n]) for a in addresses for n in range(1, 4)}
            raise _not_found(prefix, sorted(known | set(addresses)))
    if prefix in addresses and not any(a.startswith(prefix + ".") for a in addresses):
        tool = describe_tool(ctx, prefix)
        if ctx.out.json_mode:
            ctx.out.json({**tool, "parameters": parameters(tool.get("input_schema") or {})})
        else:
            render_tool(ctx, tool)
        return 0
    start = len(prefix) + 1 if prefix else 0
    namespaces: dict[str, int] = {}
    leaves: list[dict[str, Any]] = []
    for address, tool in sorted(addresses.items()):
        if prefix and not address.startswith(prefix + "."):
            continue
        rest = address[start:]
        if match and match.lower() not in rest.lower():
            continue
        head, _, tail = rest.partition(".")
        if tail:
            namespaces[head] = namespaces.get(head, 0) + 1
        else:
            leaves.append(tool)
    shown_namespaces = list(namespaces.items())[:limit]
    shown_tools = leaves[: max(0, limit - len(shown_namespaces))]
    hidden = len(namespaces) + len(leaves) - len(shown_namespaces) - len(shown_tools)
    base = f"{prefix}." if prefix else ""
    if ctx.out.json_mode:
        ctx.out.json(
            {
                "path": prefix,
                "namespaces": [
                    {"path": base + name, "tools": count} for name, count in shown_namespaces
                ],
                "tools": [
                    {
                        "address": t["address"],
                        "summary": t.get("summary", ""),
                        "policy": t.get("policy"),
                    }
                    for t in shown_tools
                ],
                "more": hidden,
            }
        )
        return 0
    if not addresses:
        ctx.out.plain("No tools yet. Add a source: executor sources add <url-or-file>")
        return 0
    rows = [[base + name + ".", f"{count} tools", ""] for name, count in shown_namespaces]
    rows += [[t["address"], t.get("policy", ""), t.get("summary", "")] for t in shown_tools]
    ctx.out.table(
        ["path", "", "summary"],
        rows,
        title=f"Under {prefix}" if prefix else "Integrations and connections",
        empty=f"Nothing under {prefix or 'the catalog'} matches {match!r}.",
    )
    if hidden:
        ctx.out.plain(f"… and {hidden} more (narrow with --match or raise --limit).")
    ctx.out.plain("Go deeper: executor call <path> --help")
    return 0


def _arguments_json(raw: str | None, what: str = "arguments") -> dict[str, Any]:
    """A JSON object from the command line (``-``: from stdin); ``what`` names it in errors."""
    if raw is None:
        return {}
    if raw == "-":
        raw = sys.stdin.read()
        if not raw.strip():
            return {}
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise usage_error(
            f"The {what} are not valid JSON: {exc}.",
            "Pass a JSON object, e.g. '{\"limit\": 5}'.",
        ) from None
    if not isinstance(value, dict):
        raise usage_error(f"The {what} must be a JSON object.", "For example '{\"limit\": 5}'.")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _coerce(name: str, raw: str, schema: Any) -> Any:
    """``--arg key=value``: a string when the parameter is one, else the value as JSON."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    kinds = set(kind) if isinstance(kind, list) else {kind} if kind else set()
    if "string" in kinds and kinds <= {"string", "null"}:
        return raw
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        if not kinds or "string" in kinds:
            return raw
        raise usage_error(
            f"--arg {name} expects {'|'.join(sorted(map(str, kinds)))}, not {raw!r}."
        ) from None


def _literal(value: Any) -> str:
    """A Python literal of a JSON value, for the one-line program a call runs as."""
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise usage_error("Arguments cannot hold infinite or NaN numbers.")
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{str(k)!r}: {_literal(v)}" for k, v in value.items()) + "}"
    raise usage_error(f"Cannot pass a {type(value).__name__} as an argument.")


def call_code(address: str, arguments: dict[str, Any]) -> str:
    """``tools.<address>(key=value, ..., **{"not-an-identifier": value})``."""
    named = [
        f"{key}={_literal(value)}"
        for key, value in arguments.items()
        if key.isidentifier() and not keyword.iskeyword(key)
    ]
    other = {
        key: value
        for key, value in arguments.items()
        if not (key.isidentifier() and not keyword.iskeyword(key))
    }
    if other:
        named.append(f"**{_literal(other)}")
    return f"tools.{address}({', '.join(named)})"


def _split_words(words: list[str]) -> tuple[str, str | None]:
    if words and (words[-1].lstrip().startswith(("{", "[")) or words[-1] == "-"):
        return join_path(words[:-1]), words[-1]
    return join_path(words), None


def call(args: argparse.Namespace, ctx: Context) -> int:
    path, raw = _split_words(args.words)
    if args.help or not path:
        if raw is not None or args.arg:
            raise usage_error("--help browses and describes; it takes no arguments.")
        return browse(ctx, path, match=args.match, limit=max(1, args.limit))
    try:
        tool = describe_tool(ctx, path)
    except CliError as exc:
        if exc.code != "tool_not_found" or raw is not None or args.arg:
            raise
        # A namespace named without a tool: show what is under it.
        try:
            browse(ctx, path, match=args.match, limit=max(1, args.limit))
        except CliError:
            raise exc from None
        return EXIT_USAGE
    address = str(tool["address"])
    arguments = _arguments_json(raw)
    properties = (tool.get("input_schema") or {}).get("properties") or {}
    for item in args.arg:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise usage_error(f"--arg {item!r} must look like KEY=VALUE.")
        arguments[key] = _coerce(key, value, properties.get(key))
    execution = ctx.request("POST", "/executions", body={"code": call_code(address, arguments)})
    return settle(ctx, execution, address=address, may_ask=not args.no_input)


def resume(args: argparse.Namespace, ctx: Context) -> int:
    body: dict[str, Any] = {"action": args.action}
    if args.content is not None:
        body["content"] = _arguments_json(args.content, "answers (--content)")
    execution = ctx.request(
        "POST", f"/executions/{quote_segment(args.execution_id)}/resume", body=body
    )
    return settle(ctx, execution, address=None, may_ask=False)


def resume_command(execution_id: str, pending: dict[str, Any] | None = None) -> str:
    """The command that answers a paused execution; for a question, with a ``--content``
    skeleton of its required fields."""
    command = f"executor resume --execution-id {execution_id} --action accept"
    if (pending or {}).get("asks") == "input":
        fields = form_fields((pending or {}).get("schema") or {})
        command += f" --content {shlex.quote(json.dumps(skeleton(fields), ensure_ascii=False))}"
    return command


def _prompt(text: str) -> str | None:
    """One line typed on the terminal (without its newline); None at end of input."""
    sys.stderr.write(text)
    sys.stderr.flush()
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def _ask(pending: dict[str, Any]) -> dict[str, Any] | None:
    """Ask on the terminal; the resume request's body, or None when the person walked away
    (EOF)."""
    if pending.get("asks") == "input":
        return _ask_input(pending)
    lines = [
        f"Approval needed: {pending.get('address')} — {pending.get('summary') or ''}".rstrip(" —"),
    ]
    if pending.get("reason"):
        lines.append(f"  reason: {pending['reason']}")
    lines.append(f"  arguments: {json.dumps(pending.get('arguments') or {}, ensure_ascii=False)}")
    answer = _prompt("\n".join(lines) + "\nRun it? [y/N] ")
    if answer is None:
        return None
    return {"action": "accept" if answer.strip().lower() in ("y", "yes") else "decline"}


def _ask_input(pending: dict[str, Any]) -> dict[str, Any] | None:
    """Ask an upstream's question field by field (an empty line skips an optional field)."""
    heading = f"{pending.get('address')} asks: {pending.get('message') or ''}\nAnswer it? [Y/n] "
    answer = _prompt(heading)
    if answer is None:
        return None
    if answer.strip().lower() in ("n", "no"):
        return {"action": "decline"}
    content: dict[str, Any] = {}
    for field in form_fields(pending.get("schema") or {}):
        while True:
            text = _prompt(f"  {describe_field(field)}: ")
            if text is None:
                return None
            if not text.strip():
                if field.required:
                    continue
                break
            try:
                content[field.name] = parse_field(field, text)
                break
            except InvalidInputError as exc:
                sys.stderr.write(f"  {exc.message}\n")
    return {"action": "accept", "content": content}


def settle(ctx: Context, execution: dict[str, Any], *, address: str | None, may_ask: bool) -> int:
    """Render an execution's outcome; on a pause ask (terminal) or print the resume command."""
    out = ctx.out
    while execution.get("status") == "paused":
        pending = execution.get("pending") or {}
        answer = _ask(pending) if may_ask and sys.stdin.isatty() else None
        if answer is None:
            command = resume_command(execution["id"], pending)
            if out.json_mode:
                out.json(
                    {
                        "ok": False,
                        "status": "paused",
                        "execution_id": execution["id"],
                        "pending": pending,
                        "expires_at": execution.get("expires_at"),
                        "resume": command,
                    }
                )
            else:
                out.plain(_paused_text(execution["id"], pending, command))
            return EXIT_APPROVAL_PENDING
        execution = ctx.request(
            "POST", f"/executions/{quote_segment(execution['id'])}/resume", body=answer
        )
    if execution.get("logs") and not out.json_mode:
        out.note(str(execution["logs"]).rstrip())
    status = execution.get("status")
    if status == "failed":
        raise _execution_error(execution.get("error") or {}, address)
    if status == "cancelled":
        if out.json_mode:
            out.json(execution)
        else:
            out.plain(f"Execution {execution['id']} was cancelled.")
        return 0
    result = execution.get("result")
    if isinstance(result, dict) and "ok" in result:  # a tool's result envelope
        if out.json_mode:
            out.json(result)
        if result.get("ok"):
            if not out.json_mode:
                out.plain(to_json(result.get("data")))
            return 0
        error = result.get("error") or {}
        if not out.json_mode:
            failure = CliError.from_error(error)
            if error.get("code") == "invalid_arguments" and address:
                failure.hint = f"See its parameters: executor call {address} --help"
            from executor.cli.output import error_lines

            print(error_lines(failure.message, failure.hint), file=sys.stderr)
        return exit_code_for(error.get("code"))
    out.json(execution if out.json_mode else result)
    return 0


def _paused_text(execution_id: str, pending: dict[str, Any], command: str) -> str:
    """What a paused call waits for, and the command that answers it."""
    arguments = json.dumps(pending.get("arguments") or {}, ensure_ascii=False)
    if pending.get("asks") == "input":
        fields = form_fields(pending.get("schema") or {})
        listed = "".join(f"\n    {describe_field(field)}" for field in fields)
        return (
            f"Asks for input: {pending.get('address')} — {pending.get('message') or ''}\n"
            f"  fields:{listed or ' none'}\n"
            f"Execution {execution_id} is paused. Answer it with:\n  {command}\n"
            "  (or --action decline; the tool runs again with the answer)"
        )
    return (
        f"Needs approval: {pending.get('address')} — {pending.get('summary') or ''}\n"
        f"  arguments: {arguments}\n"
        f"Execution {execution_id} is paused. Approve it with:\n  {command}\n"
        "  (or --action decline)"
    )


def _execution_error(error: dict[str, Any], address: str | None) -> CliError:
    details = error.get("details") or {}
    rule = str(details.get("rule") or "")
    if address and error.get("code") == "code_error" and any(r in rule for r in _ARGUMENT_RULES):
        diagnostics = details.get("diagnostics") or [{}]
        message = diagnostics[0].get("message") or error.get("message")
        return CliError(
            f"Invalid arguments for {address}: {message}",
            hint=f"See its parameters: executor call {address} --help",
            code="invalid_arguments",
        )
    failure = CliError.from_error(error)
    if address and failure.code == "tool_not_found":
        failure.hint = "Browse: executor call --help"
    return failure
