"""Reading agent code before it runs: markdown fences, and the tool paths it names.

Monty has no dynamic attribute proxies, so the ``tools`` tree has to be materialised before the
code runs. :func:`referenced_paths` tells the caller which parts of the catalog the code can
reach, so a catalog of 10,000 tools costs no more than one of 10.
"""

from __future__ import annotations

import ast
import functools
import re

from executor.errors import CodeError

#: Members of ``tools`` that are built-ins of the sandbox, not catalog paths.
BUILTINS: frozenset[str] = frozenset({"search", "describe"})

# An opening fence (``` or ~~~, optional language tag) on its own line, the body, and the
# matching closing fence. The body is lazy so two fenced blocks stay two blocks.
_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*\n"
    r"(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_OPEN_ONLY = re.compile(r"\A\s*(`{3,}|~{3,})[ \t]*[\w+-]*[ \t]*\n")
_PYTHON_TAGS = frozenset({"", "python", "py", "python3"})


def strip_fence(code: str) -> str:
    """The program inside a markdown code fence, or ``code`` unchanged when it has none.

    Accepts ````` ```python ... ``` `````, ````` ``` ... ``` ````` and ``~~~`` fences, with prose
    before or after the fence. With several fenced blocks, the first one tagged as Python (or
    untagged) wins. A fence that is opened but never closed (a truncated answer) is stripped too.
    """
    blocks = list(_FENCE.finditer(code))
    if blocks:
        chosen = next((b for b in blocks if b["lang"].lower() in _PYTHON_TAGS), blocks[0])
        return chosen["body"].rstrip() + "\n"
    opened = _OPEN_ONLY.match(code)
    if opened:
        return code[opened.end() :]
    return code


def _chain(node: ast.Attribute) -> tuple[str, ...] | None:
    """The names in ``tools.a.b.c`` as ``("a", "b", "c")``; None if not rooted at ``tools``."""
    names: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        names.append(current.attr)
        current = current.value
    if isinstance(current, ast.Name) and current.id == "tools":
        return tuple(reversed(names))
    return None


def referenced_paths(code: str) -> dict[tuple[str, ...], tuple[int, int]]:
    """Every catalog path the code names under ``tools``, with where it first appears.

    ``tools.petstore.default.pets.list_pets(limit=5)`` gives
    ``{("petstore", "default", "pets", "list_pets"): (1, 1)}`` — line and column are 1-based, as
    in Monty's tracebacks. Only the longest chain counts (``tools.a.b.c`` names ``a.b.c``, not
    ``a``), whether it is called or only used (``ns = tools.github.work`` names a namespace).
    ``tools.search`` and ``tools.describe`` are built-ins and never reported. Indirect access
    (``getattr(tools, name)``) cannot be seen and so reaches nothing.

    Raises :class:`CodeError` with ``line``/``column`` details when the code does not parse.
    """
    return dict(_referenced(code))


@functools.lru_cache(maxsize=256)
def _referenced(code: str) -> tuple[tuple[tuple[str, ...], tuple[int, int]], ...]:
    """:func:`referenced_paths`, remembered: agents send the same programs again and again,
    and parsing one costs more than the rest of starting it."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        line, column = exc.lineno or 1, exc.offset or 1
        raise CodeError(
            f"Syntax error at line {line}, column {column}: {exc.msg}.",
            hint="Fix the code and run it again.",
            details={"line": line, "column": column, "text": (exc.text or "").rstrip()},
        ) from None
    found: dict[tuple[str, ...], tuple[int, int]] = {}
    inner: set[int] = set()
    # ast.walk visits a chain's outermost Attribute before its inner ones, so marking the
    # inner nodes as seen keeps only the longest chain.
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        path = _chain(node)
        if path is None:
            continue
        value = node.value
        while isinstance(value, ast.Attribute):
            inner.add(id(value))
            value = value.value
        if len(path) == 1 and path[0] in BUILTINS:
            continue
        position = (node.lineno, node.col_offset + 1)
        if path not in found or position < found[path]:
            found[path] = position
    return tuple(sorted(found.items(), key=lambda item: item[1]))
