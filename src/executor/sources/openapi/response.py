"""From an HTTP response (or a failure to get one) to the result envelope.

- 2xx and 3xx are data: JSON parsed when the content type says JSON (or, with no content type,
  when the body parses), text for textual types, ``None`` for an empty body, and
  ``{"content_type", "size", "base64", "truncated"}`` for anything binary. Redirects are never
  followed (credentials must not travel to another host); the ``location`` header says where.
- 401, and 403 with a ``WWW-Authenticate`` challenge, are :class:`AuthRequiredError`; other 4xx
  and 5xx are :class:`UpstreamError` with the status, a body excerpt and the parsed JSON error.
- httpx2 exceptions are translated in one place, :func:`map_http_errors`.

Nothing here repeats a credential: error bodies are scrubbed of the values the connection sent
(an API that echoes the ``Authorization`` header back cannot leak it through us), and URLs are
only ever mentioned without their query string.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson

from executor.errors import (
    AuthRequiredError,
    ExecutorError,
    InvalidInputError,
    ToolTimeoutError,
    UpstreamError,
)
from executor.results import ToolResult, ok, safe_headers
from executor.sources.base import AppliedAuth
from executor.sources.openapi.serialize import is_json_media_type, media_type

#: Largest JSON or text body returned as data; beyond it the call fails (ask for less).
MAX_TEXT_BYTES = 8 * 1024 * 1024
#: Largest binary body returned (base64) in a result; the rest is cut and ``truncated`` is set.
MAX_BINARY_BYTES = 1024 * 1024
#: How much of an error body is read, and how much of it goes into ``details["body"]``.
MAX_ERROR_BYTES = 64 * 1024
EXCERPT_CHARS = 2_000

_RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_TEXT_TYPES = frozenset(
    {
        "application/xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-www-form-urlencoded",
        "application/yaml",
        "application/x-yaml",
        "application/x-ndjson",
        "application/graphql",
        "application/sql",
        "application/csv",
    }
)
_REDACTED = "[REDACTED]"
#: Shorter values are not scrubbed: they would mangle ordinary text and are not real secrets.
_MIN_SECRET_LENGTH = 4
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]*)[?#][^\s\"'<>]*", re.IGNORECASE)
_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


class RetryableUpstreamError(UpstreamError):
    """An upstream failure worth retrying (429, 502, 503, 504, unreachable host)."""

    # UpstreamError's kind says "not retryable"; these particular failures are.
    @property
    def retryable(self) -> bool:
        return True


@dataclass(frozen=True)
class Target:
    """What a call is aimed at, safe to mention in messages: method and URL without its query."""

    method: str
    url: str

    @classmethod
    def of(cls, method: str, url: str) -> Target:
        """A target from a full URL; the query, fragment and any user info are dropped."""
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        return cls(method.upper(), f"{parts.scheme}://{host}{parts.path}")

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[-1].split("/", 1)[0]

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


class Redactor:
    """Replaces the credential values a call sent with ``[REDACTED]`` in text and JSON."""

    def __init__(self, values: Iterable[str]) -> None:
        unique = {value for value in values if len(value) >= _MIN_SECRET_LENGTH}
        # Longest first, so "Bearer abc..." is replaced whole before "abc..." is.
        self._values = sorted(unique, key=len, reverse=True)

    @classmethod
    def for_auth(cls, auth: AppliedAuth) -> Redactor:
        """Every value ``auth`` puts on the wire, plus the token inside ``Bearer``/``Basic``."""
        values: list[str] = [*auth.headers.values(), *auth.query.values(), *auth.cookies.values()]
        for value in list(values):
            scheme, _, credential = value.partition(" ")
            if not credential:
                continue
            values.append(credential.strip())
            if scheme.lower() == "basic":
                values.extend(_basic_parts(credential.strip()))
        return cls(values)

    def text(self, text: str) -> str:
        """``text`` with every known secret value replaced."""
        for value in self._values:
            text = text.replace(value, _REDACTED)
        return text

    def json(self, value: Any) -> Any:
        """A JSON value with every string (keys too) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            return {self.text(str(key)): self.json(item) for key, item in value.items()}
        return value


def _basic_parts(credential: str) -> list[str]:
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return []
    _user, _, password = decoded.partition(":")
    return [decoded, password] if password else [decoded]


