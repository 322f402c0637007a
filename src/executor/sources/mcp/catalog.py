"""Tool definitions from an MCP server's ``tools/list``.

Names: the upstream name split on ``.`` and ``/`` into segments (``files/read`` →
``files.read``), each segment made an identifier (``get-sum`` → ``get_sum``), then made
distinct with :func:`~executor.addresses.unique_names` keyed by the upstream name, so the outcome
never depends on listing order. The binding keeps the upstream name for calls.

Policies from annotations: ``readOnlyHint`` → ``allow``; anything else → ``require_approval``
(MCP's ``destructiveHint`` defaults to true for a tool that is not read-only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import mcp_types

from executor.addresses import to_identifier, unique_names
from executor.models import PolicyAction, ToolDefinition

_SEPARATORS = re.compile(r"[./]")
_SUMMARY_LENGTH = 160


def tool_name(upstream: str) -> str:
    """The preferred (not yet de-duplicated) dotted name of an upstream tool."""
    segments = [to_identifier(part, fallback="tool") for part in _SEPARATORS.split(upstream)]
    return ".".join(segment for segment in segments if segment) or "tool"


def _summary(tool: mcp_types.Tool) -> str:
    text = (tool.description or "").strip()
    line = text.splitlines()[0].strip() if text else ""
    line = line or (tool.title or "").strip() or tool.name
    return line if len(line) <= _SUMMARY_LENGTH else line[: _SUMMARY_LENGTH - 1].rstrip() + "…"


def _input_schema(tool: mcp_types.Tool) -> dict[str, Any]:
    schema = dict(tool.input_schema or {})
    schema.setdefault("type", "object")
    return schema


def definitions(tools: Sequence[mcp_types.Tool]) -> list[ToolDefinition]:
    """One :class:`ToolDefinition` per upstream tool, with stable, collision-free names."""
    names = unique_names((tool.name, tool_name(tool.name)) for tool in tools)
    result = []
    for tool in tools:
        annotations = tool.annotations
        read_only = bool(annotations and annotations.read_only_hint)
        destructive = not read_only and not (
            annotations is not None and annotations.destructive_hint is False
        )
        policy: PolicyAction = "allow" if read_only else "require_approval"
        description = (tool.description or "").strip()
        if tool.title and tool.title.strip() and tool.title.strip() not in description:
            description = f"{tool.title.strip()}\n\n{description}".strip()
        result.append(
            ToolDefinition(
                name=names[tool.name],
                summary=_summary(tool),
                description=description or tool.name,
                input_schema=_input_schema(tool),
                output_schema=dict(tool.output_schema) if tool.output_schema else None,
                default_policy=policy,
                is_read_only=read_only,
                is_destructive=destructive,
                binding={"name": tool.name},
            )
        )
    return sorted(result, key=lambda definition: definition.name)
