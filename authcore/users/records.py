"""``UserRecord``: what every user read returns, and the two ways rows become records.

``rec`` reads a SQLAlchemy row (converted types); ``records_builder`` reads raw driver rows on
the search fast path, where a page builds up to 500 records. Tests compare both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from authcore.models import users, utc_from_pg, utc_from_sqlite
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


_new = object.__new__
_set = object.__setattr__


def records_builder(dialect: str) -> Callable[[Iterable[Any]], list[UserRecord]]:
    """Rows in ``USER_COLS`` + active_sessions order (driver values) -> ``UserRecord``s.

    Search builds up to 500 of these per page, and on SQLite this is most of what authcore adds
    to the SQL's own cost (docs/performance.md "Rows that missed"): the rows are built in one
    loop (no call per row), a timestamp converter is called only for a value that is there
    (``last_login_at`` and ``disabled_at`` are often NULL), and each frozen dataclass is filled
    in one go (its ``__init__``, one ``object.__setattr__`` per field, costs 8x). Same result as
    ``UTCDateTime`` and ``rec``; tests compare them.
    """
    utc = utc_from_pg if dialect == "postgresql" else utc_from_sqlite

    def build(rows: Iterable[Any]) -> list[UserRecord]:
        out: list[UserRecord] = []
        add = out.append
        for r in rows:
            rec = _new(UserRecord)
            last, off = r[5], r[7]
            _set(
                rec,
                "__dict__",
                {
                    "id": r[0],
                    "email": r[1],
                    "username": r[2],
                    "display_name": r[3] or "",
                    "created_at": utc(r[4]),
                    "last_login_at": None if last is None else utc(last),
                    "disabled": bool(r[6]),
                    "disabled_at": None if off is None else utc(off),
                    "token_version": r[8],
                    "active_sessions": int(r[9] or 0),
                },
            )
            add(rec)
        return out

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
