"""``secret://NAME``: the default provider, values encrypted with AES-256-GCM in the database.

A stored record is ``version (1 byte) ‖ nonce (12 bytes) ‖ ciphertext+tag``. The associated
data binds each record to its format version, workspace and name, so a ciphertext copied to
another row or workspace fails to decrypt instead of yielding someone else's credential.
"""

from __future__ import annotations

import os
import re
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from executor.errors import InvalidInputError, SecretError
from executor.secrets.base import split_reference
from executor.secrets.keys import KEY_BYTES, KEY_ENV

SCHEME = "secret"
FORMAT_VERSION = 1
MAX_NAME = 128

_NAME = re.compile(r"[A-Za-z0-9_.\-/]+\Z")
_NONCE_BYTES = 12
_TAG_BYTES = 16


class SecretBackend(Protocol):
    """Where ciphertexts live: the Store implements these four methods."""

    async def put_secret(self, workspace_id: str, name: str, ciphertext: bytes) -> None: ...

    async def get_secret(self, workspace_id: str, name: str) -> bytes | None: ...

    async def list_secret_names(self, workspace_id: str) -> list[str]: ...

    async def delete_secret(self, workspace_id: str, name: str) -> bool: ...


def check_secret_name(name: str) -> str:
    """Return ``name`` if it is a valid secret name, else raise InvalidInputError."""
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_NAME:
        raise InvalidInputError(
            "A secret name must be 1 to 128 characters of letters, digits and _ . - /.",
            hint="For example 'github-token' or 'github/work/token'.",
        )
    return name


def secret_uri(name: str) -> str:
    """The reference to the stored secret ``name``: ``secret://<name>``."""
    return f"{SCHEME}://{check_secret_name(name)}"


def _associated_data(workspace_id: str, name: str) -> bytes:
    # NUL cannot occur in a valid name; it keeps ("a", "b/c") and ("a/b", "c") apart.
    return b"executor-secret\x00%d\x00%s\x00%s" % (
        FORMAT_VERSION,
        workspace_id.encode("utf-8"),
        name.encode("utf-8"),
    )


class EncryptedSecretStore:
    """The encrypted secret store of one workspace, and the ``secret://`` provider."""

    scheme = SCHEME

    def __init__(self, backend: SecretBackend, workspace_id: str, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretError(
                f"The secret store key must be {KEY_BYTES} bytes.",
                hint=f"Use load_or_create_key() or set {KEY_ENV}.",
            )
        self._backend = backend
        self._workspace_id = workspace_id
        self._aead = AESGCM(key)

    def encrypt(self, name: str, value: str) -> bytes:
        """The stored form of ``value`` under ``name`` (fresh random nonce each time)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(
            nonce, value.encode("utf-8"), _associated_data(self._workspace_id, name)
        )
        return bytes([FORMAT_VERSION]) + nonce + sealed

    def decrypt(self, name: str, record: bytes) -> str:
        """The value in ``record``; SecretError if it was altered, moved or the key differs."""
        if len(record) < 1 + _NONCE_BYTES + _TAG_BYTES or record[0] != FORMAT_VERSION:
            raise SecretError(
                f"Secret {name!r} is stored in an unknown or damaged format.",
                hint="Store the secret again.",
                details={"name": name},
            )
        nonce, sealed = record[1 : 1 + _NONCE_BYTES], record[1 + _NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, sealed, _associated_data(self._workspace_id, name))
        except InvalidTag:
            raise SecretError(
                f"Secret {name!r} cannot be decrypted: the key differs from the one it was "
                "stored with, or the stored data was altered.",
                hint=f"Restore the original key ({KEY_ENV} or secret.key in the data dir), "
                "or store the secret again.",
                details={"name": name},
            ) from None
        return plain.decode("utf-8")

    async def put(self, name: str, value: str) -> str:
        """Encrypt and store ``value`` as ``name`` (replacing any old value); return its URI."""
        check_secret_name(name)
        if not isinstance(value, str) or not value:
            raise InvalidInputError(
                f"Secret {name!r} needs a non-empty text value.",
                hint="Pass the credential as a string.",
            )
        await self._backend.put_secret(self._workspace_id, name, self.encrypt(name, value))
        return secret_uri(name)

    async def resolve(self, uri: str) -> str:
        """The value behind ``secret://<name>``; SecretError if it is missing or unreadable."""
        scheme, name = split_reference(uri)
        if scheme != SCHEME:
            raise SecretError(
                f"The encrypted store resolves secret:// references, not {scheme}://.",
                hint="Resolve references through a SecretResolver.",
            )
        try:
            check_secret_name(name)
        except InvalidInputError as exc:
            raise SecretError(exc.message, hint=exc.hint) from None
        record = await self._backend.get_secret(self._workspace_id, name)
        if record is None:
            raise SecretError(
                f"Secret {name!r} does not exist.",
                hint="Store it again (e.g. by updating the connection's credentials).",
                details={"name": name},
            )
        return self.decrypt(name, record)

    async def names(self) -> list[str]:
        """The names of the stored secrets, sorted."""
        return sorted(await self._backend.list_secret_names(self._workspace_id))

    async def delete(self, name: str) -> bool:
        """Delete the secret ``name``; False if there was none."""
        check_secret_name(name)
        return await self._backend.delete_secret(self._workspace_id, name)
