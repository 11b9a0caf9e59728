"""Core statements compiled once per dialect, run as driver SQL.

Hot paths run their statements through ``exec_driver_sql`` (a SQLAlchemy ``Connection`` or a
``fastpath.RawTx``) or on the driver cursor: SQLAlchemy's per-call work (cache key, parameter
construction, result objects) costs more than the statement itself. What they send is still what
SQLAlchemy decides, never SQL written by hand per dialect:

* the text is the dialect's compilation of a Core statement (``Compiled.sql``), the same
  statement ``Connection.execute`` runs on the normal path;
* values convert with each column type's own bind processor for that dialect
  (``bind_processor``; ``UTCDateTime`` on SQLite in C calls, ``authcore.models``);
* parameters take the dialect's form (a tuple in ``positiontup`` order for SQLite's qmark, a
  dict for psycopg's pyformat); literal values of the statement (``id = 1``) fill themselves in.

``once(stmt)`` compiles on first use for each dialect and keeps the result (``PerDialect``):
compiling costs milliseconds, a hot call microseconds. A statement's processors and text depend
on the dialect object (e.g. a JSON serializer given to ``create_engine``), hence per dialect
object, not per dialect name.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from authcore.models import UTCDateTime

T = TypeVar("T")


class PerDialect(Generic[T]):
    """Values built once per dialect by ``build(dialect)`` (driver SQL, processors).

    Kept per dialect object, weakly (engines come and go). The last dialect asked for is
    answered without the weak-dictionary lookup (a hot write asks several times per call)."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self._build = build
        self._all: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._last: tuple[Any, Any] = (None, None)

    def __call__(self, dialect: Any) -> T:
        last = self._last
        if last[0] is dialect:
            return last[1]  # type: ignore[no-any-return]  # a T: set from `got` below
        got = self._all.get(dialect)
        if got is None:
            got = self._all[dialect] = self._build(dialect)
        self._last = (dialect, got)  # one tuple: threads never see a mismatched pair
        return got


def bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """``type_``'s bind processor for ``dialect`` (``None``: values go as they are).
    ``UTCDateTime`` gives its driver converter (same text/value as its SQLAlchemy processors)."""
    if isinstance(type_, UTCDateTime):
        return UTCDateTime.driver_bind(dialect)
    return type_.dialect_impl(dialect).bind_processor(dialect)


def result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """``type_``'s result processor for ``dialect`` (``None``: values come as they are)."""
    if isinstance(type_, UTCDateTime):
        return UTCDateTime.driver_result(dialect)
    return type_.dialect_impl(dialect).result_processor(dialect, None)


def same(value: T) -> T:
    """The identity: the processor of a value that needs none."""
    return value


