"""Stdio upstreams are supervised: a crashed server restarts, and none outlives the executor."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from executor import Executor
from executor.sources.base import SourceConfig
from tests.sources.mcp.conftest import ROOT, upstream_options

pytestmark = pytest.mark.anyio


def _gone(pid: int) -> bool:
    """Whether no process (not even a zombie) has this pid."""
    return not Path(f"/proc/{pid}").exists()


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait for any process (not only our child) to exit, without polling: a pidfd becomes
    readable when its process ends."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


async def test_a_killed_server_process_is_restarted_and_reaped(data_dir: Path, state: Path) -> None:
    async with Executor.open(data_dir=data_dir) as ex:
        await ex.sources.add("up", "mcp", SourceConfig(options=upstream_options(state)))
        first = await ex.call("up.default.whoami")
        old_pid = first["data"]["pid"]
        connection = (await ex.connections.list("up"))[0]
        session = ex.plugins.get("mcp").session(connection.id)  # type: ignore[attr-defined]

        os.kill(old_pid, signal.SIGKILL)
        with anyio.fail_after(30):
            await session.connected(2)  # the supervisor restarted it on its own
        second = await ex.call("up.default.whoami")
        assert second["ok"], second
        assert second["data"]["pid"] != old_pid
        assert second["data"]["calls"] == 1
        assert _gone(old_pid), "the killed server was left a zombie"
    assert _gone(second["data"]["pid"])


_SCRIPT = """
import anyio, os, sys
sys.path.insert(0, {root!r})
from executor import Executor
from executor.sources.base import SourceConfig

async def main():
    async with Executor.open(data_dir={data!r}) as ex:
        await ex.sources.add("up", "mcp", SourceConfig(options={options!r}))
        pid = (await ex.call("up.default.whoami"))["data"]["pid"]
        print(pid, flush=True)
        if sys.argv[1] == "wait":
            await anyio.to_thread.run_sync(sys.stdin.read)
    try:
        os.kill(pid, 0)
        print("alive", flush=True)
    except ProcessLookupError:
        print("gone", flush=True)

anyio.run(main)
"""


def _executor_process(tmp_path: Path, state: Path, how: str) -> subprocess.Popen[str]:
    script = _SCRIPT.format(
        root=str(ROOT), data=str(tmp_path / "sub"), options=upstream_options(state)
    )
    return subprocess.Popen(
        [sys.executable, "-c", script, how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")},
    )


def test_closing_the_executor_reaps_the_server_process(tmp_path: Path, state: Path) -> None:
    process = _executor_process(tmp_path, state, "close")
    out, _ = process.communicate(timeout=60)
    pid, verdict = out.split()
    assert process.returncode == 0
    assert verdict == "gone"
    assert _gone(int(pid))


def test_a_killed_executor_process_leaves_no_server_behind(tmp_path: Path, state: Path) -> None:
    process = _executor_process(tmp_path, state, "wait")
    assert process.stdout is not None
    pid = int(process.stdout.readline())
    process.kill()
    process.wait(10)
    # The server's stdin closes with its parent; an MCP stdio server exits on that.
    assert _wait_exit(pid, 15), f"server {pid} outlived its executor"
    json.dumps(pid)
