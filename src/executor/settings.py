"""Where Executor keeps its data and how it is configured, from the environment.

- ``EXECUTOR_DATA_DIR`` — the data dir (default ``~/.executor``): the SQLite database, the
  secret key file.
- ``EXECUTOR_DATABASE_URL`` — use this database instead (``postgresql://…`` or any SQLAlchemy
  async URL); plain ``postgresql://`` and ``sqlite:///`` URLs get their async driver added.
- ``EXECUTOR_SECRET_KEY`` — the encryption key of the secret store instead of the key file.
- ``EXECUTOR_SOURCES`` — limit which source plugins load (comma-separated kinds).

``catalog_refresh`` (seconds, default 1) bounds how long a change made by another process
(a policy set from the CLI, another replica) can go unnoticed by this one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CALL_TIMEOUT = 30.0
#: Seconds between reads of the shared catalog version (changes made by other processes).
DEFAULT_CATALOG_REFRESH = 1.0


def _async_url(url: str) -> str:
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one :class:`~executor.Executor`."""

    data_dir: Path
    database_url: str
    database_schema: str | None = None
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    catalog_refresh: float = DEFAULT_CATALOG_REFRESH
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(
        cls,
        *,
        data_dir: str | Path | None = None,
        database_url: str | None = None,
        database_schema: str | None = None,
        call_timeout: float | None = None,
        catalog_refresh: float | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Settings from explicit arguments, else the environment, else the defaults."""
        env = dict(os.environ if environ is None else environ)
        directory = Path(
            data_dir or env.get("EXECUTOR_DATA_DIR") or Path.home() / ".executor"
        ).expanduser()
        url = database_url or env.get("EXECUTOR_DATABASE_URL")
        return cls(
            data_dir=directory,
            database_url=_async_url(url)
            if url
            else f"sqlite+aiosqlite:///{directory / 'executor.db'}",
            database_schema=database_schema or env.get("EXECUTOR_DATABASE_SCHEMA") or None,
            call_timeout=call_timeout or DEFAULT_CALL_TIMEOUT,
            catalog_refresh=(
                DEFAULT_CATALOG_REFRESH if catalog_refresh is None else float(catalog_refresh)
            ),
            environ=env,
        )
