"""One exception hierarchy for everything Executor reports to a user.

Every error carries a stable ``code`` (the strings of the result envelope), a message that says
what is wrong, and a ``hint`` that says what to do next. :data:`ERROR_TABLE` maps each code to
how every surface renders it (HTTP status, CLI exit code, whether a retry may help), so that the
SDK, the HTTP API, MCP and the CLI agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorKind:
    """How one error code is rendered on every surface."""

    code: str
    http_status: int
    exit_code: int
    retryable: bool = False


ERROR_TABLE: dict[str, ErrorKind] = {
    kind.code: kind
    for kind in (
        ErrorKind("tool_not_found", 404, 1),
        ErrorKind("invalid_arguments", 422, 1),
        ErrorKind("tool_blocked", 403, 1),
        ErrorKind("approval_required", 409, 3),
        ErrorKind("approval_declined", 403, 1),
        ErrorKind("input_required", 409, 3),
        ErrorKind("auth_required", 401, 1),
        ErrorKind("upstream_error", 502, 1),
        ErrorKind("timeout", 504, 1, retryable=True),
        ErrorKind("internal_error", 500, 1),
        ErrorKind("not_found", 404, 1),
        ErrorKind("already_exists", 409, 1),
        ErrorKind("invalid_input", 400, 2),
        ErrorKind("invalid_spec", 422, 1),
        ErrorKind("fetch_failed", 502, 1, retryable=True),
        ErrorKind("secret_error", 400, 1),
        ErrorKind("storage_error", 500, 1),
        ErrorKind("execution_conflict", 409, 1),
        ErrorKind("execution_expired", 410, 1),
        ErrorKind("code_error", 422, 1),
        ErrorKind("limit_exceeded", 422, 1),
        ErrorKind("snapshot_incompatible", 409, 1),
    )
}


class ExecutorError(Exception):
    """Base of every error Executor raises on purpose.

    ``message`` says what went wrong in one line; ``hint`` says what to do about it.
    ``details`` is a JSON-safe dict with structured context (never a secret value).
    """

    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details: dict[str, Any] = dict(details or {})
        self.status = status

    @property
    def kind(self) -> ErrorKind:
        return ERROR_TABLE[self.code]

    @property
    def retryable(self) -> bool:
        return self.kind.retryable

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    def to_error(self) -> dict[str, Any]:
        """The ``error`` member of a failed result envelope."""
        error: dict[str, Any] = {
            "code": self.code,
            "message": str(self),
            "retryable": self.retryable,
        }
        if self.status is not None:
            error["status"] = self.status
        if self.details:
            error["details"] = self.details
        return error


class ToolNotFoundError(ExecutorError):
    """No tool has this address. ``details["suggestions"]`` holds up to five near addresses."""

    code = "tool_not_found"


class InvalidArgumentsError(ExecutorError):
    """Arguments do not match the tool's input schema. ``details["violations"]`` lists them."""

    code = "invalid_arguments"


class ToolBlockedError(ExecutorError):
    """A policy blocks this tool."""

    code = "tool_blocked"


class ApprovalRequiredError(ExecutorError):
    """The call needs a human's approval and nobody was there to give it."""

    code = "approval_required"


class ApprovalDeclinedError(ExecutorError):
    """A human declined the call."""

    code = "approval_declined"


class InputRequiredError(ExecutorError):
    """An upstream asked for input during the call and nobody was there to give it.

    ``details`` carries the call (``address``, ``arguments``, ``summary``) and the question
    (``message``, ``schema``: the JSON Schema of the requested form). Code mode pauses on it;
    resuming with the answer runs the call again with the answer ready for the question.
    """

    code = "input_required"


class AuthRequiredError(ExecutorError):
    """The connection needs a human to (re)authenticate before the call can run."""

    code = "auth_required"


class UpstreamError(ExecutorError):
    """The upstream API answered with an error or could not be reached."""

    code = "upstream_error"


class ToolTimeoutError(ExecutorError):
    """The upstream call did not finish in time."""

    code = "timeout"


class InternalError(ExecutorError):
    """A bug or an unexpected failure; ``details["id"]`` points into the server log."""

    code = "internal_error"


class NotFoundError(ExecutorError):
    """A named integration, connection, policy or secret does not exist."""

    code = "not_found"


class AlreadyExistsError(ExecutorError):
    """A record with this name exists already."""

    code = "already_exists"


class InvalidInputError(ExecutorError):
    """A management call got a bad value (a name, a pattern, an option)."""

    code = "invalid_input"


class SpecError(ExecutorError):
    """A source document is malformed, unsupported or hostile."""

    code = "invalid_spec"


class FetchError(ExecutorError):
    """A document could not be fetched (unreachable, refused by the fetch policy, too large)."""

    code = "fetch_failed"


class SecretError(ExecutorError):
    """A secret reference cannot be resolved or stored."""

    code = "secret_error"


class StorageError(ExecutorError):
    """The database could not be opened, migrated or written."""

    code = "storage_error"


class ExecutionConflictError(ExecutorError):
    """The execution is not in a state that allows this (e.g. it was already resumed)."""

    code = "execution_conflict"


class ExecutionExpiredError(ExecutorError):
    """A paused execution waited longer than its expiry and can no longer be resumed."""

    code = "execution_expired"


class CodeError(ExecutorError):
    """Agent code failed: a syntax or type error before running, or an uncaught exception.

    ``details`` carries ``line``/``column`` where known and the sandbox's traceback text.
    """

    code = "code_error"


class LimitExceededError(ExecutorError):
    """Agent code hit a sandbox limit (time, memory, tool calls, output size, recursion)."""

    code = "limit_exceeded"


class SnapshotIncompatibleError(ExecutorError):
    """A paused execution's snapshot cannot be read by this version of the sandbox."""

    code = "snapshot_incompatible"


__all__ = [
    "ERROR_TABLE",
    "AlreadyExistsError",
    "ApprovalDeclinedError",
    "ApprovalRequiredError",
    "AuthRequiredError",
    "CodeError",
    "ErrorKind",
    "ExecutionConflictError",
    "ExecutionExpiredError",
    "ExecutorError",
    "FetchError",
    "InputRequiredError",
    "InternalError",
    "InvalidArgumentsError",
    "InvalidInputError",
    "LimitExceededError",
    "NotFoundError",
    "SecretError",
    "SnapshotIncompatibleError",
    "SpecError",
    "StorageError",
    "ToolBlockedError",
    "ToolNotFoundError",
    "ToolTimeoutError",
    "UpstreamError",
]
