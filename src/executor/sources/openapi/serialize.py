"""OpenAPI 3 parameter and body serialization, as pure functions.

Parameters follow the spec's ``style``/``explode`` rules (RFC 6570 expansion, with the label
style's comma separator as corrected in OAS 3.0.4/3.1.1). Choices where the spec is silent:

- ``None`` means "not given": the parameter is left out. Empty arrays and objects too (RFC 6570
  treats them as undefined).
- Booleans are ``true``/``false``; values nested inside an array or object item are compact JSON.
- Query values are percent-encoded except RFC 3986 unreserved characters; with ``allowReserved``
  reserved characters and existing ``%XX`` triplets pass through, but ``#`` and ``&`` are still
  encoded because they would cut the query string short. The pipe delimiter is sent as ``%7C``
  (a bare ``|`` is not a legal URI character; servers decode both the same).
- Header values are never percent-encoded (OAS 3.1.2 Appendix D), except characters HTTP cannot
  carry at all (control characters and non-ASCII), which are percent-encoded rather than dropped.
- Cookie ``form`` values are percent-encoded; exploded arrays and objects become separate
  ``name=value`` cookie pairs (the spec's ``&``-joined form is meaningless in a Cookie header).
- Path values that are only dots are sent as ``%2E``: a literal ``..`` segment would be removed by
  URL normalisation and reach a different endpoint.
- ``deepObject`` nests brackets for nested objects (``filter[owner][id]=1``) and repeats the key
  for arrays (``filter[tag]=a&filter[tag]=b``).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from executor.errors import InvalidArgumentsError

#: An encoded query or cookie pair: both sides already percent-encoded.
Pair = tuple[str, str]

_RESERVED = ":/?[]@!$'()*+,;="  # RFC 3986 reserved, minus "#" and "&" (see module docstring)
_TRIPLET = re.compile(r"%[0-9A-Fa-f]{2}")
_HEADER_UNSAFE = re.compile(r"[^\x20-\x7e\t]")


# -- primitives and encoders ----------------------------------------------------------------------


def to_text(value: Any) -> str:
    """A primitive as text: ``true``/``false`` for booleans, compact JSON for nested structures."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a media type carries JSON (``application/json``, ``*/*+json``, ``text/json``)."""
    media = media_type(content_type)
    return media.endswith(("/json", "+json"))


