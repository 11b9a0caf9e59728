"""Engine factory for SQLite (embedded default) and PostgreSQL (psycopg 3).

No engine exists at import time; ``make_engine`` builds one per URL. SQLite runs in WAL mode with
foreign keys on and a busy timeout; write transactions take the lock up front (``BEGIN IMMEDIATE``)
so concurrent writers wait instead of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from authcore.errors import DatabaseUnavailable, ValidationError
from authcore.urls import mask_password

SQLITE_BUSY_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return mask_password(url)


def normalize_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and route them to psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``sqlite:///...`` or ``postgresql+psycopg://...``."""
    url = normalize_url(url)
    try:
        u = make_url(url)
    except exc.ArgumentError:
        raise ValidationError(f"not a database URL: {mask_url(url)!r}") from None
    backend = u.get_backend_name()
    if backend == "sqlite":
        if u.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise ValidationError(f"unsupported SQLite driver {u.drivername}")
        db = u.database or ""
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"check_same_thread": False}, **kwargs)
        _setup_sqlite(engine)
        return engine
    if backend == "postgresql":
        if u.drivername != "postgresql+psycopg":
            raise ValidationError("use postgresql+psycopg:// (psycopg 3) for PostgreSQL")
        args = {"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "authcore"}
        args.update(kwargs.pop("connect_args", {}))
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(u, connect_args=args, **kwargs)
        _setup_psycopg(engine)
        return engine
    raise ValidationError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("authcore_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


NO_PREPARE = "authcore_no_prepare"


def _setup_psycopg(engine: Engine) -> None:
    """Statements marked ``execution_options(authcore_no_prepare=True)`` are never prepared.

    psycopg 3 prepares a statement server-side once it has run 5 times (``prepare_threshold``);
    after that PostgreSQL may switch to a generic plan, made without the parameter values. For
    search that is a trap: the generic plan for ``search_text LIKE $1`` or a prefix range cannot
    use what the value says (which trigrams, how selective) and walks the table, ~90x slower.
    Search statements opt out (an unnamed statement is planned for its values on each run);
    every other statement keeps psycopg's default, so the hot paths (session resolve, refresh
    check, revoke) still skip parsing and planning once prepared.
    """

    @event.listens_for(engine, "do_execute")
    def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
        if context.execution_options.get(NO_PREPARE):
            cursor.execute(statement, parameters, prepare=False)
            return True
        return None


def is_postgres(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "postgresql"


@contextlib.contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """One write transaction; on SQLite it holds the write lock from the start."""
    with translate_errors(engine):
        with engine.connect() as conn:
            conn = conn.execution_options(authcore_write=True)
            with conn.begin():
                yield conn


@contextlib.contextmanager
def read_conn(engine: Engine) -> Iterator[Connection]:
    with translate_errors(engine):
        with engine.connect() as conn:
            yield conn


@contextlib.contextmanager
def translate_errors(engine: Engine) -> Iterator[None]:
    """Turn driver-level connection failures into one-line ``DatabaseUnavailable``."""
    try:
        yield
    except exc.OperationalError as e:
        raise DatabaseUnavailable(_one_line(engine, e)) from None
    except exc.InterfaceError as e:
        raise DatabaseUnavailable(_one_line(engine, e)) from None
    except exc.DBAPIError as e:
        if e.connection_invalidated:
            raise DatabaseUnavailable(_one_line(engine, e)) from None
        raise


def _one_line(engine: Engine, e: exc.DBAPIError) -> str:
    orig = str(getattr(e, "orig", e) or e).strip().splitlines()
    detail = orig[0] if orig else e.__class__.__name__
    # psycopg puts the connection string in some messages; never echo a password.
    detail = re.sub(r"password=\S+", "password=***", detail)
    if "no such table" in detail or "does not exist" in detail and "relation" in detail:
        return (f"database {mask_url(engine.url.render_as_string(hide_password=False))} has no "
                f"authcore schema; run: authconsole db upgrade")
    url = engine.url.render_as_string(hide_password=True)
    return f"database unavailable ({url}): {detail}"
