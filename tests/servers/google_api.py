"""A small, real Gmail-like API speaking the same paths as Google's, for Discovery call tests.

It serves ``gmail/v1/users/{userId}/messages`` (list, get, send, delete), the simple and
multipart upload path ``/upload/gmail/v1/users/{userId}/messages/send``, a profile route that
fails while echoing the bearer token it received (as careless APIs do, so tests can prove the
token never reaches a result), ``/v1/{name}`` which echoes what it received (for ``{+name}``
paths), and the installed Gmail Discovery document at Google's discovery URL.
"""

from __future__ import annotations

import base64
import email
import email.policy
import importlib.resources
import itertools
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def discovery_document(name: str) -> bytes:
    """The Discovery document ``name`` (``gmail.v1``) shipped in google-api-python-client."""
    documents = importlib.resources.files("googleapiclient") / "discovery_cache" / "documents"
    return (documents / f"{name}.json").read_bytes()


def _google_error(status: int, message: str, reason: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": status, "message": message, "status": reason}}, status_code=status
    )


class GmailApi:
    """The mailbox state: messages by id, the bearer token it accepts, the uploads it saw."""

    def __init__(self, token: str = "ya29.gmail-test-token-0123456789") -> None:
        self.token = token
        self.messages: dict[str, dict[str, Any]] = {}
        self.uploads: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/discovery/v1/apis/gmail/v1/rest", self._discovery),
                Route("/gmail/v1/users/{user}/messages", self._list),
                Route("/gmail/v1/users/{user}/messages/send", self._send, methods=["POST"]),
                Route(
                    "/upload/gmail/v1/users/{user}/messages/send", self._upload, methods=["POST"]
                ),
                Route(
                    "/gmail/v1/users/{user}/messages/{id}", self._message, methods=["GET", "DELETE"]
                ),
                Route("/gmail/v1/users/{user}/profile", self._profile),
                Route("/v1/{name:path}", self._echo, methods=["GET", "POST", "PATCH", "DELETE"]),
            ]
        )

    def add_message(self, raw: str, *, labels: list[str] | None = None) -> dict[str, Any]:
        """Store an RFC 822 message; returns it in the API's shape."""
        message_id = f"m{next(self._ids)}"
        message = {
            "id": message_id,
            "threadId": f"t-{message_id}",
            "labelIds": labels or ["INBOX"],
            "snippet": _snippet(raw),
            "raw": base64.urlsafe_b64encode(raw.encode()).decode().rstrip("="),
        }
        self.messages[message_id] = message
        return message

    def _denied(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _google_error(
                401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"
            )
        if request.path_params.get("user") not in ("me", "alice@example.com"):
            return _google_error(403, "Delegation denied.", "PERMISSION_DENIED")
        return None

    async def _discovery(self, request: Request) -> Response:
        return Response(discovery_document("gmail.v1"), media_type="application/json")

    async def _list(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        wanted = request.query_params.getlist("labelIds")
        found = [
            {"id": message["id"], "threadId": message["threadId"]}
            for message in self.messages.values()
            if all(label in message["labelIds"] for label in wanted)
            and request.query_params.get("q", "") in message["snippet"]
        ]
        limit = int(request.query_params.get("maxResults", 100))
        return JSONResponse({"messages": found[:limit], "resultSizeEstimate": len(found)})

    async def _message(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        message_id = request.path_params["id"]
        if message_id not in self.messages:
            return _google_error(404, "Requested entity was not found.", "NOT_FOUND")
        if request.method == "DELETE":
            del self.messages[message_id]
            return Response(status_code=204)
        return JSONResponse(self.messages[message_id])

    async def _send(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        body = await request.json()
        raw = base64.urlsafe_b64decode(body["raw"] + "=" * (-len(body["raw"]) % 4)).decode()
        return JSONResponse(self.add_message(raw, labels=["SENT"]))

    async def _upload(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        upload_type = request.query_params.get("uploadType")
        content_type = request.headers.get("content-type", "")
        data = await request.body()
        seen: dict[str, Any] = {"upload_type": upload_type, "content_type": content_type}
        if upload_type == "media":
            raw = data
        elif upload_type == "multipart" and content_type.startswith("multipart/related"):
            (_, metadata), (media_type, raw) = _related_parts(content_type, data)
            seen["metadata"] = metadata.decode()
            seen["media_type"] = media_type
        else:
            return _google_error(400, f"Bad uploadType {upload_type!r}.", "INVALID_ARGUMENT")
        self.uploads.append(seen)
        labels = ["SENT"]
        if "labelIds" in seen.get("metadata", ""):
            labels.append("UPLOADED_WITH_METADATA")
        return JSONResponse(self.add_message(raw.decode(), labels=labels))

    async def _profile(self, request: Request) -> Response:
        received = request.headers.get("authorization", "")
        return _google_error(403, f"Token {received} lacks a needed scope.", "PERMISSION_DENIED")

    async def _echo(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _google_error(401, "Unauthenticated.", "UNAUTHENTICATED")
        return JSONResponse(
            {
                "method": request.method,
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.url.query,
                "body": (await request.body()).decode(),
            }
        )


def _related_parts(content_type: str, data: bytes) -> list[tuple[str, bytes]]:
    """The (content type, content) of each part of a ``multipart/related`` body."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    parts = []
    for chunk in data.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.HTTP)
        parts.append((headers.get_content_type(), content.removesuffix(b"\r\n")))
    return parts


def _snippet(raw: str) -> str:
    message = email.message_from_string(raw, policy=email.policy.default)
    subject = str(message.get("Subject", ""))
    text = "" if message.is_multipart() else message.get_content()
    return " ".join(f"{subject} {text}".split())[:100]
