"""The synchronous facade: the async core run through one anyio blocking portal.

``SyncExecutor`` mirrors :class:`~executor.Executor` for scripts and notebooks::

    with SyncExecutor.open() as ex:
        ex.sources.add_openapi("petstore", "https://…/openapi.json")
        print(ex.call("petstore.default.pets.list", {"limit": 5}))

Every method of ``ex.sources``, ``ex.connections``, ``ex.tools``, ``ex.policies``,
``ex.secrets`` and ``ex.runs`` is the async one, run to completion; nothing is written twice.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from executor.core import Executor
from executor.executions import ResumeAction
from executor.models import Execution
from executor.results import ToolResult


class _SyncAPI:
    """Runs every coroutine method of an async sub-API through the portal."""

    def __init__(self, target: object, portal: BlockingPortal) -> None:
        self._target = target
        self._portal = portal

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute) or name.startswith("_"):
            return attribute

        @functools.wraps(attribute)
        def run(*args: Any, **kwargs: Any) -> Any:
            return self._portal.call(functools.partial(attribute, *args, **kwargs))

        return run

    def __dir__(self) -> list[str]:
        return [name for name in dir(self._target) if not name.startswith("_")]


class SyncExecutor:
    """A blocking :class:`~executor.Executor`; open it with ``with SyncExecutor.open() as ex:``."""

    def __init__(self, executor: Executor, portal: BlockingPortal) -> None:
        self._executor = executor
        self._portal = portal
        self.sources: Any = _SyncAPI(executor.sources, portal)
        self.connections: Any = _SyncAPI(executor.connections, portal)
        self.tools: Any = _SyncAPI(executor.tools, portal)
        self.policies: Any = _SyncAPI(executor.policies, portal)
        self.secrets: Any = _SyncAPI(executor.secrets, portal)
        self.runs: Any = _SyncAPI(executor.runs, portal)

    @classmethod
    @contextlib.contextmanager
    def open(cls, **options: Any) -> Iterator[SyncExecutor]:
        """Open like :meth:`Executor.open` (same keyword arguments) and close on exit."""
        with (
            start_blocking_portal() as portal,
            portal.wrap_async_context_manager(Executor.open(**options)) as executor,
        ):
            yield cls(executor, portal)

    def execute(self, code: str, *, caller: str = "sdk") -> Execution:
        """Run agent code; see :meth:`Executor.execute`."""
        return self._portal.call(functools.partial(self._executor.execute, code, caller=caller))

    def resume(
        self,
        execution_id: str,
        action: ResumeAction = "accept",
        content: Mapping[str, Any] | None = None,
    ) -> Execution:
        """Continue a paused execution; see :meth:`Executor.resume`."""
        return self._portal.call(self._executor.resume, execution_id, action, content)

    def call(self, address: str, arguments: Mapping[str, Any] | None = None) -> ToolResult:
        """Call a tool; see :meth:`Executor.call`."""
        return self._portal.call(self._executor.call, address, arguments)
