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

import contextlib
import hashlib
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import anyio.to_thread
import orjson
import pydantic_monty
from pydantic_monty import (
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
# Sessions kept warm (type-checked or not), ready for the next run of the same tools tree.
_WARM_SESSIONS = 4
# Type-check verdicts remembered (code that passed, with its tree).
_VERDICTS = 1024
# Post-prelude session states remembered (by tree and kind).
_PRELUDES = 256
# A warm session idle longer than this is discarded rather than trusted.
_WARM_MAX_AGE = 60.0
# Fed once into a warm session: the checker's first look at the builtins and at the stubs'
# imports is what makes a session's first check slow (~10 ms). A bare expression naming them
# (tools too, uncalled) leaves no name behind.
_WARM_UP = "print, len, range, str, int, float, bool, dict, list, set, tuple, isinstance"
# A warm session's key: the tree's id, and whether the session type-checks what it is fed.
_WarmKey = tuple[int, bool]


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


class _Output:
    """A run's printed output, capped at ``max_bytes``.

    Monty reports an over-long output only when the feed ends, so an endless print loop would
    run out the whole time limit; past the cap the worker is killed at once instead (the pool
    replaces it) and the run fails with the output limit.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.overflowed = False
        self.worker_pid: int | None = None
        self._parts: list[str] = []

    @property
    def output(self) -> str:
        return "".join(self._parts)

    def __call__(self, stream: str, text: str) -> None:
        if self.overflowed:
            return
        data = text.encode("utf-8")
        if self.size + len(data) <= self.max_bytes:
            self._parts.append(text)
            self.size += len(data)
            return
        self.overflowed = True
        self._parts.append(data[: self.max_bytes - self.size].decode("utf-8", "ignore"))
        if self.worker_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.worker_pid, signal.SIGKILL)


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
        # Whether this run's code is type-checked (new code) or not (it passed before).
        self.checked = True
        room = self.limits.max_output_bytes - len(logs.encode("utf-8"))
        self.collector = _Output(max(0, room))

    @property
    def logs(self) -> str:
        return self.prior_logs + self.collector.output

    def fail(self, error: ExecutorError) -> Failed:
        return Failed(error=error, logs=self.logs, tool_calls=self.tool_calls)

    # --- worker-thread side -------------------------------------------------------------------

    def _checkout(self, tree: ToolTree, *, check: bool = True) -> MontySession:
        session = self.sandbox.checkout(tree, check=check)
        session.__enter__()
        self._adopt(session)
        return session

    def _adopt(self, session: MontySession) -> None:
        self.session = session
        self.collector.worker_pid = session.worker_pid

    def _fresh(self, tree: ToolTree, *, check: bool = True) -> MontySession:
        session = self._checkout(tree, check=check)
        self.sandbox.import_tools(session, tree, check=check)
        return session

    def _close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            # A crashed worker is already gone; the pool replaces it.
            _close_quietly(session)

    def _settle(self, snapshot: Any) -> Any:
        if isinstance(snapshot, MontyComplete):
            session, self.session = self.session, None
            if session is not None:
                self.sandbox.release(session)
            return _Done(snapshot.output)
        return snapshot

    def _feed(self, tree: ToolTree) -> Any:
        """Start the code in a warm session of its kind when one is ready, else in a fresh one:
        type-checked, unless this very code passed the check on this tree before."""
        self.checked = self.sandbox.checks(tree) and not self.sandbox.passed_check(tree, self.code)
        session = self.sandbox.take_warm(tree, checked=self.checked)
        if session is None:
            snapshot = self._fresh(tree, check=self.checked).feed_start(
                self.code, print_callback=self.collector
            )
        else:
            self._adopt(session)
            try:
                snapshot = session.feed_start(self.code, print_callback=self.collector)
            except MontyCrashedError as exc:
                # The warm session's worker may have died while it waited: start afresh once.
                # (No tool has run: a feed stops at the first tool call.)
                if exc.timed_out or self.collector.overflowed:
                    raise
                logger.debug("a warm sandbox session had lost its worker; starting a fresh one")
                self._close()
                self.collector = _Output(self.collector.max_bytes)
                snapshot = self._fresh(tree, check=self.checked).feed_start(
                    self.code, print_callback=self.collector
                )
        if self.checked:
            self.sandbox.record_pass(tree, self.code)
        return snapshot

    def _start(self, tree: ToolTree) -> Any:
        try:
            try:
                snapshot = self._feed(tree)
            except MontyTypingError as exc:
                if _DIAGNOSTIC.search(exc.display()) and not _errors(exc.display()):
                    # Only warnings: the checker is unsure, the code may well be right.
                    assert self.session is not None
                    snapshot = self.session.feed_start(
                        self.code, print_callback=self.collector, skip_type_check=True
                    )
                    self.sandbox.record_pass(tree, self.code)
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
        """Run a step on this run's own session in a worker thread. It never waits for a
        free worker, so it must not queue behind threads that do (:meth:`checking_out`)."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self.sandbox.step_limiter)

    async def checking_out(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function``, which takes a session from the pool (and may block until a
        worker is free), in a worker thread of its own kind."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self.sandbox.limiter)

    async def start(self, tools: Sequence[ToolSpec]) -> Outcome:
        tree = build_tree(tools)
        try:
            try:
                snapshot = await self.checking_out(self._start, tree)
            except MontyError as exc:
                return self.fail(self.translate(exc))
            return await self.drive(snapshot)
        finally:
            # After the run, off its path: the next run of these tools finds a warm session.
            self.sandbox.want_warm(tree, checked=self.checked)

    async def restore(self, tools: Sequence[ToolSpec], state: bytes, value: Any) -> Outcome:
        tree = build_tree(tools)
        try:
            dump = unpack_state(state)
            snapshot = await self.checking_out(self._restore, tree, dump)
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
            if self.collector.overflowed:
                return self.limit("max_output_bytes")
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


def _code_key(code: str) -> bytes:
    return hashlib.blake2b(code.encode("utf-8"), digest_size=16).digest()


def _close_quietly(session: MontySession) -> None:
    try:
        session.__exit__(None, None, None)
    except MontyError:
        logger.debug("sandbox session ended with its worker gone", exc_info=True)


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
        # Steps of runs that hold a session (answer a tool call, dump, close) have threads of
        # their own: queued behind blocked checkouts, they could never free the workers those
        # wait for. One per session the pool can hand out.
        self.step_limiter = anyio.CapacityLimiter(self.max_sessions)
        self._pool: Monty | None = None
        self._starting = anyio.Lock()
        # Warm sessions by tree and kind (see take_warm), prepared by one background thread.
        self._warm: OrderedDict[_WarmKey, tuple[ToolTree, MontySession, float]] = OrderedDict()
        self._warming: set[_WarmKey] = set()
        self._warm_lock = threading.Lock()
        self._warmer: ThreadPoolExecutor | None = None
        # Closes the sessions of finished runs, off their path (see release).
        self._closer: ThreadPoolExecutor | None = None
        # Code that passed the type check, by code digest, with the tree it was checked on.
        self._verdicts: OrderedDict[bytes, tuple[ToolTree]] = OrderedDict()
        # A session's state right after its prelude, by tree and kind (see import_tools).
        self._preludes: OrderedDict[_WarmKey, tuple[ToolTree, bytes]] = OrderedDict()

    @property
    def pool(self) -> Monty:
        if self._pool is None:
            raise RuntimeError("the sandbox pool is not started")
        return self._pool

    async def start(self) -> None:
        """Start the worker pool now (it otherwise starts with the first run)."""
        await self._ensure_pool()

    @property
    def max_sessions(self) -> int:
        """Worker processes (so sessions) the pool may hold at once: ``max_workers`` for runs,
        plus the warm sessions and the one being prepared, which so never take a worker that a
        run is waiting for."""
        return self._max_workers + _WARM_SESSIONS + 1

    @property
    def started(self) -> bool:
        """Whether the worker pool is running."""
        return self._pool is not None

    async def _ensure_pool(self) -> None:
        if self._pool is not None:  # every run asks: skip the lock once started
            return
        async with self._starting:
            if self._pool is None:
                pool = Monty(
                    min_processes=self._workers,
                    max_processes=self.max_sessions,
                    request_timeout=self.limits.wall_time + _HUNG_WORKER_GRACE,
                )
                await anyio.to_thread.run_sync(pool.__enter__)
                self._pool = pool
                self._warmer = ThreadPoolExecutor(1, thread_name_prefix="sandbox-warm")
                self._closer = ThreadPoolExecutor(1, thread_name_prefix="sandbox-close")

    def checkout(self, tree: ToolTree, *, check: bool = True) -> MontySession:
        """A new (not yet entered) worker session for ``tree``, with this sandbox's limits,
        type-checking what it is fed when ``check`` and the sandbox checks this tree."""
        limits: ResourceLimits = {
            "max_feed_duration_secs": self.limits.wall_time,
            "max_memory": self.limits.memory_bytes,
            "max_recursion_depth": self.limits.max_recursion_depth,
            "max_suspensions": self.limits.max_tool_calls + _SUSPENSION_HEADROOM,
        }
        return self.pool.checkout(
            external_modules={"tools": tree.module},
            limits=limits,
            # Stubs are what the checker is for; code with no tools gains little but its cost.
            type_check=check and self.checks(tree),
            type_check_format="concise",
        )

    def passed_check(self, tree: ToolTree, code: str) -> bool:
        """Whether this very code passed the type check on this tree before (a verdict is
        final: the same code against the same stubs checks the same)."""
        with self._warm_lock:
            entry = self._verdicts.get(_code_key(code))
            if entry is None or entry[0] is not tree:
                return False
            self._verdicts.move_to_end(_code_key(code))
            return True

    def record_pass(self, tree: ToolTree, code: str) -> None:
        """Remember that ``code`` passed the type check on ``tree``."""
        if not self.checks(tree):
            return
        with self._warm_lock:
            # Holding the tree keeps its id from being reused by another while remembered.
            self._verdicts[_code_key(code)] = (tree,)
            self._verdicts.move_to_end(_code_key(code))
            while len(self._verdicts) > _VERDICTS:
                self._verdicts.popitem(last=False)

    def import_tools(self, session: MontySession, tree: ToolTree, *, check: bool) -> None:
        """Run ``tree``'s prelude (``import tools``) in a fresh ``session`` checked out with
        ``check``: the first time by feeding it, then by loading the state it left.

        Each import is a round trip to this process; loading the dumped state instead saves
        ~0.1 ms of this process's CPU and ~0.2 ms of every fresh run's latency.
        """
        key = (id(tree), check)
        with self._warm_lock:
            entry = self._preludes.get(key)
            if entry is not None:
                self._preludes.move_to_end(key)
        if entry is not None:
            session.load_session(entry[1])
            return
        session.feed_run(tree.prelude)
        state = session.dump()
        with self._warm_lock:
            # Holding the tree keeps its id from being reused by another while remembered.
            self._preludes[key] = (tree, state)
            while len(self._preludes) > _PRELUDES:
                self._preludes.popitem(last=False)

    def checks(self, tree: ToolTree) -> bool:
        """Whether code against ``tree`` is type-checked (new code, not code that passed)."""
        return self.type_check and bool(tree.tools)

    def take_warm(self, tree: ToolTree, *, checked: bool = True) -> MontySession | None:
        """An entered session for ``tree`` whose prelude has run, or None. ``checked``: one
        that type-checks what it is fed and whose checker has warmed up; else one that does not
        check (for code that passed the check before).

        A session's first type check costs ~10 ms (the checker reads the builtins), later ones
        well under 1 ms; the prelude (importing ``tools``) costs a few host round trips
        (~0.3 ms); and a session cannot be reset between runs. So one run's session is never
        reused, but when a run ends another of its kind is prepared (:meth:`want_warm`) and
        the next run of the same tree finds one that paid those costs off its critical path.
        """
        if checked and not self.checks(tree):
            return None
        with self._warm_lock:
            entry = self._warm.pop((id(tree), checked), None)
        if entry is None:
            return None
        _, session, made = entry
        if time.monotonic() - made > _WARM_MAX_AGE:
            _close_quietly(session)
            return None
        return session

    def want_warm(self, tree: ToolTree, *, checked: bool = True) -> None:
        """Prepare a warm session of this kind for ``tree`` in the background unless one is
        ready or on its way (checked ones only for type-checked trees)."""
        if checked and not self.checks(tree):
            return
        key = (id(tree), checked)
        with self._warm_lock:
            if self._warmer is None or key in self._warm or key in self._warming:
                return
            self._warming.add(key)
            self._warmer.submit(self._prepare_warm, tree, checked)

    def release(self, session: MontySession) -> None:
        """Close a finished run's session (its worker goes back to the pool) in the
        background: the run's answer does not wait the ~0.1 ms that takes."""
        with self._warm_lock:
            if self._closer is not None:
                self._closer.submit(_close_quietly, session)
                return
        _close_quietly(session)

    def settle_warm(self) -> None:
        """Block until the warm sessions asked for so far are prepared (tests, benchmarks)."""
        warmer = self._warmer
        if warmer is not None:
            warmer.submit(lambda: None).result()

    def warm_sessions(self, *, checked: bool | None = None) -> int:
        """How many warm sessions (of one kind, or both) are ready now."""
        with self._warm_lock:
            return sum(checked is None or kind == checked for _, kind in self._warm)

    def _prepare_warm(self, tree: ToolTree, checked: bool) -> None:
        key = (id(tree), checked)
        session: MontySession | None = None
        try:
            session = self.checkout(tree, check=checked)
            session.__enter__()
            self.import_tools(session, tree, check=checked)
            if checked:
                session.feed_run(", ".join([_WARM_UP, *tree.touched]))
        except Exception:  # a warm session is an optimisation: never let it fail a run
            logger.debug("could not prepare a warm sandbox session", exc_info=True)
            if session is not None:
                _close_quietly(session)
            session = None
        evicted: list[MontySession] = []
        with self._warm_lock:
            self._warming.discard(key)
            if session is not None and self._warmer is not None and key not in self._warm:
                self._warm[key] = (tree, session, time.monotonic())
                session = None
                while len(self._warm) > _WARM_SESSIONS:
                    evicted.append(self._warm.popitem(last=False)[1][1])
        for stale in [*evicted, *([session] if session is not None else [])]:
            _close_quietly(stale)

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
            with self._warm_lock:
                warmer, self._warmer = self._warmer, None
                closer, self._closer = self._closer, None
            with anyio.CancelScope(shield=True):
                for executor in (warmer, closer):
                    if executor is not None:
                        await anyio.to_thread.run_sync(executor.shutdown)
                with self._warm_lock:
                    warm = [session for _, session, _ in self._warm.values()]
                    self._warm.clear()
                for session in warm:
                    _close_quietly(session)
                if pool is not None:
                    await anyio.to_thread.run_sync(pool.__exit__, None, None, None)
