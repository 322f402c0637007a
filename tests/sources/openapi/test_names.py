"""Tool names: from operationId and tags, a path-based fallback, and hostile input."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from executor.addresses import MAX_TOOL_NAME, is_identifier
from executor.sources.base import FetchPolicy, SourceConfig
from executor.sources.openapi import OpenAPIPlugin
from executor.sources.openapi.naming import tool_name


@pytest.mark.parametrize(
    ("operation_id", "tags", "expected"),
    [
        ("issues/create", ("issues",), "issues.create"),
        ("repos/get-content", ("repos",), "repos.get_content"),
        ("actions/list-workflow-runs-for-repo", (), "actions.list_workflow_runs_for_repo"),
        ("pets.upload_document", ("other",), "pets.upload_document"),
        ("listPets", ("pets",), "pets.list_pets"),
        ("listPets", ("Pet Store",), "pet_store.list_pets"),
        ("listPets", (), "list_pets"),
        ("getHTTPResponse", ("x",), "x.get_http_response"),
        ("import", ("class",), "class_.import_"),
        ("a//b/", (), "a.b"),
    ],
)
def test_names_come_from_the_operation_id_and_first_tag(
    operation_id: str, tags: tuple[str, ...], expected: str
) -> None:
    assert tool_name("get", "/x", operation_id=operation_id, tags=tags) == expected


@pytest.mark.parametrize(
    ("method", "path", "tags", "expected"),
    [
        ("get", "/pets", (), "pets.list"),
        ("get", "/pets/{id}", (), "pets.get_by_id"),
        ("post", "/pets", (), "pets.create"),
        ("put", "/pets/{petId}", (), "pets.replace_by_pet_id"),
        ("patch", "/pets/{petId}", (), "pets.update_by_pet_id"),
        ("delete", "/pets/{petId}", (), "pets.delete_by_pet_id"),
        ("get", "/pets/{id}/toys", (), "pets.list_toys"),
        ("get", "/pets/{id}/toys/{toyId}", (), "pets.get_toys_by_toy_id"),
        ("get", "/pets/{id}", ("animals",), "animals.get_pets_by_id"),
        ("get", "/pets/{id}", ("pets",), "pets.get_by_id"),
        ("get", "/", (), "root.get"),
        ("head", "/v1/health-check", (), "v1.head_health_check"),
    ],
)
def test_operations_without_an_id_are_named_from_method_and_path(
    method: str, path: str, tags: tuple[str, ...], expected: str
) -> None:
    assert tool_name(method, path, operation_id=None, tags=tags) == expected


def spec_with_operation_ids(operation_ids: list[Any]) -> str:
    paths: dict[str, Any] = {}
    for index, operation_id in enumerate(operation_ids):
        operation: dict[str, Any] = {"responses": {}, "tags": ["things"]}
        if operation_id is not None:
            operation["operationId"] = operation_id
        paths[f"/things/{index}"] = {"get": operation}
    document = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths}
    return orjson.dumps(document).decode()


HOSTILE = [
    "import",
    "class",
    "None",
    "__init__",
    "café/crème-brûlée",
    "获取用户",
    "🙂🙃",
    "",
    "   ",
    "///",
    "...",
    "2fa/enable",
    "a" * 300,
    "a" * 300,
    "b/" * 150,
    "x." + "y" * 60 + ".z",
    "dup",
    "dup",
    "Dup",
    "things.dup",
    "DROP TABLE tools;--",
    "../../etc/passwd",
    "a\nb",
    None,
    None,
    12345,
]


async def test_hostile_operation_ids_all_become_valid_distinct_names() -> None:
    bundle = await OpenAPIPlugin().load(
        SourceConfig(text=spec_with_operation_ids(HOSTILE)), fetch_policy=FetchPolicy()
    )
    names = [tool.name for tool in bundle.tools]
    assert len(names) == len(HOSTILE)
    assert len(set(names)) == len(names)
    for name in names:
        assert len(name) <= MAX_TOOL_NAME, name
        assert all(is_identifier(segment) for segment in name.split(".")), name
    assert names[0] == "things.import_"
    assert names[4] == "cafe.creme_brulee"


async def test_hostile_names_are_the_same_whatever_the_path_order() -> None:
    forward = await OpenAPIPlugin().load(
        SourceConfig(text=spec_with_operation_ids(HOSTILE)), fetch_policy=FetchPolicy()
    )
    # Same operations on the same paths, declared in reverse order.
    document = orjson.loads(spec_with_operation_ids(HOSTILE))
    document["paths"] = dict(reversed(document["paths"].items()))
    backward = await OpenAPIPlugin().load(
        SourceConfig(text=orjson.dumps(document).decode()), fetch_policy=FetchPolicy()
    )
    by_path = {tool.binding["path"]: tool.name for tool in forward.tools}
    assert by_path == {tool.binding["path"]: tool.name for tool in backward.tools}


async def test_a_duplicate_name_keeps_its_plain_form_for_the_first_key() -> None:
    bundle = await OpenAPIPlugin().load(
        SourceConfig(text=spec_with_operation_ids(["dup", "dup"])), fetch_policy=FetchPolicy()
    )
    names = {tool.binding["path"]: tool.name for tool in bundle.tools}
    assert names["/things/0"] == "things.dup"
    assert names["/things/1"].startswith("things.dup_") and len(names["/things/1"]) > 11
