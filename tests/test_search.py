"""User search: exact, prefix phases, keyset pages, literal wildcards (both engines)."""

from __future__ import annotations

import pytest

from authcore.core import AuthCore
from authcore.errors import ValidationError
from authcore.users import prefix_successor


@pytest.fixture
def people(core: AuthCore) -> AuthCore:
    for i in range(30):
        core.users.create(f"ali{i:02d}@example.com", f"user{i:02d}", f"Person {i}")
    core.users.create("bob@example.com", "alibaba", "Robert")
    core.users.create("carol@example.com", "carol", "Alistair Carol")
    core.users.create("pct%_x@example.com", "pct", "Percent")
    return core


def test_prefix_phases_and_order(people: AuthCore) -> None:
    page = people.users.search("ali", limit=50)
    emails = [u.email for u in page.items]
    assert emails[:30] == [f"ali{i:02d}@example.com" for i in range(30)]
    assert emails[30:] == ["bob@example.com", "carol@example.com"]  # username, then name
    assert page.next is None


def test_keyset_pages_cover_everything_once(people: AuthCore) -> None:
    seen, after = [], None
    for _ in range(20):
        page = people.users.search("al", limit=7, after=after)
        seen += [u.id for u in page.items]
        if page.next is None:
            break
        after = page.next
    assert len(seen) == len(set(seen)) == 32


def test_case_insensitive_and_exact(people: AuthCore) -> None:
    assert [u.username for u in people.users.search("ALIBABA").items] == ["alibaba"]
    uid = people.users.find("carol").id
    assert people.users.search(str(uid)).items[0].id == uid


@pytest.mark.parametrize("q", ["%", "_", "pct%", "a_i", "\\", "'", '"', "%%%%"])
def test_wildcards_are_literal(people: AuthCore, q: str) -> None:
    items = people.users.search(q).items
    for u in items:  # every hit really starts with the literal text in one of the fields
        assert any(f.lower().startswith(q.lower()) for f in (u.email, u.username, u.display_name))
    expected = {"pct%": ["pct%_x@example.com"], "%": [], "_": [], "%%%%": [], "a_i": []}
    if q in expected:
        assert [u.email for u in items] == expected[q]


def test_bad_queries(people: AuthCore) -> None:
    assert people.users.search("\x00ali").items[0].email.startswith("ali")
    with pytest.raises(ValidationError):
        people.users.search("x" * 5000)
    assert len(people.users.search("", limit=5).items) == 5


def test_prefix_successor() -> None:
    assert prefix_successor("abc") == "abd"
    assert prefix_successor("a\U0010ffff") == "b"
