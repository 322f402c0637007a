"""Schema → tools: names, input JSON Schemas, policies and descriptions, from SDL text."""

from __future__ import annotations

from typing import Any

import graphql
import jsonschema_rs
import pytest

from executor.models import ToolDefinition
from executor.sources.graphql.schema import parse_schema
from executor.sources.graphql.tools import SELECT_ARGUMENT, build_tools
from tests.servers.graphql_api import SDL


def tools_of(sdl: str) -> dict[str, ToolDefinition]:
    tools, _ = build_tools(parse_schema(sdl.encode()))
    return {tool.name: tool for tool in tools}


@pytest.fixture(scope="module")
def library() -> dict[str, ToolDefinition]:
    return tools_of(SDL)


def valid(tool: ToolDefinition, arguments: dict[str, Any]) -> bool:
    return bool(jsonschema_rs.validator_for(tool.input_schema).is_valid(arguments))


def test_every_query_and_mutation_field_is_a_snake_case_tool(
    library: dict[str, ToolDefinition],
) -> None:
    assert sorted(library) == [
        "mutation.add_book",
        "mutation.delete_book",
        "query.author",
        "query.book",
        "query.book_by_title",
        "query.books",
        "query.broken",
        "query.flaky",
        "query.node",
        "query.ping",
        "query.search",
        "query.whoami",
    ]
    assert library["mutation.add_book"].binding["field"] == "addBook"


def test_queries_are_allowed_and_mutations_need_approval(
    library: dict[str, ToolDefinition],
) -> None:
    book, add, delete = (
        library["query.book"],
        library["mutation.add_book"],
        library["mutation.delete_book"],
    )
    assert (book.default_policy, book.is_read_only) == ("allow", True)
    assert (add.default_policy, add.is_read_only, add.is_destructive) == (
        "require_approval",
        False,
        False,
    )
    assert delete.is_destructive


def test_non_null_arguments_without_default_are_required(
    library: dict[str, ToolDefinition],
) -> None:
    schema = library["query.books"].input_schema
    assert "required" not in schema  # filter and first are optional; first has a default
    assert schema["properties"]["first"]["default"] == 10
    assert library["query.book"].input_schema["required"] == ["id"]
    assert valid(library["query.book"], {"id": "b1"})
    assert not valid(library["query.book"], {})


def test_scalars_map_to_json_schema_types(library: dict[str, ToolDefinition]) -> None:
    new_book = library["mutation.add_book"].input_schema["properties"]["input"]
    fields = new_book["properties"]
    assert fields["title"]["type"] == "string"
    assert fields["authorId"]["type"] == ["string", "integer"]  # ID accepts both
    assert fields["copies"]["type"] == ["integer", "null"]
    assert fields["copies"]["maximum"] == 2**31 - 1
    assert fields["copies"]["default"] == 1
    assert "type" not in fields["publishedAt"]  # a custom scalar is unconstrained…
    assert "DateTime" in fields["publishedAt"]["description"]  # …and says what it is
    assert new_book["required"] == ["title", "genre", "authorId"]
    assert new_book["additionalProperties"] is False


def test_enums_lists_and_nullability(library: dict[str, ToolDefinition]) -> None:
    fields = library["mutation.add_book"].input_schema["properties"]["input"]["properties"]
    assert fields["genre"] == {
        "type": "string",
        "enum": ["FICTION", "SCIENCE", "HISTORY"],
        "description": "What a book is about.",
    }
    assert fields["tags"] == {"type": ["array", "null"], "items": {"type": "string"}}
    tool = library["mutation.add_book"]
    good = {"input": {"title": "T", "genre": "FICTION", "authorId": 7, "tags": None}}
    assert valid(tool, good)
    assert not valid(tool, {"input": {**good["input"], "genre": "POETRY"}})
    assert not valid(tool, {"input": {**good["input"], "tags": [None]}})


def test_recursive_input_objects_go_to_defs(library: dict[str, ToolDefinition]) -> None:
    schema = library["query.books"].input_schema
    assert schema["properties"]["filter"] == {
        "anyOf": [{"$ref": "#/$defs/BookFilter"}, {"type": "null"}]
    }
    assert schema["$defs"]["BookFilter"]["properties"]["or"]["items"] == {
        "$ref": "#/$defs/BookFilter"
    }
    tool = library["query.books"]
    assert valid(
        tool, {"filter": {"or": [{"genre": "SCIENCE"}, {"and": [{"titleContains": "a"}]}]}}
    )
    assert not valid(tool, {"filter": {"or": [{"genre": "POETRY"}]}})
    # Non-recursive input objects are inlined: no $defs where none is needed.
    assert "$defs" not in library["mutation.add_book"].input_schema


def test_one_of_input_objects_take_exactly_one_field(library: dict[str, ToolDefinition]) -> None:
    tool = library["query.author"]
    assert valid(tool, {"key": {"name": "Carl Sagan"}})
    assert not valid(tool, {"key": {"name": "Carl Sagan", "id": "a2"}})
    assert not valid(tool, {"key": {}})


def test_argument_names_become_identifiers_mapped_back_in_the_binding() -> None:
    arguments = "orderBy: String, first_page: Int, from: Int, firstPage: Int"
    tools = tools_of(f"type Query {{ items({arguments}): [String] }}")
    tool = tools["query.items"]
    names = {spec["arg"]: spec["name"] for spec in tool.binding["arguments"]}
    assert names == {
        "order_by": "orderBy",
        "first_page": "firstPage",
        "first_page_2": "first_page",
        "from_": "from",
    }
    assert set(tool.input_schema["properties"]) == set(names)  # a leaf field: no _select


def test_deprecated_fields_are_listed_with_a_note(library: dict[str, ToolDefinition]) -> None:
    tool = library["query.book_by_title"]
    assert tool.summary.startswith("(Deprecated)")
    assert "Deprecated: Use books(filter:)." in tool.description


def test_descriptions_give_a_summary_and_the_default_selection(
    library: dict[str, ToolDefinition],
) -> None:
    tool = library["query.book"]
    assert tool.summary == "Look up one book by its id."
    assert "returns `Book`" in tool.description
    assert tool.binding["selection"] in tool.description
    assert SELECT_ARGUMENT in tool.input_schema["properties"]
    assert library["query.ping"].summary == "Always answers pong."
    assert SELECT_ARGUMENT not in library["query.ping"].input_schema["properties"]


def test_colliding_names_are_settled_by_a_stable_rule() -> None:
    sdl = "type Query { getItem: Int get_item: Int }"
    first = tools_of(sdl)
    second = tools_of("type Query { get_item: Int getItem: Int }")
    assert sorted(first) == sorted(second)
    assert first["query.get_item"].binding["field"] == second["query.get_item"].binding["field"]
    assert len(first) == 2


def test_subscriptions_are_skipped_with_a_warning() -> None:
    schema = parse_schema(b"type Query { a: Int } type Subscription { ticks: Int }")
    tools, warnings = build_tools(schema)
    assert [tool.name for tool in tools] == ["query.a"]
    assert any("subscription" in warning for warning in warnings)


def test_a_mutation_only_schema_still_gives_tools() -> None:
    schema = graphql.build_schema("type Query { a: Int } type Mutation { doIt(x: Int!): Boolean }")
    tools, _ = build_tools(schema)
    assert {tool.name for tool in tools} == {"query.a", "mutation.do_it"}


def test_every_input_schema_compiles(library: dict[str, ToolDefinition]) -> None:
    for tool in library.values():
        jsonschema_rs.validator_for(tool.input_schema)
