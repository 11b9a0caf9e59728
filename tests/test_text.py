"""authcore.text: what may be stored (``require_plain``: one rule on both engines) and what may
reach a terminal (``clean``, ``has_unsafe``).

Issue 12.4: one rule on both engines for control characters in stored text.

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
from authcore.text import DEFAULT_MAX, clean, has_surrogates, has_unsafe, require_plain
from authcore.timeutil import utcnow
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


# --- clean / has_unsafe: what reaches a terminal --------------------------------------------

TERMINAL_ACTIVE = [
    "\x1b[2J",  # CSI (ESC)
    "\x1b]52;c;cm0=\x07",  # OSC 52 clipboard write (ESC, BEL)
    "\x9b31m",  # C1 CSI
    "\x85",  # C1 NEL
    "\x7f",  # DEL
    "\t",
    "\n",
    "\r",
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u061c",  # ARABIC LETTER MARK
    "\u200b",  # ZERO WIDTH SPACE
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\u2028",  # LINE SEPARATOR
    "\u2060",  # WORD JOINER
    "\ufeff",  # BOM / ZERO WIDTH NO-BREAK SPACE
    "\ufff9",  # INTERLINEAR ANNOTATION ANCHOR
]


@pytest.mark.parametrize("bad", TERMINAL_ACTIVE, ids=[f"U+{ord(b[0]):04X}" for b in TERMINAL_ACTIVE])
def test_clean_removes_terminal_active_characters(bad: str) -> None:
    value = f"before{bad}after"
    assert has_unsafe(value)
    out = clean(value)
    assert not has_unsafe(out)
    assert out.startswith("before") and out.endswith("after")
    assert "\x1b" not in out and "\x07" not in out


def test_clean_keeps_ordinary_text_exactly() -> None:
    for value in ("alice@example.com", "Zoë Ångström", "日本語のユーザー", "emoji 👩‍💻 ok", "[b]markup[/b]"):
        assert not has_unsafe(value.replace("\u200d", ""))  # ZWJ inside an emoji is not kept
        assert clean(value) == value.replace("\u200d", "")


def test_clean_converts_caps_and_empties() -> None:
    assert clean(None) == ""
    assert clean(42) == "42"
    assert clean("x" * DEFAULT_MAX) == "x" * DEFAULT_MAX
    long = clean("x" * (DEFAULT_MAX + 1))
    assert len(long) == DEFAULT_MAX and long.endswith("…")
    assert clean("abcdef", max_len=4) == "abc…"
    assert clean("abcdef", max_len=0) == "…"
    assert clean("y" * 10_000, max_len=None) == "y" * 10_000
    # The cap counts what is left after cleaning, not the raw length.
    assert clean("\x1b" * 600 + "ok") == "ok"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40))
def test_clean_output_is_always_inert_and_idempotent(value: str) -> None:
    out = clean(value, max_len=None)
    assert not has_unsafe(out)
    assert clean(out, max_len=None) == out
    assert len(out) <= len(value)


def test_surrogates_are_named_as_invalid_utf8() -> None:
    assert has_surrogates("caf\udce9") and not has_surrogates("café")
    with pytest.raises(ValidationError, match=r"the username contains invalid UTF-8 \(at position 4\)"):
        require_plain("caf\udce9", "the username")
    with pytest.raises(ValidationError, match=r"the reason contains a control character \(at position 1\)"):
        require_plain("\x1bx", "the reason")
    assert require_plain("plain reason", "the reason") == "plain reason"


# --- like_escape: the one LIKE escape (search, session filter, bulk) --------------------------


def test_like_escape_escapes_the_escape_first() -> None:
    from authcore.text import LIKE_ESCAPE, like_escape

    assert LIKE_ESCAPE == "\\"
    assert like_escape("a%b_c\\d") == "a\\%b\\_c\\\\d"
    assert like_escape("\\%") == "\\\\\\%"  # not "\\\\%" (which would leave % a wildcard)
    assert like_escape("plain") == "plain"


@pytest.mark.parametrize("term", ["%", "_", "\\", "a_b", "50%", "x\\%y", "%_\\"])
def test_an_escaped_pattern_matches_literally_on_both_engines(core: AuthCore, term: str) -> None:
    from authcore.text import LIKE_ESCAPE, like_escape

    emails = [
        "a_b@x.example",
        "axb@x.example",
        "50%@x.example",
        "500@x.example",
        "x\\%y@x.example",
        "x\\zy@x.example",
        "%_\\@x.example",
        "plain@x.example",
    ]
    with core.engine.begin() as conn:
        for i, e in enumerate(emails):
            conn.execute(
                users.insert(),
                {
                    "email": e,
                    "username": f"u{i}",
                    "display_name": "",
                    "created_at": utcnow(),
                    "disabled": False,
                    "token_version": 0,
                },
            )
    pattern = "%" + like_escape(term) + "%"
    with core.engine.connect() as conn:
        got = set(
            conn.execute(
                select(users.c.email).where(users.c.email.like(pattern, escape=LIKE_ESCAPE))
            ).scalars()
        )
    assert got == {e for e in emails if term in e}
