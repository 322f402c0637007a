"""Alembic migrations, run programmatically when a store opens (no alembic.ini needed).

Revisions live in ``versions/``. Each one must work on SQLite and on PostgreSQL, and must never
lose data: add columns with ALTER TABLE ADD COLUMN (SQLite supports it natively) rather than a
batch table rebuild, which on SQLite would fire ``ON DELETE CASCADE`` from the dropped table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent


def _script() -> tuple[Config, ScriptDirectory]:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return config, ScriptDirectory.from_config(config)


def head() -> str:
    """The newest revision shipped with this package."""
    revision = _script()[1].get_current_head()
    assert revision is not None
    return revision


def current(connection: sa.Connection, *, schema: str | None = None) -> str | None:
    """The revision the database is at, or None for an empty database."""
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()


def upgrade(
    connection: sa.Connection, *, schema: str | None = None, revision: str = "head"
) -> None:
    """Upgrade the database behind ``connection`` to ``revision``.

    Runs inside the caller's transaction, so a failed migration leaves nothing half-done
    (both SQLite and PostgreSQL have transactional DDL).
    """
    config, script = _script()

    def steps(current_revision: Any, context: MigrationContext) -> Any:
        return script._upgrade_revs(revision, current_revision)

    with EnvironmentContext(config, script, fn=steps, destination_rev=revision) as environment:
        environment.configure(connection=connection, version_table_schema=schema)
        with environment.begin_transaction():
            environment.run_migrations()
