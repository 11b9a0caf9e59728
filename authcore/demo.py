"""Realistic, deterministic demo data, inserted in bulk.

Rows are generated as plain tuples already in the database's storage form (ISO text for SQLite
timestamps, aware datetimes for PostgreSQL), so nothing is converted per value on the way in.
Inserts go in batches through the connection authcore holds: ``executemany`` of one statement
compiled once by SQLAlchemy Core on SQLite, binary ``COPY ... FROM STDIN`` on PostgreSQL.
User ids are allocated up front (SQLite: under the batch's write lock; PostgreSQL: from the
sequence), so no RETURNING round trip is needed to attach sessions to users.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from authcore.db import is_postgres, read_conn, translate_errors, unbounded, write_tx
from authcore.models import sessions, users
from authcore.timeutil import utcnow

FIRST = (
    "james mary robert patricia john jennifer michael linda david elizabeth william barbara "
    "richard susan joseph jessica thomas sarah charles karen chris nancy daniel lisa matthew "
    "betty anthony sandra mark ashley donald kimberly steven emily paul donna andrew michelle "
    "joshua carol kenneth amanda kevin melissa brian deborah george stephanie timothy rebecca "
    "ronald laura jason sharon edward cynthia jeffrey kathleen ryan amy jacob angela gary "
    "shirley nicholas anna eric brenda jonathan pamela stephen emma larry nicole justin helen "
    "scott samantha brandon katherine benjamin christine samuel debra gregory rachel "
    "alexander carolyn frank janet patrick maria raymond olivia jack heather dennis diane "
    "jerry julie tyler joyce aaron victoria jose kelly adam ruth nathan lauren henry christina "
    "zachary joan douglas evelyn peter judith kyle megan noah andrea ethan cheryl jeremy hannah "
    "walter jacqueline christian martha keith gloria roger teresa terry ann austin sara sean "
    "madison gerald frances carl kathryn harold janice dylan jean arthur abigail lawrence "
    "alice yuki wei mohammed fatima priya arjun sofia lucas mateo chloe"
).split()
LAST = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright scott "
    "torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter "
    "roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart "
    "morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed "
    "kelly howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray "
    "mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster jimenez "
    "tanaka schmidt muller rossi dubois novak kowalski singh chen wang li zhang"
).split()
DOMAINS = (
    "example.com example.org example.net mail.example.com corp.example acme.example "
    "globex.example initech.example umbrella.example corp-old.example"
).split()
AGENTS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0 Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15"
    ),
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
    ),
    (
        "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0 Mobile Safari/537.36"
    ),
    "ExampleApp/4.2.1 (iOS 18.1; iPhone15,2)",
    "ExampleApp/4.2.0 (Android 14; SM-S918B)",
    "curl/8.5.0",
)
PUBLIC_NETS = (81, 88, 93, 145, 176, 185, 203)
BATCH = 25_000  # users per transaction (fewer, larger commits rewrite fewer index pages)
# Sessions per generated user: mean exactly 3 (0..8, most users have 1 to 4).
SESSIONS_PER_USER = (0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 8)
USER_COLS = (
    "id",
    "email",
    "username",
    "display_name",
    "created_at",
    "last_login_at",
    "disabled",
    "disabled_at",
    "token_version",
)
SESSION_COLS = (
    "public_id",
    "token_hash",
    "user_id",
    "created_at",
    "last_seen_at",
    "expires_at",
    "first_ip",
    "last_ip",
    "user_agent",
    "refresh_counter",
)
# Binary COPY types, column for column (PostgreSQL).
_PG_USER_TYPES = ("int8", "text", "text", "text", "timestamptz", "timestamptz", "bool", "timestamptz", "int4")
_PG_SESSION_TYPES = (
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

FTS_INSERT_TRIGGER = "users_trgm_ai"  # migration 0003
SQLITE_BULK_CACHE_KIB = 512 * 1024  # page cache while seeding: the random-key indexes fit

Progress = Callable[[int, int, int], None]
_FIRST_T = [f.title() for f in FIRST]
_LAST_T = [name.title() for name in LAST]
_VERSIONS = (0, 0, 0, 0, 1, 1, 2, 3)


@dataclass(frozen=True)
class DemoSummary:
    users: int
    sessions: int
    named: tuple[str, ...]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HMS: list[str] = []


def _timestamps(now: datetime, postgres: bool) -> tuple[int, Callable[[int], Any]]:
    """``now`` in whole epoch seconds, and a converter from epoch seconds to storage form.

    Every generated timestamp keeps ``now``'s microseconds. PostgreSQL gets aware datetimes;
    SQLite gets the text SQLAlchemy's DateTime would write (``YYYY-MM-DD HH:MM:SS.ffffff``),
    assembled from cached day and time-of-day strings (isoformat per value costs more than
    the insert of the row).
    """
    now = now.astimezone(UTC)
    base = int((now - _EPOCH).total_seconds())
    micro = now.microsecond
    if postgres:
        td = timedelta

        def pg(t: int) -> datetime:
            return _EPOCH + td(seconds=t, microseconds=micro)

        return base, pg
    if not _HMS:
        _HMS.extend(f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60))
    hms, suffix = _HMS, f".{micro:06d}"
    days: dict[int, str] = {}

    def sqlite(t: int) -> str:
        d, r = divmod(t, 86400)
        day = days.get(d)
        if day is None:
            day = days[d] = (_EPOCH + timedelta(days=d)).strftime("%Y-%m-%d ")
        return day + hms[r] + suffix

    return base, sqlite


def _ip(rng: random.Random) -> str:
    x = rng.getrandbits(40)
    tail = f"{(x >> 8) & 255}.{(x >> 16) & 255}.{(x >> 24) % 254 + 1}"
    if x & 255 < 77:  # ~30% private addresses
        return f"10.{tail}"
    return f"{PUBLIC_NETS[(x >> 32) % 7]}.{tail}"


def _sid(rng: random.Random) -> str:
    """``ses_`` + 16 URL-safe characters, the shape of ``sessions.new_public_id``."""
    return "ses_" + base64.urlsafe_b64encode(rng.randbytes(12)).decode()


def generate_batch(
    rng: random.Random,
    ids: list[int],
    now: datetime,
    refresh_ttl: timedelta,
    *,
    postgres: bool,
    sessions_per_user: float = 3.0,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Users (one per id) and their sessions, as tuples in ``USER_COLS``/``SESSION_COLS`` order.

    Timestamps are in the driver's storage form: aware datetimes for PostgreSQL, the text of the
    naive UTC time for SQLite (exactly what ``UTCDateTime`` would bind).
    """
    base, ts = _timestamps(now, postgres)
    rand, bits, randbytes, b64 = rng.random, rng.getrandbits, rng.randbytes, base64.urlsafe_b64encode
    first_names, last_names, titles_f, titles_l = FIRST, LAST, _FIRST_T, _LAST_T
    nf, nl, nd, ns = len(FIRST), len(LAST), len(DOMAINS), len(SESSIONS_PER_USER)
    day = 86400
    ttl = int(refresh_ttl.total_seconds())
    scale = sessions_per_user / 3.0
    disabled_at = ts(base - day)
    user_rows: list[tuple[Any, ...]] = []
    session_rows: list[tuple[Any, ...]] = []
    add_user, add_session = user_rows.append, session_rows.append
    for uid in ids:
        fi, li = int(rand() * nf), int(rand() * nl)
        first, last = first_names[fi], last_names[li]
        age = 60 + int(rand() * 730 * day)
        created = base - age
        disabled = rand() < 0.02
        add_user(
            (
                uid,
                f"{first}.{last}{uid}@{DOMAINS[int(rand() * nd)]}",
                f"{first[0]}{last}{uid}",
                f"{titles_f[fi]} {titles_l[li]}",
                ts(created),
                ts(created + int(age * rand())),
                disabled,
                disabled_at if disabled else None,
                _VERSIONS[bits(3)],
            )
        )
        k = SESSIONS_PER_USER[int(rand() * ns)]
        if scale != 1.0:
            k = int(k * scale + rand())
        window = min(age, 45 * day) - 60
        for _ in range(k):
            s_created = base - 60 - int(rand() * window)
            expires = s_created + ttl
            seen = min(s_created + 1 + int(rand() * 7 * day), expires, base)
            x = bits(40)
            ip = (
                f"10.{(x >> 8) & 255}.{(x >> 16) & 255}.{(x >> 24) % 254 + 1}"
                if x & 255 < 77
                else f"{PUBLIC_NETS[(x >> 32) % 7]}.{(x >> 8) & 255}.{(x >> 16) & 255}.{(x >> 24) % 254 + 1}"
            )
            add_session(
                (
                    "ses_" + b64(randbytes(12)).decode(),
                    randbytes(32).hex(),
                    uid,
                    ts(s_created),
                    ts(seen),
                    ts(expires),
                    ip,
                    ip if rand() < 0.8 else _ip(rng),
                    AGENTS[bits(3)],
                    bits(5) + bits(3),
                )
            )
    return user_rows, session_rows


