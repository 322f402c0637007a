"""The ``tools`` tree: the one capability inside the sandbox, built from the reachable tools.

Monty cannot proxy attribute access, so every namespace on the way to a tool is a real
:class:`pydantic_monty.ExternalModule`: ``tools.petstore.default.pets.list_pets`` is the function
``list_pets`` in module ``tools.petstore.default.pets``. Each module carries ``.pyi`` stubs
generated from its tools' schemas, so the type checker sees every signature.

Two kinds of name conflict are settled by fixed rules (never by order):

- a path that is both a tool and a namespace of other tools (``a.b`` and ``a.b.c``): the
  namespace wins, and the tool is listed in :attr:`ToolTree.shadowed`;
- an integration called ``search`` or ``describe``: the built-ins win, and its tools are shadowed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic_monty import ExternalModule

from executor.sandbox.code import BUILTINS
from executor.sandbox.stubs import HEADER, stub_for

#: Stubs of the built-ins on the root ``tools`` module.
ROOT_STUBS = (
    HEADER
    + "def search(query: str, limit: int = 10) -> dict[str, Any]: ...\n"
    + "def describe(address: str) -> dict[str, Any]: ...\n"
)
#: How many distinct tool sets keep their built tree; a tree of a few tools is a few KB.
CACHE_SIZE = 256


@dataclass(frozen=True)
class ToolSpec:
    """One tool the code may call, resolved by the caller from the catalog.

    Hashable (the schema is compared but not hashed), so a set of specs keys the tree cache.
    """

    path: tuple[str, ...]
    address: str
    input_schema: dict[str, Any] = field(hash=False)
    summary: str = ""


@dataclass(frozen=True)
class ToolTree:
    """A built ``tools`` module, the prelude that imports it, and the tools it had to leave out."""

    module: ExternalModule
    prelude: str
    shadowed: tuple[str, ...]
    tools: tuple[str, ...]
    """Addresses of the tools reachable in this tree."""
    touched: tuple[str, ...] = ()
    """One tool per stub module, as code names it (``tools.github.work.issues.create``):
    naming them warms the type checker up on the tree's stubs."""


def _host_function(*args: Any, **kwargs: Any) -> Any:
    # Never called: the runner answers every tool call itself from the snapshot.
    raise RuntimeError("tool calls are answered by the sandbox runner")


class _Node:
    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.tools: dict[str, ToolSpec] = {}

    def build(self, is_root: bool) -> ExternalModule:
        attrs: dict[str, Any] = {name: _host_function for name in self.tools}
        attrs.update({name: child.build(False) for name, child in self.children.items()})
        if is_root:
            attrs.update({name: _host_function for name in BUILTINS})
            return ExternalModule(attrs, stubs=ROOT_STUBS)
        if not self.tools:
            return ExternalModule(attrs, stubs="")
        body = "".join(
            stub_for(spec.input_schema, name) for name, spec in sorted(self.tools.items())
        )
        return ExternalModule(attrs, stubs=HEADER + body)


def build_tree(tools: Iterable[ToolSpec]) -> ToolTree:
    """Build the ``tools`` module for exactly these tools (cached per distinct set)."""
    return _build(frozenset(tools))


@functools.lru_cache(maxsize=CACHE_SIZE)
def _build(tools: frozenset[ToolSpec]) -> ToolTree:
    root = _Node()
    namespaces: set[tuple[str, ...]] = set()
    for spec in tools:
        namespaces.update(spec.path[:i] for i in range(1, len(spec.path)))
    shadowed: list[str] = []
    reachable: list[str] = []
    modules: set[tuple[str, ...]] = set()
    touched: dict[tuple[str, ...], str] = {}
    for spec in sorted(tools, key=lambda s: s.path):
        if not spec.path or spec.path in namespaces or spec.path[0] in BUILTINS:
            shadowed.append(spec.address)
            continue
        node = root
        for segment in spec.path[:-1]:
            node = node.children.setdefault(segment, _Node())
        node.tools[spec.path[-1]] = spec
        reachable.append(spec.address)
        if len(spec.path) > 1:
            modules.add(spec.path[:-1])
        touched.setdefault(spec.path[:-1], "tools." + ".".join(spec.path))
    # Importing each module that holds tools tells the type checker the submodules exist
    # (otherwise ty reports "possibly-missing-submodule" on every call).
    prelude = "\n".join(["import tools", *(f"import tools.{'.'.join(m)}" for m in sorted(modules))])
    return ToolTree(
        root.build(True), prelude, tuple(shadowed), tuple(reachable), tuple(touched.values())
    )
