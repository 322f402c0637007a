"""The background daemon: one server per data dir, started on demand, found through a manifest.

Files in the data dir:

- ``daemon.lock`` — held (``flock``, exclusive) by the running daemon for its whole life. The
  kernel releases it when the process dies, even by SIGKILL, so "is the lock held" is the truth
  about whether a daemon runs, whatever a stale manifest says. It also holds the daemon's pid.
- ``daemon-start.lock`` — serialises CLI processes that start a daemon, so concurrent first
  calls elect exactly one: the first starts it, the others wait and then use it.
- ``daemon.json`` — the manifest (pid, host, port, started_at, version, log), written once the
  daemon listens and removed when it stops. The port is recorded because 4788 may be taken.
- ``daemon.log`` — what a daemon started in the background writes.

A CLI process that starts a daemon passes it one end of a pipe (``--ready-fd``); the daemon
writes a line there once it answers requests, so the starter waits on the pipe, not on a timer.
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from executor import __version__
from executor.cli.client import ApiClient, read_token
from executor.cli.errors import EXIT_DAEMON, CliError

LOCK_FILE = "daemon.lock"
START_LOCK_FILE = "daemon-start.lock"
MANIFEST_FILE = "daemon.json"
LOG_FILE = "daemon.log"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4788
#: Seconds a starter waits for a new daemon to answer (migrations of a big database included).
START_TIMEOUT = 60.0
#: Seconds ``daemon stop`` waits for in-flight requests to finish before they are cancelled.
GRACEFUL_SHUTDOWN = 10.0
#: Seconds between checks that the data dir still exists.
DATA_DIR_CHECK = 10.0


@dataclass(frozen=True)
class Manifest:
    """Where a running daemon listens, and who it is."""

    pid: int
    host: str
    port: int
    started_at: str
    version: str
    log: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def preferred_port() -> int:
    """``EXECUTOR_PORT``, else 4788: the port a new daemon tries first."""
    value = os.environ.get("EXECUTOR_PORT")
    if not value:
        return DEFAULT_PORT
    try:
        return int(value)
    except ValueError:
        raise CliError(
            f"EXECUTOR_PORT must be a port number, not {value!r}.", code="invalid_input"
        ) from None


def log_path(data_dir: Path) -> Path:
    return data_dir / LOG_FILE


def read_manifest(data_dir: Path) -> Manifest | None:
    """The manifest as written, or None (missing or unreadable). It may be stale."""
    try:
        return Manifest(**json.loads((data_dir / MANIFEST_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_manifest(data_dir: Path, manifest: Manifest) -> None:
    temporary = data_dir / f".{MANIFEST_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps(asdict(manifest)) + "\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, data_dir / MANIFEST_FILE)


def _open_lock(data_dir: Path, name: str) -> int:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(data_dir / name, os.O_RDWR | os.O_CREAT, 0o600)


def lock_holder(data_dir: Path) -> int | None:
    """The pid of the running daemon (the holder of ``daemon.lock``), or None when none runs."""
    descriptor = _open_lock(data_dir, LOCK_FILE)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            content = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
            return int(content) if content.isdigit() else -1
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return None
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _start_lock(data_dir: Path) -> Iterator[None]:
    descriptor = _open_lock(data_dir, START_LOCK_FILE)
    try:
        # Blocking: the holder is a starter bounded by START_TIMEOUT (or dead, which frees it).
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def is_healthy(manifest: Manifest, timeout: float = 2.0) -> bool:
    """Whether the daemon of this manifest answers ``/api/health``."""
    try:
        answer = ApiClient(manifest.host, manifest.port, "", timeout=timeout).request(
            "GET", "/health"
        )
    except (OSError, CliError):
        return False
    return isinstance(answer, dict) and answer.get("ok") is True


def running(data_dir: Path) -> Manifest | None:
    """The running daemon's manifest, or None. A stale manifest (its daemon died without
    cleaning up, e.g. SIGKILL) is detected by the free lock and removed."""
    manifest = read_manifest(data_dir)
    holder = lock_holder(data_dir)
    if holder is None:
        if manifest is not None:
            (data_dir / MANIFEST_FILE).unlink(missing_ok=True)
        return None
    if manifest is not None and manifest.pid != holder:
        return None  # a new daemon is starting and has not written its manifest yet
    return manifest


def ensure_running(data_dir: Path) -> Manifest:
    """The running daemon, started in the background first when there is none.

    Concurrent callers elect one starter through ``daemon-start.lock``; the others wait for it
    and use the daemon it started.
    """
    manifest = running(data_dir)
    if manifest is not None:
        return manifest
    with _start_lock(data_dir):
        manifest = running(data_dir)
        if manifest is not None:
            return manifest
        if lock_holder(data_dir) is not None:
            return _await_foreign_start(data_dir)
        return _start_detached(data_dir)


def _await_foreign_start(data_dir: Path) -> Manifest:
    """A daemon someone started by hand holds the lock but has not written its manifest yet:
    its readiness pipe is not ours, so look for the manifest until it appears."""
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.02
    while time.monotonic() < deadline:
        manifest = running(data_dir)
        if manifest is not None:
            return manifest
        if lock_holder(data_dir) is None:
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise _could_not_start(data_dir, "did not become ready")


def _could_not_start(data_dir: Path, why: str) -> CliError:
    last = _last_log_line(data_dir)
    return CliError(
        f"The Executor daemon {why}." + (f" Its log says: {last}" if last else ""),
        hint=f"See the log: {log_path(data_dir)}",
        code="daemon_unavailable",
        exit_code=EXIT_DAEMON,
    )


def _last_log_line(data_dir: Path) -> str:
    try:
        with open(log_path(data_dir), "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4096))
            lines = [line.strip() for line in handle.read().decode(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    return lines[-1][:300] if lines else ""


def _start_detached(data_dir: Path) -> Manifest:
    """Start ``executor daemon run`` in its own session, logging to the data dir, and wait on
    its readiness pipe."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    read_end, write_end = os.pipe()
    env = {**os.environ, "EXECUTOR_DATA_DIR": str(data_dir)}
    try:
        with open(log_path(data_dir), "ab") as log:
            os.chmod(log_path(data_dir), 0o600)
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "executor.cli",
                    "daemon",
                    "run",
                    "--ready-fd",
                    str(write_end),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                pass_fds=(write_end,),
            )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as ready:
        answer = _read_line(ready, START_TIMEOUT)
    if answer.startswith(b"ready"):
        manifest = read_manifest(data_dir)
        if manifest is not None:
            return manifest
    if answer == b"":
        code = process.poll()
        why = f"could not start (it exited with status {code})" if code else "could not start"
        raise _could_not_start(data_dir, why)
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    raise _could_not_start(data_dir, f"did not answer within {START_TIMEOUT:.0f} s")


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line from a pipe, b"" at EOF, b"timeout" when nothing came in time."""
    readable, _, _ = select.select([stream], [], [], timeout)
    if not readable:
        return b"timeout"
    return stream.readline()


def connect(data_dir: Path) -> tuple[ApiClient, Manifest]:
    """A client for the running daemon, starting one first when none runs."""
    manifest = ensure_running(data_dir)
    return ApiClient(manifest.host, manifest.port, read_token(data_dir)), manifest


def stop(data_dir: Path, *, timeout: float = GRACEFUL_SHUTDOWN + 20) -> int | None:
    """Stop the running daemon gracefully (SIGTERM) and wait until it is gone.

    Returns the pid that was stopped, or None when none was running.
    """
    pid = lock_holder(data_dir)
    if pid is None:
        running(data_dir)  # clears a stale manifest
        return None
    if pid <= 0:
        raise CliError("A daemon holds the lock but its pid is unknown.", exit_code=EXIT_DAEMON)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_lock_free(data_dir, timeout):
        raise CliError(
            f"The daemon (pid {pid}) did not stop within {timeout:.0f} s.",
            hint=f"Force it: kill -9 {pid}",
            exit_code=EXIT_DAEMON,
        )
    (data_dir / MANIFEST_FILE).unlink(missing_ok=True)
    return pid


def _wait_lock_free(data_dir: Path, timeout: float) -> bool:
    """Block until ``daemon.lock`` is free (its holder exited), at most ``timeout`` seconds."""
    freed = threading.Event()
    descriptor = _open_lock(data_dir, LOCK_FILE)

    def wait() -> None:
        fcntl.flock(descriptor, fcntl.LOCK_SH)  # returns when the daemon's lock is gone
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        freed.set()

    threading.Thread(target=wait, daemon=True).start()
    done = freed.wait(timeout)
    if done:
        os.close(descriptor)
    return done


# -- the daemon itself (``executor daemon run``) -------------------------------------------------


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``port``, or on a free port when something else holds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in (port, 0):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE and candidate != 0:
                continue
            raise CliError(f"Cannot listen on {host}:{candidate}: {exc.strerror}.") from None
        sock.listen(2048)
        sock.set_inheritable(False)
        return sock
    raise AssertionError("unreachable")


def serve(
    data_dir: Path,
    *,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    ready_fd: int | None = None,
    on_ready: Callable[[Manifest], None] | None = None,
) -> int:
    """Run the daemon in the foreground until SIGTERM/SIGINT: hold the lock, listen (falling
    back to a free port), write the manifest once serving, remove it on the way out."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = _open_lock(data_dir, LOCK_FILE)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        other = read_manifest(data_dir)
        where = f" at {other.url} (pid {other.pid})" if other else ""
        print(f"executor: a daemon is already running for {data_dir}{where}.", file=sys.stderr)
        return EXIT_DAEMON
    os.ftruncate(lock, 0)
    os.pwrite(lock, str(os.getpid()).encode(), 0)
    # `kill -USR1 <pid>` writes every thread's stack to the log: how to see where a daemon hangs.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    manifest: Manifest | None = None
    try:
        from executor.server.security import check_bind_host

        try:
            check_bind_host(host)
        except Exception as exc:
            raise CliError(str(exc), code="invalid_input") from None
        sock = _bind(host, preferred_port() if port is None else port)
        bound_port = int(sock.getsockname()[1])

        import uvicorn

        from executor.server.app import ServerSettings, create_app

        app = create_app(ServerSettings(host=host, port=bound_port, data_dir=data_dir))
        manifest = Manifest(
            pid=os.getpid(),
            host=host,
            port=bound_port,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            version=__version__,
            log=str(log_path(data_dir)),
        )

        def ready() -> None:
            assert manifest is not None
            _write_manifest(data_dir, manifest)
            print(f"Executor daemon {__version__} serving {manifest.url} (pid {manifest.pid})")
            print(f"MCP endpoint: {manifest.url}/mcp", flush=True)
            if ready_fd is not None:
                with contextlib.suppress(OSError):
                    os.write(ready_fd, b"ready\n")
                    os.close(ready_fd)
            if on_ready is not None:
                on_ready(manifest)

        class NotifyingServer(uvicorn.Server):
            """uvicorn's server, announcing readiness once it listens and the lifespan ran."""

            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets=sockets)
                if self.started and not self.should_exit:
                    ready()

        config = uvicorn.Config(
            app,
            log_level="info",
            access_log=False,
            # SIGTERM: stop accepting, let requests in flight finish, cancel them after this.
            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN),
            lifespan="on",
        )
        server = NotifyingServer(config)
        watching = threading.Event()
        threading.Thread(
            target=_stop_when_removed, args=(data_dir, lock, server, watching), daemon=True
        ).start()
        try:
            server.run(sockets=[sock])
        finally:
            watching.set()
    finally:
        current = read_manifest(data_dir)
        if manifest is not None and current is not None and current.pid == os.getpid():
            (data_dir / MANIFEST_FILE).unlink(missing_ok=True)
        os.close(lock)
    return 0


def _stop_when_removed(data_dir: Path, lock: int, server: Any, done: threading.Event) -> None:
    """Stop the daemon when its data dir is deleted (its lock file gone or replaced): such a
    daemon can no longer be found or stopped by the CLI, and must not linger."""
    held = os.fstat(lock).st_ino
    while not done.wait(DATA_DIR_CHECK):
        try:
            present = (data_dir / LOCK_FILE).stat().st_ino == held
        except FileNotFoundError:
            present = False
        if not present:
            print(f"executor: {data_dir} was removed; stopping.", flush=True)
            server.should_exit = True
            return
