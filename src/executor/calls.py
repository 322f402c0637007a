"""The call pipeline, written once and used by every surface (STYLE.md):

address → resolve tool → policy decision (block?) → validate arguments →
credentials from secret refs → the plugin's own checks → (approval?) → source plugin call →
result envelope (secrets scrubbed) → audit record

Blocking comes first so a blocked tool reveals nothing; validation, credentials and the
plugin's checks come before approval so a human is never asked about a call that can only fail.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from executor.addresses import Address, parse_address
from executor.auth import ResolvedAuth, apply_auth
from executor.errors import (
    ApprovalDeclinedError,
    ApprovalRequiredError,
    AuthRequiredError,
    ExecutorError,
    InternalError,
    InvalidArgumentsError,
    SecretError,
    ToolBlockedError,
    ToolNotFoundError,
)
from executor.health import HealthRecorder
from executor.models import ApprovalRequest, Connection, ToolDefinition
from executor.policy import PolicyDecision
from executor.redact import RedactingFilter, redact
from executor.results import ToolResult, failure
from executor.sources.base import PluginCall
from executor.store import CallRecord
from executor.toolkits import contains, current_toolkit

if TYPE_CHECKING:
    from executor.core import Executor

logger = logging.getLogger("executor.calls")
#: Scrubs the secrets of calls in flight from what the loggers that see a call write: ours,
#: and the HTTP stack's (httpx2 logs each request URL, query-string API keys included).
_LOG_FILTER = RedactingFilter()
for _name in ("executor", "executor.calls", "executor.audit", "httpx2", "httpcore2"):
    logging.getLogger(_name).addFilter(_LOG_FILTER)

#: Decides an approval: return True to run the call, False to decline it.
ApprovalCallback = Callable[[ApprovalRequest], Awaitable[bool] | bool]

_MAX_VIOLATIONS = 20


@dataclass
class _Trace:
    """What a call has learnt so far, for its audit record and its redaction."""

    approved: bool = False
    ask: bool = True
    decision: str = "none"
    secrets: tuple[str, ...] = ()
    answers: Sequence[Mapping[str, Any]] = ()
    connection: Connection | None = None


@dataclass(frozen=True)
class ResolvedTool:
    """A tool address bound to its connection, definition and argument validator."""

    address: str
    integration_kind: str
    integration_config: Mapping[str, Any]
    connection: Connection
    definition: ToolDefinition
    validator: Any


def validation_errors(
    validator: Any, arguments: Mapping[str, Any], *, root: str = "(arguments)"
) -> list[dict[str, str]]:
    """Every schema violation of ``arguments`` as ``{"path", "message"}`` (at most 20);
    ``root`` names the whole value in paths."""
    violations = []
    for error in validator.iter_errors(arguments):
        path = "/".join(str(part) for part in error.instance_path) or root
        violations.append({"path": path, "message": error.message})
        if len(violations) >= _MAX_VIOLATIONS:
            break
    return violations


class CallPipeline:
    """Runs tool calls for one :class:`~executor.core.Executor`."""

    def __init__(self, executor: Executor, on_approval: ApprovalCallback | None) -> None:
        self._executor = executor
        self._on_approval = on_approval
        self._resolved: dict[str, ResolvedTool] = {}
        #: Bumped by :meth:`invalidate`: a tool resolved across a change is not cached.
        self._generation = 0
        self._health = HealthRecorder(executor.store, executor.workspace_id, executor.audit.defer)

    def invalidate(self) -> None:
        """Forget cached tools and validators after the catalog changed."""
        self._generation += 1
        self._resolved.clear()

    async def call(
        self,
        address: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        caller: str = "sdk",
        approved: bool = False,
        ask: bool = True,
        record: Callable[[CallRecord], None] | None = None,
        answers: Sequence[Mapping[str, Any]] = (),
    ) -> ToolResult:
        """Run one call through the whole pipeline and return its result envelope.

        ``approved`` says a human already approved this very call (a resumed execution): the
        policy is still checked, but nobody is asked again. ``ask=False`` never consults the
        approval callback, so a call that needs approval returns ``approval_required`` (code
        mode turns that into a durable pause). ``record`` receives the audit record instead of
        the audit writer (an execution files it under its own run). ``answers`` are a human's
        answers to the questions the upstream asked on earlier attempts of this call (see
        :class:`~executor.sources.base.PluginCall`).
        """
        started = time.perf_counter()
        args = dict(arguments or {})
        trace = _Trace(approved=approved, ask=ask, answers=answers)
        result: ToolResult | None = None
        try:
            result = await self._run(address, args, trace)
        except ExecutorError as exc:
            result = failure(exc)
        except Exception:  # a bug: log it with an id, give the agent the id only
            incident = uuid.uuid4().hex[:12]
            logger.exception("internal error %s while calling %s", incident, address)
            result = failure(
                InternalError(
                    f"Internal error {incident} while calling {address}.",
                    hint="The server log has the details.",
                    details={"id": incident},
                )
            )
        finally:
            # Also on cancellation: the log filter forgets these secrets and the run history
            # still records that the call was attempted.
            if trace.secrets:
                _LOG_FILTER.remove(trace.secrets)
            self._audit(address, args, trace, result, started, caller, record)
        if trace.secrets:
            result = redact(result, trace.secrets)
        if trace.connection is not None:
            self._health.note(trace.connection, result)
        return result

    async def _run(self, address: str, args: dict[str, Any], trace: _Trace) -> ToolResult:
        await self._executor.check_catalog()
        tool = await self.resolve(address)
        trace.connection = tool.connection
        # A blocked tool is refused before anything else is said about it.
        policy = await self.decide(tool)
        trace.decision = policy.action
        violations = validation_errors(tool.validator, args)
        if violations:
            raise InvalidArgumentsError(
                f"{len(violations)} invalid argument(s) for {tool.address}: "
                + "; ".join(f"{v['path']}: {v['message']}" for v in violations[:3]),
                hint=f"See the schema with describe('{tool.address}').",
                details={"violations": violations},
            )
        # Credentials before approval: a connection that cannot authenticate makes the call one
        # that can only fail, and a human should not be asked about it.
        resolved_auth = await self._credentials(tool)
        trace.secrets = resolved_auth.secret_values
        _LOG_FILTER.add(trace.secrets)
        plugin = self._executor.plugins.get(tool.integration_kind)
        request = PluginCall(
            tool=tool.definition,
            arguments=args,
            integration_config=tool.integration_config,
            connection_settings=tool.connection.settings,
            auth=resolved_auth.applied,
            http=self._executor.http_client(tool.connection),
            timeout=self._executor.call_timeout(tool.connection),
            integration=tool.connection.integration,
            connection_id=tool.connection.id,
            address=tool.address,
            answers=trace.answers,
        )
        # The plugin's own checks (a GraphQL selection against the schema) come before
        # approval too; the hook is optional.
        validate = getattr(plugin, "validate_arguments", None)
        if validate is not None:
            await validate(request)
        if not trace.approved:
            await self._approve(tool, policy, args, ask=trace.ask)
        return await plugin.call(request)

    async def resolve(self, address: str) -> ResolvedTool:
        """Find the tool behind an address, or raise ``tool_not_found`` with suggestions.
        Working through a toolkit, a tool outside it is not found either."""
        resolved = await self._resolve(address)
        toolkit = current_toolkit(self._executor.workspace_id)
        if toolkit is not None and not contains(toolkit, resolved.address):
            raise await self._not_found(address)
        return resolved

    async def _resolve(self, address: str) -> ResolvedTool:
        cached = self._resolved.get(address)
        if cached is not None:
            return cached
        try:
            parts = parse_address(address)
        except ExecutorError:
            raise await self._not_found(address) from None
        executor = self._executor
        store, workspace = executor.store, executor.workspace_id
        generation = self._generation
        integration = await store.get_integration(workspace, parts.integration)
        connection = await store.get_connection(workspace, parts.integration, parts.connection)
        stored = await store.get_tool_definition(workspace, parts.integration, parts.tool)
        if integration is not None and connection is not None and stored is None:
            await self._check_held(parts)
        if integration is None or connection is None or stored is None:
            raise await self._not_found(address, parts)
        resolved = ResolvedTool(
            address=str(parts),
            integration_kind=integration.kind,
            integration_config=integration.config,
            connection=connection,
            definition=stored.definition,
            validator=jsonschema_rs.validator_for(stored.definition.input_schema),
        )
        if generation == self._generation:
            self._resolved[address] = resolved
        return resolved

    async def decide(self, tool: ResolvedTool) -> PolicyDecision:
        """The policy decision for a resolved tool; raises ``tool_blocked`` for blocked tools."""
        policies = await self._executor.policy_set()
        decision = policies.decide(tool.address, tool.definition.default_policy)
        if decision.action == "block":
            raise ToolBlockedError(
                f"{tool.address} is blocked by policy ({decision.reason}).",
                hint="Ask an administrator to change the policy if this tool is needed.",
            )
        return decision

    async def _credentials(self, tool: ResolvedTool) -> ResolvedAuth:
        try:
            return await apply_auth(tool.connection.auth, self._executor.secret_resolver)
        except SecretError as exc:
            connection = tool.connection
            raise AuthRequiredError(
                f"The {connection.integration}.{connection.name} connection cannot authenticate: "
                f"{exc.message}",
                hint=exc.hint or "Fix or recreate the connection's credentials.",
                details={"connection": f"{connection.integration}.{connection.name}"},
            ) from None

    async def _approve(
        self,
        tool: ResolvedTool,
        decision: PolicyDecision,
        arguments: dict[str, Any],
        *,
        ask: bool,
    ) -> None:
        if decision.action != "require_approval":
            return
        request = ApprovalRequest(
            address=tool.address,
            summary=tool.definition.summary,
            arguments=arguments,
            reason=decision.reason,
        )
        if self._on_approval is None or not ask:
            raise ApprovalRequiredError(
                f"{tool.address} needs a human's approval ({decision.reason}).",
                hint="Pass on_approval to Executor.open, or allow the tool with a policy.",
                details={
                    "address": tool.address,
                    "arguments": arguments,
                    "summary": request.summary,
                    "reason": request.reason,
                },
            )
        answer = self._on_approval(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not answer:
            raise ApprovalDeclinedError(f"A human declined the call to {tool.address}.")

    async def ask_human(self, request: ApprovalRequest) -> bool | None:
        """Ask the approval callback (a source plugin relaying an upstream's question):
        True or False, or None when there is no callback."""
        if self._on_approval is None:
            return None
        answer = self._on_approval(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return bool(answer)

    async def _check_held(self, parts: Address) -> None:
        """Raise ``tool_blocked`` for a tool that is not served because a change to it is held
        for review (docs/sources.md, "Refresh and review")."""
        executor = self._executor
        review = await executor.store.get_tool_review(
            executor.workspace_id, parts.integration, parts.tool
        )
        if review is None:
            return
        if review.status == "rejected":
            raise ToolBlockedError(
                f"{parts} was added by a refresh of {parts.integration} and rejected in review.",
                details={"review": "rejected", "change": review.change},
            )
        raise ToolBlockedError(
            f"{parts} is held for review: its definition "
            f"{'is new' if review.change == 'added' else 'changed'} since a person last "
            "reviewed it.",
            hint=f"A person can accept it with sources.review('{parts.integration}', "
            f"['{parts.tool}']).",
            details={"review": "pending", "change": review.change},
        )

    async def _not_found(self, address: str, parts: Address | None = None) -> ExecutorError:
        executor = self._executor
        candidates = await executor.addresses()
        suggestions = difflib.get_close_matches(address, candidates, n=5, cutoff=0.5)
        hint = f"Did you mean {', '.join(suggestions)}?" if suggestions else "Try tools.search()."
        if parts is not None:
            names = [c.name for c in await executor.connections.list(parts.integration)]
            if names and parts.connection not in names:
                hint = (
                    f"{parts.integration} has no connection {parts.connection!r}; "
                    f"its connections: {', '.join(names)}. {hint}"
                )
        return ToolNotFoundError(
            f"No tool at {address!r}.", hint=hint, details={"suggestions": suggestions}
        )

    def _audit(
        self,
        address: str,
        arguments: dict[str, Any],
        trace: _Trace,
        result: ToolResult | None,
        started: float,
        caller: str,
        record: Callable[[CallRecord], None] | None,
    ) -> None:
        if result is None:
            outcome = "cancelled"
        elif result.get("ok"):
            outcome = "ok"
        else:
            outcome = str(result.get("error", {}).get("code"))
        (record or self._executor.audit.add)(
            CallRecord(
                run_id=uuid.uuid4().hex,
                caller=caller,
                address=address,
                arguments=redact(arguments, trace.secrets) if trace.secrets else arguments,
                decision=trace.decision,
                outcome=outcome,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        )
