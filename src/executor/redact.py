"""Removing secret values from anything that leaves trusted code: results, errors, logs.

Each secret is also searched for in the forms an upstream or a log line may carry it:
URL-encoded (query strings, form bodies), base64 and URL-safe base64 (with and without
padding) and JSON-escaped. Longer matches win, so a secret that contains another is redacted
whole.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"


def secret_forms(secret: str) -> set[str]:
    """``secret`` and the encoded forms of it worth redacting (empty set for ``""``)."""
    if not secret:
        return set()
    raw = secret.encode("utf-8")
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms.update((text, text.rstrip("=")))
    forms.discard("")
    return forms


class Redactor:
    """Redacts a fixed set of secrets; build once, apply to many values."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if isinstance(secret, str):
                forms |= secret_forms(secret)
        # Alternation tries branches in order: longest first makes the longest form win.
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact_text(self, text: str) -> str:
        """``text`` with every occurrence of every form replaced by ``[REDACTED]``."""
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def redact(self, value: Any) -> Any:
        """A copy of a JSON-like value with secrets redacted in strings, keys included."""
        if self._pattern is None:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {
                self.redact_text(key) if isinstance(key, str) else key: self._walk(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._walk(item) for item in value)
        if isinstance(value, bytes | bytearray):
            # Bodies that did not decode as text can still carry a credential.
            text = bytes(value).decode("utf-8", errors="surrogateescape")
            redacted = self.redact_text(text)
            return value if redacted == text else redacted.encode("utf-8", "surrogateescape")
        return value


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of ``value`` (dicts, lists, strings; keys too) with each secret redacted.

    Plain, URL-encoded, base64 and JSON-escaped forms of each non-empty secret become
    ``[REDACTED]``; other values (numbers, booleans, None) pass through.
    """
    return Redactor(secrets).redact(value)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the secrets currently in use from every record.

    Add it to a handler; ``add`` the secrets of a call while it runs and ``remove`` them
    afterwards (counted, so overlapping calls sharing a secret stay safe).
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._lock = threading.Lock()
        self._secrets: Counter[str] = Counter()
        self._redactor = Redactor(())

    def add(self, secrets: Iterable[str]) -> None:
        """Start redacting ``secrets``."""
        with self._lock:
            self._secrets.update(secret for secret in secrets if secret)
            self._redactor = Redactor(self._secrets)

    def remove(self, secrets: Iterable[str]) -> None:
        """Stop redacting ``secrets`` (once each ``add`` of them has been removed)."""
        with self._lock:
            self._secrets.subtract(secret for secret in secrets if secret)
            self._secrets = +self._secrets
            self._redactor = Redactor(self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self._redactor
        if not redactor:
            return True
        try:
            message = record.getMessage()
        except Exception:
            # A broken format string must not break logging; keep both parts, redacted.
            message = f"{record.msg} {record.args!r}"
        record.msg = redactor.redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redactor.redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor.redact_text(record.stack_info)
        return True


__all__ = ["REDACTED", "RedactingFilter", "Redactor", "redact", "secret_forms"]
