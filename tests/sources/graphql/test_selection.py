"""Default selection sets (bounded, leaves first) and the caller's ``_select`` override."""

from __future__ import annotations

import graphql
import pytest

from executor.errors import InvalidArgumentsError
from executor.sources.graphql.schema import parse_schema
from executor.sources.graphql.selection import (
    MAX_LEAVES,
    build_document,
    default_selection,
    parse_selection,
    print_selection,
    validate_document,
)
from tests.servers.graphql_api import SDL

LIBRARY = parse_schema(SDL.encode())


def default_for(schema: graphql.GraphQLSchema, field: str) -> str | None:
    assert schema.query_type is not None
    return print_selection(default_selection(schema.query_type.fields[field].type))


def depth(selection: graphql.language.SelectionSetNode | None) -> int:
    if selection is None:
        return 0
    return 1 + max(
        (depth(getattr(node, "selection_set", None)) for node in selection.selections), default=0
    )


def test_leaves_come_first_and_fields_needing_arguments_or_deprecated_are_left_out() -> None:
    text = default_for(LIBRARY, "book")
    # author's `books` would re-enter Book: left out; `excerpt` needs words:, `isbn` is
    # deprecated.
    assert text == "{ id title genre tags publishedAt copies author { id name } }"


def test_a_connection_gets_its_count_page_info_and_nodes() -> None:
    assert default_for(LIBRARY, "books") == (
        "{ totalCount pageInfo { hasNextPage endCursor } "
        "nodes { id title genre tags publishedAt copies } }"
    )


def test_unions_and_interfaces_get_typename_and_their_members_leaves() -> None:
    assert default_for(LIBRARY, "search") == (
        "{ __typename ... on Book { id title genre tags publishedAt copies } "
        "... on Author { id name } }"
    )
    assert default_for(LIBRARY, "node") == "{ __typename id }"


def test_leaf_fields_have_no_selection() -> None:
    assert default_for(LIBRARY, "ping") is None


def test_the_default_stays_bounded_on_a_wide_and_deep_schema() -> None:
    leaves = " ".join(f"f{i}: Int" for i in range(50))
    objects = " ".join(f"o{i}: T" for i in range(20))
    schema = parse_schema(
        f"type Query {{ t: T }} type T {{ {leaves} {objects} u: U }} "
        f"type U {{ {leaves} t: T deeper: V }} type V {{ x: Int }}".encode()
    )
    selection = default_selection(schema.query_type.fields["t"].type)  # type: ignore[union-attr]
    assert selection is not None
    assert depth(selection) <= 2
    top_leaves = [n for n in selection.selections if getattr(n, "selection_set", None) is None]
    assert len(top_leaves) == MAX_LEAVES
    text = print_selection(selection) or ""
    assert " t {" not in text  # never re-enters a type already on the path


def test_a_selection_parses_with_or_without_braces() -> None:
    with_braces = parse_selection("{ id title author { name } }", argument="_select")
    without = parse_selection("id title author { name }", argument="_select")
    assert (
        print_selection(with_braces) == print_selection(without) == ("{ id title author { name } }")
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("{ }", "empty selection"),
        ('id } mutation { deleteBook(id: "b1") ', "Syntax Error"),
        ("id title(x: $secret)", "variable $secret"),
        ("...BookParts", "fragment BookParts"),
        ("{ id", "Syntax Error"),
        ("x " * 5_000, "Syntax Error"),
    ],
)
def test_a_bad_selection_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgumentsError) as caught:
        parse_selection(text, argument="_select")
    assert reason in caught.value.message
    assert caught.value.details["violations"][0]["path"] == "/_select"


def test_the_document_passes_arguments_as_variables() -> None:
    document = build_document(
        operation="query",
        field="books",
        variables=[("filter", "BookFilter"), ("first", "Int")],
        selection_set=parse_selection("totalCount", argument="_select"),
    )
    printed = " ".join(graphql.print_ast(document).split())
    assert printed == (
        "query books($filter: BookFilter, $first: Int) "
        "{ books(filter: $filter, first: $first) { totalCount } }"
    )
    validate_document(LIBRARY, document, argument="_select")


def test_a_selection_the_schema_does_not_have_is_refused_before_sending() -> None:
    document = build_document(
        operation="query",
        field="book",
        variables=[("id", "ID!")],
        selection_set=parse_selection("id nope author { age }", argument="_select"),
    )
    with pytest.raises(InvalidArgumentsError) as caught:
        validate_document(LIBRARY, document, argument="_select")
    assert "Cannot query field 'nope' on type 'Book'" in caught.value.message
