"""Code mode's sandbox: agent code run in Monty worker processes, with ``tools`` as its only
capability (PRODUCT.md §5). The sandbox knows tools only as :class:`ToolSpec` and answers their
calls through an async handler; it knows nothing of the store, policies or plugins."""

from executor.sandbox.code import referenced_paths, strip_fence
from executor.sandbox.runner import (
    MONTY_VERSION,
    Completed,
    Failed,
    Handler,
    Later,
    Pause,
    Paused,
    Sandbox,
    SandboxCall,
    SandboxLimits,
)
from executor.sandbox.stubs import stub_for
from executor.sandbox.tree import ToolSpec, ToolTree, build_tree

__all__ = [
    "MONTY_VERSION",
    "Completed",
    "Failed",
    "Handler",
    "Later",
    "Pause",
    "Paused",
    "Sandbox",
    "SandboxCall",
    "SandboxLimits",
    "ToolSpec",
    "ToolTree",
    "build_tree",
    "referenced_paths",
    "strip_fence",
    "stub_for",
]
