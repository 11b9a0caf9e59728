"""Issue 12.4: one rule on both engines for control characters in stored text.

Before, a NUL in a reason, user agent or username raised psycopg's ``DataError`` on PostgreSQL
while SQLite stored it. Now both refuse with ``ValidationError`` and store nothing.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from authcore.core import AuthCore
from authcore.errors import ValidationError
from authcore.models import audit_events, sessions, users
from authcore.text import require_plain
from console.cli import main

BAD = ["nul\x00byte", "tab\there", "new\nline", "esc\x1b[2J", "del\x7f", "c1\x85", "\udcff"]


def _counts(core: AuthCore) -> tuple[int, int, int]:
    with core.engine.connect() as c:
        return tuple(
            c.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
            for t in (users, sessions, audit_events)
        )


@pytest.mark.parametrize("bad", BAD)
def test_refused_everywhere_on_both_engines(core: AuthCore, bad: str) -> None:
    u = core.users.create("ok@example.com", "ok")
    before = _counts(core)
    calls = [
        lambda: core.users.create(f"x{bad}@example.com", "x1"),
        lambda: core.users.create("x2@example.com", f"x{bad}x"),
        lambda: core.users.create("x3@example.com", "x3", display_name=f"X {bad} end"),
        lambda: core.sessions.create(u.id, user_agent=f"UA {bad} end"),
        lambda: core.sessions.create(u.id, ip=f"10.0.0.1{bad}"),
        lambda: core.admin.revoke_tokens(u.id, f"reason {bad} end"),
        lambda: core.admin.delete_sessions(u.id, f"reason {bad} end"),
        lambda: core.admin.set_disabled(u.id, True, f"reason {bad} end"),
        lambda: core.sessions.prune(reason=f"reason {bad} end"),
    ]
    for call in calls:
        with pytest.raises(ValidationError, match="not allowed"):
            call()
    assert _counts(core) == before


def test_lookups_and_filters_never_reach_the_driver(core: AuthCore) -> None:
    """Before, each of these raised psycopg's DataError on PostgreSQL (NUL in a parameter)."""
    u = core.users.create("ok@example.com", "ok")
    rec, _ = core.sessions.create(u.id)
    for call in (
        lambda: core.sessions.get("ses\x00x"),
        lambda: core.sessions.touch("ses\x00x"),
        lambda: core.sessions.touch(rec.public_id, ip="10.0.0.1\x00"),
        lambda: core.admin.delete_session("ses\x00x", "r"),
        lambda: core.bulk.plan("corp\x00old", "r"),
    ):
        with pytest.raises(ValidationError, match="not allowed"):
            call()
    assert core.sessions.recent(text="10.\x00") == []  # a filter drops them, like search
    assert core.users.search("o\x00k").items[0].id == u.id


def test_cli_reason_with_control_character(core: AuthCore, db_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    core.users.create("bob@example.com", "bob")
    for argv in (
        ["revoke", "bob", "--all-tokens", "--yes", "--reason", "a\x00b"],
        ["users", "disable", "bob", "--yes", "--reason", "line\nbreak"],
    ):
        code = main(["--db", db_url, *argv])
        err = capsys.readouterr().err
        assert code == 1 and "control character" in err and err.count("\n") == 1
    assert _counts(core)[2] == 0


def test_message_never_echoes_the_value() -> None:
    with pytest.raises(ValidationError) as info:
        require_plain("SECRET\x00VALUE", "the reason")
    assert "SECRET" not in str(info.value) and "position 7" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=20))
def test_rule_is_exactly_cc_and_surrogates(value: str) -> None:
    """Refused iff the text holds a C0/C1 control, DEL or a lone surrogate."""
    import unicodedata

    bad = any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)
    try:
        require_plain(value, "x")
        assert not bad
    except ValidationError:
        assert bad


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.text(max_size=30))
def test_random_usernames_are_stored_or_refused_cleanly(core: AuthCore, name: str) -> None:
    """Any text: either stored on both engines, or a ValidationError; never a driver error."""
    n = getattr(core, "_n", 0)
    core._n = n + 1  # type: ignore[attr-defined]
    try:
        core.users.create(f"r{n}@example.com", f"{name}{n}")
    except ValidationError:
        pass
