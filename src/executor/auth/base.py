"""The auth scheme seam: how a connection's auth config is validated, stored and applied.

A connection's auth config is a small dict with a ``type`` (``api_key``, ``bearer``, …) and
secret *references*. Each type is an :class:`AuthScheme` registered in an :class:`AuthSchemes`
registry. Applying is async and receives the secret resolver, so a scheme that has to fetch or
refresh a token (OAuth 2) is just another scheme.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from executor.errors import InvalidInputError, SecretError
from executor.models import AuthMethod
from executor.secrets import SecretResolver
from executor.sources.base import AppliedAuth


@dataclass(frozen=True)
class ResolvedAuth:
    """What goes on the wire, plus every secret form that must be redacted from output.

    ``secret_values`` holds the resolved values and the derived forms an upstream could echo
    back (``Bearer <token>``, the base64 ``user:pass`` of basic auth), longest first.
    """

    applied: AppliedAuth
    secret_values: tuple[str, ...] = ()


class AuthScheme(Protocol):
    """One auth ``type``: validation, where its secrets are, and how it goes on the wire."""

    type: str

    def normalize(self, config: Mapping[str, Any], methods: Sequence[AuthMethod]) -> dict[str, Any]:
        """Validate ``config`` (its ``type`` is this scheme's) and return the dict to store."""
        ...

    def secret_fields(self, config: Mapping[str, Any]) -> dict[str, str]:
        """JSON pointers (``/token``) → values of the fields that hold secrets."""
        ...

    async def apply(self, config: Mapping[str, Any], resolver: SecretResolver) -> ResolvedAuth:
        """Resolve the secrets of a stored config into headers, query parameters or cookies."""
        ...


class AuthSchemes:
    """A registry of auth schemes by type."""

    def __init__(self, schemes: Iterable[AuthScheme] = ()) -> None:
        self._schemes: dict[str, AuthScheme] = {}
        for scheme in schemes:
            self.register(scheme)

    def register(self, scheme: AuthScheme) -> None:
        """Add ``scheme`` (or replace the one of the same type)."""
        self._schemes[scheme.type] = scheme

    @property
    def types(self) -> list[str]:
        """The registered types, sorted."""
        return sorted(self._schemes)

    def get(self, config: Mapping[str, Any]) -> AuthScheme:
        """The scheme for ``config["type"]``; InvalidInputError if missing or unknown."""
        if not isinstance(config, Mapping):
            raise InvalidInputError(
                "Auth config must be an object with a 'type'.",
                hint=f"Types: {', '.join(self.types)}.",
            )
        kind = config.get("type")
        scheme = self._schemes.get(kind) if isinstance(kind, str) else None
        if scheme is None:
            what = "has no 'type'" if kind is None else f"has unknown type {kind!r}"
            raise InvalidInputError(
                f"Auth config {what}.", hint=f"Use one of: {', '.join(self.types)}."
            )
        return scheme


def to_pointer(*parts: str) -> str:
    """A JSON pointer (RFC 6901) from path parts: ``("headers", "X-A")`` → ``/headers/X-A``."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def from_pointer(pointer: str) -> list[str]:
    """The path parts of a JSON pointer made by :func:`to_pointer`."""
    if not pointer.startswith("/"):
        raise InvalidInputError(f"{pointer!r} is not a JSON pointer.", hint="Start it with '/'.")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


async def resolve_field(
    config: Mapping[str, Any], pointer: str, value: Any, resolver: SecretResolver
) -> str:
    """Resolve the secret reference stored at ``pointer``.

    Stored auth configs hold references only; a plain value at a secret field means it was
    saved without being moved into a secret provider, so it is refused rather than sent.
    """
    if not isinstance(value, str) or not resolver.is_reference(value):
        raise SecretError(
            f"The {config.get('type')} auth field {pointer} does not hold a secret reference.",
            hint="Set the connection's credentials again so they are stored as secrets.",
            details={"field": pointer},
        )
    return await resolver.resolve(value)


def check_header_value(value: str, pointer: str) -> str:
    """Refuse a resolved value that would break out of its header (CR, LF, NUL)."""
    if any(char in value for char in "\r\n\x00"):
        raise SecretError(
            f"The secret for {pointer} contains a line break or NUL and cannot be sent.",
            hint="Store the credential again without the line break.",
            details={"field": pointer},
        )
    return value


def ordered_secrets(values: Iterable[str]) -> tuple[str, ...]:
    """Distinct non-empty values, longest first (the order redaction needs)."""
    return tuple(sorted({value for value in values if value}, key=lambda v: (-len(v), v)))
