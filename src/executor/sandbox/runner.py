"""The code-mode runner: drives agent code through Monty worker processes.

The runner knows nothing of the store, policies or plugins. It gets the tools the code may
reach (:class:`ToolSpec`) and an async ``handler``, and turns every host call the code makes
into a :class:`SandboxCall` for that handler. The handler's return value is what the call
evaluates to inside the sandbox; returning :class:`Pause` suspends the run into opaque
``state`` bytes that :meth:`Sandbox.resume` continues from, in this or any other process.

Monty's API is synchronous: every worker round trip runs in a thread (``anyio.to_thread``),
and the handler runs on the event loop between round trips, so no run ever blocks the loop.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import anyio.to_thread
import orjson
import pydantic_monty
from pydantic_monty import (
    CollectString,
    ExternalResult,
    FunctionSnapshot,
    Monty,
    MontyComplete,
    MontyCrashedError,
    MontyError,
    MontyRuntimeError,
    MontySession,
    MontySyntaxError,
    MontyTypingError,
    NameLookupSnapshot,
    ResourceLimits,
)

from executor.errors import (
    CodeError,
    ExecutorError,
    InternalError,
    LimitExceededError,
    SnapshotIncompatibleError,
)
from executor.sandbox.tree import ToolSpec, ToolTree, build_tree

logger = logging.getLogger(__name__)

#: Leading bytes of every paused state: magic, format version, then the Monty version.
STATE_MAGIC = b"EXSANDBOX"
STATE_FORMAT = 1
MONTY_VERSION: str = pydantic_monty.__version__

# Past the sandbox's own feed limit, the pool kills a worker that still has not answered.
_HUNG_WORKER_GRACE = 5.0
# Host round trips that are not tool calls (name lookups, refused OS calls) also count
# against Monty's suspension budget; leave room for them above the tool-call limit.
_SUSPENSION_HEADROOM = 1000
_DIAGNOSTIC = re.compile(r"^.*?:(\d+):(\d+): (error|warning)\[([\w-]+)\] (.*)$", re.MULTILINE)
_LIMIT_HINT = "Make the code do less in one run, or ask for a higher limit."


@dataclass(frozen=True)
class SandboxLimits:
    """What one execution may use. Exceeding any of them fails the run with a clear error."""

    wall_time: float = 30.0
    """Seconds of sandboxed execution per run or resume (time waiting on tools is not counted)."""
    memory_bytes: int = 256 * 2**20
    max_tool_calls: int = 1000
    """Host calls (tools, search, describe) per execution, across pauses."""
    max_output_bytes: int = 1_000_000
    """Printed logs plus the serialised result."""
    max_recursion_depth: int = 200


@dataclass(frozen=True)
class SandboxCall:
    """One host call made by the code."""

    kind: Literal["tool", "search", "describe"]
    address: str | None
    """The tool's address, for ``kind="tool"``."""
    arguments: dict[str, Any]
    """Keyword arguments; ``{"query", "limit"}`` for search, ``{"address"}`` for describe."""
    line: int | None


class Later:
    """A resume answer computed only once the paused state has loaded, so a state this build
    cannot read never lets the pending call take effect."""

    def __init__(self, compute: Callable[[], Awaitable[Any]]) -> None:
        self.compute = compute


