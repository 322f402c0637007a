"""Form fields from an elicitation schema (server-everything's own form, trimmed), and typed
values from what a person typed."""

from __future__ import annotations

import pytest

from executor.errors import InvalidInputError
from executor.forms import describe_field, form_content, form_fields, parse_field, skeleton

SCHEMA = {
    "type": "object",
    "properties": {
        "check": {"type": "boolean", "title": "Boolean"},
        "name": {"type": "string", "description": "Your full, legal name"},
        "integer": {"type": "integer", "minimum": 1, "maximum": 100, "default": 42},
        "number": {"type": "number"},
        "friend": {"type": "string", "enum": ["Monica", "Rachel"], "default": "Monica"},
        "hero": {
            "type": "string",
            "oneOf": [{"const": "hero-1", "title": "Superman"}, {"const": "hero-2"}],
        },
        "pet": {"type": "string", "enum": ["pet-1", "pet-2"], "enumNames": ["Cats", "Dogs"]},
        "fish": {
            "type": "array",
            "items": {"anyOf": [{"const": "fish-1", "title": "Tuna"}, {"const": "fish-2"}]},
        },
        "extra": {"type": "object"},
    },
    "required": ["name", "hero"],
}


def test_fields_come_required_first_with_their_kinds_and_choices() -> None:
    fields = {field.name: field for field in form_fields(SCHEMA)}
    assert [field.name for field in form_fields(SCHEMA)][:2] == ["name", "hero"]
    kinds = {name: field.kind for name, field in fields.items()}
    assert kinds == {
        "name": "string",
        "hero": "choice",
        "check": "boolean",
        "integer": "integer",
        "number": "number",
        "friend": "choice",
        "pet": "choice",
        "fish": "choices",
        "extra": "json",
    }
    assert fields["hero"].labels == ("Superman", "hero-2")
    assert fields["pet"].labels == ("Cats", "Dogs")
    assert (fields["integer"].minimum, fields["integer"].maximum) == (1, 100)
    assert describe_field(fields["integer"]) == "integer (integer, default 42)"
    assert describe_field(fields["name"]) == "name (string, required): Your full, legal name"
    assert skeleton(form_fields(SCHEMA)) == {
        "name": "<string>",
        "hero": '<one of "hero-1", "hero-2">',
    }


def test_typed_text_becomes_the_json_value_the_schema_wants() -> None:
    fields = {field.name: field for field in form_fields(SCHEMA)}
    assert parse_field(fields["integer"], " 7 ") == 7
    assert parse_field(fields["number"], "2") == 2
    assert parse_field(fields["number"], "2.5") == 2.5
    assert parse_field(fields["check"], "Yes") is True
    assert parse_field(fields["hero"], "Superman") == "hero-1"
    assert parse_field(fields["fish"], "Tuna, fish-2") == ["fish-1", "fish-2"]
    assert parse_field(fields["extra"], '{"a": 1}') == {"a": 1}
    with pytest.raises(InvalidInputError, match="integer cannot be 'many': it takes integer"):
        parse_field(fields["integer"], "many")
    with pytest.raises(InvalidInputError, match="one of"):
        parse_field(fields["friend"], "Ross")


def test_a_submitted_html_form_leaves_blanks_out_and_unchecked_boxes_false() -> None:
    form = {
        "field.name": ["Ada"],
        "field.integer": [""],
        "field.hero": ["hero-2"],
        "field.fish": ["fish-1", "fish-2"],
    }
    assert form_content(form_fields(SCHEMA), form) == {
        "name": "Ada",
        "hero": "hero-2",
        "check": False,
        "fish": ["fish-1", "fish-2"],
    }
    with pytest.raises(InvalidInputError, match="fish"):
        form_content(form_fields(SCHEMA), {"field.fish": ["salmon"]})
