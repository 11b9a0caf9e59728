"""Bulk load: the named users and generated batches inserted through authcore's connection.

Inserts go in batches through the connection authcore holds: ``executemany`` of one statement
compiled once by SQLAlchemy Core on SQLite, binary ``COPY ... FROM STDIN`` on PostgreSQL. User
ids are allocated up front (SQLite: under the batch's write lock; PostgreSQL: from the
sequence), so no RETURNING round trip is needed to attach sessions to users.

Into empty tables the whole load is one transaction that drops the secondary indexes first and
builds them after (``authcore.demo.indexes``); into tables that hold users, one transaction per
batch with every index kept up to date.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from authcore.compiled import Compiled, PerDialect, once
from authcore.db import is_postgres, read_conn, translate_errors, unbounded, write_tx
from authcore.demo import indexes
from authcore.demo.generate import SESSION_COLS, USER_COLS, generate_batch, named_session
from authcore.demo.indexes import FTS_INSERT_TRIGGER
from authcore.demo.people import NAMED_EMAILS, named_users
from authcore.models import sessions, users
from authcore.timeutil import utcnow

BATCH = 25_000  # users per transaction (fewer, larger commits rewrite fewer index pages)
# Binary COPY types, column for column (PostgreSQL).
PG_USER_TYPES = ("int8", "text", "text", "text", "timestamptz", "timestamptz", "bool", "timestamptz", "int4")
PG_SESSION_TYPES = (
    "text",
    "text",
    "int8",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "text",
    "text",
    "text",
    "int4",
)

SQLITE_BULK_CACHE_KIB = 512 * 1024  # page cache while seeding: the random-key indexes fit

Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class DemoSummary:
    users: int
    sessions: int
    named: tuple[str, ...]


_INSERTS: dict[tuple[str, tuple[str, ...]], PerDialect[Compiled]] = {}


def _insert_sql(conn: Connection, table: Any, cols: tuple[str, ...]) -> str:
    """``INSERT INTO t (cols) VALUES (?, ...)``: Core's insert compiled once per dialect
    (``authcore.compiled``, as every fast path's statement)."""
    per = _INSERTS.get((table.name, cols))
    if per is None:
        per = _INSERTS[(table.name, cols)] = once(insert(table), column_keys=list(cols))
    return per(conn.dialect).sql


class BulkWriter:
    """Batched bulk inserts through one authcore connection (inside its transaction).

    SQLite: ``executemany`` of a Core-compiled INSERT, rows passed straight to the driver. The
    FTS5 trigram trigger is suspended for the batch (dropped and re-created inside the same write
    transaction, so no other writer can see it missing) and the batch is indexed with one
    ``INSERT ... SELECT``: a per-row trigger makes FTS5 flush at every statement (~6x slower).
    With the trigger already dropped for the whole load (``indexes.suspend``) rows just go in,
    and the caller indexes them with ``index_search`` at the end.
    PostgreSQL: binary ``COPY FROM STDIN`` on the connection's psycopg handle.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = is_postgres(conn)

    def allocate_user_ids(self, n: int) -> list[int]:
        """``n`` fresh user ids (call inside the batch's transaction)."""
        if self.postgres:
            rows = self.conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('users', 'id')) FROM generate_series(1, %(n)s)",
                {"n": n},
            )
            return sorted(r[0] for r in rows)
        start = int(self.conn.execute(select(func.coalesce(func.max(users.c.id), 0))).scalar_one())
        return list(range(start + 1, start + 1 + n))

    def _copy(
        self, table: str, cols: tuple[str, ...], types: tuple[str, ...], rows: list[tuple[Any, ...]]
    ) -> None:
        # psycopg's own Connection: the PEP 249 type SQLAlchemy gives has no context cursor or COPY
        dbapi: Any = self.conn.connection.dbapi_connection
        assert dbapi is not None
        with (
            dbapi.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as cp,
        ):
            cp.set_types(list(types))
            write = cp.write_row
            for row in rows:
                write(row)

    def users(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert users (tuples in ``USER_COLS`` order, ids ascending)."""
        if not rows:
            return
        if self.postgres:
            self._copy("users", USER_COLS, PG_USER_TYPES, rows)
            return
        sql = _insert_sql(self.conn, users, USER_COLS)
        run = self.conn.exec_driver_sql
        trigger = indexes.fts_trigger(self.conn)
        if trigger is None:  # schema before 0003 (no trigram table), or suspended for the load
            run(sql, rows)
            return
        run(f"DROP TRIGGER {FTS_INSERT_TRIGGER}")
        run(sql, rows)
        self.index_search(rows[0][0], rows[-1][0])
        run(trigger)

    def index_search(self, first: int, last: int) -> None:
        """SQLite: users ``first``..``last`` (ids) into the FTS5 trigram index, in one statement."""
        self.conn.exec_driver_sql(
            "INSERT INTO users_trgm(rowid, email, username, display_name) "
            "SELECT id, email, username, display_name FROM users WHERE id BETWEEN ? AND ?",
            (first, last),
        )

    def sessions(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert sessions (tuples in ``SESSION_COLS`` order)."""
        if not rows:
            return
        if self.postgres:
            self._copy("sessions", SESSION_COLS, PG_SESSION_TYPES, rows)
        else:
            self.conn.exec_driver_sql(_insert_sql(self.conn, sessions, SESSION_COLS), rows)


def _addnamed_users(conn: Connection, rng: random.Random, now: datetime) -> tuple[list[str], int]:
    """The named users not there yet, and their sessions (inside the caller's transaction)."""
    named: list[str] = []
    n_sessions = 0
    for user, sess in named_users(now):
        exists = conn.execute(select(users.c.id).where(func.lower(users.c.email) == user["email"])).first()
        if exists:  # draw its sessions anyway: the next user's ids stay as on a first run
            for age, ttl, agent, ip in sess:
                named_session(rng, 0, now - age, ttl, now, agent, ip)
            continue
        uid = conn.execute(insert(users).returning(users.c.id), user).scalar_one()
        named.append(user["email"])
        for age, ttl, agent, ip in sess:
            conn.execute(insert(sessions), named_session(rng, uid, now - age, ttl, now, agent, ip))
            n_sessions += 1
    return named, n_sessions


def present(engine: Engine) -> tuple[tuple[str, ...], int]:
    """The named demo users already in the database (emails), and how many users there are."""
    with read_conn(engine) as conn:
        named = (
            conn.execute(select(users.c.email).where(func.lower(users.c.email).in_(NAMED_EMAILS)))
            .scalars()
            .all()
        )
        total = int(conn.execute(select(func.count()).select_from(users)).scalar_one())
    return tuple(sorted(named, key=NAMED_EMAILS.index)), total


def _count(conn: Connection, table: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def seed(
    engine: Engine,
    n_users: int = 1000,
    *,
    rng_seed: int = 42,
    now: datetime | None = None,
    sessions_per_user: float = 3.0,
    refresh_ttl: timedelta = timedelta(days=30),
    progress: Progress | None = None,
    batch: int = BATCH,
    analyze: bool = True,
    defer_indexes: bool = True,
) -> DemoSummary:
    """Add the named demo users (once) and ``n_users`` generated users with ~3 sessions each.

    Safe to run again on the same database: named users already there are skipped, and the
    generated users are new ones (fresh ids, session ids and digests).

    Into empty users/sessions tables (and ``defer_indexes``): one transaction for the whole load,
    named users included, the secondary indexes dropped before the generated ones and built after
    (``authcore.demo.indexes``); it holds the write lock (PostgreSQL: both tables' ACCESS
    EXCLUSIVE lock) throughout, and if it fails nothing is left. Otherwise one transaction per
    batch of ``batch`` users, every index kept up to date. The rows are the same either way
    (same generator, same batches, same ids). ``progress(users_done, n_users, sessions_done)``
    after each batch (the last one once the indexes are built). On PostgreSQL the tables are
    analyzed at the end (fresh planner statistics for search), unless ``analyze=False``.
    """
    rng = random.Random(rng_seed)
    now = now or utcnow()
    with read_conn(engine) as conn:
        before = _count(conn, users)
        fast = defer_indexes and n_users > 0 and before == 0 and _count(conn, sessions) == 0
    named: list[str] = []
    total_sessions = 0
    if not fast:
        with write_tx(engine) as conn:
            named, total_sessions = _addnamed_users(conn, rng, now)
    if before:
        # Seeding a database that has users (a second ``demo``): the first run's stream would
        # repeat its session ids and digests (unique columns). Draw from a stream of its own.
        rng = random.Random(f"{rng_seed}:{before}:{now.timestamp()}")
    postgres = engine.dialect.name == "postgresql"
    batch = max(1, min(batch, max(1000, n_users // 20)))  # >= 20 progress steps when possible
    # A batch's COPY, the index builds and the final ANALYZE may outlast statement_timeout on a
    # big or busy server: lifted for these transactions (SET LOCAL) and no client answer deadline.
    with translate_errors(engine), unbounded(), engine.connect() as conn:
        conn = conn.execution_options(authcore_write=True)
        writer = BulkWriter(conn)
        dbapi: Any = conn.connection.dbapi_connection
        if not postgres:
            cache = dbapi.execute("PRAGMA cache_size").fetchone()[0]
            dbapi.execute(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
        done = 0
        held: tuple[int, int] | None = None  # the last progress report, until the indexes exist
        span = [0, 0]  # the first and last generated user id

        def load_batch() -> None:
            nonlocal done, total_sessions, held
            if held is not None and progress:
                progress(*held, total_sessions)
            n = min(batch, n_users - done)
            ids = writer.allocate_user_ids(n)
            span[:] = [span[0] or ids[0], ids[-1]]
            user_rows, session_rows = generate_batch(
                rng, ids, now, refresh_ttl, postgres=postgres, sessions_per_user=sessions_per_user
            )
            writer.users(user_rows)
            writer.sessions(session_rows)
            done += n
            total_sessions += len(session_rows)
            held = (done, n_users)

        def unbound() -> None:
            if postgres:
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")

        journal = fast and not postgres and indexes.leave_wal(dbapi)
        try:
            if fast:
                with conn.begin():
                    unbound()
                    indexes.lock(conn)
                    named, total_sessions = _addnamed_users(conn, rng, now)  # indexed as usual
                    # (a row another writer added since the count above only means its
                    # indexes are rebuilt too: its search rows came with its own insert)
                    deferred = indexes.suspend(conn)
                    while done < n_users:
                        load_batch()
                    if deferred.fts_trigger is not None:
                        writer.index_search(*span)
                    indexes.rebuild(conn, deferred)
            else:
                while done < n_users:
                    with conn.begin():
                        unbound()
                        load_batch()
                    if progress and held is not None:
                        progress(*held, total_sessions)
                        held = None
            if progress and held is not None:
                progress(*held, total_sessions)
        finally:
            if not postgres:
                dbapi.execute(f"PRAGMA cache_size = {int(cache)}")
            if journal:
                indexes.back_to_wal(dbapi)
                # and not back in the pool: after the switches this connection gets "database
                # table is locked" from a later wal_checkpoint (a fresh connection does not)
                conn.invalidate()
        if postgres and analyze and done:
            with conn.begin():
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                conn.exec_driver_sql("ANALYZE users")
                conn.exec_driver_sql("ANALYZE sessions")
    return DemoSummary(len(named) + done, total_sessions, tuple(named))
