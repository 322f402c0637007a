"""Identifier rules, address parsing and collision-free tool naming (PRODUCT.md §1.1).

Integration slugs, connection names and every tool-name segment are lowercase Python identifiers
that are not keywords. A tool address is ``<integration>.<connection>.<tool>``, where ``<tool>``
may contain dots (``github.work.issues.create``).
"""

from __future__ import annotations

import hashlib
import keyword
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from executor.errors import InvalidInputError

#: Longest tool name (the part after ``<integration>.<connection>.``).
MAX_TOOL_NAME = 48
#: Longest integration slug or connection name.
MAX_SLUG = 32

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*\Z")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def is_identifier(text: str) -> bool:
    """Whether ``text`` is a valid name segment: ``[a-z_][a-z0-9_]*`` and not a keyword."""
    return bool(_IDENTIFIER.match(text)) and not keyword.iskeyword(text)


def to_identifier(text: str, *, fallback: str = "op") -> str:
    """Turn any text into a name segment, deterministically.

    ``"getPetById"`` → ``"get_pet_by_id"``, ``"Café Items"`` → ``"cafe_items"``,
    ``"import"`` → ``"import_"``, ``"2fa"`` → ``"_2fa"``; text with no usable character gives
    ``fallback``.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    snake = _CAMEL_BOUNDARY.sub("_", ascii_text).lower()
    name = _NON_WORD.sub("_", snake).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name:
        return fallback
    if name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name):
        name += "_"
    return name


def check_slug(value: str, what: str = "name") -> str:
    """Return ``value`` if it is a valid slug or connection name, else raise a clear error."""
    if not is_identifier(value) or len(value) > MAX_SLUG:
        suggestion = to_identifier(value)[:MAX_SLUG]
        raise InvalidInputError(
            f"{what} {value!r} is not a valid name: use lowercase letters, digits and _, "
            f"starting with a letter or _, at most {MAX_SLUG} characters.",
            hint=f"Try {suggestion!r}.",
        )
    return value


def short_hash(text: str, length: int = 6) -> str:
    """A short, stable hex digest used to disambiguate names."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def fit_name(name: str, max_length: int = MAX_TOOL_NAME) -> str:
    """Shorten a dotted tool name to ``max_length`` with a stable hash suffix when needed."""
    if len(name) <= max_length:
        return name
    suffix = "_" + short_hash(name)
    head = name[: max_length - len(suffix)].rstrip("._")
    # Never leave an empty or dangling segment behind.
    head = ".".join(segment for segment in head.split(".") if segment) or "op"
    return head + suffix


def unique_names(
    candidates: Iterable[tuple[str, str]], *, max_length: int = MAX_TOOL_NAME
) -> dict[str, str]:
    """Give every item a distinct tool name.

    ``candidates`` are ``(key, name)`` pairs where ``key`` identifies the item stably (for an
    OpenAPI operation: ``"GET /pets/{id}"``). Names are fitted to ``max_length``. Among items
    that want the same name, the one whose key sorts first keeps it and the others get a suffix
    derived from their own key, so the outcome depends only on the set of items, never on the
    order they were discovered in. Returns ``{key: name}``.
    """
    wanted: dict[str, list[str]] = defaultdict(list)
    for key, name in candidates:
        wanted[fit_name(name, max_length)].append(key)
    taken = set(wanted)
    result: dict[str, str] = {}
    for name in sorted(wanted):
        keys = sorted(wanted[name])
        result[keys[0]] = name
        for key in keys[1:]:
            attempt = 0
            while True:
                suffix = "_" + short_hash(f"{key}#{attempt}" if attempt else key)
                alternative = fit_name(name[: max_length - len(suffix)].rstrip("._") + suffix)
                if alternative not in taken:
                    break
                attempt += 1
            taken.add(alternative)
            result[key] = alternative
    return result


@dataclass(frozen=True)
class Address:
    """A parsed tool address ``<integration>.<connection>.<tool>``."""

    integration: str
    connection: str
    tool: str

    def __str__(self) -> str:
        return f"{self.integration}.{self.connection}.{self.tool}"


def parse_address(address: str) -> Address:
    """Split an address into its parts; raise :class:`InvalidInputError` when malformed."""
    parts = address.strip().split(".")
    if len(parts) < 3 or not all(parts):
        raise InvalidInputError(
            f"{address!r} is not a tool address.",
            hint="Use <integration>.<connection>.<tool>, e.g. 'petstore.default.pets.list'.",
        )
    return Address(parts[0], parts[1], ".".join(parts[2:]))
