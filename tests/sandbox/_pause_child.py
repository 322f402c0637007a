"""Run in a separate OS process by test_runner.py: pause a program and write its state to a file."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from executor.sandbox import Pause, Paused, Sandbox, SandboxCall
from tests.sandbox.test_runner import CODE_WITH_APPROVAL, PETS


async def pause() -> Paused:
    async def handler(call: SandboxCall) -> object:
        if call.address == "petstore.default.pets.create_pet":
            return Pause("needs approval")
        return {"ok": True, "data": []}

    sandbox = Sandbox()
    try:
        outcome = await sandbox.run(CODE_WITH_APPROVAL, PETS, handler)
    finally:
        await sandbox.aclose()
    assert isinstance(outcome, Paused), outcome
    return outcome


if __name__ == "__main__":
    paused = anyio.run(pause)
    out = Path(sys.argv[1])
    out.write_bytes(paused.state)
    out.with_suffix(".logs").write_text(paused.logs)
