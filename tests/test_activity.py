"""authcore.activity: the event model and what the app paths publish. On PostgreSQL a login and
a refresh rotation NOTIFY ``activity.CHANNEL`` in their own transaction (ids only; nothing for
a rolled-back transaction; nothing with ``activity=False``); on SQLite they write nothing
extra, and migration 0009 indexes ``refresh_rotated_at`` so the follower can find rotations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, inspect

from authcore import activity
from authcore.activity import ActivityEvent, Kind
from authcore.config import Config
from authcore.core import AuthCore
from authcore.errors import RefreshReuse
from authcore.sessions import _INSERT_NOTIFY
from authcore.verifier import libpq_url

AT = datetime(2026, 12, 3, 4, 5, 6, 123456, tzinfo=UTC)


def listener(engine: Engine) -> psycopg.Connection[Any] | None:
    if engine.dialect.name != "postgresql":
        return None
    conn = psycopg.connect(libpq_url(engine.url.render_as_string(hide_password=False)), autocommit=True)
    conn.execute(f"LISTEN {activity.CHANNEL}")
    return conn


def heard(conn: psycopg.Connection[Any] | None, n: int, wait: float = 5.0) -> list[ActivityEvent]:
    if conn is None:
        return []
    got = [activity.decode(x.payload) for x in conn.notifies(timeout=wait, stop_after=n)] if n else []
    got += [activity.decode(x.payload) for x in conn.notifies(timeout=0.3)]
    return got


def test_payload_round_trip_is_ids_only() -> None:
    text = activity.payload(Kind.REFRESH, AT, 42, "ses_abc", 7)
    ev = activity.decode(text)
    assert (ev.kind, ev.at, ev.user_id, ev.session_id, ev.key) == (
        Kind.REFRESH,
        AT,
        42,
        "ses_abc",
        "r:ses_abc:7",
    )
    assert ev.email is None and len(text) < 100
    login = activity.decode(activity.payload(Kind.LOGIN, AT, 1, "ses_x"))
    assert login.kind is Kind.LOGIN and login.key == "l:ses_x"


@pytest.mark.parametrize(
    "text", ["", "[]", "{}", '["bumped",1,2,"s",0]', '["login","x",2,"s",0]', '["login",1,"2","s",0]', "null"]
)
def test_decode_refuses_what_is_not_a_payload(text: str) -> None:
    with pytest.raises(ValueError, match="not an activity payload"):
        activity.decode(text)


def test_every_kind_has_wording() -> None:
    assert set(activity.WHAT) == set(Kind)
    assert set(activity.AUDIT_KINDS.values()) | set(activity.USER_EVENT_KINDS.values()) <= set(Kind)


def test_login_and_refresh_announce_themselves(core: AuthCore) -> None:
    user = core.users.create("ann@example.com", "ann")
    lis = listener(core.engine)
    try:
        login = core.login(user.id, ip="10.0.0.1", user_agent="test")
        sid = login.session.public_id
        pair = core.tokens.refresh(login.pair.refresh_token)
        core.tokens.refresh(pair.refresh_token)
        got = heard(lis, 3)
    finally:
        if lis is not None:
            lis.close()
    if core.engine.dialect.name == "postgresql":
        assert [(e.kind, e.user_id, e.session_id, e.key) for e in got] == [
            (Kind.LOGIN, user.id, sid, f"l:{sid}"),
            (Kind.REFRESH, user.id, sid, f"r:{sid}:1"),
            (Kind.REFRESH, user.id, sid, f"r:{sid}:2"),
        ]
        assert abs((got[0].at - login.session.created_at).total_seconds()) < 1e-3
    else:  # SQLite: nothing written for them; the follower reads the rows
        assert core.sessions.notify_activity is False and core.tokens.notify_activity is False


def test_reuse_publishes_no_refresh(core: AuthCore) -> None:
    """A detected reuse deletes the session: no rotation, so no refresh event (the reuse is a
    user event, read from ``user_events``)."""
    user = core.users.create("bo@example.com", "bo")
    login = core.login(user.id)
    core.tokens.refresh(core.tokens.refresh(login.pair.refresh_token).refresh_token)
    lis = listener(core.engine)
    try:
        with pytest.raises(RefreshReuse):
            core.tokens.refresh(login.pair.refresh_token)  # rotated away twice: a reuse
        got = heard(lis, 0, 0)
    finally:
        if lis is not None:
            lis.close()
    assert got == []


def test_a_rolled_back_transaction_announces_nothing(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite publishes nothing: the follower reads committed rows (test_activityfeed)")
    from authcore.timeutil import utcnow

    core = AuthCore(engine, Config())
    user = core.users.create("cy@example.com", "cy")
    lis = listener(engine)
    now = utcnow()
    values = {
        "s_public_id": "ses_rolledback",
        "s_token_hash": "0" * 64,
        "s_user_id": user.id,
        "s_created_at": now,
        "s_last_seen_at": now,
        "s_expires_at": now,
        "s_first_ip": None,
        "s_last_ip": None,
        "s_user_agent": None,
        "s_refresh_counter": 0,
        "activity_payload": activity.payload(Kind.LOGIN, now, user.id, "ses_rolledback"),
    }
    try:
        with engine.connect() as conn:
            tx = conn.begin()
            conn.execute(_INSERT_NOTIFY, values)
            tx.rollback()
        assert heard(lis, 0, 0) == []
        with engine.begin() as conn:  # the same statement committed: heard (the test can fail)
            conn.execute(_INSERT_NOTIFY, values)
        assert [e.session_id for e in heard(lis, 1)] == ["ses_rolledback"]
    finally:
        assert lis is not None
        lis.close()


def test_activity_off_publishes_nothing(engine: Engine, config: Config) -> None:
    core = AuthCore(engine, config, activity=False)
    user = core.users.create("di@example.com", "di")
    lis = listener(engine)
    try:
        login = core.login(user.id)
        core.tokens.refresh(login.pair.refresh_token)
        assert heard(lis, 0, 0.3) == []
    finally:
        if lis is not None:
            lis.close()
    assert core.sessions.notify_activity is False and core.tokens.notify_activity is False


def test_sqlite_indexes_rotations_and_postgresql_does_not(engine: Engine) -> None:
    """Migration 0008: the follower's rotation read is indexed on SQLite; on PostgreSQL no index
    may slow a rotation's UPDATE (it NOTIFYs instead)."""
    names = {i["name"] for i in inspect(engine).get_indexes("sessions")}
    assert ("ix_sessions_rotated" in names) == (engine.dialect.name == "sqlite")
