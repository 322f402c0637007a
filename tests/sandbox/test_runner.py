"""The sandbox runner against real Monty workers: runs, host calls, errors, pauses and resumes."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from executor.errors import CodeError, InternalError, LimitExceededError, SnapshotIncompatibleError
from executor.sandbox import (
    Completed,
    Failed,
    Pause,
    Paused,
    Sandbox,
    SandboxCall,
    SandboxLimits,
    ToolSpec,
)
from executor.sandbox.runner import STATE_MAGIC, pack_state

ROOT = Path(__file__).resolve().parents[2]

PETS = [
    ToolSpec(
        path=("petstore", "default", "pets", "list_pets"),
        address="petstore.default.pets.list_pets",
        input_schema={
            "type": "object",
            "properties": {"limit": {"type": "integer"}, "tag": {"type": "string"}},
        },
        summary="List pets",
    ),
    ToolSpec(
        path=("petstore", "default", "pets", "create_pet"),
        address="petstore.default.pets.create_pet",
        input_schema={
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "age": {"type": ["integer", "null"]}},
        },
        summary="Create a pet",
    ),
]

CODE_WITH_APPROVAL = """\
pets = tools.petstore.default.pets.list_pets(limit=2)
print("listed", len(pets["data"]))
created = tools.petstore.default.pets.create_pet(name="Rex")
if created["ok"]:
    outcome = "created " + created["data"]["name"]
else:
    outcome = "refused: " + created["error"]["code"]
