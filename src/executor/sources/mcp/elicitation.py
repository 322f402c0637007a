"""Upstream elicitation (a server asking the user for input mid-call), bridged to a human.

Questions are answered on retry, the way the 2026-07-28 protocol's ``InputRequiredResult``
works:

- A call that carries answers (``PluginCall.answers``: what the human answered to this call's
  questions on earlier attempts) answers a question with the first unused stored answer to the
  same form (the same requested schema).
- Otherwise a confirmation — a form whose fields all have defaults or are booleans — goes to
  the executor's in-process approval callback, when it has one, as one yes/no question:
  approving accepts with the defaults (booleans ``True``), declining declines.
- Any other question is answered ``cancel`` (so the upstream's request ends) and remembered:
  the call then returns ``input_required`` with the question's message and schema. Code mode
  pauses on it; resuming with the human's answer runs the call again, and this module answers
  the repeated question from the stored answer.

Which call a question belongs to: on 2026-07-28 connections the SDK runs the callback inside
the calling task (its input-required driver), so a context variable names the call exactly.
Handshake-era servers send ``elicitation/create`` as a request of their own, answered from the
session's receive loop with nothing that links it to a call (the request carries only the
server's own id); it belongs to the call in flight on the session when there is exactly one,
and is refused when several run at once. A call that carries answers therefore runs alone on a
handshake-era session (:meth:`~executor.sources.mcp.session.LiveSession.calling`).

URL-mode requests are refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import mcp_types

from executor.models import ApprovalRequest

Ask = Callable[[ApprovalRequest], Awaitable[bool | None]]


@dataclass(eq=False)
class Exchange:
    """One tool call's conversation with the upstream: the answers ready for its questions,
    and the first question nobody could answer (``{"message", "schema"}``)."""

    label: str
    answers: Sequence[Mapping[str, Any]] = ()
    question: dict[str, Any] | None = None
    _used: set[int] = field(default_factory=set, init=False, repr=False)

    def stored_answer(self, schema: Mapping[str, Any]) -> mcp_types.ElicitResult | None:
        """The first unused stored answer to a form with this schema, marked used."""
        for index, answer in enumerate(self.answers):
            if index in self._used or answer.get("schema") != schema:
                continue
            self._used.add(index)
            if answer.get("action") == "accept":
                return mcp_types.ElicitResult(action="accept", content=answer.get("content") or {})
            return mcp_types.ElicitResult(action="decline")
        return None


#: The exchange of the call running in this task (see the module docstring for when the
#: elicitation callback can see it).
current_exchange: ContextVar[Exchange | None] = ContextVar("mcp_exchange", default=None)


def _defaults(schema: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Values a yes/no answer implies for a form, and the fields it cannot fill."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    required = set(schema.get("required") or ())
    for name, spec in (schema.get("properties") or {}).items():
        if not isinstance(spec, dict):
            continue
        if "default" in spec:
            values[name] = spec["default"]
        elif spec.get("type") == "boolean":
            values[name] = True
        elif name in required:
            missing.append(name)
    return values, missing


async def answer_elicitation(
    params: mcp_types.ElicitRequestParams, *, exchange: Exchange | None, ask: Ask
) -> mcp_types.ElicitResult | mcp_types.ErrorData:
    """Answer one elicitation request of the call ``exchange`` (None: it cannot be told which
    call asked); ``ask`` is the approval callback (None from it: nobody to ask)."""
    if isinstance(params, mcp_types.ElicitRequestURLParams):
        return _refuse("Executor cannot open URL-mode elicitation requests yet.")
    if exchange is None:
        return _refuse(
            "Executor cannot tell which of several calls running at once on this connection "
            "asks; the request is declined. Call the tool again on its own."
        )
    schema = dict(params.requested_schema or {})
    stored = exchange.stored_answer(schema)
    if stored is not None:
        return stored
    values, missing = _defaults(schema)
    if not missing:
        answer = await ask(
            ApprovalRequest(
                address=exchange.label,
                summary=f"The upstream MCP server asks: {params.message}",
                arguments=values,
                reason="upstream elicitation",
            )
        )
        if answer is not None:
            if answer:
                return mcp_types.ElicitResult(action="accept", content=values)
            return mcp_types.ElicitResult(action="decline")
    if exchange.question is None:
        exchange.question = {"message": params.message, "schema": schema}
    return mcp_types.ElicitResult(action="cancel")


def _refuse(message: str) -> mcp_types.ErrorData:
    return mcp_types.ErrorData(code=mcp_types.INVALID_REQUEST, message=message)
