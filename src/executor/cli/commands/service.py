"""``executor install`` / ``uninstall``: the daemon as a user service that starts at login.

Linux: a systemd ``--user`` unit, ``$XDG_CONFIG_HOME/systemd/user/executor.service``.
macOS: a launchd agent, ``~/Library/LaunchAgents/dev.executor.daemon.plist``.
The file is written; the service manager, when present, enables and starts it.
"""

from __future__ import annotations

import argparse
import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from executor.cli import daemon
from executor.cli.context import Context
from executor.cli.errors import CliError

UNIT_NAME = "executor.service"
LAUNCHD_LABEL = "dev.executor.daemon"


def _manager(args: argparse.Namespace) -> str:
    if args.manager:
        return str(args.manager)
    if sys.platform == "darwin":
        return "launchd"
    if sys.platform.startswith("linux"):
        return "systemd"
    raise CliError(
        f"No user service manager is supported on {sys.platform}.",
        hint="Run the daemon yourself: executor daemon run",
    )


def _command() -> list[str]:
    """How the service starts the daemon: this Python, this package."""
    return [sys.executable, "-m", "executor.cli", "daemon", "run"]


def _environment(ctx: Context) -> dict[str, str]:
    env = {"EXECUTOR_DATA_DIR": str(ctx.data_dir)}
    for name in ("EXECUTOR_DATABASE_URL", "EXECUTOR_PORT", "EXECUTOR_SOURCES"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def unit_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user" / UNIT_NAME


def plist_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def systemd_unit(ctx: Context) -> str:
    """The unit file's text."""
    environment = "\n".join(
        f"Environment={shlex.quote(f'{key}={value}')}" for key, value in _environment(ctx).items()
    )
    return (
        "[Unit]\n"
        "Description=Executor daemon (integrations for AI agents)\n"
        "After=network.target\n\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={shlex.join(_command())}\n"
        f"{environment}\n"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        # SIGTERM is the graceful stop: requests in flight get the daemon's grace period.
        f"TimeoutStopSec={int(daemon.GRACEFUL_SHUTDOWN) + 5}\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launchd_plist(ctx: Context) -> bytes:
    """The launch agent's property list."""
    log = str(daemon.log_path(ctx.data_dir))
    return plistlib.dumps(
        {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": _command(),
            "EnvironmentVariables": _environment(ctx),
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "StandardOutPath": log,
            "StandardErrorPath": log,
        }
    )


def _run(ctx: Context, command: list[str], done: list[str]) -> bool:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        done.append(f"could not run {shlex.join(command)}: {exc}")
        return False
    if completed.returncode != 0:
        why = (completed.stderr or completed.stdout).strip().splitlines()
        done.append(f"{shlex.join(command)} failed: {why[-1] if why else completed.returncode}")
        return False
    done.append(f"ran {shlex.join(command)}")
    return True


def install(args: argparse.Namespace, ctx: Context) -> int:
    manager = _manager(args)
    done: list[str] = []
    if manager == "systemd":
        path = unit_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(systemd_unit(ctx))
        tool = shutil.which("systemctl")
        start = [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", UNIT_NAME],
        ]
        manual = "systemctl --user enable --now executor.service"
    else:
        path = plist_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(launchd_plist(ctx))
        tool = shutil.which("launchctl")
        start = [["launchctl", "bootstrap", f"gui/{os.getuid()}", str(path)]]
        manual = f"launchctl bootstrap gui/{os.getuid()} {path}"
    done.append(f"wrote {path}")
    started = False
    if args.no_start:
        done.append(f"not started (--no-start); start it with: {manual}")
    elif tool is None:
        done.append(f"{manager} was not found; start it with: {manual}")
    else:
        # A daemon started on demand holds the data dir: the service takes over from it.
        stopped = daemon.stop(ctx.data_dir)
        if stopped:
            done.append(f"stopped the on-demand daemon (pid {stopped})")
        started = all(_run(ctx, command, done) for command in start)
    if ctx.out.json_mode:
        ctx.out.json({"manager": manager, "path": str(path), "started": started, "steps": done})
    else:
        for line in done:
            ctx.out.plain(f"  {line}")
        ctx.out.plain(
            "Installed: the daemon starts at login."
            if started
            else f"Installed the {manager} file."
        )
    return 0


def uninstall(args: argparse.Namespace, ctx: Context) -> int:
    manager = _manager(args)
    done: list[str] = []
    if manager == "systemd":
        path = unit_path()
        if shutil.which("systemctl") and path.exists():
            _run(ctx, ["systemctl", "--user", "disable", "--now", UNIT_NAME], done)
    else:
        path = plist_path()
        if shutil.which("launchctl") and path.exists():
            _run(ctx, ["launchctl", "bootout", f"gui/{os.getuid()}/{LAUNCHD_LABEL}"], done)
    if path.exists():
        path.unlink()
        done.append(f"removed {path}")
    else:
        done.append(f"nothing to remove at {path}")
    if ctx.out.json_mode:
        ctx.out.json({"manager": manager, "path": str(path), "steps": done})
    else:
        for line in done:
            ctx.out.plain(f"  {line}")
    return 0
