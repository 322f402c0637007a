"""Security of the local server: the bearer token, Host/Origin checks, loopback-only binding.

Local mode trusts whoever holds the token minted into the data dir (``<data_dir>/token``,
mode 0600). Every request must name this server as its Host (a DNS-rebinding page cannot), and
a browser request must come from this server's own origin.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from executor.errors import InvalidInputError

TOKEN_FILE = "token"
#: Paths served without the token (still behind the Host/Origin checks).
PUBLIC_PATHS = frozenset({"/api/health"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def load_or_create_token(data_dir: Path) -> str:
    """The server's bearer token, minted once into ``<data_dir>/token`` (mode 0600).

    Created atomically: the file is written complete under a temporary name and linked into
    place, so a concurrent start never reads a half-written token, and the first writer wins.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / TOKEN_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read_token(path)
    temporary = data_dir / f".{TOKEN_FILE}.{secrets.token_hex(8)}"
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


def allowed_hosts(port: int) -> frozenset[str]:
    """The Host header values that name this server."""
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


class LocalSecurity:
    """ASGI middleware: Host and Origin checks for every request, then the bearer token for
    everything outside :data:`PUBLIC_PATHS`."""

    def __init__(self, app: ASGIApp, *, token: str, port: int) -> None:
        self.app = app
        self._token = token.encode()
        self._hosts = allowed_hosts(port)
        self._origins = frozenset(f"http://{host}" for host in self._hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._problem(headers, scope["path"])
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
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            credentials.strip().encode(), self._token
        ):
            return 401, "unauthorized", "A valid bearer token is required (see <data_dir>/token)."
        return None
