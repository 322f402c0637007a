"""Tool names for OpenAPI operations: from ``operationId`` and tags, else from the path.

The rules, in order:

1. An ``operationId`` with ``/`` or ``.`` is split into segments, each made an identifier:
   ``issues/create`` → ``issues.create``, ``repos/get-content`` → ``repos.get_content``.
2. Any other ``operationId`` gets the operation's first tag as a namespace:
   tag ``pets`` + ``listPets`` → ``pets.list_pets`` (no tag: just ``list_pets``).
3. Without an ``operationId`` the name comes from the method and the path. The namespace is
   the first tag, else the first static path segment; the verb is ``list`` (GET on a
   collection), ``get`` (GET on an item, i.e. a path ending in a ``{parameter}``), ``create``
   (POST), ``replace`` (PUT), ``update`` (PATCH), ``delete``, ``head``, ``options``, ``trace``;
   the remaining static segments follow the verb and a trailing parameter adds ``by_<name>``:
   ``GET /pets/{id}`` → ``pets.get_by_id``, ``GET /pets/{id}/toys`` → ``pets.list_toys``.

Names are then fitted to :data:`~executor.addresses.MAX_TOOL_NAME` and made distinct with
:func:`~executor.addresses.unique_names`, keyed by ``"METHOD /path"``, so the outcome never
depends on the order of paths in the document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from executor.addresses import to_identifier

_SEPARATORS = re.compile(r"[/.]")
_PARAMETER = re.compile(r"^\{(.+)\}$")
_VERBS = {
    "post": "create",
    "put": "replace",
    "patch": "update",
    "delete": "delete",
    "head": "head",
    "options": "options",
    "trace": "trace",
}


def operation_key(method: str, path: str) -> str:
    """The stable key of an operation, ``"GET /pets/{id}"``."""
    return f"{method.upper()} {path}"


def tool_name(method: str, path: str, *, operation_id: str | None, tags: Sequence[str] = ()) -> str:
    """The preferred (not yet de-duplicated) dotted tool name of one operation."""
    namespace = to_identifier(tags[0], fallback="api") if tags else None
    if operation_id and operation_id.strip():
        if _SEPARATORS.search(operation_id):
            segments = [to_identifier(part) for part in _SEPARATORS.split(operation_id) if part]
            return ".".join(segments) or "op"
        name = to_identifier(operation_id)
        return f"{namespace}.{name}" if namespace else name
    return _name_from_path(method, path, namespace)


def _name_from_path(method: str, path: str, namespace: str | None) -> str:
    parts = [part for part in path.split("/") if part]
    static = [to_identifier(part) for part in parts if not _PARAMETER.match(part)]
    ends_with_parameter = bool(parts) and bool(_PARAMETER.match(parts[-1]))
    if namespace is None:
        namespace = static[0] if static else "root"
    if static and static[0] == namespace:
        static = static[1:]
    verb = method.lower()
    if verb == "get":
        verb = "get" if ends_with_parameter or not parts else "list"
    else:
        verb = _VERBS.get(verb, to_identifier(verb))
    words = [verb, *static]
    if ends_with_parameter:
        match = _PARAMETER.match(parts[-1])
        assert match is not None
        words += ["by", to_identifier(match.group(1), fallback="id")]
    return f"{namespace}.{'_'.join(words)}"


__all__ = ["operation_key", "tool_name"]
