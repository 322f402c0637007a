"""The ground every part of the store stands on: the engines, one transaction per method, and
one place where database failures become :mod:`executor.errors` exceptions,
:func:`translate_errors`.

:class:`StoreBase` runs no queries of its own; :class:`~executor.store.runs.RunStore` and
:class:`~executor.store.database.Store` build on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from executor.errors import ExecutorError, StorageError

_T = TypeVar("_T")


def _first_line(exc: BaseException) -> str:
    # Only the driver's own message: SQLAlchemy's str() would append the statement.
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_unique_violation(exc: sa_exc.IntegrityError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505" or getattr(orig, "pgcode", None) == "23505":
        return True
    text = str(orig)
    return "UNIQUE constraint failed" in text or "duplicate key value" in text


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite database {url.database or ':memory:'}"
    host = url.host or "localhost"
    return f"PostgreSQL at {host}:{url.port or 5432}/{url.database or ''}"


@contextlib.contextmanager
def translate_errors(url: URL, *, conflict: ExecutorError | None = None) -> Iterator[None]:
    """Turn database and driver failures into :mod:`executor.errors` exceptions.

    A unique-constraint violation becomes ``conflict`` when one is given (the caller knows
    which name was taken); anything else becomes a one-line :class:`StorageError` naming the
    database. Messages never carry statement parameters.
    """
    try:
        yield
    except ExecutorError:
        raise
    except sa_exc.IntegrityError as exc:
        if conflict is not None and _is_unique_violation(exc):
            raise conflict from exc
        raise StorageError(
            f"{_where(url)} refused a write: {_first_line(exc)}.",
            hint="This is a bug in Executor if it persists; please report it.",
        ) from exc
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise _unavailable(url, exc) from exc
    except sa_exc.DBAPIError as exc:
        raise StorageError(f"{_where(url)} failed: {_first_line(exc)}.") from exc
    except (OSError, TimeoutError) as exc:
        raise _unavailable(url, exc) from exc


def _unavailable(url: URL, exc: BaseException) -> StorageError:
    reason = _first_line(exc)
    if url.get_backend_name() == "sqlite":
        return StorageError(
            f"Cannot use the {_where(url)}: {reason}.",
            hint="Check that its folder is writable and no other program holds a lock on it.",
        )
    return StorageError(
        f"Cannot reach {_where(url)}: {reason}.",
        hint="Check that PostgreSQL is running there and that EXECUTOR_DATABASE_URL "
        "(host, port, user, password, database) is right.",
    )


class StoreBase:
    """The engines and transactions under :class:`~executor.store.Store`."""

    def __init__(
        self,
        engine: AsyncEngine,
        url: URL,
        schema: str | None,
        reader: sa.Engine | None = None,
    ) -> None:
        self._engine = engine
        self._url = url
        self._schema = schema
        # SQLite only: a synchronous engine for searches and the audit writer's batches, each
        # run whole in a worker thread. Each aiosqlite statement costs a thread round trip; a
        # search makes several, a batch five (BEGIN, inserts and updates, COMMIT, reset).
        self._reader = reader

    @property
    def engine(self) -> AsyncEngine:
        """The underlying engine, for diagnostics and tests; the core goes through methods."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    async def _run_read(self, function: Callable[[sa.Connection], _T]) -> _T:
        """Run a synchronous read: on SQLite whole in a worker thread (one hop instead of one
        per statement through aiosqlite), elsewhere on the async engine."""
        if self._reader is not None:
            return await anyio.to_thread.run_sync(self._read, function)
        async with self._transaction() as connection:
            return await connection.run_sync(function)

    def _read(self, function: Callable[[sa.Connection], _T]) -> _T:
        """Run ``function`` in one read transaction of the synchronous SQLite engine."""
        assert self._reader is not None
        with translate_errors(self._url), self._reader.begin() as connection:
            return function(connection)

    async def _run_write(
        self, function: Callable[[sa.Connection], _T], *, conflict: ExecutorError | None = None
    ) -> _T:
        """Run synchronous writes in one write transaction: on SQLite whole in a worker thread
        (one hop), elsewhere on the async engine. ``conflict`` as in :meth:`_transaction`."""
        if self._reader is not None:
            return await anyio.to_thread.run_sync(self._write, function, conflict)
        async with self._transaction(write=True, conflict=conflict) as connection:
            return await connection.run_sync(function)

    def _write(self, function: Callable[[sa.Connection], _T], conflict: ExecutorError | None) -> _T:
        assert self._reader is not None
        # BEGIN IMMEDIATE, as in _transaction: the busy timeout applies to the write lock.
        with (
            translate_errors(self._url, conflict=conflict),
            self._reader.connect() as connection,
            connection.execution_options(sqlite_begin="IMMEDIATE").begin(),
        ):
            return function(connection)

    @contextlib.asynccontextmanager
    async def _transaction(
        self, *, write: bool = False, conflict: ExecutorError | None = None
    ) -> AsyncIterator[AsyncConnection]:
        with translate_errors(self._url, conflict=conflict):
            async with self._engine.connect() as connection:
                if write and self.dialect == "sqlite":
                    # Take the write lock at BEGIN so the busy timeout applies, instead of
                    # failing when a reader later tries to upgrade its lock.
                    connection = await connection.execution_options(sqlite_begin="IMMEDIATE")
                async with connection.begin():
                    yield connection

    def _errors(
        self, conflict: ExecutorError | None = None
    ) -> contextlib.AbstractContextManager[None]:
        return translate_errors(self._url, conflict=conflict)

    def _insert(self, table: sa.Table) -> Any:
        module = sqlite if self.dialect == "sqlite" else postgresql
        return module.insert(table)
