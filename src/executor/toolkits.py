"""Toolkits: named subsets of the catalog, each with its own policy rules (``ex.toolkits``).

A toolkit picks tools by address patterns (the policy pattern syntax: ``*``, an address,
``github.*``, ``github.*.issues.create``) and may add policy rules that apply only to calls made
through it, on top of the workspace's rules — across the two the most restrictive action wins, so
a toolkit can tighten a policy but never loosen one.

Work *through* a toolkit with :meth:`Toolkits.use`: inside the block, ``ex.tools``, ``ex.call``,
``ex.execute`` and ``ex.resume`` see only the toolkit's tools (anything else is
``tool_not_found``) and its rules apply. The scope follows the task (a context variable), so
concurrent requests through different toolkits never see each other's scope. A paused
execution remembers its toolkit, and resuming it — from any process — runs under it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

from executor.addresses import check_slug
from executor.errors import InvalidInputError, NotFoundError
from executor.models import POLICY_ACTIONS, Policy, PolicyAction, Toolkit, ToolkitPolicy
from executor.policy import check_pattern, compile_pattern

if TYPE_CHECKING:
    from executor.core import Executor

#: The toolkit the current task works through (None: the whole catalog).
_scope: ContextVar[Toolkit | None] = ContextVar("executor_toolkit", default=None)

PolicyInput = ToolkitPolicy | Mapping[str, Any] | tuple[str, str]


def current_toolkit(workspace_id: str) -> Toolkit | None:
    """The toolkit the current task works through in ``workspace_id``, if any."""
    toolkit = _scope.get()
    if toolkit is None or toolkit.workspace_id != workspace_id:
        return None
    return toolkit


def contains(toolkit: Toolkit, address: str) -> bool:
    """Whether the tool at ``address`` belongs to ``toolkit``."""
    return any(compile_pattern(pattern)(address) for pattern in toolkit.patterns)


def toolkit_rules(toolkit: Toolkit) -> list[Policy]:
    """The toolkit's own rules as policy rules of the ``toolkit`` scope, in order."""
    return [
        Policy(
            id=f"{toolkit.id}:{index}",
            workspace_id=toolkit.workspace_id,
            scope="toolkit",
            pattern=rule.pattern,
            action=rule.action,
            position=index,
        )
        for index, rule in enumerate(toolkit.policies)
    ]


@contextlib.contextmanager
def working_through(toolkit: Toolkit | None) -> Iterator[None]:
    """Run the block through ``toolkit`` (None: the whole catalog)."""
    token = _scope.set(toolkit)
    try:
        yield
    finally:
        _scope.reset(token)


def _patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    if isinstance(patterns, str):
        patterns = [patterns]
    checked = tuple(dict.fromkeys(check_pattern(pattern) for pattern in patterns))
    if not checked:
        raise InvalidInputError(
            "A toolkit needs at least one address pattern.",
            hint="e.g. patterns=['github.*'] or ['petstore.*.pets.list_pets'].",
        )
    return checked


def _policy(rule: PolicyInput) -> ToolkitPolicy:
    pattern: Any
    action: Any
    if isinstance(rule, ToolkitPolicy):
        pattern, action = rule.pattern, rule.action
    elif isinstance(rule, Mapping):
        pattern, action = rule.get("pattern"), rule.get("action")
    elif isinstance(rule, tuple) and len(rule) == 2:
        pattern, action = rule
    else:
        raise InvalidInputError(
            f"A toolkit policy is {{'pattern': ..., 'action': ...}}, not {type(rule).__name__}."
        )
    if action not in POLICY_ACTIONS:
        raise InvalidInputError(
            f"Unknown policy action {action!r}.", hint=f"Use one of {', '.join(POLICY_ACTIONS)}."
        )
    return ToolkitPolicy(check_pattern(pattern), cast(PolicyAction, action))


class Toolkits:
    """Create, list, change and remove toolkits, and work through one (``ex.toolkits``)."""

    def __init__(self, executor: Executor) -> None:
        self._ex = executor
        self._cache: dict[str, Toolkit] = {}

    def forget(self) -> None:
        """Drop cached toolkits (the catalog changed)."""
        self._cache.clear()

    async def create(
        self,
        slug: str,
        *,
        patterns: Iterable[str],
        policies: Iterable[PolicyInput] = (),
        description: str = "",
    ) -> Toolkit:
        """Create a toolkit of the tools matching ``patterns``.

        ``policies`` are rules that apply only through this toolkit, e.g.
        ``[{"pattern": "github.*.issues.create", "action": "require_approval"}]``; the first
        match counts, and against the workspace's rules the most restrictive action wins.
        """
        ex = self._ex
        check_slug(slug, "Toolkit slug")
        toolkit = await ex.store.create_toolkit(
            ex.workspace_id,
            slug=slug,
            description=description,
            patterns=_patterns(patterns),
            policies=[_policy(rule) for rule in policies],
        )
        ex.catalog_changed()
        return toolkit

    async def update(
        self,
        slug: str,
        *,
        patterns: Iterable[str] | None = None,
        policies: Iterable[PolicyInput] | None = None,
        description: str | None = None,
    ) -> Toolkit:
        """Replace the given parts of a toolkit (the others stay as they are)."""
        ex = self._ex
        toolkit = await ex.store.update_toolkit(
            ex.workspace_id,
            slug,
            description=description,
            patterns=None if patterns is None else _patterns(patterns),
            policies=None if policies is None else [_policy(rule) for rule in policies],
        )
        if toolkit is None:
            raise _missing(slug)
        ex.catalog_changed()
        return toolkit

    async def list(self) -> list[Toolkit]:
        """Every toolkit, by slug."""
        return await self._ex.store.list_toolkits(self._ex.workspace_id)

    async def get(self, slug: str) -> Toolkit:
        """One toolkit; raises ``not_found`` when there is none."""
        await self._ex.check_catalog()
        toolkit = self._cache.get(slug)
        if toolkit is None:
            toolkit = await self._ex.store.get_toolkit(self._ex.workspace_id, slug)
            if toolkit is None:
                raise _missing(slug)
            self._cache[slug] = toolkit
        return toolkit

    async def remove(self, slug: str) -> None:
        """Remove a toolkit (the tools themselves stay in the catalog)."""
        if not await self._ex.store.delete_toolkit(self._ex.workspace_id, slug):
            raise _missing(slug)
        self._ex.catalog_changed()

    @contextlib.asynccontextmanager
    async def use(self, slug: str | None) -> AsyncIterator[Toolkit | None]:
        """Work through the toolkit ``slug`` inside the block (None: the whole catalog)."""
        toolkit = None if slug is None else await self.get(slug)
        with working_through(toolkit):
            yield toolkit


def _missing(slug: str) -> NotFoundError:
    return NotFoundError(f"No toolkit named {slug!r}.", hint="List them with toolkits.list().")


__all__ = [
    "Toolkits",
    "contains",
    "current_toolkit",
    "toolkit_rules",
    "working_through",
]
