"""The key of the encrypted secret store: from ``EXECUTOR_SECRET_KEY`` or the data dir.

The key file ``<data dir>/secret.key`` holds the 32-byte key as URL-safe base64 (the same text
``EXECUTOR_SECRET_KEY`` accepts, so a key can be moved into the environment as is). It is
created once with mode 0600 and refused when other users could read it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from executor.errors import SecretError

KEY_ENV = "EXECUTOR_SECRET_KEY"
KEY_FILE = "secret.key"
KEY_BYTES = 32

_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}\Z")
_EXPECTED = "32 random bytes as base64 (44 characters) or 64 hex characters"
_GENERATE = (
    'Generate one with: python -c "import base64, os; '
    'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
)


def generate_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """The text form of ``key`` (URL-safe base64), as stored in the key file."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def parse_key(text: str) -> bytes | None:
    """Decode a key from 64 hex characters or (URL-safe) base64; None if it is neither."""
    text = text.strip()
    if _HEX_KEY.match(text):
        return bytes.fromhex(text)
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.urlsafe_b64decode, base64.standard_b64decode):
        try:
            key = decode(padded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        # Re-encoding rules out inputs that decode only because the decoder skips junk.
        if len(key) == KEY_BYTES and padded.rstrip("=") in (
            base64.urlsafe_b64encode(key).decode().rstrip("="),
            base64.standard_b64encode(key).decode().rstrip("="),
        ):
            return key
    return None


def load_or_create_key(data_dir: Path, env: Mapping[str, str]) -> bytes:
    """Return the secret store's 32-byte key.

    ``EXECUTOR_SECRET_KEY`` in ``env`` wins (base64, URL-safe base64 or hex of 32 bytes; any
    other value is a SecretError). Otherwise the key is read from ``<data_dir>/secret.key``,
    which is created on first use with mode 0600 (its directory 0700). Concurrent first calls,
    from threads or processes, all return the same key. A key file readable by group or others
    is refused with a ``chmod 600`` hint.
    """
    configured = env.get(KEY_ENV)
    if configured is not None and configured.strip():
        key = parse_key(configured)
        if key is None:
            raise SecretError(
                f"{KEY_ENV} is not a valid key: expected {_EXPECTED}.",
                hint=_GENERATE,
            )
        return key
    path = Path(data_dir) / KEY_FILE
    try:
        try:
            return _read_key_file(path)
        except FileNotFoundError:
            pass
        _create_key_file(path)
        return _read_key_file(path)
    except SecretError:
        raise
    except OSError as exc:
        raise SecretError(
            f"Cannot use the secret key file {path}: {exc.strerror or exc}.",
            hint=f"Check that {path} is a regular file you own with mode 600, or set {KEY_ENV}.",
        ) from exc


def _read_key_file(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"{path} is not a regular file.", hint="Remove it and retry.")
        if os.name == "posix" and info.st_mode & 0o077:
            raise SecretError(
                f"The secret key file {path} is accessible by other users; refusing to use it.",
                hint=f"Run: chmod 600 {path}",
            )
        with os.fdopen(fd, "r", encoding="ascii", errors="replace") as file:
            fd = -1
            text = file.read()
    finally:
        if fd != -1:
            os.close(fd)
    key = parse_key(text)
    if key is None:
        raise SecretError(
            f"The secret key file {path} is damaged: expected {_EXPECTED}.",
            hint="Restore it from a backup; secrets encrypted with the old key cannot be read "
            "without it.",
        )
    return key


def _create_key_file(path: Path) -> None:
    """Publish a new key file atomically, or do nothing if another caller got there first.

    The key is written to a private temporary file (O_CREAT|O_EXCL, 0600) and then hard-linked
    into place: ``link`` fails if the name exists, so exactly one key wins, and a reader never
    sees a half-written file (as it could with O_EXCL on the final name).
    """
    _ensure_private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, (encode_key(generate_key()) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        # A loser of the race keeps the winner's key: the first link is the key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _ensure_private_dir(directory: Path) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        return
    # mkdir's mode is filtered by the umask; make sure the directory is ours alone.
    os.chmod(directory, 0o700)
