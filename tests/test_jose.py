"""authcore.jose: lenient, observant decoding for the token inspector. It reads what can be read
and says what is irregular (padding, the standard alphabet, non-zero unused bits, duplicate keys,
NaN, huge integers, trailing data, deep nesting); a segment it cannot read at all is one
``JoseDecodeError`` line; ``parse_json`` never raises; ``json_safe`` output always serialises."""

from __future__ import annotations

import base64
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authcore.jose import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    JoseDecodeError,
    b64url_decode,
    b64url_encode,
    json_safe,
    nesting_depth,
    parse_json,
)


@given(st.binary(max_size=64))
def test_encode_decode_round_trip_is_canonical(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    got = b64url_decode(text)
    assert got.data == data and got.canonical and got.notes == []


def test_padding_and_the_standard_alphabet_are_read_and_noted() -> None:
    data = b"\xfb\xff\xbe?"  # base64 holds '+' and '/'
    std = base64.b64encode(data).decode()
    assert "+" in std and "/" in std and std.endswith("=")
    got = b64url_decode(std, "header")
    assert got.data == data and not got.canonical
    assert any("padding '=' present" in n for n in got.notes)
    assert any("standard base64 alphabet" in n for n in got.notes)
    assert all(n.startswith("header: ") for n in got.notes)


def test_wrong_padding_is_noted() -> None:
    got = b64url_decode("QQ=")  # b"A" needs two '='
    assert got.data == b"A"
    assert any("wrong amount of base64 padding" in n for n in got.notes)


def test_non_zero_unused_bits_are_noted_as_malleable() -> None:
    assert b64url_decode("QQ").canonical  # b"A"
    other = b64url_decode("QR")  # same byte, unused low bits set
    assert other.data == b"A" and not other.canonical
    assert any("non-canonical" in n for n in other.notes)


@pytest.mark.parametrize(
    ("segment", "fragment"),
    [
        ("ab.c", "character '.' is not base64url"),
        ("abcé", "character 'é' is not base64url"),
        ("abcde", "impossible base64 length (5 characters)"),
        ("a", "impossible base64 length"),
        ("ab=c", "'=' before the end"),  # not "character '?'", which is not in it
        ("QQ==QQ", "'=' before the end"),
    ],
)
def test_unreadable_segments_raise_one_line(segment: str, fragment: str) -> None:
    with pytest.raises(JoseDecodeError) as info:
        b64url_decode(segment, "payload")
    msg = str(info.value)
    assert msg.startswith("payload: ") and fragment in msg and "\n" not in msg
    assert isinstance(info.value, ValueError)


def test_parse_json_reads_a_plain_object() -> None:
    res = parse_json(b'{"sub": "1", "n": [1, 2.5, true, null]}')
    assert res.ok and res.error is None and res.notes == [] and res.trailing == 0
    assert res.value == {"sub": "1", "n": [1, 2.5, True, None]}


def test_duplicate_keys_keep_the_last_value_and_are_named() -> None:
    res = parse_json(b'{"alg": "RS256", "alg": "none", "x": {"k": 1, "k": 2}}', "header")
    assert res.ok and res.value == {"alg": "none", "x": {"k": 2}}
    assert res.duplicates == ["k", "alg"] or res.duplicates == ["alg", "k"]
    assert any("duplicate key 'alg'" in n and n.startswith("header: ") for n in res.notes)


def test_non_standard_constants_and_huge_integers_are_noted() -> None:
    res = parse_json(b'{"a": NaN, "b": Infinity, "c": -Infinity}')
    assert res.ok and math.isnan(res.value["a"]) and res.value["b"] == math.inf
    assert sum("non-standard JSON constant" in n for n in res.notes) == 3
    big = b'{"exp": ' + b"9" * (MAX_INT_DIGITS + 1) + b"}"
    res = parse_json(big)
    assert res.ok and res.value["exp"] == math.inf
    assert any(f"integer with {MAX_INT_DIGITS + 1} digits" in n for n in res.notes)
    assert parse_json(b'{"exp": ' + b"9" * MAX_INT_DIGITS + b"}").value["exp"] == int("9" * MAX_INT_DIGITS)


def test_trailing_data_and_a_bom_are_noted_not_fatal() -> None:
    res = parse_json(b'{"a": 1}  garbage')
    assert res.ok and res.value == {"a": 1} and res.trailing == len("garbage")
    res = parse_json('\ufeff{"a": 1}'.encode())
    assert res.ok and any("byte-order mark" in n for n in res.notes)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\xff\xfe{}", "is not UTF-8"),
        (b'{"a": }', "is not valid JSON"),
        (b"", "is not valid JSON"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), f"nested {MAX_DEPTH + 1} levels deep"),
        (b"[" * 200_000, "levels deep"),  # never a RecursionError
    ],
)
def test_unparsable_json_is_an_error_value_not_an_exception(data: bytes, fragment: str) -> None:
    res = parse_json(data, "payload")
    assert not res.ok and res.value is None
    assert res.error is not None and fragment in res.error and res.error.startswith("payload")


def test_nesting_depth_ignores_brackets_inside_strings() -> None:
    assert nesting_depth('{"a": "[[[[{{{{"}') == 1
    assert nesting_depth('[[{"x": [1]}]]') == 4
    assert nesting_depth('"unterminated [[[') == 0
    assert nesting_depth(r'{"a": "esc \" [[["}') == 1


def test_json_safe_makes_anything_serialisable() -> None:
    value = {
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": float("-inf"),
        "s": "lone \udcff surrogate",
        1: ("tuple", None, True),
        "obj": object,
    }
    safe = json_safe(value)
    assert safe["nan"] == "NaN" and safe["inf"] == "Infinity" and safe["ninf"] == "-Infinity"
    assert safe["s"] == "lone \ufffd surrogate"
    assert safe["1"] == ["tuple", None, True]
    assert isinstance(safe["obj"], str)
    json.dumps(safe, allow_nan=False).encode("utf-8")


def test_json_safe_cuts_deep_nesting() -> None:
    deep: list[object] = []
    cur = deep
    for _ in range(MAX_DEPTH + 10):
        nxt: list[object] = []
        cur.append(nxt)
        cur = nxt
    safe = json_safe(deep)
    depth, node = 0, safe
    while isinstance(node, list) and node:
        node, depth = node[0], depth + 1
    assert node == "…" and depth <= MAX_DEPTH + 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parse_json_never_raises_and_its_value_serialises(data: bytes) -> None:
    res = parse_json(data)
    assert res.ok is (res.error is None)
    if res.ok:
        json.dumps(json_safe(res.value), allow_nan=False)