def strip_query(text: str) -> str:
    """``text`` with the query string and fragment removed from every URL in it."""
    return _URL_QUERY.sub(r"\1", text)


# -- exceptions -----------------------------------------------------------------------------------


@contextlib.contextmanager
def map_http_errors(target: Target, *, timeout: float, redactor: Redactor) -> Iterator[None]:
    """Translate httpx2 exceptions raised inside the block into Executor errors.

    Timeouts (httpx2's, and the call's own deadline) become :class:`ToolTimeoutError`; a host
    that cannot be reached becomes a retryable :class:`UpstreamError`; a connection that breaks
    mid-call is retryable only for idempotent methods; a URL httpx2 refuses is the
    connection's configuration problem.
    """
    try:
        yield
    except (httpx2.TimeoutException, TimeoutError) as exc:
        phase = "connect to" if isinstance(exc, httpx2.ConnectTimeout) else "get an answer from"
        raise ToolTimeoutError(
            f"Could not {phase} {target.host} within {timeout:g} s ({target}).",
            hint="Retry later, or raise the connection's timeout setting.",
        ) from exc
    except httpx2.ConnectError as exc:
        raise RetryableUpstreamError(
            f"Could not reach {target.host} for {target}: {_reason(exc, redactor)}.",
            hint="Check that the API is up and that the connection's base_url is right.",
        ) from exc
    except (httpx2.UnsupportedProtocol, httpx2.InvalidURL, httpx2.LocalProtocolError) as exc:
        raise InvalidInputError(
            f"Cannot send {target}: {_reason(exc, redactor)}.",
            hint="Check the connection's base_url (it must start with http:// or https://).",
        ) from exc
    except UnicodeEncodeError as exc:
        # The offending value may be a credential: name the problem, never the value.
        raise InvalidInputError(
            f"Cannot send {target}: a header holds characters HTTP headers cannot carry.",
            hint="Use plain ASCII in the connection's headers and credentials.",
        ) from exc
    except httpx2.HTTPError as exc:
        error_class = (
            RetryableUpstreamError if target.method in _IDEMPOTENT_METHODS else UpstreamError
        )
        raise error_class(
            f"The connection to {target.host} failed during {target}: {_reason(exc, redactor)}.",
            hint="Retry; if it keeps failing, check the API's status.",
        ) from exc


def _reason(exc: Exception, redactor: Redactor) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return redactor.text(strip_query(_SPACE.sub(" ", text)))


# -- bodies ---------------------------------------------------------------------------------------


def body_kind(content_type: str | None) -> str:
    """``"json"``, ``"text"``, ``"binary"`` or ``"unknown"`` (no content type at all)."""
    media = media_type(content_type)
    if not media:
        return "unknown"
    if is_json_media_type(media):
        return "json"
    if media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+xml", "+yaml")):
        return "text"
    return "binary"


def read_limit(status: int, content_type: str | None) -> int:
    """How many bytes of a response are worth reading (one more tells "there was more")."""
    if status >= 400:
        return MAX_ERROR_BYTES
    return MAX_BINARY_BYTES if body_kind(content_type) == "binary" else MAX_TEXT_BYTES


async def read_body(response: httpx2.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of a streamed response, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], False
    return b"".join(chunks), True


def _charset(content_type: str | None) -> str:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


