"""``$ref`` resolution across the documents of one spec: lazy, memoised and fetch-free.

The resolver holds the documents loaded so far, keyed by their absolute location (None for a
spec given as inline text). Looking up a reference into a document that is not loaded yet
raises :class:`MissingDocument`; the loader fetches it (under the fetch policy) and retries,
so resolution itself never does I/O and can run in a worker thread. Only what an operation
reaches is ever looked up; every (document, pointer) target is memoised.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import unquote, urldefrag, urlsplit

from executor.errors import SpecError
from executor.sources.fetch import resolve_location

#: A document location: an absolute URL or path, or None for the inline root document.
Location = str | None

_MAX_HOPS = 32


class MissingDocument(Exception):
    """A ``$ref`` reaches ``location``, which is not loaded yet; ``referrer`` refers to it."""

    def __init__(self, location: str, referrer: Location) -> None:
        super().__init__(location)
        self.location = location
        self.referrer = referrer


class RefResolver:
    """Resolves ``$ref`` strings against the documents it holds."""

    def __init__(self, root: Any, location: Location) -> None:
        self.root_location = location
        self._documents: dict[Location, Any] = {location: root}
        self._targets: dict[tuple[Location, str], Any] = {}

    def add_document(self, location: str, document: Any) -> None:
        """Make a fetched document available to references."""
        self._documents[location] = document

    def locate(self, ref: str, base: Location) -> tuple[Location, str]:
        """The (document location, JSON pointer) that ``ref`` names, seen from ``base``."""
        document_part, fragment = urldefrag(ref)
        if not document_part:
            return base, unquote(fragment)
        location = resolve_location(document_part, base)
        if urlsplit(location).scheme.lower() not in ("http", "https"):
            location = posixpath.normpath(location) if location.startswith("/") else location
        return location, unquote(fragment)

    def lookup(self, ref: str, base: Location) -> tuple[Any, Location, str]:
        """The value ``ref`` points at, with its document location and pointer.

        Raises :class:`MissingDocument` when the document is not loaded yet and
        :class:`SpecError` when the pointer leads nowhere.
        """
        location, pointer = self.locate(ref, base)
        key = (location, pointer)
        if key in self._targets:
            return self._targets[key], location, pointer
        if location not in self._documents:
            assert location is not None  # the root document is always loaded
            raise MissingDocument(location, base)
        target = _follow_pointer(self._documents[location], pointer, ref)
        self._targets[key] = target
        return target, location, pointer

    def deref(self, value: Any, base: Location) -> tuple[Any, Location]:
        """Follow ``value``'s ``$ref`` chain (if any) to a concrete value and its document."""
        for _ in range(_MAX_HOPS):
            if not (isinstance(value, dict) and isinstance(value.get("$ref"), str)):
                return value, base
            value, base, _pointer = self.lookup(value["$ref"], base)
        raise SpecError(
            f"A $ref chain is longer than {_MAX_HOPS} hops or loops on itself.",
            hint="Point each $ref at a concrete object.",
        )


def _follow_pointer(document: Any, pointer: str, ref: str) -> Any:
    if pointer and not pointer.startswith("/"):
        raise SpecError(
            f"$ref {ref!r} uses an anchor, which is not supported.",
            hint="Use a JSON pointer such as '#/components/schemas/Name'.",
        )
    value = document
    for raw in pointer.split("/")[1:] if pointer else ():
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            raise SpecError(
                f"$ref {ref!r} points at nothing.", hint="Fix the reference or add the target."
            )
    return value


__all__ = ["Location", "MissingDocument", "RefResolver"]