def _named(now: datetime) -> list[tuple[dict, list[tuple[timedelta, timedelta, str, str]]]]:
    """alice (3 active sessions on different devices + 1 expired), bob (1), carol (disabled)."""
    day = timedelta(days=1)
    return [
        (
            {
                "email": "alice@example.com",
                "username": "alice",
                "display_name": "Alice Liddell",
                "created_at": now - 400 * day,
                "last_login_at": now - timedelta(hours=2),
                "disabled": False,
                "disabled_at": None,
                "token_version": 0,
            },
            [
                (timedelta(hours=2), 30 * day, AGENTS[2], "203.0.113.10"),
                (timedelta(days=3), 30 * day, AGENTS[3], "198.51.100.23"),
                (timedelta(days=9), 30 * day, AGENTS[5], "192.0.2.77"),
                (timedelta(days=45), 30 * day, AGENTS[0], "203.0.113.99"),
            ],
        ),
        (
            {
                "email": "bob@example.com",
                "username": "bob",
                "display_name": "Bob Builder",
                "created_at": now - 200 * day,
                "last_login_at": now - 1 * day,
                "disabled": False,
                "disabled_at": None,
                "token_version": 2,
            },
            [(timedelta(days=1), 30 * day, AGENTS[1], "198.51.100.5")],
        ),
        (
            {
                "email": "carol@example.com",
                "username": "carol",
                "display_name": "Carol Danvers",
                "created_at": now - 100 * day,
                "last_login_at": now - 20 * day,
                "disabled": True,
                "disabled_at": now - 5 * day,
                "token_version": 1,
            },
            [],
        ),
    ]


