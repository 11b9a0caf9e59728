"""Bulk demo seeding: ``authcore.demo.seed`` vs the same rows inserted through the raw driver.

Both sides start from the same freshly migrated, empty database, generate the same rows with the
same generator (``demo.generate_batch``, same seed and clock) in the same batches, and load them
the same way, the bulk-load recipe ``seed`` uses on empty tables: one transaction that drops the
secondary indexes (read from the catalog) and the FTS5 insert trigger, inserts every batch, then
indexes the users for search and creates the indexes and trigger again. SQLite: ``executemany``
with the same page cache size; PostgreSQL: binary ``COPY`` with ids from the sequence, the same
``maintenance_work_mem`` for the builds, then ``ANALYZE``. What is left is what authcore adds on
top of the driver (statement compilation, its connection stack, the catalog reads).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.context import Ctx, raw_connect
from bench.datasets import label, pg_admin_url
from bench.harness import Row

TTL = timedelta(days=30)


def _raw_seed_sqlite(url: str, n: int, now: datetime, batch: int) -> None:
    from authcore import demo

    conn = raw_connect(url)
    conn.execute(f"PRAGMA cache_size = -{demo.SQLITE_BULK_CACHE_KIB}")
    rng = random.Random(42)
    ucols, scols = ", ".join(demo.USER_COLS), ", ".join(demo.SESSION_COLS)
    uins = f"INSERT INTO users ({ucols}) VALUES ({', '.join('?' * len(demo.USER_COLS))})"
    sins = f"INSERT INTO sessions ({scols}) VALUES ({', '.join('?' * len(demo.SESSION_COLS))})"
    conn.execute("BEGIN IMMEDIATE")
    _raw_named(conn, rng, now, pg=False)
    built = conn.execute(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('users', 'sessions') "
        "AND sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    trig = conn.execute(
        "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = ?", (demo.FTS_INSERT_TRIGGER,)
    ).fetchone()[0]
    for name, _ in built:
        conn.execute(f'DROP INDEX "{name}"')
    conn.execute(f"DROP TRIGGER {demo.FTS_INSERT_TRIGGER}")
    first = 0
    done = 0
    while done < n:
        k = min(batch, n - done)
        start = conn.execute("SELECT coalesce(max(id), 0) FROM users").fetchone()[0]
        ids = list(range(start + 1, start + 1 + k))
        first = first or ids[0]
        users, sessions = demo.generate_batch(rng, ids, now, TTL, postgres=False)
        conn.executemany(uins, users)
        conn.executemany(sins, sessions)
        done += k
    conn.execute(
        "INSERT INTO users_trgm(rowid, email, username, display_name) SELECT id, "
        "email, username, display_name FROM users WHERE id BETWEEN ? AND ?",
        (first, first + n - 1),
    )
    for _, sql in built:
        conn.execute(sql)
    conn.execute(trig)
    conn.execute("COMMIT")
    conn.close()


def _raw_named(conn: Any, rng: random.Random, now: datetime, pg: bool) -> None:
    """The three named users and their sessions, as ``seed`` adds them (same rng draws), in the
    caller's transaction (the load's: into empty tables ``seed`` adds them in it)."""
    from authcore import demo

    ph = "%s" if pg else "?"

    def ts(dt: datetime) -> Any:
        return dt if pg else dt.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    for user, sess in demo.named_users(now):
        uid = conn.execute(
            f"INSERT INTO users (email, username, display_name, created_at, last_login_at, "
            f"disabled, disabled_at, token_version) VALUES ({', '.join([ph] * 8)}) RETURNING id",
            (
                user["email"],
                user["username"],
                user["display_name"],
                ts(user["created_at"]),
                ts(user["last_login_at"]),
                user["disabled"],
                ts(user["disabled_at"]) if user["disabled_at"] else None,
                user["token_version"],
            ),
        ).fetchone()[0]
        for age, ttl, agent, ip in sess:
            s = demo.named_session(rng, uid, now - age, ttl, now, agent, ip)
            conn.execute(
                f"INSERT INTO sessions ({', '.join(s)}) VALUES ({', '.join([ph] * len(s))})",
                tuple(ts(v) if isinstance(v, datetime) else v for v in s.values()),
            )


def _raw_seed_pg(url: str, n: int, now: datetime, batch: int) -> None:
    import psycopg

    from authcore import demo
    from bench.context import raw_connect as _rc

    conn = _rc(url)
    conn.autocommit = False
    rng = random.Random(42)
    done = 0
    with conn.cursor() as cur:
        cur.execute("SET LOCAL statement_timeout = 0")
        cur.execute("LOCK TABLE users, sessions IN ACCESS EXCLUSIVE MODE")
        cur.execute(f"SET LOCAL maintenance_work_mem = '{demo.PG_BUILD_MEM}'")
        _raw_named(conn, rng, now, pg=True)
        built = cur.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid IN ('users'::regclass, 'sessions'::regclass) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
            "ORDER BY i.indrelid, i.indexrelid"
        ).fetchall()
        for name, _ in built:
            cur.execute(f"DROP INDEX {name}")
        while done < n:
            k = min(batch, n - done)
            ids = sorted(
                r[0]
                for r in cur.execute(
                    "SELECT nextval(pg_get_serial_sequence('users', 'id')) FROM generate_series(1, %s)", (k,)
                )
            )
            users, sessions = demo.generate_batch(rng, ids, now, TTL, postgres=True)
            for table, cols, types, rows in (
                ("users", demo.USER_COLS, demo.PG_USER_TYPES, users),
                ("sessions", demo.SESSION_COLS, demo.PG_SESSION_TYPES, sessions),
            ):
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(list(types))
                    for row in rows:
                        cp.write_row(row)
            done += k
        for _, sql in built:
            cur.execute(sql)
    conn.commit()
    conn.execute("ANALYZE users")
    conn.execute("ANALYZE sessions")
    conn.commit()
    conn.close()
    assert isinstance(conn, psycopg.Connection)


def _batch(n: int) -> int:
    from authcore import demo

    return max(1, min(demo.BATCH, max(1000, n // 20)))  # what seed() picks


def _sides(
    fresh: Callable[[], str], raw_seed: Callable[[str, int, datetime, int], None], n: int, now: datetime
) -> tuple[Callable[[], float], Callable[[], float]]:
    """Seconds to seed ``n`` users into a fresh database: ``demo.seed``, and ``raw_seed``."""
    from authcore import demo
    from authcore.db import make_engine

    def ours() -> float:
        engine = make_engine(fresh())
        t0 = time.perf_counter()
        demo.seed(engine, n, now=now)
        took = time.perf_counter() - t0
        engine.dispose()
        return took

    def raw() -> float:
        url = fresh()
        t0 = time.perf_counter()
        raw_seed(url, n, now, _batch(n))
        return time.perf_counter() - t0

    return ours, raw


def run(ctx: Ctx) -> None:
    from authcore import migrate
    from authcore.db import make_engine

    n = 5_000 if ctx.quick else 100_000
    now = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)
    reps = 1 if ctx.quick else 2
    if "sqlite" in ctx.engines:
        with tempfile.TemporaryDirectory() as tmp:
            tpl = Path(tmp) / "tpl.db"
            e = make_engine(f"sqlite:///{tpl}")
            migrate.upgrade(e)
            with e.connect() as c:
                c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            e.dispose()

            def fresh() -> str:
                path = Path(tmp) / f"{uuid.uuid4().hex}.db"
                shutil.copy(tpl, path)
                return f"sqlite:///{path}"

            a, b = _alternate(*_sides(fresh, _raw_seed_sqlite, n, now), reps)
        ctx.add(
            Row(
                "seed sqlite",
                f"demo seed {label(n)} users (~3 sessions each)",
                min(a),
                "same rows, same statements, raw sqlite3",
                min(b),
                1.5,
                unit="s",
            )
        )
    admin = pg_admin_url()
    if "postgresql" in ctx.engines and admin:
        from sqlalchemy import text

        adm = make_engine(admin, isolation_level="AUTOCOMMIT")
        base = admin.rsplit("/", 1)[0]
        tpl_name = f"bench_seed_tpl_{uuid.uuid4().hex[:8]}"
        made = [tpl_name]
        try:
            with adm.connect() as c:
                c.execute(text(f'CREATE DATABASE "{tpl_name}"'))
            e = make_engine(f"{base}/{tpl_name}")
            migrate.upgrade(e)
            e.dispose()

            def fresh_pg() -> str:
                name = f"bench_seed_{uuid.uuid4().hex[:8]}"
                made.append(name)
                with adm.connect() as c:
                    c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{tpl_name}"'))
                return f"{base}/{name}"

            a, b = _alternate(*_sides(fresh_pg, _raw_seed_pg, n, now), reps)
            ctx.add(
                Row(
                    "seed postgresql",
                    f"demo seed {label(n)} users (~3 sessions each)",
                    min(a),
                    "same rows, same COPY, raw psycopg",
                    min(b),
                    1.5,
                    unit="s",
                )
            )
        finally:
            with adm.connect() as c:
                for name in reversed(made):
                    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            adm.dispose()


def _alternate(a: Any, b: Any, reps: int) -> tuple[list[float], list[float]]:
    xa: list[float] = []
    xb: list[float] = []
    for i in range(reps):
        for fn in (a, b) if i % 2 == 0 else (b, a):
            (xa if fn is a else xb).append(fn())
    return xa, xb
