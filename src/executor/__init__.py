"""Executor: one governed catalog of integrations for AI agents.

The public API is what this module lists in ``__all__``; everything else is internal.
"""

from executor.core import Executor
from executor.errors import (
    AlreadyExistsError,
    ApprovalDeclinedError,
    ApprovalRequiredError,
    AuthRequiredError,
    CodeError,
    ExecutionConflictError,
    ExecutionExpiredError,
    ExecutorError,
    FetchError,
    InternalError,
    InvalidArgumentsError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    SecretError,
    SnapshotIncompatibleError,
    SpecError,
    StorageError,
    ToolBlockedError,
    ToolNotFoundError,
    ToolTimeoutError,
    UpstreamError,
)
from executor.models import (
    ApprovalRequest,
    AuthMethod,
    Connection,
    Execution,
    Integration,
    Policy,
    RefreshReport,
    SearchHit,
    SearchResults,
    Tool,
)
from executor.results import ToolResult
from executor.sandbox import SandboxLimits
from executor.sources.base import FetchPolicy
from executor.sync import SyncExecutor

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "ApprovalDeclinedError",
    "ApprovalRequest",
    "ApprovalRequiredError",
    "AuthMethod",
    "AuthRequiredError",
    "CodeError",
    "Connection",
    "Execution",
    "ExecutionConflictError",
    "ExecutionExpiredError",
    "Executor",
    "ExecutorError",
    "FetchError",
    "FetchPolicy",
    "Integration",
    "InternalError",
    "InvalidArgumentsError",
    "InvalidInputError",
    "LimitExceededError",
    "NotFoundError",
    "Policy",
    "RefreshReport",
    "SandboxLimits",
    "SearchHit",
    "SearchResults",
    "SecretError",
    "SnapshotIncompatibleError",
    "SpecError",
    "StorageError",
    "SyncExecutor",
    "Tool",
    "ToolBlockedError",
    "ToolNotFoundError",
    "ToolResult",
    "ToolTimeoutError",
    "UpstreamError",
    "__version__",
]
