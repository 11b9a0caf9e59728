"""authcore.models: the schema's tables, and ``UTCDateTime``, the one conversion between Python's
aware datetimes and what each engine stores (``timestamptz`` on PostgreSQL, naive UTC text on
SQLite). On both engines: an aware time of any offset comes back as the same instant in UTC to
the microsecond; a naive one is refused before anything is written. The driver converters next to
it (``utc_to_sqlite``/``utc_to_pg``..., what the fast paths bind) follow the same rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError

from authcore import models
from authcore.models import GENESIS_HASH, UTCDateTime, sessions, users

IST = timezone(timedelta(hours=5, minutes=30))
WHEN = datetime(2026, 11, 27, 14, 32, 5, 123_456, tzinfo=IST)
WHEN_NAIVE_UTC = WHEN.astimezone(UTC).replace(tzinfo=None)  # 09:02:05.123456, no offset


def _user(**kw: Any) -> dict[str, Any]:
    row = {
        "email": "m@example.com",
        "username": "m",
        "display_name": "M",
        "created_at": WHEN,
        "disabled": False,
        "token_version": 0,
    }
    row.update(kw)
    return row


def test_aware_times_round_trip_as_the_same_instant_in_utc(engine: Engine) -> None:
    with engine.begin() as conn:
        uid = conn.execute(insert(users).returning(users.c.id), _user()).scalar_one()
    with engine.connect() as conn:
        created, last = conn.execute(
            select(users.c.created_at, users.c.last_login_at).where(users.c.id == uid)
        ).one()
    assert created == WHEN
    assert created.utcoffset() == timedelta(0)
    assert created.microsecond == 123_456
    assert (created.hour, created.minute) == (9, 2)  # 14:32 at +05:30
    assert last is None  # NULL stays None both ways


def test_times_compare_as_instants_in_sql(engine: Engine) -> None:
    """A bound aware time compares with stored ones by instant, whatever its offset."""
    with engine.begin() as conn:
        conn.execute(
            insert(users),
            [
                _user(email=f"u{i}@example.com", username=f"u{i}", created_at=WHEN + timedelta(seconds=i))
                for i in range(3)
            ],
        )
    same_instant_elsewhere = WHEN.astimezone(timezone(timedelta(hours=-8)))
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).where(users.c.created_at > same_instant_elsewhere)).scalar_one()
    assert n == 2


def test_a_naive_time_is_refused_and_nothing_is_written(engine: Engine) -> None:
    with pytest.raises(StatementError) as info, engine.begin() as conn:
        conn.execute(insert(users), _user(created_at=WHEN.replace(tzinfo=None)))
    assert isinstance(info.value.orig, ValueError)
    assert "naive datetime" in str(info.value.orig)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 0


def test_the_storage_form_per_engine(engine: Engine) -> None:
    """SQLite holds the naive UTC time as text (no offset to misread); PostgreSQL a timestamptz."""
    with engine.begin() as conn:
        uid = conn.execute(insert(users).returning(users.c.id), _user()).scalar_one()
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(f"SELECT created_at FROM users WHERE id = {int(uid)}").scalar_one()
    if engine.dialect.name == "sqlite":
        assert raw == "2026-11-27 09:02:05.123456"
    else:
        assert isinstance(raw, datetime) and raw.tzinfo is not None and raw == WHEN


def test_sessions_go_with_their_user(engine: Engine) -> None:
    """``ON DELETE CASCADE`` holds on both engines (SQLite needs ``foreign_keys`` on: db.py)."""
    with engine.begin() as conn:
        uid = conn.execute(insert(users).returning(users.c.id), _user()).scalar_one()
        conn.execute(
            insert(sessions),
            {
                "public_id": "ses_test",
                "token_hash": "0" * 64,
                "user_id": uid,
                "created_at": WHEN,
                "last_seen_at": WHEN,
                "expires_at": WHEN + timedelta(days=30),
                "refresh_counter": 0,
            },
        )
    with engine.begin() as conn:
        conn.execute(delete(users).where(users.c.id == uid))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sessions)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 0


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
def test_bind_and_result_conversions(dialect: Any) -> None:
    t = UTCDateTime()
    bound = t.process_bind_param(WHEN, dialect)
    if dialect.name == "sqlite":
        assert bound == WHEN_NAIVE_UTC
    else:
        assert bound == WHEN and bound is not None and bound.utcoffset() == timedelta(0)
    assert t.process_bind_param(None, dialect) is None
    with pytest.raises(ValueError, match="naive"):
        t.process_bind_param(WHEN_NAIVE_UTC, dialect)
    # Results: a naive value is UTC; an aware one is converted to UTC.
    assert t.process_result_value(WHEN_NAIVE_UTC, dialect) == WHEN
    back = t.process_result_value(WHEN, dialect)
    assert back == WHEN and back is not None and back.tzinfo == UTC
    assert t.process_result_value(None, dialect) is None


def test_every_time_column_is_utc_datetime() -> None:
    """One conversion for every timestamp: a plain ``DateTime`` column would store naive or
    local times on one engine and not the other."""
    plain = [
        f"{table.name}.{col.name}"
        for table in models.Base.metadata.tables.values()
        for col in table.columns
        if not isinstance(col.type, UTCDateTime)
        and (col.type.python_type is datetime or col.name == "at" or col.name.endswith("_at"))
    ]
    assert plain == []
    timed = [
        f"{table.name}.{col.name}"
        for table in models.Base.metadata.tables.values()
        for col in table.columns
        if isinstance(col.type, UTCDateTime)
    ]
    assert "users.created_at" in timed and "audit_events.at" in timed and len(timed) >= 13


def test_the_tables_and_the_chain_anchor() -> None:
    assert set(models.Base.metadata.tables) == {
        "users",
        "sessions",
        "audit_events",
        "audit_head",
        "revocations",
        "user_events",
        "bulk_runs",
    }
    assert GENESIS_HASH == "0" * 64
    assert models.bulk_runs is models.BulkRun.__table__
    assert models.users is models.User.__table__


# -- the driver converters next to UTCDateTime (the fast paths' conversions) ------------------

EDGE_TIMES = [
    WHEN,
    datetime(2026, 1, 1, tzinfo=UTC),  # microsecond 0 still written as .000000
    datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
    datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=14))),
]


@pytest.mark.parametrize("when", EDGE_TIMES, ids=[w.isoformat() for w in EDGE_TIMES])
def test_the_driver_converters_are_utcdatetimes_rules(engine: Engine, when: datetime) -> None:
    """What the fast paths bind is exactly what SQLAlchemy's path stores, and reading back is
    the same instant, on both engines."""
    to_driver = UTCDateTime.driver_bind(engine.dialect)
    from_driver = UTCDateTime.driver_result(engine.dialect)
    with engine.begin() as conn:
        uid = conn.execute(insert(users).returning(users.c.id), _user(created_at=when)).scalar_one()
        stored = conn.exec_driver_sql(f"SELECT created_at FROM users WHERE id = {int(uid)}").scalar_one()
    assert to_driver(when) == stored
    back = from_driver(stored)
    assert back == when and back is not None and back.tzinfo == UTC
    assert from_driver(None) is None


def test_the_sqlite_converter_never_answers_for_another_value() -> None:
    """It remembers its last conversion by identity: equal instants in other zones and a
    different time right after must each get their own text."""
    from authcore.models import utc_to_sqlite

    a = datetime(2026, 5, 1, 12, tzinfo=UTC)
    b = a.astimezone(IST)  # the same instant
    c = a + timedelta(microseconds=1)
    assert utc_to_sqlite(a) == utc_to_sqlite(b) == "2026-05-01 12:00:00.000000"
    assert utc_to_sqlite(c) == "2026-05-01 12:00:00.000001"
    assert utc_to_sqlite(a) == "2026-05-01 12:00:00.000000"
    with pytest.raises(ValueError, match="naive"):
        utc_to_sqlite(a.replace(tzinfo=None))
