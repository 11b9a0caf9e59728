"""User search: exact, prefix phases, keyset pages, literal wildcards (both engines)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from authcore import fastpath
from authcore.core import AuthCore
from authcore.errors import ValidationError
from authcore.users import Page, Phase, prefix_successor
from tests.support.statements import SKIP


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


# -- contains (substring) search: trigram index, after the prefix phases ------------------------


@pytest.fixture
def mixed(core: AuthCore) -> AuthCore:
    rows = [
        ("ann@example.com", "annie", "Ann Smith"),  # prefix 'ann' (email)
        ("joanna@example.com", "jo", "Joanna Banner"),  # contains 'ann' (email, name)
        ("zed@example.com", "hannah9", "Zed"),  # contains 'ann' (username)
        ("bob@example.com", "annabel", "Bob"),  # prefix 'ann' (username)
        ("carl@example.com", "carl", "Annette Carl"),  # prefix 'ann' (display name)
        ("x.ANN.y@example.org", "xy", "Upper"),  # contains, case-insensitive
        ("nobody@example.com", "nobody", "No Match"),
        ("pct%_x@example.com", "pct", "Percent 100%_ sure"),  # literal wildcards
        ('q"uote@example.com', "quote", 'Say "hi"'),  # FTS5 quote escaping
    ]
    for email, username, name in rows:
        core.users.create(email, username, name)
    return core


def _emails(core: AuthCore, q: str, limit: int = 50) -> list[str]:
    return [u.email for u in core.users.search(q, limit=limit).items]


def test_contains_after_prefix_phases(mixed: AuthCore) -> None:
    emails = _emails(mixed, "ann")
    # prefix phases first (email, username, display name), then substring hits by id
    assert emails == [
        "ann@example.com",
        "bob@example.com",
        "carl@example.com",
        "joanna@example.com",
        "zed@example.com",
        "x.ANN.y@example.org",
    ]


def test_short_terms_are_prefix_only(mixed: AuthCore) -> None:
    assert _emails(mixed, "an") == ["ann@example.com", "bob@example.com", "carl@example.com"]
    assert _emails(mixed, "nn") == []  # would be a substring hit, but 2 characters: prefix only


def test_contains_is_literal(mixed: AuthCore) -> None:
    assert _emails(mixed, "0%_") == ["pct%_x@example.com"]
    assert _emails(mixed, "t%_") == ["pct%_x@example.com"]
    assert _emails(mixed, "%_x") == ["pct%_x@example.com"]
    assert _emails(mixed, "x%x") == []
    assert _emails(mixed, '"hi"') == ['q"uote@example.com']
    assert _emails(mixed, 'q"u') == ['q"uote@example.com']  # prefix phase
    assert _emails(mixed, '"u') == []  # 2 characters
    assert _emails(mixed, 'y "h') == ['q"uote@example.com']
    for q in ('"', '""', '" OR "', "NEAR(", "a*", "*", "^ann", "ann AND zed", "-ann", "col:ann"):
        for u in mixed.users.search(q).items:  # FTS5 syntax is never interpreted
            text = f"{u.email}\x01{u.username}\x01{u.display_name}".lower()
            assert q.lower().strip() in text


def test_contains_pages_cover_everything_once(mixed: AuthCore) -> None:
    full = _emails(mixed, "ann")
    seen, after = [], None
    for _ in range(20):
        page = mixed.users.search("ann", limit=2, after=after)
        seen += [u.email for u in page.items]
        if page.next is None:
            break
        after = page.next
    assert seen == full


def test_exact_id_then_contains(mixed: AuthCore) -> None:
    u = mixed.users.create("user100200@example.com", "u100200", "Numbers")
    hit = mixed.users.search(str(u.id)).items
    assert hit[0].id == u.id
    assert len({x.id for x in hit}) == len(hit)  # the exact hit is not repeated by later phases


def test_trigram_index_follows_updates_and_deletes(mixed: AuthCore) -> None:
    from sqlalchemy import delete, update

    from authcore.models import users

    uid = mixed.users.find("zed@example.com").id
    with mixed.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == uid).values(username="quuxian"))
    assert "zed@example.com" not in _emails(mixed, "hannah")
    assert _emails(mixed, "uxia") == ["zed@example.com"]
    with mixed.engine.begin() as conn:  # a version bump does not disturb the index
        conn.execute(update(users).where(users.c.id == uid).values(token_version=users.c.token_version + 1))
    assert _emails(mixed, "uxia") == ["zed@example.com"]
    with mixed.engine.begin() as conn:
        conn.execute(delete(users).where(users.c.id == uid))
    assert _emails(mixed, "uxia") == []


def test_explain_reports_each_phase(mixed: AuthCore) -> None:
    plans = dict(mixed.users.explain("ann"))
    assert sorted(plans) == [1, 2, 3, 4]
    assert all(plans.values())
    assert [p for p, _ in mixed.users.explain("an")] == [1, 2, 3]


def test_exact_username_ranks_first(core: AuthCore) -> None:
    """'alice' lists alice@example.com first, although 'alice.kim@' sorts before 'alice@'."""
    core.users.create("alice.kim@example.com", "akim", "Alice Kim")
    core.users.create("alice.ramos@example.com", "aramos", "Alice Ramos")
    alice = core.users.create("alice@example.com", "alice", "Alice Liddell")
    page = core.users.search("alice")
    assert [u.email for u in page.items] == [
        "alice@example.com",
        "alice.kim@example.com",
        "alice.ramos@example.com",
    ]
    assert core.users.search("ALICE").items[0].id == alice.id
    first = core.users.search("alice", limit=1)
    second = core.users.search("alice", limit=5, after=first.next)
    assert [u.id for u in first.items] == [alice.id]
    assert alice.id not in [u.id for u in second.items] and len(second.items) == 2


# -- a page's cost does not depend on how deep it is ---------------------------------------------


@pytest.fixture
def jams(core: AuthCore) -> AuthCore:
    """'jam' as most of its own substring hits are prefix hits (the bench's "jam": 30%): each
    contains-only user sits between two email-prefix ones in id order."""
    for i in range(40):
        core.users.create(f"jam{i:02d}@example.com", f"pj{i:02d}", f"Prefix {i}")
        core.users.create(f"benjamin{i:02d}@example.com", f"bj{i:02d}", f"Contains {i}")
        core.users.create(f"james{i:02d}@example.org", f"jj{i:02d}", f"Prefix J {i}")
    return core


def _statements(fn: Callable[[], object]) -> list[str]:
    """The SQL of every statement ``fn`` sends (search runs only on authcore.fastpath), without
    the transaction that carries the contains phase's planner setting on PostgreSQL."""
    with fastpath.tracing() as seen:
        fn()
    return [sql for sql, _ in seen if not sql.startswith(SKIP)]


def test_deep_pages_equal_one_full_query(jams: AuthCore) -> None:
    full = [u.id for u in jams.users.search("jam", limit=500).items]
    assert len(full) == 120
    got, after, phases = [], None, []
    for _ in range(30):
        page = jams.users.search("jam", limit=9, after=after)
        got += [u.id for u in page.items]
        if page.next is None:
            break
        after = page.next
        phases.append(after.phase)
    assert got == full
    assert Phase.EMAIL_PREFIX in phases and Phase.CONTAINS in phases


def test_contains_page_is_one_statement_however_many_prefix_hits(jams: AuthCore) -> None:
    """A page inside the contains phase runs the exact-username lookup and one contains
    statement, on both engines: the prefix hits it skips cost no extra round (PostgreSQL ran
    candidate ids then rows, again per chunk: 5 statements for page 10 of "jam" in the bench)."""
    after = None
    while after is None or after.phase != Phase.CONTAINS:
        after = jams.users.search("jam", limit=9, after=after).next
        assert after is not None
    counts = []
    pages: list[Page] = []
    while after is not None:
        stmts = _statements(lambda a=after: pages.append(jams.users.search("jam", limit=9, after=a)))
        counts.append(len(stmts))
        assert sum("lower(users.username)" in s and "LIMIT" not in s for s in stmts) == 1  # exact
        after = pages[-1].next
    assert sum(len(p.items) for p in pages) > 27  # several pages, each inside the contains phase
    assert counts and set(counts) == {2}, counts
    first = _statements(lambda: jams.users.search("jam", limit=9))
    assert len(first) == 2  # the exact lookup and the email-prefix phase
