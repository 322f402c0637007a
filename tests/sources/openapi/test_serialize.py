"""Parameter and body serialization against the OpenAPI "Style Examples" table.

The table (OAS 3.1.1 / 3.0.4, where the label style was corrected to RFC 6570) uses a parameter
named ``color`` with a string, an array and an object value. Where our output differs from the
table's text it is only in percent-encoding a character the table shows bare (``|``), and the
test says so.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
from typing import Any
from urllib.parse import parse_qsl

import pytest

from executor.errors import InvalidArgumentsError
from executor.sources.openapi.serialize import (
    encode_form,
    encode_multipart,
    encode_raw,
    join_query,
    percent_encode,
    serialize_cookie,
    serialize_header,
    serialize_path,
    serialize_query,
)

STRING = "blue"
ARRAY = ["blue", "black", "brown"]
OBJECT = {"R": 100, "G": 200, "B": 150}

# (style, explode, empty string, string, array, object) — the spec's rows for path styles.
PATH_TABLE = [
    (
        "matrix",
        False,
        ";color",
        ";color=blue",
        ";color=blue,black,brown",
        ";color=R,100,G,200,B,150",
    ),
    (
        "matrix",
        True,
        ";color",
        ";color=blue",
        ";color=blue;color=black;color=brown",
        ";R=100;G=200;B=150",
    ),
    ("label", False, ".", ".blue", ".blue,black,brown", ".R,100,G,200,B,150"),
    ("label", True, ".", ".blue", ".blue.black.brown", ".R=100.G=200.B=150"),
    ("simple", False, "", "blue", "blue,black,brown", "R,100,G,200,B,150"),
    ("simple", True, "", "blue", "blue,black,brown", "R=100,G=200,B=150"),
]

# (style, explode, empty string, string, array, object) for the query; None: not in the table.
QUERY_TABLE = [
    ("form", False, "color=", "color=blue", "color=blue,black,brown", "color=R,100,G,200,B,150"),
    (
        "form",
        True,
        "color=",
        "color=blue",
        "color=blue&color=black&color=brown",
        "R=100&G=200&B=150",
    ),
    (
        "spaceDelimited",
        False,
        None,
        None,
        "color=blue%20black%20brown",
        "color=R%20100%20G%20200%20B%20150",
    ),
    # The table writes "|"; it is not a legal URI character, so it goes out as %7C.
    (
        "pipeDelimited",
        False,
        None,
        None,
        "color=blue%7Cblack%7Cbrown",
        "color=R%7C100%7CG%7C200%7CB%7C150",
    ),
    ("deepObject", True, None, None, None, "color[R]=100&color[G]=200&color[B]=150"),
]


@pytest.mark.parametrize(("style", "explode", "empty", "string", "array", "obj"), PATH_TABLE)
def test_path_styles_match_the_spec_table(
    style: str, explode: bool, empty: str, string: str, array: str, obj: str
) -> None:
    def render(value: Any) -> str:
        return serialize_path("color", value, style=style, explode=explode)

    if style != "simple":  # the table has no "empty" entry for simple
        assert render("") == empty
    assert render(STRING) == string
    assert render(ARRAY) == array
    assert render(OBJECT) == obj


@pytest.mark.parametrize(("style", "explode", "empty", "string", "array", "obj"), QUERY_TABLE)
def test_query_styles_match_the_spec_table(
    style: str, explode: bool, empty: str | None, string: str | None, array: str | None, obj: str
) -> None:
    def render(value: Any) -> str:
        return join_query(serialize_query("color", value, style=style, explode=explode))

    for value, expected in (("", empty), (STRING, string), (ARRAY, array), (OBJECT, obj)):
        if expected is not None:
            assert render(value) == expected


def test_delimited_styles_with_explode_send_one_pair_per_item_like_form() -> None:
    for style in ("spaceDelimited", "pipeDelimited"):
        pairs = serialize_query("color", ARRAY, style=style, explode=True)
        assert join_query(pairs) == "color=blue&color=black&color=brown"


@pytest.mark.parametrize(
    ("explode", "string", "array", "obj"),
    [
        (False, "blue", "blue,black,brown", "R,100,G,200,B,150"),
        (True, "blue", "blue,black,brown", "R=100,G=200,B=150"),
    ],
)
def test_header_simple_style_matches_the_spec_table(
    explode: bool, string: str, array: str, obj: str
) -> None:
    assert serialize_header(STRING, explode=explode) == string
    assert serialize_header(ARRAY, explode=explode) == array
    assert serialize_header(OBJECT, explode=explode) == obj


def test_cookie_form_style_gives_one_pair_or_one_pair_per_item() -> None:
    assert serialize_cookie("color", ARRAY, explode=False) == [("color", "blue,black,brown")]
    assert serialize_cookie("color", ARRAY, explode=True) == [
        ("color", "blue"),
        ("color", "black"),
        ("color", "brown"),
    ]
    assert serialize_cookie("color", OBJECT, explode=True) == [
        ("R", "100"),
        ("G", "200"),
        ("B", "150"),
    ]
    assert serialize_cookie("session", "a b;c") == [("session", "a%20b%3Bc")]


def test_missing_values_and_empty_collections_leave_the_parameter_out() -> None:
    assert serialize_query("color", None) == []
    assert serialize_query("color", []) == []
    assert serialize_query("color", {}, style="deepObject") == []
    assert serialize_path("color", None) == ""
    assert serialize_path("color", [], style="matrix") == ""


def test_path_values_are_fully_percent_encoded() -> None:
    assert serialize_path("id", "a/b c?d#e%f") == "a%2Fb%20c%3Fd%23e%25f"
    assert serialize_path("id", "ünï") == "%C3%BCn%C3%AF"
    assert serialize_path("ids", ["a,b", "c"]) == "a%2Cb,c"


def test_dot_only_path_values_cannot_climb_out_of_the_path() -> None:
    assert serialize_path("id", "..") == "%2E%2E"
    assert serialize_path("id", ".") == "%2E"
    assert serialize_path("id", "v1.2") == "v1.2"


def test_booleans_and_numbers_are_written_the_json_way() -> None:
    assert join_query(serialize_query("flag", True)) == "flag=true"
    assert join_query(serialize_query("n", [1, 2.5, False], explode=False)) == "n=1,2.5,false"


def test_query_values_encode_reserved_characters_unless_allow_reserved() -> None:
    assert join_query(serialize_query("q", "a/b:c,d&e")) == "q=a%2Fb%3Ac%2Cd%26e"
    allowed = serialize_query("q", "a/b:c,d&e#f%20g", allow_reserved=True)
    # Reserved characters and existing %XX pass; "&" and "#" would end the value, so they don't.
    assert join_query(allowed) == "q=a/b:c,d%26e%23f%20g"


def test_deep_object_nests_brackets_and_repeats_keys_for_arrays() -> None:
    value = {"owner": {"id": 7}, "tag": ["a", "b"], "skip": None}
    pairs = serialize_query("filter", value, style="deepObject", explode=True)
    assert join_query(pairs) == "filter[owner][id]=7&filter[tag]=a&filter[tag]=b"


def test_headers_keep_their_text_but_encode_what_http_cannot_carry() -> None:
    assert serialize_header("a b/c,d") == "a b/c,d"
    assert serialize_header("café") == "caf%C3%A9"


def test_percent_encode_leaves_only_unreserved_characters() -> None:
    assert percent_encode("AZaz09-._~ !*'()") == "AZaz09-._~%20%21%2A%27%28%29"


def test_form_body_honours_encoding_style_explode_and_content_type() -> None:
    body = encode_form(
        {
            "name": "Rex & Co",
            "tags": ["a", "b"],
            "ids": [1, 2],
            "color": OBJECT,
            "meta": {"k": "v"},
        },
        {
            "ids": {"style": "form", "explode": False},
            "color": {"style": "deepObject", "explode": True},
            "meta": {"contentType": "application/json"},
        },
    )
    assert parse_qsl(body.decode()) == [
        ("name", "Rex & Co"),
        ("tags", "a"),
        ("tags", "b"),
        ("ids", "1,2"),
        ("color[R]", "100"),
        ("color[G]", "200"),
        ("color[B]", "150"),
        ("meta", '{"k":"v"}'),
    ]


def _parse_multipart(body: bytes, content_type: str) -> list[Any]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    return list(message.iter_parts())


def test_multipart_body_has_file_json_text_and_repeated_parts() -> None:
    png = bytes(range(256))
    body, content_type = encode_multipart(
        {
            "file": {
                "filename": 'pet "1".png',
                "content_base64": base64.b64encode(png).decode(),
                "content_type": "image/png",
            },
            "meta": {"name": "Rex"},
            "note": "hello",
            "count": 3,
            "labels": ["x", "y"],
        },
        {},
    )
    assert content_type.startswith("multipart/form-data; boundary=")
    parts = _parse_multipart(body, content_type)
    by_order = [(p.get_param("name", header="content-disposition"), p) for p in parts]
    assert [name for name, _ in by_order] == ["file", "meta", "note", "count", "labels", "labels"]
    file_part = by_order[0][1]
    assert file_part.get_filename() == "pet %221%22.png"
    assert file_part.get_content_type() == "image/png"
    assert file_part.get_payload(decode=True) == png
    assert by_order[1][1].get_content_type() == "application/json"
    assert by_order[1][1].get_payload(decode=True) == b'{"name":"Rex"}'
    assert by_order[2][1].get_filename() is None
    assert by_order[2][1].get_payload(decode=True) == b"hello"
    assert by_order[3][1].get_payload(decode=True) == b"3"
    assert [p.get_payload(decode=True) for _, p in by_order[4:]] == [b"x", b"y"]


def test_multipart_text_value_for_a_binary_declared_part_is_sent_as_a_file() -> None:
    body, content_type = encode_multipart(
        {"doc": "raw text"}, {"doc": {"contentType": "application/pdf"}}
    )
    (part,) = _parse_multipart(body, content_type)
    assert part.get_filename() == "doc"
    assert part.get_content_type() == "application/pdf"


def test_raw_bodies_accept_base64_dicts_and_text() -> None:
    data = base64.b64encode(b"\x00\xff").decode()
    assert encode_raw({"content_base64": data}, "application/octet-stream") == (
        b"\x00\xff",
        "application/octet-stream",
    )
    assert encode_raw({"content_base64": data, "content_type": "image/gif"}, "image/*") == (
        b"\x00\xff",
        "image/gif",
    )
    assert encode_raw("héllo", "text/plain") == ("héllo".encode(), "text/plain")
    assert encode_raw("x", "*/*") == (b"x", "application/octet-stream")


def test_invalid_base64_is_an_argument_error_naming_the_field() -> None:
    with pytest.raises(InvalidArgumentsError, match=r"body\.content_base64"):
        encode_raw({"content_base64": "not base64!"}, "application/octet-stream")
