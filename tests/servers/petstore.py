"""A small, real pet store API with its OpenAPI 3.0 document, for end-to-end tests.

It checks an API key in the ``X-API-Key`` header, keeps pets in memory, and has one route that
echoes the key it received back inside an error body (like careless real APIs do), so tests can
prove the key never reaches a result.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_KEY_HEADER = "X-API-Key"

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Pet Store", "version": "1.0.0", "description": "Pets for tests."},
    "servers": [{"url": "/v1"}],
    "components": {
        "securitySchemes": {"api_key": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}},
        "schemas": {
            "NewPet": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "tag": {"type": "string", "nullable": True},
                },
            },
            "Pet": {
                "allOf": [
                    {"$ref": "#/components/schemas/NewPet"},
                    {"type": "object", "properties": {"id": {"type": "integer"}}},
                ]
            },
        },
    },
    "security": [{"api_key": []}],
    "paths": {
        "/pets": {
            "get": {
                "operationId": "listPets",
                "tags": ["pets"],
                "summary": "List all pets",
                "description": "Returns the pets in the store, newest last.",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    {"name": "tag", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "pets",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Pet"},
                                }
                            }
                        },
                    }
                },
            },
            "post": {
                "operationId": "createPet",
                "tags": ["pets"],
                "summary": "Add a pet to the store",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}
                    },
                },
                "responses": {"201": {"description": "created"}},
            },
        },
        "/pets/{petId}": {
            "parameters": [
                {"name": "petId", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "get": {
                "operationId": "getPet",
                "tags": ["pets"],
                "summary": "Get one pet by its id",
                "responses": {"200": {"description": "a pet"}, "404": {"description": "none"}},
            },
            "delete": {
                "operationId": "deletePet",
                "tags": ["pets"],
                "summary": "Delete a pet",
                "responses": {"204": {"description": "deleted"}},
            },
        },
        "/diagnostics": {
            "get": {
                "operationId": "diagnose",
                "tags": ["admin"],
                "summary": "Report what the server received (fails, echoing the key)",
                "responses": {"400": {"description": "always"}},
            }
        },
    },
}


class PetStore:
    """The store's state: its spec (tests may edit it), its pets and its expected key."""

    def __init__(self, api_key: str = "pet-secret-key-0123456789") -> None:
        self.api_key = api_key
        self.spec = copy.deepcopy(SPEC)
        self.pets: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/openapi.json", self._openapi),
                Route("/v1/pets", self._pets, methods=["GET", "POST"]),
                Route("/v1/pets/{pet_id:int}", self._pet, methods=["GET", "DELETE"]),
                Route("/v1/diagnostics", self._diagnostics),
            ]
        )

    async def _openapi(self, request: Request) -> Response:
        return JSONResponse(self.spec)

    def _denied(self, request: Request) -> Response | None:
        if request.headers.get(API_KEY_HEADER) != self.api_key:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return None

    async def _pets(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        if request.method == "POST":
            body = await request.json()
            pet = {"id": next(self._ids), "name": body["name"], "tag": body.get("tag")}
            self.pets[pet["id"]] = pet
            return JSONResponse(pet, status_code=201)
        pets = list(self.pets.values())
        if "tag" in request.query_params:
            pets = [pet for pet in pets if pet["tag"] == request.query_params["tag"]]
        limit = int(request.query_params.get("limit", 100))
        return JSONResponse(pets[:limit], headers={"X-Total-Count": str(len(pets))})

    async def _pet(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        pet_id = request.path_params["pet_id"]
        if pet_id not in self.pets:
            return JSONResponse({"message": f"no pet {pet_id}"}, status_code=404)
        if request.method == "DELETE":
            del self.pets[pet_id]
            return Response(status_code=204)
        return JSONResponse(self.pets[pet_id])

    async def _diagnostics(self, request: Request) -> Response:
        received = request.headers.get(API_KEY_HEADER, "")
        return JSONResponse(
            {"message": f"debug: you sent key {received}", "headers": dict(request.headers)},
            status_code=400,
        )