print(outcome)
{"pets": pets["data"], "outcome": outcome}
"""


class Recorder:
    """A handler that answers every call from a table and remembers the calls."""

    def __init__(self, pause_on: str | None = None) -> None:
        self.calls: list[SandboxCall] = []
        self.pause_on = pause_on

    async def __call__(self, call: SandboxCall) -> Any:
        self.calls.append(call)
        if self.pause_on is not None and call.address == self.pause_on:
            return Pause("needs approval")
        if call.kind == "search":
            return {"ok": True, "data": [{"address": "petstore.default.pets.list_pets"}]}
        if call.kind == "describe":
            return {"ok": True, "data": {"address": call.arguments["address"]}}
        if call.address == "petstore.default.pets.list_pets":
            return {
                "ok": True,
                "data": [{"name": "Tom"}, {"name": "Kit"}][: call.arguments["limit"]],
            }
        return {"ok": True, "data": dict(call.arguments)}


PAUSE_ON_CREATE = Recorder("petstore.default.pets.create_pet")


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    box = Sandbox()
    try:
        yield box
    finally:
        await box.aclose()


def limited(**changes: Any) -> Sandbox:
    return Sandbox(SandboxLimits(**changes))


async def test_code_prints_to_logs_and_returns_its_last_expression(sandbox: Sandbox) -> None:
    outcome = await sandbox.run('print("hello")\nx = 20\nx + 22\n', [], Recorder())
    assert outcome == Completed(result=42, logs="hello\n", tool_calls=0)


async def test_tool_calls_are_answered_by_the_handler(sandbox: Sandbox) -> None:
    handler = Recorder()
    code = 'r = tools.petstore.default.pets.list_pets(limit=1)\nr["data"][0]["name"]'
    outcome = await sandbox.run(code, PETS, handler)
    assert outcome == Completed(result="Tom", logs="", tool_calls=1)
    assert handler.calls == [
        SandboxCall("tool", "petstore.default.pets.list_pets", {"limit": 1}, 1)
    ]


async def test_search_and_describe_reach_the_handler(sandbox: Sandbox) -> None:
    handler = Recorder()
    code = (
        'hits = tools.search("list pets")\n'
        'first = hits["data"][0]["address"]\n'
        "tools.describe(first)['data']['address']\n"
    )
    outcome = await sandbox.run(code, [], handler)
    assert isinstance(outcome, Completed), outcome
    assert outcome.result == "petstore.default.pets.list_pets"
    assert [(c.kind, c.arguments, c.line) for c in handler.calls] == [
        ("search", {"query": "list pets", "limit": 10}, 1),
        ("describe", {"address": "petstore.default.pets.list_pets"}, 3),
    ]


async def test_error_envelope_is_a_plain_value_the_code_can_check(sandbox: Sandbox) -> None:
    async def refuse(call: SandboxCall) -> Any:
        return {"ok": False, "error": {"code": "tool_blocked", "message": "blocked"}}

    code = 'r = tools.petstore.default.pets.list_pets()\n"fallback" if not r["ok"] else "?"'
    outcome = await sandbox.run(code, PETS, refuse)
    assert isinstance(outcome, Completed) and outcome.result == "fallback"


@pytest.mark.parametrize(
    ("code", "line", "column"),
    [
        ('x = 1\ntools.petstore.default.pets.list_pets(limit="five")', 2, 39),
        ("tools.petstore.default.pets.create_pet()", 1, 1),
        ("tools.petstore.default.pets.create_pet(nam='Rex')", 1, 1),
        ("tools.petstore.default.pets.list_pets(5)", 1, 39),
        ("tools.petstore.default.pets.delete_everything()", 1, 1),
    ],
)
async def test_wrong_arguments_fail_with_line_and_column_before_any_tool_runs(
    sandbox: Sandbox, code: str, line: int, column: int
) -> None:
    handler = Recorder()
    outcome = await sandbox.run(code, PETS, handler)
    assert isinstance(outcome, Failed), outcome
    assert isinstance(outcome.error, CodeError)
    assert outcome.error.details["line"] == line
    assert outcome.error.details["column"] == column
    assert f"line {line}" in outcome.error.message
    assert handler.calls == []


async def test_a_dict_built_in_a_variable_passes_the_type_check(sandbox: Sandbox) -> None:
    handler = Recorder()
    code = 'args = {"name": "Rex"}\ntools.petstore.default.pets.create_pet(**args, age=None)'
    outcome = await sandbox.run(code, PETS, handler)
    assert isinstance(outcome, Completed), outcome


async def test_uncaught_exception_reports_type_message_line_and_traceback(
    sandbox: Sandbox,
) -> None:
    code = "def check(n):\n    raise ValueError(f'bad {n}')\n\ncheck(3)\n"
    outcome = await sandbox.run(code, [], Recorder())
    assert isinstance(outcome, Failed) and isinstance(outcome.error, CodeError)
    assert outcome.error.message.startswith("ValueError at line 2")
    assert "bad 3" in outcome.error.message
    assert outcome.error.details["exception"] == "ValueError"
    assert 'File "<python-input-1>", line 4' in outcome.error.details["traceback"]


async def test_syntax_error_is_a_code_error_with_position(sandbox: Sandbox) -> None:
    outcome = await sandbox.run("x = (1 +\n", [], Recorder())
    assert isinstance(outcome, Failed) and isinstance(outcome.error, CodeError)
    assert "line" in outcome.error.details


async def test_code_cannot_reach_files_environment_or_host_modules(sandbox: Sandbox) -> None:
    for code in ['open("/etc/passwd").read()', 'import os\nos.getenv("HOME")', "import socket"]:
        outcome = await sandbox.run(code, [], Recorder())
        assert isinstance(outcome, Failed), (code, outcome)
        assert isinstance(outcome.error, CodeError), (code, outcome.error)


async def test_time_limit_stops_an_endless_loop_with_a_clear_error() -> None:
    box = limited(wall_time=0.3)
    try:
        with anyio.fail_after(10):
            outcome = await box.run("while True:\n    pass\n", [], Recorder())
    finally:
        await box.aclose()
    assert isinstance(outcome, Failed) and isinstance(outcome.error, LimitExceededError)
    assert "longer than 0.3 s" in outcome.error.message


async def test_memory_limit_stops_a_memory_bomb() -> None:
    box = limited(memory_bytes=32 * 2**20)
    try:
        outcome = await box.run("x = 'a' * (100 * 2**20)\n", [], Recorder())
    finally:
        await box.aclose()
    assert isinstance(outcome, Failed) and isinstance(outcome.error, LimitExceededError)
    assert "memory limit of 32 MB" in outcome.error.message


async def test_recursion_limit_stops_deep_recursion() -> None:
    box = limited(max_recursion_depth=50)
    try:
        outcome = await box.run("def f(n):\n    return f(n + 1)\nf(0)\n", [], Recorder())
    finally:
        await box.aclose()
    assert isinstance(outcome, Failed) and isinstance(outcome.error, LimitExceededError)
    assert "recursion limit of 50" in outcome.error.message


async def test_tool_call_limit_counts_across_pauses() -> None:
    box = limited(max_tool_calls=5)
    code = "for i in range(10):\n    tools.petstore.default.pets.list_pets(limit=1)\n"
    try:
        handler = Recorder()
        outcome = await box.run(code, PETS, handler)
        assert isinstance(outcome, Failed) and isinstance(outcome.error, LimitExceededError)
        assert outcome.error.message.startswith("Tool call limit of 5 reached")
        assert len(handler.calls) == 5 and outcome.tool_calls == 5

        pausing = Recorder(pause_on="petstore.default.pets.list_pets")
        paused = await box.run(code, PETS, pausing)
        assert isinstance(paused, Paused) and paused.tool_calls == 1
        resumed = await box.resume(
            code,
            PETS,
            paused.state,
            {"ok": True, "data": []},
            Recorder(),
            tool_calls=paused.tool_calls,
        )
    finally:
        await box.aclose()
    assert isinstance(resumed, Failed) and isinstance(resumed.error, LimitExceededError)
    assert resumed.tool_calls == 5


async def test_output_limit_caps_printed_logs() -> None:
    box = limited(max_output_bytes=10_000)
    try:
        flood = await box.run("for i in range(100000):\n    print('spam')\n", [], Recorder())
        big = await box.run("'x' * 20000", [], Recorder())
        fits = await box.run("print('ok')\n'x' * 100", [], Recorder())
    finally:
        await box.aclose()
    for outcome in (flood, big):
        assert isinstance(outcome, Failed) and isinstance(outcome.error, LimitExceededError)
        assert "Output limit of 10,000 bytes" in outcome.error.message
    assert isinstance(fits, Completed)


async def test_paused_run_resumes_with_the_answer_to_its_pending_call(sandbox: Sandbox) -> None:
    handler = Recorder(pause_on="petstore.default.pets.create_pet")
    paused = await sandbox.run(CODE_WITH_APPROVAL, PETS, handler)
    assert isinstance(paused, Paused), paused
    assert paused.call == SandboxCall(
        "tool", "petstore.default.pets.create_pet", {"name": "Rex"}, 3
    )
    assert paused.logs == "listed 2\n" and paused.tool_calls == 2
    assert paused.state.startswith(STATE_MAGIC)

    declined = {"ok": False, "error": {"code": "approval_declined", "message": "no"}}
    outcome = await sandbox.resume(
        CODE_WITH_APPROVAL,
        PETS,
        paused.state,
        declined,
        Recorder(),
        logs=paused.logs,
        tool_calls=paused.tool_calls,
    )
    assert isinstance(outcome, Completed), outcome
    assert outcome.result["outcome"] == "refused: approval_declined"
    assert outcome.logs == "listed 2\nrefused: approval_declined\n"
    assert outcome.tool_calls == 2


async def test_a_run_paused_in_another_process_resumes_here(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    state_file = tmp_path / "state.bin"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await anyio.run_process(
        [sys.executable, "-m", "tests.sandbox._pause_child", str(state_file)],
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert child.returncode == 0, child.stderr.decode()
    approved = {"ok": True, "data": {"name": "Rex"}}
    outcome = await sandbox.resume(
        CODE_WITH_APPROVAL,
        PETS,
        state_file.read_bytes(),
        approved,
        Recorder(),
        logs=state_file.with_suffix(".logs").read_text(),
        tool_calls=2,
    )
    assert isinstance(outcome, Completed), outcome
    assert outcome.result == {"pets": [], "outcome": "created Rex"}
    assert outcome.logs.endswith("created Rex\n")


async def test_snapshot_from_another_monty_version_fails_clearly(sandbox: Sandbox) -> None:
    paused = await sandbox.run(
        CODE_WITH_APPROVAL, PETS, Recorder("petstore.default.pets.create_pet")
    )
    assert isinstance(paused, Paused)
    dump = paused.state[paused.state.index(b"1.4.0") + len(b"1.4.0") :]
    foreign = STATE_MAGIC + bytes([1, 5]) + b"0.9.9" + dump
    outcome = await sandbox.resume(CODE_WITH_APPROVAL, PETS, foreign, {"ok": True}, Recorder())
    assert isinstance(outcome, Failed) and isinstance(outcome.error, SnapshotIncompatibleError)
    assert "Monty 0.9.9" in outcome.error.message


@pytest.mark.parametrize(
    "damage",
    [
        lambda state: state[: len(state) // 2],
        lambda state: state[:9] + b"\x07" + state[10:],
        lambda state: b"not a snapshot at all",
        lambda state: pack_state(b"garbage"),
    ],
)
async def test_corrupt_snapshot_fails_clearly_and_the_sandbox_keeps_serving(
    sandbox: Sandbox, damage: Any
) -> None:
    # Monty does not authenticate dumps: flipped bytes inside one may still load. Integrity is
    # the sealing layer's job (snapshots.py); here, what Monty rejects must not crash anything.
    paused = await sandbox.run(
        CODE_WITH_APPROVAL, PETS, Recorder("petstore.default.pets.create_pet")
    )
    assert isinstance(paused, Paused)
    outcome = await sandbox.resume(
        CODE_WITH_APPROVAL, PETS, damage(paused.state), {"ok": True}, Recorder()
    )
    assert isinstance(outcome, Failed) and isinstance(outcome.error, SnapshotIncompatibleError)
    assert await sandbox.run("1 + 1", [], Recorder()) == Completed(2, "", 0)


def _monty_workers() -> list[int]:
    """Worker processes this test process started (children whose command is the monty binary)."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == me and b"monty" in cmdline:
            found.append(int(entry.name))
    return found


