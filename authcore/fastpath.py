"""Hot single-statement reads: a Core statement compiled once, run on a per-thread connection.

Session resolve and the refresh check are one indexed SELECT each. Through ``Connection.execute``
they pay, per call, a pool checkout and return (plus a ping on PostgreSQL), an explicit
``BEGIN``/``ROLLBACK`` pair, cache-key generation and result-object construction: on SQLite ten
times the cost of the query itself. ``HotQuery`` keeps what SQLAlchemy decides (the SQL text it
compiles for the dialect, the bind and result processors of each column type, so values convert
exactly as they do everywhere else) and drops the per-call machinery:

* connections come from a stack of idle autocommit connections per engine (a single SELECT is
  atomic on its own): taking and returning one is a list pop/append. Each was created by the
  engine's pool and then detached from it, so the engine's ``connect`` setup ran (SQLite
  pragmas); ``engine.dispose()`` closes them. Up to ``max_idle`` (``AuthCore``'s ``pool_size``,
  config ``pool_size``, default 40 = the threads FastAPI/Starlette run sync endpoints on) are
  kept for reuse, so N concurrent callers open at most N connections once and reuse them;
  callers beyond that open one and close it after use (like SQLAlchemy's overflow);
* a connection inherited across ``fork`` is never used by the child (it opens its own);
* a broken connection (server restart, network) is dropped and the call retried once on a fresh
  one; if that fails too the caller gets ``DatabaseUnavailable``, as from ``read_conn``;
* an engine with cursor event listeners (tracing/APM instrumentation, statement-counting tests)
  is observed: the same SQL then runs through a SQLAlchemy connection so the listeners see it.

On PostgreSQL psycopg still prepares the statement after a few runs (the plan for an equality on
a unique index is the same for every value).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections import namedtuple
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, exc

from authcore.db import NO_PREPARE, read_conn, translate_errors
from authcore.models import UTCDateTime

DEFAULT_POOL_SIZE = 40
_fromiso = datetime.fromisoformat
_trace: list[tuple[str, Any]] | None = None


@contextlib.contextmanager
def tracing() -> Iterator[list[tuple[str, Any]]]:
    """Collect the ``(sql, driver parameters)`` every hot query runs meanwhile (benchmarks
    replay them through the raw driver; tests read them)."""
    global _trace
    seen: list[tuple[str, Any]] = []
    previous, _trace = _trace, seen
    try:
        yield seen
    finally:
        _trace = previous


class _Connections:
    """Idle autocommit DBAPI connections of one engine, shared by its hot queries."""

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)  # the registry must not keep engines alive
        self.idle: list[Any] = []
        self.pid = os.getpid()
        self.max_idle = DEFAULT_POOL_SIZE
        event.listen(engine, "engine_disposed", lambda _engine: self.close_all())

    def get(self) -> Any:
        if self.pid != os.getpid():  # forked: the parent's sockets are not ours to use
            self.idle, self.pid = [], os.getpid()
        try:
            return self.idle.pop()
        except IndexError:
            pass
        engine = self._engine()
        assert engine is not None
        dbapi_error = engine.dialect.loaded_dbapi.Error
        with translate_errors(engine):
            try:
                fairy = engine.raw_connection()
            except dbapi_error as e:  # the pool raises driver errors as they are
                raise exc.DBAPIError.instance(
                    None, None, e, dbapi_error, connection_invalidated=True
                ) from None
            fairy.detach()  # ours now; the pool opens another when it needs one
        dbapi = fairy.dbapi_connection
        if engine.dialect.name == "postgresql":
            dbapi.autocommit = True
        return dbapi

    def put(self, conn: Any) -> None:
        if self.pid == os.getpid() and len(self.idle) < self.max_idle:
            self.idle.append(conn)
        else:
            self.discard(conn)

    def discard(self, conn: Any) -> None:
        if self.pid != os.getpid():
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
    conns = _REGISTRY.get(engine)
    if conns is None:
        with _REGISTRY_LOCK:
            conns = _REGISTRY.get(engine)
            if conns is None:
                conns = _REGISTRY[engine] = _Connections(engine)
    return conns


_last_utc: tuple[datetime | None, str] = (None, "")


def utc_to_sqlite(value: datetime) -> str:
    """A UTC datetime as SQLite stores it. The last conversion is remembered: a write converts
    one ``now`` for several statements (datetimes are immutable; the pair is replaced whole, so
    threads never see a mismatched pair)."""
    global _last_utc
    last = _last_utc
    if last[0] is value:
        return last[1]
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    text = value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
    _last_utc = (value, text)
    return text


def utc_from_sqlite(value: str | None) -> datetime | None:
    return None if value is None else _fromiso(value + "+00:00")


def _bind_processor(type_: Any, dialect: Any) -> Any:
    """``type_``'s bind processor for ``dialect``; ``UTCDateTime`` on SQLite in C calls only
    (the same text as ``UTCDateTime`` + SQLAlchemy's DATETIME: ``YYYY-MM-DD HH:MM:SS.ffffff``
    of the UTC time; tests compare both)."""
    if isinstance(type_, UTCDateTime) and dialect.name == "sqlite":
        return utc_to_sqlite
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(type_: Any, dialect: Any) -> Any:
    if isinstance(type_, UTCDateTime) and dialect.name == "sqlite":
        return utc_from_sqlite
    return type_.dialect_impl(dialect).result_processor(dialect, None)


class HotQuery:
    """A statement compiled once; ``first``/``fetch_driver`` run it on this thread's connection.

    ``prepare=False`` keeps psycopg from preparing it (see ``authcore.db.NO_PREPARE``).
    """

    def __init__(self, engine: Engine, stmt: Any, *, prepare: bool | None = None) -> None:
        self.engine = engine
        self.stmt = stmt
        self._pg = engine.dialect.name == "postgresql"
        self._prepare = prepare
        self._conns = connections(engine)
        self._ready = False

    def _compile(self) -> None:
        """Compile for the dialect (after a first connection: the dialect is initialized)."""
        dialect, stmt = self.engine.dialect, self.stmt
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self._order: tuple[str, ...] | None = (
            tuple(compiled.positiontup or ()) if compiled.positional else None
        )
        self._names = tuple(compiled.binds)
        self._defaults = {
            name: bp.effective_value
            for name, bp in compiled.binds.items()
            if bp.value is not None or bp.callable is not None
        }
        # the dialect's implementation of each type: what Connection.execute would apply
        binds = {name: _bind_processor(bp.type, dialect) for name, bp in compiled.binds.items()}
        self._binds = {k: f for k, f in binds.items() if f is not None}
        cols = list(stmt.selected_columns)
        procs = [_result_processor(c.type, dialect) for c in cols]
        self._conv = tuple((i, p) for i, p in enumerate(procs) if p is not None)
        # the fields are the statement's columns, known only at run time: not a typing.NamedTuple
        self._row = namedtuple("HotRow", [c.key for c in cols], rename=True)  # type: ignore[misc]  # noqa: PYI024
        self._ready = True

    # -- execution ---------------------------------------------------------------------------
    def _params(self, values: dict[str, Any]) -> Any:
        binds = self._binds
        out = {}
        for k, v in self._pack_dict(values).items():
            f = binds.get(k)
            out[k] = f(v) if f is not None and v is not None else v
        return self._order_params(out)

    def _pack_dict(self, values: dict[str, Any]) -> dict[str, Any]:
        defaults = self._defaults
        return {k: (values[k] if k in values else defaults[k]) for k in self._names}

    def _order_params(self, values: dict[str, Any]) -> Any:
        if self._order is not None:
            return tuple([values[k] for k in self._order])
        return values

    def _run(self, values: dict[str, Any], many: bool, ready: bool = False) -> Any:
        if not self._ready:
            self._conns.put(self._conns.get())  # connects once: initializes the dialect
            self._compile()
        # ready: already in driver form, only pick and order
        params = self._order_params(self._pack_dict(values)) if ready else self._params(values)
        if _trace is not None:
            _trace.append((self.sql, params))
        if observed(self.engine):
            return self._run_observed(params, many)
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        conns = self._conns
        for attempt in (0, 1):
            conn = conns.get()
            try:
                if self._pg and self._prepare is not None:
                    cur = conn.execute(self.sql, params, prepare=self._prepare)
                else:
                    cur = conn.execute(self.sql, params)
                result = cur.fetchall() if many else cur.fetchone()
                cur.close()
            except dbapi_error as e:
                lost = self._disconnected(e, conn)
                if lost:
                    conns.discard(conn)
                    if attempt == 0:
                        continue
                else:
                    conns.put(conn)
                wrapped = exc.DBAPIError.instance(
                    self.sql, params, e, dbapi_error, connection_invalidated=lost
                )
                with translate_errors(self.engine):
                    raise wrapped from None
            except BaseException:
                conns.discard(conn)  # interrupted mid-statement: do not reuse
                raise
            conns.put(conn)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_observed(self, params: Any, many: bool) -> Any:
        """Through a SQLAlchemy connection, so cursor event listeners (tracing, statement
        counting in tests, APM) see the statement: the same SQL, same driver parameters."""
        with read_conn(self.engine) as conn:
            if self._prepare is False:
                conn = conn.execution_options(**{NO_PREPARE: True})
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
        return self._run(values, True, ready=True)

    def _disconnected(self, e: Exception, conn: Any) -> bool:
        return disconnected(self.engine, e, conn)


def disconnected(engine: Engine, e: Exception, conn: Any) -> bool:
    """Whether driver error ``e`` on driver connection ``conn`` means the connection is gone."""
    try:
        if engine.dialect.is_disconnect(e, conn, None):
            return True
    except Exception:  # noqa: BLE001 - the dialect cannot tell: judge by the connection below
        pass
    closed = getattr(conn, "closed", False)
    return bool(closed) or isinstance(e, engine.dialect.loaded_dbapi.InterfaceError)


def observed(engine: Engine) -> bool:
    """Whether cursor event listeners (APM, tracing, statement-counting tests) watch ``engine``:
    hot paths then run through SQLAlchemy connections so the listeners see every statement."""
    dispatch = engine.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute)


def bind_processor(engine: Engine, type_: Any) -> Any:
    """What ``HotQuery`` applies to a value of ``type_`` (``None``: nothing)."""
    return _bind_processor(type_, engine.dialect)


class PerDialect:
    """Values built once per dialect (driver SQL, bind processors) by ``build(dialect)``.

    A dialect's values can depend on its engine's options (e.g. a JSON serializer), so they are
    kept per dialect object (weakly: engines come and go). The last dialect asked for is
    answered without the weak-dictionary lookup (a hot write asks several times per call)."""

    def __init__(self, build: Any) -> None:
        self._build = build
        self._all: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._last: tuple[Any, Any] = (None, None)

    def __call__(self, dialect: Any) -> Any:
        last = self._last
        if last[0] is dialect:
            return last[1]
        got = self._all.get(dialect)
        if got is None:
            got = self._all[dialect] = self._build(dialect)
        self._last = (dialect, got)  # one tuple: threads never see a mismatched pair
        return got
