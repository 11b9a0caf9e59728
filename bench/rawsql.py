"""The exact SQL and driver-level parameters SQLAlchemy would send for a Core statement.

Raw-driver baselines run *the same SQL with the same parameters* through sqlite3/psycopg
directly; this renders both once, outside any timed region.
"""

from __future__ import annotations

from typing import Any


def render(engine: Any, stmt: Any, values: dict[str, Any]) -> tuple[str, Any]:
    """``(sql, params)`` for ``engine``'s driver: a tuple (qmark) or a dict (pyformat)."""
    compiled = stmt.compile(dialect=engine.dialect)
    params = compiled.construct_params(values)
    procs = compiled._bind_processors  # noqa: SLF001 - the very conversions SQLAlchemy applies
    out = {k: (procs[k](v) if k in procs and v is not None else v) for k, v in params.items()}
    if compiled.positional:
        return str(compiled), tuple(out[k] for k in compiled.positiontup)
    return str(compiled), out


def statement(engine: Any, stmt: Any) -> tuple[str, Any]:
    """``(sql, pack)``: ``pack(**driver_values)`` gives the parameters in the driver's form
    (a positional tuple for SQLite, the dict itself for psycopg). Values must already be in
    driver form (the baseline does its own conversions, as hand-written code would)."""
    compiled = stmt.compile(dialect=engine.dialect)
    if compiled.positional:
        order = tuple(compiled.positiontup)

        def pack(**values: Any) -> tuple[Any, ...]:
            return tuple(values[k] for k in order)
    else:

        def pack(**values: Any) -> dict[str, Any]:  # type: ignore[misc]
            return values

    return str(compiled), pack