async def test_a_killed_worker_fails_the_run_and_the_pool_recovers(sandbox: Sandbox) -> None:
    async def kill_workers(call: SandboxCall) -> Any:
        for pid in _monty_workers():
            os.kill(pid, signal.SIGKILL)
        return {"ok": True, "data": []}

    code = "tools.petstore.default.pets.list_pets(limit=1)\n'unreachable'"
    outcome = await sandbox.run(code, PETS, kill_workers)
    assert isinstance(outcome, Failed) and isinstance(outcome.error, InternalError), outcome
    assert "worker crashed" in outcome.error.message
    assert await sandbox.run("6 * 7", [], Recorder()) == Completed(42, "", 0)


async def test_many_concurrent_runs_with_slow_tools_all_complete(sandbox: Sandbox) -> None:
    release = anyio.Event()
    started = 0

    async def slow(call: SandboxCall) -> Any:
        nonlocal started
        started += 1
        if started == 12:
            release.set()
        await release.wait()
        return {"ok": True, "data": call.arguments["limit"]}

    results: dict[int, Any] = {}

    async def one(i: int) -> None:
        code = f"tools.petstore.default.pets.list_pets(limit={i})['data']"
        results[i] = await sandbox.run(code, PETS, slow)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tasks:
            for i in range(12):
                tasks.start_soon(one, i)
    assert results == {i: Completed(i, "", 1) for i in range(12)}


