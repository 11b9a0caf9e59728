"""authcore.notices: ``publish`` writes one ``revocations`` row per user (or session) inside the
caller's transaction and, on PostgreSQL, NOTIFYs the same facts in chunks on ``CHANNEL``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select

from authcore import notices
from authcore.models import revocations
from authcore.verifier import libpq_url

AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def rows(engine: Engine) -> list[tuple[Any, ...]]:
    t = revocations.c
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(t.at, t.kind, t.user_id, t.token_version, t.session_id).order_by(t.id)
            )
        ]


def listen(engine: Engine) -> psycopg.Connection[Any] | None:
    if engine.dialect.name != "postgresql":
        return None
    conn = psycopg.connect(libpq_url(engine.url.render_as_string(hide_password=False)), autocommit=True)
    conn.execute(f"LISTEN {notices.CHANNEL}")
    return conn


def payloads(conn: psycopg.Connection[Any] | None, n: int) -> list[dict[str, Any]]:
    """The next ``n`` notifications (waiting at most 5 s for them), then any stragglers."""
    if conn is None:
        return []
    got = [json.loads(x.payload) for x in conn.notifies(timeout=5, stop_after=n)]
    got += [json.loads(x.payload) for x in conn.notifies(timeout=0.2)]
    return got


def test_version_notices_one_row_per_user_and_chunked_notify(engine: Engine) -> None:
    users = list(range(1, 1201))  # more than one NOTIFY's worth (500 users each)
    versions = [u % 7 for u in users]
    lis = listen(engine)
    try:
        with engine.begin() as conn:
            notices.publish(conn, AT, "version", users, versions)
        assert rows(engine) == [(AT, "version", u, v, None) for u, v in zip(users, versions, strict=True)]
        got = payloads(lis, 3)
        if lis is not None:
            assert got == [
                {"k": "version", "u": users[i : i + 500], "v": versions[i : i + 500]} for i in (0, 500, 1000)
            ]
    finally:
        if lis is not None:
            lis.close()


def test_session_notices_name_each_session(engine: Engine) -> None:
    sids = [f"sid-{i:03d}" for i in range(250)]  # 100 session ids per NOTIFY
    lis = listen(engine)
    try:
        with engine.begin() as conn:
            notices.publish(conn, AT, "session", [42], session_ids=sids)
        assert rows(engine) == [(AT, "session", 42, None, s) for s in sids]
        got = payloads(lis, 3)
        if lis is not None:
            assert got == [{"k": "session", "u": 42, "s": sids[i : i + 100]} for i in (0, 100, 200)]
    finally:
        if lis is not None:
            lis.close()


def test_one_notice_is_one_row_and_one_notify(engine: Engine) -> None:
    lis = listen(engine)
    try:
        with engine.begin() as conn:
            notices.publish(conn, AT, "disabled", [7], [3])
        assert rows(engine) == [(AT, "disabled", 7, 3, None)]
        if lis is not None:
            assert payloads(lis, 1) == [{"k": "disabled", "u": [7], "v": [3]}]
    finally:
        if lis is not None:
            lis.close()


def test_a_rolled_back_transaction_announces_nothing(engine: Engine) -> None:
    lis = listen(engine)
    try:
        with pytest.raises(RuntimeError), engine.begin() as conn:  # noqa: PT012 - the whole block rolls back
            notices.publish(conn, AT, "version", [1, 2], [5, 6])
            notices.publish(conn, AT, "session", [1], session_ids=["a", "b"])
            raise RuntimeError("the caller's change failed")
        assert rows(engine) == []
        assert payloads(lis, 1) == []
    finally:
        if lis is not None:
            lis.close()


def test_nothing_to_announce_writes_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        notices.publish(conn, AT, "session", [1], session_ids=[])
        notices.publish(conn, AT, "version", [], [])
    assert rows(engine) == []


def test_versions_must_match_users(engine: Engine) -> None:
    with pytest.raises(ValueError), engine.begin() as conn:  # noqa: PT011 - any refusal of unmatched lists
        notices.publish(conn, AT, "version", [1, 2], [5])
    assert rows(engine) == []


def test_without_versions_the_rows_carry_none(engine: Engine) -> None:
    with engine.begin() as conn:
        notices.publish(conn, AT, "enabled", [3, 4])
    assert rows(engine) == [(AT, "enabled", 3, None, None), (AT, "enabled", 4, None, None)]
