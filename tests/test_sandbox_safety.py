"""Escape attempts through ``ex.execute``: every one fails cleanly and the Executor keeps serving.

Each attempt must end ``failed`` with a clear error (or complete having reached nothing of the
host), must not leak a file, a host object or a credential into the execution's result, logs,
error or run record, and must leave the Executor able to run ``1+1`` straight after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from executor import Executor
from executor.models import ApprovalRequest, Execution
from executor.sandbox import SandboxLimits
from tests.conftest import Database
from tests.servers.petstore import PetStore

LIST = "tools.petstore.work.pets.list_pets"
CREATE = "tools.petstore.work.pets.create_pet"
DIAGNOSE = "tools.petstore.work.admin.diagnose"

#: Small limits so every limit test ends in about a second or less.
LIMITS = SandboxLimits(
    wall_time=1.0,
    memory_bytes=64 * 2**20,
    max_tool_calls=25,
    max_output_bytes=100_000,
    max_recursion_depth=100,
)

#: Text that only shows up when a host object, path or module escaped into the sandbox.
HOST_MARKERS = ("0x", "/work/", "site-packages", "src/executor", "pydantic_monty", "root:x:0:0")


async def _connect(ex: Executor, petstore: tuple[PetStore, str]) -> PetStore:
    store, url = petstore
    await ex.sources.add_openapi("petstore", f"{url}/openapi.json")
    await ex.connections.create(
        "petstore", "work", auth={"type": "api_key", "value": store.api_key}
    )
    return store


async def _assert_still_serving(ex: Executor) -> None:
    run = await ex.execute("1+1")
    assert (run.status, run.result) == ("completed", 2), run.error


def _assert_failed(run: Execution, code: str, *fragments: str) -> None:
    assert run.status == "failed", (run.status, run.result, run.logs[:500])
    assert run.error is not None and run.error["code"] == code, run.error
    for fragment in fragments:
        assert fragment in run.error["message"], run.error["message"]


def _assert_limit(run: Execution, limit: str) -> None:
    _assert_failed(run, "limit_exceeded")
    assert run.error is not None and run.error["details"]["limit"] == limit, run.error


def _assert_reached_nothing(run: Execution, *secrets: str) -> None:
    """Nothing of the host (paths, object addresses, modules, secrets) is in the run."""
    seen = repr((run.result, run.logs, run.error))
    for marker in (*HOST_MARKERS, *secrets):
        assert marker not in seen, f"{marker!r} escaped into {seen[:2000]}"


@pytest.fixture
async def limited(database: Database, data_dir: Path) -> AsyncIterator[Executor]:
    """An Executor on a fresh database with small sandbox limits."""
    async with Executor.open(
        **database.options(data_dir),
        sandbox_limits=LIMITS,
    ) as opened:
        yield opened


# --- files -----------------------------------------------------------------------------------

READERS = {
    "open": "open({path!r}).read()",
    "open-binary": "open({path!r}, 'rb').read()",
    "pathlib": "from pathlib import Path\nPath({path!r}).read_text()",
    "exec": 'exec("r = open({path!r}).read()")\nr',
}


@pytest.mark.parametrize(
    ("reader", "target"),
    [
        ("open", "/etc/passwd"),
        ("open", "secret.key"),
        ("open", "executor.db"),
        ("open", "sqlite-file"),
        *((reader, "secret.key") for reader in ("open-binary", "pathlib", "exec")),
        ("pathlib", "sqlite-file"),
    ],
)
async def test_code_cannot_read_host_files(
    ex: Executor, database: Database, data_dir: Path, reader: str, target: str
) -> None:
    path = {
        "secret.key": data_dir / "secret.key",
        "executor.db": data_dir / "executor.db",
        # Where the `database` fixture keeps SQLite (for PostgreSQL: a path that is not there).
        "sqlite-file": data_dir.parent / "executor.db",
    }.get(target, Path(target))
    run = await ex.execute(READERS[reader].format(path=str(path)))
    _assert_failed(run, "code_error", "PermissionError", str(path))
    assert (data_dir / "secret.key").is_file()
    key_text = (data_dir / "secret.key").read_text().strip()
    _assert_reached_nothing(run, key_text, "SQLite format")
    await _assert_still_serving(ex)


async def test_code_cannot_write_or_delete_host_files(ex: Executor, data_dir: Path) -> None:
    key_file = data_dir / "secret.key"
    before = key_file.read_bytes()
    victim = data_dir / "planted.txt"
    for code in (
        f"open({str(victim)!r}, 'w').write('x')",
        f"from pathlib import Path\nPath({str(victim)!r}).write_text('x')",
        f"import os\nos.remove({str(key_file)!r})",
        f"open({str(key_file)!r}, 'w').write('')",
    ):
        run = await ex.execute(code)
        _assert_failed(run, "code_error", "PermissionError")
    assert not victim.exists()
    assert key_file.read_bytes() == before
    await _assert_still_serving(ex)


# --- modules, eval and exec ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("import os\nos.listdir('/')", "PermissionError"),
        ("import os\nos.environ['HOME']", "'os.environ' is not supported"),
        ("import os\nos.getenv('EXECUTOR_DATA_DIR')", "'os.getenv' is not supported"),
        ("import os\nos.system('id')", "no attribute 'system'"),
        ("import subprocess\nsubprocess.run(['id'])", "No module named 'subprocess'"),
        ("import socket\nsocket.create_connection(('127.0.0.1', 22))", "No module named 'socket'"),
        ("import sys\nsys.modules['os']", "no attribute 'modules'"),
        ("import importlib\nimportlib.import_module('os')", "No module named 'importlib'"),
        ("import ctypes\nctypes.CDLL(None)", "No module named 'ctypes'"),
        ("import builtins\nbuiltins.open('/etc/passwd')", "No module named 'builtins'"),
        ("import executor", "No module named 'executor'"),
        ("__import__('os')", "name '__import__' is not defined"),
    ],
)
async def test_host_modules_cannot_be_imported(ex: Executor, code: str, says: str) -> None:
    run = await ex.execute(code)
    _assert_failed(run, "code_error", says)
    _assert_reached_nothing(run)
    await _assert_still_serving(ex)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("eval(\"__import__('os')\")", "name '__import__' is not defined"),
        ("eval(\"open('/etc/passwd').read()\")", "PermissionError"),
        ("exec('import os\\nr = os.listdir(\"/\")')", "PermissionError"),
        ("exec('import subprocess')", "No module named 'subprocess'"),
        ("compile('import os', '<x>', 'exec')", "name 'compile' is not defined"),
    ],
)
async def test_eval_exec_and_compile_stay_inside_the_sandbox(
    ex: Executor, code: str, says: str
) -> None:
    run = await ex.execute(code)
    _assert_failed(run, "code_error", says)
    _assert_reached_nothing(run)
    await _assert_still_serving(ex)


# --- host objects behind `tools`, and introspection ------------------------------------------


@pytest.mark.parametrize(
    ("code", "error", "says"),
    [
        # Attribute chains on `tools` are read as catalog paths and refused before running.
        ("tools.__class__", "tool_not_found", "No tool at '__class__'"),
        ("tools.__dict__", "tool_not_found", "No tool at '__dict__'"),
        ("tools.search.__globals__", "tool_not_found", "No tool at 'search.__globals__'"),
        ("tools.__class__.__subclasses__()", "tool_not_found", "__subclasses__"),
        ("getattr(tools, '__loader__')", "code_error", "no attribute '__loader__'"),
        ("getattr(tools.search, '__globals__')", "code_error", "no attribute '__globals__'"),
        ("getattr(tools.search, '__closure__')", "code_error", "no attribute '__closure__'"),
        ("dir(tools)", "code_error", "name 'dir' is not defined"),
        ("vars(tools)", "code_error", "name 'vars' is not defined"),
        # These complete, with nothing of the host in what they return.
        ("type(tools)", None, ""),
        ("[str(tools), repr(tools), repr(tools.search)]", None, ""),
        ("print(tools, tools.search, tools.describe)", None, ""),
    ],
)
async def test_tools_exposes_no_host_objects(
    ex: Executor, code: str, error: str | None, says: str
) -> None:
    run = await ex.execute(code)
    if error is None:
        assert run.status == "completed", run.error
    else:
        _assert_failed(run, error, says)
    _assert_reached_nothing(run)
    await _assert_still_serving(ex)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("().__class__.__bases__[0].__subclasses__()", "no attribute '__class__'"),
        ("object.__subclasses__()", "no attribute '__subclasses__'"),
        ("type(1).__mro__", "no attribute '__mro__'"),
        ("(lambda: 0).__globals__", "no attribute '__globals__'"),
        ("(lambda: 0).__code__", "no attribute '__code__'"),
        ("__builtins__", "name '__builtins__' is not defined"),
        ("import sys\nsys._getframe(0).f_back.f_globals", "no attribute '_getframe'"),
        (
            "try:\n    1 / 0\nexcept Exception as e:\n    e.__traceback__.tb_frame.f_globals",
            "no attribute '__traceback__'",
        ),
        ("'{0.__globals__}'.format(lambda: 0)", "no attribute '__globals__'"),
    ],
)
async def test_introspection_reaches_no_interpreter_internals(
    ex: Executor, code: str, says: str
) -> None:
    run = await ex.execute(code)
    _assert_failed(run, "code_error", says)
    _assert_reached_nothing(run)
    await _assert_still_serving(ex)


async def test_calling_an_undefined_name_raises_name_error_in_the_code(ex: Executor) -> None:
    run = await ex.execute("globals()")
    _assert_failed(run, "code_error", "NameError")
    assert (await ex.runs.get(run.id)).calls == ()


# --- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "while True:\n    pass",
        # Catching the time limit's error does not buy more time.
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        pass",
        # Nor does catching the recursion limit's error, over and over.
        "def f():\n    try:\n        return f()\n"
        "    except RecursionError:\n        return f()\nf()",
    ],
    ids=["endless-loop", "catching-the-timeout", "catching-recursion-errors"],
)
async def test_an_endless_loop_ends_at_the_time_limit(limited: Executor, code: str) -> None:
    run = await limited.execute(code)
    _assert_limit(run, "wall_time")
    assert "1 s" in run.error["message"]  # type: ignore[index]
    await _assert_still_serving(limited)


@pytest.mark.parametrize(
    "code",
    [
        "x = 'a' * 10**10",
        "x = [0] * 10**9",
        "x = b'a' * 10**10",
        "x = [0]\nwhile True:\n    x = x + x",
        "x = []\nwhile True:\n    x.append('a' * 10**5)",
        "x = {i: i for i in range(10**8)}",
        "while True:\n    try:\n        x = 'a' * 10**10\n    except MemoryError:\n        pass",
    ],
    ids=["str", "list", "bytes", "doubling", "appending", "dict", "catching-memory-errors"],
)
async def test_a_memory_bomb_ends_at_the_memory_limit(limited: Executor, code: str) -> None:
    run = await limited.execute(code)
    _assert_limit(run, "memory_bytes")
    assert "64 MB" in run.error["message"]  # type: ignore[index]
    await _assert_still_serving(limited)


@pytest.mark.parametrize(
    "code",
    [
        "def f(n):\n    return f(n + 1)\nf(0)",
        "def a(n):\n    return b(n)\ndef b(n):\n    return a(n)\na(0)",
        "f = lambda n: f(n + 1)\nf(0)",
    ],
    ids=["direct", "mutual", "lambda"],
)
async def test_deep_recursion_ends_at_the_recursion_limit(limited: Executor, code: str) -> None:
    run = await limited.execute(code)
    _assert_limit(run, "max_recursion_depth")
    await _assert_still_serving(limited)


@pytest.mark.parametrize(
    "code",
    [
        "for i in range(10**5):\n    print('x' * 100)",
        # The output limit cannot be caught and ignored inside the code.
        "try:\n    for i in range(10**5):\n        print('x' * 100)\n"
        "except MemoryError:\n    pass\n'survived'",
    ],
    ids=["printing", "catching-the-output-error"],
)
async def test_printing_past_the_output_limit_fails_with_a_limit_error(
    limited: Executor, code: str
) -> None:
    run = await limited.execute(code)
    _assert_limit(run, "max_output_bytes")
    assert run.result is None
    record = await limited.runs.get(run.id)
    assert record.status == "failed"
    assert len(run.logs.encode()) <= LIMITS.max_output_bytes
    assert len(record.logs.encode()) <= LIMITS.max_output_bytes
    await _assert_still_serving(limited)


@pytest.mark.parametrize(
    "code",
    [
        "'y' * 5_000_000",
        "list(range(200_000))",
        "list(range(2_000_000))",
    ],
    ids=["string", "list", "list-past-the-memory-limit"],
)
async def test_a_huge_result_ends_at_a_limit_and_is_not_stored(
    limited: Executor, code: str
) -> None:
    run = await limited.execute(code)
    _assert_failed(run, "limit_exceeded")
    assert run.error is not None
    assert run.error["details"]["limit"] in ("max_output_bytes", "memory_bytes")
    record = await limited.runs.get(run.id)
    assert (run.result, record.result) == (None, None)
    await _assert_still_serving(limited)


async def test_an_endless_print_loop_stops_at_the_output_limit_before_the_time_limit(
    limited: Executor,
) -> None:
    started = anyio.current_time()
    run = await limited.execute("while True:\n    print('x' * 100)")
    elapsed = anyio.current_time() - started
    _assert_limit(run, "max_output_bytes")
    assert elapsed < LIMITS.wall_time / 2, f"took {elapsed:.2f} s"


@pytest.mark.parametrize(
    "code",
    [
        f"for i in range(10_000):\n    {LIST}(limit=1)",
        f"n = 0\nfor i in range(10_000):\n    try:\n        {LIST}(limit=1)\n        n += 1\n"
        "    except BaseException:\n        pass\nn",
        f"import asyncio\nasync def one():\n    return {LIST}(limit=1)\n"
        "await asyncio.gather(*[one() for _ in range(10_000)])",
        "for i in range(10_000):\n    tools.search('pets')",
    ],
    ids=["loop", "catching-the-limit", "gather", "search"],
)
async def test_ten_thousand_tool_calls_stop_at_the_tool_call_limit(
    limited: Executor, petstore: tuple[PetStore, str], code: str
) -> None:
    store = await _connect(limited, petstore)
    store.pets[1] = {"id": 1, "name": "Rex", "tag": "dog"}
    run = await limited.execute(code)
    _assert_limit(run, "max_tool_calls")
    assert str(LIMITS.max_tool_calls) in run.error["message"]  # type: ignore[index]
    record = await limited.runs.get(run.id)
    assert record.status == "failed"
    assert len(record.calls) <= LIMITS.max_tool_calls
    if "search" not in code:
        assert len(record.calls) == LIMITS.max_tool_calls
        assert {call.address for call in record.calls} == {"petstore.work.pets.list_pets"}
    await _assert_still_serving(limited)


async def test_an_endless_loop_does_not_block_other_calls(
    database: Database, data_dir: Path, petstore: tuple[PetStore, str]
) -> None:
    in_sandbox = anyio.Event()
    loop_ended = anyio.Event()

    async def decline(request: ApprovalRequest) -> bool:
        # Called from inside the sandboxed run, just before it enters its endless loop.
        in_sandbox.set()
        return False

    async with Executor.open(
        **database.options(data_dir),
        on_approval=decline,
        sandbox_limits=SandboxLimits(wall_time=2.0),
    ) as ex:
        store = await _connect(ex, petstore)
        store.pets[1] = {"id": 1, "name": "Rex", "tag": "dog"}
        outcome: list[Execution] = []

        async def endless() -> None:
            outcome.append(await ex.execute(f"{CREATE}(name='Loop')\nwhile True:\n    pass"))
            loop_ended.set()

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(endless)
                await in_sandbox.wait()
                # Well inside the loop's 2 s: each call is answered while the loop spins.
                with anyio.fail_after(1.0):
                    for _ in range(3):
                        result = await ex.call("petstore.work.pets.list_pets", {"limit": 5})
                        assert result["ok"], result
                        assert [pet["name"] for pet in result["data"]] == ["Rex"]
                assert not loop_ended.is_set()
        [run] = outcome
        _assert_limit(run, "wall_time")
        assert store.pets == {1: {"id": 1, "name": "Rex", "tag": "dog"}}
        await _assert_still_serving(ex)


# --- credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "proof"),
    [
        ("tools.describe('petstore.work.admin.diagnose')", "petstore.work.admin.diagnose()"),
        ("tools.describe('petstore.work.pets.list_pets')", "limit: integer"),
        ("tools.search('api key secret credential header', limit=50)", "admin.diagnose"),
        (f"r = {DIAGNOSE}()\nprint(r)\nr", "you sent key [REDACTED]"),
        (f"{DIAGNOSE}()['error']['details']['json']['headers']", "x-api-key"),
        (
            f"r = {DIAGNOSE}()\nraise ValueError(r['error']['details']['body'])",
            "you sent key [REDACTED]",
        ),
        (
            "[str(tools), repr(tools), str(tools.petstore), repr(tools.petstore.work), "
            f"repr({LIST})]",
            "<module 'tools.petstore.work'>",
        ),
        ("ns = tools.petstore.work\nprint(locals())\nlocals()", "ExternalModule"),
    ],
    ids=[
        "describe-diagnose",
        "describe-list",
        "search",
        "print-echoed-key",
        "echoed-headers",
        "raise-echoed-key",
        "repr-of-tree",
        "locals",
    ],
)
async def test_the_connection_api_key_never_reaches_the_code_or_the_record(
    ex: Executor, petstore: tuple[PetStore, str], code: str, proof: str
) -> None:
    store = await _connect(ex, petstore)
    run = await ex.execute(code)
    assert run.status in ("completed", "failed"), run
    record = await ex.runs.get(run.id)
    seen = repr(run) + repr(record)
    # The attempt really ran: the echoed body, the description or the tree is there...
    assert proof in seen, seen[:3000]
    # ...but the key itself is nowhere: not in the result, logs, error, calls or arguments.
    assert store.api_key not in seen
    # The connection does hold the key: a real call with it succeeds.
    assert (await ex.call("petstore.work.pets.list_pets", {}))["ok"]
    await _assert_still_serving(ex)
