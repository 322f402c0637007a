"""``executor sources add`` shows the import's stages (download, parse, index) as the daemon
streams them, and ends with the number of tools: lines in a log, bars on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time

from tests.cli.conftest import EXECUTABLE, Cli
from tests.cli.test_terminal import _read_until
from tests.servers.petstore import PetStore


def test_sources_add_prints_each_stage_then_the_tool_count(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    _, url = petstore

    done = cli.ok("sources", "add", f"{url}/openapi.json", "--base-url", f"{url}/v1")

    stages = [line for line in done.stderr.splitlines() if ": " in line]
    assert [line.split(":")[0] for line in stages] == ["download", "parse", "index"]
    assert stages[1:] == ["parse: done", "index: 5 tools"]
    assert stages[0].endswith(" kB")
    assert "Added pet_store (openapi): 5 tools" in done.stdout


def test_sources_add_with_json_prints_only_the_result(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    _, url = petstore

    done = cli.ok("sources", "add", f"{url}/openapi.json", "--slug", "petstore", "--json")

    assert json.loads(done.stdout)["integration"]["tool_count"] == 5
    assert not any(
        line.startswith(("download", "parse", "index")) for line in done.stderr.splitlines()
    )


def test_sources_add_on_a_terminal_draws_a_bar_per_stage(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    _, url = petstore
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [EXECUTABLE, "sources", "add", f"{url}/openapi.json", "--slug", "petstore"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**cli.env, "TERM": "xterm"},
    )
    os.close(terminal)
    seen = bytearray()
    try:
        _read_until(controller, b"5 tools", seen, deadline=time.monotonic() + 120)
        stdout, _ = process.communicate(timeout=120)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()

    shown = seen.decode(errors="replace")
    assert process.returncode == 0, shown
    assert all(stage in shown for stage in ("download", "parse", "index"))
    assert "5 tools" in shown
    assert "Added petstore (openapi): 5 tools" in stdout.decode()
