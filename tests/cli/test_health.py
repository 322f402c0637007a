"""Connection health through the CLI: a call the API refuses shows in ``connections list`` and
fails ``doctor`` with the command that fixes it; a later successful call clears it."""

from __future__ import annotations

import json
from typing import Any

from tests.cli.conftest import Cli
from tests.servers.petstore import PetStore

WRONG_KEY = "a-key-the-store-does-not-know"


def _check(report: dict[str, Any], name: str) -> dict[str, str]:
    (check,) = [check for check in report["checks"] if check["check"] == name]
    return check


def test_doctor_fails_a_connection_whose_calls_are_refused_until_one_succeeds(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    cli.ok("sources", "add", f"{url}/openapi.json", "--slug", "petstore", "--base-url", f"{url}/v1")
    cli.ok("connections", "create", "petstore", "--secret-stdin", input=WRONG_KEY)

    refused = cli.run("call", "petstore.pets.list_pets")
    doctor = cli.run("doctor", "--json")
    listed = cli.ok("connections", "list").stdout
    store.api_key = WRONG_KEY  # the store now accepts the connection's key
    accepted = cli.run("call", "petstore.pets.list_pets")
    healthy = cli.json("doctor")

    assert refused.returncode == 1 and "HTTP 401" in refused.stderr
    assert doctor.returncode == 1
    failed = _check(json.loads(doctor.stdout), "petstore.default")
    assert failed["status"] == "failed"
    assert failed["detail"].startswith("needs_auth: ") and "HTTP 401" in failed["detail"]
    assert "executor connections create petstore default" in failed["fix"]
    assert "needs_auth: " in listed
    assert WRONG_KEY not in doctor.stdout + listed
    assert accepted.returncode == 0, accepted.stderr
    assert healthy["ok"] is True
    assert _check(healthy, "petstore.default")["detail"].startswith("ok")