class Pause:
    """Returned by a handler to suspend the run at the current call."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Pause({self.reason!r})"


Handler = Callable[[SandboxCall], Awaitable[Any]]


@dataclass(frozen=True)
class Completed:
    """The code ran to the end; ``result`` is the value of its last expression."""

    result: Any
    logs: str
    tool_calls: int


@dataclass(frozen=True)
class Paused:
    """The handler paused the run at ``call``; ``state`` resumes it (plain bytes: seal them)."""

    call: SandboxCall
    state: bytes
    logs: str
    tool_calls: int


@dataclass(frozen=True)
class Failed:
    """The run ended with ``error``: a CodeError, LimitExceededError, SnapshotIncompatibleError
    or InternalError, with ``line``/``column``/``traceback`` in its details where known."""

    error: ExecutorError
    logs: str
    tool_calls: int


Outcome = Completed | Paused | Failed


def pack_state(dump: bytes) -> bytes:
    """Wrap a Monty dump in the versioned header that :func:`unpack_state` checks."""
    version = MONTY_VERSION.encode("ascii")
    return STATE_MAGIC + bytes([STATE_FORMAT, len(version)]) + version + dump


def unpack_state(state: bytes) -> bytes:
    """The Monty dump inside ``state``; SnapshotIncompatibleError if this build cannot load it."""
    hint = "Run the code again from the start."
    head = len(STATE_MAGIC)
    if len(state) < head + 2 or not state.startswith(STATE_MAGIC):
        raise SnapshotIncompatibleError("The paused state is not a sandbox snapshot.", hint=hint)
    if state[head] != STATE_FORMAT:
        raise SnapshotIncompatibleError(
            f"The paused state has format {state[head]}; this version reads format {STATE_FORMAT}.",
            hint=hint,
        )
    end = head + 2 + state[head + 1]
    version = state[head + 2 : end].decode("ascii", "replace")
    if version != MONTY_VERSION:
        raise SnapshotIncompatibleError(
            f"The execution was paused under Monty {version}; this server runs Monty "
            f"{MONTY_VERSION}, which cannot continue it.",
            hint=hint,
        )
    return state[end:]


def _line_of(code: str, offset: int) -> int:
    return code.encode("utf-8")[:offset].count(b"\n") + 1


def _type_error(message: str) -> ExternalResult:
    return {"exc_type": "TypeError", "message": message}


def _to_call(snapshot: FunctionSnapshot, code: str) -> SandboxCall | ExternalResult:
    """The SandboxCall a snapshot asks for, or the exception to raise in the code instead."""
    name = str(snapshot.function_name)
    if not name.startswith("tools."):
        # Monty hands a call of an undefined name (``foo()``, ``input()``) to the host; only
        # the tools tree lives here, so it is the NameError it would be anywhere else.
        return {"exc_type": "NameError", "message": f"name {name!r} is not defined"}
    line = _line_of(code, snapshot.position.start) if snapshot.position.filename else None
    args, kwargs = snapshot.args, dict(snapshot.kwargs)
    if name == "tools.search":
        names = ("query", "limit")
        if len(args) > len(names):
            return _type_error("tools.search() takes a query and an optional limit")
        arguments = {"limit": 10, **dict(zip(names, args, strict=False)), **kwargs}
        if "query" not in arguments or set(arguments) - set(names):
            return _type_error("tools.search() takes a query and an optional limit")
        return SandboxCall("search", None, arguments, line)
    if name == "tools.describe":
        arguments = {**dict(zip(("address",), args, strict=False)), **kwargs}
        if len(args) > 1 or set(arguments) != {"address"}:
            return _type_error("tools.describe() takes one address")
        return SandboxCall("describe", None, arguments, line)
    address = name.removeprefix("tools.")
    if args:
        return _type_error(f"{name}() takes keyword arguments only")
    return SandboxCall("tool", address, kwargs, line)


def _size(value: Any) -> int:
    try:
        return len(orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS))
    except (TypeError, orjson.JSONEncodeError):
        return len(repr(value).encode("utf-8"))


def _megabytes(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n:,} bytes"


_NO_ANSWER: Any = object()


class _Run:
    """One drive of the code, from feed or restore to an outcome; owns its worker session."""

    def __init__(self, sandbox: Sandbox, code: str, handler: Handler, logs: str, calls: int):
        self.sandbox = sandbox
        self.limits = sandbox.limits
        self.code = code
        self.handler = handler
        self.prior_logs = logs
        self.tool_calls = calls
        self.session: MontySession | None = None
        room = self.limits.max_output_bytes - len(logs.encode("utf-8"))
        # A print cap equal to the memory limit would make their errors indistinguishable.
        self.output_cap = max(0, room) - (1 if room == self.limits.memory_bytes else 0)
        self.collector = CollectString(max_bytes=self.output_cap)

    @property
    def logs(self) -> str:
        return self.prior_logs + self.collector.output

    def fail(self, error: ExecutorError) -> Failed:
        return Failed(error=error, logs=self.logs, tool_calls=self.tool_calls)

    # --- worker-thread side -------------------------------------------------------------------

    def _checkout(self, tree: ToolTree) -> MontySession:
        limits: ResourceLimits = {
            "max_feed_duration_secs": self.limits.wall_time,
            "max_memory": self.limits.memory_bytes,
            "max_recursion_depth": self.limits.max_recursion_depth,
            "max_suspensions": self.limits.max_tool_calls + _SUSPENSION_HEADROOM,
        }
        session = self.sandbox.pool.checkout(
            external_modules={"tools": tree.module},
            limits=limits,
            # Stubs are what the checker is for; code with no tools gains little but its cost.
            type_check=self.sandbox.type_check and bool(tree.tools),
            type_check_format="concise",
        )
        session.__enter__()
        self.session = session
        return session

    def _close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            try:
                session.__exit__(None, None, None)
            except MontyError:
                # A crashed worker is already gone; the pool replaces it.
                logger.debug("sandbox session ended with its worker gone", exc_info=True)

    def _settle(self, snapshot: Any) -> Any:
        # Closing in the same thread hop keeps a trivial run to a single round trip.
        if isinstance(snapshot, MontyComplete):
            output = snapshot.output
            self._close()
            return _Done(output)
        return snapshot

    def _start(self, tree: ToolTree) -> Any:
        session = self._checkout(tree)
        try:
            session.feed_run(tree.prelude)
            try:
                snapshot = session.feed_start(self.code, print_callback=self.collector)
            except MontyTypingError as exc:
                if _DIAGNOSTIC.search(exc.display()) and not _errors(exc.display()):
                    # Only warnings: the checker is unsure, the code may well be right.
                    snapshot = session.feed_start(
                        self.code, print_callback=self.collector, skip_type_check=True
                    )
                else:
                    raise
        except BaseException:
            self._close()
            raise
        return self._settle(snapshot)

    def _restore(self, tree: ToolTree, dump: bytes) -> Any:
        session = self._checkout(tree)
        try:
            return session.load_snapshot(dump, print_callback=self.collector)
        except BaseException:
            self._close()
            raise

    def _step(self, action: Callable[..., Any], *args: Any) -> Any:
        try:
            return self._settle(action(*args))
        except BaseException:
            self._close()
            raise

    # --- event-loop side ----------------------------------------------------------------------

    async def in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(function, *args, limiter=self.sandbox.limiter)

    async def start(self, tools: Sequence[ToolSpec]) -> Outcome:
        tree = build_tree(tools)
        try:
            snapshot = await self.in_thread(self._start, tree)
        except MontyError as exc:
            return self.fail(self.translate(exc))
        return await self.drive(snapshot)

    async def restore(self, tools: Sequence[ToolSpec], state: bytes, value: Any) -> Outcome:
        tree = build_tree(tools)
        try:
            dump = unpack_state(state)
            snapshot = await self.in_thread(self._restore, tree, dump)
        except SnapshotIncompatibleError as exc:
            return self.fail(exc)
        except MontyError as exc:
            logger.warning("a paused sandbox state could not be loaded: %s", exc)
            return self.fail(
                SnapshotIncompatibleError(
                    "The paused state could not be loaded: it is damaged or was written by an "
                    "incompatible sandbox.",
                    hint="Run the code again from the start.",
                )
            )
        if not isinstance(snapshot, FunctionSnapshot) or snapshot.is_os_function:
            await self.in_thread(self._close)
            return self.fail(
                SnapshotIncompatibleError(
                    "The paused state is not waiting on a tool call.",
                    hint="Run the code again from the start.",
                )
            )
        if isinstance(value, Later):
            try:
                value = await value.compute()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self.in_thread(self._close)
                raise
        return await self.answer(snapshot, value)

    async def answer(self, snapshot: FunctionSnapshot, value: Any) -> Outcome:
        """Answer the pending call with ``value`` and drive on to an outcome."""
        return await self.drive(snapshot, value)

    async def drive(self, snapshot: Any, answer: Any = _NO_ANSWER) -> Outcome:
        try:
            while True:
                if answer is not _NO_ANSWER:
                    reply: ExternalResult = {"return_value": answer}
                    answer = _NO_ANSWER
                    try:
                        snapshot = await self.in_thread(self._step, snapshot.resume, reply)
                    except (TypeError, ValueError) as exc:
                        logger.error("a host call result could not enter the sandbox: %s", exc)
                        return self.fail(_internal("A tool result could not reach the code."))
                    continue
                if isinstance(snapshot, _Done):
                    return self.complete(snapshot.output)
                if isinstance(snapshot, NameLookupSnapshot):
                    # An undefined name: leaving it unbound raises NameError in the code.
                    snapshot = await self.in_thread(self._step, snapshot.resume)
                    continue
                if not isinstance(snapshot, FunctionSnapshot):
                    return self.fail(_internal(f"Unexpected sandbox state {type(snapshot)}."))
                if snapshot.is_os_function:
                    # No filesystem, network or environment: let Monty refuse the call.
                    snapshot = await self.in_thread(self._step, snapshot.resume_not_handled)
                    continue
                call = _to_call(snapshot, self.code)
                if not isinstance(call, SandboxCall):
                    snapshot = await self.in_thread(self._step, snapshot.resume, call)
                    continue
                if self.tool_calls >= self.limits.max_tool_calls:
                    return self.fail(
                        LimitExceededError(
                            f"Tool call limit of {self.limits.max_tool_calls} reached "
                            f"(line {call.line}).",
                            hint=_LIMIT_HINT,
                            details={"limit": "max_tool_calls", "line": call.line},
                        )
                    )
                self.tool_calls += 1
                answer = await self.handler(call)
                if isinstance(answer, Pause):
                    dump = await self.in_thread(self._step, snapshot.dump)
                    return Paused(call, pack_state(dump), self.logs, self.tool_calls)
        except MontyError as exc:
            return self.fail(self.translate(exc))
        except ExecutorError as exc:
            return self.fail(exc)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            logger.exception("sandbox host call failed (incident %s)", incident)
            return self.fail(_internal("A host call failed inside the sandbox runner.", incident))
        finally:
            if self.session is not None:
                with anyio.CancelScope(shield=True):
                    await self.in_thread(self._close)

    def complete(self, output: Any) -> Outcome:
        logs = self.logs
        size = len(logs.encode("utf-8")) + _size(output)
        if size > self.limits.max_output_bytes:
            return self.fail(
                LimitExceededError(
                    f"Output limit of {_megabytes(self.limits.max_output_bytes)} exceeded: logs "
                    f"and result came to {_megabytes(size)}.",
                    hint="Return or print less: filter or summarise inside the code.",
                    details={"limit": "max_output_bytes"},
                )
            )
        return Completed(output, logs, self.tool_calls)

    def translate(self, exc: MontyError) -> ExecutorError:
        """The Executor error for a Monty failure (limits, code errors, crashed workers)."""
        if isinstance(exc, MontyCrashedError):
            if exc.timed_out:
                return self.limit("wall_time")
            incident = uuid.uuid4().hex[:12]
            logger.error("sandbox worker crashed (incident %s): %s", incident, exc)
            return _internal("The sandbox worker crashed and the run was stopped.", incident)
        if isinstance(exc, MontyTypingError):
            return _typing_error(exc.display())
        if isinstance(exc, MontySyntaxError | MontyRuntimeError):
            inner = exc.exception()
            kind, message = type(inner).__name__, str(inner)
            if kind == "TimeoutError" and "time limit exceeded" in message:
                return self.limit("wall_time")
            if kind == "MemoryError" and "exceeded its memory limit" in message:
                # The worker was killed for its size (e.g. handing back a huge result).
                return self.limit("memory_bytes")
            if kind == "MemoryError" and "memory limit exceeded" in message:
                if message.endswith(f"> {self.output_cap} bytes"):
                    return self.limit("max_output_bytes")
                return self.limit("memory_bytes")
            if kind == "RecursionError":
                return self.limit("max_recursion_depth")
            if kind == "RuntimeError" and "suspension limit" in message:
                return self.limit("suspensions")
            return _code_error(exc, kind, message)
        logger.error("unexpected sandbox error: %s", exc)
        return _internal("The sandbox failed unexpectedly.")

    def limit(self, which: str) -> LimitExceededError:
        limits = self.limits
        messages = {
            "wall_time": f"The code ran longer than {limits.wall_time:g} s (the time limit).",
            "memory_bytes": f"The code needed more than the memory limit of "
            f"{_megabytes(limits.memory_bytes)}.",
            "max_output_bytes": f"Output limit of {_megabytes(limits.max_output_bytes)} "
            "exceeded by printed logs.",
            "max_recursion_depth": f"The code recursed deeper than the recursion limit of "
            f"{limits.max_recursion_depth} calls.",
            "suspensions": f"The code made more than "
            f"{limits.max_tool_calls + _SUSPENSION_HEADROOM} host round trips.",
        }
        return LimitExceededError(messages[which], hint=_LIMIT_HINT, details={"limit": which})


@dataclass(frozen=True)
class _Done:
    output: Any


def _internal(message: str, incident: str | None = None) -> InternalError:
    return InternalError(
        message,
        hint="Run it again; if it keeps failing, report it"
        + (f" with incident {incident}." if incident else "."),
        details={"id": incident} if incident else {},
    )


def _errors(display: str) -> list[re.Match[str]]:
    return [m for m in _DIAGNOSTIC.finditer(display) if m.group(3) == "error"]


def _typing_error(display: str) -> CodeError:
    found = _errors(display) or list(_DIAGNOSTIC.finditer(display))
    if not found:
        return CodeError(f"Type error: {display.strip()}", details={"traceback": display})
    first = found[0]
    line, column = int(first.group(1)), int(first.group(2))
    return CodeError(
        f"Type error at line {line}, column {column}: {first.group(5)}",
        hint="Check the tool's signature with tools.describe(address) and fix the call.",
        details={
            "line": line,
            "column": column,
            "rule": first.group(4),
            "diagnostics": [
                {"line": int(m.group(1)), "column": int(m.group(2)), "message": m.group(5)}
                for m in found
            ],
            "traceback": display,
        },
    )


def _code_error(exc: MontySyntaxError | MontyRuntimeError, kind: str, message: str) -> CodeError:
    frames = exc.traceback()
    frame = frames[-1] if frames else None
    where = f" at line {frame.line}, column {frame.column}" if frame else ""
    details: dict[str, Any] = {"exception": kind, "traceback": exc.display()}
    if frame:
        details.update(line=frame.line, column=frame.column)
    if isinstance(exc, MontySyntaxError):
        return CodeError(f"Syntax error{where}: {message}", hint="Fix the code.", details=details)
    return CodeError(
        f"{kind}{where}: {message}" if message else f"{kind}{where}",
        hint="Fix the code, or catch the exception inside it.",
        details=details,
    )


class Sandbox:
    """A pool of Monty workers that runs agent code against a set of tools.

    ``workers`` processes are kept warm; more runs than that at once start extra workers, up to
    ``max_workers`` (default 8 × ``workers``), because a run holds its worker while its handler
    waits on a slow tool. ``type_check`` runs Monty's type checker against stubs generated from
    the tools' schemas before any code runs.
    """

    def __init__(
        self,
        limits: SandboxLimits = SandboxLimits(),
        *,
        workers: int = 2,
        max_workers: int | None = None,
        type_check: bool = True,
    ) -> None:
        self.limits = limits
        self.type_check = type_check
        self._workers = workers
        self._max_workers = max_workers or workers * 8
        # Threads block on checkout when every worker is busy: cap them at the worker count.
        self.limiter = anyio.CapacityLimiter(self._max_workers)
        self._pool: Monty | None = None
        self._starting = anyio.Lock()

    @property
    def pool(self) -> Monty:
        if self._pool is None:
            raise RuntimeError("the sandbox pool is not started")
        return self._pool

    async def _ensure_pool(self) -> None:
        async with self._starting:
            if self._pool is None:
                pool = Monty(
                    min_processes=self._workers,
                    max_processes=self._max_workers,
                    request_timeout=self.limits.wall_time + _HUNG_WORKER_GRACE,
                )
                await anyio.to_thread.run_sync(pool.__enter__)
                self._pool = pool

    async def run(self, code: str, tools: Sequence[ToolSpec], handler: Handler) -> Outcome:
        """Run ``code`` with ``tools`` reachable; every host call goes to ``handler``.

        Never raises for a problem with the code: syntax and type errors, uncaught exceptions
        and exceeded limits come back as :class:`Failed`.
        """
        await self._ensure_pool()
        return await _Run(self, code, handler, "", 0).start(tools)

    async def resume(
        self,
        code: str,
        tools: Sequence[ToolSpec],
        state: bytes,
        value: Any,
        handler: Handler,
        *,
        logs: str = "",
        tool_calls: int = 0,
    ) -> Outcome:
        """Continue a :class:`Paused` run: its pending call evaluates to ``value`` (a
        :class:`Later` is awaited after the state has loaded).

        ``code`` and ``tools`` must be those of the paused run; ``logs`` and ``tool_calls`` carry
        its totals so the output and tool-call limits span the whole execution. A state this
        build cannot load is :class:`Failed` with a SnapshotIncompatibleError.
        """
        await self._ensure_pool()
        return await _Run(self, code, handler, logs, tool_calls).restore(tools, state, value)

    async def aclose(self) -> None:
        """Stop the worker processes (explicitly: Monty may abort at interpreter exit otherwise)."""
        async with self._starting:
            pool, self._pool = self._pool, None
            if pool is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(pool.__exit__, None, None, None)
