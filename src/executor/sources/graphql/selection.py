"""Selection sets: the bounded default each tool gets, the caller's override, the document.

**The default selection** of a field that returns an object is chosen at import so that it
stays small however big the schema is:

- leaf fields (scalars and enums) first, at most :data:`MAX_LEAVES` per level: identifying
  ones (``id``, ``name``, ``title``, ``url``…) before the rest, which keep schema order; fields
  that need arguments and deprecated fields are left out;
- then up to :data:`MAX_OBJECTS` object fields per level, down to :data:`MAX_DEPTH` levels,
  never re-entering a type already on the path;
- a field that returns a *connection* (a ``…Connection`` type with ``nodes`` or ``edges``) gets
  ``totalCount``, ``pageInfo { hasNextPage endCursor }`` and the leaves of its ``nodes``; nested
  connections are left out of the default (each would be another page of items: ask for them
  with ``_select``);
- interfaces and unions always get ``__typename``; a union gets ``... on Member { leaves }`` for
  its first :data:`MAX_UNION_MEMBERS` members.

**The override** is a selection string (``"{ id name owner { login } }"``; the outer braces may
be left out). It is parsed with graphql-core into an AST, never spliced into query text, and
may not use variables or fragment definitions.

**The document** is built as an AST and printed: ``query repository($owner: String!, …) {
repository(owner: $owner, …) { … } }``; arguments travel as variables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import graphql
from graphql.language import TokenKind, ast
from graphql.language.parser import Parser

from executor.errors import InvalidArgumentsError

MAX_DEPTH = 2
MAX_LEAVES = 10
MAX_OBJECTS = 4
MAX_UNION_MEMBERS = 6
#: Leaves per union member: a union's members share a level, so each gets fewer.
MAX_MEMBER_LEAVES = 6
#: Leaf fields picked before the others, in this order, when a type has them.
PREFERRED_LEAVES = (
    "id",
    "name",
    "login",
    "title",
    "number",
    "nameWithOwner",
    "slug",
    "key",
    "state",
    "status",
    "url",
    "description",
    "createdAt",
    "updatedAt",
)
#: Longest selection string a caller may pass, and most tokens it may hold.
MAX_SELECT_LENGTH = 20_000
MAX_SELECT_TOKENS = 4_000
_CONNECTION_FIELDS = ("nodes", "edges")


def default_selection(field_type: graphql.GraphQLOutputType) -> ast.SelectionSetNode | None:
    """The bounded default selection for a field of ``field_type`` (None for leaf types)."""
    named = graphql.get_named_type(field_type)
    if graphql.is_leaf_type(named):
        return None
    return _selection(named, depth=1, path=frozenset())


def _selection(
    named: graphql.GraphQLNamedType, *, depth: int, path: frozenset[str]
) -> ast.SelectionSetNode:
    path = path | {named.name}
    selections: list[ast.SelectionNode] = []
    if graphql.is_abstract_type(named):
        selections.append(_field("__typename"))
    if isinstance(named, graphql.GraphQLUnionType):
        for member in named.types[:MAX_UNION_MEMBERS]:
            leaves = _leaf_fields(member)[:MAX_MEMBER_LEAVES]
            if leaves:
                selections.append(
                    ast.InlineFragmentNode(
                        type_condition=ast.NamedTypeNode(name=_name(member.name)),
                        selection_set=ast.SelectionSetNode(selections=tuple(leaves)),
                    )
                )
        return ast.SelectionSetNode(selections=tuple(selections))
    assert isinstance(named, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType)
    if _is_connection(named):
        return _connection_selection(named, depth=depth, path=path)
    selections.extend(_leaf_fields(named))
    if depth < MAX_DEPTH:
        selections.extend(_object_fields(named, depth=depth, path=path))
    if not selections:
        selections.append(_field("__typename"))
    return ast.SelectionSetNode(selections=tuple(selections))


def _leaf_fields(
    named: graphql.GraphQLObjectType | graphql.GraphQLInterfaceType,
) -> list[ast.FieldNode]:
    names = [
        name
        for name, field in named.fields.items()
        if _is_selectable(field) and graphql.is_leaf_type(graphql.get_named_type(field.type))
    ]
    preferred = [name for name in PREFERRED_LEAVES if name in names]
    rest = [name for name in names if name not in preferred]
    return [_field(name) for name in [*preferred, *rest][:MAX_LEAVES]]


def _object_fields(
    named: graphql.GraphQLObjectType | graphql.GraphQLInterfaceType,
    *,
    depth: int,
    path: frozenset[str],
) -> list[ast.FieldNode]:
    chosen: list[ast.FieldNode] = []
    for name, field in named.fields.items():
        if len(chosen) >= MAX_OBJECTS:
            break
        inner = graphql.get_named_type(field.type)
        if graphql.is_leaf_type(inner) or inner.name in path or _is_connection(inner):
            continue
        if not _is_selectable(field):
            continue
        selection = _selection(inner, depth=depth + 1, path=path)
        if _is_typename_only(selection) and not graphql.is_abstract_type(inner):
            continue  # nothing to say about it without arguments
        chosen.append(_field(name, selection_set=selection))
    return chosen


def _is_typename_only(selection: ast.SelectionSetNode) -> bool:
    return all(
        isinstance(node, ast.FieldNode) and node.name.value == "__typename"
        for node in selection.selections
    )


def _connection_selection(
    named: graphql.GraphQLObjectType | graphql.GraphQLInterfaceType,
    *,
    depth: int,
    path: frozenset[str],
) -> ast.SelectionSetNode:
    fields = named.fields
    selections: list[ast.SelectionNode] = []
    if "totalCount" in fields:
        selections.append(_field("totalCount"))
    page_info = fields.get("pageInfo")
    if page_info is not None:
        info_type = graphql.get_named_type(page_info.type)
        wanted = [
            name
            for name in ("hasNextPage", "endCursor")
            if isinstance(info_type, graphql.GraphQLObjectType) and name in info_type.fields
        ]
        if wanted:
            inner = ast.SelectionSetNode(selections=tuple(_field(name) for name in wanted))
            selections.append(_field("pageInfo", selection_set=inner))
    nodes = fields.get("nodes")
    if nodes is None and "edges" in fields:
        edge_type = graphql.get_named_type(fields["edges"].type)
        if isinstance(edge_type, graphql.GraphQLObjectType) and "node" in edge_type.fields:
            node = _node_selection(edge_type.fields["node"].type, depth=depth, path=path)
            inner = ast.SelectionSetNode(selections=(_field("node", selection_set=node),))
            selections.append(_field("edges", selection_set=inner))
    elif nodes is not None:
        selections.append(
            _field("nodes", selection_set=_node_selection(nodes.type, depth=depth, path=path))
        )
    if not selections:
        selections.append(_field("__typename"))
    return ast.SelectionSetNode(selections=tuple(selections))


def _node_selection(
    node_type: graphql.GraphQLOutputType, *, depth: int, path: frozenset[str]
) -> ast.SelectionSetNode | None:
    named = graphql.get_named_type(node_type)
    if graphql.is_leaf_type(named):
        return None
    # The items of a connection count as the connection's own level: only their leaves.
    return _selection(named, depth=MAX_DEPTH, path=path)


def _is_connection(named: graphql.GraphQLNamedType) -> bool:
    fields = getattr(named, "fields", None) or {}
    return named.name.endswith("Connection") and any(name in fields for name in _CONNECTION_FIELDS)


def _is_selectable(field: graphql.GraphQLField) -> bool:
    if field.deprecation_reason is not None:
        return False
    return not any(graphql.is_required_argument(arg) for arg in field.args.values())


def _field(
    name: str,
    *,
    arguments: tuple[ast.ArgumentNode, ...] = (),
    selection_set: ast.SelectionSetNode | None = None,
) -> ast.FieldNode:
    return ast.FieldNode(
        name=_name(name), arguments=arguments, directives=(), selection_set=selection_set
    )


def _name(value: str) -> ast.NameNode:
    return ast.NameNode(value=value)


# -- the caller's selection -------------------------------------------------------------------


def parse_selection(text: str, *, argument: str) -> ast.SelectionSetNode:
    """Parse a caller's selection string into an AST; raise :class:`InvalidArgumentsError`.

    ``"{ id name }"`` and ``"id name"`` are the same. Variables and fragment spreads are
    refused (they would need definitions the caller cannot give); inline fragments are fine.
    """
    stripped = text.strip()
    if not stripped:
        raise _bad_selection(argument, "it is empty")
    if len(stripped) > MAX_SELECT_LENGTH:
        raise _bad_selection(argument, f"it is longer than {MAX_SELECT_LENGTH:,} characters")
    # The braces are added around the text, then the parser decides what it is: anything that
    # escapes them (a second operation, say) is a syntax error, never part of the document.
    source = stripped if stripped.startswith("{") else "{" + stripped + "}"
    try:
        parser = Parser(source, no_location=True, max_tokens=MAX_SELECT_TOKENS)
        parser.expect_token(TokenKind.SOF)
        selection_set = parser.parse_selection_set()
        parser.expect_token(TokenKind.EOF)
    except graphql.GraphQLError as exc:
        raise _bad_selection(argument, exc.message) from None
    _check_plain(selection_set, argument)
    return selection_set


def _check_plain(node: ast.Node, argument: str) -> None:
    """Refuse variables and fragment spreads anywhere in the selection."""

    class Visitor(graphql.Visitor):
        def enter_variable(self, node: ast.VariableNode, *_: Any) -> None:
            raise _bad_selection(argument, f"it uses the variable ${node.name.value}")

        def enter_fragment_spread(self, node: ast.FragmentSpreadNode, *_: Any) -> None:
            raise _bad_selection(
                argument,
                f"it spreads the fragment {node.name.value}; use an inline '... on Type {{ }}'",
            )

        def enter_selection_set(self, node: ast.SelectionSetNode, *_: Any) -> None:
            if not node.selections:
                raise _bad_selection(argument, "it has an empty selection '{ }'")

    graphql.visit(node, Visitor())


def _bad_selection(argument: str, reason: str) -> InvalidArgumentsError:
    reason = reason.rstrip(".")  # graphql-core's messages end with one
    return InvalidArgumentsError(
        f"{argument} is not a usable GraphQL selection: {reason}.",
        hint=f"Pass the fields to return, e.g. {argument}='{{ id name }}'.",
        details={"violations": [{"path": f"/{argument}", "message": reason}]},
    )


# -- the document ---------------------------------------------------------------------------


def build_document(
    *,
    operation: str,
    field: str,
    variables: Sequence[tuple[str, str]],
    selection_set: ast.SelectionSetNode | None,
) -> ast.DocumentNode:
    """``<operation> <field>($a: T, …) { <field>(a: $a, …) <selection> }`` as an AST.

    ``variables`` are ``(argument name, GraphQL type)`` pairs of the arguments being passed.
    """
    definitions = tuple(
        ast.VariableDefinitionNode(
            variable=ast.VariableNode(name=_name(name)),
            type=graphql.parse_type(type_text, no_location=True),
            directives=(),
        )
        for name, type_text in variables
    )
    arguments = tuple(
        ast.ArgumentNode(name=_name(name), value=ast.VariableNode(name=_name(name)))
        for name, _ in variables
    )
    root = _field(field, arguments=arguments, selection_set=selection_set)
    operation_node = ast.OperationDefinitionNode(
        operation=graphql.OperationType(operation),
        name=_name(field),
        variable_definitions=definitions,
        directives=(),
        selection_set=ast.SelectionSetNode(selections=(root,)),
    )
    return ast.DocumentNode(definitions=(operation_node,))


def print_selection(selection_set: ast.SelectionSetNode | None) -> str | None:
    """The selection set as compact text (one line), or None."""
    if selection_set is None:
        return None
    return " ".join(graphql.print_ast(selection_set).split())


def validate_document(
    schema: graphql.GraphQLSchema, document: ast.DocumentNode, *, argument: str
) -> None:
    """Check the document against the schema; name what is wrong in the caller's selection."""
    errors = graphql.validate(schema, document, max_errors=5, allow_empty_selection_sets=False)
    if errors:
        messages = [error.message for error in errors]
        raise InvalidArgumentsError(
            f"{argument} does not fit the schema: " + "; ".join(messages[:3]),
            hint="Select fields the return type has; see the tool's description for its type.",
            details={
                "violations": [{"path": f"/{argument}", "message": text} for text in messages]
            },
        )


def parse_stored_selection(text: str | None) -> ast.SelectionSetNode | None:
    """Parse a selection the importer printed (trusted, always valid)."""
    if not text:
        return None
    parser = Parser(text, no_location=True)
    parser.expect_token(TokenKind.SOF)
    return parser.parse_selection_set()


def variables_json(
    arguments: Mapping[str, Any], binding_args: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The ``variables`` object and the ``(name, type)`` pairs of the arguments given."""
    values: dict[str, Any] = {}
    declared: list[tuple[str, str]] = []
    for spec in binding_args:
        arg = spec["arg"]
        if arg in arguments:
            values[spec["name"]] = arguments[arg]
            declared.append((spec["name"], spec["type"]))
    return values, declared


__all__ = [
    "MAX_DEPTH",
    "MAX_LEAVES",
    "MAX_OBJECTS",
    "build_document",
    "default_selection",
    "parse_selection",
    "parse_stored_selection",
    "print_selection",
    "validate_document",
    "variables_json",
]
