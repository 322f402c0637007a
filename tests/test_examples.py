"""Every script in examples/ runs to completion, the way a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("demo_"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")}
    env["HOME"] = str(tmp_path)  # nothing may land in the real ~/.executor
    completed = subprocess.run(
        [sys.executable, str(script)],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip()
    assert "Traceback" not in completed.stderr
    if script.name == "quickstart.py":
        assert "plumber" in completed.stdout
        assert "execute -> completed" in completed.stdout
