"""Engine factory for SQLite (embedded default) and PostgreSQL (psycopg 3).

No engine exists at import time; ``make_engine`` builds one per URL. SQLite runs in WAL mode with
foreign keys on and a busy timeout; write transactions take the lock up front (``BEGIN IMMEDIATE``)
so concurrent writers wait instead of failing with "database is locked".

Every PostgreSQL call has a bound (docs/verifier.md, "Bounds on every database call"): a connect
timeout, ``statement_timeout`` and ``lock_timeout`` set at connect (the server cancels), TCP
keepalives and ``tcp_user_timeout`` (a vanished peer), and an answer deadline on the client
(``bound_waits``): a server or proxy that accepts bytes but never answers -- frozen, stopped with
SIGSTOP -- is given up on, the connection closed and ``DatabaseUnavailable`` raised. ``deadline``
tightens the bound for the calls of one block (the verifier's fallback), ``unbounded`` lifts it for
long maintenance (migrations).

Behind a transaction pooler (PgBouncer ``pool_mode = transaction``; docs/verifier.md, "Behind
PgBouncer") consecutive transactions of one client connection run on different server
connections, so nothing may live in the server session: a URL with ``?pooled=true`` (or
``make_engine(..., pooled=True)``) turns psycopg's automatic prepared statements off
(``prepare_threshold=None``: a statement prepared on one server connection is unknown to the
next) and sends the bounds as ``SET LOCAL`` in every transaction instead of one ``SET`` per
connection (which would stay behind on the shared server connection for other clients).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url

from authcore.errors import (
    AuthCoreError,
    ConstraintViolation,
    DatabasePermissionDenied,
    DatabaseRefused,
    DatabaseUnavailable,
    SchemaBehind,
    ValidationError,
)
from authcore.text import has_surrogates
from authcore.urls import mask_password

SQLITE_BUSY_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5
PG_STATEMENT_TIMEOUT_S = 15.0  # the server cancels a statement running longer
PG_LOCK_TIMEOUT_S = 5.0  # ... or waiting longer than this for a lock
PG_ANSWER_GRACE_S = 5.0  # client deadline = statement_timeout + this (server silent)
PG_PING_TIMEOUT_S = 2.0  # the pool's liveness ping on checkout
SILENT_RECONNECT_S = 0.25  # right after a deadline ran out, this thread does not reconnect
#: A person waiting at a terminal (the console): the server cancels a statement after 5 s and a
#: silent server counts as down 3 s later, so an outage shows within ~8 s, not the 20 s a batch
#: job's call may wait. Only the defaults: a URL's own ``options`` still win.
INTERACTIVE_STATEMENT_TIMEOUT_S = 5.0
INTERACTIVE_ANSWER_TIMEOUT_S = 8.0
PG_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (userinfo and ``password=`` parameters)."""
    try:
        return mask_password(make_url(url).render_as_string(hide_password=True))
    except Exception:  # noqa: BLE001 - an unparsable URL is still masked, as text
        return mask_password(url)


def normalize_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and route them to psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class DatabaseMissing(DatabaseUnavailable):
    """The SQLite database file does not exist (and this caller may not create one)."""


