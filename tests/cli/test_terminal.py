"""An approval answered on a real (pseudo-)terminal, and what people see when things fail."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli, add_petstore, on_terminal
from tests.servers.petstore import PetStore

CREATE = "petstore.default.pets.create_pet"


def test_an_interactive_call_asks_for_approval_on_the_terminal(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    add_petstore(cli, url, store)
    with on_terminal(cli, "call", CREATE, '{"name": "Io"}') as terminal:
        asked = terminal.read_until(b"[y/N]")
        terminal.type(b"y\n")
        code = terminal.finish()
    text = terminal.text

    assert asked, text
    assert f"Approval needed: {CREATE}" in text
    assert '"name": "Io"' in text
    assert code == 0, text
    assert [pet["name"] for pet in store.pets.values()] == ["Io"]


def test_declining_on_the_terminal_calls_nothing(cli: Cli, petstore: tuple[PetStore, str]) -> None:
    store, url = petstore
    add_petstore(cli, url, store)
    with on_terminal(cli, "call", CREATE, "--arg", "name=Io") as terminal:
        terminal.read_until(b"[y/N]")
        terminal.type(b"n\n")
        code = terminal.finish()

    assert code == 1, terminal.text
    assert "declined" in terminal.text
    assert store.pets == {}


def test_unknown_tool_says_what_was_meant_in_two_lines(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    add_petstore(cli, url, store)

    failed = cli.run("call", "petstore.default.pets.lst_pets")

    assert failed.returncode == 1
    assert "petstore.default.pets.list_pets" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) <= 2


def test_bad_arguments_exit_2_and_debug_shows_the_traceback(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    add_petstore(cli, url, store)

    bad_json = cli.run("call", "petstore.pets.list_pets", "{not json")
    bad_arg = cli.run("call", "petstore.pets.list_pets", "--arg", "limit=many")
    debug = cli.run("--debug", "call", "petstore.pets.list_pets", "--arg", "limit=many")
    wrong_type = cli.run("call", "petstore.pets.create_pet", '{"name": 5}')

    assert bad_json.returncode == 2
    assert "not valid JSON" in bad_json.stderr
    assert bad_arg.returncode == 2
    assert "expects integer" in bad_arg.stderr
    assert "Traceback" not in bad_arg.stderr
    assert "Traceback" in debug.stderr
    assert wrong_type.returncode == 1
    assert "executor call petstore.default.pets.create_pet --help" in wrong_type.stderr


def test_a_plain_secret_on_the_command_line_is_refused(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    cli.ok("sources", "add", f"{url}/openapi.json", "--slug", "petstore")

    refused = cli.run("connections", "create", "petstore", "--secret", store.api_key)
    by_reference = cli.run(
        "connections", "create", "petstore", "--secret", "env://PETSTORE_KEY", "--json"
    )

    assert refused.returncode == 2
    assert "provider reference" in refused.stderr
    assert store.api_key not in refused.stderr + refused.stdout
    assert by_reference.returncode == 0, by_reference.stderr
    assert json.loads(by_reference.stdout)["auth"]["value"] == "env://PETSTORE_KEY"


def test_token_file_readable_by_others_names_the_chmod_fix(cli: Cli) -> None:
    cli.ok("sources", "list")
    token = cli.data_dir / "token"
    token.chmod(0o644)

    failed = cli.run("sources", "list")
    doctor = cli.run("doctor", "--json")

    assert failed.returncode == 1
    assert f"chmod 600 {token}" in failed.stderr
    assert doctor.returncode == 1
    checks = {check["check"]: check for check in json.loads(doctor.stdout)["checks"]}
    assert checks["token"]["status"] == "failed"
    assert checks["token"]["fix"] == f"chmod 600 {token}"


def test_a_daemon_that_cannot_start_points_at_its_log(cli: Cli) -> None:
    failed = cli.run(
        "sources", "list", EXECUTOR_DATABASE_URL="postgresql://nobody@127.0.0.1:1/nothing"
    )

    assert failed.returncode == 4
    assert f"See the log: {cli.data_dir / 'daemon.log'}" in failed.stderr
    assert "Traceback" not in failed.stderr
