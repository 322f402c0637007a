"""What the code-mode sandbox costs: run overhead, per tool call, pause and resume.

Drives :class:`executor.sandbox.Sandbox` directly (no store, no policies) with trivial handlers,
so the figures are the sandbox's own. Targets: warm trivial run p50 <= 2 ms, cold first run
<= 100 ms. The end-to-end figures through ``Executor.execute`` live elsewhere.

    .venv/bin/python bench/execute.py [--runs 500]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from typing import Any

import anyio

from executor.sandbox import Completed, Pause, Paused, Sandbox, SandboxCall, ToolSpec

TOOL = ToolSpec(
    path=("petstore", "default", "pets", "list_pets"),
    address="petstore.default.pets.list_pets",
    input_schema={"type": "object", "properties": {"limit": {"type": "integer"}}},
    summary="List pets",
)
PAUSING = """\
pets = [{"id": i, "name": f"pet {i}", "tags": ["a", "b"]} for i in range(50)]
seen = tools.petstore.default.pets.list_pets(limit=5)
print("listed", len(pets))
approved = tools.petstore.default.pets.list_pets(limit=1)
{"count": len(pets), "ok": approved["ok"]}
"""


async def answer(call: SandboxCall) -> Any:
    return {"ok": True, "data": []}


def ms(values: list[float]) -> str:
    values = sorted(values)
    p50 = statistics.median(values) * 1000
    p99 = values[int(len(values) * 0.99) - 1] * 1000
    return f"p50 {p50:7.3f} ms   p99 {p99:7.3f} ms"


async def timed(make: Any, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await make()
        samples.append(time.perf_counter() - start)
    return samples


async def main(runs: int) -> None:
    for type_check in (True, False):
        label = "type check on " if type_check else "type check off"
        sandbox = Sandbox(type_check=type_check)
        try:
            start = time.perf_counter()
            first = await sandbox.run("1 + 1", [], answer)
            cold = time.perf_counter() - start
            assert isinstance(first, Completed)
            print(f"[{label}] cold first run (pool start + run):   {cold * 1000:7.2f} ms")
            trivial = await timed(functools.partial(sandbox.run, "1 + 1", [], answer), runs)
            print(f"[{label}] warm trivial run                     {ms(trivial)}")
            run = functools.partial(sandbox.run, tools=[TOOL], handler=answer)
            one_call = "tools.petstore.default.pets.list_pets(limit=1)"
            one = await timed(functools.partial(run, one_call), runs // 5)
            print(f"[{label}] run with one tool call               {ms(one)}")
            loop = "for i in range(100):\n    tools.petstore.default.pets.list_pets(limit=i)\n"
            hundred = await timed(functools.partial(run, loop), max(runs // 50, 5))
            per_call = [(h - statistics.median(one)) / 99 for h in hundred]
            print(f"[{label}] per tool call (100-call loop)        {ms(per_call)}")
        finally:
            await sandbox.aclose()

    sandbox = Sandbox()
    try:
        pauses = 0

        async def pause_second(call: SandboxCall) -> Any:
            nonlocal pauses
            pauses += 1
            return Pause("approval") if call.arguments["limit"] == 1 else {"ok": True, "data": []}

        paused = await sandbox.run(PAUSING, [TOOL], pause_second)
        assert isinstance(paused, Paused)
        pause_times, resume_times = [], []
        for _ in range(max(runs // 5, 10)):
            start = time.perf_counter()
            paused = await sandbox.run(PAUSING, [TOOL], pause_second)
            pause_times.append(time.perf_counter() - start)
            assert isinstance(paused, Paused)
            start = time.perf_counter()
            done = await sandbox.resume(
                PAUSING,
                [TOOL],
                paused.state,
                {"ok": True},
                answer,
                logs=paused.logs,
                tool_calls=paused.tool_calls,
            )
            resume_times.append(time.perf_counter() - start)
            assert isinstance(done, Completed), done
        print(f"run to pause (2 calls, dump)                     {ms(pause_times)}")
        print(f"resume from state (load, answer, finish)         {ms(resume_times)}")
        print(f"snapshot size for a typical paused program:      {len(paused.state):,} bytes")

        async def concurrent(n: int, sandbox: Sandbox = sandbox) -> float:
            gate = anyio.Event()
            waiting = 0

            async def slow(call: SandboxCall) -> Any:
                nonlocal waiting
                waiting += 1
                if waiting == n:
                    gate.set()
                await gate.wait()
                await anyio.sleep(0.05)
                return {"ok": True}

            start = time.perf_counter()
            async with anyio.create_task_group() as tasks:
                for _ in range(n):
                    tasks.start_soon(
                        sandbox.run, "tools.petstore.default.pets.list_pets(limit=1)", [TOOL], slow
                    )
            return time.perf_counter() - start

        for n in (2, 16):
            elapsed = await concurrent(n)
            print(f"{n:2d} concurrent runs, each waiting 50 ms on a tool: {elapsed * 1000:7.1f} ms")
    finally:
        await sandbox.aclose()
    sandbox = Sandbox(type_check=False)
    try:
        for n in (2, 16):
            elapsed = await concurrent(n, sandbox)
            print(f"{n:2d} concurrent runs, type check off:              {elapsed * 1000:7.1f} ms")
    finally:
        await sandbox.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    anyio.run(main, parser.parse_args().runs)
