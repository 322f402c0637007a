"""Parsing OpenAPI documents: JSON or YAML bytes into plain data, refusing hostile input.

JSON goes through orjson. YAML goes through libyaml's safe loader when present, with dates and
binary scalars kept as strings (a spec is JSON data) and non-string keys (``200:``) turned into
strings. YAML aliases are cheap to write and expensive to expand (the "billion laughs"), so the
expanded size of a YAML document is measured over its shared nodes, in time linear in what was
actually parsed, and a document that would expand past a budget is refused.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
import yaml

from executor.errors import SpecError

Version = Literal["2.0", "3.0", "3.1"]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecLoader(_Loader):  # type: ignore[valid-type,misc]
    """Safe YAML loading that yields JSON data only."""


def _construct_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_SpecLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_text)
_SpecLoader.add_constructor("tag:yaml.org,2002:binary", _construct_text)

#: Expanded YAML may hold at most this many nodes beyond one per input byte.
_ALIAS_SLACK = 100_000
_JSON_START = (b"{", b"[")
_OPENAPI_3 = re.compile(r"3\.(0|1)(\.\d+)?([-.][0-9A-Za-z.-]*)?\Z")


def parse_document(data: bytes, *, location: str | None = None) -> Any:
    """Parse JSON or YAML ``data`` into plain JSON values (dicts with string keys, lists, scalars).

    Raises :class:`SpecError` with one line for truncated or invalid input, YAML alias bombs,
    recursive YAML and documents nested too deeply.
    """
    where = location or "The document"
    text = data.removeprefix(b"\xef\xbb\xbf")
    stripped = text.lstrip()
    if not stripped:
        raise SpecError(f"{where} is empty.", hint="Give a JSON or YAML OpenAPI document.")
    json_error: orjson.JSONDecodeError | None = None
    if stripped[:1] in _JSON_START:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            json_error = exc  # YAML is a superset of JSON: give it a chance before failing.
    try:
        document = yaml.load(text, Loader=_SpecLoader)
    except yaml.YAMLError as exc:
        if json_error is not None:
            raise SpecError(
                f"{where} is not valid JSON ({_describe_json_error(json_error, text)}).",
                hint="Check that the whole document was downloaded and is well-formed.",
            ) from None
        raise SpecError(
            f"{where} is neither valid JSON nor valid YAML ({_describe_yaml_error(exc)}).",
            hint="Give an OpenAPI document in JSON or YAML.",
        ) from None
    except RecursionError:
        raise SpecError(f"{where} is nested too deeply to be an API document.") from None
    return _normalise_yaml(document, budget=len(text) + _ALIAS_SLACK, where=where)


def _describe_json_error(exc: orjson.JSONDecodeError, text: bytes) -> str:
    if exc.pos >= len(text.rstrip()):
        return "it ends early: the document is truncated"
    return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        return "it contains bytes that are not text"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(problem)


def _normalise_yaml(document: Any, *, budget: int, where: str) -> Any:
    """Stringify keys and measure the expanded size of ``document``, sharing nodes like aliases do.

    Each distinct container is visited once; its expanded size is remembered, so an alias bomb
    costs as much as its source text to measure, not as much as its expansion.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def measure(node: Any, depth: int) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in active:
            raise SpecError(f"{where} contains a recursive YAML alias.", hint="Remove the cycle.")
        if depth > 500:
            raise SpecError(f"{where} is nested too deeply to be an API document.")
        active.add(key)
        total = 1
        if isinstance(node, dict):
            if not all(isinstance(name, str) for name in node):
                items = [(_key_text(name), value) for name, value in node.items()]
                node.clear()
                node.update(items)
            children: Any = node.values()
        else:
            children = node
        for child in children:
            total += measure(child, depth + 1)
            if total > budget:
                raise SpecError(
                    f"{where} expands to more than {budget:,} values through YAML aliases "
                    "(an alias bomb).",
                    hint="Use a document without deeply nested aliases.",
                )
        active.discard(key)
        sizes[key] = total
        return total

    measure(document, 0)
    return document


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def openapi_version(document: Any, *, location: str | None = None) -> Version:
    """Check that ``document`` is a supported OpenAPI document and return its version family.

    Supported: Swagger 2.0, OpenAPI 3.0.x and 3.1.x. The document must be a mapping with a
    ``paths`` mapping. Raises :class:`SpecError` otherwise.
    """
    where = location or "The document"
    if not isinstance(document, dict):
        raise SpecError(
            f"{where} is not an OpenAPI document: it is a {_kind(document)}, not a mapping.",
            hint="Give the OpenAPI (or Swagger) document itself.",
        )
    version: Version
    if "openapi" in document:
        declared = _version_text(document["openapi"])
        match = _OPENAPI_3.match(declared)
        if match is None:
            raise SpecError(
                f"OpenAPI version {declared!r} is not supported.",
                hint="Executor reads Swagger 2.0, OpenAPI 3.0.x and 3.1.x documents.",
            )
        version = "3.0" if match.group(1) == "0" else "3.1"
    elif "swagger" in document:
        declared = _version_text(document["swagger"])
        if declared != "2.0":
            raise SpecError(
                f"Swagger version {declared!r} is not supported.",
                hint="Convert it to Swagger 2.0 or OpenAPI 3 (e.g. with swagger-converter).",
            )
        version = "2.0"
    else:
        raise SpecError(
            f"{where} is not an OpenAPI document: it has no 'openapi' or 'swagger' field.",
            hint="Give an OpenAPI 3 or Swagger 2.0 document.",
        )
    paths = document.get("paths")
    if not isinstance(paths, dict):
        raise SpecError(
            f"{where} has no 'paths': it describes no operations to call.",
            hint="Add a 'paths' object with at least one operation.",
        )
    return version


def _version_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"  # YAML reads `openapi: 3.0` / `swagger: 2.0` as numbers.
    return str(value).strip()


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null value"
    return type(value).__name__


__all__ = ["Version", "openapi_version", "parse_document"]
