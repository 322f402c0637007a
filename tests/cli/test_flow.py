"""The CLI end to end against a real daemon and a real local API: add, connect, call, approve."""

from __future__ import annotations

import json
import os
import signal
import socket

from tests.cli.conftest import Cli, add_petstore
from tests.servers.petstore import PetStore

CREATE = "petstore.default.pets.create_pet"


async def test_fresh_data_dir_to_an_approved_call_and_resume(
    cli_on: Cli, petstore: tuple[PetStore, str]
) -> None:
    cli = cli_on
    store, url = petstore
    added = cli.ok(
        "sources", "add", f"{url}/openapi.json", "--slug", "petstore", "--base-url", f"{url}/v1"
    )
    created = cli.ok("connections", "create", "petstore", "--secret-stdin", input=store.api_key)
    store.pets[7] = {"id": 7, "name": "Rex", "tag": "dog"}

    listed = cli.run("call", "petstore", "pets", "list_pets", "--arg", "limit=5")
    paused = cli.run("call", CREATE, '{"name": "Io"}')
    command = paused.stdout.strip().splitlines()[-2].strip()
    resumed = cli.run(*command.split()[1:])

    assert "5 tools" in added.stdout
    assert "petstore.default" in created.stdout
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [{"id": 7, "name": "Rex", "tag": "dog"}]
    assert paused.returncode == 3, paused.stderr
    assert command.startswith("executor resume --execution-id ")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["name"] == "Io"
    assert [pet["name"] for pet in store.pets.values()] == ["Rex", "Io"]
    outputs = [added, created, listed, paused, resumed]
    assert not any(store.api_key in done.stdout + done.stderr for done in outputs)


async def test_json_output_of_a_paused_call_names_the_resume_command(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    add_petstore(cli, url, store)

    paused = cli.run("call", CREATE, "--arg", "name=Io", "--json")
    answer = json.loads(paused.stdout)
    declined = cli.run("resume", "--execution-id", answer["execution_id"], "--action", "decline")
    runs = cli.json("runs", "list")

    assert paused.returncode == 3
    assert answer["status"] == "paused"
    assert answer["pending"]["address"] == CREATE
    assert (
        answer["resume"]
        == f"executor resume --execution-id {answer['execution_id']} --action accept"
    )
    assert declined.returncode == 1
    assert "declined" in declined.stderr
    assert store.pets == {}
    assert runs[0]["id"] == answer["execution_id"]


async def test_a_daemon_killed_with_sigkill_is_replaced_and_paused_runs_survive(
    cli_on: Cli, petstore: tuple[PetStore, str]
) -> None:
    cli = cli_on
    store, url = petstore
    add_petstore(cli, url, store)
    paused = json.loads(cli.run("call", CREATE, '{"name": "Io"}', "--json").stdout)
    killed = cli.manifest()

    os.kill(killed.pid, signal.SIGKILL)
    status = cli.run("daemon", "status")
    resumed = cli.run("resume", "--execution-id", paused["execution_id"])
    replacement = cli.manifest()

    assert status.returncode == 4
    assert "Not running" in status.stdout
    assert resumed.returncode == 0, resumed.stderr
    assert replacement.pid != killed.pid
    assert [pet["name"] for pet in store.pets.values()] == ["Io"]


async def test_daemon_stop_is_graceful_and_paused_runs_resume_after_the_next_start(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    add_petstore(cli, url, store)
    paused = json.loads(cli.run("call", CREATE, '{"name": "Io"}', "--json").stdout)
    first = cli.manifest()

    stopped = cli.ok("daemon", "stop")
    manifest_gone = not (cli.data_dir / "daemon.json").exists()
    resumed = cli.run("resume", "--execution-id", paused["execution_id"])

    assert f"pid {first.pid}" in stopped.stdout
    assert manifest_gone
    assert resumed.returncode == 0, resumed.stderr
    assert "shutdown" in (cli.data_dir / "daemon.log").read_text().lower()
    assert [pet["name"] for pet in store.pets.values()] == ["Io"]


def test_concurrent_first_calls_elect_exactly_one_daemon(cli: Cli) -> None:
    import subprocess

    from tests.cli.conftest import EXECUTABLE

    processes = [
        subprocess.Popen(
            [EXECUTABLE, "sources", "list", "--json"],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(process.wait(120), *process.communicate()) for process in processes]
    log = (cli.data_dir / "daemon.log").read_text()

    assert [code for code, _, _ in results] == [0, 0, 0, 0], results
    assert all(json.loads(out) == [] for _, out, _ in results)
    assert log.count("serving http://") == 1, log


def test_a_taken_port_makes_the_daemon_pick_a_free_one_and_record_it(cli: Cli) -> None:
    taken = int(cli.env["EXECUTOR_PORT"])
    with socket.socket() as other:
        other.bind(("127.0.0.1", taken))
        other.listen(1)
        cli.ok("sources", "list")
        manifest = cli.manifest()
        status = cli.json("daemon", "status")

    assert manifest.port != taken
    assert status["manifest"]["port"] == manifest.port
    assert status["healthy"] is True


def test_a_stale_manifest_of_a_dead_daemon_is_replaced(cli: Cli) -> None:
    cli.data_dir.mkdir(parents=True)
    (cli.data_dir / "daemon.json").write_text(
        json.dumps(
            {
                "pid": 999999,
                "host": "127.0.0.1",
                "port": 9,
                "started_at": "2020-01-01T00:00:00+00:00",
                "version": "0.0.1",
                "log": "x",
            }
        )
    )

    cli.ok("policies", "list")

    manifest = cli.manifest()
    assert manifest.pid != 999999
    assert manifest.port != 9
