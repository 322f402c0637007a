"""This tree's server against another commit's, measured side by side in one run.

The machines this runs on change speed from minute to minute (a fixed Python loop has taken
55-100 ms within one session), so figures taken minutes apart can differ by more than a change
does. Here both servers run at once, each in its own process with its own data dir and the
same local API behind it (bench/_api.py), and every measurement alternates or overlaps them:

- latency: one raw JSON-RPC client calls ``execute`` (code making one tool call) and the same
  tool in direct mode on each server in turn, round after round; p50 and p90 per server.
- load: both servers take 10 concurrent sessions calling ``execute`` at the same time, for
  ``--seconds`` per round; calls/s and server CPU per call per server, and their ratio.

The other commit is checked out into a temporary ``git worktree`` and its ``src`` put first on
the server's ``PYTHONPATH`` (same venv, so its dependencies must match this tree's).

    .venv/bin/python bench/compare.py [--base main~1] [--calls 300] [--rounds 3] [--seconds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import httpx2
from _api import add_source, machine_speed, run_server, serve_api
from throughput import Load, RawSession, run_clients

from executor.server.security import AGENT_TOKEN_FILE

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A checkout of ``rev`` in a temporary folder, removed after."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base"
        git = ["git", "-C", str(ROOT)]
        subprocess.run([*git, "worktree", "add", "--detach", str(path), rev], check=True)
        try:
            yield path
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(path)], check=True)


class Server:
    """One running server: its name, URL, agent token and pid."""

    def __init__(self, name: str, url: str, token: str, pid: int) -> None:
        self.name, self.url, self.token, self.pid = name, url, token, pid

    def client(self, clients: int = 1) -> httpx2.AsyncClient:
        limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx2.AsyncClient(headers=headers, timeout=60, limits=limits)


async def latency(servers: list[Server], code: str, calls: int) -> None:
    timings: dict[str, list[float]] = {}
    async with contextlib.AsyncExitStack() as stack:
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        for server in servers:
            http = await stack.enter_async_context(server.client())
            code_mode = RawSession(http, f"{server.url}/mcp")
            direct = RawSession(http, f"{server.url}/mcp?tools=direct")
            await code_mode.open()
            await direct.open()
            listed = (await direct.request("tools/list", {}))["tools"]
            name = next(tool["name"] for tool in listed if tool["name"].endswith("get_pet"))
            call = {"name": name, "arguments": {"pet_id": 1}}
            steps.append((f"{server.name} execute", lambda s=code_mode: s.execute(code)))
            steps.append(
                (f"{server.name} direct", lambda s=direct, c=call: s.request("tools/call", c))
            )
        for _, step in steps * 30:  # warm-up: pools, caches, warm sandbox sessions
            await step()
        for _ in range(calls):
            for label, step in steps:
                began = time.perf_counter()
                await step()
                timings.setdefault(label, []).append(time.perf_counter() - began)
    print(f"latency, {calls} interleaved rounds (raw JSON-RPC client, one at a time):")
    for label, values in timings.items():
        values.sort()
        p50, p90 = statistics.median(values) * 1000, values[int(len(values) * 0.9)] * 1000
        print(f"  {label:<20} p50 {p50:6.2f} ms   p90 {p90:6.2f} ms")


Figures = dict[str, tuple[float, float, int]]


async def load(servers: list[Server], code: str, seconds: float) -> Figures:
    """Both servers under 10 concurrent sessions at once: calls/s, server ms CPU/call, errors."""
    figures: Figures = {}

    async def one(server: Server) -> None:
        window = Load(seconds, server.pid)
        async with server.client(10) as http:
            sessions = [RawSession(http, f"{server.url}/mcp") for _ in range(10)]
            for session in sessions:
                await session.open()
            await run_clients([session.execute for session in sessions], code, window)
        calls = len(window.latencies)
        rate = calls / (window.stop - window.start)
        figures[server.name] = (rate, window.server_cpu / max(calls, 1) * 1000, len(window.errors))

    async with anyio.create_task_group() as group:
        for server in servers:
            group.start_soon(one, server)
    return figures


def main(base: str, calls: int, rounds: int, seconds: float) -> None:
    with contextlib.ExitStack() as stack:
        other = stack.enter_context(worktree(base))
        api = stack.enter_context(serve_api())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = []
        for name, source in ((base, other / "src"), ("this tree", None)):
            data_dir = tmp / str(len(servers))
            data_dir.mkdir()
            address = anyio.run(add_source, data_dir, api)
            url, pid = stack.enter_context(run_server(data_dir, data_dir / "log", None, source))
            token = (data_dir / AGENT_TOKEN_FILE).read_text().strip()
            servers.append(Server(name, url, token, pid))
        code = f"tools.{address}(pet_id=1)['data']['name']"
        anyio.run(latency, servers, code, calls)
        print(f"load, both servers at once, 10 sessions each, {seconds:g} s per round:")
        ratios = []
        for _ in range(rounds):
            figures = anyio.run(load, servers, code, seconds)
            line = "   ".join(
                f"{name}: {rate:6.1f} calls/s {cpu:5.2f} ms CPU/call {errors} errors"
                for name, (rate, cpu, errors) in figures.items()
            )
            ratios.append(figures["this tree"][1] / figures[base][1])
            print(f"  {line}")
        print(f"  CPU per call, this tree / {base}: median {statistics.median(ratios):.2f}")
        print(f"machine: a 2M-iteration Python loop takes {machine_speed() * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="the commit to compare with")
    parser.add_argument("--calls", type=int, default=300, help="latency rounds")
    parser.add_argument("--rounds", type=int, default=3, help="load rounds")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per load round")
    options = parser.parse_args()
    main(options.base, options.calls, options.rounds, options.seconds)