def make_engine(
    url: str, *, create: bool = True, interactive: bool = False, pooled: bool | None = None, **kwargs: Any
) -> Engine:
    """Create an engine for ``sqlite:///...`` or ``postgresql+psycopg://...``.

    ``create=False``: a missing SQLite file raises ``DatabaseMissing`` and nothing is created
    (the CLI passes it everywhere except ``demo`` and ``db upgrade``). ``create=True`` creates
    the file mode 0600, and only in a directory that exists (the default data dir is made).
    ``interactive=True`` (PostgreSQL): the shorter bounds above for a person at a terminal.
    ``pooled`` (PostgreSQL): the URL goes through a transaction pooler (see the module
    docstring); default: the URL's ``pooled`` query option, else False.
    """
    url = normalize_url(url)
    u, pooled = pooled_option(parse_url(url), pooled)
    backend = u.get_backend_name()
    if backend == "sqlite":
        if u.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise ValidationError(f"unsupported SQLite driver {u.drivername}")
        db = u.database or ""
        if db and db != ":memory:" and not db.startswith("file:"):
            prepare_sqlite_file(Path(db).expanduser(), create)
        engine = create_engine(u, connect_args={"check_same_thread": False}, **kwargs)
        _setup_sqlite(engine)
        return engine
    if backend == "postgresql":
        if u.drivername != "postgresql+psycopg":
            raise ValidationError("use postgresql+psycopg:// (psycopg 3) for PostgreSQL")
        stmt, answer = kwargs.pop("statement_timeout", None), kwargs.pop("answer_timeout", None)
        if interactive:
            stmt = INTERACTIVE_STATEMENT_TIMEOUT_S if stmt is None else stmt
            answer = INTERACTIVE_ANSWER_TIMEOUT_S if answer is None else answer
        if pooled and "options" in u.query:
            raise ValidationError(
                "a pooled database URL cannot carry options: PgBouncer refuses startup options "
                "(or drops them when told to ignore them); authcore sets its timeouts per "
                "transaction instead"
            )
        bounds = pg_bounds(u.query, stmt, kwargs.pop("lock_timeout", None), answer)
        args: dict[str, Any] = {"application_name": "authcore", **bounds.connect_args}
        if pooled:
            args["prepare_threshold"] = None  # never prepare: the next transaction's server lacks it
        args.update(kwargs.pop("connect_args", {}))
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(u, connect_args=args, **kwargs)
        _setup_psycopg(engine, bounds, pooled=pooled)
        return engine
    raise ValidationError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


POOLED_OPTION = "pooled"
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def pooled_option(u: URL, pooled: bool | None = None) -> tuple[URL, bool]:
    """``u`` without its ``pooled`` query option (libpq does not know it), and whether the
    engine is pooled: ``pooled`` when given, else the option's value (default False)."""
    raw = u.query.get(POOLED_OPTION)
    if raw is None:
        return u, bool(pooled)
    value = str(raw[-1] if isinstance(raw, tuple) else raw).strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValidationError(f"the database URL's pooled option must be true or false, not {value[:20]!r}")
    if u.get_backend_name() != "postgresql":
        raise ValidationError("the pooled option is for PostgreSQL URLs (a transaction pooler in front)")
    return u.difference_update_query([POOLED_OPTION]), value in _TRUE if pooled is None else pooled


_POOLED: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()  # dialect -> SET LOCALs


def is_pooled(engine: Engine) -> bool:
    """Whether ``engine`` goes through a transaction pooler (``make_engine``'s ``pooled``)."""
    return engine.dialect in _POOLED


def begin_sql(engine: Engine) -> str:
    """The statement that opens a transaction on a raw autocommit driver connection
    (``authcore.fastpath``): ``BEGIN``, and on a pooled engine the bounds as ``SET LOCAL`` in
    the same round trip (no parameters: psycopg sends it as one simple query)."""
    if engine.dialect.name == "sqlite":
        return "BEGIN IMMEDIATE"
    local = _POOLED.get(engine.dialect)
    return f"BEGIN; {local}" if local else "BEGIN"


def parse_url(url: str) -> Any:
    """SQLAlchemy's URL, or ``ValidationError`` naming what is wrong (password masked)."""
    if not isinstance(url, str):
        raise ValidationError(f"the database URL must be text, not {type(url).__name__}")
    if has_surrogates(url) or "\x00" in url:
        raise ValidationError("the database URL is not valid UTF-8 text")
    try:
        u = make_url(url)
        _ = u.port  # SQLAlchemy parses the port lazily in some versions
    except (exc.ArgumentError, ValueError):
        raise ValidationError(f"not a database URL: {mask_url(url)!r}") from None
    if u.host and "@" in u.host:  # "u:p@ss@host": the tail of the password would be the host
        raise ValidationError(f"the password in {mask_url(url)!r} holds an unencoded '@'; write it as %40")
    if u.port is not None and not 0 < u.port < 65536:
        raise ValidationError(f"port {u.port} is out of range (1-65535) in {mask_url(url)!r}")
    return u


