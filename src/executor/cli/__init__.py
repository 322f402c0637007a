"""The ``executor`` command line.

``main`` parses the command, imports only that command's module, runs it, and turns every
failure into one or two lines and an exit code (a traceback only with ``--debug``). Exit codes
are listed in :mod:`executor.cli.errors` and docs/cli.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from executor import __version__
from executor.cli.errors import EXIT_DAEMON, EXIT_FAILED, EXIT_INTERRUPTED, CliError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``executor`` console script; returns the exit code."""
    args_list = sys.argv[1:] if argv is None else argv
    if args_list in (["--version"], ["-V"]):  # the fastest path: no parser at all
        print(f"executor {__version__}")
        return 0
    from executor.cli.parser import build_parser

    args = build_parser().parse_args(args_list)
    if args.data_dir:
        os.environ["EXECUTOR_DATA_DIR"] = str(Path(args.data_dir).expanduser().resolve())
    from executor.cli.context import Context
    from executor.cli.output import Output, error_lines
    from executor.settings import Settings

    json_mode = bool(getattr(args, "json", False))
    debug = bool(getattr(args, "debug", False))
    ctx = Context(Output(json_mode=json_mode), Settings.from_env().data_dir, debug)
    try:
        return _handler(args.handler)(args, ctx) or 0
    except CliError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        if json_mode:
            ctx.out.json(exc.to_json())
        print(error_lines(exc.message, exc.hint), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("executor: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ConnectionError as exc:
        if debug:
            raise
        print(
            error_lines(
                f"Lost the connection to the daemon ({exc.__class__.__name__}).",
                "Check it with: executor daemon status",
            ),
            file=sys.stderr,
        )
        return EXIT_DAEMON
    except Exception as exc:
        if debug:
            raise
        print(
            error_lines(
                f"Unexpected {exc.__class__.__name__}: {exc}",
                "Run the command again with --debug for the traceback, and report it.",
            ),
            file=sys.stderr,
        )
        return EXIT_FAILED


def _handler(name: str) -> Callable[..., int | None]:
    module, _, function = name.partition(":")
    handler: Callable[..., int | None] = getattr(
        import_module(f"executor.cli.commands.{module}"), function
    )
    return handler