class Compiled:
    """A Core statement compiled for one dialect: its driver SQL and how to pass values.

    ``sql``: the text; ``params(values)``: driver parameters from values already in driver
    form; ``convert(values)``: the same, converting through the bind processors first;
    ``packer(names)``: a fast row -> parameters function for many rows; ``proc(name)``: one
    bind's processor (``same`` when it has none)."""

    __slots__ = (
        "_converted_defaults",
        "_packers",
        "defaults",
        "names",
        "order",
        "positional",
        "procs",
        "required",
        "sql",
        "stmt",
        "types",
    )

    def __init__(self, stmt: Any, dialect: Any, **compile_kw: Any) -> None:
        compiled = stmt.compile(dialect=dialect, **compile_kw)
        self.stmt = stmt
        self.sql: str = str(compiled)
        self.positional = bool(compiled.positional)
        self.order: tuple[str, ...] = tuple(compiled.positiontup or ()) if self.positional else ()
        binds = compiled.binds
        if self.positional:
            self.names: tuple[str, ...] = tuple(dict.fromkeys(self.order))
        else:  # pyformat (psycopg): the binds the text names (the compiler keeps a few more)
            self.names = tuple(n for n in binds if f"%({n})s" in self.sql)
        self.required = frozenset(n for n in self.names if binds[n].required)
        self.defaults = {n: binds[n].effective_value for n in self.names if n not in self.required}
        self.types = {n: binds[n].type for n in self.names}
        procs = {n: bind_processor(t, dialect) for n, t in self.types.items()}
        self.procs: dict[str, Callable[[Any], Any]] = {n: f for n, f in procs.items() if f is not None}
        self._packers: dict[tuple[str, ...], Callable[[Sequence[Any]], Any]] = {}
        self._converted_defaults = {
            k: (self.procs[k](v) if k in self.procs and v is not None else v)
            for k, v in self.defaults.items()
        }

    def proc(self, name: str) -> Callable[[Any], Any]:
        return self.procs.get(name, same)

    def only_converts(self, *names: str) -> Compiled:
        """Refuse (``RuntimeError``) if a bind outside ``names`` has a processor: a caller that
        converts only those would send another column's values unconverted."""
        extra = sorted(set(self.procs) - set(names))
        if extra:
            raise RuntimeError(f"{self.sql.split()[0]} ...: binds {extra} now convert values; convert them")
        return self

    def params(self, values: Mapping[str, Any]) -> Any:
        """Driver parameters from ``values`` (driver form); literal binds fill themselves in."""
        if self.positional:
            d = self.defaults
            try:
                return tuple([values[k] if k in values else d[k] for k in self.order])
            except KeyError:
                raise KeyError(f"no value for {sorted(self.required.difference(values))}") from None
        if not self.required.issubset(values):
            raise KeyError(f"no value for {sorted(self.required.difference(values))}")
        return {**self.defaults, **values}

    def convert(self, values: Mapping[str, Any]) -> Any:
        """``params`` after each value (and each literal) went through its bind processor
        (``None`` stays ``None``)."""
        procs = self.procs
        conv = {}
        for k, v in values.items():
            f = procs.get(k)
            conv[k] = f(v) if f is not None and v is not None else v
        if self.positional:
            d = self._converted_defaults
            try:
                return tuple([conv[k] if k in conv else d[k] for k in self.order])
            except KeyError:
                raise KeyError(f"no value for {sorted(self.required.difference(values))}") from None
        if not self.required.issubset(conv):
            raise KeyError(f"no value for {sorted(self.required.difference(values))}")
        return {**self._converted_defaults, **conv}

    def packer(self, names: Sequence[str]) -> Callable[[Sequence[Any]], Any]:
        """A function turning a row of values (driver form, in ``names`` order) into driver
        parameters; the identity when the row is already in the driver's order. Built once per
        ``names`` and kept (hot callers ask on every call)."""
        names = tuple(names)
        got = self._packers.get(names)
        if got is None:
            got = self._packers[names] = self._packer(names)
        return got

    def _packer(self, names: tuple[str, ...]) -> Callable[[Sequence[Any]], Any]:
        missing = self.required.difference(names)
        if missing:
            raise KeyError(f"no value for {sorted(missing)}")
        fixed = {k: v for k, v in self.defaults.items() if k not in names}
        if self.positional:
            if names == self.order:
                return same
            where = {k: i for i, k in enumerate(names)}
            picks = [(where[k], None) if k in where else (None, fixed[k]) for k in self.order]

            def pack_positional(row: Sequence[Any]) -> tuple[Any, ...]:
                return tuple([row[i] if i is not None else v for i, v in picks])

            return pack_positional
        if not fixed:
            return lambda row: dict(zip(names, row, strict=True))
        return lambda row: {**fixed, **dict(zip(names, row, strict=True))}

    def rows(self, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[Any]:
        """Many rows' parameters (``executemany``)."""
        pack = self.packer(names)
        return [pack(r) for r in rows]


def once(stmt: Any, **compile_kw: Any) -> PerDialect[Compiled]:
    """``stmt`` compiled once per dialect: ``once(stmt)(dialect).sql`` ..."""
    return PerDialect(lambda dialect: Compiled(stmt, dialect, **compile_kw))


def per_dialect(build: Callable[[Any], Any], **compile_kw: Any) -> PerDialect[Compiled]:
    """A statement that differs by dialect (``build(dialect)`` returns the Core statement),
    compiled once per dialect."""
    return PerDialect(lambda dialect: Compiled(build(dialect), dialect, **compile_kw))
