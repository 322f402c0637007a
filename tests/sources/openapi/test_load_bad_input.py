"""Malformed, unsupported and hostile specs fail with one clear line (SpecError / FetchError)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from executor.errors import ExecutorError, FetchError, InvalidInputError, SpecError
from executor.sources.base import FetchPolicy, SourceBundle, SourceConfig
from executor.sources.openapi import OpenAPIPlugin
from executor.sources.openapi.document import parse_document
from tests.servers import free_port
from tests.sources.openapi._spec_server import SPECS, serve_directory

POLICY = FetchPolicy(timeout=5.0)


async def load(config: SourceConfig, policy: FetchPolicy = POLICY) -> SourceBundle:
    return await OpenAPIPlugin().load(config, fetch_policy=policy)


async def load_error(config: SourceConfig, policy: FetchPolicy = POLICY) -> ExecutorError:
    with pytest.raises(ExecutorError) as caught:
        await load(config, policy)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300, message
    return caught.value


def minimal(**fields: Any) -> str:
    document: dict[str, Any] = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}}
    document.update(fields)
    return orjson.dumps(document).decode()


async def test_truncated_json_is_a_spec_error() -> None:
    text = (SPECS / "petstore-3.0.json").read_text()
    error = await load_error(SourceConfig(text=text[: len(text) // 2]))
    assert isinstance(error, SpecError)
    assert "not valid JSON" in error.message and "truncated" in error.message


async def test_malformed_json_says_where() -> None:
    error = await load_error(SourceConfig(text='{"openapi": "3.0.0",, "paths": {}}'))
    assert isinstance(error, SpecError)
    assert "line 1" in error.message


async def test_input_that_is_neither_json_nor_yaml_is_a_spec_error() -> None:
    error = await load_error(SourceConfig(text="openapi: [3.0\npaths: {{{\n  - :"))
    assert isinstance(error, SpecError)
    assert "neither valid JSON nor valid YAML" in error.message


async def test_binary_garbage_is_a_spec_error(tmp_path: Path) -> None:
    (tmp_path / "spec.bin").write_bytes(bytes(range(256)) * 4)
    error = await load_error(SourceConfig(path=str(tmp_path / "spec.bin")))
    assert isinstance(error, SpecError)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("just some words", "string"), ("- a\n- b\n", "list"), ("42", "int")],
)
async def test_a_document_that_is_not_a_mapping_is_a_spec_error(text: str, kind: str) -> None:
    error = await load_error(SourceConfig(text=text))
    assert isinstance(error, SpecError)
    assert f"it is a {kind}, not a mapping" in error.message


async def test_a_yaml_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
    text = "openapi: 3.0.0\ninfo: {title: bomb, version: '1'}\npaths: {}\n" + "\n".join(lines)
    with anyio.fail_after(2):
        error = await load_error(SourceConfig(text=text))
    assert isinstance(error, SpecError)
    assert "alias bomb" in error.message


def test_a_recursive_yaml_alias_is_refused() -> None:
    with pytest.raises(SpecError, match="recursive YAML alias"):
        parse_document(b"openapi: 3.0.0\npaths: &p\n  loop: *p\n")


def test_a_few_ordinary_yaml_aliases_are_fine() -> None:
    document = parse_document(b"common: &c {type: string}\na: *c\nb: *c\n200: ok\n")
    assert document == {"common": {"type": "string"}, "a": {"type": "string"},
                        "b": {"type": "string"}, "200": "ok"}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"openapi": "4.0.0"}, "OpenAPI version '4.0.0' is not supported"),
        ({"openapi": "2.0"}, "OpenAPI version '2.0' is not supported"),
        ({"openapi": None, "swagger": "1.2"}, "Swagger version '1.2' is not supported"),
    ],
)
async def test_unsupported_versions_are_spec_errors(fields: dict[str, Any], expected: str) -> None:
    document = {"openapi": "3.0.0", "paths": {}, **fields}
    if document["openapi"] is None:
        del document["openapi"]
    error = await load_error(SourceConfig(text=orjson.dumps(document).decode()))
    assert isinstance(error, SpecError)
    assert error.message == expected + "."
    assert error.hint and "2.0" in error.hint


async def test_a_document_without_a_version_field_is_a_spec_error() -> None:
    error = await load_error(SourceConfig(text='{"info": {}, "paths": {}}'))
    assert isinstance(error, SpecError)
    assert "no 'openapi' or 'swagger' field" in error.message


async def test_a_document_without_paths_is_a_spec_error() -> None:
    error = await load_error(SourceConfig(text=minimal()))
    assert isinstance(error, SpecError)
    assert "has no 'paths'" in error.message


async def test_an_unreachable_url_is_a_fetch_error() -> None:
    error = await load_error(SourceConfig(url=f"http://127.0.0.1:{free_port()}/openapi.json"))
    assert isinstance(error, FetchError)
    assert "Cannot reach" in error.message


async def test_a_config_naming_no_document_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="exactly one of url, path or text"):
        await load(SourceConfig())


def hostile_remote_spec(ref: str) -> str:
    body = {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}
    operation = {"operationId": "x/create", "requestBody": body, "responses": {}}
    return minimal(paths={"/x": {"post": operation}})


async def test_a_remote_spec_cannot_ref_a_local_file(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(hostile_remote_spec("file:///etc/passwd#/root"))
    with serve_directory(tmp_path) as url:
        error = await load_error(SourceConfig(url=f"{url}/spec.json"))
    assert isinstance(error, FetchError)
    assert "Refused to read local file file:///etc/passwd referenced by remote" in error.message


async def test_a_remote_spec_cannot_ref_the_metadata_service(tmp_path: Path) -> None:
    ref = "http://169.254.169.254/latest/meta-data/iam/security-credentials#/x"
    (tmp_path / "spec.json").write_text(hostile_remote_spec(ref))
    with serve_directory(tmp_path) as url:
        error = await load_error(SourceConfig(url=f"{url}/spec.json"))
    assert isinstance(error, FetchError)
    assert "Refused to fetch http://169.254.169.254/" in error.message
    assert "cloud metadata address" in error.message


async def test_a_local_spec_may_ref_a_local_file_by_file_url(tmp_path: Path) -> None:
    (tmp_path / "thing.yaml").write_text("Thing: {type: object, properties: {a: {type: string}}}\n")
    (tmp_path / "spec.json").write_text(
        hostile_remote_spec((tmp_path / "thing.yaml").as_uri() + "#/Thing")
    )
    bundle = await load(SourceConfig(path=str(tmp_path / "spec.json")))
    assert bundle.tools[0].binding["body"]["properties"] == ["a"]


async def test_a_huge_spec_is_refused_by_the_size_cap(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(minimal(paths={}, padding="x" * 5_000))
    error = await load_error(
        SourceConfig(path=str(tmp_path / "spec.json")), FetchPolicy(max_bytes=4_000)
    )
    assert isinstance(error, FetchError)


async def test_parsing_a_large_spec_leaves_the_event_loop_responsive(tmp_path: Path) -> None:
    paths = {
        f"/things{i}/{{id}}": {
            "get": {"operationId": f"things{i}/get", "description": "d" * 2_000, "responses": {}}
        }
        for i in range(2_000)
    }
    (tmp_path / "big.json").write_text(minimal(paths=paths))
    ticks = 0
    seen: dict[tuple[str, int], int] = {}
    done = anyio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await anyio.lowlevel.checkpoint()

    def progress(stage: str, count: int, total: int | None) -> None:
        seen.setdefault((stage, count), ticks)

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        bundle = await OpenAPIPlugin().load(
            SourceConfig(path=str(tmp_path / "big.json")), fetch_policy=POLICY, progress=progress
        )
        done.set()
    assert len(bundle.tools) == 2_000
    # The loop kept running while the spec was parsed and while its tools were built.
    assert seen[("parse", 1)] > seen[("parse", 0)]
    assert seen[("index", 2_000)] > seen[("index", 50)]
