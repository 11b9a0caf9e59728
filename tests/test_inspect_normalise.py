"""authcore.inspect.normalise: what a pasted token loses before decoding, and the size cap that
comes before any other work."""

from __future__ import annotations

import pytest

from authcore.inspect.normalise import MAX_SIZE, TOKEN_CHARS, normalise, read_input

TOK = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"


@pytest.mark.parametrize(
    ("pasted", "removed"),
    [
        (TOK, []),
        (f"  {TOK}\n", []),
        (f'"{TOK}"', ["quotes"]),
        (f"\u201c{TOK}\u201d", ["quotes"]),
        (f"Bearer {TOK}", ["Bearer"]),
        (f"bearer\t{TOK}", ["Bearer"]),
        (f"Authorization: Bearer {TOK}", ["Authorization:", "Bearer"]),
        (f"'Authorization:Bearer {TOK}'", ["quotes", "Authorization:", "Bearer"]),
        (f'Authorization: "{TOK}"', ["quotes", "Authorization:"]),  # the closing quote goes first
    ],
)
def test_prefixes_and_quotes_are_removed_and_named(pasted: str, removed: list[str]) -> None:
    assert normalise(pasted) == (TOK, removed)


def test_line_breaks_inside_a_token_are_rejoined() -> None:
    wrapped = TOK[:20] + "\n  " + TOK[20:40] + " " + TOK[40:]
    assert normalise(wrapped) == (TOK, ["line breaks/spaces inside the token (rejoined)"])


def test_spaces_in_text_that_is_not_a_token_are_kept() -> None:
    # no two dots, or characters a token never has: not rejoined (the decoder says why)
    assert normalise("hello world") == ("hello world", [])
    assert normalise("a.b c.d!") == ("a.b c.d!", [])


def test_bearer_alone_leaves_nothing() -> None:
    assert normalise("Bearer") == ("", ["Bearer"])
    assert normalise("   ") == ("", [])


def test_token_chars_are_base64url_base64_and_dots() -> None:
    assert TOKEN_CHARS.fullmatch("Ab0-_+/=.")
    assert TOKEN_CHARS.match("abc def").end() == 3  # type: ignore[union-attr]


def test_size_cap_on_str_counts_utf8_bytes() -> None:
    text, size, error = read_input("é" * (MAX_SIZE // 2), MAX_SIZE)
    assert (text is not None, size, error) == (True, MAX_SIZE, None)
    text, size, error = read_input("é" * (MAX_SIZE // 2 + 1), MAX_SIZE)
    assert (text, size, error) == (None, MAX_SIZE + 2, "too_large")


def test_size_cap_on_bytes_comes_before_decoding() -> None:
    assert read_input(b"\xff" * 11, 10) == (None, 11, "too_large")
    # under the cap, bad UTF-8 is replaced, not refused: the decoder explains the token
    text, size, error = read_input(b"ab\xffcd", 10)
    assert (text, size, error) == ("ab\ufffdcd", 5, None)
    assert read_input(bytearray(b"x.y.z"), 10) == ("x.y.z", 5, None)


def test_input_that_is_not_text_is_named() -> None:
    assert read_input(12345, MAX_SIZE) == (None, 0, "not text (int)")
    assert read_input(None, MAX_SIZE) == (None, 0, "not text (NoneType)")
