"""``executor connections``: create (secrets never from a plain argument), list, remove."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from typing import Any

from executor.cli.client import quote_segment
from executor.cli.context import Context
from executor.cli.errors import usage_error

#: A secret provider reference: ``env://NAME``, ``secret://name``, ``op://vault/item/field``…
_REFERENCE = re.compile(r"[a-z][a-z0-9+.-]*://\S+\Z")
#: The field of each auth type that holds its secret.
SECRET_FIELD = {"api_key": "value", "bearer": "token", "basic": "password"}


def _reference(value: str, what: str) -> str:
    if not _REFERENCE.match(value):
        raise usage_error(
            f"{what} must be a provider reference (env://NAME, secret://name, op://…), "
            "not a plain value: command lines land in shell history.",
            "Leave it out to be prompted (hidden input), or pipe it with --secret-stdin.",
        )
    return value


class _Secrets:
    """Where this invocation's secret values come from: stdin (once) or a hidden prompt."""

    def __init__(self, use_stdin: bool) -> None:
        self._stdin = use_stdin
        self._used = False

    def read(self, label: str) -> str:
        if self._stdin:
            if self._used:
                raise usage_error("--secret-stdin gives one secret; this needs several.")
            self._used = True
            value = sys.stdin.read().strip()
        elif sys.stdin.isatty():
            value = getpass.getpass(f"{label}: ")
        else:
            raise usage_error(
                f"No value for {label}, and there is no terminal to ask on.",
                "Pipe it with --secret-stdin or pass --secret env://NAME.",
            )
        if not value:
            raise usage_error(f"{label} is empty.")
        return value


def _auth_type(args: argparse.Namespace, integration: dict[str, Any]) -> tuple[str, str | None]:
    """The auth type to use and the method id, from --auth/--method or the integration."""
    methods = integration.get("auth_methods") or []
    if args.method:
        for method in methods:
            if method.get("id") == args.method:
                return args.auth or str(method["type"]), args.method
        known = ", ".join(str(m.get("id")) for m in methods) or "none"
        raise usage_error(
            f"{integration['slug']} has no auth method {args.method!r}.", f"Its methods: {known}."
        )
    if args.auth:
        return args.auth, None
    if not methods:
        return "none", None
    kinds = {str(m["type"]) for m in methods}
    if len(methods) == 1 or len(kinds) == 1:
        kind = kinds.pop()
        return ("bearer" if kind == "oauth2" else kind), None
    listed = ", ".join(f"{m.get('id')} ({m.get('type')})" for m in methods)
    raise usage_error(
        f"{integration['slug']} accepts several auth methods: {listed}.",
        "Pick one with --method ID (or --auth TYPE).",
    )


def _auth(args: argparse.Namespace, integration: dict[str, Any]) -> dict[str, Any]:
    kind, method = _auth_type(args, integration)
    secrets = _Secrets(args.secret_stdin)
    auth: dict[str, Any] = {"type": kind}
    if method:
        auth["method"] = method
    if kind == "none":
        return auth
    if kind == "custom_headers":
        headers: dict[str, str] = {}
        for item in args.secret_header or []:
            name, given, value = item.partition("=")
            headers[name] = _reference(value, f"Header {name}") if given else secrets.read(name)
        if not headers:
            raise usage_error("custom_headers auth needs --secret-header NAME (repeat per header).")
        auth["headers"] = headers
        return auth
    if kind == "basic":
        username = args.username or (input("Username: ") if sys.stdin.isatty() else None)
        if not username:
            raise usage_error("Basic auth needs --username.")
        auth["username"] = username
    field = SECRET_FIELD[kind]
    label = {"value": "API key", "token": "Token", "password": "Password"}[field]
    auth[field] = _reference(args.secret, "--secret") if args.secret else secrets.read(label)
    return auth


def _plain_headers(items: list[str] | None) -> dict[str, str]:
    headers = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise usage_error(f"--header {item!r} must look like NAME=VALUE.")
        headers[name] = value
    return headers


def create(args: argparse.Namespace, ctx: Context) -> int:
    integration = ctx.request("GET", f"/integrations/{quote_segment(args.integration)}")
    body: dict[str, Any] = {
        "integration": args.integration,
        "name": args.name,
        "auth": _auth(args, integration),
        "personal": bool(args.personal),
    }
    if args.base_url:
        body["base_url"] = args.base_url
    if args.header:
        body["headers"] = _plain_headers(args.header)
    if args.timeout:
        body["timeout"] = args.timeout
    connection = ctx.request("POST", "/connections", body=body)
    if ctx.out.json_mode:
        ctx.out.json(connection)
        return 0
    ctx.out.text(
        f"Created [bold]{args.integration}.{args.name}[/bold] "
        f"({connection['auth'].get('type', 'none')} auth; secrets stored as references)."
    )
    ctx.out.plain(f"Try it: executor call {args.integration}.{args.name} --help")
    return 0


def list_(args: argparse.Namespace, ctx: Context) -> int:
    connections = ctx.request("GET", "/connections", query={"integration": args.integration}) or []
    if ctx.out.json_mode:
        ctx.out.json(connections)
        return 0
    rows = []
    for c in connections:
        refs = sorted(_references(c.get("auth") or {}))
        rows.append(
            [
                f"{c['integration']}.{c['name']}",
                (c.get("auth") or {}).get("type", "none"),
                ", ".join(refs),
                describe_health(c),
                "personal" if c.get("user_id") else "workspace",
            ]
        )
    ctx.out.table(
        ["connection", "auth", "secrets", "health", "scope"],
        rows,
        empty="No connections yet. Create one: executor connections create <integration>",
    )
    return 0


def health_of(connection: dict[str, Any]) -> dict[str, Any]:
    """A listed connection's health (``status``, ``last_error``, ``checked_at``); an older
    daemon lists none, which reads as ``unknown``."""
    health = connection.get("health")
    return health if isinstance(health, dict) else {"status": "unknown"}


def describe_health(connection: dict[str, Any]) -> str:
    """The health column: the status, with the last error unless it is ok or unknown."""
    health = health_of(connection)
    status = str(health.get("status") or "unknown")
    error = health.get("last_error")
    if not error or status in ("ok", "unknown"):
        return status
    return f"{status}: {error if len(error) <= 100 else error[:99] + '…'}"


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value} if _REFERENCE.match(value) else set()
    if isinstance(value, dict):
        return set().union(*(_references(item) for item in value.values())) if value else set()
    return set()


def remove(args: argparse.Namespace, ctx: Context) -> int:
    path = f"/connections/{quote_segment(args.integration)}/{quote_segment(args.name)}"
    ctx.request("DELETE", path)
    if ctx.out.json_mode:
        ctx.out.json({"ok": True, "removed": f"{args.integration}.{args.name}"})
    else:
        ctx.out.plain(f"Removed {args.integration}.{args.name} and the secrets stored for it.")
    return 0
