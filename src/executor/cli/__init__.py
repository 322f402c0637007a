"""The ``executor`` command line (full command groups arrive with the CLI release)."""

from __future__ import annotations

import sys

from executor import __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``executor`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("--version", "-V"):
        print(f"executor {__version__}")
        return 0
    print(
        "usage: executor --version\n\nThe command groups arrive with the CLI; use the Python SDK."
    )
    return 0 if not args or args[0] in ("-h", "--help") else 2
