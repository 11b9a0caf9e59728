"""Hot write transactions on the driver connection: ``write_tx`` without the per-statement machinery.

A version bump is ~5 short statements. Through ``authcore.db.write_tx`` each pays SQLAlchemy's
per-call cost (cache key, parameter construction, result object; ~50 µs on SQLite, ten times the
statement), and the transaction pays a pool checkout (with a ping round trip on PostgreSQL).
A ``Writer`` keeps the semantics of ``authcore.db.write_tx`` and drops that machinery:

* the connection comes from ``authcore.fastpath``'s stack of idle driver connections (created by
  the engine's pool, so its ``connect`` setup ran); the transaction is explicit: ``BEGIN
  IMMEDIATE`` on SQLite (the write lock up front, concurrent writers wait), ``BEGIN`` on
  PostgreSQL, ``COMMIT`` when the block ends, ``ROLLBACK`` on any exception (then re-raised);
* statements run as driver SQL through ``exec_driver_sql`` -- the same method name and parameter
  forms as ``Connection.exec_driver_sql`` (a tuple runs once, a list of tuples runs
  ``executemany``), so code such as ``audit.append`` and ``notices.publish`` takes either;
* driver errors are raised as SQLAlchemy's wrappers (``sqlalchemy.exc.IntegrityError`` ...) and
  connection failures (and SQLite's lock wait running out) become ``DatabaseUnavailable``, as
  from ``authcore.db.write_tx``;
* no ping: a connection found broken at ``BEGIN`` (nothing done yet) is dropped and the
  transaction starts once more on a fresh one; a connection that breaks later is dropped and the
  error raised (the server rolls back what it had); a connection is only ever reused after a
  clean ``COMMIT`` or ``ROLLBACK``;
* an engine with cursor or commit event listeners (tracing/APM, statement-counting tests,
  ``measure_propagation``) is observed: the transaction then runs on ``authcore.db.write_tx`` (a
  SQLAlchemy ``Connection``, which has the same ``exec_driver_sql``) so the listeners see it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine, exc

from authcore import db, fastpath
from authcore.fastpath import connections


def observed(engine: Engine) -> bool:
    """``fastpath.observed``, and commit listeners too (``measure_propagation`` times COMMIT)."""
    return fastpath.observed(engine) or bool(engine.dispatch.commit)


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
        ``exec_driver_sql`` and ``dialect`` (a ``RawTx``, or on an observed engine a SQLAlchemy
        ``Connection``). Commits when the block ends; rolls back and re-raises on any
        exception."""
        if observed(self.engine):
            return db.write_tx(self.engine)
        return RawTx(self)

    def single(self, sql: str, params: Any = ()) -> list[Any]:
        """Run one statement as its own transaction and return its rows: on the autocommit
        driver connection, no BEGIN/COMMIT, so one round trip (what a SQL function doing a
        whole audited change needs). Errors are raised as from ``transaction``. Never retried:
        a connection that breaks mid-statement may have committed it. An observed engine runs
        it inside ``authcore.db.write_tx`` so its listeners see it, and a pooled engine in a
        ``RawTx`` (its bounds are ``SET LOCAL``: they need a transaction)."""
        if self.pooled and not observed(self.engine):
            with RawTx(self) as tx:
                return list(tx.exec_driver_sql(sql, params).fetchall())
        if observed(self.engine):
            with db.write_tx(self.engine) as conn:
                return list(conn.exec_driver_sql(sql, params).fetchall())
        conns = self.conns
        conn = conns.get()  # connect failures: DatabaseUnavailable
        try:
            rows = conn.execute(sql, params).fetchall()
        except self.error as e:
            wrapped = _wrap(self.engine, sql, params, e, conn)
            if wrapped.connection_invalidated:
                conns.discard(conn)
            else:
                conns.put(conn)  # autocommit: the failed statement rolled itself back
            _raise(self.engine, wrapped)
            raise AssertionError("unreachable") from None  # pragma: no cover
        except BaseException:
            conns.discard(conn)
            raise
        conns.put(conn)
        return list(rows)


class RawTx:
    """One write transaction on a driver connection (see the module docstring)."""

    __slots__ = ("_conn", "_w", "dialect")

    def __init__(self, writer: Writer) -> None:
        self._w = writer
        self.dialect = writer.dialect
        self._conn: Any = None

    def exec_driver_sql(self, sql: str, params: Any = ()) -> Any:
        """Run ``sql`` (driver paramstyle) once with a tuple, or ``executemany`` with a list of
        tuples. Returns the driver cursor (``fetchone``/``fetchall``)."""
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
            if isinstance(error, exc.DBAPIError):
                _raise(w.engine, error)  # translated like authcore.db.write_tx does
            return
        try:
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


def _wrap(engine: Engine, sql: str | None, params: Any, e: Exception, conn: Any) -> exc.DBAPIError:
    return exc.DBAPIError.instance(
        sql,
        params,
        e,
        engine.dialect.loaded_dbapi.Error,
        connection_invalidated=fastpath.disconnected(engine, e, conn),
    )


def _raise(engine: Engine, error: exc.DBAPIError) -> None:
    """Raise ``error`` as ``authcore.db.translate_errors`` turns it (lost connection, locked
    database: ``DatabaseUnavailable``; others as they are)."""
    with db.translate_errors(engine):
        raise error


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
