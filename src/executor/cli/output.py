"""Rendering for people (rich tables and colours) and for scripts (``--json``).

rich is imported only when a table, a panel or a spinner is actually shown: ``executor call``
prints JSON with the standard library and never pays for it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

#: Told (stage, done, total) as long work goes on: download (bytes), parse, index (tools).
StageReport = Callable[[str, int, "int | None"], None]


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

    @contextlib.contextmanager
    def stages(self) -> Iterator[StageReport]:
        """Show the stages of long work on stderr and yield the function to report them with:
        a progress bar per stage on a terminal, a line per finished stage otherwise, nothing
        with ``--json``."""
        if self.json_mode:
            yield _ignore
        elif sys.stderr.isatty():
            with _StageBars(self.errors) as bars:
                yield bars.report
        else:
            lines = _StageLines()
            yield lines.report
            lines.finish()


def _ignore(stage: str, done: int, total: int | None) -> None:
    return None


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    if count < 1_000_000:
        return f"{count / 1000:.1f} kB"
    return f"{count / 1_000_000:.1f} MB"


def _stage_amount(stage: str, done: int, total: int | None) -> str:
    """How far a stage got, in its unit: ``1.2 MB of 4.0 MB``, ``done``, ``250 of 1000 tools``."""
    if stage == "download":
        return _size(done) + (f" of {_size(total)}" if total is not None and total != done else "")
    if stage == "parse":
        return "done" if total is not None and done >= total else "reading…"
    count = f"{done} of {total}" if total is not None and done != total else str(done)
    return f"{count} tools"


class _StageLines:
    """A line on stderr per stage once the next one starts (or the work ends): for logs."""

    def __init__(self) -> None:
        self._last: tuple[str, int, int | None] | None = None

    def report(self, stage: str, done: int, total: int | None) -> None:
        if self._last is not None and self._last[0] != stage:
            self._print(*self._last)
        self._last = (stage, done, total)

    def finish(self) -> None:
        """Print the last stage (only reached when the work succeeded)."""
        if self._last is not None:
            self._print(*self._last)

    @staticmethod
    def _print(stage: str, done: int, total: int | None) -> None:
        print(f"{stage}: {_stage_amount(stage, done, total)}", file=sys.stderr, flush=True)


class _StageBars:
    """A rich progress bar per stage (an indeterminate one while the total is unknown)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress: Progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/green]"),
            TextColumn("{task.description:<9}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._last: tuple[str, int] | None = None

    def __enter__(self) -> _StageBars:
        self._progress.start()
        return self

    def __exit__(self, error: type[BaseException] | None, *details: object) -> None:
        if error is None and self._last is not None:
            self._finish(*self._last)
        self._progress.stop()

    def report(self, stage: str, done: int, total: int | None) -> None:
        if self._last is not None and self._last[0] != stage:
            self._finish(*self._last)
        self._last = (stage, done)
        amount = _stage_amount(stage, done, total)
        task = self._tasks.get(stage)
        if task is None:
            self._tasks[stage] = self._progress.add_task(
                stage, total=total, completed=done, amount=amount
            )
        else:
            self._progress.update(task, total=total, completed=done, amount=amount)

    def _finish(self, stage: str, done: int) -> None:
        """A stage is over once the next one starts: show its bar full."""
        self._progress.update(self._tasks[stage], total=max(done, 1), completed=max(done, 1))


def error_lines(message: str, hint: str | None) -> str:
    """The one or two lines a failure prints: what happened, then what to do."""
    text = f"executor: error: {message}"
    if hint and hint not in message:
        text += f"\n  {hint}"
    return text
