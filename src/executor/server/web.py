"""The web UI: server-rendered pages (Jinja2, no front-end build) for the person at the browser.

- ``/`` — the connect card (the exact ``npx add-mcp …`` command and the JSON config for Claude
  Code and Cursor, with this server's port and the agent's header filled in), the catalog by
  integration with each connection's health, the changes refreshes hold for review (each with
  Accept / Reject), and how many executions wait for an answer;
- ``/reviews/<integration>`` — a POST decides one held change through
  :meth:`Executor.sources.review` and redirects home;
- ``/approvals`` — the inbox of paused executions, each with Approve / Decline;
- ``/approvals/<execution_id>`` — one execution (the approval URL an agent can hand the user);
  a POST answers it through :meth:`Executor.resume` and redirects back to show the outcome. An
  execution paused at an upstream's question shows the question's form (fields from its JSON
  Schema, see :mod:`executor.forms`), and the POST carries the filled-in answer as content.

Like every surface it is a thin adapter: each handler calls the core and renders the result.
The browser signs in through :class:`~executor.server.security.LocalSecurity` (a token link sets
the session cookie), which also makes a form POST prove its Origin. Every page is sent with a
Content-Security-Policy that allows only this response's own inline style and script, forbids
framing (so an Approve button cannot be clickjacked) and posting forms elsewhere; templates
escape every stored value (titles, arguments, results come from APIs and agents).
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from executor.core import Executor
from executor.errors import ExecutorError, InvalidInputError
from executor.executions import RESUME_ACTIONS
from executor.forms import form_content, form_fields
from executor.models import Connection, IntegrationReview, IntegrationSettings, ToolReview
from executor.store import RunRecord

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
#: Characters of a stored value (arguments, a result) shown before it is cut.
VALUE_CHARS = 20_000
#: Lines of code shown around the call an execution waits on.
CODE_CONTEXT = 4
#: Paused executions the inbox lists (the newest first).
INBOX_LIMIT = 200
#: What the buttons say, per resume action.
ANSWERS = {"accept": "approved", "decline": "declined", "cancel": "cancelled the run"}
#: The same for an execution that asked for input.
INPUT_ANSWERS = {**ANSWERS, "accept": "answered", "decline": "declined to answer"}
#: What the home page says after a review button, per action.
REVIEWED = {
    "accept": "Accepted: the proposed definition is served now.",
    "reject": "Rejected: the reviewed definition keeps serving, and this change is not held again.",
}
#: What a new tool's review shows of its definition.
NEW_TOOL_FIELDS = ("summary", "description", "input_schema")


@dataclass(frozen=True)
class AgentConnection:
    """What an agent needs to connect: the MCP URL and the agent token's header."""

    mcp_url: str
    agent_token: str

    def header(self, token: str | None = None) -> str:
        return f"Authorization: Bearer {self.agent_token if token is None else token}"

    def add_mcp_command(self, token: str | None = None) -> str:
        """The ``npx add-mcp`` command that writes this server into an agent's config."""
        return (
            f"npx add-mcp {self.mcp_url} --transport http --name executor "
            f'--header "{self.header(token)}"'
        )

    def config(self, *, with_type: bool, token: str | None = None) -> str:
        """The ``mcpServers`` JSON: Claude Code's ``.mcp.json`` (``with_type``) or Cursor's
        ``mcp.json`` (the same without ``type``)."""
        server: dict[str, Any] = {"type": "http"} if with_type else {}
        server |= {
            "url": self.mcp_url,
            "headers": {"Authorization": self.header(token).split(": ", 1)[1]},
        }
        return json.dumps({"mcpServers": {"executor": server}}, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class Snippet:
    """One copyable text of the connect card, in full and with the token masked."""

    id: str
    title: str
    where: str
    full: str
    masked: str


def _snippets(connection: AgentConnection) -> list[Snippet]:
    mask = "•" * 8 + connection.agent_token[-4:]
    return [
        Snippet(
            "add-mcp",
            "Any agent: add-mcp",
            "Run in a terminal; it asks which agents to configure.",
            connection.add_mcp_command(),
            connection.add_mcp_command(mask),
        ),
        Snippet(
            "claude-code",
            "Claude Code",
            ".mcp.json in your project (or ~/.claude.json)",
            connection.config(with_type=True),
            connection.config(with_type=True, token=mask),
        ),
        Snippet(
            "cursor",
            "Cursor",
            ".cursor/mcp.json in your project (or ~/.cursor/mcp.json)",
            connection.config(with_type=False),
            connection.config(with_type=False, token=mask),
        ),
    ]


def _pretty(value: Any) -> str:
    return _cut(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _readable(value: Any) -> str:
    """Text as it is, anything else as JSON (a definition's description or schema)."""
    return _cut(value) if isinstance(value, str) else _pretty(value)


def _cut(text: str) -> str:
    if len(text) > VALUE_CHARS:
        text = text[:VALUE_CHARS] + f"\n… ({len(text) - VALUE_CHARS} more characters)"
    return text


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _review_view(review: ToolReview | IntegrationReview) -> dict[str, Any]:
    """What the home page shows of a held change: each changed field before and after (a new
    tool's summary, description and parameters, with nothing before)."""
    if isinstance(review, IntegrationReview):
        fields = [
            (name, _setting(review.reviewed, name), _setting(review.proposed, name))
            for name in review.changed_fields
        ]
    elif review.reviewed is None:
        fields = [(name, None, getattr(review.proposed, name)) for name in NEW_TOOL_FIELDS]
    else:
        fields = [
            (name, getattr(review.reviewed, name), getattr(review.proposed, name))
            for name in review.changed_fields
        ]
    return {
        "integration": review.integration,
        "name": review.name,
        "change": review.change,
        "changed_fields": review.changed_fields,
        "held_at": review.held_at,
        "fields": fields,
    }


def _setting(settings: IntegrationSettings, name: str) -> Any:
    """One setting a review names: ``auth_methods`` or ``config.<key>``."""
    if name == "auth_methods":
        return [asdict(method) for method in settings.auth_methods]
    return settings.config.get(name.removeprefix("config."))


async def _posted_form(request: Request) -> dict[str, list[str]]:
    """The fields of a posted form (``application/x-www-form-urlencoded``)."""
    return parse_qs((await request.body()).decode("utf-8", "replace"))


def _first(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def _excerpt(code: str | None, line: Any) -> list[tuple[int, str, bool]]:
    """The lines around the paused call as (number, text, is_the_call); the start of the code
    when the line is unknown."""
    lines = (code or "").splitlines()
    at = line if isinstance(line, int) and 1 <= line <= len(lines) else None
    first = max(1, at - CODE_CONTEXT) if at else 1
    last = min(len(lines), at + CODE_CONTEXT) if at else min(len(lines), 2 * CODE_CONTEXT + 1)
    return [(number, lines[number - 1], number == at) for number in range(first, last + 1)]


class WebUI:
    """The pages, over the Executor that ``executor()`` returns at each request."""

    def __init__(
        self,
        executor: Callable[[], Executor],
        *,
        url: str,
        agent_token: str,
        token_file: Path,
    ) -> None:
        self._executor = executor
        self._url = url
        self._connection = AgentConnection(f"{url}/mcp", agent_token)
        self._token_file = token_file
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.filters["pretty"] = _pretty
        self._templates.filters["readable"] = _readable
        self._templates.filters["when"] = _when

    @property
    def routes(self) -> list[Route]:
        """The page routes, to put in the app beside ``/api`` and ``/mcp``."""
        return [
            Route("/", self._page(self._home), methods=["GET"]),
            Route("/approvals", self._page(self._inbox), methods=["GET"]),
            Route("/approvals/{execution_id}", self._page(self._execution), methods=["GET"]),
            Route("/approvals/{execution_id}", self._page(self._answer), methods=["POST"]),
            Route("/reviews/{integration}", self._page(self._review), methods=["POST"]),
        ]

    def refusal(self, status: int, code: str, message: str) -> Response:
        """The HTML answer to a page request the security middleware refused; a 401 says how
        to get the sign-in link."""
        return self._render(
            "refusal.html",
            status=status,
            code=code,
            message=message,
            sign_in=status == 401,
            url=self._url,
            token_file=str(self._token_file),
            signed_in=False,
        )

    # -- rendering --------------------------------------------------------------------------

    def _render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        context.setdefault("signed_in", True)
        html = self._templates.get_template(template).render(nonce=nonce, status=status, **context)
        return HTMLResponse(
            html,
            status_code=status,
            headers={
                "Content-Security-Policy": (
                    f"default-src 'none'; style-src 'nonce-{nonce}'; "
                    f"script-src 'nonce-{nonce}'; img-src data:; form-action 'self'; "
                    "frame-ancestors 'none'; base-uri 'none'"
                ),
                "X-Frame-Options": "DENY",
                "X-Content-Type-Options": "nosniff",
                # Not no-referrer: with it a browser sends "Origin: null" on a form post,
                # and posts must show this server's Origin.
                "Referrer-Policy": "same-origin",
                # The home page holds the agent token: keep pages out of every cache.
                "Cache-Control": "no-store",
            },
        )

    def _page(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        """One place that turns a failure into an HTML page: an ExecutorError with its code's
        status, anything else an opaque incident (the traceback goes to the log only)."""

        async def page(request: Request) -> Response:
            try:
                return cast(Response, await handler(request))
            except ExecutorError as exc:
                return self._error(exc)
            except Exception:
                incident = uuid.uuid4().hex[:12]
                logger.exception("web page %s failed (incident %s)", request.url.path, incident)
                return self._render(
                    "refusal.html",
                    status=500,
                    code="internal_error",
                    message=f"Executor failed unexpectedly (incident {incident}); "
                    "see the server log.",
                    sign_in=False,
                )

        page.__name__ = handler.__name__.lstrip("_")
        return page

    def _error(self, exc: ExecutorError) -> HTMLResponse:
        return self._render(
            "refusal.html",
            status=exc.kind.http_status,
            code=exc.code,
            message=exc.message,
            hint=exc.hint,
            sign_in=False,
        )

    # -- pages ------------------------------------------------------------------------------

    async def _home(self, request: Request) -> Response:
        ex = self._executor()
        connections: dict[str, list[Connection]] = {}
        for connection in await ex.connections.list():
            connections.setdefault(connection.integration, []).append(connection)
        integrations = await ex.sources.list()
        paused = await ex.runs.list(status="paused", limit=INBOX_LIMIT)
        return self._render(
            "home.html",
            snippets=_snippets(self._connection),
            mcp_url=self._connection.mcp_url,
            integrations=integrations,
            connections=connections,
            reviews=[_review_view(review) for review in await ex.sources.pending_reviews()],
            reviewed=REVIEWED.get(request.query_params.get("reviewed") or ""),
            pending=len(paused),
        )

    async def _review(self, request: Request) -> Response:
        form = await _posted_form(request)
        action, tool = _first(form, "action"), _first(form, "tool")
        if action not in REVIEWED or not tool:
            raise InvalidInputError(
                "A review needs a tool and an action.", hint="Use the Accept or Reject button."
            )
        await self._executor().sources.review(
            request.path_params["integration"],
            [tool],
            action="accept" if action == "accept" else "reject",
        )
        # Post/redirect/get, as for approvals: reloading the page decides nothing again.
        return RedirectResponse(f"/?reviewed={action}", status_code=303)

    async def _inbox(self, request: Request) -> Response:
        paused = await self._executor().runs.list(status="paused", limit=INBOX_LIMIT)
        return self._render(
            "approvals.html",
            executions=[self._view(run) for run in paused],
            pending=len(paused),
        )

    async def _execution(self, request: Request) -> Response:
        run = await self._executor().runs.get(request.path_params["execution_id"])
        answered = request.query_params.get("answered") or ""
        words = INPUT_ANSWERS if request.query_params.get("asked") == "input" else ANSWERS
        return self._render(
            "execution.html",
            run=self._view(run),
            answered=words.get(answered),
            problem=None,
        )

    async def _answer(self, request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        form = await _posted_form(request)
        action = _first(form, "action")
        if action not in RESUME_ACTIONS:
            raise InvalidInputError(
                f"Unknown answer {action[:20]!r}.", hint="Use the Approve or Decline button."
            )
        ex = self._executor()
        asked = ""
        try:
            pending = (await ex.runs.get(execution_id)).pending or {}
            asked = str(pending.get("asks") or "")
            content = None
            if action == "accept" and asked == "input":
                content = form_content(form_fields(pending.get("schema") or {}), form)
            await ex.resume(execution_id, action, content)
        except ExecutorError as exc:
            # Already answered, expired, or its continuation could not start: say so beside
            # the execution as it stands now.
            try:
                run = await ex.runs.get(execution_id)
            except ExecutorError:
                raise exc from None
            return self._render(
                "execution.html",
                status=exc.kind.http_status,
                run=self._view(run),
                answered=None,
                problem=exc,
            )
        # Post/redirect/get: reloading the outcome never answers twice. Relative, so the
        # browser stays on the host name its cookie belongs to (127.0.0.1 or localhost).
        suffix = "&asked=input" if asked == "input" else ""
        return RedirectResponse(
            f"/approvals/{quote(execution_id, safe='')}?answered={action}{suffix}",
            status_code=303,
        )

    @staticmethod
    def _view(run: RunRecord) -> dict[str, Any]:
        """What the templates show of a run."""
        pending = run.pending or {}
        return {
            "id": run.id,
            "kind": run.kind,
            "status": run.status,
            "caller": run.caller,
            "created_at": run.created_at,
            "expires_at": run.expires_at,
            "is_paused": run.status == "paused",
            "pending": pending
            and {
                "address": str(pending.get("address", "")),
                "summary": str(pending.get("summary") or ""),
                "reason": str(pending.get("reason") or ""),
                "arguments": pending.get("arguments") or {},
                "line": pending.get("line"),
                "asks": str(pending.get("asks") or "approval"),
                "message": str(pending.get("message") or ""),
                "fields": form_fields(pending.get("schema") or {}),
            },
            "excerpt": _excerpt(run.code, pending.get("line")),
            "result": run.result,
            "error": run.error,
            "logs": run.logs,
            "calls": run.calls,
        }
