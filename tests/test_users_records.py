"""authcore.users.records: the two ways rows become ``UserRecord`` (SQLAlchemy rows and raw
driver rows on the search fast path) give equal records, on both engines."""

from __future__ import annotations

import dataclasses
import json
import pickle
from datetime import UTC, timedelta

import pytest
from sqlalchemy import bindparam, select, update

from authcore.core import AuthCore
from authcore.fastpath import bind_processor
from authcore.models import UTCDateTime, sessions, users
from authcore.timeutil import utcnow
from authcore.users.records import USER_COLS, UserRecord, active_count, rec, record_builder, records_builder


def _stmt():  # type: ignore[no-untyped-def]
    return select(*USER_COLS, active_count(bindparam("now")).label("active_sessions")).order_by(users.c.id)


def test_both_readers_agree(core: AuthCore) -> None:
    alice = core.users.create("alice@example.com", "alice", "Alice")
    core.users.create("bob@example.com", "bob")  # no display name, never logged in
    for _ in range(2):
        core.sessions.create(alice.id)
    expired, _raw = core.sessions.create(alice.id)
    now = utcnow()
    with core.engine.begin() as conn:
        conn.execute(update(sessions).where(sessions.c.public_id == expired.public_id).values(expires_at=now))
        conn.execute(
            update(users)
            .where(users.c.id == alice.id)
            .values(disabled=True, disabled_at=now - timedelta(hours=1), last_login_at=now)
        )
    stmt = _stmt()
    with core.engine.connect() as conn:
        via_core = [rec(r) for r in conn.execute(stmt, {"now": now})]
        compiled = stmt.compile(dialect=conn.dialect)
        to_driver = bind_processor(core.engine, UTCDateTime())
        driver_now = to_driver(now) if to_driver else now
        params = compiled.construct_params({"now": driver_now})
        if compiled.positiontup:
            args: object = tuple(params[k] for k in compiled.positiontup)
        else:
            args = params
        raw = conn.exec_driver_sql(str(compiled), args).all()  # type: ignore[arg-type]
    via_driver = [record_builder(core.engine.dialect.name)(r) for r in raw]
    assert via_core == via_driver
    assert records_builder(core.engine.dialect.name)(raw) == via_core  # a page, as search builds it
    a, b = via_driver
    assert a.active_sessions == 2  # the session that ends now is not active
    assert a.disabled and a.disabled_at is not None and a.disabled_at.tzinfo == UTC
    assert a.created_at.tzinfo == UTC and a.last_login_at is not None
    assert (b.display_name, b.last_login_at, b.active_sessions) == ("", None, 0)


def test_to_dict_is_json_with_iso_times(core: AuthCore) -> None:
    u = core.users.get(core.users.create("carol@example.com", "carol", "Carol").id)
    d = u.to_dict()
    json.dumps(d)
    assert d["created_at"] == u.created_at.isoformat() and d["created_at"].endswith("+00:00")
    assert d["last_login_at"] is None and d["disabled_at"] is None
    assert UserRecord(**{**d, "created_at": u.created_at}) == u


def test_driver_records_are_user_records_in_every_way(core: AuthCore) -> None:
    """The search builder fills a look-alike class and then sets ``__class__``: the result must
    be a ``UserRecord`` like ``rec()``'s -- type, equality, hash, repr, frozen, pickle, replace."""
    core.users.create("dave@example.com", "dave", "Dave")
    now = utcnow()
    stmt = _stmt()
    with core.engine.connect() as conn:
        via_core = [rec(r) for r in conn.execute(stmt, {"now": now})]
        compiled = stmt.compile(dialect=conn.dialect)
        to_driver = bind_processor(core.engine, UTCDateTime())
        params = compiled.construct_params({"now": to_driver(now) if to_driver else now})
        args: object = tuple(params[k] for k in compiled.positiontup) if compiled.positiontup else params
        raw = conn.exec_driver_sql(str(compiled), args).all()  # type: ignore[arg-type]
    (built,) = records_builder(core.engine.dialect.name)(raw)
    (want,) = via_core
    assert type(built) is UserRecord
    assert built == want and hash(built) == hash(want) and repr(built) == repr(want)
    assert vars(built) == vars(want)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.email = "x@example.com"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.extra = 1  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(built)) == want  # noqa: S301 - our own bytes
    assert dataclasses.replace(built, token_version=7) == dataclasses.replace(want, token_version=7)
    assert built.to_dict() == want.to_dict()
