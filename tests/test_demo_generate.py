"""authcore.demo.generate: generated users and sessions are deterministic, already in the
driver's storage form, and consistent (sessions inside their lifetimes, ~3 per user)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import sqlite

from authcore.demo.generate import (
    SESSION_COLS,
    SESSIONS_PER_USER,
    USER_COLS,
    generate_batch,
    named_session,
)
from authcore.demo.people import DOMAINS
from authcore.models import UTCDateTime
from authcore.users.refs import check_username

NOW = datetime(2026, 11, 27, 14, 28, 5, 123456, tzinfo=UTC)
TTL = timedelta(days=30)


def batch(ids: list[int], seed: int = 1, **kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("postgres", True)
    return generate_batch(random.Random(seed), ids, NOW, TTL, **kw)  # type: ignore[arg-type]


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    ids = list(range(100, 300))
    assert batch(ids) == batch(ids)
    assert batch(ids) != batch(ids, seed=2)


def test_user_rows() -> None:
    users, _ = batch(list(range(1, 501)))
    assert [u[0] for u in users] == list(range(1, 501))
    assert all(len(u) == len(USER_COLS) for u in users)
    rows = [dict(zip(USER_COLS, u, strict=True)) for u in users]
    for r in rows:
        check_username(r["username"])
        assert r["email"].endswith(tuple("@" + d for d in DOMAINS))
        assert r["username"].endswith(str(r["id"])) and str(r["id"]) in r["email"]  # unique by id
        assert r["created_at"] <= r["last_login_at"] <= NOW
        assert (r["disabled_at"] is not None) == r["disabled"]
        assert r["token_version"] in (0, 1, 2, 3)
    assert len({r["email"] for r in rows}) == len(rows)


def test_sessions_live_inside_their_lifetime() -> None:
    users, sessions = batch(list(range(1, 2001)))
    created = {u[0]: u[4] for u in users}
    assert abs(len(sessions) / len(users) - sum(SESSIONS_PER_USER) / len(SESSIONS_PER_USER)) < 0.2
    for s in sessions:
        r = dict(zip(SESSION_COLS, s, strict=True))
        assert re.fullmatch(r"ses_[A-Za-z0-9_-]{16}", r["public_id"])
        assert re.fullmatch(r"[0-9a-f]{64}", r["token_hash"])
        assert r["expires_at"] - r["created_at"] == TTL
        assert created[r["user_id"]] < r["created_at"] < r["last_seen_at"] <= min(r["expires_at"], NOW)
        assert r["created_at"].microsecond == NOW.microsecond  # every time keeps now's microseconds
    assert len({s[0] for s in sessions}) == len({s[1] for s in sessions}) == len(sessions)


def test_sessions_per_user_scales() -> None:
    assert batch(list(range(1, 301)), sessions_per_user=0.0)[1] == []
    many = len(batch(list(range(1, 1001)), sessions_per_user=6.0)[1])
    assert 5.5 < many / 1000 < 6.5


def test_sqlite_rows_hold_what_utcdatetime_binds() -> None:
    pg_users, pg_sessions = batch(list(range(1, 101)))
    lite_users, lite_sessions = batch(list(range(1, 101)), postgres=False)
    dialect = sqlite.dialect()
    bind = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    for pg, lite in ((pg_users, lite_users), (pg_sessions, lite_sessions)):
        for a, b in zip(pg, lite, strict=True):
            for x, y in zip(a, b, strict=True):
                if isinstance(x, datetime):
                    assert x.tzinfo is not None and bind(x) == y
                else:
                    assert x == y


def test_named_session_stays_inside_its_lifetime() -> None:
    created = NOW - timedelta(days=45)
    s = named_session(random.Random(3), 9, created, TTL, NOW, "curl/8.5.0", "192.0.2.1")
    assert s["expires_at"] == created + TTL < NOW  # an ended session
    assert created < s["last_seen_at"] <= s["expires_at"]
    assert (s["user_id"], s["first_ip"], s["last_ip"]) == (9, "192.0.2.1", "192.0.2.1")
    assert set(s) == set(SESSION_COLS)
