from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote, quote_plus, urlencode

import pytest

from executor.redact import REDACTED, RedactingFilter, redact

SECRET = "s3cr3t/+=&value"


def test_nested_values_and_keys_are_redacted_in_a_copy() -> None:
    original = {
        "ok": False,
        "count": 3,
        "flag": True,
        "none": None,
        "error": {"message": f"token {SECRET} rejected", "details": [SECRET, {"k": SECRET}]},
        SECRET: "as a key",
        "tuple": (1, f"x{SECRET}x"),
    }
    snapshot = json.dumps(original, default=list)
    redacted = redact(original, [SECRET])
    assert redacted == {
        "ok": False,
        "count": 3,
        "flag": True,
        "none": None,
        "error": {
            "message": f"token {REDACTED} rejected",
            "details": [REDACTED, {"k": REDACTED}],
        },
        REDACTED: "as a key",
        "tuple": (1, f"x{REDACTED}x"),
    }
    assert json.dumps(original, default=list) == snapshot


@pytest.mark.parametrize(
    "form",
    [
        quote(SECRET, safe=""),
        quote(SECRET),
        quote_plus(SECRET),
        urlencode({"key": SECRET}).split("=", 1)[1],
        base64.b64encode(SECRET.encode()).decode(),
        base64.urlsafe_b64encode(SECRET.encode()).decode(),
        base64.b64encode(SECRET.encode()).decode().rstrip("="),
    ],
    ids=["url-all", "url-path", "url-plus", "urlencode", "base64", "base64-urlsafe", "unpadded"],
)
def test_encoded_forms_of_a_secret_are_redacted(form: str) -> None:
    assert form != SECRET
    assert redact(f"https://api.test/x?key={form}&page=2", [SECRET]) == (
        f"https://api.test/x?key={REDACTED}&page=2"
    )


def test_json_escaped_forms_are_redacted() -> None:
    secret = 'quote"back\\slash'
    body = json.dumps({"echo": secret})
    assert secret not in body
    assert redact(body, [secret]) == json.dumps({"echo": REDACTED})


def test_longest_secret_wins_when_one_contains_another() -> None:
    assert redact("Bearer abc123 and abc", ["abc", "Bearer abc123"]) == f"{REDACTED} and {REDACTED}"
    assert redact("abc123", ["abc", "abc123"]) == REDACTED


def test_empty_secrets_are_ignored_and_non_strings_pass_through() -> None:
    value = {"a": "text", "n": 1.5}
    assert redact(value, ["", ""]) == value
    assert redact(42, ["4"]) == 42
    assert redact(None, ["x"]) is None


def test_every_occurrence_is_replaced() -> None:
    assert redact("k=abc;k=abc;abcabc", ["abc"]) == "k=[REDACTED];k=[REDACTED];[REDACTED][REDACTED]"


def test_regex_characters_in_secrets_are_literal() -> None:
    assert redact("a.b and axb", ["a.b"]) == f"{REDACTED} and axb"
    assert redact("(.*)", ["(.*)"]) == REDACTED


def test_bytes_bodies_are_redacted_too() -> None:
    assert redact(b"\xff\xfe key=abc", ["abc"]) == b"\xff\xfe key=" + REDACTED.encode()


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("executor.test_redact")
    redactor = RedactingFilter()
    caplog.handler.addFilter(redactor)
    try:
        redactor.add([SECRET])
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.info("calling with %s", SECRET)
            try:
                raise ValueError(f"bad token {SECRET}")
            except ValueError:
                logger.exception("upstream failed")
        redactor.remove([SECRET])
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.info("after %s", "plain")
    finally:
        caplog.handler.removeFilter(redactor)
    assert SECRET not in caplog.text
    assert f"calling with {REDACTED}" in caplog.text
    assert f"bad token {REDACTED}" in caplog.text
    assert "after plain" in caplog.text


def test_the_logging_filter_keeps_a_secret_until_every_add_is_removed() -> None:
    redactor = RedactingFilter()
    redactor.add(["tok"])
    redactor.add(["tok"])
    redactor.remove(["tok"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "value %s", ("tok",), None)
    redactor.filter(record)
    assert record.getMessage() == f"value {REDACTED}"
    redactor.remove(["tok"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "value %s", ("tok",), None)
    redactor.filter(record)
    assert record.getMessage() == "value tok"


def test_the_logging_filter_survives_a_broken_format_string() -> None:
    redactor = RedactingFilter()
    redactor.add(["tok"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("tok",), None)
    assert redactor.filter(record)
    assert "tok" not in record.getMessage()
