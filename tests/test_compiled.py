"""authcore.compiled: fast-path SQL is the Core statement's own compilation, once per dialect;
and ``fast_paths`` on or off gives the same results (both engines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from authcore import audit, compiled, fastpath, notices, pgroles, revoke, sessions, userevents
from authcore.compiled import Compiled, PerDialect, once
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.models import (
    UTCDateTime,
    audit_events,
    revocations,
    users,
    utc_from_pg,
    utc_from_sqlite,
    utc_to_pg,
    utc_to_sqlite,
)
from authcore.text import LIKE_ESCAPE, like_escape
from tests.conftest import TEST_SECRET

DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.psycopg.dialect()}


def _statements(dialect: Any) -> dict[str, tuple[Any, Compiled]]:
    """Every fast-path statement: (its Core statement, what the fast path runs)."""
    out: dict[str, tuple[Any, Compiled]] = {
        "bump one": (revoke._bump_one(dialect), revoke._BUMP_ONE(dialect)),
        "bump many": (revoke._bump_many(dialect), revoke._BUMP_MANY(dialect)),
        "audit insert": (audit._INSERT, audit._sql(dialect).insert),
        "audit head": (audit._SET_HEAD, audit._sql(dialect).set_head),
        "audit lock": (audit._lock_head(dialect), audit._sql(dialect).lock_head),
        "notice insert": (notices._INSERT, notices._sql(dialect).insert),
        "user event": (userevents._INSERT, userevents._sql(dialect).insert),
        "logout": (None, sessions._END["public_id"](dialect)),  # once(): its own statement
    }
    if dialect.name == "postgresql":
        out["notify"] = (notices._NOTIFY, notices._sql(dialect).notify)  # type: ignore[assignment]
    return out


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_fast_sql_is_the_core_statements_compilation(name: str) -> None:
    dialect = DIALECTS[name]
    for what, (stmt, c) in _statements(dialect).items():
        assert c is not None, what
        stmt = stmt if stmt is not None else c.stmt
        assert c.sql == str(stmt.compile(dialect=dialect)), what


def test_compiled_once_per_dialect(monkeypatch: pytest.MonkeyPatch) -> None:
    stmt = select(users.c.id).where(users.c.id == bindparam("uid"))
    calls: list[Any] = []
    real = Compiled.__init__

    def counting(self: Compiled, *a: Any, **kw: Any) -> None:
        calls.append(a[1])
        real(self, *a, **kw)

    monkeypatch.setattr(Compiled, "__init__", counting)
    per = once(stmt)
    a, b = sqlite.dialect(), postgresql.psycopg.dialect()
    first = per(a)
    assert per(a) is first and per(b) is per(b) and per(a) is first
    assert calls == [a, b]
    assert first.sql != per(b).sql  # each dialect its own text


def test_per_dialect_forgets_dropped_dialects() -> None:
    per: PerDialect[int] = PerDialect(lambda d: 1)
    d = sqlite.dialect()
    per(d)
    per(sqlite.dialect())  # the last-asked slot moves on
    del d
    import gc

    gc.collect()
    assert len(per._all) <= 1


def test_params_follow_the_dialects_form() -> None:
    stmt = select(users.c.id).where(users.c.id == bindparam("uid"), users.c.token_version > 3)
    lite = Compiled(stmt, sqlite.dialect())
    assert lite.positional and lite.params({"uid": 7}) == (7, 3)  # the literal fills itself in
    pg = Compiled(stmt, postgresql.psycopg.dialect())
    got = pg.params({"uid": 7})
    assert isinstance(got, dict) and got["uid"] == 7 and 3 in got.values()
    with pytest.raises(KeyError):
        lite.params({})
    # a bind used twice goes twice (positional), and rows pack in the caller's order
    bump = revoke._BUMP_ONE(sqlite.dialect())
    assert bump.order.count("uid") == 2
    pack = bump.packer(("now", "uid"))
    assert pack(("N", 5)) == tuple({"uid": 5, "now": "N"}.get(k, 1) for k in bump.order)


def test_packer_is_the_identity_in_driver_order() -> None:
    c = audit._sql(sqlite.dialect()).insert
    assert c.packer(c.order) is compiled.same


def test_only_converts_refuses_an_unexpected_processor() -> None:
    c = Compiled(notices._INSERT, sqlite.dialect())
    with pytest.raises(RuntimeError):
        c.only_converts("n_kind")
    assert c.only_converts("n_at") is c


def test_function_calls_render_as_before() -> None:
    pg = postgresql.psycopg.dialect()
    c = revoke._FN_REVOKE(pg)
    assert " ".join(c.sql.split()) == (
        "SELECT * FROM authcore_revoke_tokens(%(uid)s, %(reason)s, %(actor)s, %(client)s)"
    )
    bulk = revoke._FN_BUMP_MANY(pg).sql
    assert "CAST(%(ids)s AS BIGINT[])" in bulk and "CAST(%(details)s AS JSONB)" in bulk
    assert "authcore_prune_sessions(" in sessions._FN_PRUNE(pg).sql
    assert "authcore_audit_append(" in once(pgroles._append_stmt())(pg).sql


# -- the fast path and the SQLAlchemy path give the same rows ------------------------------------


def test_bump_counts_active_sessions_as_the_core_count(core: AuthCore) -> None:
    u = core.users.create("count@example.com", "count")
    core.sessions.create(u.id)
    core.sessions.create(u.id)
    gone, _ = core.sessions.create(u.id, ttl=timedelta(seconds=-1))  # expired: not active
    now = datetime.now(UTC)
    with core.engine.connect() as conn:
        via_core = conn.execute(revoke._ACTIVE, {"uid": u.id, "now": now}).scalar_one()
        listed = conn.execute(
            select(users.c.id, users.c.email).where(users.c.id == u.id)
        ).one()  # the user row the bump returns
    r = core.admin.revoke_tokens(u.id, "count")
    assert via_core == r.sessions_remaining == 2
    assert core.users.get(u.id).active_sessions == 2  # users' listing: the same definition
    assert listed.email == r.email


def test_bulk_bump_statement_matches_core_execution(core: AuthCore) -> None:
    ids = [core.users.create(f"b{i}@example.com", f"b{i}").id for i in range(3)]
    stmt = revoke._bump_many(core.engine.dialect)
    with core.engine.begin() as conn:  # Core, SQLAlchemy's own parameter handling
        core_rows = sorted(tuple(r) for r in conn.execute(stmt, {"ids": [ids[0], ids[2], 10**9]}))
        conn.rollback()
    with core.engine.begin() as conn:  # the fast path's compiled text and driver parameters
        c = revoke._BUMP_MANY(conn.dialect)
        fast_rows = sorted(
            tuple(r) for r in conn.exec_driver_sql(c.sql, c.convert({"ids": [ids[0], ids[2], 10**9]}))
        )
        conn.rollback()
    assert core_rows == fast_rows and [r[0] for r in fast_rows] == [ids[0], ids[2]]


def test_hot_query_rows_equal_core_rows(core: AuthCore) -> None:
    u = core.users.create("rows@example.com", "rows")
    s, raw = core.sessions.create(u.id, ip="198.51.100.7", user_agent="ua")
    hot = core.sessions.resolve(raw)
    assert hot is not None
    with core.engine.connect() as conn:
        row = conn.execute(
            sessions._RESOLVE, {"h": sessions.token_digest(raw), "now": datetime.now(UTC)}
        ).one()
    assert sessions._srec(row) == hot.session
    assert (row.email, row.username, row.token_version) == (hot.email, hot.username, hot.token_version)


# -- fast_paths on and off ----------------------------------------------------------------------


def _scenario(core: AuthCore, tag: str) -> dict[str, Any]:
    """One app's and one operator's day; everything but ids, emails and times."""
    u = core.users.create(f"{tag}@example.com", tag)
    v = core.users.create(f"{tag}-2@example.com", f"{tag}-2")
    login = core.login(u.id, ip="203.0.113.9", user_agent="agent")
    s2, raw2 = core.sessions.create(u.id)
    out: dict[str, Any] = {}
    out["resolve"] = core.sessions.resolve(login.session_token) is not None
    out["refresh"] = core.tokens.verify_refresh(login.pair.refresh_token).sid == login.session.public_id
    r = core.admin.revoke_tokens(u.id, "fast or not")
    out["revoke"] = (r.old_version, r.new_version, r.sessions_remaining, r.sessions_deleted, r.disabled)
    many = core.admin.revoke_tokens_many([u.id, v.id], "both")
    out["many"] = [(m.old_version, m.new_version) for m in many]
    out["logout"] = (core.logout(login.session.public_id), core.logout(login.session.public_id))
    out["logout raw"] = core.sessions.logout(raw2)
    out["after"] = core.sessions.resolve(raw2)
    with core.engine.connect() as conn:
        out["events"] = [
            (e.action, e.details)
            for e in conn.execute(
                select(audit_events.c.action, audit_events.c.details)
                .where(audit_events.c.target_user_id.in_([u.id, v.id]))
                .order_by(audit_events.c.seq)
            )
        ]
        out["notices"] = [
            (n.kind, n.token_version, n.session_id is not None)
            for n in conn.execute(
                select(revocations).where(revocations.c.user_id.in_([u.id, v.id])).order_by(revocations.c.id)
            )
        ]
        out["user events"] = (
            conn.execute(text("SELECT action FROM user_events WHERE user_id = :u ORDER BY id"), {"u": u.id})
            .scalars()
            .all()
        )
    out["chain"] = audit.verify_chain(core.engine).ok
    return out


def test_fast_paths_on_and_off_give_the_same_results(engine, config) -> None:  # type: ignore[no-untyped-def]
    fast = _scenario(AuthCore(engine, config, actor="t", fast_paths=True), "fast")
    assert fastpath.is_fast(engine)
    slow = _scenario(AuthCore(engine, config, actor="t", fast_paths=False), "slow")
    assert not fastpath.is_fast(engine)
    assert fast == slow
    assert fast["revoke"] == (0, 1, 2, 0, False) and fast["logout"] == (True, False)
    assert fast["chain"] and fast["after"] is None


def test_fast_paths_default_on_and_from_config(engine) -> None:  # type: ignore[no-untyped-def]
    ts = TokenSettings(secret=TEST_SECRET)
    AuthCore(engine, Config(tokens=ts))
    assert fastpath.is_fast(engine)
    AuthCore(engine, Config(tokens=ts, fast_paths=False))
    assert not fastpath.is_fast(engine)
    AuthCore(engine, Config(tokens=ts, fast_paths=False), fast_paths=True)  # the argument wins
    assert fastpath.is_fast(engine)


def test_config_fast_paths_key(write_config) -> None:  # type: ignore[no-untyped-def]
    from authcore.config import load_config
    from authcore.errors import ConfigError

    assert load_config(str(write_config("fast_paths = false\n"))).fast_paths is False
    assert load_config(str(write_config("pool_size = 3\n"))).fast_paths is True
    with pytest.raises(ConfigError, match="fast_paths must be true or false"):
        load_config(str(write_config('fast_paths = "no"\n')))


# -- one home for the converters and the LIKE escape ---------------------------------------------


def test_utc_converters_match_the_types_own_processing() -> None:
    t = UTCDateTime()
    lite = sqlite.dialect()
    when = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=timezone(timedelta(hours=-5)))
    slow = t.dialect_impl(lite).bind_processor(lite)(when)
    assert utc_to_sqlite(when) == slow == "2026-03-04 10:06:07.000089"
    back = t.dialect_impl(lite).result_processor(lite, None)(slow)
    assert utc_from_sqlite(slow) == back == when and back.tzinfo is UTC
    assert utc_to_pg(when) == when and utc_to_pg(when).tzinfo is UTC
    assert utc_from_pg(when).tzinfo is UTC and utc_from_pg(None) is None
    for naive_to in (utc_to_sqlite, utc_to_pg):
        with pytest.raises(ValueError, match="naive datetime"):
            naive_to(datetime(2026, 1, 1))
    assert compiled.bind_processor(t, lite) is utc_to_sqlite
    assert compiled.result_processor(t, postgresql.psycopg.dialect()) is utc_from_pg


def test_like_escape_is_literal(engine) -> None:  # type: ignore[no-untyped-def]
    term = "50%_off\\now"
    with engine.connect() as conn:
        for value, hit in ((term, True), ("50Xyoff\\now", False), ("50%_off\\nowhere", True)):
            pat = f"{like_escape(term)}%"
            got = conn.execute(select(func.lower(value).like(pat, escape=LIKE_ESCAPE))).scalar()
            assert bool(got) is hit, value


def test_convert_applies_the_processors_to_values_and_literals() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    stmt = select(users.c.id).where(users.c.created_at > when, users.c.last_login_at < bindparam("t"))
    lite = Compiled(stmt, sqlite.dialect())
    assert lite.convert({"t": when}) == ("2026-01-02 03:04:05.000000",) * 2
    assert lite.params({"t": "as is"})[1] == "as is"  # params: values already in driver form
    assert lite.packer(("t",)) is lite.packer(["t"])  # built once per names
