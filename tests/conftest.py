"""Fixtures shared by the whole suite: the async backend and the two databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from executor import Executor
from tests.servers import serve
from tests.servers.petstore import PetStore

POSTGRES_URL = os.environ.get(
    "EXECUTOR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Database:
    """Where a test's store lives: an SQLAlchemy URL, plus a private schema on PostgreSQL."""

    kind: str
    url: str
    schema: str | None

    def options(self, data_dir: Path) -> dict[str, Any]:
        """``Executor.open`` keywords for this database and ``data_dir``."""
        return {"data_dir": data_dir, "database_url": self.url, "database_schema": self.schema}


async def _drop_schema(schema: str) -> None:
    import asyncpg

    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, empty database: an SQLite file, or a private schema in PostgreSQL's `test`."""
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'executor.db'}", None)
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        yield Database("postgres", POSTGRES_URL, schema)
    finally:
        await _drop_schema(schema)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty data dir, exported as EXECUTOR_DATA_DIR, with no stray settings inherited."""
    path = tmp_path / "data"
    monkeypatch.setenv("EXECUTOR_DATA_DIR", str(path))
    for name in ("EXECUTOR_DATABASE_URL", "EXECUTOR_SECRET_KEY", "EXECUTOR_SOURCES"):
        monkeypatch.delenv(name, raising=False)
    yield path


@pytest.fixture
def petstore() -> Iterator[tuple[PetStore, str]]:
    """The pet store API on loopback: its state and its base URL."""
    store = PetStore()
    with serve(store.app) as url:
        yield store, url


@pytest.fixture
async def ex(database: Database, data_dir: Path) -> AsyncIterator[Executor]:
    """An open Executor on a fresh database (run once per database)."""
    async with Executor.open(**database.options(data_dir)) as opened:
        yield opened


async def database_dump(ex: Executor, database: Database) -> str:
    """Every value in every table, as text, plus the raw SQLite files."""
    from sqlalchemy import MetaData

    engine = ex.store.engine
    metadata = MetaData(schema=database.schema)
    async with engine.connect() as conn:
        await conn.run_sync(lambda sync: metadata.reflect(sync))
        rows = []
        for table in metadata.sorted_tables:
            rows.extend(repr(row) for row in (await conn.execute(table.select())).all())
    dump = "\n".join(rows)
    if database.kind == "sqlite":
        path = Path(database.url.split("///", 1)[1])
        for file in path.parent.glob(path.name + "*"):
            dump += file.read_bytes().decode("latin-1")
    return dump