async def _warmed(sandbox: Sandbox) -> None:
    """Run once so a warm session for PETS is prepared, and wait until it is."""
    await sandbox.run("tools.petstore.default.pets.list_pets(limit=1)", PETS, Recorder())
    await anyio.to_thread.run_sync(sandbox.settle_warm)
    assert sandbox.warm_sessions() == 1


async def test_a_warm_session_never_carries_one_runs_names_into_the_next(
    sandbox: Sandbox,
) -> None:
    await _warmed(sandbox)
    code = "secret = 'from the first run'\ntools.petstore.default.pets.list_pets(limit=1)['ok']"
    assert (await sandbox.run(code, PETS, Recorder())).result is True
    await anyio.to_thread.run_sync(sandbox.settle_warm)
    later = await sandbox.run(
        "tools.petstore.default.pets.list_pets(limit=1)\nsecret", PETS, Recorder()
    )
    # The checker (or, without it, a NameError) says the name is not defined.
    assert isinstance(later, Failed) and "`secret` used when not defined" in later.error.message


async def test_a_warm_session_still_type_checks_before_any_tool_runs(sandbox: Sandbox) -> None:
    await _warmed(sandbox)
    recorder = Recorder()
    code = (
        "tools.petstore.default.pets.list_pets(limit=1)\ntools.petstore.default.pets.create_pet()"
    )
    outcome = await sandbox.run(code, PETS, recorder)
    assert isinstance(outcome, Failed) and outcome.error.details.get("line") == 2, outcome
    assert recorder.calls == []


async def test_a_warm_session_whose_worker_died_is_replaced_transparently(
    sandbox: Sandbox,
) -> None:
    await _warmed(sandbox)
    ((_, session, _),) = sandbox._warm.values()
    assert session.worker_pid in _monty_workers()
    os.kill(session.worker_pid, signal.SIGKILL)
    code = "tools.petstore.default.pets.list_pets(limit=3)['ok']"
    assert await sandbox.run(code, PETS, Recorder()) == Completed(True, "", 1)


