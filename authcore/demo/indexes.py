"""Secondary indexes built after a bulk load into empty tables, instead of row by row.

A seed into empty ``users``/``sessions`` drops the indexes that no constraint owns (and SQLite's
FTS5 insert trigger), loads, then creates them again: one sorted build per index instead of a
B-tree insert per row, which on random keys (the ``lower()`` indexes, PostgreSQL's trigram GIN)
outgrows the page cache within the first million users and slows every later batch.

The definitions are read from the database's own catalog just before the drop
(``pg_get_indexdef``, ``sqlite_schema.sql``): exactly what the migrations created, at whatever
revision the database is (0001's ``lower()`` indexes and 0011's ``COLLATE "C"`` exist only as
migration SQL), never retyped here. Constraint indexes stay: primary keys, the ``UNIQUE``
``public_id``/``token_hash`` (SQLite cannot drop those, and they catch a duplicate as it loads).

Everything runs inside the caller's transaction, and DDL is transactional on both engines: a seed
that dies midway rolls back to the tables as they were, indexes and trigger included.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from authcore.db import SQLITE_BUSY_MS, is_postgres

FTS_INSERT_TRIGGER = "users_trgm_ai"  # migration 0003
# PostgreSQL, for this transaction only (SET LOCAL): the sort of a 30M-row B-tree and the
# trigram GIN's entry accumulation run in memory instead of in many merge passes on disk.
PG_BUILD_MEM = "1GB"

_PG_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid IN ('users'::regclass, 'sessions'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY i.indrelid, i.indexrelid
"""
# ``sql IS NULL``: the automatic indexes of PRIMARY KEY / UNIQUE constraints
_SQLITE_INDEXES = """
SELECT name, sql FROM sqlite_schema
WHERE type = 'index' AND tbl_name IN ('users', 'sessions') AND sql IS NOT NULL
ORDER BY rowid
"""


@dataclass(frozen=True)
class Deferred:
    """What ``suspend`` dropped: ``(name, CREATE statement)`` per index, in catalog order, and
    SQLite's FTS5 insert trigger (None: PostgreSQL, or a schema before 0003)."""

    indexes: tuple[tuple[str, str], ...]
    fts_trigger: str | None


def leave_wal(dbapi: Any) -> bool:
    """SQLite: put the load's one transaction in a rollback journal instead of the WAL, when this
    is the database's only connection (True; ``back_to_wal`` after). In the WAL, a transaction
    holds every page it writes until it commits (the file reaches the database's size: ~2 GB at
    1M users) and each page read that misses the cache searches the WAL's whole index, which
    grows with it; in a rollback journal new pages go straight into the database file and only
    the few pages that existed before are journaled (a crash is rolled back on the next open).
    Any other connection (another process, another pooled one) keeps the WAL (False)."""
    try:
        dbapi.execute("PRAGMA busy_timeout = 0")
        # fetchall: a statement left unfinished would keep the file locked for this connection
        mode = dbapi.execute("PRAGMA journal_mode = TRUNCATE").fetchall()[0][0]
    except sqlite3.OperationalError:  # database is locked: someone else has it open
        return False
    finally:
        dbapi.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
    return str(mode).lower() == "truncate"


def back_to_wal(dbapi: Any) -> None:
    """SQLite: the WAL again (what every authcore connection sets), after ``leave_wal``."""
    dbapi.execute("PRAGMA journal_mode = WAL").fetchall()


def secondary_indexes(conn: Connection) -> tuple[tuple[str, str], ...]:
    """``(name, CREATE statement)`` of each index on users and sessions that no constraint owns,
    as the catalog holds it (PostgreSQL: the name as ``regclass`` prints it, quoted if needed)."""
    sql = _PG_INDEXES if is_postgres(conn) else _SQLITE_INDEXES
    return tuple((r[0], r[1]) for r in conn.exec_driver_sql(sql))


def fts_trigger(conn: Connection) -> str | None:
    """SQLite: the FTS5 insert trigger's ``CREATE TRIGGER`` (None before 0003 or on PostgreSQL)."""
    if is_postgres(conn):
        return None
    found = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = ?", (FTS_INSERT_TRIGGER,)
    ).scalar()
    return None if found is None else str(found)


def lock(conn: Connection) -> None:
    """PostgreSQL: both tables' ACCESS EXCLUSIVE lock for the caller's transaction (under the
    connection's ``lock_timeout``), so nothing reads or writes them until the load commits, and
    ``PG_BUILD_MEM`` for its index builds. SQLite: the write transaction (``BEGIN IMMEDIATE``)
    already excludes other writers; readers see the last commit."""
    if is_postgres(conn):
        conn.exec_driver_sql("LOCK TABLE users, sessions IN ACCESS EXCLUSIVE MODE")
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_BUILD_MEM}'")


def suspend(conn: Connection) -> Deferred:
    """Drop the secondary indexes of users and sessions (and the FTS5 insert trigger), inside
    the caller's transaction (after ``lock``), returning what ``rebuild`` needs to put them
    back."""
    deferred = Deferred(secondary_indexes(conn), fts_trigger(conn))
    quote = conn.dialect.identifier_preparer.quote
    for name, _ in deferred.indexes:
        conn.exec_driver_sql(f"DROP INDEX {name if is_postgres(conn) else quote(name)}")
    if deferred.fts_trigger is not None:
        conn.exec_driver_sql(f"DROP TRIGGER {FTS_INSERT_TRIGGER}")
    return deferred


def rebuild(conn: Connection, deferred: Deferred) -> None:
    """Create again what ``suspend`` dropped, statement for statement (the FTS5 rows of the
    loaded users are the caller's: ``BulkWriter.index_search``, before this)."""
    for _, create in deferred.indexes:
        conn.exec_driver_sql(create)
    if deferred.fts_trigger is not None:
        conn.exec_driver_sql(deferred.fts_trigger)
