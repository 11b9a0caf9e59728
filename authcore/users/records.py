"""``UserRecord``: what every user read returns, and the two ways rows become records.

``rec`` reads a SQLAlchemy row (converted types); ``records_builder`` reads raw driver rows on
the search fast path, where a page builds up to 500 records. Tests compare both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean

from authcore.models import SQLITE_UTC, UTCDateTime, users, utc_from_pg
from authcore.sessions import active_sessions


@dataclass(frozen=True)
class UserRecord:
    id: int
    email: str
    username: str
    display_name: str
    created_at: datetime
    last_login_at: datetime | None
    disabled: bool
    disabled_at: datetime | None
    token_version: int
    active_sessions: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("created_at", "last_login_at", "disabled_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def active_count(now_param: Any) -> Any:
    """The user's unexpired sessions, as a correlated scalar subquery (``now_param``: now):
    ``sessions.active_sessions``, the one definition."""
    return active_sessions(users.c.id, now_param).correlate(users)


USER_COLS = [
    users.c.id,
    users.c.email,
    users.c.username,
    users.c.display_name,
    users.c.created_at,
    users.c.last_login_at,
    users.c.disabled,
    users.c.disabled_at,
    users.c.token_version,
]


class _Unfrozen:
    """A plain class with ``UserRecord``'s memory layout (no ``__slots__``, an instance dict):
    ``records_builder`` fills one with plain attribute stores, then makes it a ``UserRecord``."""


def _builder_source(sqlite: bool) -> str:
    """The source of ``build(rows, utc, Unfrozen, Record)``, derived from ``UserRecord``'s
    fields and ``USER_COLS`` (their types and nullability), so the column list stays in one
    place: a ``UTCDateTime`` goes through ``utc`` (only when it is there if nullable), a
    ``Boolean`` becomes a bool, a field outside ``users`` (``active_sessions``) takes its
    default for NULL, every other value is the driver's as it is (``NOT NULL`` columns).
    ``sqlite``: ``utc`` is ``datetime.fromisoformat`` and the text gets ``SQLITE_UTC`` first,
    ``models.utc_from_sqlite``'s rule without a Python call a value (two timestamps a row)."""
    names = [f.name for f in fields(UserRecord)]
    if names[: len(USER_COLS)] != [c.key for c in USER_COLS]:
        raise RuntimeError(f"UserRecord's fields {names} do not start with USER_COLS' columns")
    body = []
    for i, f in enumerate(fields(UserRecord)):
        v = f"r[{i}]"
        if i >= len(USER_COLS):
            if f.default is MISSING:
                raise RuntimeError(f"UserRecord.{f.name}: a field outside users needs a default")
            expr = f"{f.default!r} if (v := {v}) is None else v"
        elif isinstance(USER_COLS[i].type, UTCDateTime):
            nullable = USER_COLS[i].nullable
            arg = "v" if nullable else v
            call = f"utc({arg} + {SQLITE_UTC!r})" if sqlite else f"utc({arg})"
            expr = f"None if (v := {v}) is None else {call}" if nullable else call
        elif isinstance(USER_COLS[i].type, Boolean):
            expr = f"not not {v}"  # bool(), without the call
        else:
            expr = v
        body.append(f"        o.{f.name} = {expr}")
    return "\n".join(
        [
            "def build(rows, utc, Unfrozen, Record):",
            "    out = []",
            "    for r in rows:",
            "        o = Unfrozen()",
            *body,
            "        o.__class__ = Record",
            "        out.append(o)",
            "    return out",
        ]
    )


def _compile_builder(sqlite: bool) -> Callable[..., list[UserRecord]]:
    scope: dict[str, Any] = {}
    source = _builder_source(sqlite)
    exec(compile(source, "<authcore.users.records builder>", "exec"), scope)  # noqa: S102 - our own source
    return scope["build"]  # type: ignore[no-any-return]


_BUILD_SQLITE = _compile_builder(sqlite=True)
_BUILD_PG = _compile_builder(sqlite=False)
_fromiso = datetime.fromisoformat


def records_builder(dialect: str) -> Callable[[Iterable[Any]], list[UserRecord]]:
    """Rows in ``USER_COLS`` + active_sessions order (driver values) -> ``UserRecord``s.

    Search builds up to 500 of these per page, and on SQLite this is most of what authcore adds
    to the SQL's own cost (docs/performance.md, "SQLite 'jam' / 'smith' vs the raw driver").
    Per record, in instructions (valgrind, Python 3.11): the frozen dataclass's ``__init__``
    (one ``object.__setattr__`` a field) ~16k; a ten-key dict set as ``__dict__`` ~6k; plain
    stores into a ``_Unfrozen`` (same layout) and a ``__class__`` assignment ~3k. So the loop
    is generated (``_builder_source``) from the one field and column list, in one pass (no
    call per row); a timestamp is converted only when it is there (on SQLite inline, on
    PostgreSQL by ``models.utc_from_pg``). The result is a ``UserRecord`` like any other (its
    type, equality, hash, repr, frozen); ``rec`` builds the same from SQLAlchemy rows, tests
    compare them.
    """
    if dialect == "postgresql":

        def build_pg(rows: Iterable[Any]) -> list[UserRecord]:
            return _BUILD_PG(rows, utc_from_pg, _Unfrozen, UserRecord)

        return build_pg

    def build(rows: Iterable[Any]) -> list[UserRecord]:
        return _BUILD_SQLITE(rows, _fromiso, _Unfrozen, UserRecord)

    return build


def record_builder(dialect: str) -> Callable[[Any], UserRecord]:
    """One driver row -> ``UserRecord`` (``records_builder`` for a single row)."""
    many = records_builder(dialect)
    return lambda r: many((r,))[0]


def rec(row: Any) -> UserRecord:
    """A SQLAlchemy row (``USER_COLS`` + optional ``active_sessions``) -> ``UserRecord``."""
    return UserRecord(
        row.id,
        row.email,
        row.username,
        row.display_name or "",
        row.created_at,
        row.last_login_at,
        bool(row.disabled),
        row.disabled_at,
        row.token_version,
        int(getattr(row, "active_sessions", 0) or 0),
    )
