"""An OpenRPC document (https://spec.open-rpc.org) turned into Executor tool definitions.

Each method becomes one tool: ``notes.add`` → tool ``notes.add``, ``eth_getBalance`` →
``eth_get_balance``. Its params (content descriptors) become the input JSON Schema, its result
the output schema. ``$ref``s to ``#/components/schemas/…`` are kept as refs into ``$defs``;
refs to ``#/components/contentDescriptors/…`` are inlined.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from executor.addresses import to_identifier, unique_names
from executor.errors import SpecError
from executor.models import ToolDefinition

_SCHEMAS = "#/components/schemas/"
_DESCRIPTORS = "#/components/contentDescriptors/"


def parse_document(data: bytes | str) -> dict[str, Any]:
    """The document as a dict; :class:`SpecError` unless it is an OpenRPC document."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise SpecError(
            f"The OpenRPC document is not valid JSON: {exc}.",
            hint="OpenRPC documents are JSON objects with an 'openrpc' field.",
        ) from None
    if not isinstance(document, dict) or "openrpc" not in document:
        raise SpecError(
            "This is not an OpenRPC document: it has no 'openrpc' field.",
            hint="Give the URL of the document, or of a JSON-RPC server that answers rpc.discover.",
        )
    if not isinstance(document.get("methods"), list):
        raise SpecError("The OpenRPC document has no 'methods' list.")
    return document


def build_tools(document: Mapping[str, Any]) -> list[ToolDefinition]:
    """One tool per method (the ``rpc.*`` service methods are left out)."""
    components = document.get("components") or {}
    schemas = components.get("schemas") or {}
    descriptors = components.get("contentDescriptors") or {}
    methods = [
        method
        for method in document["methods"]
        if isinstance(method, dict)
        and isinstance(method.get("name"), str)
        and not method["name"].startswith("rpc.")
    ]
    names = unique_names(
        (
            method["name"],
            ".".join(to_identifier(part) for part in method["name"].split(".") if part),
        )
        for method in methods
    )
    defs = {key: _rewrite(value) for key, value in schemas.items()}
    tools = []
    for method in methods:
        params = [_descriptor(param, descriptors) for param in method.get("params") or []]
        properties: dict[str, Any] = {}
        for param in params:
            schema = dict(_rewrite(param.get("schema") or {}))
            if param.get("description") and "description" not in schema:
                schema["description"] = param["description"]
            properties[param["name"]] = schema
        input_schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": [param["name"] for param in params if param.get("required")],
            "additionalProperties": False,
        }
        result = method.get("result")
        output_schema = None
        if isinstance(result, dict):
            output_schema = dict(_rewrite(_descriptor(result, descriptors).get("schema") or {}))
        if defs:
            input_schema["$defs"] = defs
            if output_schema is not None:
                output_schema["$defs"] = defs
        summary = str(method.get("summary") or "").strip()
        description = str(method.get("description") or "").strip()
        tools.append(
            ToolDefinition(
                name=names[method["name"]],
                summary=(summary or description.split("\n")[0] or method["name"])[:200],
                description=description or summary or method["name"],
                input_schema=input_schema,
                output_schema=output_schema,
                tags=tuple(
                    str(tag.get("name"))
                    for tag in method.get("tags") or []
                    if isinstance(tag, dict)
                ),
                # JSON-RPC says nothing about side effects: a person allows the safe ones.
                default_policy="require_approval",
                binding={
                    "method": method["name"],
                    "params": [param["name"] for param in params],
                    "by_position": method.get("paramStructure") == "by-position",
                },
            )
        )
    return tools


def _descriptor(value: Any, descriptors: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict) and str(value.get("$ref", "")).startswith(_DESCRIPTORS):
        value = descriptors.get(value["$ref"][len(_DESCRIPTORS) :])
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise SpecError("An OpenRPC content descriptor has no name.")
    return value


def _rewrite(schema: Any) -> Any:
    """Point ``#/components/schemas/X`` refs at ``#/$defs/X``."""
    if isinstance(schema, dict):
        return {
            key: (
                "#/$defs/" + value[len(_SCHEMAS) :]
                if key == "$ref" and isinstance(value, str) and value.startswith(_SCHEMAS)
                else _rewrite(value)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rewrite(item) for item in schema]
    return schema
