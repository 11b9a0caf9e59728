"""authcore.sessions: server-side sessions on both engines. A session is found by its raw token
only while it is live and its user enabled; the database holds the SHA-256 digest, never the
token; a logout ends it once (user event and revocation notice with it); lists and filters
treat the operator's text literally.

(Lifecycle and digest-only storage: tests/test_sessions_revoke.py; login/logout races:
tests/test_login_logout.py; prune: tests/test_prune.py.)
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from authcore.core import AuthCore
from authcore.errors import NotFound, UserDisabled, ValidationError
from authcore.models import revocations, sessions, user_events, users
from authcore.sessions import UA_MAX, new_public_id, token_digest


def _count(core: AuthCore, table) -> int:  # type: ignore[no-untyped-def]
    with core.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_digest_and_public_id_shapes() -> None:
    assert token_digest("abc") == hashlib.sha256(b"abc").hexdigest()
    ids = {new_public_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(i.startswith("ses_") and len(i) == 20 for i in ids)


def test_a_session_resolves_only_while_its_user_is_enabled(core: AuthCore) -> None:
    """The resolve query itself checks the flag (a row set disabled by any path), and disabling
    through authcore also ends the sessions, so enabling never revives one."""
    u = core.users.create("d@example.com", "d")
    _rec, raw = core.sessions.create(u.id)
    assert core.sessions.resolve(raw) is not None
    with core.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == u.id).values(disabled=True))
    assert core.sessions.resolve(raw) is None
    with pytest.raises(UserDisabled):
        core.sessions.create(u.id)
    with core.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == u.id).values(disabled=False))
    assert core.sessions.resolve(raw) is not None

    core.admin.set_disabled(u.id, True, "left")
    assert _count(core, sessions) == 0
    core.admin.set_disabled(u.id, False, "back")
    assert core.sessions.resolve(raw) is None
    with pytest.raises(NotFound):
        core.sessions.create(10**9)
    assert _count(core, sessions) == 0  # the refused opens wrote nothing


def test_resolve_carries_the_user_and_the_version(core: AuthCore) -> None:
    u = core.users.create("r@example.com", "rname")
    core.admin.revoke_tokens(u.id, "bump")
    rec, raw = core.sessions.create(u.id, ip="203.0.113.1", user_agent="UA/9")
    got = core.sessions.resolve(raw)
    assert got is not None
    assert (got.user_id, got.email, got.username, got.token_version) == (u.id, "r@example.com", "rname", 1)
    assert got.session.public_id == rec.public_id and got.session.first_ip == "203.0.113.1"
    assert got.session.created_at.utcoffset() == timedelta(0)


def test_the_user_agent_is_capped_and_controls_are_refused(core: AuthCore) -> None:
    u = core.users.create("ua@example.com", "ua")
    rec, _raw = core.sessions.create(u.id, user_agent="U" * (UA_MAX + 500))
    assert len(core.sessions.get(rec.public_id).user_agent or "") == UA_MAX
    with pytest.raises(ValidationError):
        core.sessions.create(u.id, user_agent="UA\x1b[2J")
    with pytest.raises(ValidationError):
        core.sessions.touch(rec.public_id, ip="10.0.0.1\n")
    assert _count(core, sessions) == 1


def test_logout_by_token_ends_once_and_announces(core: AuthCore) -> None:
    u = core.users.create("lo@example.com", "lo")
    rec, raw = core.sessions.create(u.id)
    assert core.sessions.logout(raw) is True
    assert core.sessions.logout(raw) is False  # idempotent
    assert core.sessions.get(rec.public_id) is None
    with core.engine.connect() as conn:
        events = conn.execute(select(user_events.c.action, user_events.c.session_id)).all()
        notices = conn.execute(select(revocations.c.kind, revocations.c.session_id)).all()
    assert [tuple(e) for e in events] == [("logout", rec.public_id)]
    assert [tuple(n) for n in notices] == [("session", rec.public_id)]
    assert core.sessions.end(None) is False


def test_touch_moves_last_seen_and_ip_only(core: AuthCore) -> None:
    u = core.users.create("t@example.com", "t")
    rec, _raw = core.sessions.create(u.id, ip="192.0.2.1")
    assert core.sessions.touch(rec.public_id, ip="192.0.2.2")
    got = core.sessions.get(rec.public_id)
    assert got is not None
    assert (got.first_ip, got.last_ip) == ("192.0.2.1", "192.0.2.2")
    assert got.last_seen_at >= rec.last_seen_at and got.created_at == rec.created_at
    assert core.sessions.touch("ses_doesnotexist00") is False


def test_for_user_lists_newest_first_and_filters_active(core: AuthCore) -> None:
    u = core.users.create("f@example.com", "f")
    other = core.users.create("o@example.com", "o")
    old, _ = core.sessions.create(u.id, ttl=timedelta(microseconds=1))  # already expired
    new, _ = core.sessions.create(u.id)
    core.sessions.create(other.id)
    assert [s.public_id for s in core.sessions.for_user(u.id)] == [new.public_id, old.public_id]
    assert [s.public_id for s in core.sessions.for_user(u.id, active_only=True)] == [new.public_id]
    assert len(core.sessions.for_user(u.id, limit=1)) == 1
    assert [s.active() for s in core.sessions.for_user(u.id)] == [True, False]


def test_recent_filters_by_ip_prefix_agent_text_or_id_literally(core: AuthCore) -> None:
    u = core.users.create("rc@example.com", "rc")
    a, _ = core.sessions.create(u.id, ip="10.1.2.3", user_agent="Firefox_on_Linux")
    b, _ = core.sessions.create(u.id, ip="10.11.2.3", user_agent="FirefoxXonXLinux")
    c, _ = core.sessions.create(u.id, ip="192.0.2.9", user_agent="curl/8 100%")

    def ids(text: str) -> set[str]:
        return {s.public_id for s in core.sessions.recent(text=text)}

    assert ids("10.1.") == {a.public_id}  # a prefix, not 10.11.
    assert ids("10.1") == {a.public_id, b.public_id}
    assert ids("_on_") == {a.public_id}  # '_' is literal
    assert ids("firefox") == {a.public_id, b.public_id}  # agent text, case-insensitive
    assert ids("100%") == {c.public_id}
    assert ids("%") == {c.public_id}  # only the agent that holds a '%'
    assert ids(c.public_id) == {c.public_id}
    assert ids("192.\x00") == {c.public_id}  # a control character is dropped, like search
    assert [s.public_id for s in core.sessions.recent()] == [c.public_id, b.public_id, a.public_id]
    assert all(s.email == "rc@example.com" for s in core.sessions.recent())
    page = core.sessions.recent(limit=2)
    rest = core.sessions.recent(before=(page[-1].created_at, page[-1].public_id))
    assert [s.public_id for s in page + rest] == [c.public_id, b.public_id, a.public_id]
