"""authcore.fastpath, the hot write path (``fastpath.Writer``, driver-form rows in audit/notices; issue 5).

What the version bump writes through the driver must be exactly what SQLAlchemy would have
written, atomically, announced only on commit, and the connection it used must come back clean
whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, text

from authcore import audit, db, fastpath, notices
from authcore.core import AuthCore
from authcore.errors import ConstraintViolation, DatabaseUnavailable, NotFound, UserDisabled
from authcore.models import audit_events, revocations, users
from tests.conftest import bypass_audit_trigger
from tests.support.hostile import HOSTILE


def _count(core: AuthCore, table: Any, *where: Any) -> int:
    with core.engine.connect() as c:
        return c.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def _stored(core: AuthCore, table: str, cols: tuple[str, ...], where: str) -> list[tuple]:
    """Column values as the database holds them (text), not as SQLAlchemy types read them."""
    pg = core.engine.dialect.name == "postgresql"
    sel = ", ".join(f"{c}::text" if pg else f"{c}" for c in cols)
    if not pg:
        sel = ", ".join(f"typeof({c}) || ':' || {c}" for c in cols)
    with core.engine.connect() as c:
        return [tuple(r) for r in c.exec_driver_sql(f"SELECT {sel} FROM {table} WHERE {where} ORDER BY id")]


# -- byte-identical storage -------------------------------------------------------------------

AUDIT_COLS = (
    "seq",
    "at",
    "actor",
    "action",
    "target_user_id",
    "target_session",
    "reason",
    "details",
    "prev_hash",
    "hash",
)
REV_COLS = ("at", "kind", "user_id", "token_version", "session_id")


def _copy_through_core(core: AuthCore, table: Any, cols: tuple[str, ...], row: Any, **override: Any) -> None:
    values = {c: getattr(row, c) for c in cols}
    values.update(override)
    with core.engine.begin() as c:
        c.execute(insert(table).values(**values))


@pytest.mark.parametrize("bulk", [False, True], ids=["one", "bulk"])
def test_fast_rows_are_stored_exactly_as_sqlalchemy_writes_them(core: AuthCore, bulk: bool) -> None:
    u = core.users.create("bytes@example.com", "bytes")
    core.sessions.create(u.id)
    reason = 'ünïcode \u202e reason "quoted" \\ back'
    if bulk:
        core.admin.revoke_tokens_many([u.id], reason, summary={"query": "bytes", "é": [1, 2.5]})
    else:
        core.admin.revoke_tokens(u.id, reason)
    with core.engine.connect() as c:  # typed read through Core: what the ORM sees
        evs = c.execute(select(audit_events).order_by(audit_events.c.id)).all()
        revs = c.execute(select(revocations).order_by(revocations.c.id)).all()
    assert evs and revs
    for ev in evs:
        assert ev.at.tzinfo is UTC and ev.reason == reason and isinstance(ev.details, dict)
        _copy_through_core(core, audit_events, AUDIT_COLS, ev, seq=-ev.seq)
        fast = _stored(core, "audit_events", AUDIT_COLS[1:], f"seq = {ev.seq}")
        slow = _stored(core, "audit_events", AUDIT_COLS[1:], f"seq = {-ev.seq}")
        assert fast == slow
    for rv in revs:
        assert rv.at == evs[0].at and rv.token_version == 1 and rv.kind == "version"
        _copy_through_core(core, revocations, REV_COLS, rv, kind="copy")
        fast = _stored(core, "revocations", REV_COLS[:1] + REV_COLS[2:], f"id = {rv.id}")
        slow = _stored(core, "revocations", REV_COLS[:1] + REV_COLS[2:], "kind = 'copy'")
        assert fast == slow
    with core.engine.begin() as c:
        bypass_audit_trigger(c)
        c.execute(audit_events.delete().where(audit_events.c.seq < 0))
    assert audit.verify_chain(core.engine).ok


def test_session_notice_rows_match_core_insert(core: AuthCore) -> None:
    u = core.users.create("s@example.com", "s")
    s1, _ = core.sessions.create(u.id)
    s2, _ = core.sessions.create(u.id)
    core.admin.delete_sessions(u.id, "lost phone")
    with core.engine.connect() as c:
        revs = c.execute(select(revocations).order_by(revocations.c.id)).all()
    assert sorted(r.session_id for r in revs) == sorted([s1.public_id, s2.public_id])
    for rv in revs:
        _copy_through_core(core, revocations, REV_COLS, rv, kind="copy")
        cols = ("at", "user_id", "token_version", "session_id")
        assert _stored(core, "revocations", cols, f"id = {rv.id}") == _stored(
            core, "revocations", cols, f"kind = 'copy' AND session_id = '{rv.session_id}'"
        )
        with core.engine.begin() as c:
            c.exec_driver_sql("DELETE FROM revocations WHERE kind = 'copy'")


def test_only_the_converted_columns_have_bind_processors(engine) -> None:  # type: ignore[no-untyped-def]
    """audit.append and notices.publish convert ``at`` and ``details`` only: every other column
    must go to the driver as it is (if a column type changes, this fails before a row is
    written wrong; the statement builders refuse too)."""
    for table, converted in ((audit_events, {"at", "details"}), (revocations, {"at"})):
        have = {c.name for c in table.c if fastpath.bind_processor(engine, c.type) is not None}
        assert have <= converted, (table.name, have)
    audit._sql(engine.dialect)
    notices._sql(engine.dialect)


# -- the canonical hash and JSON encoders -------------------------------------------------------


def _reference_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    uid: int | None,
    sid: str | None,
    reason: str,
    details: Any,
    prev: str,
) -> str:
    """The hash as first defined: one json.dumps of the whole array."""
    import hashlib

    body = json.dumps(
        [seq, at.isoformat(timespec="microseconds"), actor, action, uid, sid, reason, details, prev],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


DETAILS = [
    {},
    {"old_version": 1, "new_version": 2},
    {"b": True, "a": None, "c": [1, 2.5, -0.0]},
    {"nested": {"z": 1, "y": {"x": "é"}}, "when": datetime(2026, 1, 2, tzinfo=UTC)},
    {"big": 2**70, "f": 1e300, "nan": float("nan"), "inf": float("inf")},
    {"é\u202e": "\x00\x1f\u2028", "list": [[], {}, ""]},
    {1: "int key", 2: 1.5},
]


@pytest.mark.parametrize("reason", ["", "plain", *HOSTILE])
def test_event_hash_matches_the_reference(reason: str) -> None:
    at = datetime(2026, 11, 27, 3, 4, 5, 6, tzinfo=UTC)
    for details in DETAILS:
        for uid, sid in ((None, None), (7, "sid-\u00e9"), (2**40, "")):
            want = _reference_hash(
                12, at, "actor \u00fc", "revoke_tokens", uid, sid, reason, details, "0" * 64
            )
            assert (
                audit.event_hash(12, at, "actor \u00fc", "revoke_tokens", uid, sid, reason, details, "0" * 64)
                == want
            )
    whole = datetime(2026, 11, 27, 3, 4, 5, 0, tzinfo=timezone(timedelta(hours=2)))
    assert (
        audit.event_hash(1, whole, "a", "b", True, None, "r", {}, "p")  # type: ignore[arg-type]
        == _reference_hash(1, whole, "a", "b", True, None, "r", {}, "p")
    )  # type: ignore[arg-type]


def test_reusable_encoders_write_what_json_writes() -> None:
    for value in [*DETAILS, *HOSTILE, "é", 1, 1.5, None, True, [1, "a"], ("t",)]:
        assert audit._canon(value) == audit._CANONICAL.encode(value)
        if not isinstance(value, dict) or "when" not in value:
            assert audit._dumps(value) == json.dumps(value)
    with pytest.raises(TypeError):
        audit._dumps({"when": datetime(2026, 1, 1)})


# -- atomicity, notices, connections ----------------------------------------------------------


def test_database_error_mid_bump_rolls_back_everything_and_frees_the_connection(core: AuthCore) -> None:
    u = core.users.create("clash@example.com", "clash")
    core.admin.revoke_tokens(u.id, "first")
    with core.engine.begin() as c:  # an event already holding the next seq: the INSERT fails
        c.execute(
            insert(audit_events).values(
                seq=2,
                at=datetime.now(UTC),
                actor="x",
                action="x",
                reason="",
                details={},
                prev_hash="0" * 64,
                hash="0" * 64,
            )
        )
    with pytest.raises(ConstraintViolation):  # authcore's, never the driver's
        core.admin.revoke_tokens(u.id, "second")
    assert core.users.get(u.id).token_version == 1
    assert _count(core, revocations) == 1
    with core.engine.begin() as c:
        bypass_audit_trigger(c)
        c.execute(audit_events.delete().where(audit_events.c.seq == 2))
    for _ in range(3):  # the connections went back without an open transaction
        core.admin.revoke_tokens(u.id, "again")
    assert core.users.get(u.id).token_version == 4
    assert audit.verify_chain(core.engine).ok


def test_failure_after_audit_before_notice_leaves_nothing(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    u = core.users.create("late@example.com", "late")

    def boom(*a: Any, **k: Any) -> None:
        raise RuntimeError("injected at the notice")

    monkeypatch.setattr(notices, "publish", boom)
    with pytest.raises(RuntimeError, match="injected"):
        core.admin.revoke_tokens(u.id, "x")
    monkeypatch.undo()
    assert core.users.get(u.id).token_version == 0
    assert _count(core, audit_events) == 0 and _count(core, revocations) == 0
    assert core.admin.revoke_tokens(u.id, "x").new_version == 1


def test_unknown_user_changes_nothing(core: AuthCore) -> None:
    with pytest.raises(NotFound):
        core.admin.revoke_tokens(424242, "x")
    assert _count(core, audit_events) == 0 and _count(core, revocations) == 0
    u = core.users.create("after@example.com", "after")
    assert core.admin.revoke_tokens(u.id, "x").new_version == 1


def test_result_counts_active_sessions_only(core: AuthCore) -> None:
    u = core.users.create("count@example.com", "count")
    core.sessions.create(u.id)
    core.sessions.create(u.id)
    s3, _ = core.sessions.create(u.id)
    with core.engine.begin() as c:
        c.exec_driver_sql(
            "UPDATE sessions SET expires_at = created_at WHERE public_id = "
            + ("%(p)s" if core.engine.dialect.name == "postgresql" else ":p"),
            {"p": s3.public_id},
        )
    r = core.admin.revoke_tokens(u.id, "x")
    assert (r.old_version, r.new_version, r.sessions_remaining) == (0, 1, 2)
    assert "2 sessions stay" in r.summary()


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "sqlalchemy"])
def test_the_setting_decides_the_path_not_a_listener(engine, config, fast: bool) -> None:  # type: ignore[no-untyped-def]
    """``fast_paths`` alone picks the path: a cursor listener sees the bump only with fast
    paths off; ``fastpath.tracing`` sees the same statements either way."""
    core = AuthCore(engine, config, actor="test-operator", fast_paths=fast)
    assert fastpath.is_fast(engine) is fast
    u = core.users.create("seen@example.com", "seen")
    seen: list[str] = []

    def count(conn, cursor, statement, *a):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(core.engine, "before_cursor_execute", count)
    try:
        with fastpath.tracing() as traced:
            r = core.admin.revoke_tokens(u.id, "traced")
            many = core.admin.revoke_tokens_many([u.id], "traced too")
    finally:
        event.remove(core.engine, "before_cursor_execute", count)
    assert r.new_version == 1 and [(m.user_id, m.new_version) for m in many] == [(u.id, 2)]
    traced_sql = "\n".join(sql for sql, _ in traced)
    listened = "\n".join(seen)
    for what in ("UPDATE users", "INSERT INTO audit_events", "INSERT INTO revocations"):
        assert what in traced_sql
        assert (what in listened) is (not fast), what
    assert audit.verify_chain(core.engine).ok


def test_sqlite_busy_past_the_timeout_is_database_unavailable(
    tmp_path,
    sqlite_template,  # type: ignore[no-untyped-def]
    config,
    monkeypatch,
) -> None:
    import shutil
    import sqlite3

    path = tmp_path / "busy.db"
    shutil.copy(sqlite_template, path)
    monkeypatch.setattr(db, "SQLITE_BUSY_MS", 50)
    core = AuthCore(db.make_engine(f"sqlite:///{path}"), config, actor="t")
    try:
        u = core.users.create("busy@example.com", "busy")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(DatabaseUnavailable, match="locked"):
                core.admin.revoke_tokens(u.id, "x")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert core.admin.revoke_tokens(u.id, "x").new_version == 1
    finally:
        core.dispose()


def test_concurrent_bumps_disables_and_session_deletes_do_not_deadlock(core: AuthCore) -> None:
    """Every audited change locks the user row, then the audit head (PostgreSQL)."""
    u = core.users.create("mix@example.com", "mix")
    errors: list[BaseException] = []

    def run(fn: Any) -> None:
        try:
            for _ in range(40):
                fn()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def login() -> None:
        with contextlib.suppress(UserDisabled):  # once disabled, a login is refused (18.1)
            core.sessions.create(u.id)

    jobs = [lambda: core.admin.revoke_tokens(u.id, "mix")] * 3 + [
        lambda: core.admin.set_disabled(u.id, True, "mix"),
        lambda: core.admin.delete_sessions(u.id, "mix"),
        login,
    ]
    ts = [threading.Thread(target=run, args=(j,)) for j in jobs]
    [t.start() for t in ts]
    [t.join(timeout=120) for t in ts]
    assert not any(t.is_alive() for t in ts), "deadlock"
    assert not errors, repr(errors[0])
    assert core.users.get(u.id).token_version == 160  # 120 revokes + 40 disables (18.10)
    rep = audit.verify_chain(core.engine)
    assert rep.ok and rep.checked == 200


# -- PostgreSQL: NOTIFY only on commit, one payload format, lost connections ------------------


@pytest.fixture
def pg_core(pg_url: str, config) -> Any:  # type: ignore[no-untyped-def]
    from tests.conftest import reset_pg

    reset_pg(pg_url)
    core = AuthCore(db.make_engine(pg_url), config, actor="t")
    yield core
    core.dispose()


def _listener(url: str) -> Any:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = psycopg.connect(
        host=u.host,
        port=u.port or 5432,
        user=u.username,
        password=u.password,
        dbname=u.database,
        autocommit=True,
    )
    conn.execute(f"LISTEN {notices.CHANNEL}")
    return conn


def _drain(conn: Any, wait: float) -> list[str]:
    return [n.payload for n in conn.notifies(timeout=wait, stop_after=None)]


def test_pg_notice_sent_on_commit_only_with_the_same_payload(
    pg_core: AuthCore, pg_url: str, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    u = pg_core.users.create("n@example.com", "n")
    s, _ = pg_core.sessions.create(u.id)
    listen = _listener(pg_url)
    try:
        pg_core.admin.revoke_tokens(u.id, "x")
        assert _drain(listen, 1.0) == [
            json.dumps({"k": "version", "u": [u.id], "v": [1]}, separators=(",", ":"))
        ]
        pg_core.admin.delete_session(s.public_id, "x")
        assert _drain(listen, 1.0) == [
            json.dumps({"k": "session", "u": u.id, "s": [s.public_id]}, separators=(",", ":"))
        ]
        real = audit.append

        def append_then_fail(*a: Any, **k: Any) -> int:
            real(*a, **k)
            raise RuntimeError("injected after the audit rows")

        monkeypatch.setattr(audit, "append", append_then_fail)
        with pytest.raises(RuntimeError):
            pg_core.admin.revoke_tokens(u.id, "x")
        monkeypatch.undo()
        assert _drain(listen, 0.5) == []
        assert pg_core.users.get(u.id).token_version == 1
    finally:
        listen.close()


def test_pg_bump_survives_killed_idle_connections(pg_core: AuthCore) -> None:
    u = pg_core.users.create("k@example.com", "k")
    pg_core.admin.revoke_tokens(u.id, "warm")
    conns = fastpath.connections(pg_core.engine)
    pids = [c.info.backend_pid for c in conns.idle]
    assert pids
    with pg_core.engine.connect() as c:
        for pid in pids:
            c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    assert pg_core.admin.revoke_tokens(u.id, "after kill").new_version == 2
    assert audit.verify_chain(pg_core.engine).ok


def test_pg_connection_lost_mid_bump_is_unavailable_and_nothing_commits(
    pg_core: AuthCore, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    u = pg_core.users.create("m@example.com", "m")
    real = audit.append

    def kill_own_backend(conn: Any, *a: Any, **k: Any) -> int:
        pid = conn._conn.info.backend_pid  # the RawTx's driver connection
        with pg_core.engine.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        return real(conn, *a, **k)

    monkeypatch.setattr(audit, "append", kill_own_backend)
    with pytest.raises(DatabaseUnavailable):
        pg_core.admin.revoke_tokens(u.id, "x")
    monkeypatch.undo()
    assert pg_core.users.get(u.id).token_version == 0
    assert _count(pg_core, audit_events) == 0
    assert pg_core.admin.revoke_tokens(u.id, "x").new_version == 1  # the dead one was dropped
    assert all(not c.closed for c in fastpath.connections(pg_core.engine).idle)


def test_pg_bump_locks_user_before_head(pg_core: AuthCore) -> None:
    """While the bump waits for a user row another transaction holds, it must not hold the
    audit head (every other audited change takes the user row, then the head: holding the head
    while waiting for a user row could deadlock with them)."""
    u = pg_core.users.create("order@example.com", "order")
    with pg_core.engine.connect() as holder:
        holder.begin()
        holder.execute(select(users.c.id).where(users.c.id == u.id).with_for_update())
        done = threading.Event()
        res: list[Any] = []

        def bump() -> None:
            try:
                res.append(pg_core.admin.revoke_tokens(u.id, "x"))
            except BaseException as e:  # noqa: BLE001
                res.append(e)
            done.set()

        t = threading.Thread(target=bump)
        t.start()
        assert not done.wait(0.5)  # waits on the user row ...
        with pg_core.engine.connect() as probe:  # ... without holding the audit head
            probe.begin()
            probe.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            probe.exec_driver_sql("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")
            probe.rollback()
        holder.rollback()
        t.join(10)
    assert res and not isinstance(res[0], BaseException) and res[0].new_version == 1


def test_missing_audit_head_is_reported_not_a_missing_user(core) -> None:  # type: ignore[no-untyped-def]
    """The head row is the schema's: without it a revocation refuses with the upgrade advice
    (not 'no user'), and nothing changes."""
    import pytest
    from sqlalchemy import delete, select

    from authcore.models import audit_head, users

    u = core.users.create("head@example.com", "head")
    with core.engine.begin() as conn:
        conn.execute(delete(audit_head))
    with pytest.raises(RuntimeError, match="audit_head row is missing"):
        core.admin.revoke_tokens(u.id, "rotate")
    with core.engine.connect() as conn:
        assert conn.execute(select(users.c.token_version).where(users.c.id == u.id)).scalar() == 0


def test_a_forked_child_never_takes_the_parents_idle_connection(core: AuthCore) -> None:
    """The stack knows a fork by ``os.register_at_fork`` (no ``os.getpid()`` a statement): in the
    child, the parent's idle connection is neither handed out nor closed, and the parent's
    still works afterwards. ``AuthCore``'s fork hook (engine dispose) may run before the stack's
    own: a first version compared the fork counter in ``discard`` too, and the child closed the
    parent's PostgreSQL connection here."""
    import os

    stack = fastpath.connections(core.engine)
    mine = stack.get()
    stack.put(mine)
    assert stack.idle[-1] is mine
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running the parent's cleanup
        try:
            got = stack.get()
            report = {"same": got is mine, "parent_idle_left": any(c is mine for c in stack.idle)}
            stack.discard(got)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            report = {"error": repr(exc)}
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        report = json.loads(f.read())
    os.waitpid(pid, 0)
    assert report == {"same": False, "parent_idle_left": False}
    assert stack.get() is mine
    try:
        assert mine.execute("SELECT 1").fetchone()[0] == 1  # the child did not close it
    finally:
        stack.put(mine)