def _named_session(
    rng: random.Random, uid: int, created: datetime, ttl: timedelta, now: datetime, agent: str, ip: str
) -> dict[str, Any]:
    seen = min(created + timedelta(seconds=rng.randrange(1, 7 * 86400)), created + ttl, now)
    return {
        "public_id": _sid(rng),
        "token_hash": rng.randbytes(32).hex(),
        "user_id": uid,
        "created_at": created,
        "last_seen_at": seen,
        "expires_at": created + ttl,
        "first_ip": ip,
        "last_ip": ip,
        "user_agent": agent,
        "refresh_counter": rng.randrange(0, 40),
    }


_COMPILED: dict[tuple[str, str], str] = {}


def _insert_sql(conn: Connection, table: Any, cols: tuple[str, ...]) -> str:
    """``INSERT INTO t (cols) VALUES (?, ...)``, compiled by Core once per dialect."""
    key = (conn.dialect.name, table.name)
    sql = _COMPILED.get(key)
    if sql is None:
        sql = str(insert(table).compile(dialect=conn.dialect, column_keys=list(cols)))
        _COMPILED[key] = sql
    return sql


class BulkWriter:
    """Batched bulk inserts through one authcore connection (inside its transaction).

    SQLite: ``executemany`` of a Core-compiled INSERT, rows passed straight to the driver. The
    FTS5 trigram trigger is suspended for the batch (dropped and re-created inside the same write
    transaction, so no other writer can see it missing) and the batch is indexed with one
    ``INSERT ... SELECT``: a per-row trigger makes FTS5 flush at every statement (~6x slower).
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
        dbapi = self.conn.connection.dbapi_connection
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
            self._copy("users", USER_COLS, _PG_USER_TYPES, rows)
            return
        sql = _insert_sql(self.conn, users, USER_COLS)
        run = self.conn.exec_driver_sql
        trigger = run(
            "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = ?", (FTS_INSERT_TRIGGER,)
        ).scalar()
        if trigger is None:  # schema before 0003: no trigram table
            run(sql, rows)
            return
        run(f"DROP TRIGGER {FTS_INSERT_TRIGGER}")
        run(sql, rows)
        run(
            "INSERT INTO users_trgm(rowid, email, username, display_name) "
            "SELECT id, email, username, display_name FROM users WHERE id BETWEEN ? AND ?",
            (rows[0][0], rows[-1][0]),
        )
        run(trigger)

    def sessions(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert sessions (tuples in ``SESSION_COLS`` order)."""
        if not rows:
            return
        if self.postgres:
            self._copy("sessions", SESSION_COLS, _PG_SESSION_TYPES, rows)
        else:
            self.conn.exec_driver_sql(_insert_sql(self.conn, sessions, SESSION_COLS), rows)


