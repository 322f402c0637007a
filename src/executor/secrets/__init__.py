"""Secret providers behind one interface, chosen by URI scheme (PRODUCT.md §3).

- ``secret://NAME`` — the encrypted store in the database (default), :class:`EncryptedSecretStore`;
- ``env://NAME`` — the Executor process's environment, :class:`EnvSecretProvider`;
- ``keyring://``, ``op://``, ``vault://`` — optional extras, "not installed" until registered.

Values are resolved in trusted host code at call time only, through a :class:`SecretResolver`.
"""

from __future__ import annotations

from collections.abc import Mapping

from executor.secrets.base import OPTIONAL_SCHEMES, SecretProvider, SecretResolver, split_reference
from executor.secrets.encrypted import (
    EncryptedSecretStore,
    SecretBackend,
    check_secret_name,
    secret_uri,
)
from executor.secrets.env import EnvSecretProvider
from executor.secrets.keys import KEY_ENV, encode_key, generate_key, load_or_create_key


def default_resolver(
    store: EncryptedSecretStore, environ: Mapping[str, str] | None = None
) -> SecretResolver:
    """A resolver for ``secret://`` (``store``) and ``env://`` (``environ``, default os.environ)."""
    return SecretResolver([store, EnvSecretProvider(environ)])


__all__ = [
    "KEY_ENV",
    "OPTIONAL_SCHEMES",
    "EncryptedSecretStore",
    "EnvSecretProvider",
    "SecretBackend",
    "SecretProvider",
    "SecretResolver",
    "check_secret_name",
    "default_resolver",
    "encode_key",
    "generate_key",
    "load_or_create_key",
    "secret_uri",
    "split_reference",
]
