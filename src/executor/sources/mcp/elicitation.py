"""Upstream elicitation (a server asking the user for input mid-call), bridged to a human.

What works: a form request whose fields all have defaults, or are booleans (a confirmation),
goes to the executor's approval callback as one yes/no question; approving accepts with the
defaults (booleans ``True``), declining declines. What does not: forms that need typed values
(a name, an amount) — a yes/no callback cannot supply them — and URL-mode requests; both, and
any request when no approval callback is configured, are declined with an error message the
server can relay.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types

from executor.models import ApprovalRequest

Ask = Callable[[ApprovalRequest], Awaitable[bool | None]]


def _defaults(schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Values a yes/no answer implies for a form, and the fields it cannot fill."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    required = set(schema.get("required") or ())
    for name, field in (schema.get("properties") or {}).items():
        if not isinstance(field, dict):
            continue
        if "default" in field:
            values[name] = field["default"]
        elif field.get("type") == "boolean":
            values[name] = True
        elif name in required:
            missing.append(name)
    return values, missing


async def answer_elicitation(
    params: mcp_types.ElicitRequestParams, *, label: str, ask: Ask
) -> mcp_types.ElicitResult | mcp_types.ErrorData:
    """Answer one elicitation request through ``ask`` (the approval callback)."""
    if isinstance(params, mcp_types.ElicitRequestURLParams):
        return _refuse("Executor cannot open URL-mode elicitation requests yet.")
    values, missing = _defaults(dict(params.requested_schema or {}))
    if missing:
        return _refuse(
            "Executor can relay only yes/no confirmations to its human; this request needs "
            f"values for {', '.join(missing)}."
        )
    answer = await ask(
        ApprovalRequest(
            address=label,
            summary=f"The upstream MCP server asks: {params.message}",
            arguments=values,
            reason="upstream elicitation",
        )
    )
    if answer is None:
        return _refuse(
            "Executor has no human to ask (no approval callback is configured); the request "
            "is declined."
        )
    if not answer:
        return mcp_types.ElicitResult(action="decline")
    return mcp_types.ElicitResult(action="accept", content=values)


def _refuse(message: str) -> mcp_types.ErrorData:
    return mcp_types.ErrorData(code=mcp_types.INVALID_REQUEST, message=message)
