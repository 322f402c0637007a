"""An upstream MCP server's question on the command line: ``executor call`` asks for the fields
on a terminal, or prints the ``executor resume … --content`` command that answers it later."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import anyio

from executor import Executor
from executor.sources.base import SourceConfig
from tests.cli.conftest import Cli, on_terminal
from tests.sources.mcp.conftest import upstream_options

SIGNUP = "up.default.signup"
ADA = {"name": "Ada", "age": 36}


def _add_upstream(cli: Cli, tmp_path: Path) -> None:
    """The test upstream (with its interview tools) as integration ``up`` in the data dir."""
    state = tmp_path / "upstream.json"
    state.write_text(json.dumps({"interviews": True}))

    async def add() -> None:
        async with Executor.open(data_dir=cli.data_dir) as ex:
            options = upstream_options(state, mode="legacy")
            await ex.sources.add("up", "mcp", SourceConfig(options=options))

    anyio.run(add)


def test_a_question_prints_the_resume_command_with_a_content_skeleton(
    cli: Cli, tmp_path: Path
) -> None:
    _add_upstream(cli, tmp_path)
    paused = cli.run("call", SIGNUP)
    command = shlex.split(paused.stdout.strip().splitlines()[-2])
    execution_id = command[command.index("--execution-id") + 1]
    wrong = cli.run("resume", "--execution-id", execution_id, "--content", '{"name": "Ada"}')
    answered = cli.run("resume", "--execution-id", execution_id, "--content", json.dumps(ADA))

    assert paused.returncode == 3, paused.stderr
    assert f"Asks for input: {SIGNUP} — Who are you?" in paused.stdout
    assert "age (integer, required)" in paused.stdout
    assert command[command.index("--content") + 1] == json.dumps(
        {"name": "<string>", "age": "<integer>"}
    )
    assert wrong.returncode == 2, wrong.stderr
    assert "does not fit the form" in wrong.stderr
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout) == {"answers": [{"action": "accept", "content": ADA}]}


def test_an_interactive_call_asks_for_each_field_on_the_terminal(cli: Cli, tmp_path: Path) -> None:
    _add_upstream(cli, tmp_path)
    with on_terminal(cli, "call", SIGNUP) as terminal:
        for prompt, answer in (
            (b"[Y/n]", b"\n"),
            (b"name (string, required): ", b"Ada\n"),
            (b"age (integer, required): ", b"old\n"),
            (b"it takes integer.", b"36\n"),
            (b"newsletter (boolean, default false): ", b"\n"),
        ):
            assert terminal.read_until(prompt), terminal.text
            terminal.type(answer)
        code = terminal.finish()
    text = terminal.text

    assert f"{SIGNUP} asks: Who are you?" in text
    assert "age cannot be 'old'" in text
    assert code == 0, text
    printed = text[text.rindex("{", 0, text.index('"answers"')) :]
    assert json.loads(printed) == {"answers": [{"action": "accept", "content": ADA}]}
