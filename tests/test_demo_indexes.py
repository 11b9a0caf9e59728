"""authcore.demo.indexes: a seed into empty tables drops the secondary indexes, loads and builds
them again; afterwards the schema is the migrated one, object for object (index definitions,
SQLite's FTS5 trigger and a consistent trigram index), the rows are the ones the per-batch path
writes, a seed that dies midway leaves every index in place, and a seed into tables that hold
users keeps its indexes throughout. Both engines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from authcore import demo
from authcore.core import AuthCore
from authcore.demo import indexes
from authcore.errors import AuthCoreError
from authcore.models import sessions, users

NOW = datetime(2026, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)
N = 120


def schema(engine: Engine) -> set[tuple[Any, ...]]:
    """Every index, trigger and constraint of the database as its catalog spells them."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type IN ('index', 'trigger')"
            )
            return {tuple(r) for r in rows}
        rows = conn.exec_driver_sql(
            "SELECT 'index', indexname, tablename, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() "
            "UNION ALL SELECT 'trigger', tgname, tgrelid::regclass::text, pg_get_triggerdef(oid) "
            "FROM pg_trigger WHERE NOT tgisinternal "
            "UNION ALL SELECT 'constraint', conname, conrelid::regclass::text, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"
        )
        out = {tuple(r) for r in rows}
        invalid = conn.exec_driver_sql("SELECT count(*) FROM pg_index WHERE NOT indisvalid").scalar_one()
        assert invalid == 0
        return out


