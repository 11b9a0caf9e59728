"""The fast paths: Core statements compiled once, run on driver connections of one stack.

Session resolve, the refresh check, search and the strict verifier's miss are one indexed SELECT
each; a version bump or a logout is a few short statements. Through ``Connection.execute`` each
pays, per call, a pool checkout and return (plus a ping on PostgreSQL), an explicit
``BEGIN``/``ROLLBACK``, cache-key generation and result-object construction: on SQLite ten times
the statement itself. This module keeps what SQLAlchemy decides -- the SQL it compiles for the
dialect from a Core statement and each column type's processors (``authcore.compiled``) -- and
drops the per-call machinery:

* **one connection stack per engine** (``connections``): idle autocommit driver connections,
  each created by the engine's pool then detached from it (so the engine's ``connect`` setup
  ran: SQLite pragmas); taking and returning one is a list pop/append; ``engine.dispose()``
  closes them. Up to ``max_idle`` (``AuthCore``'s ``pool_size``, config ``pool_size``, default
  40 = the threads FastAPI/Starlette run sync endpoints on) are kept, so N concurrent callers
  open at most N connections once; callers beyond that open one and close it after use. A
  connection inherited across ``fork`` is never used by the child (it opens its own);
* **reads** (``HotQuery``): a single SELECT on an autocommit connection (atomic on its own); a
  broken connection is dropped and the call retried once on a fresh one;
* **writes** (``Writer``): ``BEGIN IMMEDIATE`` (SQLite: the write lock up front) or ``BEGIN``,
  driver SQL through ``exec_driver_sql`` (the name and parameter forms of
  ``Connection.exec_driver_sql``, so ``audit.append``/``notices.publish`` take either),
  ``COMMIT``, ``ROLLBACK`` on any exception; no ping: a connection found broken at ``BEGIN``
  (nothing done yet) is replaced once, one that breaks later is dropped and the error raised; a
  connection is reused only after a clean ``COMMIT``/``ROLLBACK``;
* **one error wrapper** (``_raise_driver_error``): driver errors become SQLAlchemy's wrappers
  (``sqlalchemy.exc.IntegrityError`` ...) and then, through ``authcore.db.translate_errors``,
  ``AuthCoreError``s: ``DatabaseUnavailable`` for a lost connection or SQLite's lock wait running
  out, ``ConstraintViolation``, ``SchemaBehind``... -- what the SQLAlchemy path
  (``read_conn``/``write_tx``) raises.

**The setting** (``AuthCore(fast_paths=...)``, config ``fast_paths``, default on): off, every
fast path runs the same compiled SQL through a SQLAlchemy ``Connection`` (``read_conn``,
``write_tx``), so engine event listeners (APM, tracing) see each statement. It is only ever what
the setting says: a listener does not switch it (benchmarks measure what they name).
``tracing()`` shows the statements whichever way they run; ``watch_commits()`` gives the moment
each write transaction sent COMMIT (``measure_propagation``).

On PostgreSQL psycopg still prepares a statement after a few runs (``prepare=False`` keeps search
statements unprepared, see ``authcore.db.NO_PREPARE``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections import namedtuple
from collections.abc import Iterator
from types import TracebackType
from typing import Any, NoReturn, Self

from sqlalchemy import Engine, event, exc

from authcore import compiled, db
from authcore.compiled import Compiled, PerDialect, once, result_processor

DEFAULT_POOL_SIZE = 40


class _Watches(threading.local):
    """This thread's trace / commit watch lists (None: nobody watches). Class defaults, so a
    read on a thread that never set one is a plain attribute read: ``getattr(local, name,
    None)`` on a bare ``threading.local`` raises and catches an AttributeError inside, ~4k
    instructions, and every fast write asks several times."""

    trace: list[tuple[str, Any]] | None = None
    commits: list[float] | None = None


_local = _Watches()


@contextlib.contextmanager
def tracing() -> Iterator[list[tuple[str, Any]]]:
    """Collect the ``(sql, driver parameters)`` every fast path runs meanwhile on this thread,
    fast or not (benchmarks replay them through the raw driver; tests count round trips)."""
    seen: list[tuple[str, Any]] = []
    previous = _local.trace
    _local.trace = seen
    try:
        yield seen
    finally:
        _local.trace = previous


@contextlib.contextmanager
def watch_commits() -> Iterator[list[float]]:
    """``time.time()`` as each fast write transaction on this thread sends its COMMIT (or its
    single autocommit statement). The SQLAlchemy path has its engine ``commit`` event."""
    seen: list[float] = []
    previous = _local.commits
    _local.commits = seen
    try:
        yield seen
    finally:
        _local.commits = previous


def _trace(sql: str, params: Any) -> None:
    seen = _local.trace
    if seen is not None:
        seen.append((sql, params))


def split_statements(sql: str) -> list[str]:
    """``"BEGIN; SET LOCAL a = 1"`` as its statements, each sent on its own (a pipeline, the
    extended protocol, takes one statement a message). The ``SET LOCAL`` strings authcore
    writes hold no ``"; "`` inside a value."""
    return [part for part in (p.strip() for p in sql.split("; ")) if part]


def _committing() -> None:
    seen = _local.commits
    if seen is not None:
        seen.append(time.time())


# -- the connection stack ---------------------------------------------------------------------

# Bumped in a child after every ``os.fork``: ``get`` and ``put`` compare it with the value the
# stack was filled under instead of calling ``os.getpid()`` (a system call, ~0.2 µs), twice per
# statement of every fast path. ``discard`` (rare) still asks ``os.getpid()``: fork hooks run in
# the order they were registered, and one that runs before this one (``AuthCore.after_fork``
# disposing the engine) must not close the parent's connections either. A fork done outside
# ``os.fork`` runs no Python before it execs (subprocess) or runs no authcore.
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)


class _Connections:
    """Idle autocommit driver connections of one engine, shared by its fast paths, and the
    engine's ``fast`` setting."""

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)  # the registry must not keep engines alive
        self.idle: list[Any] = []
        self.forks = _forks  # the process these connections belong to (``_forks``) ...
        self.pid = os.getpid()  # ... and its pid, for ``discard``
        self.max_idle = DEFAULT_POOL_SIZE
        self.fast = True  # AuthCore(fast_paths=...): False runs every fast path on SQLAlchemy
        event.listen(engine, "engine_disposed", lambda _engine: self.close_all())

    def get(self) -> Any:
        if self.forks != _forks:  # forked: the parent's sockets are not ours to use
            self.idle, self.forks, self.pid = [], _forks, os.getpid()
        try:
            return self.idle.pop()
        except IndexError:
            pass
        engine = self._engine()
        assert engine is not None
        with db.translate_errors(engine):
            try:
                fairy = engine.raw_connection()
            except engine.dialect.loaded_dbapi.Error as e:  # the pool raises driver errors as they are
                _raise_driver_error(engine, None, None, e, None, lost=True)
            fairy.detach()  # ours now; the pool opens another when it needs one
        dbapi = fairy.dbapi_connection
        assert dbapi is not None  # a connection the pool just checked out
        if engine.dialect.name == "postgresql":
            dbapi.autocommit = True
        return dbapi

    def put(self, conn: Any) -> None:
        if self.forks == _forks and len(self.idle) < self.max_idle:
            self.idle.append(conn)
        else:
            self.discard(conn)

    def discard(self, conn: Any) -> None:
        if self.pid != os.getpid():  # the parent's: closing would end its session
            return
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - broken already
            pass

    def close_all(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            self.discard(conn)


_REGISTRY: weakref.WeakKeyDictionary[Engine, _Connections] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def connections(engine: Engine) -> _Connections:
    """``engine``'s connection stack (made on first use)."""
    conns = _REGISTRY.get(engine)
    if conns is None:
        with _REGISTRY_LOCK:
            conns = _REGISTRY.get(engine)
            if conns is None:
                conns = _REGISTRY[engine] = _Connections(engine)
    return conns


def configure(engine: Engine, *, pool_size: int | None = None, fast: bool | None = None) -> None:
    """Size ``engine``'s stack and turn its fast paths on or off (``AuthCore`` does this)."""
    conns = connections(engine)
    if pool_size is not None:
        conns.max_idle = pool_size
    if fast is not None:
        conns.fast = fast


def bind_processor(engine: Engine, type_: Any) -> Any:
    """What the fast paths apply to a value of ``type_`` on ``engine`` (``None``: nothing)."""
    return compiled.bind_processor(type_, engine.dialect)


def is_fast(engine: Engine) -> bool:
    """Whether ``engine``'s fast paths run on driver connections (the setting, nothing else)."""
    return connections(engine).fast


# -- the one error wrapper ----------------------------------------------------------------------


def disconnected(engine: Engine, e: Exception, conn: Any) -> bool:
    """Whether driver error ``e`` on driver connection ``conn`` means the connection is gone."""
    try:
        if engine.dialect.is_disconnect(e, conn, None):  # type: ignore[arg-type]  # e: the driver's
            return True
    except Exception:  # noqa: BLE001 - the dialect cannot tell: judge by the connection below
        pass
    closed = getattr(conn, "closed", False)
    return bool(closed) or isinstance(e, engine.dialect.loaded_dbapi.InterfaceError)


def _wrap(
    engine: Engine, sql: str | None, params: Any, e: Exception, conn: Any, lost: bool | None = None
) -> exc.DBAPIError:
    """Driver error ``e`` as SQLAlchemy wraps it (``IntegrityError`` ...), marked invalidated
    when the connection is gone."""
    if lost is None:
        lost = disconnected(engine, e, conn)
    # instance() gives a DBAPIError for an error of the driver's Error class, which ``e`` is
    return exc.DBAPIError.instance(  # type: ignore[return-value]
        sql, params, e, engine.dialect.loaded_dbapi.Error, connection_invalidated=lost
    )


def _raise(engine: Engine, error: exc.DBAPIError) -> NoReturn:
    """Raise ``error`` as ``authcore.db.translate_errors`` turns it (lost connection, locked
    database: ``DatabaseUnavailable``; every other one its ``AuthCoreError``)."""
    with db.translate_errors(engine):
        raise error
    raise AssertionError("unreachable")  # pragma: no cover


def _raise_driver_error(
    engine: Engine, sql: str | None, params: Any, e: Exception, conn: Any, lost: bool | None = None
) -> NoReturn:
    _raise(engine, _wrap(engine, sql, params, e, conn, lost))


# -- reads --------------------------------------------------------------------------------------


class HotQuery:
    """A SELECT compiled once; ``first``/``fetch_driver`` run it on a stack connection (or,
    fast paths off, through ``read_conn``).

    ``prepare=False`` keeps psycopg from preparing it (see ``authcore.db.NO_PREPARE``).
    ``local`` (PostgreSQL): ``SET LOCAL`` statements (``; ``-separated) for this statement's
    planning only; the statement then runs in a transaction of its own (``BEGIN``, the
    ``SET LOCAL`` statements, the statement, ``COMMIT``), so the settings never outlive it or reach a
    pooler's other clients. On a direct connection the four go in one pipeline: one round
    trip, as many as the statement alone (three before: an operator across a network paid two
    more per page). On a ``pooled`` engine they stay three round trips: PgBouncer 1.18
    (Debian 12's) in transaction mode now and then closed a client's connection in the middle
    of a pipeline, or kept the server connection after its ``COMMIT`` until other clients timed
    out waiting (seen within 300 pipelines, raw psycopg and authcore alike).
    """

    def __init__(self, engine: Engine, stmt: Any, *, prepare: bool | None = None, local: str = "") -> None:
        self.engine = engine
        self.stmt = stmt
        self._pg = engine.dialect.name == "postgresql"
        self._prepare = prepare
        self._local = local if self._pg else ""
        self._pipeline = self._pg and not db.is_pooled(engine)
        self._conns = connections(engine)
        self._compiled = once(stmt)
        self._ready = False

    def _compile(self) -> None:
        """Compile for the dialect (after a first connection: the dialect is initialized)."""
        dialect = self.engine.dialect
        c: Compiled = self._compiled(dialect)
        self.compiled = c
        self.sql = c.sql
        cols = list(self.stmt.selected_columns)
        procs = [result_processor(col.type, dialect) for col in cols]
        self._conv = tuple((i, p) for i, p in enumerate(procs) if p is not None)
        # the fields are the statement's columns, known only at run time: not a typing.NamedTuple
        self._row: Any = namedtuple("HotRow", [col.key for col in cols], rename=True)  # type: ignore[misc]  # noqa: PYI024
        self._error = dialect.loaded_dbapi.Error  # looked up once, not per statement
        self._ready = True

    def _run(self, values: dict[str, Any], many: bool, ready: bool = False) -> Any:
        if not self._ready:
            self._conns.put(self._conns.get())  # connects once: initializes the dialect
            self._compile()
        c = self.compiled
        params = c.params(values) if ready else c.convert(values)
        if not self._conns.fast:
            _trace(self.sql, params)
            return self._run_sqlalchemy(params, many)
        if not self._local:
            _trace(self.sql, params)
        engine, conns, dbapi_error = self.engine, self._conns, self._error
        for attempt in (0, 1):
            conn = conns.get()
            try:
                if self._local:
                    result = self._run_local(conn, params, many)
                else:
                    if self._pg and self._prepare is not None:
                        cur = conn.execute(self.sql, params, prepare=self._prepare)
                    else:
                        cur = conn.execute(self.sql, params)
                    result = cur.fetchall() if many else cur.fetchone()
                    cur.close()
            except dbapi_error as e:
                lost = disconnected(engine, e, conn)
                if lost or self._local:  # a failed transaction of its own: not reused
                    conns.discard(conn)
                    if lost and attempt == 0:
                        continue
                else:
                    conns.put(conn)
                _raise_driver_error(engine, self.sql, params, e, conn, lost)
            except BaseException:
                conns.discard(conn)  # interrupted mid-statement: do not reuse
                raise
            conns.put(conn)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_local(self, conn: Any, params: Any, many: bool) -> Any:
        """The statement in a transaction of its own after its ``SET LOCAL``, then ``COMMIT``.
        Direct: one pipeline (psycopg: one Sync, one round trip; a failure anywhere raises at
        the Sync, and the caller drops the connection). Pooled: ``BEGIN; SET LOCAL ...`` as one
        simple query, the statement, ``COMMIT`` (see the class). Nothing is prepared. Traced
        as those three either way (``split_statements`` splits the first), so a replay runs
        the same SQL."""
        begin = f"{db.begin_sql(self.engine)}; {self._local}"
        _trace(begin, None)
        _trace(self.sql, params)
        _trace("COMMIT", None)
        if not self._pipeline:
            conn.execute(begin)
            cur = conn.execute(self.sql, params, prepare=False)
            result = cur.fetchall() if many else cur.fetchone()
            cur.close()
            conn.execute("COMMIT")
            return result
        with conn.pipeline():
            for setting in split_statements(begin):
                conn.execute(setting, prepare=False)
            cur = conn.execute(self.sql, params, prepare=False)
            conn.execute("COMMIT", prepare=False)
        result = cur.fetchall() if many else cur.fetchone()
        cur.close()
        return result

    def _run_sqlalchemy(self, params: Any, many: bool) -> Any:
        """Fast paths off: the same SQL and driver parameters through a SQLAlchemy connection
        (engine event listeners see it)."""
        with db.read_conn(self.engine) as conn:
            if self._prepare is False:
                conn = conn.execution_options(**{db.NO_PREPARE: True})
            for setting in split_statements(self._local):  # in the autobegun transaction
                conn.exec_driver_sql(setting)
            result = conn.exec_driver_sql(self.sql, params)
            return result.fetchall() if many else result.first()

    def _convert(self, row: Any) -> Any:
        if not self._conv:
            return row
        row = list(row)
        for i, p in self._conv:
            row[i] = p(row[i])
        return row

    def first(self, **values: Any) -> Any:
        """The first row as a named tuple (values converted), or ``None``."""
        row = self._run(values, False)
        return None if row is None else self._row._make(self._convert(row))

    def fetch_driver(self, values: dict[str, Any]) -> list[Any]:
        """Every row exactly as the driver returns it (the caller converts), ``values`` already
        in driver form (see ``bind_processor``): callers running several statements with the
        same values convert them once."""
        return self._run(values, True, ready=True)  # type: ignore[no-any-return]  # many=True: a list


# -- writes -------------------------------------------------------------------------------------


class Writer:
    """Write transactions on one engine (build once, e.g. per service)."""

    __slots__ = ("begin_sql", "conns", "dialect", "engine", "error", "pooled")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.conns = connections(engine)
        self.error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self.begin_sql = db.begin_sql(engine)  # a pooled engine's bounds ride along (SET LOCAL)
        self.pooled = db.is_pooled(engine)

    def transaction(self) -> Any:
        """A context manager: one write transaction, yielding an object with
        ``exec_driver_sql`` and ``dialect`` (a ``RawTx``, or fast paths off a SQLAlchemy
        ``Connection`` from ``authcore.db.write_tx``). Commits when the block ends; rolls back
        and re-raises on any exception."""
        if not self.conns.fast:
            return _traced_write_tx(self.engine)
        return RawTx(self)

    def single(self, sql: str, params: Any = ()) -> list[Any]:
        """Run one statement as its own transaction and return its rows: on the autocommit
        driver connection, no BEGIN/COMMIT, so one round trip (what a SQL function doing a
        whole audited change needs). Errors are raised as from ``transaction``. Never retried:
        a connection that breaks mid-statement may have committed it. Fast paths off: inside
        ``authcore.db.write_tx``; a pooled engine: in a ``RawTx`` (its bounds are ``SET
        LOCAL``: they need a transaction)."""
        if self.pooled and self.conns.fast:
            with RawTx(self) as tx:
                return list(tx.exec_driver_sql(sql, params).fetchall())
        _trace(sql, params)
        if not self.conns.fast:
            with db.write_tx(self.engine) as conn:
                return list(conn.exec_driver_sql(sql, params).fetchall())
        conns = self.conns
        conn = conns.get()  # connect failures: DatabaseUnavailable
        try:
            _committing()
            rows = conn.execute(sql, params).fetchall()
        except self.error as e:
            wrapped = _wrap(self.engine, sql, params, e, conn)
            if wrapped.connection_invalidated:
                conns.discard(conn)
            else:
                conns.put(conn)  # autocommit: the failed statement rolled itself back
            _raise(self.engine, wrapped)
        except BaseException:
            conns.discard(conn)
            raise
        conns.put(conn)
        return list(rows)


class _Traced:
    """A SQLAlchemy ``Connection`` whose ``exec_driver_sql`` also reports to ``tracing``."""

    __slots__ = ("_conn", "dialect")

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.dialect = conn.dialect

    def exec_driver_sql(self, sql: str, params: Any = ()) -> Any:
        _trace(sql, params)
        return self._conn.exec_driver_sql(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@contextlib.contextmanager
def _traced_write_tx(engine: Engine) -> Iterator[Any]:
    with db.write_tx(engine) as conn:
        yield _Traced(conn) if _local.trace is not None else conn


class RawTx:
    """One write transaction on a stack connection (see the module docstring)."""

    __slots__ = ("_conn", "_w", "dialect")

    def __init__(self, writer: Writer) -> None:
        self._w = writer
        self.dialect = writer.dialect
        self._conn: Any = None

    @property
    def engine(self) -> Engine:
        return self._w.engine

    def exec_driver_sql(self, sql: str, params: Any = ()) -> Any:
        """Run ``sql`` (driver paramstyle) once with a tuple or dict, or ``executemany`` with a
        list of them. Returns the driver cursor (``fetchone``/``fetchall``)."""
        _trace(sql, params)
        cur = self._conn.cursor()
        try:
            if isinstance(params, list):
                cur.executemany(sql, params)
            else:
                cur.execute(sql, params)
        except self._w.error as e:
            raise _wrap(self._w.engine, sql, params, e, self._conn) from None
        return cur

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError("a RawTx runs one transaction")
        self._conn = _begin(self._w)
        return self

    def __exit__(
        self, etype: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        w, conn = self._w, self._conn
        conns = w.conns
        if etype is not None:
            _rollback(conns, conn)
            if isinstance(error, exc.DBAPIError | w.error):  # a raw one too (a cursor's fetch)
                with db.translate_errors(w.engine):  # translated as authcore.db.write_tx does
                    raise error
            return
        try:
            _committing()
            conn.execute("COMMIT")
        except w.error as e:
            wrapped = _wrap(w.engine, "COMMIT", (), e, conn)
            if wrapped.connection_invalidated:
                conns.discard(conn)
            else:
                _rollback(conns, conn)
            _raise(w.engine, wrapped)
        except BaseException:
            conns.discard(conn)  # interrupted mid-commit: state unknown, never reuse
            raise
        conns.put(conn)


def _begin(w: Writer) -> Any:
    conns = w.conns
    for attempt in (0, 1):
        conn = conns.get()  # connect failures: DatabaseUnavailable
        try:
            conn.execute(w.begin_sql)
            return conn
        except w.error as e:
            wrapped = _wrap(w.engine, w.begin_sql, (), e, conn)
            if wrapped.connection_invalidated:
                conns.discard(conn)
                if attempt == 0:
                    continue  # a stale idle connection: nothing was done, start afresh
            else:
                conns.put(conn)  # e.g. SQLite's lock wait ran out: no transaction open
            _raise(w.engine, wrapped)
        except BaseException:
            conns.discard(conn)
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _rollback(conns: Any, conn: Any) -> None:
    """Roll back; a connection that cannot roll back (broken) is dropped, never reused."""
    try:
        conn.execute("ROLLBACK")
    except BaseException:  # noqa: BLE001 - broken: the server rolls back on its own
        conns.discard(conn)
    else:
        conns.put(conn)


__all__ = [
    "DEFAULT_POOL_SIZE",
    "HotQuery",
    "PerDialect",
    "RawTx",
    "Writer",
    "bind_processor",
    "configure",
    "connections",
    "disconnected",
    "is_fast",
    "tracing",
    "watch_commits",
]
