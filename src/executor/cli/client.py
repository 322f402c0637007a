"""The CLI's HTTP client for the local daemon's ``/api``.

Standard library ``http.client`` rather than httpx2: the daemon is on loopback, one keep-alive
connection is all a command needs, and importing httpx2 alone costs ~80 ms of the CLI's start
(measured by ``bench/cli_startup.py``).
"""

from __future__ import annotations

import http.client
import json
import stat
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from executor.cli.errors import EXIT_DAEMON, EXIT_FAILED, CliError

TOKEN_FILE = "token"
AGENT_TOKEN_FILE = "agent-token"
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

    def _send(self, method: str, target: str, body: bytes | None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        # A fresh connection per request: on a reused keep-alive connection the answer waited
        # ~40 ms on delayed ACKs (measured), while a loopback connect costs ~0.1 ms.
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self._timeout)
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
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
        target = "/api" + path
        params = {key: value for key, value in (query or {}).items() if value is not None}
        if params:
            target += "?" + urlencode(params)
        payload = None if body is None else json.dumps(body).encode()
        status, raw = self._send(method, target, payload)
        if status == 204 or not raw:
            return None
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