def rows(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as conn:
        u = conn.execute(select(users).order_by(users.c.id)).all()
        s = conn.execute(select(sessions).order_by(sessions.c.id)).all()
    return [tuple(r) for r in u], [tuple(r) for r in s]


def test_a_seed_into_empty_tables_leaves_the_migrated_schema(core: AuthCore) -> None:
    engine = core.engine
    migrated = schema(engine)
    with engine.connect() as conn:
        dropped = indexes.secondary_indexes(conn)
    # what the fast path rebuilds: the lower() indexes, the IP ones, the trigram/search ones...
    names = {name.rsplit(".", 1)[-1] for name, _ in dropped}
    assert {"ux_users_email_lower", "ix_users_display_lower_id", "ix_sessions_last_ip"} <= names
    assert ("ix_users_search_trgm" in names) is (engine.dialect.name == "postgresql")
    # ... never a constraint's index
    assert not any("pkey" in n or "autoindex" in n or n.endswith("_key") for n in names)

    summary = demo.seed(engine, N, rng_seed=5, now=NOW, batch=50)
    assert summary.users == N + 3
    assert schema(engine) == migrated
    if engine.dialect.name == "sqlite":  # the trigram index holds exactly the users' rows
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO users_trgm(users_trgm, rank) VALUES ('integrity-check', 1)")
    # every generated user is found by a substring (the trigram phase), and a later user too
    with engine.connect() as conn:
        last = conn.execute(select(users.c.id, users.c.email).order_by(users.c.id.desc())).first()
    assert last is not None
    middle = last.email.split("@")[0][1:-1]
    assert last.id in {u.id for u in core.users.search(middle, limit=500).items}
    later = core.users.create("zz-later@example.com", "zzlater")
    assert [u.id for u in core.users.search("zz-later").items] == [later.id]


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE users, sessions RESTART IDENTITY CASCADE"))
        else:
            conn.execute(text("DELETE FROM sessions"))
            conn.execute(text("DELETE FROM users"))


def test_the_rows_are_the_ones_the_per_batch_path_writes(engine: Engine) -> None:
    demo.seed(engine, N, rng_seed=9, now=NOW, batch=40)
    fast = rows(engine)
    _reset(engine)
    demo.seed(engine, N, rng_seed=9, now=NOW, batch=40, defer_indexes=False)
    slow = rows(engine)
    assert len(fast[0]) == N + 3 and len(fast[1]) > N
    assert fast == slow


class Died(Exception):
    pass


def test_a_seed_that_dies_midway_leaves_every_index(engine: Engine) -> None:
    migrated = schema(engine)
    seen: list[int] = []

    def progress(done: int, total: int, n_sessions: int) -> None:
        seen.append(done)
        if len(seen) == 2:  # inside the load, indexes dropped, two batches in
            raise Died

    with pytest.raises(Died):
        demo.seed(engine, N, rng_seed=5, now=NOW, batch=30, progress=progress)
    assert schema(engine) == migrated
    assert demo.present(engine) == ((), 0)  # all rolled back, the named users too: run it again
    again = demo.seed(engine, N, rng_seed=5, now=NOW, batch=30)
    assert again.named == demo.NAMED_EMAILS and again.users == N + 3
    assert schema(engine) == migrated


def test_a_duplicate_found_by_the_rebuild_rolls_the_load_back(engine: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    migrated = schema(engine)
    real = demo.generate_batch

    def twins(*a: Any, **kw: Any) -> Any:  # every user's email is the same one
        u, s = real(*a, **kw)
        return [(r[0], "twin@example.com", *r[2:]) for r in u], s

    monkeypatch.setattr("authcore.demo.load.generate_batch", twins)
    with pytest.raises(AuthCoreError):
        demo.seed(engine, N, rng_seed=5, now=NOW, batch=30)
    assert schema(engine) == migrated
    assert demo.present(engine) == ((), 0)


def test_a_seed_into_tables_with_users_keeps_its_indexes(engine: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    demo.seed(engine, 10, rng_seed=5, now=NOW)
    migrated = schema(engine)

    def refuse(conn: Any) -> Any:
        raise AssertionError("indexes dropped on a database that holds users")

    monkeypatch.setattr(indexes, "suspend", refuse)
    second = demo.seed(engine, 30, rng_seed=5, now=NOW, batch=10)
    assert second.users == 30 and schema(engine) == migrated


def test_sqlite_loads_in_a_rollback_journal_when_alone_and_returns_to_wal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from authcore import migrate
    from authcore.db import make_engine

    path = tmp_path / "alone.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    migrated = schema(engine)
    seen: list[str] = []

    def progress(done: int, total: int, n_sessions: int) -> None:
        seen.append(str((tmp_path / "alone.db-journal").exists()))

    demo.seed(engine, N, rng_seed=5, now=NOW, batch=30, progress=progress)
    assert "True" in seen  # the load ran with a rollback journal beside the file
    assert schema(engine) == migrated
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    # another connection open: the load stays in the WAL (and still works)
    other = make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    migrate.upgrade(other)
    holder = other.connect()
    holder.exec_driver_sql("SELECT 1").all()
    try:
        with other.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            assert indexes.leave_wal(dbapi) is False
        demo.seed(other, N, rng_seed=5, now=NOW, batch=30)
        assert schema(other) == migrated
    finally:
        holder.close()
        other.dispose()


KILLED = """
import os, signal, sys
from datetime import UTC, datetime
from authcore import demo
from authcore.db import make_engine

def progress(done, total, n_sessions):
    if done >= 60:  # two batches in: the indexes are dropped, the load uncommitted
        os.kill(os.getpid(), signal.SIGKILL)

demo.seed(make_engine(sys.argv[1]), 300, rng_seed=5, now=datetime(2026, 6, 1, tzinfo=UTC),
          batch=30, progress=progress)
"""


def test_a_seed_killed_midway_leaves_every_index(engine: Engine, db_url: str) -> None:
    """SIGKILL in the load: no rollback ran in the process; the database (PostgreSQL: the
    backend on the lost connection; SQLite: the hot journal, on the next open) undoes it."""
    import subprocess
    import sys

    migrated = schema(engine)
    engine.dispose()  # the child's connection is the file's only one (SQLite: the journal path)
    done = subprocess.run([sys.executable, "-c", KILLED, db_url], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    if engine.dialect.name == "sqlite":
        assert Path(db_url.split("///", 1)[1] + "-journal").exists()  # it died in the journal
    else:  # the backend notices the lost client and rolls back; wait for its locks to go
        with engine.connect() as conn:
            conn.exec_driver_sql("SET lock_timeout = '30s'")
            conn.exec_driver_sql("LOCK TABLE users IN ACCESS SHARE MODE")
    assert schema(engine) == migrated
    assert demo.present(engine) == ((), 0)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert demo.seed(engine, 40, rng_seed=5, now=NOW).users == 43