def media_type(content_type: str | None) -> str:
    """The bare, lower-cased media type of a Content-Type value (parameters stripped)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def percent_encode(text: str, *, allow_reserved: bool = False) -> str:
    """Percent-encode everything but RFC 3986 unreserved characters (and reserved ones if asked)."""
    if not allow_reserved:
        return quote(text, safe="")
    # Reserved expansion keeps existing %XX triplets; encode the text between them.
    parts: list[str] = []
    position = 0
    for match in _TRIPLET.finditer(text):
        parts.append(quote(text[position : match.start()], safe=_RESERVED))
        parts.append(match.group())
        position = match.end()
    parts.append(quote(text[position:], safe=_RESERVED))
    return "".join(parts)


def _encode_path_item(text: str) -> str:
    encoded = quote(text, safe="")
    if encoded and set(encoded) == {"."}:
        return encoded.replace(".", "%2E")
    return encoded


def _encode_header(text: str) -> str:
    return _HEADER_UNSAFE.sub(lambda match: quote(match.group(), safe=""), text)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, list | tuple | Mapping) and not value)


def _as_list(value: Any) -> list[Any] | None:
    return list(value) if isinstance(value, list | tuple) else None


# -- RFC 6570 expansion (path and header) ---------------------------------------------------------

# operator -> (prefix, separator for exploded values, named, suffix for a named empty value)
_OPERATORS: dict[str, tuple[str, str, bool, str]] = {
    "simple": ("", ",", False, ""),
    "label": (".", ".", False, ""),
    "matrix": (";", ";", True, ""),
}


def _expand(name: str, value: Any, style: str, explode: bool, encode: Callable[[str], str]) -> str:
    prefix, separator, named, if_empty = _OPERATORS[style]
    if _is_empty(value):
        return ""

    def named_item(item_name: str, text: str) -> str:
        if not named:
            return encode(text)
        return f"{item_name}={encode(text)}" if text else f"{item_name}{if_empty}"

    items = _as_list(value)
    if isinstance(value, Mapping):
        if explode:
            body = separator.join(
                f"{encode(str(key))}={encode(to_text(item))}" for key, item in value.items()
            )
            return prefix + body
        flat = ",".join(
            f"{encode(str(key))},{encode(to_text(item))}" for key, item in value.items()
        )
        return prefix + (f"{name}={flat}" if named else flat)
    if items is not None:
        if explode:
            return prefix + separator.join(named_item(name, to_text(item)) for item in items)
        flat = ",".join(encode(to_text(item)) for item in items)
        return prefix + (f"{name}={flat}" if named else flat)
    return prefix + named_item(name, to_text(value))


def serialize_path(name: str, value: Any, *, style: str = "simple", explode: bool = False) -> str:
    """The text that replaces ``{name}`` in a path template (``simple``, ``label``, ``matrix``)."""
    if style not in _OPERATORS:
        style = "simple"
    return _expand(name, value, style, explode, _encode_path_item)


def serialize_header(value: Any, *, explode: bool = False) -> str:
    """A header value in the ``simple`` style (the only style headers have)."""
    return _expand("", value, "simple", explode, _encode_header)


# -- query and cookie pairs -----------------------------------------------------------------------

_DELIMITERS = {"spaceDelimited": "%20", "pipeDelimited": "%7C"}


def serialize_query(
    name: str,
    value: Any,
    *,
    style: str = "form",
    explode: bool = True,
    allow_reserved: bool = False,
) -> list[Pair]:
    """Encoded ``(name, value)`` pairs for one query parameter.

    Styles: ``form``, ``spaceDelimited``, ``pipeDelimited`` and ``deepObject``; a style that does
    not apply to the value's shape (``deepObject`` for an array, say) falls back to ``form``.
    """
    if _is_empty(value):
        return []

    def enc(text: str) -> str:
        return percent_encode(text, allow_reserved=allow_reserved)

    if style == "deepObject" and isinstance(value, Mapping):
        return [(key, enc(text)) for key, text in _deep_object(percent_encode(name), value)]
    delimiter = "," if explode or style not in _DELIMITERS else _DELIMITERS[style]
    encoded_name = percent_encode(name)
    items = _as_list(value)
    if isinstance(value, Mapping):
        if explode:
            return [(percent_encode(str(key)), enc(to_text(item))) for key, item in value.items()]
        flat = delimiter.join(
            f"{enc(str(key))}{delimiter}{enc(to_text(item))}" for key, item in value.items()
        )
        return [(encoded_name, flat)]
    if items is not None:
        if explode:
            return [(encoded_name, enc(to_text(item))) for item in items if item is not None]
        return [(encoded_name, delimiter.join(enc(to_text(item)) for item in items))]
    return [(encoded_name, enc(to_text(value)))]


def _deep_object(prefix: str, value: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(encoded name, raw text) pairs, one per leaf of a nested object."""
    for key, item in value.items():
        name = f"{prefix}[{percent_encode(str(key))}]"
        if isinstance(item, Mapping):
            yield from _deep_object(name, item)
        elif isinstance(item, list | tuple):
            yield from ((name, to_text(element)) for element in item if element is not None)
        elif item is not None:
            yield name, to_text(item)


def serialize_cookie(name: str, value: Any, *, explode: bool = True) -> list[Pair]:
    """Encoded cookie pairs for one cookie parameter (``form`` style)."""
    return serialize_query(name, value, style="form", explode=explode)


def join_query(pairs: Iterable[Pair]) -> str:
    """``a=1&b=2`` from encoded pairs."""
    return "&".join(f"{name}={value}" for name, value in pairs)


def serialize_content(value: Any, content_type: str | None) -> str:
    """A parameter declared with ``content`` (a media type instead of a style): JSON or text."""
    if is_json_media_type(content_type) or not isinstance(value, str):
        return orjson.dumps(value).decode()
    return value


# -- bodies ---------------------------------------------------------------------------------------


def encode_json(value: Any) -> bytes:
    """A JSON body."""
    return orjson.dumps(value)


def encode_form(value: Mapping[str, Any], encoding: Mapping[str, Mapping[str, Any]]) -> bytes:
    """An ``application/x-www-form-urlencoded`` body, honouring each property's Encoding Object."""
    pairs: list[Pair] = []
    for prop, item in value.items():
        rules = encoding.get(prop) or {}
        if "contentType" in rules and not isinstance(item, str | int | float | bool):
            pairs.extend(serialize_query(prop, serialize_content(item, rules["contentType"])))
            continue
        style = rules.get("style", "form")
        explode = rules.get("explode", style == "form")
        pairs.extend(
            serialize_query(
                prop,
                item,
                style=style,
                explode=bool(explode),
                allow_reserved=bool(rules.get("allowReserved", False)),
            )
        )
    return join_query(pairs).encode("ascii")