def _add_named(engine: Engine, rng: random.Random, now: datetime) -> tuple[list[str], int]:
    named: list[str] = []
    n_sessions = 0
    with write_tx(engine) as conn:
        for user, sess in _named(now):
            exists = conn.execute(
                select(users.c.id).where(func.lower(users.c.email) == user["email"])
            ).first()
            if exists:  # draw its sessions anyway: the next user's ids stay as on a first run
                for age, ttl, agent, ip in sess:
                    _named_session(rng, 0, now - age, ttl, now, agent, ip)
                continue
            uid = conn.execute(insert(users).returning(users.c.id), user).scalar_one()
            named.append(user["email"])
            for age, ttl, agent, ip in sess:
                conn.execute(insert(sessions), _named_session(rng, uid, now - age, ttl, now, agent, ip))
                n_sessions += 1
    return named, n_sessions


NAMED_EMAILS = ("alice@example.com", "bob@example.com", "carol@example.com")


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
) -> DemoSummary:
    """Add the named demo users (once) and ``n_users`` generated users with ~3 sessions each.

    Safe to run again on the same database: named users already there are skipped, and the
    generated users are new ones (fresh ids, session ids and digests).

    One transaction per batch of ``batch`` users; ``progress(users_done, n_users,
    sessions_done)`` after each. On PostgreSQL the tables are analyzed at the end (fresh planner
    statistics for search), unless ``analyze=False``.
    """
    rng = random.Random(rng_seed)
    now = now or utcnow()
    with read_conn(engine) as conn:
        before = int(conn.execute(select(func.count()).select_from(users)).scalar_one())
    named, total_sessions = _add_named(engine, rng, now)
    if before:
        # Seeding a database that has users (a second ``demo``): the first run's stream would
        # repeat its session ids and digests (unique columns). Draw from a stream of its own.
        rng = random.Random(f"{rng_seed}:{before}:{now.timestamp()}")
    total_users = len(named)
    postgres = engine.dialect.name == "postgresql"
    done = 0
    batch = max(1, min(batch, max(1000, n_users // 20)))  # >= 20 progress steps when possible
    # A batch's COPY and the final ANALYZE may outlast statement_timeout on a big or busy
    # server: lifted for these transactions (SET LOCAL) and no client answer deadline.
    with translate_errors(engine), unbounded(), engine.connect() as conn:
        conn = conn.execution_options(authcore_write=True)
        dbapi: Any = conn.connection.dbapi_connection
        if not postgres:
            cache = dbapi.execute("PRAGMA cache_size").fetchone()[0]
            dbapi.execute(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
        try:
            writer = BulkWriter(conn)
            while done < n_users:
                n = min(batch, n_users - done)
                with conn.begin():
                    if postgres:
                        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                    ids = writer.allocate_user_ids(n)
                    user_rows, session_rows = generate_batch(
                        rng, ids, now, refresh_ttl, postgres=postgres, sessions_per_user=sessions_per_user
                    )
                    writer.users(user_rows)
                    writer.sessions(session_rows)
                done += n
                total_users += n
                total_sessions += len(session_rows)
                if progress:
                    progress(done, n_users, total_sessions)
        finally:
            if not postgres:
                dbapi.execute(f"PRAGMA cache_size = {int(cache)}")
        if postgres and analyze and done:
            with conn.begin():
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                conn.exec_driver_sql("ANALYZE users")
                conn.exec_driver_sql("ANALYZE sessions")
    return DemoSummary(total_users, total_sessions, tuple(named))
