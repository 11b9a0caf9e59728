"""authcore.db: URLs routed to psycopg 3 and checked, SQLite set up for concurrent writers,
every PostgreSQL call bounded (settings, answer deadline), driver failures as one line.

(File creation and modes are tests/test_sqlite_files.py; password masking in every message is
tests/test_urls.py; freezing a real server is tests/test_faults.py.)
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from authcore import db
from authcore.errors import DatabaseUnavailable, ValidationError


def test_postgres_urls_are_routed_to_psycopg3() -> None:
    for given in ("postgres://u@h/d", "postgresql://u@h/d", "postgresql+psycopg://u@h/d"):
        assert db.normalize_url(given) == "postgresql+psycopg://u@h/d"
    assert db.normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    engine = db.make_engine("postgres://u@127.0.0.1:1/d")  # building one connects to nothing
    assert engine.url.drivername == "postgresql+psycopg" and db.is_postgres(engine)
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("mysql://u@h/d", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://u@h/d", r"use postgresql\+psycopg://"),
        ("sqlite+aiosqlite:///x.db", "unsupported SQLite driver"),
        ("postgresql://u:p@ss@h/d", "holds an unencoded '@'"),
        ("postgresql://u@h:70000/d", "out of range"),
        ("not a url", "not a database URL"),
    ],
)
def test_make_engine_refuses_what_it_cannot_use(url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        db.make_engine(url)


def test_mask_url_hides_passwords() -> None:
    masked = db.mask_url("postgresql+psycopg://app:s3cr3t@db:5432/app?password=other")
    assert "s3cr3t" not in masked and "other" not in masked and "***" in masked


def test_sqlite_connections_are_set_up(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == db.SQLITE_BUSY_MS
    assert not db.is_postgres(engine)
    engine.dispose()


def test_sqlite_write_tx_holds_the_write_lock_from_its_start(tmp_path: Path) -> None:
    """``write_tx`` begins IMMEDIATE: a second writer cannot start until it ends, while readers
    go on (WAL)."""
    path = tmp_path / "w.db"
    engine = db.make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    entered, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.write_tx(engine):  # no statement yet: the lock is taken by BEGIN itself
            entered.set()
            release.wait(10)

    th = threading.Thread(target=writer)
    th.start()
    assert entered.wait(10)
    try:
        other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)  # readers go on
    finally:
        release.set()
        th.join(10)
    other.execute("BEGIN IMMEDIATE")  # free again once it ended
    other.execute("ROLLBACK")
    other.close()
    engine.dispose()


def test_missing_schema_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(DatabaseUnavailable) as info, db.read_conn(engine) as conn:
        conn.execute(text("SELECT id FROM users"))
    assert str(info.value).endswith("has no authcore schema; run: authconsole db upgrade")
    engine.dispose()


def test_older_schema_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    """A database made before a migration added a column (the console showed a bare 'no such
    column' outage): the line says to upgrade."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY)"))
    with pytest.raises(DatabaseUnavailable) as info, db.read_conn(engine) as conn:
        conn.execute(text("SELECT id, email FROM users"))
    msg = str(info.value)
    assert "older authcore schema" in msg and "no such column: email" in msg
    assert msg.endswith("run: authconsole db upgrade")
    engine.dispose()


def test_unreachable_server_is_database_unavailable_without_the_password() -> None:
    engine = db.make_engine("postgresql+psycopg://app:pw-not-shown@127.0.0.1:1/app")
    start = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info, db.read_conn(engine):
        pass
    msg = str(info.value)
    assert msg.startswith("database unavailable (postgresql+psycopg://app:***@127.0.0.1:1/app): ")
    assert "pw-not-shown" not in msg and "\n" not in msg
    assert time.monotonic() - start < db.PG_CONNECT_TIMEOUT_S + 5
    engine.dispose()


def test_translate_errors_makes_a_constraint_a_refusal_not_an_outage(tmp_path: Path) -> None:
    """A constraint violation is the caller's to handle (an AuthCoreError), not an outage."""
    from authcore.errors import ConstraintViolation

    engine = db.make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    with pytest.raises(ConstraintViolation) as info, db.write_tx(engine) as conn:  # noqa: PT012 - the second insert
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert not isinstance(info.value, DatabaseUnavailable)
    assert str(info.value).startswith("database refused: UNIQUE constraint failed")
    engine.dispose()


# -- PostgreSQL bounds ---------------------------------------------------------------------------


def q(url: str) -> object:
    return make_url(url).query


def test_pg_bounds_defaults() -> None:
    b = db.pg_bounds(q("postgresql+psycopg://h/d"))
    assert b.connect_args == {"connect_timeout": db.PG_CONNECT_TIMEOUT_S, **db.PG_KEEPALIVES}
    assert b.settings == {"statement_timeout": 15_000, "lock_timeout": 5_000}
    assert b.answer_s == db.PG_STATEMENT_TIMEOUT_S + db.PG_ANSWER_GRACE_S


def test_pg_bounds_leave_what_the_url_sets() -> None:
    b = db.pg_bounds(
        q(
            "postgresql+psycopg://h/d?connect_timeout=2&keepalives=0"
            "&options=-c%20statement_timeout%3D3s%20-c%20lock_timeout%3D250"
        )
    )
    assert "connect_timeout" not in b.connect_args and "keepalives" not in b.connect_args
    assert b.settings == {}  # both set by the URL's own options
    assert b.answer_s == 3 + db.PG_ANSWER_GRACE_S


def test_pg_bounds_arguments() -> None:
    b = db.pg_bounds(q("postgresql+psycopg://h/d"), statement_timeout=2, lock_timeout=0.5)
    assert b.settings == {"statement_timeout": 2000, "lock_timeout": 500}
    assert b.answer_s == 2 + db.PG_ANSWER_GRACE_S
    unbounded = db.pg_bounds(q("postgresql+psycopg://h/d"), statement_timeout=0)
    assert unbounded.settings["statement_timeout"] == 0 and unbounded.answer_s is None
    assert db.pg_bounds(q("postgresql+psycopg://h/d"), answer_timeout=1).answer_s == 1


@pytest.fixture
def pg_engine(engine: Engine) -> Engine:
    if not db.is_postgres(engine):
        pytest.skip("PostgreSQL bounds")
    return engine


def test_pg_connections_carry_the_bounds(pg_engine: Engine) -> None:
    with db.read_conn(pg_engine) as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "15s"
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "5s"
        assert conn.exec_driver_sql("SHOW application_name").scalar() == "authcore"


def test_pg_sessions_run_in_utc_so_timestamps_load_without_conversion(pg_engine: Engine) -> None:
    """Direct connections (SQLAlchemy's and the fast paths') set ``TimeZone = 'UTC'``: psycopg
    then loads a timestamptz with ``datetime.UTC`` itself, which ``utc_from_pg`` returns as it
    is. The instant is the same as under any other zone (the server's default here is
    whatever the cluster says)."""
    from datetime import UTC

    from authcore import fastpath
    from authcore.models import utc_from_pg

    with db.read_conn(pg_engine) as conn:
        assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
        at = conn.exec_driver_sql("SELECT timestamptz '2026-12-04 10:00:00+02'").scalar()
    assert at.tzinfo is UTC and utc_from_pg(at) is at and at.hour == 8
    stack = fastpath.connections(pg_engine)
    raw = stack.get()
    try:
        assert raw.execute("SHOW TimeZone").fetchone()[0] == "UTC"
    finally:
        stack.put(raw)


def test_utc_from_pg_converts_any_other_zone() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from authcore.models import utc_from_pg

    berlin = datetime(2026, 12, 4, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    got = utc_from_pg(berlin)
    assert got == berlin and got.tzinfo is UTC and got.hour == 9
    assert utc_from_pg(datetime(2026, 12, 4, 10, 0)) == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    assert utc_from_pg(None) is None


def test_pg_statement_timeout_argument_reaches_the_server(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL bounds")
    engine = db.make_engine(db_url, statement_timeout=0.2)
    try:
        with (
            pytest.raises(DatabaseUnavailable, match="canceling statement due to statement timeout"),
            db.read_conn(engine) as conn,
        ):
            conn.exec_driver_sql("SELECT pg_sleep(2)")
    finally:
        engine.dispose()


def test_deadline_ends_a_wait_and_unbounded_lifts_it(pg_engine: Engine) -> None:
    start = time.monotonic()
    with (
        pytest.raises(DatabaseUnavailable, match="no answer from the server"),
        db.deadline(0.5),
        db.deadline(5),
        db.read_conn(pg_engine) as conn,
    ):  # tighter wins
        conn.exec_driver_sql("SELECT pg_sleep(3)")
    assert time.monotonic() - start < 2.5
    with db.deadline(0.2), db.unbounded(), db.read_conn(pg_engine) as conn:
        assert conn.exec_driver_sql("SELECT pg_sleep(0.5), 1").one()[1] == 1
    with db.read_conn(pg_engine) as conn:  # the engine recovers: a new connection
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


# -- only AuthCoreError leaves authcore (issue 15 item 3) ----------------------------------------


@pytest.fixture
def bare_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A database with no authcore schema on ``db_url``'s engine: a new SQLite file, or on
    PostgreSQL an empty schema first on the ``search_path`` (dropped afterwards)."""
    if db_url.startswith("sqlite"):
        path = tmp_path / "bare.db"
        db.make_engine(f"sqlite:///{path}", create=True).dispose()
        yield f"sqlite:///{path}"
        return
    import uuid
    from urllib.parse import quote

    schema = "bare_" + uuid.uuid4().hex[:10]
    admin = db.make_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{db_url}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def test_a_driver_error_inside_authcore_reaches_the_caller_as_an_authcore_error(
    bare_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A schema that is missing or older than this authcore (SQLite: 'no such table/column';
    PostgreSQL: UndefinedTable/UndefinedColumn, a ProgrammingError) reaches a service's caller
    as ``SchemaBehind`` naming the fix, on both engines; the CLI says the same line (exit 5)."""
    from authcore.config import Config, TokenSettings
    from authcore.core import AuthCore
    from authcore.errors import AuthCoreError, SchemaBehind
    from console.cli import main
    from console.exitcodes import Exit
    from tests.conftest import TEST_SECRET

    core = AuthCore(db.make_engine(bare_url, create=False), Config(tokens=TokenSettings(secret=TEST_SECRET)))
    try:
        with pytest.raises(SchemaBehind, match="has no authcore schema; run: authconsole db upgrade"):
            core.users.find("alice")
        with core.engine.begin() as conn:  # an audit table from before the later columns
            conn.exec_driver_sql("CREATE TABLE audit_events (seq INTEGER PRIMARY KEY, actor TEXT)")
        with pytest.raises(SchemaBehind) as info:
            core.audit.list(limit=1)
        assert "older authcore schema" in str(info.value), info.value
        assert str(info.value).endswith("run: authconsole db upgrade")
        with pytest.raises(AuthCoreError):
            core.audit.verify()
    finally:
        core.dispose()
    assert main(["--db", bare_url, "users", "show", "alice"]) == Exit.DATABASE
    err = capsys.readouterr().err.strip()
    assert err.endswith("run: authconsole db upgrade") and len(err.splitlines()) == 1, err


def test_every_database_error_is_translated(engine: Engine) -> None:
    """Raw driver errors (the fast paths hold driver connections) and SQLAlchemy's own errors
    leave ``translate_errors`` as AuthCoreErrors too, never chained to the driver's text."""
    from authcore.errors import DatabaseRefused

    dbapi = engine.dialect.loaded_dbapi
    with (
        pytest.raises(DatabaseUnavailable, match="database unavailable") as info,
        db.translate_errors(engine),
    ):
        raise dbapi.OperationalError("server closed the connection unexpectedly")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(DatabaseRefused, match="NoResultFound"), db.read_conn(engine) as conn:
        conn.execute(text("SELECT 1 WHERE 1 = 0")).scalar_one()
    with pytest.raises(DatabaseRefused, match="database refused"), db.read_conn(engine) as conn:
        conn.execute(text("SELEC 1"))  # a syntax error: the database is up, not an outage


def test_the_fast_write_path_translates_raw_driver_errors_too(engine: Engine) -> None:
    """A driver error raised inside a fast-path transaction -- wrapped by ``exec_driver_sql``
    or raw (a cursor's own call) -- reaches the caller as an AuthCoreError, and the
    transaction is rolled back."""
    from authcore import fastpath
    from authcore.errors import ConstraintViolation, DatabaseRefused

    w = fastpath.Writer(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE fp_t (x INTEGER PRIMARY KEY)")
    ph = "?" if engine.dialect.name == "sqlite" else "%s"
    with pytest.raises(ConstraintViolation), w.transaction() as tx:  # noqa: PT012 - the second insert
        tx.exec_driver_sql(f"INSERT INTO fp_t VALUES ({ph})", (1,))
        tx.exec_driver_sql(f"INSERT INTO fp_t VALUES ({ph})", (1,))
    with pytest.raises(DatabaseRefused), w.transaction():
        raise engine.dialect.loaded_dbapi.ProgrammingError("a raw driver error")
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM fp_t").scalar() == 0
        conn.exec_driver_sql("DROP TABLE fp_t")