def _decode_text(body: bytes, content_type: str | None) -> str:
    try:
        return body.decode(_charset(content_type), errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _parse_json(body: bytes) -> tuple[bool, Any]:
    try:
        return True, orjson.loads(body)
    except orjson.JSONDecodeError:
        return False, None


def decode_data(
    body: bytes, content_type: str | None, *, is_complete: bool, size: int | None
) -> Any:
    """The ``data`` of a successful result from a (possibly cut) body."""
    if not body:
        return None
    kind = body_kind(content_type)
    if kind == "json":
        parsed, value = _parse_json(body)
        # A body labelled JSON that is not JSON is still worth showing as text.
        return value if parsed else _decode_text(body, content_type)
    if kind == "text":
        return _decode_text(body, content_type)
    if kind == "unknown":
        parsed, value = _parse_json(body)
        if parsed:
            return value
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {
        "content_type": media_type(content_type) or "application/octet-stream",
        "size": size if size is not None else len(body),
        "base64": base64.b64encode(body).decode("ascii"),
        "truncated": not is_complete,
    }


# -- envelope -------------------------------------------------------------------------------------


def to_result(
    response: httpx2.Response,
    body: bytes,
    *,
    is_complete: bool,
    target: Target,
    redactor: Redactor,
) -> ToolResult:
    """The envelope for a response whose body (or its first part) has been read.

    Raises :class:`AuthRequiredError` or :class:`UpstreamError` for error statuses.
    """
    status = response.status_code
    content_type = response.headers.get("content-type")
    if status >= 400:
        raise _status_error(response, body, target=target, redactor=redactor)
    if not is_complete and body_kind(content_type) != "binary":
        raise UpstreamError(
            f"{target} answered with more than {MAX_TEXT_BYTES // (1024 * 1024)} MB of "
            f"{media_type(content_type) or 'data'}.",
            hint="Ask for less: use the operation's pagination or filter arguments.",
            status=status,
        )
    declared_size = response.headers.get("content-length")
    size = int(declared_size) if declared_size and declared_size.isdigit() else None
    data = decode_data(body, content_type, is_complete=is_complete, size=size)
    return ok(data, status=status, headers=response.headers)


def _status_error(
    response: httpx2.Response, body: bytes, *, target: Target, redactor: Redactor
) -> ExecutorError:
    status = response.status_code
    content_type = response.headers.get("content-type")
    details: dict[str, Any] = {}
    upstream_message = ""
    if body:
        kind = body_kind(content_type)
        text = _decode_text(body, content_type)
        parsed, value = (False, None) if kind in ("text", "binary") else _parse_json(body)
        if media_type(content_type) == "text/html":
            text = _html_to_text(text)
        if kind == "binary" and not parsed:
            text = f"<{len(body)} bytes of {media_type(content_type)}>"
        excerpt = redactor.text(text)
        details["body"] = excerpt[:EXCERPT_CHARS]
        if len(excerpt) > EXCERPT_CHARS or len(body) >= MAX_ERROR_BYTES:
            details["truncated"] = True
        elif parsed:
            value = redactor.json(value)
            details["json"] = value
            upstream_message = _error_message(value)
    headers = {
        name: redactor.text(value)
        for name, value in safe_headers(response.headers).items()
        if name not in ("content-type", "content-length")
    }
    if headers:
        details["headers"] = headers
    challenge = response.headers.get("www-authenticate")
    reason = response.reason_phrase or "error"
    message = f"{target} answered HTTP {status} {reason}"
    if upstream_message:
        message += f": {redactor.text(upstream_message)}"
    message = strip_query(message)
    if status == 401 or (status == 403 and challenge):
        if challenge:
            details["challenge"] = redactor.text(challenge)
        return AuthRequiredError(
            message + ".",
            hint="The connection's credentials were refused; reconnect it, then retry.",
            details=details,
            status=status,
        )
    error_class = RetryableUpstreamError if status in _RETRYABLE_STATUSES else UpstreamError
    return error_class(message + ".", hint=_hint_for(status), details=details, status=status)


def _hint_for(status: int) -> str:
    if status == 429:
        return "The API is rate limiting; wait (see details.headers.retry-after) and retry."
    if status == 403:
        return "The connection's credentials lack permission for this operation."
    if status == 404:
        return "Check the identifiers in the arguments."
    if status in (400, 409, 412, 422):
        return "Check the arguments against the tool's schema; details.body says what is wrong."
    if status >= 500:
        return "The API failed; retry later."
    return "See details.body for the API's explanation."


def _error_message(value: Any) -> str:
    """The human message an API put in a JSON error body, if it used a common field for it."""
    if not isinstance(value, Mapping):
        return ""
    for key in ("message", "error_description", "detail", "title", "error", "msg", "errors"):
        item = value.get(key)
        if isinstance(item, Mapping):
            item = _error_message(item)
        elif isinstance(item, list) and item:
            first = item[0]
            item = _error_message(first) if isinstance(first, Mapping) else first
        if isinstance(item, str) and item.strip():
            text = _SPACE.sub(" ", item).strip()
            return text if len(text) <= 200 else text[:199] + "…"
    return ""


def _html_to_text(text: str) -> str:
    text = _SCRIPT_OR_STYLE.sub(" ", text)
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()
