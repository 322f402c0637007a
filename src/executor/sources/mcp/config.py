"""What an MCP upstream is: its transport and how to reach it, parsed from a source config.

Three transports, chosen from the config:

- ``stdio``: ``options = {"command": ..., "args": [...], "env": {...}, "cwd": ...}``;
- ``http`` (streamable HTTP, the default for a URL) and ``sse``: ``url`` plus
  ``options.transport`` (``"http"`` or ``"sse"``) and optional ``options.headers``.

Environment variables and headers may hold secret references (``secret://…``, ``env://…``),
resolved at connect time. A plain value whose name looks like a credential is refused, because
the config is stored in plain text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from executor.errors import InvalidInputError
from executor.secrets.base import OPTIONAL_SCHEMES

Transport = Literal["stdio", "http", "sse"]
Mode = Literal["auto", "legacy"]

_TRANSPORTS: tuple[Transport, ...] = ("stdio", "http", "sse")
_MODES: tuple[Mode, ...] = ("auto", "legacy")
_OPTIONS = {"transport", "command", "args", "env", "cwd", "headers", "mode", "connect_timeout"}
_CREDENTIAL_NAME = re.compile(
    r"authorization|cookie|token|secret|passw|api[-_]?key|auth|credential|private", re.IGNORECASE
)
_REFERENCE = re.compile(r"([a-z][a-z0-9+.\-]*)://.+\Z", re.DOTALL)
_REFERENCE_SCHEMES = {"secret", "env", *OPTIONAL_SCHEMES}


def is_reference(value: str) -> bool:
    """Whether ``value`` is a secret reference (``secret://``, ``env://``, ``op://``, …)."""
    match = _REFERENCE.match(value)
    return match is not None and match.group(1) in _REFERENCE_SCHEMES


@dataclass(frozen=True)
class Upstream:
    """One MCP server to connect to. ``env`` and ``headers`` values may be secret references."""

    transport: Transport
    url: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    mode: Mode = "auto"
    connect_timeout: float | None = None

    @property
    def label(self) -> str:
        """How to name this server in messages (never includes env or header values)."""
        if self.transport == "stdio":
            return f"stdio server {self.command!r}"
        return f"{self.transport} server {self.url}"

    def options(self) -> dict[str, Any]:
        """The normalised ``options`` to store (references, never resolved values)."""
        options: dict[str, Any] = {"transport": self.transport}
        if self.command is not None:
            options["command"] = self.command
        if self.args:
            options["args"] = list(self.args)
        if self.env:
            options["env"] = dict(self.env)
        if self.cwd is not None:
            options["cwd"] = self.cwd
        if self.headers:
            options["headers"] = dict(self.headers)
        if self.mode != "auto":
            options["mode"] = self.mode
        if self.connect_timeout is not None:
            options["connect_timeout"] = self.connect_timeout
        return options


def parse_upstream(url: str | None, options: Mapping[str, Any]) -> Upstream:
    """Validate a source's ``url`` and ``options``; raise InvalidInputError saying what is wrong."""
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise InvalidInputError(
            f"MCP sources do not take option(s) {', '.join(map(repr, unknown))}.",
            hint=f"Known options: {', '.join(sorted(_OPTIONS))}.",
        )
    transport = options.get("transport") or ("stdio" if url is None else "http")
    if transport not in _TRANSPORTS:
        raise InvalidInputError(
            f"Unknown MCP transport {transport!r}.", hint="Use 'stdio', 'http' or 'sse'."
        )
    mode = options.get("mode", "auto")
    if mode not in _MODES:
        raise InvalidInputError(
            f"Unknown MCP connect mode {mode!r}.",
            hint="Use 'auto' (negotiate the newest revision) or 'legacy' (initialize handshake).",
        )
    timeout = options.get("connect_timeout")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise InvalidInputError("connect_timeout must be a positive number of seconds.")
    if transport == "stdio":
        return _stdio(url, options, mode, timeout)
    if not url or not url.startswith(("http://", "https://")):
        raise InvalidInputError(
            f"An MCP {transport} source needs an http(s) URL.",
            hint="For example 'http://127.0.0.1:3001/mcp'; for a local command use "
            "options={'command': ..., 'args': [...]}.",
        )
    for name in ("command", "args", "env", "cwd"):
        if name in options:
            raise InvalidInputError(
                f"Option {name!r} only applies to stdio MCP servers.",
                hint="Drop it, or leave out the URL to run a local command.",
            )
    return Upstream(
        transport=transport,
        url=url,
        headers=_values(options.get("headers"), "headers"),
        mode=mode,
        connect_timeout=timeout,
    )


def _stdio(url: str | None, options: Mapping[str, Any], mode: Mode, timeout: Any) -> Upstream:
    if url is not None:
        raise InvalidInputError(
            "A stdio MCP source runs a command; it takes no URL.",
            hint="Drop the URL, or use transport 'http' or 'sse' for a remote server.",
        )
    command = options.get("command")
    if not isinstance(command, str) or not command.strip():
        raise InvalidInputError(
            "A stdio MCP source needs options.command.",
            hint="For example {'command': 'uvx', 'args': ['mcp-server-time']}.",
        )
    args = options.get("args", [])
    if isinstance(args, str) or not isinstance(args, list | tuple):
        raise InvalidInputError("options.args must be a list of strings.")
    if not all(isinstance(arg, str) for arg in args):
        raise InvalidInputError("options.args must be a list of strings.")
    cwd = options.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise InvalidInputError("options.cwd must be a directory path.")
    if "headers" in options:
        raise InvalidInputError(
            "Option 'headers' only applies to HTTP and SSE MCP servers.",
            hint="Pass credentials to a stdio server through options.env.",
        )
    return Upstream(
        transport="stdio",
        command=command,
        args=tuple(args),
        env=_values(options.get("env"), "env"),
        cwd=cwd,
        mode=mode,
        connect_timeout=timeout,
    )


def _values(raw: Any, what: str) -> dict[str, str]:
    """Environment variables or headers: strings, credentials only as references."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"options.{what} must be an object of name → value.")
    values: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise InvalidInputError(f"options.{what} must map names to string values.")
        if _CREDENTIAL_NAME.search(name) and not is_reference(value):
            raise InvalidInputError(
                f"options.{what}[{name!r}] looks like a credential given as a plain value; "
                "source options are stored in plain text.",
                hint="Store it with secrets.set() and pass the reference ('secret://name'), "
                "or use 'env://NAME'.",
            )
        values[name] = value
    return values
