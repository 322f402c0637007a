"""Executor: one governed catalog of integrations for AI agents.

The public API is what this module lists in ``__all__``; everything else is internal.
"""

from executor.core import Executor
from executor.errors import (
    AlreadyExistsError,
    ApprovalDeclinedError,
    ApprovalRequiredError,
    AuthRequiredError,
    ExecutorError,
    FetchError,
    InternalError,
    InvalidArgumentsError,
    InvalidInputError,
    NotFoundError,
    SecretError,
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
    Integration,
    Policy,
    RefreshReport,
    SearchHit,
    SearchResults,
    Tool,
)
from executor.results import ToolResult
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
    "Connection",
    "Executor",
    "ExecutorError",
    "FetchError",
    "FetchPolicy",
    "Integration",
    "InternalError",
    "InvalidArgumentsError",
    "InvalidInputError",
    "NotFoundError",
    "Policy",
    "RefreshReport",
    "SearchHit",
    "SearchResults",
    "SecretError",
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
