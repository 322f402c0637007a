"""Rendering for people (rich tables and colours) and for scripts (``--json``).

rich is imported only when a table, a panel or a spinner is actually shown: ``executor call``
prints JSON with the standard library and never pays for it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def to_json(value: Any) -> str:
    """Pretty JSON, the way every ``--json`` answer and tool result is printed."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


class Output:
    """Where a command writes: JSON for scripts, tables and coloured text for people."""

    def __init__(self, *, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self._console: Console | None = None
        self._errors: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=False)
        return self._console

    @property
    def errors(self) -> Console:
        if self._errors is None:
            from rich.console import Console

            self._errors = Console(stderr=True, highlight=False)
        return self._errors

    def json(self, value: Any) -> None:
        print(to_json(value), flush=True)

    def text(self, message: str) -> None:
        """A line for people (rich markup allowed)."""
        self.console.print(message)

    def plain(self, message: str) -> None:
        """A line printed as is (no markup), fast."""
        print(message, flush=True)

    def note(self, message: str) -> None:
        """A side note on stderr, so stdout stays clean for the result."""
        print(message, file=sys.stderr, flush=True)

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        title: str | None = None,
        empty: str = "Nothing here yet.",
    ) -> None:
        if not rows:
            self.text(f"[dim]{empty}[/dim]")
            return
        from rich.table import Table

        table = Table(title=title, title_justify="left", header_style="bold", box=None)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.console.print(table)

    @contextlib.contextmanager
    def working(self, message: str) -> Iterator[None]:
        """A spinner on stderr while something long runs (people only, on a terminal)."""
        if self.json_mode or not sys.stderr.isatty():
            yield
            return
        with self.errors.status(message):
            yield


def error_lines(message: str, hint: str | None) -> str:
    """The one or two lines a failure prints: what happened, then what to do."""
    text = f"executor: error: {message}"
    if hint and hint not in message:
        text += f"\n  {hint}"
    return text
