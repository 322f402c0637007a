"""Code mode: agent code run in the sandbox, paused durably at approvals, resumed anywhere.

An execution is one run of agent code. Every tool call it makes goes through the same call
pipeline as a direct call. When a call needs a human — an approval nobody attached can give
(``approval_required``), or input an upstream asked for (``input_required``) — the sandbox
state is snapshotted, sealed (AES-GCM, the execution id as associated data), stored, and the
execution returns ``paused``; :meth:`Executions.resume` continues it in any process, exactly once.

Input is answered on retry: resuming runs the paused call again with the human's answers
(``answers`` in the pending call), which the source plugin gives the upstream when it asks the
same question again. An answered call that asks something new pauses again at the same place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import anyio
import jsonschema_rs

from executor.calls import ResolvedTool, validation_errors
from executor.errors import (
    ApprovalDeclinedError,
    CodeError,
    ExecutorError,
    InternalError,
    InvalidInputError,
    NotFoundError,
    ToolNotFoundError,
)
from executor.models import Execution
from executor.results import ToolResult, failure
from executor.sandbox import (
    Completed,
    Failed,
    Later,
    Pause,
    Paused,
    Sandbox,
    SandboxCall,
    SandboxLimits,
    ToolSpec,
    referenced_paths,
    strip_fence,
)
from executor.sandbox.snapshots import seal, unseal
from executor.store import CallRecord, ClaimedExecution, ExecutionEnded, ExecutionRecord
from executor.toolkits import current_toolkit, working_through

if TYPE_CHECKING:
    from executor.core import Executor

logger = logging.getLogger("executor.executions")

ResumeAction = Literal["accept", "decline", "cancel"]
RESUME_ACTIONS: tuple[ResumeAction, ...] = ("accept", "decline", "cancel")

DEFAULT_TTL = timedelta(hours=24)
#: A reference to a namespace (``tools.github.work``) brings every tool under it into the
#: sandbox; past this many, the code must name tools by their full path.
_MAX_TOOLS_PER_NAMESPACE = 500


def new_execution_id() -> str:
    """A fresh execution id: a random UUID, unique across processes, replicas and restarts."""
    return uuid.uuid4().hex


def _jsonable(value: Any) -> Any:
    """The sandbox's result as plain JSON values (tuples become lists, the rest repr)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    return repr(value)


