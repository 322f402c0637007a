"""The secret provider seam and the resolver that picks a provider by URI scheme.

A secret is referenced by a URI (``secret://github-token``, ``env://GITHUB_TOKEN``) and
resolved to its value in trusted host code at call time only. Each provider owns one scheme.
The keyring, 1Password and Vault providers are optional extras: until one is installed and
registered, a reference with its scheme fails with a clear "not installed" error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from executor.errors import SecretError

_URI = re.compile(r"([a-z][a-z0-9+.\-]*)://(.*)\Z", re.DOTALL)

#: Schemes of providers that ship as optional extras, with the extra that provides each.
OPTIONAL_SCHEMES: dict[str, str] = {
    "keyring": "keyring",
    "op": "onepassword",
    "vault": "vault",
}


@runtime_checkable
class SecretProvider(Protocol):
    """Something that turns a ``<scheme>://…`` reference into the secret's value."""

    scheme: str

    async def resolve(self, uri: str) -> str:
        """Return the value ``uri`` refers to; raise :class:`SecretError` if it cannot."""
        ...


def split_reference(uri: str) -> tuple[str, str]:
    """Split ``"<scheme>://<rest>"`` into ``(scheme, rest)``; raise SecretError if malformed."""
    match = _URI.match(uri)
    if match is None:
        raise SecretError(
            "A secret reference must look like '<scheme>://<name>'.",
            hint="For example 'secret://github-token' or 'env://GITHUB_TOKEN'.",
        )
    return match.group(1), match.group(2)


class SecretResolver:
    """Secret providers by scheme; resolves a reference with the provider that owns it."""

    def __init__(self, providers: Iterable[SecretProvider] = ()) -> None:
        self._providers: dict[str, SecretProvider] = {}
        for provider in providers:
            self.register(provider)

    def register(self, provider: SecretProvider) -> None:
        """Add ``provider`` (or replace the one that had its scheme)."""
        self._providers[provider.scheme] = provider

    @property
    def schemes(self) -> list[str]:
        """The schemes that can be resolved now, sorted."""
        return sorted(self._providers)

    def is_reference(self, value: str) -> bool:
        """Whether ``value`` is a reference to a secret rather than a plain value.

        True for the registered schemes and for the optional providers' schemes (so that a
        ``keyring://…`` reference is never mistaken for a literal password).
        """
        match = _URI.match(value)
        if match is None or not match.group(2):
            return False
        scheme = match.group(1)
        return scheme in self._providers or scheme in OPTIONAL_SCHEMES

    async def resolve(self, uri: str) -> str:
        """Return the value ``uri`` refers to; raise :class:`SecretError` if it cannot."""
        scheme, _ = split_reference(uri)
        provider = self._providers.get(scheme)
        if provider is not None:
            return await provider.resolve(uri)
        if scheme in OPTIONAL_SCHEMES:
            raise SecretError(
                f"The {scheme}:// secret provider ({OPTIONAL_SCHEMES[scheme]}) "
                "is not available yet.",
                hint="Use secret:// (the encrypted store) or env:// for now.",
                details={"scheme": scheme},
            )
        known = ", ".join(f"{name}://" for name in self.schemes) or "none"
        raise SecretError(
            f"Unknown secret scheme {scheme!r}.",
            hint=f"Known schemes: {known}.",
            details={"scheme": scheme},
        )