async def test_code_that_passed_the_check_runs_again_without_a_session_to_spare(
    sandbox: Sandbox,
) -> None:
    code = "tools.petstore.default.pets.list_pets(limit=2)['ok']"
    assert await sandbox.run(code, PETS, Recorder()) == Completed(True, "", 1)
    await anyio.to_thread.run_sync(sandbox.settle_warm)
    # The verdict is remembered: the same code does not take the type-checked warm session.
    assert await sandbox.run(code, PETS, Recorder()) == Completed(True, "", 1)
    assert sandbox.warm_sessions(checked=True) == 1
    # Other code against the same tools is checked (in the warm session).
    wrong = "tools.petstore.default.pets.list_pets(limit='two')"
    outcome = await sandbox.run(wrong, PETS, Recorder())
    assert isinstance(outcome, Failed) and outcome.error.details.get("line") == 1, outcome


async def test_code_that_passed_the_check_runs_in_a_warm_unchecked_session(
    sandbox: Sandbox,
) -> None:
    code = "tools.petstore.default.pets.list_pets(limit=2)['data']"
    two_pets = Completed([{"name": "Tom"}, {"name": "Kit"}], "", 1)
    assert await sandbox.run(code, PETS, Recorder()) == two_pets
    assert await sandbox.run(code, PETS, Recorder()) == two_pets
    await anyio.to_thread.run_sync(sandbox.settle_warm)
    # Once code has passed, an unchecked session with its prelude run is kept for it.
    assert sandbox.warm_sessions(checked=False) == 1
    (ready,) = [entry[1] for key, entry in sandbox._warm.items() if key[1] is False]
    assert await sandbox.run(code, PETS, Recorder()) == two_pets
    assert all(entry[1] is not ready for entry in sandbox._warm.values())  # it was taken


async def test_sessions_start_from_the_preludes_state_and_never_from_a_runs() -> None:
    """After the first prelude, fresh sessions load the state it left (``import tools`` done)
    instead of running it again: tools still work, and a run's own names never carry over."""
    box = Sandbox(type_check=False)
    try:
        code = "secret = 'from the first run'\ntools.petstore.default.pets.list_pets(limit=1)"
        assert (await box.run(code, PETS, Recorder())).result == {
            "ok": True,
            "data": [{"name": "Tom"}],
        }
        assert len(box._preludes) == 1
        for _ in range(3):
            later = await box.run(
                "tools.petstore.default.pets.list_pets(limit=2)['data']\nsecret", PETS, Recorder()
            )
            assert isinstance(later, Failed) and "NameError" in later.error.message, later
        assert len(box._preludes) == 1
    finally:
        await box.aclose()


async def test_more_runs_waiting_on_tools_than_workers_finish_without_deadlock() -> None:
    """Every worker held by a run waiting on its tool, more runs blocked checking out: the
    held runs' next steps must still get threads, or no worker is ever freed."""
    box = Sandbox(workers=1, max_workers=2)
    try:
        all_held, release, waiting = anyio.Event(), anyio.Event(), 0

        async def slow(call: SandboxCall) -> Any:
            nonlocal waiting
            waiting += 1
            if waiting == box.max_sessions:
                all_held.set()
            await release.wait()
            return {"ok": True, "data": call.arguments["limit"]}

        results: dict[int, Any] = {}

        async def one(i: int) -> None:
            code = f"tools.petstore.default.pets.list_pets(limit={i})['data']"
            results[i] = await box.run(code, PETS, slow)

        runs = box.max_sessions + 5
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                for i in range(runs):
                    tasks.start_soon(one, i)
                await all_held.wait()
                release.set()
        assert results == {i: Completed(i, "", 1) for i in range(runs)}
    finally:
        await box.aclose()


async def test_warm_sessions_never_take_a_worker_a_run_is_waiting_for() -> None:
    box = Sandbox(workers=1, max_workers=3)
    try:
        await _warmed(box)
        gate, arrived = anyio.Event(), 0

        async def all_at_once(call: SandboxCall) -> Any:
            nonlocal arrived
            arrived += 1
            if arrived == 3:
                gate.set()
            await gate.wait()
            return {"ok": True, "data": []}

        code = "tools.petstore.default.pets.list_pets(limit=1)['ok']"
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                for i in range(3):
                    tasks.start_soon(box.run, f"{code}\n{i}", PETS, all_at_once)
        assert arrived == 3
    finally:
        await box.aclose()