def signature(address: str, schema: Mapping[str, Any]) -> str:
    """A one-line call signature: ``pets.list_pets(limit: integer = ..., tag: string = ...)``."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    parts = []
    for name in sorted(properties, key=lambda item: (item not in required, item)):
        kind = properties[name].get("type", "any") if isinstance(properties[name], dict) else "any"
        kind = "|".join(kind) if isinstance(kind, list) else kind
        parts.append(f"{name}: {kind}" + ("" if name in required else " = ..."))
    return f"{address}({', '.join(parts)})"


#: What a paused call asks of the human, by the error code of its result.
_ASKS = {"approval_required": "approval", "input_required": "input"}


def _pending_of(
    result: ToolResult, address: str, arguments: Mapping[str, Any]
) -> dict[str, Any] | None:
    """What a call waits for when its result says it needs a human (else None): the call,
    ``asks`` (``approval`` or ``input``) and, for input, the upstream's ``message`` and the
    JSON ``schema`` of the form it wants filled."""
    error = result.get("error") or {}
    asks = None if result["ok"] else _ASKS.get(str(error.get("code")))
    if asks is None:
        return None
    details = error.get("details") or {}
    pending = {
        "address": details.get("address", address),
        "arguments": details.get("arguments", dict(arguments)),
        "summary": details.get("summary", ""),
        "reason": details.get("reason", ""),
        "asks": asks,
    }
    if asks == "input":
        pending["message"] = str(details.get("message", ""))
        pending["schema"] = details.get("schema") or {"type": "object"}
    return pending


class _AskedAgain(Exception):
    """A resumed call needs a human again (its upstream asked a new question): the execution
    pauses again at the same place, the snapshot unchanged."""

    def __init__(self, pending: dict[str, Any]) -> None:
        super().__init__(pending["address"])
        self.pending = pending


def _spec(tool: ResolvedTool) -> ToolSpec:
    return ToolSpec(
        path=tuple(tool.address.split(".")),
        address=tool.address,
        input_schema=tool.definition.input_schema,
        summary=tool.definition.summary,
    )


class _Run:
    """The host side of one execution while it runs: answers the sandbox's calls."""

    def __init__(self, executions: Executions, run_id: str, caller: str, tool_calls: int) -> None:
        self._executions = executions
        self.run_id = run_id
        self.caller = caller
        self.seq = tool_calls
        self.pending: dict[str, Any] | None = None
        self.tools: list[ToolSpec] = []
        self.settled = False

    def record(self, record: CallRecord) -> None:
        """File a tool call under this execution (written in the background)."""
        self._executions.executor.audit.add(
            dataclasses.replace(record, run_id=self.run_id, seq=self.seq)
        )
        self.seq += 1

    async def call_tool(
        self,
        address: str,
        arguments: Mapping[str, Any],
        *,
        approved: bool = False,
        answers: Sequence[Mapping[str, Any]] = (),
    ) -> ToolResult:
        executor = self._executions.executor
        return await executor.pipeline.call(
            address,
            arguments,
            caller=self.caller,
            approved=approved,
            ask=executor.has_approver,
            record=self.record,
            answers=answers,
        )

    async def call_again(
        self, address: str, arguments: Mapping[str, Any], answers: Sequence[Mapping[str, Any]]
    ) -> ToolResult:
        """The paused call, answered: run it (approved) with the human's answers so far;
        raise :class:`_AskedAgain` when it needs a human once more."""
        result = await self.call_tool(address, arguments, approved=True, answers=answers)
        pending = _pending_of(result, address, arguments)
        if pending is None:
            return result
        if pending["asks"] == "input" and answers:
            pending["answers"] = list(answers)
        raise _AskedAgain(pending)

    async def __call__(self, call: SandboxCall) -> Any:
        executor = self._executions.executor
        try:
            if call.kind == "search":
                found = await executor.tools.search(
                    str(call.arguments.get("query", "")),
                    limit=int(call.arguments.get("limit", 10)),
                )
                return {
                    "ok": True,
                    "is_good_match": found.is_good_match,
                    "data": [
                        {"address": hit.tool.address, "summary": hit.tool.summary}
                        for hit in found.hits
                    ],
                }
            if call.kind == "describe":
                described = await executor.tools.describe(str(call.arguments.get("address", "")))
                described["signature"] = signature(described["address"], described["input_schema"])
                return {"ok": True, "data": described}
        except ExecutorError as exc:
            return failure(exc)
        result = await self.call_tool(str(call.address), call.arguments)
        pending = _pending_of(result, str(call.address), call.arguments)
        if pending is None:
            return result
        self.pending = {**pending, "line": call.line}
        return Pause(f"{pending['address']} needs {pending['asks']}")


