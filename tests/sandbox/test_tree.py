"""The tools tree: built only from the given tools, cached, with fixed conflict rules."""

from __future__ import annotations

from typing import Any

from executor.sandbox import Completed, Failed, Sandbox, SandboxCall, ToolSpec, build_tree


def spec(address: str, schema: dict[str, Any] | None = None) -> ToolSpec:
    return ToolSpec(tuple(address.split(".")), address, schema or {"type": "object"}, "")


def test_the_same_tool_set_reuses_the_built_tree() -> None:
    first = build_tree([spec("a.b.c"), spec("a.b.d")])
    again = build_tree([spec("a.b.d"), spec("a.b.c")])
    assert again is first
    changed = build_tree(
        [spec("a.b.c", {"type": "object", "properties": {"x": {}}}), spec("a.b.d")]
    )
    assert changed is not first


def test_a_tool_that_is_also_a_namespace_is_shadowed_by_the_namespace() -> None:
    tree = build_tree([spec("a.b.c"), spec("a.b.c.d"), spec("search.x.y")])
    assert tree.shadowed == ("a.b.c", "search.x.y")
    assert "import tools.a.b.c" in tree.prelude


async def test_tools_outside_the_given_set_do_not_exist_in_the_sandbox() -> None:
    calls: list[SandboxCall] = []

    async def handler(call: SandboxCall) -> Any:
        calls.append(call)
        return {"ok": True}

    sandbox = Sandbox(type_check=False)
    try:
        known = await sandbox.run("tools.a.b.c(x=1)['ok']", [spec("a.b.c")], handler)
        unknown = await sandbox.run("tools.a.b.other()", [spec("a.b.c")], handler)
    finally:
        await sandbox.aclose()
    assert known == Completed(True, "", 1)
    assert isinstance(unknown, Failed) and "AttributeError" in unknown.error.message
    assert [c.address for c in calls] == ["a.b.c"]


async def test_generated_stubs_for_awkward_schemas_type_check_cleanly() -> None:
    schema = {
        "type": "object",
        "required": ["body"],
        "properties": {
            "body": {
                "type": "object",
                "properties": {
                    "content-type": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {}}}},
                    "mode": {"enum": ["a", None]},
                },
            },
            "user-id": {"type": "integer"},
            "n": {"type": "number", "nullable": True},
        },
    }

    async def handler(call: SandboxCall) -> Any:
        return {"ok": True, "data": call.arguments}

    code = (
        "body = {'content-type': 'x', 'tags': [{'k': 1}]}\n"
        "r = tools.api.main.things.create(body=body, n=1, **{'user-id': 3})\n"
        "r['data']['user-id']"
    )
    sandbox = Sandbox()
    try:
        outcome = await sandbox.run(code, [spec("api.main.things.create", schema)], handler)
    finally:
        await sandbox.aclose()
    assert outcome == Completed(3, "", 1)
