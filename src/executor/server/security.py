"""Security of the local server: the bearer token, Host/Origin checks, loopback-only binding.

Local mode mints two bearer tokens into the data dir, each mode 0600: ``token`` opens
everything (the person: the HTTP API, later the browser), ``agent-token`` opens only ``/mcp``
(what goes into an agent's config) — so an agent holding its token cannot reach ``/api`` to add
sources, change policies or answer its own approvals. Every request must name this server as its
Host (a DNS-rebinding page cannot), and a browser request must come from this server's origin.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from executor.errors import InvalidInputError

TOKEN_FILE = "token"
AGENT_TOKEN_FILE = "agent-token"
#: The agent's token opens these paths (and what is below them) only.
AGENT_PATHS = ("/mcp",)
#: Approval modes served so far; others are refused rather than silently served as ``model``.
APPROVAL_MODES = frozenset({"model"})
#: Paths served without the token (still behind the Host/Origin checks).
PUBLIC_PATHS = frozenset({"/api/health"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def load_or_create_token(data_dir: Path, name: str = TOKEN_FILE) -> str:
    """A bearer token, minted once into ``<data_dir>/<name>`` (mode 0600).

    Created atomically: the file is written complete under a temporary name and linked into
    place, so a concurrent start never reads a half-written token, and the first writer wins.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / name
    with contextlib.suppress(FileNotFoundError):
        return _read_token(path)
    temporary = data_dir / f".{name}.{secrets.token_hex(8)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # fails if another process won the race: use theirs
    finally:
        temporary.unlink(missing_ok=True)
    return _read_token(path)


def _read_token(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        raise InvalidInputError(
            f"The token file {path} is readable by other users.",
            hint=f"Run: chmod 600 {path}",
        )
    token = path.read_text().strip()
    if not token:
        raise InvalidInputError(
            f"The token file {path} is empty.", hint="Delete it; a new token is minted at start."
        )
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_host(host: str) -> None:
    """Refuse to listen beyond loopback: local mode has one token and no users."""
    if not is_loopback(host):
        raise InvalidInputError(
            f"Refusing to listen on {host}: the local server only binds a loopback address.",
            hint="Use --host 127.0.0.1 (multi-user mode, which can listen wider, comes later).",
        )


def allowed_hosts(port: int, host: str | None = None) -> frozenset[str]:
    """The Host header values that name this server (the loopback names and the bound host)."""
    names = {*LOOPBACK_NAMES}
    if host is not None:
        names.add(f"[{host}]" if ":" in host else host)
    return frozenset(f"{name}:{port}" for name in names)


class LocalSecurity:
    """ASGI middleware: Host and Origin checks for every request, then the bearer token for
    everything outside :data:`PUBLIC_PATHS`."""

    def __init__(
        self, app: ASGIApp, *, token: str, agent_token: str, port: int, host: str | None = None
    ) -> None:
        self.app = app
        self._token = token.encode()
        self._agent_token = agent_token.encode()
        self._hosts = allowed_hosts(port, host)
        self._origins = frozenset(f"http://{host}" for host in self._hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            # No route takes websockets; refuse anything that is not plain HTTP unchecked.
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = Headers(scope=scope)
        problem = self._problem(headers, scope["path"]) or self._mode_problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, code, message = problem
        response = JSONResponse(
            {"ok": False, "error": {"code": code, "message": message}},
            status_code=status,
            headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
        )
        await response(scope, receive, send)

    def _problem(self, headers: Headers, path: str) -> tuple[int, str, str] | None:
        if headers.get("host", "").lower() not in self._hosts:
            # 421 Misdirected Request: this server does not answer to that name.
            return 421, "invalid_host", "This server only answers to 127.0.0.1/localhost."
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self._origins:
            return 403, "forbidden_origin", f"Requests from {origin} are not allowed."
        if path in PUBLIC_PATHS:
            return None
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        given = credentials.strip().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(given, self._token):
            return None
        if scheme.lower() == "bearer" and hmac.compare_digest(given, self._agent_token):
            if any(path == p or path.startswith(p + "/") for p in AGENT_PATHS):
                return None
            return 403, "forbidden", "The agent token only opens /mcp; this needs the user's."
        return 401, "unauthorized", "A valid bearer token is required (see <data_dir>/token)."

    @staticmethod
    def _mode_problem(scope: Scope) -> tuple[int, str, str] | None:
        if not scope["path"].startswith("/mcp"):
            return None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        for mode in query.get("approval", []):
            if mode not in APPROVAL_MODES:
                # Never serve a stricter-sounding mode as "model": the agent would approve itself.
                return 400, "invalid_input", f"Approval mode {mode!r} is not available yet."
        if query.get("tools"):
            return 400, "invalid_input", "Direct tool mode (?tools=) is not available yet."
        return None
