"""Sealed snapshots: only the same key and execution id open them, and they stay small."""

from __future__ import annotations

import os
import zlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic_monty import ExternalModule, FunctionSnapshot, Monty

from executor.errors import SecretError, SnapshotIncompatibleError
from executor.sandbox import snapshots
from executor.sandbox.snapshots import OVERHEAD, seal, unseal

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
STATE = b"interpreter state with a token-like value ghp_example and " * 10

PROGRAM = """
repos = [{"name": f"repo{i}", "stars": i * 3, "topics": ["python", "api"]} for i in range(50)]
print("found", len(repos))
best = sorted(repos, key=lambda r: -r["stars"])[:5]
issue = tools.github.work.issues.create(owner="me", repo=best[0]["name"], title="Top repo")
issue
"""


def _paused_monty_program() -> bytes:
    """The dumped state of a typical agent program paused at a tool call."""

    def create(**arguments: object) -> object:
        return arguments

    tree = ExternalModule(
        {
            "github": ExternalModule(
                {"work": ExternalModule({"issues": ExternalModule({"create": create})})}
            )
        }
    )
    with Monty() as pool, pool.checkout(external_modules={"tools": tree}) as session:
        session.feed_run("import tools")
        paused = session.feed_start(PROGRAM)
        assert isinstance(paused, FunctionSnapshot)
        assert paused.function_name == "tools.github.work.issues.create"
        return bytes(paused.dump())


def test_a_sealed_snapshot_opens_with_the_same_key_and_execution() -> None:
    sealed = seal(KEY, "exec-1", STATE)
    assert unseal(KEY, "exec-1", sealed) == STATE
    assert b"ghp_example" not in sealed


def test_sealing_twice_gives_different_bytes() -> None:
    assert seal(KEY, "exec-1", STATE) != seal(KEY, "exec-1", STATE)


def test_a_snapshot_does_not_open_for_another_execution() -> None:
    sealed = seal(KEY, "exec-1", STATE)
    with pytest.raises(SnapshotIncompatibleError, match="exec-2 cannot be decrypted") as raised:
        unseal(KEY, "exec-2", sealed)
    assert "ghp_example" not in str(raised.value)


def test_a_snapshot_does_not_open_with_another_key() -> None:
    sealed = seal(KEY, "exec-1", STATE)
    with pytest.raises(SnapshotIncompatibleError, match="another key"):
        unseal(OTHER_KEY, "exec-1", sealed)


def test_the_snapshot_key_is_derived_not_the_master_key() -> None:
    # Encrypted exactly as seal() does, but with the master key itself: must not open, so
    # secrets and snapshots never share a key.
    nonce = os.urandom(12)
    body = AESGCM(KEY).encrypt(nonce, zlib.compress(STATE), snapshots._associated_data("exec-1"))
    forged = bytes([snapshots.FORMAT_VERSION]) + nonce + body
    with pytest.raises(SnapshotIncompatibleError):
        unseal(KEY, "exec-1", forged)


def test_any_altered_byte_is_detected() -> None:
    sealed = seal(KEY, "exec-1", b"small state")
    for index in range(len(sealed)):
        altered = bytearray(sealed)
        altered[index] ^= 0x01
        with pytest.raises(SnapshotIncompatibleError):
            unseal(KEY, "exec-1", bytes(altered))


def test_every_truncation_is_detected() -> None:
    sealed = seal(KEY, "exec-1", b"small state")
    for length in range(len(sealed)):
        with pytest.raises(SnapshotIncompatibleError):
            unseal(KEY, "exec-1", sealed[:length])


def test_a_short_blob_is_reported_as_truncated() -> None:
    with pytest.raises(SnapshotIncompatibleError, match="exec-1 is truncated"):
        unseal(KEY, "exec-1", seal(KEY, "exec-1", STATE)[:10])


def test_an_unknown_format_says_which_format_it_is() -> None:
    sealed = seal(KEY, "exec-1", STATE)
    with pytest.raises(SnapshotIncompatibleError, match="has format 2, which this version"):
        unseal(KEY, "exec-1", bytes([2]) + sealed[1:])


def test_a_master_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(SecretError, match="32-byte master key"):
        seal(b"short", "exec-1", STATE)


def test_a_paused_monty_program_seals_to_a_fraction_of_its_size() -> None:
    state = _paused_monty_program()
    sealed = seal(KEY, "exec-1", state)
    assert unseal(KEY, "exec-1", sealed) == state
    # Measured: 12.8 KB of state seals to 3.1 KB.
    assert len(sealed) == len(zlib.compress(state, 6)) + OVERHEAD
    assert len(sealed) < len(state) / 2


def test_incompressible_state_grows_by_a_bounded_overhead() -> None:
    state = os.urandom(64 * 1024)
    sealed = seal(KEY, "exec-1", state)
    # zlib stores incompressible input in raw blocks: 5 bytes per 16 KiB block plus 6.
    assert len(sealed) <= len(state) + OVERHEAD + 6 + 5 * (len(state) // 16384 + 1)
