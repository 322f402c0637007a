"""Fixtures for store tests: an open store on each database, with the local workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from executor.store import Store
from tests.conftest import Database


@dataclass(frozen=True)
class Opened:
    store: Store
    workspace_id: str
    user_id: str


@pytest.fixture
async def opened(database: Database) -> AsyncIterator[Opened]:
    store = await Store.open(database.url, schema=database.schema)
    try:
        workspace_id, user_id = await store.ensure_local_workspace()
        yield Opened(store, workspace_id, user_id)
    finally:
        await store.close()
