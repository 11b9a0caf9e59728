"""authcore.users.refs: the reference grammar operators use, the username rule that keeps it
unambiguous, and the clean-up every typed term goes through."""

from __future__ import annotations

import pytest

from authcore.errors import ValidationError
from authcore.users.refs import MAX_QUERY, USERNAME_MAX, check_username, normalize_query, parse_ref


def test_normalize_query_trims_and_drops_control_characters() -> None:
    assert normalize_query("  ali\x00ce\x1b \n") == "alice"
    assert normalize_query("x" * MAX_QUERY) == "x" * MAX_QUERY
    with pytest.raises(ValidationError, match="at most 320"):
        normalize_query("x" * (MAX_QUERY + 1))


@pytest.mark.parametrize("name", ["a", "alice.kim", "Ω-user", "x" * USERNAME_MAX, "007bond"])
def test_usernames_that_read_only_as_usernames(name: str) -> None:
    check_username(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "1 to 64"),
        ("x" * (USERNAME_MAX + 1), "1 to 64"),
        ("a@b", "'@'"),
        ("id:3", "':'"),
        ("12345", "all digits"),
        ("zero\u200bwidth", "invisible"),
        ("bell\x07", "control"),
    ],
)
def test_usernames_that_would_read_as_another_reference(name: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        check_username(name)


def test_prefixed_references_name_one_field() -> None:
    assert parse_ref("id:42").user_id == 42
    assert parse_ref("ID: 42 ").user_id == 42
    r = parse_ref("email:Bob@Example.com")
    assert (r.user_id, r.email, r.username) == (None, "Bob@Example.com", None)
    r = parse_ref("username:42")  # a legacy all-digit username, by name only
    assert (r.user_id, r.email, r.username) == (None, None, "42")
    assert len(parse_ref("email:x@y").conditions()) == 1


def test_bare_references_name_several_fields() -> None:
    r = parse_ref("42")
    assert (r.user_id, r.username, r.email) == (42, "42", None)
    assert len(r.conditions()) == 2
    r = parse_ref("alice")
    assert (r.user_id, r.email, r.username) == (None, "alice", "alice")
    # an unknown prefix is not a field name: the whole text is the reference
    assert parse_ref("team:blue").username == "team:blue"


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("", "empty user reference"),
        ("\x00 ", "empty user reference"),
        ("id:", "empty id"),
        ("email:  ", "empty email"),
        ("id:abc", "not a user id"),
        ("id:-1", "not a user id"),
        ("id:" + "9" * 19, "not a user id"),  # beyond BIGINT
        ("9" * 19, "not a user id"),
        ("id:٣", "not a user id"),  # a digit, but not ASCII
    ],
)
def test_bad_references(ref: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        parse_ref(ref)


def test_largest_id_is_accepted() -> None:
    assert parse_ref(f"id:{2**63 - 1}").user_id == 2**63 - 1
