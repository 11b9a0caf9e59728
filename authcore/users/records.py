"""``UserRecord``: what every user read returns, and the two ways rows become records.

``rec`` reads a SQLAlchemy row (converted types); ``record_builder`` reads raw driver rows on
the search fast path, where a page builds up to 500 records. Tests compare both.
"""

from __future__ import annotations

from collections.abc import Callable
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


def record_builder(dialect: str) -> Callable[[Any], UserRecord]:
    """Rows in ``USER_COLS`` + active_sessions order (driver values) -> ``UserRecord``.

    Search builds up to 500 of these per page: timestamps are converted inline (same result as
    ``UTCDateTime``; tests compare both) and the frozen dataclass is filled in one go (its
    ``__init__``, one ``object.__setattr__`` per field, costs 8x).
    """
    utc = utc_from_pg if dialect == "postgresql" else utc_from_sqlite

    def build(r: Any) -> UserRecord:
        rec = _new(UserRecord)
        _set(
            rec,
            "__dict__",
            {
                "id": r[0],
                "email": r[1],
                "username": r[2],
                "display_name": r[3] or "",
                "created_at": utc(r[4]),
                "last_login_at": utc(r[5]),
                "disabled": bool(r[6]),
                "disabled_at": utc(r[7]),
                "token_version": r[8],
                "active_sessions": int(r[9] or 0),
            },
        )
        return rec

    return build


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
