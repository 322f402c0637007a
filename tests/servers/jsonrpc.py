"""A small, real JSON-RPC 2.0 server with its OpenRPC document, for the example plugin's tests.

``GET /openrpc.json`` serves the document (its server URL is this server's ``/rpc``);
``POST /rpc`` answers JSON-RPC requests, ``rpc.discover`` included. Notes live in memory.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DOCUMENT: dict[str, Any] = {
    "openrpc": "1.2.6",
    "info": {"title": "Notes", "version": "1.0.0", "description": "Notes over JSON-RPC."},
    "servers": [{"name": "main", "url": "/rpc"}],
    "methods": [
        {
            "name": "notes.list",
            "summary": "List notes",
            "description": "Every note, oldest first, optionally only those with a tag.",
            "tags": [{"name": "notes"}],
            "params": [{"name": "tag", "schema": {"type": "string"}}],
            "result": {
                "name": "notes",
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Note"}},
            },
        },
        {
            "name": "notes.add",
            "summary": "Add a note",
            "params": [
                {"name": "text", "required": True, "schema": {"type": "string", "minLength": 1}},
                {"$ref": "#/components/contentDescriptors/Tag"},
            ],
            "result": {"name": "note", "schema": {"$ref": "#/components/schemas/Note"}},
        },
        {
            "name": "notes.remove",
            "summary": "Remove a note",
            "params": [{"name": "id", "required": True, "schema": {"type": "integer"}}],
            "result": {"name": "removed", "schema": {"type": "boolean"}},
            "errors": [{"code": 404, "message": "No such note"}],
        },
        {
            "name": "subtract",
            "summary": "Subtract two numbers",
            "paramStructure": "by-position",
            "params": [
                {"name": "minuend", "required": True, "schema": {"type": "number"}},
                {"name": "subtrahend", "required": True, "schema": {"type": "number"}},
            ],
            "result": {"name": "difference", "schema": {"type": "number"}},
        },
    ],
    "components": {
        "schemas": {
            "Note": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "text": {"type": "string"},
                    "tag": {"type": ["string", "null"]},
                },
            }
        },
        "contentDescriptors": {"Tag": {"name": "tag", "schema": {"type": "string"}}},
    },
}


class NotesServer:
    """The server's state: its notes, the document it serves, and the requests it saw."""

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []
        self.document = copy.deepcopy(DOCUMENT)
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        self.app = Starlette(
            routes=[
                Route("/openrpc.json", self._document, methods=["GET"]),
                Route("/rpc", self._rpc, methods=["POST"]),
            ]
        )

    async def _document(self, request: Request) -> Response:
        return JSONResponse(self.document)

    async def _rpc(self, request: Request) -> Response:
        self.authorizations.append(request.headers.get("authorization"))
        try:
            body = await request.json()
        except ValueError:
            return _error(None, -32700, "Parse error")
        self.requests.append(body)
        method, params, ident = body.get("method"), body.get("params"), body.get("id")
        if method == "rpc.discover":
            return _result(ident, self.document)
        if method == "notes.list":
            tag = (params or {}).get("tag")
            return _result(ident, [note for note in self.notes if tag in (None, note["tag"])])
        if method == "notes.add":
            if not isinstance(params, dict) or not params.get("text"):
                return _error(ident, -32602, "Invalid params", {"missing": "text"})
            note = {"id": len(self.notes) + 1, "text": params["text"], "tag": params.get("tag")}
            self.notes.append(note)
            return _result(ident, note)
        if method == "notes.remove":
            found = [note for note in self.notes if note["id"] == (params or {}).get("id")]
            if not found:
                return _error(ident, 404, "No such note", {"id": (params or {}).get("id")})
            self.notes.remove(found[0])
            return _result(ident, True)
        if method == "subtract":
            if not isinstance(params, list) or len(params) != 2:
                return _error(ident, -32602, "Invalid params")
            return _result(ident, params[0] - params[1])
        return _error(ident, -32601, "Method not found")


def _result(ident: Any, result: Any) -> Response:
    return JSONResponse({"jsonrpc": "2.0", "id": ident, "result": result})


def _error(ident: Any, code: int, message: str, data: Any = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return JSONResponse({"jsonrpc": "2.0", "id": ident, "error": error})
