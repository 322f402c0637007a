"""Auth methods a connection can use, and how they go on the wire (PRODUCT.md §3).

A connection stores an auth config such as ``{"type": "bearer", "token": "secret://gh"}``:
:func:`normalize_auth` validates it against the integration's auth methods, :func:`secret_fields`
says which fields hold secrets (so plain values can be moved into a secret provider before
saving, see :func:`replace_fields`), and :func:`apply_auth` resolves it at call time.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from executor.auth.base import (
    AuthScheme,
    AuthSchemes,
    ResolvedAuth,
    from_pointer,
    to_pointer,
)
from executor.auth.schemes import (
    API_KEY_LOCATIONS,
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CustomHeadersAuth,
    NoAuth,
)
from executor.errors import InvalidInputError
from executor.models import AuthMethod
from executor.secrets import SecretResolver


def builtin_schemes() -> AuthSchemes:
    """A fresh registry holding the built-in schemes (extend it with ``register``)."""
    return AuthSchemes([NoAuth(), ApiKeyAuth(), BearerAuth(), BasicAuth(), CustomHeadersAuth()])


#: The registry used when a function is not given one.
AUTH_SCHEMES = builtin_schemes()


def normalize_auth(
    config: Mapping[str, Any],
    methods: Sequence[AuthMethod],
    *,
    schemes: AuthSchemes = AUTH_SCHEMES,
) -> dict[str, Any]:
    """Validate a connection's auth config and return the dict to store.

    Fields may hold plain values or secret references; API key ``location``/``name`` are
    filled in from the integration's matching method in ``methods``. Raises
    InvalidInputError for an unknown type, missing or unknown fields or an ambiguous method.
    """
    return schemes.get(config).normalize(config, methods)


def secret_fields(
    config: Mapping[str, Any], *, schemes: AuthSchemes = AUTH_SCHEMES
) -> dict[str, str]:
    """JSON pointers → values of the fields of ``config`` that hold secrets.

    The values are whatever the config holds (plain values or references); a caller keeps
    the references and stores the plain ones in a secret provider (the basic auth username is
    not a secret field).
    """
    return schemes.get(config).secret_fields(config)


def replace_fields(config: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``config`` with the field at each JSON pointer in ``values`` replaced."""
    updated: dict[str, Any] = copy.deepcopy(dict(config))
    for pointer, value in values.items():
        *parents, last = from_pointer(pointer)
        target: Any = updated
        for part in parents:
            target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, dict) or last not in target:
            raise InvalidInputError(
                f"The auth config has no field {pointer}.", hint="Use a pointer from secret_fields."
            )
        target[last] = value
    return updated


async def apply_auth(
    config: Mapping[str, Any],
    resolver: SecretResolver,
    *,
    schemes: AuthSchemes = AUTH_SCHEMES,
) -> ResolvedAuth:
    """Resolve a stored auth config into headers, query parameters and cookies.

    Secret fields must hold references (a plain value there is refused with SecretError rather
    than sent). ``secret_values`` of the result lists every form to redact from output.
    """
    return await schemes.get(config).apply(config, resolver)


__all__ = [
    "API_KEY_LOCATIONS",
    "AUTH_SCHEMES",
    "ApiKeyAuth",
    "AuthScheme",
    "AuthSchemes",
    "BasicAuth",
    "BearerAuth",
    "CustomHeadersAuth",
    "NoAuth",
    "ResolvedAuth",
    "apply_auth",
    "builtin_schemes",
    "normalize_auth",
    "replace_fields",
    "secret_fields",
    "to_pointer",
]
