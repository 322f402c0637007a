"""``executor doctor``: check the data dir, database, file permissions, port, daemon and
connections, and say how to fix what is wrong."""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import stat
from pathlib import Path
from typing import Any

from executor.cli import daemon
from executor.cli.commands.connections import health_of
from executor.cli.context import Context
from executor.cli.errors import CliError

OK, WARN, FAIL = "ok", "warning", "failed"
_PRIVATE_FILES = ("secret.key", "token", "agent-token")


class _Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, str]] = []

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.checks.append({"check": name, "status": status, "detail": detail, "fix": fix})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _files(report: _Report, data_dir: Path) -> None:
    if not data_dir.exists():
        report.add(
            "data dir", WARN, f"{data_dir} does not exist yet", "It is created on first use."
        )
        return
    mode = _mode(data_dir)
    if mode & 0o077:
        report.add("data dir", WARN, f"{data_dir} is mode {mode:o}", f"chmod 700 {data_dir}")
    else:
        report.add("data dir", OK, str(data_dir))
    for name in _PRIVATE_FILES:
        path = data_dir / name
        if not path.exists():
            note = (
                "EXECUTOR_SECRET_KEY is set"
                if name == "secret.key" and os.environ.get("EXECUTOR_SECRET_KEY")
                else "created when the daemon first starts"
            )
            report.add(name, OK if "SECRET" in note else WARN, f"missing ({note})")
            continue
        mode = _mode(path)
        if mode & 0o077:
            report.add(
                name, FAIL, f"{path} is readable by others (mode {mode:o})", f"chmod 600 {path}"
            )
        else:
            report.add(name, OK, f"mode {mode:o}")


def _database(report: _Report, data_dir: Path) -> None:
    url = os.environ.get("EXECUTOR_DATABASE_URL")
    if url:
        scheme = url.split(":", 1)[0]
        report.add("database", OK, f"{scheme} (EXECUTOR_DATABASE_URL); checked by the daemon")
        return
    path = data_dir / "executor.db"
    if not path.exists():
        report.add("database", WARN, f"{path} does not exist yet", "It is created on first use.")
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            (check,) = connection.execute("PRAGMA quick_check").fetchone()
            (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        report.add("database", FAIL, f"{path}: {exc}", "Restore it from a backup, or move it away.")
        return
    if check != "ok":
        report.add("database", FAIL, f"{path}: integrity check says {check}")
    else:
        report.add("database", OK, f"{path} (SQLite, schema revision {revision})")


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _daemon(report: _Report, ctx: Context) -> daemon.Manifest | None:
    port = daemon.preferred_port()
    manifest = daemon.running(ctx.data_dir)
    log = daemon.log_path(ctx.data_dir)
    if manifest is None:
        report.add("daemon", WARN, "not running", "It starts on first use, or: executor daemon run")
        if _port_taken(daemon.DEFAULT_HOST, port):
            report.add(
                "port", WARN, f"{port} is taken by another program; a free port will be used"
            )
        else:
            report.add("port", OK, f"{port} is free")
        return None
    if not daemon.is_healthy(manifest):
        report.add(
            "daemon",
            FAIL,
            f"pid {manifest.pid} does not answer",
            f"See {log}; executor daemon restart",
        )
        return None
    report.add("daemon", OK, f"{manifest.url} (pid {manifest.pid}, version {manifest.version})")
    if manifest.port != port:
        report.add("port", WARN, f"{port} was taken; the daemon listens on {manifest.port}")
    else:
        report.add("port", OK, f"{port}")
    return manifest


def _connections(report: _Report, ctx: Context) -> None:
    try:
        connections: list[dict[str, Any]] = ctx.request("GET", "/connections") or []
    except CliError as exc:
        report.add("connections", FAIL, exc.message, exc.hint or "")
        return
    if not connections:
        report.add("connections", OK, "none yet")
    for connection in connections:
        name = f"{connection['integration']}.{connection['name']}"
        health = health_of(connection)
        status = str(health.get("status") or "unknown")
        missing = [
            ref for ref in _env_refs(connection.get("auth") or {}) if not os.environ.get(ref)
        ]
        if status not in ("ok", "unknown"):
            detail = f"{status}: {health.get('last_error') or 'no details recorded'}"
            report.add(name, FAIL, detail, _health_fix(connection, status))
        elif missing:
            report.add(
                name,
                WARN,
                f"uses env://{', env://'.join(missing)}, not set in this shell",
                "Make sure the daemon's environment has it.",
            )
        elif status == "ok":
            report.add(name, OK, f"ok (last change {health.get('checked_at') or 'unknown'})")
        else:
            auth = (connection.get("auth") or {}).get("type", "none")
            report.add(name, OK, f"{auth} auth, not called yet")


def _health_fix(connection: dict[str, Any], status: str) -> str:
    """What to do about a connection whose last calls failed."""
    integration, name = connection["integration"], connection["name"]
    if status == "needs_auth":
        return (
            "Give it working credentials: "
            f"executor connections remove {integration} {name} && "
            f"executor connections create {integration} {name}"
        )
    if status == "unreachable":
        return (
            "Check that the API is up and the connection's base URL is right; "
            "the next successful call clears this."
        )
    return "The API failed on its side; the next successful call clears this."


def _env_refs(value: Any) -> list[str]:
    if isinstance(value, str) and value.startswith("env://"):
        return [value.removeprefix("env://")]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _env_refs(item)]
    return []


def doctor(args: argparse.Namespace, ctx: Context) -> int:
    report = _Report()
    _files(report, ctx.data_dir)
    _database(report, ctx.data_dir)
    if _daemon(report, ctx) is not None:
        _connections(report, ctx)
    failed = any(check["status"] == FAIL for check in report.checks)
    if ctx.out.json_mode:
        ctx.out.json({"ok": not failed, "checks": report.checks})
        return 1 if failed else 0
    marks = {OK: "[green]✓[/green]", WARN: "[yellow]![/yellow]", FAIL: "[red]✗[/red]"}
    for check in report.checks:
        ctx.out.text(f"{marks[check['status']]} {check['check']}: {check['detail']}")
        if check["fix"] and check["status"] != OK:
            ctx.out.text(f"    [dim]→ {check['fix']}[/dim]")
    return 1 if failed else 0
