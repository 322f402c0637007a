"""What the CLI reports when a command fails, and the exit codes it uses.

Exit codes (documented in docs/cli.md): 0 success; 1 the tool or the request failed (the codes
of :data:`~executor.errors.ERROR_TABLE` say which); 2 usage (bad options or input); 3 an
approval is pending; 4 the daemon is not running or could not be reached or started;
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

from typing import Any

from executor.errors import ERROR_TABLE

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_APPROVAL_PENDING = 3
EXIT_DAEMON = 4
EXIT_INTERRUPTED = 130


def exit_code_for(code: str | None) -> int:
    """The exit code of an error code: its row in the error table, else 1."""
    kind = ERROR_TABLE.get(code or "")
    return kind.exit_code if kind else EXIT_FAILED


class CliError(Exception):
    """A failure to report in one or two lines: what happened, then what to do."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str = "cli_error",
        exit_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.exit_code = exit_code if exit_code is not None else exit_code_for(code)
        self.details = details or {}

    @classmethod
    def from_error(cls, error: dict[str, Any]) -> CliError:
        """From the ``error`` member of an API answer or a result envelope."""
        code = str(error.get("code") or "internal_error")
        return cls(str(error.get("message") or code), code=code, details=error.get("details") or {})

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            error["hint"] = self.hint
        if self.details:
            error["details"] = self.details
        return {"ok": False, "error": error}


def usage_error(message: str, hint: str | None = None) -> CliError:
    """Bad options or input: exit code 2."""
    return CliError(message, hint=hint, code="invalid_input", exit_code=EXIT_USAGE)
