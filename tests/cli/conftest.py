"""Fixtures for driving ``executor`` as a subprocess, the way a person uses it.

Every test gets its own data dir and a free preferred port; every daemon a test starts is
stopped at teardown (gracefully, then by SIGKILL), whether the test passed or not.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from executor.cli import daemon
from tests.conftest import Database
from tests.servers import free_port
from tests.servers.petstore import PetStore

EXECUTABLE = str(Path(sys.executable).parent / "executor")
#: Environment variables a test must not inherit from the machine it runs on.
_STRAY = (
    "EXECUTOR_DATA_DIR",
    "EXECUTOR_DATABASE_URL",
    "EXECUTOR_DATABASE_SCHEMA",
    "EXECUTOR_SECRET_KEY",
    "EXECUTOR_SOURCES",
    "EXECUTOR_PORT",
)


@dataclass
class Cli:
    """Runs ``executor …`` with this test's environment."""

    data_dir: Path
    env: dict[str, str]
    data_dirs: list[Path] = field(default_factory=list)

    def run(
        self, *args: str, input: str | None = None, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EXECUTABLE, *args],
            input=input,
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def ok(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run and require exit code 0."""
        done = self.run(*args, input=input)
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
        return done

    def json(self, *args: str, input: str | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", input=input).stdout)

    def manifest(self) -> daemon.Manifest:
        found = daemon.read_manifest(self.data_dir)
        assert found is not None
        return found


def stop_daemon(data_dir: Path) -> None:
    """Stop a test's daemon: gracefully, else by SIGKILL."""
    try:
        daemon.stop(data_dir, timeout=20)
    except Exception:
        pid = daemon.lock_holder(data_dir)
        if pid and pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """``executor`` on a fresh data dir, with a free preferred port; its daemon is stopped
    after the test."""
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key not in _STRAY}
    env.update(
        EXECUTOR_DATA_DIR=str(data_dir),
        EXECUTOR_PORT=str(free_port()),
        NO_COLOR="1",
        COLUMNS="200",
    )
    runner = Cli(data_dir, env)
    try:
        yield runner
    finally:
        stop_daemon(data_dir)


@pytest.fixture
def cli_on(cli: Cli, database: Database) -> Cli:
    """``cli`` on SQLite (the data dir) or on a private PostgreSQL schema."""
    if database.kind == "postgres":
        cli.env["EXECUTOR_DATABASE_URL"] = database.url
        cli.env["EXECUTOR_DATABASE_SCHEMA"] = database.schema or ""
    return cli


def add_petstore(cli: Cli, url: str, store: PetStore) -> None:
    """The pet store as source ``petstore`` with its API key, through the CLI."""
    cli.ok("sources", "add", f"{url}/openapi.json", "--slug", "petstore", "--base-url", f"{url}/v1")
    cli.ok("connections", "create", "petstore", "--secret-stdin", input=store.api_key)
