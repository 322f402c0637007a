"""How fast the CLI starts: ``executor --version``, ``executor --help``, and a ``call`` round
trip to a running daemon (process start, imports, two loopback requests, the code-mode run and
the upstream GET), as medians over repeated runs of the real console script.

Targets: ``--version`` ≤ 150 ms, ``call`` to a running daemon ≤ 300 ms.

    .venv/bin/python bench/cli_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _api import free_port, serve_api

EXECUTABLE = str(Path(sys.executable).parent / "executor")


def _timed(args: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([EXECUTABLE, *args], env=env, check=True, capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _report(name: str, times: list[float], target: float | None = None) -> None:
    median = statistics.median(times)
    verdict = (
        ""
        if target is None
        else f"  (target ≤ {target:.0f} ms: {'ok' if median <= target else 'MISSED'})"
    )
    print(
        f"{name:<40} median {median:6.1f} ms"
        f"   min {min(times):6.1f}   max {max(times):6.1f}{verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_api() as url:
        env = {
            **os.environ,
            "EXECUTOR_DATA_DIR": str(Path(tmp) / "data"),
            "EXECUTOR_PORT": str(free_port()),
        }
        env.pop("EXECUTOR_DATABASE_URL", None)
        print(f"{options.runs} runs each; load average {os.getloadavg()[0]:.2f}")
        _report("executor --version", _timed(["--version"], env, options.runs), 150)
        _report("executor --help", _timed(["--help"], env, options.runs))
        started = time.perf_counter()
        subprocess.run(
            [
                EXECUTABLE,
                "sources",
                "add",
                f"{url}/openapi.json",
                "--slug",
                "bench",
                "--base-url",
                url,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        print(
            f"{'first command (starts the daemon, adds)':<40} "
            f"{(time.perf_counter() - started) * 1000:6.0f} ms"
        )
        try:
            call = ["call", "bench.default.pets.get_pet", "--arg", "pet_id=1"]
            _timed(call, env, 3)  # warm the daemon's sandbox workers and caches
            _report("executor call (running daemon)", _timed(call, env, options.runs), 300)
        finally:
            subprocess.run([EXECUTABLE, "daemon", "stop"], env=env, capture_output=True, timeout=60)


if __name__ == "__main__":
    main()
