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

from authcore.models import UTCDateTime, users, utc_from_pg, utc_from_sqlite
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


def _builder_source() -> str:
    """The source of ``build(rows, utc, Unfrozen, Record)``, derived from ``UserRecord``'s
    fields and ``USER_COLS`` (their types and nullability), so the column list stays in one
    place: a ``UTCDateTime`` goes through ``utc`` (only when it is there if nullable), a
    ``Boolean`` becomes a bool, a field outside ``users`` (``active_sessions``) takes its
    default for NULL, every other value is the driver's as it is (``NOT NULL`` columns)."""
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
            expr = f"None if (v := {v}) is None else utc(v)" if USER_COLS[i].nullable else f"utc({v})"
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


_scope: dict[str, Any] = {}
exec(compile(_builder_source(), "<authcore.users.records builder>", "exec"), _scope)  # noqa: S102 - our own source
_build: Callable[..., list[UserRecord]] = _scope["build"]


def records_builder(dialect: str) -> Callable[[Iterable[Any]], list[UserRecord]]:
    """Rows in ``USER_COLS`` + active_sessions order (driver values) -> ``UserRecord``s.

    Search builds up to 500 of these per page, and on SQLite this is most of what authcore adds
    to the SQL's own cost (docs/performance.md, "SQLite 'jam' / 'smith' vs the raw driver").
    Per record, in instructions (valgrind, Python 3.11): the frozen dataclass's ``__init__``
    (one ``object.__setattr__`` a field) ~16k; a ten-key dict set as ``__dict__`` ~6k; plain
    stores into a ``_Unfrozen`` (same layout) and a ``__class__`` assignment ~3k. So the loop
    is generated (``_builder_source``) from the one field and column list, in one pass (no
    call per row); a timestamp converter (``authcore.models``) is called only for a value that
    is there. The result is a ``UserRecord`` like any other (its type, equality, hash, repr,
    frozen); ``rec`` builds the same from SQLAlchemy rows, tests compare them.
    """
    utc = utc_from_pg if dialect == "postgresql" else utc_from_sqlite

    def build(rows: Iterable[Any]) -> list[UserRecord]:
        return _build(rows, utc, _Unfrozen, UserRecord)

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