class Executions:
    """Runs and resumes code-mode executions for one :class:`~executor.Executor`."""

    def __init__(
        self,
        executor: Executor,
        *,
        key: bytes,
        limits: SandboxLimits | None = None,
        ttl: timedelta = DEFAULT_TTL,
    ) -> None:
        self.executor = executor
        self._key = key
        self._limits = limits or SandboxLimits()
        self._ttl = ttl
        self._sandbox: Sandbox | None = None

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox, started on first use (its worker processes cost nothing until then)."""
        if self._sandbox is None:
            self._sandbox = Sandbox(self._limits)
        return self._sandbox

    async def aclose(self) -> None:
        """Stop the sandbox's workers."""
        if self._sandbox is not None:
            await self._sandbox.aclose()
            self._sandbox = None

    async def execute(self, code: str, *, caller: str = "sdk") -> Execution:
        """Run agent code; returns completed, failed or paused (never raises for code errors)."""
        run_id = new_execution_id()
        code = strip_fence(code)
        # Stored in order by the audit writer, off the critical path; a pause flushes it.
        self.executor.audit.start_execution(ExecutionRecord(run_id, caller, code))
        run = _Run(self, run_id, caller, 0)
        async with self._ends_even_if_interrupted(run):
            try:
                run.tools = await self._tool_specs(code)
            except ExecutorError as exc:
                return await self._settle(run, Failed(error=exc, logs="", tool_calls=0))
            return await self._settle(run, await self.sandbox.run(code, run.tools, run))

    async def resume(
        self,
        execution_id: str,
        action: ResumeAction = "accept",
        content: Mapping[str, Any] | None = None,
    ) -> Execution:
        """Answer a paused execution and continue it, in this process, exactly once.

        At an approval, ``accept`` runs the pending call (its policy is checked again first)
        and ``decline`` makes it return ``approval_declined`` inside the code. At a question
        (``pending["asks"] == "input"``), ``accept`` with ``content`` — the answers, checked
        against ``pending["schema"]`` — and ``decline`` run the call again with that answer
        ready for the upstream. ``cancel`` ends the execution. Raises ``invalid_input`` for
        content that does not fit the form (the execution stays paused),
        ``execution_conflict`` when it is not paused (e.g. already resumed),
        ``execution_expired`` when it waited too long, ``not_found`` for an unknown id.
        """
        if action not in RESUME_ACTIONS:
            raise InvalidInputError(
                f"Unknown resume action {action!r}.",
                hint=f"Use one of {', '.join(RESUME_ACTIONS)}.",
            )
        store, workspace = self.executor.store, self.executor.workspace_id
        await self.executor.audit.flush()  # this process's own news first
        # Checked before the claim: a bad answer must not use up the pause.
        answer = await self._answer(execution_id, action, content)
        claimed = await store.claim_execution(workspace, execution_id)
        run = _Run(self, execution_id, claimed.caller, claimed.tool_calls)
        pending = claimed.pending or {}
        address = str(pending.get("address", ""))
        # The runner's own count: searches and the answered call count against the limit too.
        counted = int(pending.get("tool_calls", claimed.tool_calls))
        async with self._ends_even_if_interrupted(run, claimed.logs):
            slug = pending.get("toolkit")
            try:
                toolkit = None if slug is None else await self.executor.toolkits.get(str(slug))
            except NotFoundError:
                removed = NotFoundError(
                    f"Toolkit {slug!r}, which this execution ran through, no longer exists."
                )
                return await self._settle(
                    run, Failed(error=removed, logs=claimed.logs, tool_calls=counted)
                )
            # The continuation sees what the paused run saw: its toolkit's tools and rules.
            with working_through(toolkit):
                return await self._continue(run, claimed, action, address, counted, answer)

    async def _answer(
        self, execution_id: str, action: ResumeAction, content: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """The human's answer to the question a paused execution asks (None when it waits
        for an approval, or is not paused: the claim says why), checked against its form."""
        if action == "cancel":
            return None
        stored = await self.executor.store.get_run(self.executor.workspace_id, execution_id)
        if stored is None or stored.status != "paused" or not stored.pending:
            return None
        if stored.pending.get("asks") != "input":
            return None
        schema = stored.pending.get("schema") or {"type": "object"}
        if action == "decline":
            return {"schema": schema, "action": "decline"}
        if content is not None and not isinstance(content, Mapping):
            raise InvalidInputError(
                "The answer (content) must be a JSON object of the form's fields.",
                hint="See pending.schema of the paused execution.",
            )
        values = dict(content or {})
        try:
            validator = jsonschema_rs.validator_for(schema)
        except ValueError:  # a form the upstream described badly: it checks the answer itself
            validator = None
        violations = (
            validation_errors(validator, values, root="(answer)") if validator is not None else []
        )
        if violations:
            raise InvalidInputError(
                f"The answer to execution {execution_id} does not fit the form: "
                + "; ".join(f"{v['path']}: {v['message']}" for v in violations[:3]),
                hint="The execution is still paused: resume it with content matching "
                "pending.schema, or decline.",
                details={"violations": violations, "schema": schema},
            )
        return {"schema": schema, "action": "accept", "content": values}

    async def _continue(
        self,
        run: _Run,
        claimed: ClaimedExecution,
        action: ResumeAction,
        address: str,
        counted: int,
        answer: dict[str, Any] | None,
    ) -> Execution:
        store, workspace = self.executor.store, self.executor.workspace_id
        execution_id = run.run_id
        pending = claimed.pending or {}
        # A declined question still runs the call (the upstream decides what that means).
        runs_again = action == "accept" or (action == "decline" and pending.get("asks") == "input")
        if not runs_again:
            answered = "approval_declined" if action == "decline" else "cancelled"
            run.record(
                CallRecord(
                    run_id=execution_id,
                    caller=claimed.caller,
                    address=address,
                    arguments=dict(pending.get("arguments") or {}),
                    decision="require_approval" if pending.get("asks") != "input" else "none",
                    outcome=answered,
                    duration_ms=0.0,
                )
            )
        if action == "cancel":
            await self.executor.audit.flush()
            await store.finish_execution(
                workspace,
                execution_id,
                status="cancelled",
                result=None,
                logs=claimed.logs,
                error=None,
            )
            return Execution(id=execution_id, status="cancelled", logs=claimed.logs)
        try:
            state = unseal(self._key, execution_id, claimed.snapshot)
            run.tools = await self._tree_at_pause(claimed.code, pending)
        except ExecutorError as exc:
            return await self._settle(run, Failed(error=exc, logs=claimed.logs, tool_calls=counted))
        value: Any
        arguments = pending.get("arguments") or {}
        if not runs_again:
            value = failure(ApprovalDeclinedError(f"A human declined the call to {address}."))
        else:
            # Run only once the snapshot has loaded: a state this build cannot read must
            # fail the resume before the approved call has any effect.
            answers = [*(pending.get("answers") or ()), *([answer] if answer else [])]
            value = Later(lambda: run.call_again(address, arguments, answers))
        outcome: Completed | Paused | Failed
        try:
            outcome = await self.sandbox.resume(
                claimed.code,
                run.tools,
                state,
                value,
                run,
                logs=claimed.logs,
                tool_calls=counted,
            )
        except _AskedAgain as asked:
            run.pending = {**asked.pending, "line": pending.get("line")}
            call = SandboxCall("tool", address, dict(arguments), pending.get("line"))
            outcome = Paused(call, state, claimed.logs, counted)
        return await self._settle(run, outcome)

    @contextlib.asynccontextmanager
    async def _ends_even_if_interrupted(self, run: _Run, logs: str = "") -> AsyncIterator[None]:
        """Record an execution as failed when it is interrupted (cancelled, or a bug) before
        it settled, so it never stays ``running`` for ever."""
        try:
            yield
        except BaseException as exc:
            if not run.settled:
                reason = (
                    "was cancelled"
                    if isinstance(exc, anyio.get_cancelled_exc_class())
                    else (f"failed unexpectedly ({type(exc).__name__})")
                )
                error = InternalError(f"Execution {run.run_id} {reason} before it finished.")
                with anyio.CancelScope(shield=True):
                    await self.executor.audit.flush()
                    try:
                        await self.executor.store.finish_execution(
                            self.executor.workspace_id,
                            run.run_id,
                            status="failed",
                            result=None,
                            logs=logs,
                            error=error.to_error(),
                        )
                    except ExecutorError:
                        logger.exception("could not record the end of execution %s", run.run_id)
            raise

    async def _tree_at_pause(self, code: str, pending: Mapping[str, Any]) -> list[ToolSpec]:
        """The tools tree exactly as the paused run had it (the snapshot needs the same one)."""
        addresses = pending.get("tree")
        if addresses is None:
            return await self._tool_specs(code, check_policy=False)
        pipeline = self.executor.pipeline
        return [_spec(await pipeline.resolve(address)) for address in addresses]

    async def _tool_specs(self, code: str, *, check_policy: bool = True) -> list[ToolSpec]:
        """The tools the code can reach, resolved from the names it references.

        At resume the tree must be rebuilt exactly as it was at the pause, so policies are not
        checked here then: a tool blocked meanwhile fails its call (``tool_blocked``) instead.
        """
        specs: dict[str, ToolSpec] = {}
        for path, (line, column) in referenced_paths(code).items():
            try:
                for tool in await self._reachable(".".join(path), check_policy=check_policy):
                    specs[tool.address] = _spec(tool)
            except ExecutorError as exc:
                raise type(exc)(
                    f"Line {line}: {exc.message}",
                    hint=exc.hint,
                    details={**exc.details, "line": line, "column": column},
                ) from None
        return list(specs.values())

    async def _reachable(self, address: str, *, check_policy: bool) -> list[ResolvedTool]:
        """The tool at ``address``, or every tool under it when it names a namespace
        (``tools.github.work``); an unknown name raises ``tool_not_found`` with suggestions."""
        pipeline = self.executor.pipeline
        try:
            tools = [await pipeline.resolve(address)]
        except ToolNotFoundError:
            known = await self.executor.addresses(include_blocked=not check_policy)
            under = [a for a in known if a.startswith(address + ".")]
            if not under:
                raise
            if len(under) > _MAX_TOOLS_PER_NAMESPACE:
                raise CodeError(
                    f"tools.{address} holds {len(under)} tools.",
                    hint="Call tools by their full path (tools.<integration>.<connection>.<tool>).",
                ) from None
            tools = [await pipeline.resolve(target) for target in under]
        if check_policy:
            for tool in tools:
                await pipeline.decide(tool)
        return tools

    async def _settle(self, run: _Run, outcome: Completed | Paused | Failed) -> Execution:
        store, workspace = self.executor.store, self.executor.workspace_id
        run.settled = True
        if isinstance(outcome, Paused):
            # The run and its tool calls must be stored before it pauses: a resume (maybe in
            # another process) numbers its next calls from the stored count.
            await self.executor.audit.flush()
            pending = {
                **(run.pending or {"address": outcome.call.address, "asks": "approval"}),
                # What resume needs to continue exactly here: the same tree, the same count.
                "tree": [tool.address for tool in run.tools],
                "tool_calls": outcome.tool_calls,
            }
            toolkit = current_toolkit(workspace)
            if toolkit is not None:
                pending["toolkit"] = toolkit.slug
            expires_at = datetime.now(UTC) + self._ttl
            await store.pause_execution(
                workspace,
                run.run_id,
                snapshot=seal(self._key, run.run_id, outcome.state),
                pending=_jsonable(pending),
                logs=outcome.logs,
                expires_at=expires_at,
            )
            return Execution(
                id=run.run_id,
                status="paused",
                logs=outcome.logs,
                pending=_jsonable(pending),
                expires_at=expires_at,
            )
        status: Literal["completed", "failed"] = (
            "completed" if isinstance(outcome, Completed) else "failed"
        )
        if isinstance(outcome, Completed):
            finished = Execution(
                id=run.run_id,
                status="completed",
                result=_jsonable(outcome.result),
                logs=outcome.logs,
            )
        else:
            finished = Execution(
                id=run.run_id, status="failed", logs=outcome.logs, error=outcome.error.to_error()
            )
        # A finished run answers now and is stored in order by the audit writer: folded into
        # its start when that is still queued, else as an update after it.
        self.executor.audit.end_execution(
            ExecutionEnded(
                run.run_id,
                status,
                result=finished.result,
                logs=finished.logs,
                error=finished.error,
                updated_at=datetime.now(UTC),
            )
        )
        return finished
