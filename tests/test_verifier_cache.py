"""authcore.verifier.cache: the in-memory revocation state alone (no database, no thread)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from authcore.errors import SessionInvalid, TokenRevoked, UserDisabled
from authcore.revocation import Kind, Notice
from authcore.tokens import Claims
from authcore.verifier.cache import MAX_SESSIONS_PER_USER, RevocationCache

FUTURE = datetime.now(UTC) + timedelta(days=1)
PAST = datetime.now(UTC) - timedelta(seconds=1)


def claims(uid: int = 7, tv: int = 1, sid: str | None = None) -> Claims:
    return Claims(uid, "access", tv, sid, "jti", 0, 0, None, {})


def row(
    tv: int = 1, disabled: bool = False, sid: str | None = None, expires: datetime = FUTURE
) -> SimpleNamespace:
    return SimpleNamespace(token_version=tv, disabled=disabled, sid=sid, expires_at=expires)


def load(cache: RevocationCache, c: Claims, r: SimpleNamespace) -> None:
    g0 = cache.answer(c)
    assert g0 is not None, "expected a miss"
    cache.store(c, r, g0)


def test_a_miss_then_hits_and_the_counters() -> None:
    cache = RevocationCache(10, 10)
    c = claims()
    load(cache, c, row())
    assert cache.answer(c) is None and cache.answer(c) is None
    n, users, dead = cache.snapshot()
    assert (n["misses"], n["hits"], users, dead) == (1, 2, 1, 0)


def test_refusals_from_the_cache() -> None:
    cache = RevocationCache(10, 10)
    load(cache, claims(1), row(tv=3))
    with pytest.raises(TokenRevoked, match="token version 1, user is at 3"):
        cache.answer(claims(1))
    load(cache, claims(2, sid="s"), row(disabled=True, sid="s"))
    with pytest.raises(UserDisabled):
        cache.answer(claims(2, sid="s"))
    load(cache, claims(3, sid="old"), row(sid="old", expires=PAST))
    with pytest.raises(SessionInvalid):
        cache.answer(claims(3, sid="old"))
    assert isinstance(cache.refusal(claims(3, sid="old")), SessionInvalid)


def test_a_token_newer_than_the_cache_or_a_new_session_is_a_miss() -> None:
    cache = RevocationCache(10, 10)
    load(cache, claims(tv=1), row(tv=1))
    assert cache.answer(claims(tv=2)) is not None  # newer: load rather than guess
    assert cache.answer(claims(tv=1, sid="new")) is not None
    assert cache.refusal(claims(tv=2)) is None  # a miss is not a refusal


def test_a_deleted_session_is_remembered_even_for_uncached_users() -> None:
    cache = RevocationCache(10, 10)
    c = claims(sid="gone")
    load(cache, c, row(sid=None))  # the user exists, the session row does not
    cache.invalidate()  # users forgotten; deleted sessions stay (never wrong)
    with pytest.raises(SessionInvalid):
        cache.answer(c)


def test_an_update_racing_a_miss_is_not_cached() -> None:
    cache = RevocationCache(10, 10)
    c = claims(tv=1)
    g0 = cache.answer(c)
    assert g0 is not None
    cache.apply(Notice.of(Kind.VERSION, [c.user_id], [2]))  # committed while the query ran
    cache.store(c, row(tv=1), g0)  # the row predates the bump: not cached
    assert cache.snapshot()[1] == 0
    assert cache.answer(c) is not None


def test_lru_bounds() -> None:
    cache = RevocationCache(2, 2)
    for uid in (1, 2, 3):
        load(cache, claims(uid), row())
    assert list(cache.users) == [2, 3]
    for i in range(3):
        cache.apply(Notice.of(Kind.SESSION, [1], session_ids=[f"s{i}"]))
    assert list(cache.dead) == [(1, "s1"), (1, "s2")]
    load(cache, claims(9, sid="s0"), row(sid="s0"))
    for i in range(1, MAX_SESSIONS_PER_USER + 1):
        g0 = cache.answer(claims(9, sid=f"s{i}"))
        assert g0 is not None
        cache.store(claims(9, sid=f"s{i}"), row(sid=f"s{i}"), g0)
    assert len(cache.users[9].sessions) == MAX_SESSIONS_PER_USER and "s0" not in cache.users[9].sessions


def test_notices_by_their_rules() -> None:
    cache = RevocationCache(10, 10)
    load(cache, claims(1, sid="a"), row(sid="a"))
    load(cache, claims(2), row())
    cache.apply(Notice.of(Kind.SESSION, [1], session_ids=["a"]))
    assert "a" not in cache.users[1].sessions and (1, "a") in cache.dead
    cache.apply(Notice.of(Kind.DISABLED, [2], [1]))
    assert cache.users[2].disabled
    cache.apply(Notice.of(Kind.ENABLED, [2], [1]))
    assert not cache.users[2].disabled
    cache.apply(Notice.of(Kind.VERSION, [1, 2], [None, 0]))  # unknown version: forget; older: keep
    assert 1 not in cache.users and cache.users[2].version == 1
    assert cache.snapshot()[0]["updates"] == 4


def test_resync_reports_what_changed_and_what_ended() -> None:
    cache = RevocationCache(10, 10)
    load(cache, claims(1), row(tv=1))
    load(cache, claims(2, sid="x"), row(sid="x"))
    load(cache, claims(3), row())
    uids, live = cache.resync_targets()
    assert uids == [1, 2, 3] and live == [(2, "x")]
    rows = {
        1: SimpleNamespace(id=1, token_version=5, disabled=False),
        2: SimpleNamespace(id=2, token_version=1, disabled=False),
    }
    changed, ended = cache.resync_apply(uids, live, rows, {})
    assert changed == [1, 3] and ended == ["x"]  # 1 bumped, 3 deleted; session x gone
    assert cache.users[1].version == 5 and 3 not in cache.users and (2, "x") in cache.dead


def test_after_fork_starts_over_but_keeps_deleted_sessions() -> None:
    cache = RevocationCache(10, 10)
    load(cache, claims(1, sid="gone"), row(sid=None))
    lock = cache.lock
    cache.after_fork()
    assert cache.lock is not lock and not cache.users and (1, "gone") in cache.dead
    assert cache.snapshot()[0]["misses"] == 0
