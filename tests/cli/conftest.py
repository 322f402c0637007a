"""Fixtures for driving ``executor`` as a subprocess, the way a person uses it.

Every test gets its own data dir and a free preferred port; every daemon a test starts is
stopped at teardown (gracefully, then by SIGKILL), whether the test passed or not.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
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


@dataclass
class Terminal:
    """``executor`` running with its stderr (and by default stdin and stdout) on a
    pseudo-terminal: read what it shows, type answers."""

    process: subprocess.Popen[bytes]
    fd: int
    seen: bytearray = field(default_factory=bytearray)

    @property
    def text(self) -> str:
        return self.seen.decode(errors="replace")

    def read_until(self, marker: bytes, timeout: float = 60) -> bool:
        """Read what the terminal shows until ``marker`` does, the output ends, or
        ``timeout`` seconds pass; whether the marker showed up."""
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return False
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: the other side closed
                return False
            if not chunk:
                return False
            self.seen.extend(chunk)
        return True

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def finish(self, timeout: float = 60) -> int:
        """Read to the end of the output and return the exit code."""
        self.read_until(b"\x00never", timeout)
        return self.process.wait(timeout)


@contextlib.contextmanager
def on_terminal(
    cli: Cli, *args: str, stdout_too: bool = True, env: dict[str, str] | None = None
) -> Iterator[Terminal]:
    """Run ``executor <args>`` on a pseudo-terminal (stdout to a pipe unless ``stdout_too``);
    killed if still running at the end."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [EXECUTABLE, *args],
        stdin=terminal if stdout_too else subprocess.DEVNULL,
        stdout=terminal if stdout_too else subprocess.PIPE,
        stderr=terminal,
        env={**cli.env, **(env or {})},
        start_new_session=True,
    )
    os.close(terminal)
    try:
        yield Terminal(process, controller)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()
