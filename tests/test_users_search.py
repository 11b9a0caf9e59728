"""authcore.users.search: the named phases (their numbers are in printed cursors), the cursor
format, which phases a term runs, statements built once per dialect and never prepared, and
pages that run through every phase once (both engines). Ranking and literal matching across
the phases: tests/test_search.py; plans at scale: tests/test_scale.py."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from authcore.core import AuthCore
from authcore.db import NO_PREPARE
from authcore.errors import ValidationError
from authcore.users.search import (
    PREFIX_PHASES,
    Cursor,
    Phase,
    UserSearch,
    fts_phrase,
    like_contains,
)


def test_phase_numbers_never_change() -> None:
    # cursors printed by `authconsole users search` carry these numbers
    assert [(p.name, int(p)) for p in Phase] == [
        ("EXACT", 0),
        ("EMAIL_PREFIX", 1),
        ("USERNAME_PREFIX", 2),
        ("NAME_PREFIX", 3),
        ("CONTAINS", 4),
        ("NEWEST", 9),
    ]
    assert PREFIX_PHASES == (Phase.EMAIL_PREFIX, Phase.USERNAME_PREFIX, Phase.NAME_PREFIX)


def test_cursor_round_trip_and_bad_cursors() -> None:
    c = Cursor(Phase.USERNAME_PREFIX, "al:ice", 42)
    assert c.encode() == "2:42:al:ice"  # the key may hold ':' (it is last)
    assert Cursor.decode("2:42:al:ice") == c
    assert Cursor.decode("9:7:").phase is Phase.NEWEST
    for bad in ("", "2", "x:1:k", "2:y:k", "5:1:k"):  # 5 is no phase
        with pytest.raises(ValidationError, match="bad page cursor"):
            Cursor.decode(bad)


@pytest.mark.parametrize(
    ("term", "phases"),
    [
        ("", [Phase.NEWEST]),
        ("al", list(PREFIX_PHASES)),
        ("ali", [*PREFIX_PHASES, Phase.CONTAINS]),
        ("42", [Phase.EXACT, *PREFIX_PHASES]),
        ("123", [Phase.EXACT, *PREFIX_PHASES, Phase.CONTAINS]),
        ("1" * 19, [*PREFIX_PHASES, Phase.CONTAINS]),  # beyond any id: no id lookup
    ],
)
def test_phases_for_a_term(term: str, phases: list[Phase]) -> None:
    assert UserSearch("sqlite").phases(term) == phases


def test_params_per_dialect() -> None:
    s, p = UserSearch("sqlite"), UserSearch("postgresql")
    assert s.params("ab%", 0) == {"lo": "ab%", "hi": "ab&", "now": 0, "m": '"ab%"'}
    assert p.params("ab%", 0) == {"lo": "ab%", "hi": "ab&", "now": 0, "pat": "%ab\\%%"}
    assert "pat" not in p.params("ab", 0)  # too short for a trigram


def test_like_and_fts_quoting() -> None:
    assert like_contains("50%_off\\") == "%50\\%\\_off\\\\%"
    assert fts_phrase('say "hi" OR x') == '"say ""hi"" OR x"'


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_statements_are_built_once_and_never_prepared(dialect: str) -> None:
    s = UserSearch(dialect)
    built = [s.by_id]
    for phase in (*PREFIX_PHASES, Phase.NEWEST):
        for keyset in (False, True):
            for exclude in (False, True):
                stmt = s.statement(phase, keyset, exclude)
                assert s.statement(phase, keyset, exclude) is stmt
                built.append(stmt)
    for keyset in (False, True):  # contains: one statement on both engines
        for exclude in (False, True):
            stmt = s.statement(Phase.CONTAINS, keyset, exclude)
            assert s.statement(Phase.CONTAINS, keyset, exclude) is stmt
            built.append(stmt)
    for stmt in built:
        assert stmt.get_execution_options()[NO_PREPARE] is True


def test_later_prefix_phases_exclude_earlier_ones() -> None:
    s = UserSearch("postgresql")
    d = postgresql.dialect()
    email = str(s.statement(Phase.EMAIL_PREFIX, False, False).compile(dialect=d))
    name = str(s.statement(Phase.NAME_PREFIX, False, False).compile(dialect=d))
    assert email.count("NOT (") == 0
    assert name.count("NOT (") == 2  # minus email- and username-prefix hits
    assert 'COLLATE "C"' in name
    lite = str(UserSearch("sqlite").statement(Phase.CONTAINS, False, True).compile(dialect=sqlite.dialect()))
    assert lite.count("NOT (") == 3 and "MATCH" in lite and "users.id != ?" in lite


@pytest.fixture
def crowd(core: AuthCore) -> AuthCore:
    for i in range(12):
        core.users.create(f"dan{i:02d}@example.com", f"user{i:02d}", f"Person {i}")
    for i in range(5):
        core.users.create(f"z{i}@example.com", f"dan_{i}", "Someone")
    for i in range(4):
        core.users.create(f"y{i}@example.com", f"y{i}", f"Dana {i}")
    for i in range(3):
        core.users.create(f"x{i}@example.com", f"x{i}", f"Jordan {i}")  # contains "dan"
    return core


def test_pages_walk_the_phases_in_order(crowd: AuthCore) -> None:
    seen: list[tuple[Phase, str]] = []
    after = None
    for _ in range(20):
        page = crowd.users.search("dan", limit=5, after=after)
        for u in page.items:
            phase = (
                Phase.EMAIL_PREFIX
                if u.email.startswith("dan")
                else Phase.USERNAME_PREFIX
                if u.username.startswith("dan")
                else Phase.NAME_PREFIX
                if u.display_name.lower().startswith("dan")
                else Phase.CONTAINS
            )
            seen.append((phase, u.email))
        if page.next is None:
            break
        assert page.next.phase == seen[-1][0]  # the cursor names the phase the page ended in
        after = Cursor.decode(page.next.encode())  # as the CLI passes it back
    phases = [p for p, _ in seen]
    assert phases == sorted(phases)
    assert [phases.count(p) for p in (*PREFIX_PHASES, Phase.CONTAINS)] == [12, 5, 4, 3]
    assert len({e for _, e in seen}) == len(seen) == 24


def test_explain_names_each_phase(crowd: AuthCore) -> None:
    plans = crowd.users.explain("dan")
    assert [p for p, _ in plans] == [*PREFIX_PHASES, Phase.CONTAINS]
    assert all(isinstance(p, Phase) and text for p, text in plans)
