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
    if args and args[0] in ("web", "mcp"):
        return _serve(args[0], args[1:])
    print(
        "usage: executor --version | web --foreground [--host H] [--port P] | mcp\n\n"
        "More command groups arrive with the CLI; use the Python SDK."
    )
    return 0 if not args or args[0] in ("-h", "--help") else 2


def _serve(command: str, args: list[str]) -> int:
    """``executor web --foreground`` (the HTTP server) and ``executor mcp`` (MCP over stdio).
    The server modules import lazily: the MCP SDK takes ~1 s to import."""
    import argparse

    import anyio

    from executor.errors import ExecutorError

    parser = argparse.ArgumentParser(prog=f"executor {command}")
    if command == "web":
        parser.add_argument("--foreground", action="store_true", required=True)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=4788)
    options = parser.parse_args(args)
    try:
        if command == "mcp":
            from executor.server.mcp import serve_stdio

            anyio.run(serve_stdio)
        else:
            from executor.server.app import ServerSettings, run

            run(ServerSettings(host=options.host, port=options.port))
    except ExecutorError as exc:
        print(f"executor {command}: {exc}", file=sys.stderr)
        return exc.kind.exit_code
    except KeyboardInterrupt:
        return 130
    return 0
