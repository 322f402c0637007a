"""Reading agent code: fences and the tool paths it names."""

from __future__ import annotations

import pytest

from executor.errors import CodeError
from executor.sandbox import referenced_paths, strip_fence


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = 1\nx", "x = 1\nx"),
        ("```python\nx = 1\nx\n```", "x = 1\nx\n"),
        ("```\nx = 1\n```", "x = 1\n"),
        ("~~~py\nx = 1\n~~~\n", "x = 1\n"),
        ("Here is the code:\n\n```python\nprint(1)\n```\nIt prints 1.", "print(1)\n"),
        ("```text\nout\n```\n```python\nrun()\n```", "run()\n"),
        ("```json\n{}\n```", "{}\n"),
        ("```python\nprint(1)\n", "print(1)\n"),
        ("s = '```'\ns", "s = '```'\ns"),
    ],
)
def test_strip_fence_returns_the_program_inside_a_markdown_fence(text: str, expected: str) -> None:
    assert strip_fence(text) == expected


def test_referenced_paths_lists_each_longest_chain_with_its_first_position() -> None:
    code = (
        "pets = tools.petstore.default.pets.list_pets(limit=5)\n"
        "ns = tools.github.work\n"
        "for p in pets['data']:\n"
        "    tools.petstore.default.pets.get_by_id(id=p['id'])\n"
        "tools.petstore.default.pets.list_pets(limit=1)\n"
        "tools.search('issues')\n"
        "tools.describe('github.work.issues.create')\n"
        "other.thing.call()\n"
    )
    assert referenced_paths(code) == {
        ("petstore", "default", "pets", "list_pets"): (1, 8),
        ("github", "work"): (2, 6),
        ("petstore", "default", "pets", "get_by_id"): (4, 5),
    }


def test_referenced_paths_sees_calls_inside_functions_and_comprehensions() -> None:
    code = "def f():\n    return [tools.a.b.c(x=i) for i in range(3)]\nf()\n"
    assert referenced_paths(code) == {("a", "b", "c"): (2, 13)}


def test_referenced_paths_reports_a_syntax_error_with_line_and_column() -> None:
    with pytest.raises(CodeError) as caught:
        referenced_paths("x = 1\ny = (2 +\n")
    assert caught.value.details["line"] == 2
    assert "line 2" in caught.value.message
