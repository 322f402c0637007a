"""Executor: one governed catalog of integrations for AI agents.

The public API is what this module lists in ``__all__``; everything else is internal.
"""

from typing import TYPE_CHECKING

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
    InputRequiredError,
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
    IntegrationReview,
    IntegrationSettings,
    Policy,
    RefreshReport,
    SearchHit,
    SearchResults,
    Tool,
    Toolkit,
    ToolkitPolicy,
    ToolReview,
)
from executor.results import ToolResult

if TYPE_CHECKING:
    from executor.core import Executor
    from executor.sandbox import SandboxLimits
    from executor.sources.base import Detection, FetchPolicy, SourceConfig
    from executor.sync import SyncExecutor

#: Names imported on first use: they pull in the database, the sandbox and the HTTP stack,
#: which the CLI's fast paths (``executor --version``, ``executor call``) must not pay for.
_LAZY = {
    "Executor": "executor.core",
    "Detection": "executor.sources.base",
    "FetchPolicy": "executor.sources.base",
    "SourceConfig": "executor.sources.base",
    "SandboxLimits": "executor.sandbox",
    "SyncExecutor": "executor.sync",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'executor' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    "Detection",
    "Execution",
    "ExecutionConflictError",
    "ExecutionExpiredError",
    "Executor",
    "ExecutorError",
    "FetchError",
    "FetchPolicy",
    "InputRequiredError",
    "Integration",
    "IntegrationReview",
    "IntegrationSettings",
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
    "SourceConfig",
    "SpecError",
    "StorageError",
    "SyncExecutor",
    "Tool",
    "ToolBlockedError",
    "ToolNotFoundError",
    "ToolResult",
    "ToolReview",
    "ToolTimeoutError",
    "Toolkit",
    "ToolkitPolicy",
    "UpstreamError",
    "__version__",
]