def prepare_sqlite_file(path: Path, create: bool) -> None:
    """Check (or create, mode 0600) a SQLite database file before SQLite opens it.

    SQLite itself would create a missing file (umask mode, 0644 by default) in any directory:
    the file holds token digests and the audit log, so authcore creates it, owner-only, and
    SQLite gives its ``-wal``/``-shm`` files the same mode. A missing directory is never made,
    except the default data dir.
    """
    if path.exists():
        if not path.is_file():
            raise ValidationError(f"{path} is not a regular file")
        return
    if not create:
        raise DatabaseMissing(
            f"database file {path} does not exist; "
            "create it with: authconsole demo, or authconsole db upgrade"
        )
    parent = path.parent
    if not parent.is_dir():
        from authcore.config import user_data_dir

        if parent.resolve() != user_data_dir().resolve():
            raise ValidationError(
                f"directory {parent} does not exist; create it first "
                "(only the default data dir is made automatically)"
            )
        parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created meanwhile by another process: use it
        return
    os.close(fd)
    os.chmod(path, 0o600)  # whatever the umask


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


class PgBounds:
    """The connect arguments and per-connection ``SET``s that bound every call, and the client
    answer deadline."""

    def __init__(
        self, connect_args: dict[str, Any], settings: dict[str, int], answer_s: float | None
    ) -> None:
        self.connect_args = connect_args
        self.settings = settings  # name -> milliseconds, SET on each new connection
        self.answer_s = answer_s


_PG_SETTING = re.compile(
    r"(statement_timeout|lock_timeout)\s*=\s*'?(\d+(?:\.\d+)?)\s*"
    r"(ms|s|min)?'?"
)


def _pg_seconds(options: str, name: str) -> float | None:
    """A ``-c name=VALUE`` (ms by default, or ``s``/``min``) from libpq ``options``."""
    for m in _PG_SETTING.finditer(options):
        if m.group(1) == name:
            return float(m.group(2)) * {"ms": 0.001, None: 0.001, "s": 1, "min": 60}[m.group(3)]
    return None


def pg_bounds(
    query: Any,
    statement_timeout: float | None = None,
    lock_timeout: float | None = None,
    answer_timeout: float | None = None,
) -> PgBounds:
    """Connect arguments for the bounds (defaults above), leaving alone whatever the URL sets.

    ``statement_timeout`` / ``lock_timeout`` (seconds; 0 disables) are ``SET`` on each new
    connection (not as a startup ``options`` parameter, which PgBouncer refuses); a URL that
    sets one itself in ``options`` (``-c statement_timeout=...``) keeps its value. The client
    answer deadline is the effective statement timeout plus ``PG_ANSWER_GRACE_S`` unless
    ``answer_timeout`` says otherwise; with ``statement_timeout`` 0 (the operator asked for
    unbounded statements) there is none.
    """
    args: dict[str, Any] = {}
    for key, value in {"connect_timeout": PG_CONNECT_TIMEOUT_S, **PG_KEEPALIVES}.items():
        if key not in query:
            args[key] = value
    opts = str(query.get("options", "") or "")
    if isinstance(query.get("options"), tuple):
        opts = " ".join(query["options"])
    stmt = _pg_seconds(opts, "statement_timeout")
    settings: dict[str, int] = {}
    if stmt is None:
        stmt = PG_STATEMENT_TIMEOUT_S if statement_timeout is None else float(statement_timeout)
        settings["statement_timeout"] = int(stmt * 1000)
    if _pg_seconds(opts, "lock_timeout") is None:
        lock = PG_LOCK_TIMEOUT_S if lock_timeout is None else float(lock_timeout)
        settings["lock_timeout"] = int(lock * 1000)
    if answer_timeout is not None:
        answer: float | None = float(answer_timeout) or None
    else:
        answer = stmt + PG_ANSWER_GRACE_S if stmt > 0 else None
    return PgBounds(args, settings, answer)


# -- the client answer deadline ------------------------------------------------------------------

