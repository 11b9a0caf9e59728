"""authcore.demo.load: ``BulkWriter`` puts generated rows in with the bulk paths (executemany
of one Core-compiled INSERT on SQLite, binary COPY on PostgreSQL) and they read back through
the library like rows it wrote itself; SQLite's trigram index is kept in step (both engines).
``seed`` end to end: tests/test_demo.py."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import text

from authcore.core import AuthCore
from authcore.demo.generate import SESSION_COLS, USER_COLS, generate_batch
from authcore.demo.indexes import FTS_INSERT_TRIGGER
from authcore.demo.load import BulkWriter, _insert_sql
from authcore.models import sessions, users
from authcore.timeutil import utcnow

TTL = timedelta(days=30)


def _write(core: AuthCore, n: int, seed: int = 1) -> tuple[list[int], int]:
    now = utcnow()
    with core.engine.connect() as conn, conn.begin():
        writer = BulkWriter(conn)
        ids = writer.allocate_user_ids(n)
        user_rows, session_rows = generate_batch(random.Random(seed), ids, now, TTL, postgres=writer.postgres)
        writer.users(user_rows)
        writer.sessions(session_rows)
    return ids, len(session_rows)


def test_ids_are_fresh_and_rows_read_back(core: AuthCore) -> None:
    first = core.users.create("first@example.com", "first")
    ids, n_sessions = _write(core, 40)
    assert len(ids) == len(set(ids)) == 40 and min(ids) > first.id
    assert ids == sorted(ids)
    got = [core.users.get(i) for i in ids]
    assert sum(u.active_sessions for u in got) <= n_sessions
    u = got[0]
    assert core.users.find(u.username).id == u.id
    assert u.created_at.tzinfo is not None
    # the app's next user takes an id after the bulk ones (the sequence moved on PostgreSQL)
    assert core.users.create("after@example.com", "after").id > max(ids)
    ids2, _ = _write(core, 5, seed=2)
    assert min(ids2) > max(ids)


def test_bulk_users_are_found_by_substring_search(core: AuthCore) -> None:
    ids, _ = _write(core, 30)
    target = core.users.get(ids[17])
    middle = target.email.split("@")[0][2:-1]  # no prefix of any field: the contains phase
    assert len(middle) >= 3
    assert target.id in {u.id for u in core.users.search(middle, limit=500).items}
    if core.engine.dialect.name == "sqlite":  # the trigger is back for the app's own inserts
        with core.engine.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name = :n"),
                {"n": FTS_INSERT_TRIGGER},
            ).scalar_one()
        assert found == 1
        later = core.users.create("zz-later@example.com", "zzlater")
        assert [u.id for u in core.users.search("later").items] == [later.id]


def test_empty_batches_write_nothing(core: AuthCore) -> None:
    with core.engine.connect() as conn, conn.begin():
        writer = BulkWriter(conn)
        writer.users([])
        writer.sessions([])
    assert core.users.search("").items == []


def test_insert_sql_is_compiled_once_per_dialect(core: AuthCore) -> None:
    with core.engine.connect() as conn:
        sql = _insert_sql(conn, users, USER_COLS)
        assert _insert_sql(conn, users, USER_COLS) is sql  # cached, not recompiled
        cols = sql[sql.index("(") + 1 : sql.index(")")].split(", ")
        assert cols == list(USER_COLS)
        s_sql = _insert_sql(conn, sessions, SESSION_COLS)
        assert s_sql.startswith("INSERT INTO sessions (public_id, token_hash, user_id")
        marker = "?" if conn.dialect.name == "sqlite" else "%(id)s"
        assert marker in sql