def decode_base64(value: str, *, field: str) -> bytes:
    """Bytes from base64 text (standard or URL-safe alphabet, padding optional)."""
    text = "".join(value.split())
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgumentsError(
            f"{field} is not valid base64.",
            hint="Send file contents as base64 text in content_base64.",
            details={"violations": [{"path": field, "message": "not valid base64"}]},
        ) from exc


def is_file_value(value: Any) -> bool:
    """Whether a value is a file: ``{"content_base64": ..., "filename"?, "content_type"?}``."""
    return isinstance(value, Mapping) and "content_base64" in value


def _quote_disposition(text: str) -> str:
    # The multipart/form-data escaping browsers use (WHATWG), so servers parse it the same way.
    return text.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def _multipart_part(
    prop: str, item: Any, rules: Mapping[str, Any]
) -> tuple[bytes, str | None, str | None]:
    """(content, filename, content type) of one part."""
    declared = rules.get("contentType")
    declared_type = media_type(declared.split(",")[0]) if isinstance(declared, str) else ""
    if is_file_value(item):
        content = decode_base64(str(item["content_base64"]), field=f"{prop}.content_base64")
        content_type = item.get("content_type") or declared_type or "application/octet-stream"
        return content, str(item.get("filename") or prop), str(content_type)
    if isinstance(item, bytes | bytearray):
        return bytes(item), prop, declared_type or "application/octet-stream"
    is_binary_declared = bool(declared_type) and not (
        declared_type.startswith("text/") or is_json_media_type(declared_type)
    )
    if isinstance(item, str):
        if is_binary_declared and "*" not in declared_type:
            return item.encode(), prop, declared_type
        return item.encode(), None, declared_type if declared_type.startswith("text/") else None
    if isinstance(item, Mapping | list | tuple):
        return orjson.dumps(item), None, declared_type or "application/json"
    return to_text(item).encode(), None, None


def encode_multipart(
    value: Mapping[str, Any],
    encoding: Mapping[str, Mapping[str, Any]],
    *,
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its Content-Type (with the boundary).

    Files are ``{"content_base64", "filename"?, "content_type"?}`` dicts (or raw bytes); arrays
    become one part per item; objects are JSON parts; other values are text parts.
    """
    boundary = boundary or f"executor-{secrets.token_hex(12)}"
    chunks: list[bytes] = []
    for prop, value_or_items in value.items():
        if value_or_items is None:
            continue
        rules = encoding.get(prop) or {}
        items = [value_or_items]
        # An array of files or primitives is one part per item (how OAS sends several files);
        # an array holding objects stays one JSON part.
        if isinstance(value_or_items, list | tuple) and all(
            is_file_value(item) or not isinstance(item, Mapping | list | tuple)
            for item in value_or_items
        ):
            items = list(value_or_items)
        for item in items:
            content, filename, content_type = _multipart_part(prop, item, rules)
            disposition = f'form-data; name="{_quote_disposition(prop)}"'
            if filename is not None:
                disposition += f'; filename="{_quote_disposition(filename)}"'
            head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            if content_type:
                head += f"Content-Type: {content_type}\r\n"
            chunks.append(head.encode() + b"\r\n" + content + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def encode_raw(value: Any, content_type: str) -> tuple[bytes, str]:
    """A raw body (binary, text, XML, ...) and the Content-Type to send with it.

    Accepts ``{"content_base64", "content_type"?}``, text (sent as UTF-8), or any other JSON value
    (sent as JSON text). A wildcard media type (``image/*``) needs the dict's ``content_type``,
    else ``application/octet-stream`` is sent.
    """
    chosen = content_type
    if is_file_value(value):
        content = decode_base64(str(value["content_base64"]), field="body.content_base64")
        chosen = str(value.get("content_type") or content_type)
    elif isinstance(value, bytes | bytearray):
        content = bytes(value)
    elif isinstance(value, str):
        content = value.encode()
    else:
        content = orjson.dumps(value)
    if not media_type(chosen) or "*" in media_type(chosen):
        chosen = "application/octet-stream"
    return content, chosen