_local = threading.local()
log = logging.getLogger("authcore.db")


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Every database wait of this thread inside the block ends within ``seconds`` of entering
    it (connects included), or raises (``DatabaseUnavailable`` through ``translate_errors``).
    ``None`` leaves the engine's own bound. Nested blocks keep the tighter deadline."""
    prev = getattr(_local, "until", None)
    if seconds is not None:
        until = time.monotonic() + seconds
        _local.until = until if prev is None else min(prev, until)
    try:
        yield
    finally:
        _local.until = prev


@contextlib.contextmanager
def unbounded() -> Iterator[None]:
    """No client answer deadline in this block (migrations: long DDL). The server-side
    ``statement_timeout`` is the caller's to lift (``SET LOCAL statement_timeout = 0``)."""
    prev = getattr(_local, "until", None)
    _local.until = math.inf
    try:
        yield
    finally:
        _local.until = prev


def _server(host: Any, port: Any) -> tuple[str, str]:
    """A server's identity for the silent-reconnect rule (libpq's defaults filled in)."""
    return (str(host or "localhost"), str(port or 5432))


def bound_waits(conn: Any, answer_s: float | None) -> None:
    """Bound every wait of psycopg connection ``conn`` for the server's answer.

    psycopg runs every operation (execute, executemany and its pipeline, commit, rollback,
    notifies) through ``Connection.wait``; this instance's ``wait`` gets a timeout: ``answer_s``
    or what is left of the thread's ``deadline``, whichever ends first. When it runs out the
    connection is closed (its protocol state is unknown) and ``psycopg.OperationalError`` is
    raised; SQLAlchemy sees a closed connection, invalidates it, and ``translate_errors`` reports
    ``DatabaseUnavailable``. A caller's own, shorter timeout (``notifies(timeout=...)``) behaves
    as before.
    """
    import psycopg
    from psycopg import errors as pg_errors

    orig = conn.wait
    wait_timeout = pg_errors._WaitTimeout  # noqa: SLF001 - pinned (pyproject psycopg)

    def wait(gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        until = getattr(_local, "until", None)
        if until is None:
            limit = answer_s
        elif until == math.inf:
            limit = None
        else:
            limit = until - time.monotonic()
            if answer_s is not None:
                limit = min(limit, answer_s)
        if limit is None or (timeout is not None and timeout <= limit):
            return orig(gen, interval, timeout)
        try:
            return orig(gen, interval, max(limit, 0.01))
        except wait_timeout:
            pass
        try:
            server = _server(conn.info.host, conn.info.port)
        except Exception:  # noqa: BLE001 - the server's name is only for the message
            server = None
        try:
            conn.pgconn.finish()  # the answer may still come: never read it as another's
        except Exception:  # noqa: BLE001 - closing a connection that is already broken
            pass
        msg = f"no answer from the server within {max(limit, 0.01):.1f}s"
        _local.silent = (server, time.monotonic(), msg)  # see _on_do_connect
        raise psycopg.OperationalError(f"{msg} (connection closed)")

    conn.wait = wait


class _DeadPipelineFilter(logging.Filter):
    """Drops psycopg's "error ignored terminating <psycopg.Pipeline [BAD]>" warning.

    When the connection dies while ``executemany`` has a batch in its implicit pipeline, psycopg
    raises the error to the caller, then tries to end the pipeline on the dead connection and
    logs that second failure -- which reaches stderr as a second line (logging's last-resort
    handler) after the operator's one-line error. It is the same failure, already raised (as
    ``DatabaseUnavailable``); only records about a pipeline whose connection is gone are dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(("error ignored terminating", "error ignored exiting")):
            return True
        pgconn = getattr(
            record.args[0] if isinstance(record.args, tuple) and record.args else None, "pgconn", None
        )
        try:
            from psycopg.pq import ConnStatus

            return getattr(pgconn, "status", None) != ConnStatus.BAD
        except Exception:  # noqa: BLE001 - unknown: let the ping decide
            return True


_PIPELINE_FILTER = _DeadPipelineFilter()


def quiet_dead_pipelines() -> None:
    """Install ``_DeadPipelineFilter`` on psycopg's logger (idempotent)."""
    logger = logging.getLogger("psycopg")
    if _PIPELINE_FILTER not in logger.filters:
        logger.addFilter(_PIPELINE_FILTER)


NO_PREPARE = "authcore_no_prepare"


def _setup_psycopg(engine: Engine, bounds: PgBounds | None = None, *, pooled: bool = False) -> None:
    """Statements marked ``execution_options(authcore_no_prepare=True)`` are never prepared.

    psycopg 3 prepares a statement server-side once it has run 5 times (``prepare_threshold``);
    after that PostgreSQL may switch to a generic plan, made without the parameter values. For
    search that is a trap: the generic plan for ``search_text LIKE $1`` or a prefix range cannot
    use what the value says (which trigrams, how selective) and walks the table, ~90x slower.
    Search statements opt out (an unnamed statement is planned for its values on each run);
    every other statement keeps psycopg's default, so the hot paths (session resolve, refresh
    check, revoke) still skip parsing and planning once prepared.

    ``pooled``: the bounds are ``SET LOCAL`` at the start of each transaction (the ``begin``
    event; ``begin_sql`` for raw ones), never ``SET`` on the connection. A single autocommit
    statement (the hot reads of ``authcore.fastpath``) has no transaction to carry them: it is
    bounded by the client answer deadline, and on the server by the role's own defaults
    (docs/verifier.md, "Behind PgBouncer").
    """

    quiet_dead_pipelines()

    # The pool's pre-ping (an empty statement) answers in milliseconds from a live server; one
    # that says nothing for PG_PING_TIMEOUT_S is down. Without this a pooled connection to a
    # frozen server would wait the whole answer deadline before the reconnect even starts.
    ping = engine.dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        with deadline(PG_PING_TIMEOUT_S):
            return bool(ping(dbapi_connection))

    engine.dialect.do_ping = do_ping  # type: ignore[method-assign]  # this engine's ping, bounded

    answer_s = bounds.answer_s if bounds else None
    settings = bounds.settings if bounds else {}
    # A direct connection's session runs in UTC: psycopg then loads a timestamptz with
    # ``datetime.UTC`` itself, which ``models.utc_from_pg`` returns as it is, where the server's
    # default zone (Debian's: Etc/UTC, a ZoneInfo) costs a conversion a value (~0.6 µs: 100
    # µs a search page). authcore's SQL never reads the session zone (every text of a time
    # says AT TIME ZONE 'UTC'). A pooled engine leaves the server's zone: no session state.
    sets = (
        ""
        if pooled
        else "; ".join([*(f"SET {k} = {int(v)}" for k, v in settings.items()), "SET TimeZone = 'UTC'"])
    )
    if pooled:
        local = "; ".join(f"SET LOCAL {k} = {int(v)}" for k, v in settings.items())
        _POOLED[engine.dialect] = local
        if local:

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                conn.exec_driver_sql(local)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        bound_waits(dbapi_conn, answer_s)
        if sets:  # session settings, committed (psycopg opened a transaction for them)
            dbapi_conn.execute(sets)
            if not dbapi_conn.autocommit:
                dbapi_conn.commit()

    @event.listens_for(engine, "do_connect")
    def _on_do_connect(_dialect: Any, _rec: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        silent = getattr(_local, "silent", None)
        if (
            silent is not None
            and time.monotonic() - silent[1] < SILENT_RECONNECT_S
            and silent[0] == _server(cparams.get("host"), cparams.get("port"))
        ):
            # This thread's server said nothing until the deadline a moment ago, within the same
            # operation (translate_errors ends it): the retry that follows (the pool's reconnect
            # after its ping, the fast path's second attempt) would only wait out the connect
            # timeout as well.
            import psycopg

            raise psycopg.OperationalError(f"{silent[2]} (not connecting again at once)")
        until = getattr(_local, "until", None)
        if until is not None and until != math.inf:  # a deadline block: connect within it
            left = until - time.monotonic()
            if left <= 0.05:  # spent (e.g. by a silent pooled connection): no second wait
                import psycopg

                raise psycopg.OperationalError("no answer within the deadline (no time left to connect)")
            cap = max(1, math.ceil(left))  # psycopg waits at least 2 s for a connection
            cparams["connect_timeout"] = min(int(cparams.get("connect_timeout") or cap), cap)

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
    with translate_errors(engine), engine.connect() as conn:
        conn = conn.execution_options(authcore_write=True)
        with conn.begin():
            yield conn


@contextlib.contextmanager
def read_conn(engine: Engine) -> Iterator[Connection]:
    with translate_errors(engine), engine.connect() as conn:
        yield conn


@contextlib.contextmanager
def translate_errors(engine: Engine) -> Iterator[None]:
    """authcore's boundary for database errors: whatever SQLAlchemy or the driver raises in the
    block leaves as an ``AuthCoreError`` (``database_error``), so no caller sorts driver
    exceptions. Every read and write goes through here (``read_conn``, ``write_tx``, the fast
    paths' connection stack).

    The failed operation ends here, and with it the "silent a moment ago" rule of
    ``_on_do_connect`` (it only spares the retries inside one operation)."""
    try:
        yield
    except exc.SQLAlchemyError as e:
        _local.silent = None
        raise database_error(engine, e) from None  # never chained: the driver's text is unmasked
    except engine.dialect.loaded_dbapi.Error as e:  # a raw driver error (fast paths, pool)
        _local.silent = None
        raise database_error(engine, e) from None


# PostgreSQL SQLSTATEs that say the schema is older than this authcore: undefined table, column.
_NO_TABLE, _NO_COLUMN, _NO_FUNCTION, _NO_PRIVILEGE = "42P01", "42703", "42883", "42501"


def database_error(engine: Engine, e: BaseException) -> AuthCoreError:
    """The ``AuthCoreError`` for a SQLAlchemy or driver exception, one line, password masked:

    * no authcore schema, or an older one (SQLite ``no such table/column``; PostgreSQL
      undefined table/column, or a missing ``authcore_*`` function): ``SchemaBehind``, naming
      ``authconsole db upgrade``;
    * no privilege (PostgreSQL 42501, a read-only SQLite file): ``DatabasePermissionDenied``;
    * a lost, silent or locked connection (``OperationalError``, ``InterfaceError``, an
      invalidated connection): ``DatabaseUnavailable``;
    * a constraint: ``ConstraintViolation``; any other refusal: ``DatabaseRefused``.
    """
    orig = getattr(e, "orig", None) or e
    lines = str(orig).strip().splitlines()
    detail = mask_password(lines[0] if lines else type(orig).__name__)
    state = getattr(orig, "sqlstate", None)
    url = mask_url(engine.url.render_as_string(hide_password=False))
    missing_relation = "relation" in detail and "does not exist" in detail
    if state == _NO_TABLE or "no such table" in detail or missing_relation:
        return SchemaBehind(f"database {url} has no authcore schema; run: authconsole db upgrade")
    if (
        state == _NO_COLUMN
        or "no such column" in detail
        or (state == _NO_FUNCTION and "function authcore_" in detail)
    ):
        return SchemaBehind(
            f"database {url} has an older authcore schema ({detail}); run: authconsole db upgrade"
        )
    if state == _NO_PRIVILEGE or "readonly database" in detail:
        return DatabasePermissionDenied(f"the database refused (no privilege): {detail}")
    dbapi = engine.dialect.loaded_dbapi
    if getattr(orig, "sqlite_errorname", None) == "SQLITE_ERROR":  # SQL the database refused
        return DatabaseRefused(f"database refused: {detail}")
    if (
        isinstance(e, exc.OperationalError | exc.InterfaceError | exc.DisconnectionError)
        or isinstance(orig, dbapi.OperationalError | dbapi.InterfaceError)
        or (isinstance(e, exc.DBAPIError) and e.connection_invalidated)
    ):
        return DatabaseUnavailable(f"database unavailable ({url}): {detail}")
    if isinstance(e, exc.IntegrityError) or isinstance(orig, dbapi.IntegrityError):
        return ConstraintViolation(f"database refused: {detail}", state)
    if isinstance(e, exc.DBAPIError) or isinstance(orig, dbapi.Error):
        return DatabaseRefused(f"database refused: {detail}", state)
    # SQLAlchemy's own (no driver error under it): a result shape, a closed connection...
    return DatabaseRefused(f"database: {type(e).__name__}: {detail}")
