"""The CLI's HTTP client for the local daemon's ``/api``.

Standard library ``http.client`` rather than httpx2: the daemon is on loopback, one keep-alive
connection is all a command needs, and importing httpx2 alone costs ~80 ms of the CLI's start
(measured by ``bench/cli_startup.py``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from executor.cli.errors import EXIT_DAEMON, EXIT_FAILED, CliError

TOKEN_FILE = "token"
AGENT_TOKEN_FILE = "agent-token"
#: What a route that reports progress streams: one JSON object per line.
NDJSON = "application/x-ndjson"
#: Seconds a request may take: imports of big specs and calls waiting on slow APIs included.
REQUEST_TIMEOUT = 600.0


def read_token(data_dir: Path, name: str = TOKEN_FILE) -> str:
    """The bearer token the daemon minted into the data dir (refused when others can read it)."""
    path = data_dir / name
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CliError(
            f"There is no token file at {path}.",
            hint="It is created when the daemon starts: run `executor daemon run`.",
            exit_code=EXIT_DAEMON,
        ) from None
    if stat.S_IMODE(mode) & 0o077:
        raise CliError(
            f"The token file {path} is readable by other users.",
            hint=f"Run: chmod 600 {path}",
            code="invalid_input",
            exit_code=EXIT_FAILED,
        )
    token = path.read_text().strip()
    if not token:
        raise CliError(
            f"The token file {path} is empty.",
            hint="Delete it and restart the daemon: executor daemon restart",
        )
    return token


def quote_segment(value: str) -> str:
    """One path segment of a route (``/api/tools/{address}``), fully escaped."""
    return quote(value, safe="")


class ApiClient:
    """JSON requests to one daemon with its bearer token."""

    def __init__(self, host: str, port: int, token: str, *, timeout: float = REQUEST_TIMEOUT):
        self.host = host
        self.port = port
        self._token = token
        self._timeout = timeout

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @contextlib.contextmanager
    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        query: dict[str, Any] | None,
        accept: str = "application/json",
    ) -> Iterator[http.client.HTTPResponse]:
        target = "/api" + path
        params = {key: value for key, value in (query or {}).items() if value is not None}
        if params:
            target += "?" + urlencode(params)
        headers = {"Authorization": f"Bearer {self._token}", "Accept": accept}
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None:
            headers["Content-Type"] = "application/json"
        # A fresh connection per request: on a reused keep-alive connection the answer waited
        # ~40 ms on delayed ACKs (measured), while a loopback connect costs ~0.1 ms.
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self._timeout)
        try:
            connection.request(method, target, body=payload, headers=headers)
            yield connection.getresponse()
        finally:
            connection.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        """Send ``method /api<path>`` and return the decoded JSON answer (None for 204).

        An error answer raises :class:`CliError` with the API's code and message; a daemon
        that cannot be reached raises ``ConnectionError`` (the caller may start one).
        """
        with self._send(method, path, body, query) as response:
            status, raw = response.status, response.read()
        if status == 204 or not raw:
            return None
        return _answer(method, path, status, raw)

    def stream(
        self, method: str, path: str, *, body: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Send a request to a route that streams its progress; yield each progress event
        (``{"event": "progress", "stage", "done", "total"}``) as it arrives, then the answer.

        A failure, streamed or not, raises :class:`CliError` as :meth:`request` does. A
        daemon that does not stream answers at once: its answer is the only item.
        """
        with self._send(method, path, body, None, accept=NDJSON) as response:
            if response.status >= 400 or NDJSON not in (response.getheader("content-type") or ""):
                yield _answer(method, path, response.status, response.read())
                return
            while line := response.readline():
                if not line.strip():
                    continue
                item = _answer(method, path, response.status, line)
                if isinstance(item, dict) and isinstance(item.get("error"), dict):
                    raise CliError.from_error(item["error"])  # the stream's last line: a failure
                yield item


def _answer(method: str, path: str, status: int, raw: bytes) -> Any:
    """The decoded JSON of an answer; an error status raises :class:`CliError` with the API's
    code and message."""
    try:
        answer = json.loads(raw)
    except ValueError:
        raise CliError(
            f"The daemon answered {method} {path} with HTTP {status} and no JSON.",
            hint="Check it is Executor's daemon: executor daemon status",
        ) from None
    if status >= 400:
        error = answer.get("error") if isinstance(answer, dict) else None
        raise CliError.from_error(error if isinstance(error, dict) else {"message": raw})
    return answer
