"""Security of the local server: the bearer token, Host/Origin checks, loopback-only binding.

Local mode mints two bearer tokens into the data dir, each mode 0600: ``token`` opens
everything (the person: the HTTP API and the web UI), ``agent-token`` opens only ``/mcp``
(what goes into an agent's config) — so an agent holding its token cannot reach ``/api`` to add
sources, change policies or answer its own approvals. Every request must name this server as its
Host (a DNS-rebinding page cannot), and a browser request must come from this server's origin.

The browser signs in once with a link, ``/<any page>?token=<token>``: the answer sets a session
cookie (HttpOnly, SameSite=Strict, derived from the token) and redirects to the same page
without the token. The cookie opens the pages and ``/api``, never ``/mcp``; a request it
authenticates that changes something must also carry this server's ``Origin``, since a page on
another port of this host is same-site and its requests would carry the cookie too.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from executor.errors import InvalidInputError

TOKEN_FILE = "token"
AGENT_TOKEN_FILE = "agent-token"
#: The agent's token opens these paths (and what is below them) only.
AGENT_PATHS = ("/mcp",)
#: MCP approval modes (``?approval=``); others are refused, never silently served as ``model``.
APPROVAL_MODES = frozenset({"model", "browser", "native"})
#: MCP tool shapes (``?tools=``): the four default tools, or every catalog tool directly.
TOOL_MODES = frozenset({"default", "direct"})
#: Paths served without the token (still behind the Host/Origin checks).
PUBLIC_PATHS = frozenset({"/api/health"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
#: Paths that answer JSON; every other path is a web page (refusals in HTML).
MACHINE_PATHS = ("/api", "/mcp")
#: How long the browser's session cookie lasts (rotating the token ends it sooner).
SESSION_MAX_AGE = 30 * 24 * 3600
#: Methods that change nothing; any other one authenticated by the cookie needs our Origin.
SAFE_METHODS = frozenset({"GET", "HEAD"})

#: Renders a refused web page: (status, code, message) → an HTML response.
PageRefusal = Callable[[int, str, str], Response]


def session_cookie_name(port: int) -> str:
    """The session cookie's name: per port, because a host's cookies are shared by its ports
    (two servers on 127.0.0.1 must not sign each other's browser out)."""
    return f"executor_session_{port}"


def session_value(token: str) -> str:
    """The session cookie's value for ``token``: derived from it rather than a copy, so the
    cookie is not a bearer token and rotating the token signs every browser out."""
    return hmac.new(token.encode(), b"executor web session", hashlib.sha256).hexdigest()


def is_page(path: str) -> bool:
    """Whether ``path`` is a web page (HTML) rather than ``/api`` or ``/mcp`` (JSON)."""
    return not _is_under(path, MACHINE_PATHS)


def _is_under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


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
    """ASGI middleware: Host and Origin checks for every request, then the bearer token (or the
    browser's session cookie) for everything outside :data:`PUBLIC_PATHS`.

    ``page_refusal`` renders the refusals of web pages (HTML for a person); without it every
    refusal is JSON.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        agent_token: str,
        port: int,
        host: str | None = None,
        page_refusal: PageRefusal | None = None,
    ) -> None:
        self.app = app
        self._token = token.encode()
        self._agent_token = agent_token.encode()
        self._session = session_value(token).encode()
        self._cookie = session_cookie_name(port)
        self._hosts = allowed_hosts(port, host)
        self._origins = frozenset(f"http://{host}" for host in self._hosts)
        self._page_refusal = page_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            # No route takes websockets; refuse anything that is not plain HTTP unchecked.
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = Headers(scope=scope)
        if _link_token(scope) is not None and self._place_problem(headers) is None:
            response = self._sign_in(scope, headers)
        else:
            problem = self._problem(headers, scope["path"], scope["method"]) or self._mode_problem(
                scope
            )
            if problem is None:
                await self.app(scope, receive, send)
                return
            response = self._refusal(scope["path"], *problem)
        await response(scope, receive, send)

    def _refusal(self, path: str, status: int, code: str, message: str) -> Response:
        if self._page_refusal is not None and is_page(path):
            return self._page_refusal(status, code, message)
        return JSONResponse(
            {"ok": False, "error": {"code": code, "message": message}},
            status_code=status,
            headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
        )

    def _sign_in(self, scope: Scope, headers: Headers) -> Response:
        """The token link: a valid token gets the session cookie and a redirect to the same
        page without the token (so it leaves the address bar and the history)."""
        given = _link_token(scope) or ""
        if not hmac.compare_digest(given.encode(), self._token):
            return self._refusal(
                scope["path"],
                401,
                "unauthorized",
                "This sign-in link's token is not valid (the agent token does not open the web "
                "UI).",
            )
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        rest = urlencode([(key, value) for key, value in query if key != "token"])
        # Absolute, on the Host already checked: a path like //elsewhere stays on this server.
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        location = f"http://{headers['host']}{path}{'?' + rest if rest else ''}"
        response = RedirectResponse(location, status_code=303)
        response.set_cookie(
            self._cookie,
            self._session.decode(),
            max_age=SESSION_MAX_AGE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=False,  # plain http on loopback: a Secure cookie would never be sent back
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def _place_problem(self, headers: Headers) -> tuple[int, str, str] | None:
        """Host and Origin: the request must name this server and come from its origin."""
        if headers.get("host", "").lower() not in self._hosts:
            # 421 Misdirected Request: this server does not answer to that name.
            return 421, "invalid_host", "This server only answers to 127.0.0.1/localhost."
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self._origins:
            return 403, "forbidden_origin", f"Requests from {origin} are not allowed."
        return None

    def _has_session(self, headers: Headers) -> bool:
        cookie = cookie_parser(headers.get("cookie", "")).get(self._cookie, "")
        return hmac.compare_digest(cookie.encode(), self._session)

    def _problem(self, headers: Headers, path: str, method: str) -> tuple[int, str, str] | None:
        problem = self._place_problem(headers)
        if problem is not None or path in PUBLIC_PATHS:
            return problem
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        given = credentials.strip().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(given, self._token):
            return None
        if scheme.lower() == "bearer" and hmac.compare_digest(given, self._agent_token):
            if _is_under(path, AGENT_PATHS):
                return None
            return 403, "forbidden", "The agent token only opens /mcp; this needs the user's."
        if not scheme and not _is_under(path, AGENT_PATHS) and self._has_session(headers):
            if method not in SAFE_METHODS and headers.get("origin") is None:
                # The cookie rides along on any same-site request; our Origin proves the page.
                return (
                    403,
                    "forbidden_origin",
                    "A browser request that changes something must come from this server's "
                    "pages (no Origin header was sent).",
                )
            return None
        if is_page(path):
            return 401, "unauthorized", "Sign in to this server's web UI to see this page."
        return 401, "unauthorized", "A valid bearer token is required (see <data_dir>/token)."

    @staticmethod
    def _mode_problem(scope: Scope) -> tuple[int, str, str] | None:
        if not scope["path"].startswith("/mcp"):
            return None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        for mode in query.get("approval", []):
            if mode not in APPROVAL_MODES:
                # Never serve a stricter-sounding mode as "model": the agent would approve itself.
                return (
                    400,
                    "invalid_input",
                    f"Unknown approval mode {mode!r}: use {', '.join(sorted(APPROVAL_MODES))}.",
                )
        for shape in query.get("tools", []):
            if shape not in TOOL_MODES:
                return 400, "invalid_input", f"Unknown tools mode {shape!r}: use tools=direct."
        return None


def _link_token(scope: Scope) -> str | None:
    """The token of a sign-in link (``GET <page>?token=…``), or None for any other request."""
    if scope["method"] not in SAFE_METHODS or not is_page(scope["path"]):
        return None
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        if key == "token":
            return value
    return None
