from __future__ import annotations

import os

import pytest

from executor.errors import InvalidInputError, SecretError
from executor.secrets import EncryptedSecretStore, generate_key
from tests.secrets.memory import MemorySecretBackend

# Parametrized async tests need the marker at collection time (see tests/conftest.py).
pytestmark = pytest.mark.anyio

VALUE = "ghp_s3cr3t-Value-ünicode"


@pytest.fixture
def backend() -> MemorySecretBackend:
    return MemorySecretBackend()


@pytest.fixture
def key() -> bytes:
    return generate_key()


async def test_put_returns_a_secret_uri_that_resolves_to_the_value(
    backend: MemorySecretBackend, key: bytes
) -> None:
    store = EncryptedSecretStore(backend, "ws1", key)
    uri = await store.put("github/work-token.v1", VALUE)
    assert uri == "secret://github/work-token.v1"
    assert await store.resolve(uri) == VALUE


async def test_stored_bytes_never_contain_the_plain_value(
    backend: MemorySecretBackend, key: bytes
) -> None:
    store = EncryptedSecretStore(backend, "ws1", key)
    await store.put("token", VALUE)
    (record,) = backend.rows.values()
    assert VALUE.encode() not in record
    assert b"s3cr3t" not in record
    # version byte + 12-byte nonce + ciphertext + 16-byte tag
    assert record[0] == 1
    assert len(record) == 1 + 12 + len(VALUE.encode()) + 16


async def test_each_put_uses_a_fresh_nonce(backend: MemorySecretBackend, key: bytes) -> None:
    store = EncryptedSecretStore(backend, "ws1", key)
    await store.put("a", VALUE)
    first = backend.rows[("ws1", "a")]
    await store.put("a", VALUE)
    assert backend.rows[("ws1", "a")][1:13] != first[1:13]


async def test_a_different_key_cannot_decrypt_and_says_so_without_a_traceback(
    backend: MemorySecretBackend, key: bytes
) -> None:
    await EncryptedSecretStore(backend, "ws1", key).put("token", VALUE)
    other = EncryptedSecretStore(backend, "ws1", generate_key())
    with pytest.raises(SecretError, match="cannot be decrypted") as caught:
        await other.resolve("secret://token")
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert VALUE not in str(caught.value)


async def test_a_tampered_ciphertext_is_refused(backend: MemorySecretBackend, key: bytes) -> None:
    store = EncryptedSecretStore(backend, "ws1", key)
    await store.put("token", VALUE)
    record = bytearray(backend.rows[("ws1", "token")])
    record[20] ^= 0x01
    backend.rows[("ws1", "token")] = bytes(record)
    with pytest.raises(SecretError, match="altered"):
        await store.resolve("secret://token")


@pytest.mark.parametrize("record", [b"", b"\x01short", b"\x02" + os.urandom(40)])
async def test_a_truncated_or_unknown_version_record_is_refused(
    backend: MemorySecretBackend, key: bytes, record: bytes
) -> None:
    backend.rows[("ws1", "token")] = record
    with pytest.raises(SecretError, match="unknown or damaged format"):
        await EncryptedSecretStore(backend, "ws1", key).resolve("secret://token")


async def test_a_ciphertext_copied_to_another_name_does_not_decrypt(
    backend: MemorySecretBackend, key: bytes
) -> None:
    store = EncryptedSecretStore(backend, "ws1", key)
    await store.put("admin-token", VALUE)
    backend.rows[("ws1", "guest-token")] = backend.rows[("ws1", "admin-token")]
    with pytest.raises(SecretError, match="cannot be decrypted"):
        await store.resolve("secret://guest-token")


async def test_a_ciphertext_copied_to_another_workspace_does_not_decrypt(
    backend: MemorySecretBackend, key: bytes
) -> None:
    await EncryptedSecretStore(backend, "ws1", key).put("token", VALUE)
    backend.rows[("ws2", "token")] = backend.rows[("ws1", "token")]
    with pytest.raises(SecretError, match="cannot be decrypted"):
        await EncryptedSecretStore(backend, "ws2", key).resolve("secret://token")


async def test_names_lists_only_this_workspace_sorted_and_delete_removes(
    backend: MemorySecretBackend, key: bytes
) -> None:
    store = EncryptedSecretStore(backend, "ws1", key)
    await store.put("b", "2")
    await store.put("a", "1")
    await EncryptedSecretStore(backend, "ws2", key).put("c", "3")
    assert await store.names() == ["a", "b"]
    assert await store.delete("a") is True
    assert await store.delete("a") is False
    assert await store.names() == ["b"]
    with pytest.raises(SecretError, match="does not exist"):
        await store.resolve("secret://a")


@pytest.mark.parametrize("name", ["", "has space", "semi;colon", "x" * 129, "ü"])
async def test_invalid_secret_names_are_refused(
    backend: MemorySecretBackend, key: bytes, name: str
) -> None:
    store = EncryptedSecretStore(backend, "ws1", key)
    with pytest.raises(InvalidInputError, match="secret name"):
        await store.put(name, VALUE)
    assert backend.rows == {}


async def test_a_128_character_name_is_accepted(backend: MemorySecretBackend, key: bytes) -> None:
    store = EncryptedSecretStore(backend, "ws1", key)
    uri = await store.put("n" * 128, VALUE)
    assert await store.resolve(uri) == VALUE


async def test_an_empty_value_is_refused(backend: MemorySecretBackend, key: bytes) -> None:
    with pytest.raises(InvalidInputError, match="non-empty"):
        await EncryptedSecretStore(backend, "ws1", key).put("token", "")


async def test_the_store_resolves_only_its_own_scheme(
    backend: MemorySecretBackend, key: bytes
) -> None:
    with pytest.raises(SecretError, match="not env://"):
        await EncryptedSecretStore(backend, "ws1", key).resolve("env://HOME")


def test_a_key_of_the_wrong_length_is_refused(backend: MemorySecretBackend) -> None:
    with pytest.raises(SecretError, match="32 bytes"):
        EncryptedSecretStore(backend, "ws1", b"short")
