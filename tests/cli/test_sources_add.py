"""``executor sources add`` shows the import's stages (download, parse, index) as the daemon
streams them, and ends with the number of tools: lines in a log, bars on a terminal."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli, on_terminal
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
    add = ("sources", "add", f"{url}/openapi.json", "--slug", "petstore")
    with on_terminal(cli, *add, stdout_too=False, env={"TERM": "xterm"}) as terminal:
        terminal.read_until(b"5 tools", timeout=120)
        stdout, _ = terminal.process.communicate(timeout=120)

    shown = terminal.text
    assert terminal.process.returncode == 0, shown
    assert all(stage in shown for stage in ("download", "parse", "index"))
    assert "5 tools" in shown
    assert "Added petstore (openapi): 5 tools" in stdout.decode()
