"""A tiny notes API with its OpenAPI document, served from a thread with the standard library.

The examples use it so that they run anywhere without network access. It expects the bearer
token ``demo-token`` on every request except the spec itself.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

TOKEN = "demo-token"

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Notes", "version": "1.0.0", "description": "A tiny notes API."},
    "servers": [{"url": "/api"}],
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    "security": [{"token": []}],
    "paths": {
        "/notes": {
            "get": {
                "operationId": "listNotes",
                "tags": ["notes"],
                "summary": "List notes, optionally those containing a word",
                "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "notes"}},
            },
            "post": {
                "operationId": "createNote",
                "tags": ["notes"],
                "summary": "Write a new note",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["text"],
                                "properties": {"text": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {"201": {"description": "created"}},
            },
        },
        "/notes/{id}": {
            "delete": {
                "operationId": "deleteNote",
                "tags": ["notes"],
                "summary": "Delete a note for good",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {"204": {"description": "deleted"}},
            }
        },
    },
}


class _Handler(BaseHTTPRequestHandler):
    notes: ClassVar[list[dict[str, Any]]] = [
        {"id": 1, "text": "Buy milk"},
        {"id": 2, "text": "Call the plumber about the sink"},
    ]

    def log_message(self, format: str, *args: Any) -> None:  # keep the example's output clean
        pass

    def _send(self, status: int, body: Any = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self._send(401, {"message": "missing or wrong token"})
        return False

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/openapi.json":
            return self._send(200, SPEC)
        if url.path == "/api/notes" and self._authorised():
            word = parse_qs(url.query).get("q", [""])[0].lower()
            return self._send(200, [n for n in self.notes if word in n["text"].lower()])
        return None

    def do_POST(self) -> None:
        if self.path == "/api/notes" and self._authorised():
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            note = {"id": max((n["id"] for n in self.notes), default=0) + 1, "text": body["text"]}
            self.notes.append(note)
            self._send(201, note)

    def do_DELETE(self) -> None:
        if self.path.startswith("/api/notes/") and self._authorised():
            note_id = int(self.path.rsplit("/", 1)[1])
            self.notes[:] = [n for n in self.notes if n["id"] != note_id]
            self._send(204)


@contextlib.contextmanager
def serve_demo_api() -> Iterator[str]:
    """Serve the notes API on a free loopback port; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
