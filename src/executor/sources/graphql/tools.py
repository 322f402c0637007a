"""One :class:`~executor.models.ToolDefinition` per Query and Mutation field.

Names are ``query.<field>`` and ``mutation.<field>`` in snake case (``createIssue`` →
``mutation.create_issue``), made distinct by :func:`~executor.addresses.unique_names` keyed by
``"query.fieldName"``. Arguments become a flat input schema whose property names are
identifiers (``orderBy`` → ``order_by``); the binding maps them back::

    {"operation": "query", "field": "repository",
     "arguments": [{"arg": "owner", "name": "owner", "type": "String!"}, ...],
     "selection": "{ id name … }" | None, "returns": "Repository"}

GraphQL input types map to JSON Schema as follows: ``Int`` → integer (32-bit), ``Float`` →
number, ``String`` → string, ``Boolean`` → boolean, ``ID`` → string or integer, custom scalars →
unconstrained (with their description), enums → string enums, lists → arrays, input objects →
objects with ``additionalProperties: false`` (``@oneOf`` ones take exactly one property).
Nullable types also accept ``null``; a non-null argument without a default is required. Input
objects that can contain themselves go to ``$defs`` and are referenced; the rest are inlined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import graphql

from executor.addresses import to_identifier, unique_names
from executor.models import PolicyAction, ToolDefinition
from executor.sources.graphql.selection import default_selection, print_selection

#: The reserved argument that overrides the default selection. Argument names are snake-cased
#: identifiers, which never start with ``_``, so it cannot clash with a GraphQL argument.
SELECT_ARGUMENT = "_select"
_INT_RANGE = {"minimum": -(2**31), "maximum": 2**31 - 1}
_BUILTIN_SCALARS: dict[str, dict[str, Any]] = {
    "Int": {"type": "integer", **_INT_RANGE},
    "Float": {"type": "number"},
    "String": {"type": "string"},
    "Boolean": {"type": "boolean"},
    "ID": {"type": ["string", "integer"]},
}
_SUMMARY_LENGTH = 120
_FIRST_SENTENCE = re.compile(r"(.+?[.!?])(\s|$)")
_DESTRUCTIVE = re.compile(r"(delete|remove|destroy|purge)", re.IGNORECASE)


def build_tools(schema: graphql.GraphQLSchema) -> tuple[list[ToolDefinition], list[str]]:
    """Every Query and Mutation field as a tool, plus warnings (skipped fields)."""
    converter = _InputConverter(_recursive_inputs(schema))
    drafts: list[tuple[str, str, ToolDefinition]] = []
    warnings: list[str] = []
    roots = (("query", schema.query_type), ("mutation", schema.mutation_type))
    for operation, root in roots:
        if root is None:
            continue
        for field_name, field in root.fields.items():
            if field_name.startswith("__"):
                continue
            try:
                tool = _tool(operation, field_name, field, converter)
            except (RecursionError, TypeError, ValueError) as exc:
                warnings.append(f"Skipped {operation} field {field_name}: {exc}")
                continue
            key = f"{operation}.{field_name}"
            drafts.append((key, f"{operation}.{to_identifier(field_name, fallback='field')}", tool))
    if schema.subscription_type is not None and schema.subscription_type.fields:
        count = len(schema.subscription_type.fields)
        warnings.append(f"{count} subscription field(s) skipped: subscriptions are not supported.")
    names = unique_names((key, name) for key, name, _ in drafts)
    return [replace(tool, name=names[key]) for key, _, tool in drafts], warnings


def _tool(
    operation: str, field_name: str, field: graphql.GraphQLField, converter: _InputConverter
) -> ToolDefinition:
    converter.take_definitions()  # nothing left over from a field that failed
    properties: dict[str, Any] = {}
    required: list[str] = []
    bindings: list[dict[str, str]] = []
    arg_names = _argument_names(list(field.args))
    for name, arg in field.args.items():
        arg_id = arg_names[name]
        schema = converter.convert(arg.type)
        schema = _with_texts(schema, arg.description, arg.deprecation_reason)
        default = _default_json(arg)
        if default is not graphql.Undefined:
            schema["default"] = default
        properties[arg_id] = schema
        if graphql.is_required_argument(arg):
            required.append(arg_id)
        bindings.append({"arg": arg_id, "name": name, "type": str(arg.type)})
    selection = default_selection(field.type)
    selection_text = print_selection(selection)
    returns = str(field.type)
    if selection_text is not None:
        properties[SELECT_ARGUMENT] = {
            "type": "string",
            "description": f"GraphQL selection set on {returns} to return instead of the "
            "default one, e.g. '{ id name }'.",
        }
    input_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        input_schema["required"] = required
    input_schema["additionalProperties"] = False
    if converter.definitions_used:
        input_schema["$defs"] = converter.take_definitions()
    is_query = operation == "query"
    policy: PolicyAction = "allow" if is_query else "require_approval"
    summary, description = _texts(operation, field_name, field, returns, selection_text)
    return ToolDefinition(
        name="",
        summary=summary,
        description=description,
        input_schema=input_schema,
        tags=(operation,),
        default_policy=policy,
        is_read_only=is_query,
        is_destructive=not is_query and bool(_DESTRUCTIVE.match(field_name)),
        binding={
            "operation": operation,
            "field": field_name,
            "arguments": bindings,
            "selection": selection_text,
            "returns": returns,
        },
    )


def _argument_names(names: list[str]) -> dict[str, str]:
    """Identifiers for argument names; a clash (``fooBar`` and ``foo_bar``) gets a counter,
    assigned in sorted order so declaration order does not matter."""
    taken: set[str] = {SELECT_ARGUMENT}
    chosen: dict[str, str] = {}
    for name in sorted(names):
        base = to_identifier(name, fallback="arg")
        candidate, counter = base, 2
        while candidate in taken:
            candidate, counter = f"{base}_{counter}", counter + 1
        taken.add(candidate)
        chosen[name] = candidate
    return chosen


def _default_json(value: graphql.GraphQLArgument | graphql.GraphQLInputField) -> Any:
    """The default of an argument or input field as JSON, or ``Undefined`` when it has none."""
    try:
        default = value.default  # graphql-core 3.3: a literal (SDL) or a value (code)
        if default is not None and default.literal not in (None, graphql.Undefined):
            return graphql.value_from_ast_untyped(default.literal)
        if default is not None and default.value is not graphql.Undefined:
            return default.value
        if value.default_value is not graphql.Undefined:
            node = graphql.ast_from_value(value.default_value, value.type)
            return graphql.Undefined if node is None else graphql.value_from_ast_untyped(node)
    except (TypeError, ValueError):
        pass
    return graphql.Undefined


def _with_texts(
    schema: dict[str, Any], description: str | None, deprecation: str | None
) -> dict[str, Any]:
    schema = dict(schema)
    texts = [description.strip()] if description and description.strip() else []
    if deprecation is not None:
        texts.append(f"Deprecated: {deprecation}".strip())
        schema["deprecated"] = True
    if texts:
        if "$ref" in schema:
            schema = {"allOf": [schema]}
        schema["description"] = "\n\n".join(texts)
    return schema


class _InputConverter:
    """GraphQL input types → JSON Schema; recursive input objects go to ``$defs``."""

    def __init__(self, recursive: set[str]) -> None:
        self._recursive = recursive
        self._definitions: dict[str, Any] = {}
        self.definitions_used = False

    def take_definitions(self) -> dict[str, Any]:
        """The ``$defs`` the last tool needed (and forget them for the next tool)."""
        definitions, self._definitions = self._definitions, {}
        self.definitions_used = False
        return dict(sorted(definitions.items()))

    def convert(self, input_type: graphql.GraphQLInputType) -> dict[str, Any]:
        if isinstance(input_type, graphql.GraphQLNonNull):
            return self._convert_nullable(input_type.of_type, nullable=False)
        return self._convert_nullable(input_type, nullable=True)

    def _convert_nullable(self, input_type: Any, *, nullable: bool) -> dict[str, Any]:
        if isinstance(input_type, graphql.GraphQLList):
            schema: dict[str, Any] = {"type": "array", "items": self.convert(input_type.of_type)}
            return _or_null(schema) if nullable else schema
        if isinstance(input_type, graphql.GraphQLScalarType):
            schema = dict(_BUILTIN_SCALARS.get(input_type.name) or _custom_scalar(input_type))
            return _or_null(schema) if nullable else schema
        if isinstance(input_type, graphql.GraphQLEnumType):
            values: list[Any] = list(input_type.values)
            schema = {"type": "string", "enum": values}
            if input_type.description:
                schema["description"] = input_type.description.strip()
            return _or_null(schema) if nullable else schema
        if isinstance(input_type, graphql.GraphQLInputObjectType):
            if input_type.name in self._recursive:
                self._define(input_type)
                schema = {"$ref": f"#/$defs/{input_type.name}"}
            else:
                schema = self._object(input_type)
            return _or_null(schema) if nullable else schema
        raise TypeError(f"unsupported input type {input_type}")

    def _define(self, input_type: graphql.GraphQLInputObjectType) -> None:
        self.definitions_used = True
        if input_type.name in self._definitions:
            return
        self._definitions[input_type.name] = {}  # placeholder: stops the recursion here
        self._definitions[input_type.name] = self._object(input_type)

    def _object(self, input_type: graphql.GraphQLInputObjectType) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, field in input_type.fields.items():
            prop = self.convert(field.type)
            prop = _with_texts(prop, field.description, field.deprecation_reason)
            default = _default_json(field)
            if default is not graphql.Undefined:
                prop["default"] = default
            properties[name] = prop
            if graphql.is_required_input_field(field):
                required.append(name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        if input_type.is_one_of:
            schema["minProperties"] = 1
            schema["maxProperties"] = 1
        if input_type.description:
            schema["description"] = input_type.description.strip()
        return schema


def _custom_scalar(scalar: graphql.GraphQLScalarType) -> dict[str, Any]:
    text = f"Custom scalar {scalar.name}"
    if scalar.description:
        text += f": {scalar.description.strip()}"
    return {"description": text}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema = {**schema, "type": [kind, "null"]}
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if isinstance(kind, list):
        return {**schema, "type": [*kind, "null"]}
    if "$ref" in schema or "properties" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema  # unconstrained (a custom scalar) already accepts null


def _recursive_inputs(schema: graphql.GraphQLSchema) -> set[str]:
    """Names of input objects that can (directly or not) contain themselves."""
    edges: dict[str, set[str]] = {}
    for named in schema.type_map.values():
        if isinstance(named, graphql.GraphQLInputObjectType):
            edges[named.name] = {
                inner.name
                for field in named.fields.values()
                if isinstance(
                    inner := graphql.get_named_type(field.type), graphql.GraphQLInputObjectType
                )
            }
    return {name for name in edges if _reaches(name, name, edges)}


def _reaches(start: str, target: str, edges: dict[str, set[str]]) -> bool:
    seen: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        current = stack.pop()
        if current == target:
            return True
        if current not in seen:
            seen.add(current)
            stack.extend(edges.get(current, ()))
    return False


def _texts(
    operation: str,
    field_name: str,
    field: graphql.GraphQLField,
    returns: str,
    selection: str | None,
) -> tuple[str, str]:
    """(one-line summary, full description) of a field."""
    description = (field.description or "").strip()
    line = " ".join(description.split())
    match = _FIRST_SENTENCE.match(line)
    summary = (match.group(1) if match else line) or f"{operation.title()} {field_name}."
    if field.deprecation_reason is not None:
        summary = f"(Deprecated) {summary}"
    if len(summary) > _SUMMARY_LENGTH:
        summary = summary[: _SUMMARY_LENGTH - 1].rstrip() + "…"
    parts = [description] if description else []
    if field.deprecation_reason is not None:
        parts.append(f"Deprecated: {field.deprecation_reason or 'no reason given'}.")
    parts.append(f"GraphQL {operation} field `{field_name}`, returns `{returns}`.")
    if selection is not None:
        parts.append(
            f"Default selection: `{selection}`. Pass {SELECT_ARGUMENT} to choose the fields."
        )
    return summary, "\n\n".join(parts)


def tool_counts(tools: Iterable[ToolDefinition]) -> tuple[int, int]:
    """(queries, mutations) among ``tools``."""
    queries = mutations = 0
    for tool in tools:
        if tool.binding.get("operation") == "query":
            queries += 1
        else:
            mutations += 1
    return queries, mutations


__all__ = ["SELECT_ARGUMENT", "build_tools", "tool_counts"]
