"""The rest of the command tree: fast start, browsing, service files, completion, web, MCP,
doctor, and a reference in the docs that matches the real --help."""

from __future__ import annotations

import json
import plistlib
import subprocess
import sys
from pathlib import Path

from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from executor.cli import daemon
from executor.cli.reference import render
from tests.cli.conftest import EXECUTABLE, Cli, add_petstore
from tests.servers.petstore import PetStore

ROOT = Path(__file__).resolve().parents[2]
#: What the CLI's fast paths must never import.
HEAVY = (
    "executor.core",
    "executor.server",
    "mcp",
    "sqlalchemy",
    "starlette",
    "uvicorn",
    "rich",
    "httpx2",
    "pydantic_monty",
)
_MODULES_AFTER = """
import json, sys
from executor.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _modules_after(cli: Cli, *args: str) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER, *args],
        capture_output=True,
        text=True,
        env=cli.env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), done.stdout


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_version_help_and_a_call_to_a_running_daemon_import_nothing_heavy(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    add_petstore(cli, url, store)

    version = _modules_after(cli, "--version")
    call = _modules_after(cli, "call", "petstore.pets.list_pets", "--arg", "limit=1")
    help_run = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER, "--help"],
        capture_output=True,
        text=True,
        env=cli.env,
    )

    assert version[0] == 0 and version[2].startswith("executor ")
    assert _heavy(version[1]) == []
    assert call[0] == 0 and json.loads(call[2]) == []
    assert _heavy(call[1]) == []
    assert "usage: executor" in help_run.stdout
    assert "sqlalchemy" not in help_run.stderr and "starlette" not in help_run.stderr


def test_call_help_browses_namespaces_and_describes_a_tool(
    cli: Cli, petstore: tuple[PetStore, str]
) -> None:
    store, url = petstore
    add_petstore(cli, url, store)

    top = cli.json("call", "--help")
    pets = cli.json("call", "petstore", "pets", "--help", "--match", "list")
    limited = cli.json("call", "petstore.default.pets", "--help", "--limit", "2")
    tool = cli.json("call", "petstore", "pets", "create_pet", "--help")
    shown = cli.ok("call", "petstore.pets.create_pet", "--help").stdout

    assert top["namespaces"] == [{"path": "petstore", "tools": 5}]
    assert [t["address"] for t in pets["tools"]] == ["petstore.default.pets.list_pets"]
    assert len(limited["tools"]) == 2 and limited["more"] == 2
    assert tool["address"] == "petstore.default.pets.create_pet"
    assert {p["name"]: p["required"] for p in tool["parameters"]} == {"name": True, "tag": False}
    assert "require_approval" in shown and "name" in shown


def test_sources_tools_policies_and_runs_listings(cli: Cli, petstore: tuple[PetStore, str]) -> None:
    store, url = petstore
    add_petstore(cli, url, store)

    policy = cli.json("policies", "set", "petstore.*.pets.create_pet", "allow")
    created = cli.run("call", "petstore.pets.create_pet", "--arg", "name=Io")
    found = cli.json("tools", "search", "add a pet")
    sources = cli.json("sources", "list")
    described = cli.json("tools", "describe", "petstore.default.pets.create_pet")
    runs = cli.json("runs", "list")
    run = cli.json("runs", "show", runs[0]["id"])
    cli.ok("policies", "remove", policy["id"])
    human = cli.ok("sources", "list").stdout

    assert created.returncode == 0, created.stderr
    assert found["hits"][0]["tool"]["address"] == "petstore.default.pets.create_pet"
    assert [s["slug"] for s in sources] == ["petstore"]
    assert described["policy"] == "allow"
    assert run["calls"][0]["address"] == "petstore.default.pets.create_pet"
    assert cli.json("policies", "list") == []
    assert "petstore" in human and "5" in human


def test_install_writes_a_systemd_user_unit_without_needing_systemd(
    cli: Cli, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    env = {"XDG_CONFIG_HOME": str(config), "HOME": str(tmp_path), "PATH": str(tmp_path / "bin")}

    installed = cli.run("install", "--manager", "systemd", **env)
    unit = (config / "systemd" / "user" / "executor.service").read_text()
    removed = cli.run("uninstall", "--manager", "systemd", **env)

    assert installed.returncode == 0, installed.stderr
    assert f"wrote {config}/systemd/user/executor.service" in installed.stdout
    assert "systemd was not found" in installed.stdout
    assert f"ExecStart={sys.executable} -m executor.cli daemon run" in unit
    assert f"Environment=EXECUTOR_DATA_DIR={cli.data_dir}" in unit
    assert "WantedBy=default.target" in unit
    assert removed.returncode == 0
    assert not (config / "systemd" / "user" / "executor.service").exists()


def test_install_writes_a_launchd_agent(cli: Cli, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": str(tmp_path / "bin")}

    installed = cli.run("install", "--manager", "launchd", "--json", **env)
    path = tmp_path / "Library" / "LaunchAgents" / "dev.executor.daemon.plist"
    agent = plistlib.loads(path.read_bytes())

    assert json.loads(installed.stdout)["path"] == str(path)
    assert agent["ProgramArguments"] == [sys.executable, "-m", "executor.cli", "daemon", "run"]
    assert agent["EnvironmentVariables"]["EXECUTOR_DATA_DIR"] == str(cli.data_dir)
    assert agent["RunAtLoad"] is True
    assert agent["StandardErrorPath"] == str(cli.data_dir / "daemon.log")


def test_bash_completion_completes_commands_and_options(cli: Cli) -> None:
    script = cli.ok("completion", "bash").stdout
    show = '_executor_complete; echo "${COMPREPLY[@]}"\n'
    probe = (
        f"{script}\n"
        f"COMP_WORDS=(executor sou); COMP_CWORD=1; {show}"
        f"COMP_WORDS=(executor sources a); COMP_CWORD=2; {show}"
        f"COMP_WORDS=(executor call --ma); COMP_CWORD=2; {show}"
    )

    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)

    assert done.stdout.splitlines() == ["sources", "add", "--match"], done.stderr


def test_web_prints_the_token_link_without_opening_a_browser(cli: Cli) -> None:
    opened = cli.ok("web", "--no-open")
    token = (cli.data_dir / "token").read_text().strip()
    port = cli.manifest().port

    assert f"http://127.0.0.1:{port}/?token={token}" in opened.stdout


def test_doctor_reports_a_healthy_setup(cli: Cli, petstore: tuple[PetStore, str]) -> None:
    store, url = petstore
    add_petstore(cli, url, store)

    report = cli.json("doctor")

    statuses = {check["check"]: check["status"] for check in report["checks"]}
    assert report["ok"] is True
    assert statuses["daemon"] == "ok"
    assert statuses["database"] == "ok"
    assert statuses["secret.key"] == "ok"
    assert statuses["petstore.default"] == "ok"


async def test_mcp_over_stdio_reaches_the_daemon(cli: Cli, petstore: tuple[PetStore, str]) -> None:
    store, url = petstore
    add_petstore(cli, url, store)
    daemon_pid = cli.manifest().pid
    parameters = StdioServerParameters(command=EXECUTABLE, args=["mcp"], env=cli.env)

    async with Client(parameters) as client:
        tools = (await client.list_tools()).tools
        result = await client.call_tool(
            "execute", {"code": "tools.petstore.default.pets.list_pets(limit=1)"}
        )

    assert {"execute", "search", "describe", "resume"} <= {tool.name for tool in tools}
    assert result.is_error is False
    assert cli.manifest().pid == daemon_pid  # the same daemon served it


def test_docs_reference_matches_the_real_help() -> None:
    page = (ROOT / "docs" / "cli.md").read_text()

    assert page == render(page), "run: python -m executor.cli.reference docs/cli.md"


async def test_mcp_in_process_serves_without_starting_a_daemon(cli: Cli) -> None:
    parameters = StdioServerParameters(
        command=EXECUTABLE, args=["mcp", "--in-process"], env=cli.env
    )

    async with Client(parameters) as client:
        tools = (await client.list_tools()).tools

    assert "execute" in {tool.name for tool in tools}
    assert daemon.lock_holder(cli.data_dir) is None
    assert daemon.read_manifest(cli.data_dir) is None
