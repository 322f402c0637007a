"""Fixtures for the Discovery plugin tests: the wheel's documents and the local Gmail API."""

from __future__ import annotations

import importlib.resources
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from executor.models import ToolDefinition
from executor.sources.base import FetchPolicy, SourceBundle, SourceConfig
from executor.sources.discovery import DiscoveryPlugin
from tests.servers import serve
from tests.servers.google_api import GmailApi

DOCUMENTS = (
    Path(str(importlib.resources.files("googleapiclient"))) / "discovery_cache" / "documents"
)


def document(**overrides: Any) -> str:
    """A minimal valid document with one resource, updated with ``overrides``."""
    base: dict[str, Any] = {
        "discoveryVersion": "v1",
        "kind": "discovery#restDescription",
        "name": "notes",
        "version": "v1",
        "id": "notes:v1",
        "rootUrl": "https://notes.example.com/",
        "servicePath": "notes/v1/",
        "schemas": {},
        "resources": {
            "notes": {
                "methods": {
                    "get": {
                        "id": "notes.notes.get",
                        "httpMethod": "GET",
                        "path": "notes/{noteId}",
                        "parameters": {
                            "noteId": {"type": "string", "location": "path", "required": True}
                        },
                    }
                }
            }
        },
    }
    base.update(overrides)
    return orjson.dumps(base).decode()


async def load(name: str, **options: str) -> SourceBundle:
    """Import the wheel's Discovery document ``name`` (``gmail.v1``)."""
    config = SourceConfig(path=str(DOCUMENTS / f"{name}.json"), **options)  # type: ignore[arg-type]
    return await DiscoveryPlugin().load(config, fetch_policy=FetchPolicy())


async def load_text(text: str) -> SourceBundle:
    """Import a Discovery document given as text."""
    return await DiscoveryPlugin().load(SourceConfig(text=text), fetch_policy=FetchPolicy())


def by_name(bundle: SourceBundle) -> dict[str, ToolDefinition]:
    return {tool.name: tool for tool in bundle.tools}


@pytest.fixture
def gmail_api() -> Iterator[tuple[GmailApi, str]]:
    """The Gmail-like API on loopback: its state and its root URL."""
    api = GmailApi()
    with serve(api.app) as url:
        yield api, url


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient() as client:
        yield client
